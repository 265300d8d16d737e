"""Exact references in any d for problems that are products of one 1-D solution.

For V(x) = sum_k V1(x_k) and psi_0(x) = prod_k phi_0(x_k), the solution stays a product,
psi(x, t) = prod_k phi(x_k, t), of one 1-D solution phi (``docs/problems.md``, "Separable
references"). Everything the metrics need follows from phi on a fine 1-D grid:

* the marginals, rho_1(x, t) = |phi(x, t)|^2, the same for every coordinate;
* their moments, quantiles and samples (inverse CDF);
* the drifts, coordinate by coordinate: u = (hbar/m) Re(phi'/phi) = (hbar/2m) d/dx log rho_1
  and v = (hbar/m) Im(phi'/phi) = (hbar/m) dS/dx;
* the energy, d times the 1-D energy, conserved.

``Line`` holds phi on a grid at every time of the problem's time grid; ``split_step_line``
computes it (Strang split-step Fourier), ``ProductReference`` exposes it with the
``ExactReference`` interface.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from reference.arrays import array_namespace, like
from reference.exact import diagonal_covariance

__all__ = ["Line", "ProductReference", "split_step_line"]


@dataclass
class Line:
    """A 1-D solution: ``psi`` (n_times, n) on the uniform grid ``x`` at the problem's times
    t_i = i dt, with the physical constants that turn it into velocities."""

    x: np.ndarray
    psi: np.ndarray
    dt: float
    hbar: float
    m: float

    @property
    def dx(self) -> float:
        return float(self.x[1] - self.x[0])

    def index(self, t) -> np.ndarray:
        """Time indices of ``t`` (on the time grid), as an integer array."""
        t = np.asarray(t, dtype=float)
        steps = np.rint(t / self.dt).astype(np.int64)
        # the stored times are dt apart: 1e-4 dt tells them apart also for float32 times
        off = np.abs(steps * self.dt - t) > 1e-4 * self.dt
        if off.any() or (steps < 0).any() or (steps >= len(self.psi)).any():
            raise ValueError(f"times {np.atleast_1d(t)[np.atleast_1d(off)][:3].tolist()} are not "
                             f"on the time grid t_i = i * {self.dt:g}")
        return steps

    def density(self) -> np.ndarray:
        """rho_1 = |phi|^2 on the grid, (n_times, n), normalised by the grid's sum."""
        rho = np.abs(self.psi) ** 2
        return rho / (rho.sum(-1, keepdims=True) * self.dx)

    def velocities(self) -> tuple[np.ndarray, np.ndarray]:
        """(u, v) on the grid, each (n_times, n): phi'/phi with phi' spectral."""
        k = 2 * math.pi * np.fft.fftfreq(len(self.x), d=self.dx)
        dpsi = np.fft.ifft(1j * k * np.fft.fft(self.psi, axis=-1), axis=-1)
        tiny = np.finfo(float).tiny
        ratio = dpsi * np.conj(self.psi) / np.maximum(np.abs(self.psi) ** 2, tiny)
        return self.hbar / self.m * ratio.real, self.hbar / self.m * ratio.imag


def split_step_line(potential: Callable[[np.ndarray], np.ndarray], psi0: np.ndarray,
                    x: np.ndarray, *, hbar: float, m: float, dt: float, n_steps: int,
                    substeps: int) -> Line:
    """phi on the periodic grid ``x`` at t_i = i dt, i = 0..n_steps, by Strang splitting with
    ``substeps`` steps of tau = dt / substeps between stored times:

        phi <- e^{-i V tau / 2 hbar} F^-1 e^{-i hbar k^2 tau / 2m} F e^{-i V tau / 2 hbar} phi,

    unitary and second order in tau; spectral in space (the grid must hold phi, which the
    caller checks by halving dx and tau)."""
    dx = float(x[1] - x[0])
    tau = dt / substeps
    k = 2 * math.pi * np.fft.fftfreq(len(x), d=dx)
    half_kick = np.exp(-0.5j * tau / hbar * potential(x))
    drift = np.exp(-0.5j * hbar * tau / m * k**2)
    out = np.empty((n_steps + 1, len(x)), dtype=complex)
    phi = np.asarray(psi0, dtype=complex)
    out[0] = phi
    for i in range(1, n_steps + 1):
        for _ in range(substeps):
            phi = half_kick * np.fft.ifft(drift * np.fft.fft(half_kick * phi))
        out[i] = phi
    return Line(x=np.asarray(x, dtype=float), psi=out, dt=dt, hbar=hbar, m=m)


