"""``harmonic_active``: the structure check. A harmonic trap in d dimensions (omega = 1,
centre 0) where only the first ``active`` coordinates start displaced (to ``displacement``)
and the other d - active start in the trap's ground state, which is stationary. The density
moves in an ``active``-dimensional subspace only: a sweep over ``active`` at fixed d asks
whether a method's cost and error follow the active dimension or d. Gaussian, so exact in
closed form (``reference.exact``); its coordinates are not exchangeable."""

import numpy as np

from reference.options import Integer, Option, Real
from reference.problems.base import ProblemConfigError
from reference.problems.trap import TrappedGaussian, trap_options


class HarmonicActive(TrappedGaussian):
    name = "harmonic_active"
    label = "harmonic, active coordinates"
    description = "harmonic trap where only k of d coordinates start displaced"
    d_range = (1, 100)
    exchangeable_coordinates = False
    box = (-1.5, 1.5)
    grid_points = (1024, 160, 96)
    option_specs = {
        **trap_options(d=20, hbar=1e-2),
        "active": Option(1, Integer(0), "how many coordinates start displaced (the first ones)"),
        "displacement": Option(1.0, Real(), "their initial mean"),
    }

    def derive(self) -> None:
        active = self.options["active"]
        if active > self.d:
            raise ProblemConfigError(f"{self.name}: active={active} must be <= d={self.d}")
        self.omega, self.center, self.s2 = 1.0, 0.0, 0.1
        self.mu0 = np.where(np.arange(self.d) < active, float(self.options["displacement"]), 0.0)
        self.s0_sq, self.k0 = self.hbar / (2 * self.m * self.omega), float(self.options["phase"])
