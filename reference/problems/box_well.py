"""``box_well``: a free particle in the infinite square well [-1, 1]^d, from a moving Gaussian.

Inside the box V = 0; the walls are infinite, so psi = 0 on the box's faces. In one
coordinate, with L = hi - lo, the eigenstates and energies are

    phi_n(x) = sqrt(2/L) sin(n pi (x - lo) / L),   E_n = hbar^2 (n pi / L)^2 / (2m),  n >= 1,

and phi(x, t) = sum_n c_n phi_n(x) exp(-i E_n t / hbar) with c_n = <phi_n|phi_0>. The start is
the Gaussian rho_0 = N(mu0, s0^2), S_0 = k0 x, in every coordinate, restricted to the box:
``derive`` refuses parameters whose Gaussian density at a wall exceeds 1e-19 of its peak (the
start then lies 9.3 s0 or more from each wall), so the restriction changes the norm by less
than 1e-20 and psi_0 is continuous to 1e-9 of its peak amplitude at the walls. At the
defaults the packet (velocity 2) reaches the wall at x = 1 at t = 0.5, reflects and
interferes with itself there, and is back at the centre at T = 1. The reference is the
product of the 1-D expansion in d coordinates (``reference.separable``); the box's faces are
reflecting walls for sampled paths (``reflecting_box``; ``solvers.nelson``). Derivation:
``docs/problems.md``, "box_well".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from reference.options import Option, Real
from reference.problems.base import ProblemConfigError, standard_options
from reference.problems.separable import SeparableGaussianStart
from reference.separable import Line

__all__ = ["BoxWell", "SineLine"]

# the Gaussian's density at a wall, relative to its peak, that the start may have
WALL_DENSITY = 1e-19
# the largest sup-norm of the neglected modes (of phi and of phi' L / pi) the reference accepts
TRUNCATION = 1e-8


@dataclass
class SineLine(Line):
    """A 1-D solution on the midpoints of the box's cells with phi' held beside phi: the
    spectral derivative of ``Line`` assumes a periodic phi, which a wave function of the well
    is not (phi' differs at the two walls)."""

    dpsi: np.ndarray | None = None

    def velocities(self) -> tuple[np.ndarray, np.ndarray]:
        tiny = np.finfo(float).tiny
        ratio = self.dpsi * np.conj(self.psi) / np.maximum(np.abs(self.psi) ** 2, tiny)
        return self.hbar / self.m * ratio.real, self.hbar / self.m * ratio.imag


class BoxWell(SeparableGaussianStart):
    name = "box_well"
    label = "infinite square well"
    description = "free particle in [-1, 1]^d with infinite walls, a moving Gaussian reflecting"
    d_range = (1, 100)
    box = (-1.0, 1.0)  # the walls: grids, collocation and the reference all live on it
    reflecting_box = True
    grid_points = (512, 128, 96)
    modes = 128  # eigenstates in the expansion (checked against 2 * modes at build time)
    line_points = 4096  # cell midpoints on which the expansion is tabulated
    quadrature_points = 8192  # for c_n = <phi_n|phi_0>
    option_specs = {
        **standard_options(d=1, hbar=0.1, T=1.0),
        "displacement": Option(0.0, Real(), "initial mean of every coordinate"),
        "velocity": Option(2.0, Real(), "initial group velocity hbar k0 / m of every coordinate"),
        "s0": Option(0.1, Real(0, closed="neither"), "the initial standard deviation"),
    }

    def derive(self) -> None:
        self.mu0 = float(self.options["displacement"])
        self.s0_sq = float(self.options["s0"]) ** 2
        self.k0 = self.m * float(self.options["velocity"]) / self.hbar
        lo, hi = self.box
        gap = min(self.mu0 - lo, hi - self.mu0)
        reach = math.sqrt(2 * self.s0_sq * math.log(1 / WALL_DENSITY))  # gap it needs
        if gap < reach:
            raise ProblemConfigError(
                f"{self.name}: the start's density at a wall must be below {WALL_DENSITY:g} of its "
                f"peak: with s0 = {math.sqrt(self.s0_sq):g} the displacement must lie in "
                f"[{lo + reach:.3f}, {hi - reach:.3f}] (got {self.mu0:g})")

    # ----------------------------------------------------------------- physics
    def potential_1d(self, x):
        return 0.0 * x  # inside the box; the walls are the boundary condition psi = 0

    def force_1d(self, x):
        return 0.0 * x

    def potential_lower_bound(self) -> float:
        return 0.0

    # ----------------------------------------------------------------- reference

    def energies(self, n_modes: int) -> np.ndarray:
        """E_n for n = 1..n_modes."""
        lo, hi = self.box
        k = np.pi * np.arange(1, n_modes + 1) / (hi - lo)
        return self.hbar**2 * k**2 / (2 * self.m)

    def coefficients(self, n_modes: int) -> np.ndarray:
        """c_n = <phi_n|phi_0> for n = 1..n_modes, by the trapezoid rule on
        ``quadrature_points`` cells (the integrand vanishes at both walls, so the rule is
        spectrally accurate)."""
        lo, hi = self.box
        x = lo + (hi - lo) * np.arange(1, self.quadrature_points) / self.quadrature_points
        return self._modes(x, n_modes)[0] @ self.phi0(x) * ((hi - lo) / self.quadrature_points)

    def _modes(self, x: np.ndarray, n_modes: int) -> tuple[np.ndarray, np.ndarray]:
        """(phi_n(x), phi_n'(x)), each (n_modes, len(x))."""
        lo, hi = self.box
        k = np.pi * np.arange(1, n_modes + 1)[:, None] / (hi - lo)
        scale = math.sqrt(2 / (hi - lo))
        return scale * np.sin(k * (x - lo)), scale * k * np.cos(k * (x - lo))

    def truncation(self) -> float:
        """The sup-norm bound of what the neglected modes add to phi and to phi' (L / pi):
        sqrt(2/L) sum |c_n| (1 + n) over modes < n <= 2 modes (the tail beyond is smaller)."""
        lo, hi = self.box
        c = np.abs(self.coefficients(2 * self.modes))[self.modes:]
        n = np.arange(self.modes + 1, 2 * self.modes + 1)
        return float(math.sqrt(2 / (hi - lo)) * (c * (1 + n)).sum())

    def line(self) -> SineLine:
        """phi and phi' on the cell midpoints at every time of the time grid."""
        truncation = self.truncation()
        if truncation > TRUNCATION:
            raise ValueError(f"{self.name}: {self.modes} modes leave {truncation:.1e} of phi or "
                             f"phi' (allowed {TRUNCATION:g}); the start is too narrow or fast")
        lo, hi = self.box
        x = lo + (hi - lo) * (np.arange(self.line_points) + 0.5) / self.line_points
        basis, dbasis = self._modes(x, self.modes)
        c = self.coefficients(self.modes)
        evolved = c[None, :] * np.exp(-1j * np.outer(self.times, self.energies(self.modes)) / self.hbar)
        line = SineLine(x=x, psi=evolved @ basis, dt=self.dt, hbar=self.hbar, m=self.m,
                        dpsi=evolved @ dbasis)
        line.convergence = truncation
        return line
