"""``free_singular``: a free particle from a near-delta start, rho_0 = N(0, alpha) with
alpha = (hbar/m)^2. The exact variance is alpha + (hbar t / (2 m))^2 / alpha (1e-4 + 0.25 t^2);
the authors' notebook compared against Brownian spreading alpha + hbar t / m, which is not the
Schrodinger solution: rows are scored against both (``docs/problems.md``)."""

import numpy as np

from reference.problems.trap import TrappedGaussian, trap_options


class FreeSingular(TrappedGaussian):
    name = "free_singular"
    label = "free particle, near-delta start"
    description = "free particle from a near-delta Gaussian (variance (hbar/m)^2)"
    d_range = (1, 1)
    box = (-3.5, 3.5)
    grid_points = (4096, 0, 0, 0)
    option_specs = trap_options(d=1, hbar=1e-2, n_steps=100)

    def derive(self) -> None:
        self.omega, self.center, self.s2 = 0.0, 0.0, 0.1
        # a delta function relaxed to a Gaussian of variance alpha = (hbar/m)^2
        self.mu0, self.s0_sq, self.k0 = 0.0, (self.hbar / self.m) ** 2, float(self.options["phase"])

    def comparison_variances(self, times: np.ndarray) -> dict[str, np.ndarray]:
        from reference.exact import brownian_spreading_variance

        return {"brownian": brownian_spreading_variance(self, times)}
