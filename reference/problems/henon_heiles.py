"""``henon_heiles``: the Henon-Heiles chain, the standard test of high-dimensional quantum
dynamics (MCTDH and its successors run it from d = 2 to over 1000), in the literature's units
(hbar = m = omega = 1):

    V(q) = 1/2 sum_i q_i^2 + lambda sum_{i=1}^{d-1} (q_i^2 q_{i+1} - q_{i+1}^3 / 3),

lambda = 0.111803, from psi_0 = prod_i pi^(-1/4) exp(-(q_i - 2)^2 / 2): the harmonic ground
state displaced to q_i = 2, at rest, over T = 20. V is unbounded below; the start lies
under the saddles (1/(6 lambda^2) = 13.3 at d = 2), and a little of it escapes over them
(the box is chosen for that: ``docs/problems.md``, "Henon-Heiles"). No closed-form
solution: the grid is the reference for d <= 3, and the energy, exact at t = 0
(``initial_energy``) and conserved, is a target at every d. Published autocorrelation
peaks: ``reference.published.henon_heiles``.
"""

from __future__ import annotations

import math

from reference.arrays import array_namespace
from reference.options import Option, Real
from reference.problems.base import standard_options
from reference.problems.gaussian_start import GaussianStart

__all__ = ["HenonHeiles"]

DISPLACEMENT = 2.0  # every coordinate's initial mean


class HenonHeiles(GaussianStart):
    name = "henon_heiles"
    label = "Henon-Heiles chain"
    description = ("V = sum q^2/2 + lambda sum (q_i^2 q_i+1 - q_i+1^3/3), from a displaced "
                   "harmonic ground state (the MCTDH benchmark)")
    d_range = (2, 100)
    # past the d = 2 saddles, short of the cubic's holes: docs/problems.md, "The box and
    # what escapes"; 96 and 64 points converge the published peaks at d = 2 and 3
    box = (-9.0, 11.0)
    grid_points = (0, 96, 64)
    option_specs = {
        **standard_options(d=2, hbar=1.0, T=20.0, n_steps=2000),
        "coupling": Option(0.111803, Real(0), "lambda, the cubic coupling of neighbours"),
    }

    def derive(self) -> None:
        # the ground state of the harmonic part (spring constant 1, omega = 1/sqrt(m))
        self.mu0, self.k0 = DISPLACEMENT, 0.0
        self.s0_sq = self.hbar / (2 * math.sqrt(self.m))
        self.coupling = float(self.options["coupling"])

    def potential(self, x):
        left, right = x[..., :-1], x[..., 1:]
        cubic = (left**2 * right - right**3 / 3).sum(-1)
        return 0.5 * (x**2).sum(-1) + self.coupling * cubic

    def grad_potential(self, x):
        # dV/dq_j = q_j + lambda [2 q_j q_j+1 (j < d) + q_j-1^2 - q_j^2 (j > 1)]
        xp = array_namespace(x)
        left, right = x[..., :-1], x[..., 1:]
        edge = 0.0 * x[..., :1]
        as_left = xp.concatenate([2 * left * right, edge], -1)
        as_right = xp.concatenate([edge, left**2 - right**2], -1)
        return x + self.coupling * (as_left + as_right)

    def one_body_potential(self, x):
        """The harmonic part, the same on every axis; the grid splits its step by axis and
        kicks with the cubic coupling."""
        return 0.5 * x**2

    def exact_energy(self) -> float:
        """<psi_0|H|psi_0> in closed form from the Gaussian moments (``docs/problems.md``):
        per coordinate hbar^2/(8 m s0^2) + (mu^2 + s0^2)/2, and per bond
        lambda [(mu^2 + s0^2) mu - (mu^3 + 3 mu s0^2)/3] = (2/3) lambda mu^3. At the defaults
        2.5 d + (d - 1) 16 lambda / 3."""
        mu, s_sq = self.mu0, self.s0_sq
        per_coordinate = self.hbar**2 / (8 * self.m * s_sq) + 0.5 * (mu**2 + s_sq)
        return self.d * per_coordinate + (self.d - 1) * self.coupling * 2 * mu**3 / 3
