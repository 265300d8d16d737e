"""``cat``: a Schrodinger cat in a harmonic trap (omega = 1), in every coordinate

    phi_0 = N (g_+ + g_-),   g_+-(x) = exp(-(x -+ x0)^2 / (4 s0^2)),  s0^2 = hbar / (2 m omega),

two coherent states at rest at +-x0. Each is a Gaussian packet in closed form
(``reference.exact``), and by linearity phi(t) = N (psi_+(t) + psi_-(t)): the packets swing
through the centre at t = pi / (2 omega), where they interfere. The density then has exact
nodes, fringes pi hbar / (m omega x0) apart, at which u = (hbar/2m) d/dx log rho is singular.
N^-2 = 2 (1 + exp(-x0^2 / (2 s0^2))), the overlap being conserved by the evolution. The
reference is the product of this closed form in d coordinates (``reference.separable``).
"""

from __future__ import annotations

import math

import numpy as np

from reference import exact
from reference.arrays import array_namespace
from reference.options import Option, Real
from reference.problems.base import Problem, standard_options
from reference.problems.separable import product_reference
from reference.separable import Line, ProductReference


class Cat(Problem):
    name = "cat"
    label = "cat state"
    description = "two coherent states at +-x0 in a harmonic trap: collision, fringes, nodes"
    d_range = (1, 100)
    exchangeable_coordinates = True
    box = (-2.5, 2.5)
    grid_points = (2048, 256, 128)
    line_points = 4096  # the closed form sampled this finely, for marginals and drifts
    option_specs = {
        **standard_options(d=1, hbar=0.1, T=math.pi),
        "x0": Option(1.0, Real(0, closed="neither"), "the coherent states' centres +-x0"),
    }
    omega = 1.0

    def derive(self) -> None:
        self.x0 = float(self.options["x0"])
        self.s0_sq = self.hbar / (2 * self.m * self.omega)
        self.norm = (2 * (1 + math.exp(-self.x0**2 / (2 * self.s0_sq)))) ** -0.5

    # ----------------------------------------------------------------- physics
    def potential(self, x):
        return self.one_body_potential(x).sum(-1)

    def grad_potential(self, x):
        return self.m * self.omega**2 * x

    def one_body_potential(self, x):
        return 0.5 * self.m * self.omega**2 * x**2

    @property
    def potential_is_separable(self) -> bool:
        return True

    def potential_lower_bound(self) -> float:
        return 0.0

    def _phi0(self, x):
        """The 1-D start, elementwise (real: both coherent states are at rest)."""
        xp = array_namespace(x)
        pre = self.norm * (2 * math.pi * self.s0_sq) ** -0.25
        return pre * (xp.exp(-((x - self.x0) ** 2) / (4 * self.s0_sq))
                      + xp.exp(-((x + self.x0) ** 2) / (4 * self.s0_sq)))

    def initial_density(self, x):
        return (self._phi0(x) ** 2).prod(-1)

    def psi0(self, x):
        return self._phi0(x).prod(-1) + 0j

    def log_psi0(self, x):
        """log |phi_0| summed over coordinates, by logaddexp of the two Gaussians' exponents
        (finite where each underflows); the phase is 0."""
        xp = array_namespace(x)
        a = -((x - self.x0) ** 2) / (4 * self.s0_sq)
        b = -((x + self.x0) ** 2) / (4 * self.s0_sq)
        top = xp.maximum(a, b)
        log_phi = (math.log(self.norm) - 0.25 * math.log(2 * math.pi * self.s0_sq)
                   + top + xp.log(xp.exp(a - top) + xp.exp(b - top)))
        return log_phi.sum(-1), 0.0 * x.sum(-1)

    def u0(self, x):
        """(hbar/2m) d/dx log phi_0^2 = -(hbar / (2 m s0^2)) (x - x0 tanh(x x0 / (2 s0^2)))."""
        xp = array_namespace(x)
        return -self.hbar / (2 * self.m * self.s0_sq) * (
            x - self.x0 * xp.tanh(x * self.x0 / (2 * self.s0_sq)))

    def v0(self, x):
        return 0.0 * x

    def sample_initial(self, n: int, seed: int | np.random.Generator = 0) -> np.ndarray:
        return self.reference().sample_density(n, 0.0, seed)

    # ----------------------------------------------------------------- reference
    def reference(self) -> ProductReference:
        return product_reference(self)

    def phi(self, x: np.ndarray, t) -> np.ndarray:
        """The 1-D solution phi(x, t) = N (psi_+ + psi_-), elementwise in x (t broadcast)."""
        x, t = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(t, dtype=float))
        return self.norm * sum(exact.wavefunction(self._packet(sign), x[..., None], t)
                               for sign in (1.0, -1.0))

    def line(self) -> Line:
        """phi on a fine grid at every time of the time grid."""
        lo, hi = self.box
        # cell centres, symmetric about 0 like the state: its mean is then 0 to rounding
        # (the left-aligned grid left ~1e-12, which a relative mean error divides by)
        x = lo + (np.arange(self.line_points) + 0.5) * (hi - lo) / self.line_points
        psi = self.phi(x[None, :], self.times[:, None])
        return Line(x=x, psi=psi, dt=self.dt, hbar=self.hbar, m=self.m)

    def _packet(self, sign: float):
        """The coherent state at sign * x0 as a 1-D harmonic Gaussian packet."""
        from reference.problems.harmonic import Harmonic

        packet = Harmonic(d=1, hbar=self.hbar, m=self.m, T=self.T, n_steps=self.n_steps)
        return packet.replace(omega=self.omega, center=0.0, mu0=sign * self.x0,
                              s0_sq=self.s0_sq, k0=0.0)
