"""``anharmonic``: V1 = x^2/2 + lambda x^4 in every coordinate, from the harmonic ground
state displaced to x = 1. The quartic term makes the frequency depend on the amplitude, so
the packet shears: its marginal leaves the Gaussian family and u stops being affine within T
(asserted by tests/test_new_problems.py). Exact in any d as a product of one 1-D solution."""

from reference.options import Option, Real
from reference.problems.base import standard_options
from reference.problems.separable import SeparableGaussianStart


class Anharmonic(SeparableGaussianStart):
    name = "anharmonic"
    label = "anharmonic oscillator"
    description = "V = sum x^2/2 + lambda x^4 from a displaced harmonic ground state"
    d_range = (1, 100)
    box = (-4.0, 4.0)
    grid_points = (1024, 192, 96)
    option_specs = {
        **standard_options(d=1, hbar=0.1, T=2.0),
        "quartic": Option(0.5, Real(0), "lambda, the quartic coefficient"),
        "displacement": Option(1.0, Real(), "initial mean of every coordinate"),
    }

    def derive(self) -> None:
        # the ground state of the harmonic part (omega = 1), displaced
        self.mu0, self.s0_sq, self.k0 = float(self.options["displacement"]), self.hbar / (2 * self.m), 0.0

    def potential_1d(self, x):
        return 0.5 * x**2 + self.options["quartic"] * x**4

    def force_1d(self, x):
        return -(x + 4 * self.options["quartic"] * x**3)