class ProductReference:
    """The product of one 1-D ``Line`` in d coordinates, with the ``ExactReference``
    interface: ``moments``, ``covariance``, ``marginal_density``, ``marginal_quantile``, ``drift``,
    ``sample_density`` and ``energy``. ``potential`` is V1 (for the energy).

    ``line_density`` (n_times, n) is rho_1 on the line's grid and ``line_mean`` (n_times,) its
    mean: what a reference built on this one (``reference.rotated``) reads."""

    def __init__(self, line: Line, d: int, potential: Callable[[np.ndarray], np.ndarray]):
        self.line, self.d = line, d
        self.line_density = line.density()
        self._u, self._v = line.velocities()
        x, dx = line.x, line.dx
        self.line_mean = (self.line_density * x).sum(-1) * dx
        self._var = (self.line_density * (x - self.line_mean[:, None]) ** 2).sum(-1) * dx
        # the trapezoid CDF at each node (a plain cumsum is the CDF half a cell to the right,
        # which would shift every quantile and sample by dx / 2)
        cdf = np.cumsum(0.5 * (self.line_density[:, 1:] + self.line_density[:, :-1]), -1)
        cdf = np.concatenate([np.zeros((len(cdf), 1)), cdf], -1)
        self._cdf = cdf / cdf[:, -1:]
        kinetic = 0.5 * line.m * (self._u[0] ** 2 + self._v[0] ** 2)
        self._energy_1d = float(((kinetic + potential(x)) * self.line_density[0]).sum() * dx)

    def moments(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mean, var), each (n_times, d)."""
        i = self.line.index(times)
        return (np.repeat(self.line_mean[i][:, None], self.d, 1),
                np.repeat(self._var[i][:, None], self.d, 1))

    def covariance(self, times: np.ndarray) -> np.ndarray:
        """(n_times, d, d): diagonal, the coordinates of a product state are independent."""
        return diagonal_covariance(self.moments(times)[1])

    def marginal_density(self, x: np.ndarray, times: np.ndarray) -> np.ndarray:
        """(n_times, d, len(x)), linear interpolation of rho_1 on the fine grid."""
        rows = [np.interp(x, self.line.x, self.line_density[i], left=0.0, right=0.0)
                for i in self.line.index(times)]
        return np.repeat(np.stack(rows)[:, None, :], self.d, 1)

    def marginal_quantile(self, q: np.ndarray, times: np.ndarray) -> np.ndarray:
        """(n_times, d, len(q)), the inverse of the grid CDF."""
        rows = [np.interp(q, self._cdf[i], self.line.x) for i in self.line.index(times)]
        return np.repeat(np.stack(rows)[:, None, :], self.d, 1)

    def drift(self, x, t):
        """(u, v) at x (..., d) and t (a scalar or broadcastable to x[..., 0]), numpy or
        torch: each coordinate's 1-D drift, linearly interpolated on the fine grid."""
        xp = array_namespace(x)
        xn = np.asarray(x.detach().cpu() if xp is not np else x, dtype=float)
        tn = np.broadcast_to(np.asarray(t.detach().cpu() if hasattr(t, "detach") else t,
                                        dtype=float), xn.shape[:-1])
        steps = self.line.index(tn)
        indices = np.unique(steps)
        if len(indices) == 1:  # a sampler's step: every path at one time, no masks to copy
            u, v = self._velocities_at(xn, int(indices[0]))
            return like(u, x), like(v, x)
        u, v = np.empty_like(xn), np.empty_like(xn)
        for i in indices:
            at = steps == i
            u[at], v[at] = self._velocities_at(xn[at], int(i))
        return like(u, x), like(v, x)

    def _velocities_at(self, x: np.ndarray, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(u, v) at time index i, linear between the uniform grid's nodes and constant beyond
        its ends (as ``np.interp``, whose bisection costs 4x more at d = 100)."""
        nodes = self.line.x
        s = (np.clip(x, nodes[0], nodes[-1]) - nodes[0]) / self.line.dx
        j = np.minimum(s.astype(np.intp), len(nodes) - 2)
        w = s - j
        u, v = self._u[i], self._v[i]
        return u[j] + w * (u[j + 1] - u[j]), v[j] + w * (v[j + 1] - v[j])

    def sample_density(self, n: int, t: float, seed: int | np.random.Generator = 0) -> np.ndarray:
        """n samples of rho(., t), (n, d): independent coordinates by the inverse CDF."""
        rng = np.random.default_rng(seed)
        i = int(self.line.index(t))
        return np.interp(rng.random((n, self.d)), self._cdf[i], self.line.x)

    def energy(self, times: np.ndarray) -> np.ndarray:
        """E(t) = d E_1, conserved (its value at t = 0)."""
        return np.full(len(np.atleast_1d(times)), self.d * self._energy_1d)
