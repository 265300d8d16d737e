"""Observables of psi stored on the periodic grid at the evaluation times.

Integrals are rectangle-rule sums over the periodic grid: for a band-limited periodic integrand
(|psi|^2 has twice psi's band, still below the rule's 2 pi / dx aliasing limit) they are exact,
so the moments, the energy and the centre of mass are spectrally accurate. The drifts are

    u = (hbar/2m) grad log|psi|^2 = (hbar/m) Re(grad psi / psi),   v = (hbar/m) Im(grad psi / psi),

with grad psi by spectral differentiation, interpolated linearly in space (periodically) and
in time between stored times.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any

import numpy as np
import scipy.fft as sfft

from dsm_bench_splitstep.propagator import PeriodicGrid
from reference.problems import Problem
from solvers.base import Cost, DensitySolution

__all__ = ["SplitStepSolution"]


class SplitStepSolution(DensitySolution):
    """psi on ``grid`` at ``times`` (a subset of the problem's time grid)."""

    def __init__(self, problem: Problem, cost: Cost, grid: PeriodicGrid, times: np.ndarray,
                 psi: np.ndarray, grid_check: dict[str, Any] | None = None):
        super().__init__(problem, cost)
        # the grid rule checked on psi (``propagator.edge_ratios``) and the runs it took
        self.grid_check = grid_check or {}
        self.grid = grid
        self.times = np.asarray(times, dtype=float)
        self.psi_values = psi
        self._fields: OrderedDict[int, tuple[np.ndarray, np.ndarray]] = OrderedDict()

    # ------------------------------------------------------------------ lookup
    def time_indices(self, times: np.ndarray) -> np.ndarray:
        """Indices of ``times`` among the stored times (ValueError naming those not stored)."""
        t = np.atleast_1d(np.asarray(times, dtype=float))
        idx = np.clip(np.searchsorted(self.times, t), 0, len(self.times) - 1)
        left = np.clip(idx - 1, 0, None)
        idx = np.where(np.abs(self.times[left] - t) < np.abs(self.times[idx] - t), left, idx)
        bad = np.abs(self.times[idx] - t) > 1e-9 * max(1.0, self.problem.T)
        if bad.any():
            raise ValueError(f"time(s) {t[bad][:5].tolist()} not stored; stored: {len(self.times)} "
                             f"times from {self.times[0]:g} to {self.times[-1]:g} (n_store_times)")
        return idx

    def density(self, index: int) -> np.ndarray:
        """|psi|^2 dx^d at stored time ``index``, normalised to sum 1."""
        psi = self.psi_values[index]
        rho = (psi.conj() * psi).real
        return rho / rho.sum()

    def _marginals(self, index: int) -> np.ndarray:
        """Probabilities of the grid cells of every axis, (d, n)."""
        rho = self.density(index)
        d = self.grid.d
        return np.stack([rho.sum(axis=tuple(a for a in range(d) if a != k)) for k in range(d)])

    # ------------------------------------------------------------------ density interface
    def moments(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        idx = self.time_indices(times)
        x = self.grid.axis
        p = np.stack([self._marginals(i) for i in idx])
        mean = (p * x).sum(-1)
        var = (p * (x - mean[..., None]) ** 2).sum(-1)
        return mean, var

    def marginal_density(self, x: np.ndarray, times: np.ndarray) -> np.ndarray:
        """Exact trigonometric interpolation of each 1-D marginal: psi is interpolated to a
        grid of dx/2 along the axis (zero padding its spectrum), where |psi|^2, of twice psi's
        band, is resolved; that marginal is then interpolated at x. 0 outside the box."""
        grid = self.grid
        x = np.asarray(x, dtype=float).ravel()
        k_fine = 2 * math.pi * np.fft.fftfreq(2 * grid.n, grid.dx / 2)
        waves = np.exp(1j * np.outer(k_fine, x - grid.lo))
        inside = (x >= grid.lo) & (x < grid.lo + grid.length)
        idx = self.time_indices(times)
        out = np.empty((len(idx), grid.d, x.size))
        for a, i in enumerate(idx):
            for k in range(grid.d):
                rho = self._fine_marginal(self.psi_values[i], k)
                coeff = sfft.fft(rho) / rho.size
                # rounding leaves ~1e-17 negative wiggles in the far tails: a density is >= 0
                out[a, k] = np.where(inside, np.maximum((coeff @ waves).real, 0.0), 0.0)
        return out

    def _fine_marginal(self, psi: np.ndarray, axis: int) -> np.ndarray:
        """The 1-D marginal density on the grid of spacing dx/2 along ``axis`` (2n points)."""
        n = self.grid.n
        spectrum = sfft.fft(psi, axis=axis)
        pad = [(0, 0)] * psi.ndim
        pad[axis] = (0, n)
        # zeros go between the positive and negative frequencies: rotate them to the end first
        spectrum = np.roll(np.pad(np.roll(spectrum, n // 2, axis=axis), pad), -(n // 2), axis=axis)
        fine = sfft.ifft(spectrum, axis=axis) * 2  # ifft divides by 2n instead of n
        rho = (fine.conj() * fine).real
        rho = rho.sum(axis=tuple(a for a in range(psi.ndim) if a != axis))
        return rho / (rho.sum() * self.grid.dx / 2)

    # ------------------------------------------------------------------ optional capabilities
    def energy(self, times: np.ndarray) -> np.ndarray:
        """<psi|H|psi> / <psi|psi>: the kinetic part in Fourier space (Parseval), the potential
        part on the grid."""
        grid, p = self.grid, self.problem
        kinetic = p.hbar**2 / (2 * p.m) * grid.k_squared()
        potential = grid.evaluate(p.potential)
        out = []
        for i in self.time_indices(times):
            phat = sfft.fftn(self.psi_values[i])
            power = (phat.conj() * phat).real
            out.append((kinetic * power).sum() / power.sum() + (potential * self.density(i)).sum())
        return np.array(out)

    def center_of_mass_moments(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        grid = self.grid
        xc = sum(grid.axis_array(grid.axis, a) for a in range(grid.d)) / grid.d
        mean, var = [], []
        for i in self.time_indices(times):
            rho = self.density(i)
            m1 = float((rho * xc).sum())
            mean.append(m1)
            var.append(float((rho * xc**2).sum()) - m1**2)
        return np.array(mean), np.array(var)

    def velocity_fields(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(u, v) on the grid at stored time ``index``, each (d, *grid.shape); a few cached."""
        if index in self._fields:
            self._fields.move_to_end(index)
            return self._fields[index]
        grid = self.grid
        psi = self.psi_values[index]
        phat = sfft.fftn(psi)
        k = grid.wavenumbers
        grad = np.stack([sfft.ifftn(1j * grid.axis_array(k, a) * phat) for a in range(grid.d)])
        # grad psi / psi = conj(psi) grad psi / |psi|^2, guarded where psi underflows
        rho = np.maximum((psi.conj() * psi).real, np.finfo(float).tiny)
        ratio = psi.conj()[None] * grad / rho[None]
        scale = self.problem.hbar / self.problem.m
        self._fields[index] = (scale * ratio.real, scale * ratio.imag)
        if len(self._fields) > 4:
            self._fields.popitem(last=False)
        return self._fields[index]

    def drift(self, x: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(u, v) at points x (n, d) and times t (n,) or a scalar, each (n, d)."""
        x = np.atleast_2d(np.asarray(x, dtype=float))
        t = np.broadcast_to(np.asarray(t, dtype=float), (len(x),))
        if (t < self.times[0] - 1e-12).any() or (t > self.times[-1] + 1e-12).any():
            raise ValueError(f"drift times must lie in [{self.times[0]}, {self.times[-1]}]")
        u, v = np.zeros_like(x), np.zeros_like(x)
        for tv in np.unique(t):
            sel = t == tv
            j = int(np.clip(np.searchsorted(self.times, tv, side="right") - 1, 0,
                            len(self.times) - 2))
            w = float(np.clip((tv - self.times[j]) / (self.times[j + 1] - self.times[j]), 0, 1))
            for i, weight in ((j, 1.0 - w), (j + 1, w)):
                if weight == 0.0:
                    continue
                fu, fv = self.velocity_fields(i)
                u[sel] += weight * self._interpolate(fu, x[sel])
                v[sel] += weight * self._interpolate(fv, x[sel])
        return u, v

    def _interpolate(self, field: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Multilinear periodic interpolation of a (d, *grid.shape) field at points (n, d)."""
        grid = self.grid
        s = np.mod(x - grid.lo, grid.length) / grid.dx
        base = np.floor(s).astype(int)
        frac = s - base
        out = np.zeros((len(x), grid.d))
        for corner in np.ndindex(*(2,) * grid.d):
            c = np.array(corner)
            weight = np.prod(np.where(c == 1, frac, 1.0 - frac), axis=1)
            nodes = tuple(((base[:, a] + c[a]) % grid.n) for a in range(grid.d))
            out += weight[:, None] * field[(slice(None),) + nodes].T
        return out
