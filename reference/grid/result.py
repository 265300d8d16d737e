"""What a Crank-Nicolson solve keeps: observables at the stored times, psi, and the drifts.

Observables (1-D marginals, moments, centre-of-mass moments, the energy <psi|H|psi> with the
same discrete H, which CN conserves) are integrated on the grid by the rectangle rule, which
is spectrally accurate for smooth densities that vanish at the walls. The drifts are

    u = (hbar/2m) grad log|psi|^2 = (hbar/m) Re(grad psi / psi),
    v = (hbar/m) Im(grad psi / psi),

with grad psi from the central first-derivative stencil of the solve's order, interpolated
linearly to arbitrary points (exact for the Gaussian packets, whose u and v are linear in x).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from reference.grid.operators import Grid, gradient
from reference.problems import Problem

__all__ = ["GridResult", "Times"]

Times = Sequence[float] | np.ndarray  # times that are among the stored ones


@dataclass
class GridResult:
    """psi-derived observables at the stored times (and psi itself unless store_psi=False).

    Arrays: ``times`` (n_t,), ``mean``/``var`` (n_t, d), ``marginals`` (n_t, d, n),
    ``com_mean``/``com_var`` (n_t,), ``energy_values`` (n_t,), ``norm`` (n_t,),
    ``autocorrelation_values`` (n_t, complex: C(t) = <psi_0|psi(t)>), ``psi_values``
    (n_t, *grid.shape) or None.
    """

    problem: Problem
    grid: Grid
    order: int
    times: np.ndarray
    mean: np.ndarray
    var: np.ndarray
    marginals: np.ndarray
    com_mean: np.ndarray
    com_var: np.ndarray
    energy_values: np.ndarray
    norm: np.ndarray
    autocorrelation_values: np.ndarray
    psi_values: np.ndarray | None
    n_steps: int
    max_norm_change: float
    solver_iterations: int
    max_residual: float
    wall_s: float
    method: str
    substeps: int
    _fields: OrderedDict = field(default_factory=OrderedDict, repr=False)
    _grad_potential: np.ndarray | None = field(default=None, repr=False)

    # ------------------------------------------------------------------ lookup
    def time_indices(self, times: Times) -> np.ndarray:
        """Indices of ``times`` among the stored times (ValueError if one is not stored)."""
        t = np.atleast_1d(np.asarray(times, dtype=float))
        idx = np.searchsorted(self.times, t)
        idx = np.clip(idx, 0, len(self.times) - 1)
        left = np.clip(idx - 1, 0, len(self.times) - 1)
        idx = np.where(np.abs(self.times[left] - t) < np.abs(self.times[idx] - t), left, idx)
        bad = np.abs(self.times[idx] - t) > 1e-9 * max(1.0, self.problem.T)
        if bad.any():
            raise ValueError(
                f"time(s) {t[bad][:5].tolist()} not stored; stored: {len(self.times)} times "
                f"from {self.times[0]:g} to {self.times[-1]:g} (set n_store_times / store_every)"
            )
        return idx

    def moments(self, times: Times) -> tuple[np.ndarray, np.ndarray]:
        idx = self.time_indices(times)
        return self.mean[idx], self.var[idx]

    def center_of_mass_moments(self, times: Times) -> tuple[np.ndarray, np.ndarray]:
        idx = self.time_indices(times)
        return self.com_mean[idx], self.com_var[idx]

    def energy(self, times: Times) -> np.ndarray:
        return self.energy_values[self.time_indices(times)]

    def _stored_psi(self, times: Times):
        """psi at each of ``times`` and its squared norm sum |psi|^2 (psi must be stored)."""
        for i in self.time_indices(times):
            psi = self.psi_values[i]
            yield psi, float((psi.conj() * psi).real.sum())

    def _densities(self, times: Times):
        """|psi|^2 normalised to sum 1 at each of ``times``."""
        for psi, norm in self._stored_psi(times):
            yield (psi.conj() * psi).real / norm

    def covariance(self, times: Times) -> np.ndarray | None:
        """Covariance matrix of x, (len(times), d, d), from the pair marginals of |psi|^2
        (rectangle rule; its diagonal is ``var``); None where psi was not stored (the
        metric is then absent, the row not failed)."""
        if self.psi_values is None:
            return None
        d, axis = self.grid.d, self.grid.axis
        out = np.empty((len(np.atleast_1d(times)), d, d))
        for a, rho in enumerate(self._densities(times)):
            mean = np.array([axis @ rho.sum(axis=tuple(b for b in range(d) if b != k))
                             for k in range(d)])
            for i in range(d):
                for j in range(i, d):
                    pair = rho.sum(axis=tuple(b for b in range(d) if b not in (i, j)))
                    second = axis**2 @ pair if i == j else axis @ pair @ axis
                    out[a, i, j] = out[a, j, i] = second - mean[i] * mean[j]
        return out

    def velocity_moments(self, times: Times) -> tuple[np.ndarray, np.ndarray] | None:
        """(E[v], Var p / m^2), each (len(times), d): E[v] = <p>/m = (hbar/m) Im <psi|grad psi>
        and <p_k^2>/m^2 = (hbar/m)^2 <d_k psi|d_k psi> over <psi|psi>, with the central
        first-derivative stencil of the solve's order; None without psi."""
        if self.psi_values is None:
            return None
        scale, d = self.problem.hbar / self.problem.m, self.grid.d
        mean, var = [], []
        for psi, norm in self._stored_psi(times):
            grad = gradient(psi, self.grid.dx, self.order).reshape(d, -1)
            mean.append(scale * (psi.conj().ravel()[None] * grad).imag.sum(-1) / norm)
            var.append(scale**2 * (np.abs(grad) ** 2).sum(-1) / norm - mean[-1] ** 2)
        return np.array(mean), np.array(var)

    def mean_potential_gradient(self, times: Times) -> np.ndarray | None:
        """E[grad V] under |psi|^2, (len(times), d); grad V on the grid points is computed
        once. None without psi."""
        if self.psi_values is None:
            return None
        if self._grad_potential is None:
            self._grad_potential = np.stack([
                self.grid.evaluate(lambda x, k=k: np.asarray(self.problem.grad_potential(x))[..., k])
                for k in range(self.grid.d)])
        return np.stack([(self._grad_potential * rho[None]).reshape(self.grid.d, -1).sum(-1)
                         for rho in self._densities(times)])
    def autocorrelation(self, times: Times) -> np.ndarray:
        """C(t) = <psi_0|psi(t)> at stored times, complex, with psi_0 as the grid holds it."""
        return self.autocorrelation_values[self.time_indices(times)]

    def psi(self, times: Times) -> np.ndarray:
        """psi on the grid at stored times, (len(times), *grid.shape), normalised so that
        sum |psi|^2 dx^d = 1 (at the start; CN keeps it)."""
        if self.psi_values is None:
            raise ValueError("psi was not stored (store_psi=False)")
        return self.psi_values[self.time_indices(times)]

    def marginal_density(self, x: np.ndarray, times: Times) -> np.ndarray:
        """1-D marginals interpolated linearly onto x, (len(times), d, len(x)); 0 outside the
        box (psi vanishes at the walls, which are included as interpolation nodes)."""
        idx = self.time_indices(times)
        x = np.asarray(x, dtype=float)
        nodes = np.concatenate([[self.grid.lo], self.grid.axis, [self.grid.hi]])
        out = np.empty((len(idx), self.grid.d, x.size))
        for a, i in enumerate(idx):
            for k in range(self.grid.d):
                values = np.concatenate([[0.0], self.marginals[i, k], [0.0]])
                out[a, k] = np.interp(x.ravel(), nodes, values, left=0.0, right=0.0)
        return out

    def marginal_quantile(self, q: np.ndarray, times: Times) -> np.ndarray:
        """Quantiles of each 1-D marginal, (len(times), d, len(q)), by inverting the CDF of the
        piecewise-linear marginal (trapezoid rule between nodes)."""
        idx = self.time_indices(times)
        q = np.asarray(q, dtype=float)
        nodes = np.concatenate([[self.grid.lo], self.grid.axis, [self.grid.hi]])
        out = np.empty((len(idx), self.grid.d, q.size))
        for a, i in enumerate(idx):
            for k in range(self.grid.d):
                rho = np.concatenate([[0.0], self.marginals[i, k], [0.0]])
                cdf = np.concatenate([[0.0], np.cumsum(0.5 * (rho[1:] + rho[:-1]) * self.grid.dx)])
                cdf /= cdf[-1]
                out[a, k] = np.interp(q, cdf, nodes)
        return out

    def velocity_fields(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(u, v) on the grid at stored time ``index``, each (d, *grid.shape)."""
        if index in self._fields:
            self._fields.move_to_end(index)
            return self._fields[index]
        if self.psi_values is None:
            raise ValueError("drift needs psi (store_psi=False was set)")
        psi = self.psi_values[index]
        grad = gradient(psi, self.grid.dx, self.order, self.problem.reflecting_box)
        rho = np.maximum((psi.conj() * psi).real, np.finfo(float).tiny)
        # grad psi / psi = conj(psi) grad psi / |psi|^2
        ratio = psi.conj()[None] * grad / rho[None]
        scale = self.problem.hbar / self.problem.m
        fields = (scale * ratio.real, scale * ratio.imag)
        self._fields[index] = fields
        if len(self._fields) > 4:  # each is 2 d n^d floats: keep a few
            self._fields.popitem(last=False)
        return fields

    def drift(self, x: np.ndarray, t: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """(u, v) at points x (n, d) and times t (n,) (or a scalar), each (n, d): linear in
        space on the grid (points outside the interior grid take the nearest boundary value),
        linear in time between stored times."""
        from scipy.interpolate import RegularGridInterpolator

        x = np.atleast_2d(np.asarray(x, dtype=float))
        t = np.broadcast_to(np.asarray(t, dtype=float), (len(x),))
        if (t < self.times[0] - 1e-12).any() or (t > self.times[-1] + 1e-12).any():
            raise ValueError(f"drift times must lie in [{self.times[0]}, {self.times[-1]}]")
        axis = self.grid.axis
        xc = np.clip(x, axis[0], axis[-1])
        u = np.empty_like(x)
        v = np.empty_like(x)
        for tv in np.unique(t):
            sel = t == tv
            j = int(np.clip(np.searchsorted(self.times, tv, side="right") - 1, 0,
                            len(self.times) - 1))
            if j == len(self.times) - 1 or abs(self.times[j] - tv) < 1e-12:
                weights = [(j, 1.0)]
            else:
                w = (tv - self.times[j]) / (self.times[j + 1] - self.times[j])
                weights = [(j, 1.0 - w), (j + 1, w)]
            us = np.zeros((sel.sum(), self.grid.d))
            vs = np.zeros_like(us)
            for i, w in weights:
                fu, fv = self.velocity_fields(i)
                for k in range(self.grid.d):
                    grid_axes = (axis,) * self.grid.d
                    us[:, k] += w * RegularGridInterpolator(grid_axes, fu[k])(xc[sel])
                    vs[:, k] += w * RegularGridInterpolator(grid_axes, fv[k])(xc[sel])
            u[sel], v[sel] = us, vs
        return u, v

