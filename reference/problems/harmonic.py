"""``harmonic``: the d-dimensional harmonic oscillator, a product of ``harmonic_1d``.

V = sum_k 1/2 (x_k - 0.1)^2, rho_0 = N(0, 0.1 I), S_0 = k0 sum_k x_k; exact Gaussian packet
(``docs/problems.md``).
"""

from reference.problems.trap import TrappedGaussian, trap_options


class Harmonic(TrappedGaussian):
    name = "harmonic"
    label = "harmonic oscillator"
    description = "d-dimensional harmonic oscillator, a product of harmonic_1d"
    d_range = (1, 100)
    # the grid rule of thumb of docs/problems.md: box half-width >= max_t |mean| + 6 sigma,
    # dx <= pi / k_max (points per axis for d = 1..4)
    box = (-2.0, 2.0)
    grid_points = (2048, 256, 160, 32)
    option_specs = trap_options(d=1, hbar=1e-2)

    def derive(self) -> None:
        self.omega, self.center, self.s2 = 1.0, 0.1, 0.1
        self.mu0, self.s0_sq, self.k0 = 0.0, 0.1, float(self.options["phase"])
