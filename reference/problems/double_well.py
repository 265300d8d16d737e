"""``double_well``: V1 = a (x^2 - b^2)^2 in every coordinate, started in the left well
(the ground state of its harmonic approximation, omega = sqrt(8 a b^2 / m), at x = -b). At the
defaults the start's energy (0.88) is below the barrier (a b^4 = 1), and over T = 9, about half
a tunnelling period of the lowest doublet, 96 % of the probability tunnels into the right well.
Exact in any d as a product of one 1-D solution."""

import math

from reference.options import Option, Real
from reference.problems.base import standard_options
from reference.problems.separable import SeparableGaussianStart


class DoubleWell(SeparableGaussianStart):
    name = "double_well"
    label = "double well"
    description = "V = sum a (x^2 - b^2)^2, started in one well, tunnelling within T"
    d_range = (1, 100)
    box = (-4.0, 4.0)
    grid_points = (1024, 192, 96)
    line_points = 1024
    line_step = 2.5e-4
    option_specs = {
        **standard_options(d=1, hbar=0.6, T=9.0),
        "a": Option(1.0, Real(0, closed="neither"), "the quartic's coefficient"),
        "b": Option(1.0, Real(0, closed="neither"), "the wells' positions +-b"),
    }

    def derive(self) -> None:
        a, b = self.options["a"], self.options["b"]
        omega = math.sqrt(8 * a * b**2 / self.m)  # the well's harmonic frequency
        self.mu0, self.s0_sq, self.k0 = -b, self.hbar / (2 * self.m * omega), 0.0

    def potential_1d(self, x):
        return self.options["a"] * (x**2 - self.options["b"] ** 2) ** 2

    def force_1d(self, x):
        return -4 * self.options["a"] * x * (x**2 - self.options["b"] ** 2)
