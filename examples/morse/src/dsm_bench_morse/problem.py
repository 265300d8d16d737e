"""A 1-D Morse oscillator for dsm-bench: V(x) = D (1 - exp(-a x))^2, from a displaced
Gaussian at rest. The well is asymmetric (steep on the left, flattening towards the
dissociation limit D on the right), so the packet's motion is anharmonic and its density
leaves the Gaussian family. No closed form: dsm-bench scores it against its grid."""

import math

from reference.arrays import array_namespace
from reference.options import Option, Real
from reference.problems import GaussianStart, standard_options


class Morse(GaussianStart):
    name = "morse"
    label = "Morse oscillator"
    description = "1-D Morse oscillator V = D (1 - exp(-a x))^2 from a displaced Gaussian"
    d_range = (1, 1)
    box = (-1.5, 3.0)
    grid_points = (1024,)
    option_specs = {
        **standard_options(d=1, hbar=0.05, T=5.0, n_steps=1000),
        "well_depth": Option(1.0, Real(0, closed="neither"), "well depth D"),
        "stiffness": Option(1.0, Real(0, closed="neither"), "range parameter a"),
        "shift": Option(0.5, Real(), "initial displacement from the minimum"),
    }

    def derive(self) -> None:
        depth, a = self.options["well_depth"], self.options["stiffness"]
        omega = a * math.sqrt(2 * depth / self.m)  # the well's harmonic frequency
        # the ground-state width of that harmonic approximation, displaced by `shift`
        self.mu0, self.s0_sq, self.k0 = self.options["shift"], self.hbar / (2 * self.m * omega), 0.0

    def potential(self, x):
        e = array_namespace(x).exp(-self.options["stiffness"] * x)
        return (self.options["well_depth"] * (1 - e) ** 2).sum(-1)

    def grad_potential(self, x):
        a = self.options["stiffness"]
        e = array_namespace(x).exp(-a * x)
        return 2 * self.options["well_depth"] * a * (1 - e) * e

    def potential_lower_bound(self) -> float:
        return 0.0
