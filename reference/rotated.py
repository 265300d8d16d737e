"""Exact references for separable problems seen through a rotation: x = Q^T y.

If y has independent coordinates, y_i following the 1-D solution ``lines[i]`` (a product
wavefunction in y), and the solvers see x = Q^T y for an orthogonal Q, then
(``docs/problems.md``, "Rotated references"):

* the mean is Q^T mu_y(t) and the covariance Q^T diag(sigma_y^2(t)) Q;
* the marginal of x_j is the law of sum_i Q_ij y_i, a convolution of the scaled 1-D
  densities: its characteristic function is prod_i c_i(Q_ij k), computed here from each
  line's characteristic function and inverted by FFT;
* the drift is Q^T u_y(Q x), and likewise v;
* the energy is the sum of the lines' 1-D energies (H is invariant under the rotation).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from reference.arrays import array_namespace, like
from reference.separable import Line, ProductReference

__all__ = ["RotatedReference"]

# the marginal's density beyond +-W of its mean is below this (Hoeffding, see _half_width)
TAIL = 1e-12
# a characteristic function below this is 0 (the density's error is at most CUTOFF / h)
CUTOFF = 1e-18
# FFT points of a marginal's density on [mean - W, mean + W]
MARGINAL_POINTS = 4096
# zero padding of a line's characteristic-function table: spacing 2 pi / (P dy) in k
TABLE_POINTS = 2**18


class RotatedReference:
    """The reference of x = Q^T y for independent y_i ~ ``lines[i]``, with the
    ``ExactReference`` interface plus ``covariance``. ``potentials[i]`` is y_i's V1."""

    def __init__(self, lines: Sequence[Line], rotation: np.ndarray,
                 potentials: Sequence[Callable[[np.ndarray], np.ndarray]]):
        self.rotation = np.asarray(rotation, dtype=float)
        self.d = len(self.rotation)
        if len(lines) != self.d or len(potentials) != self.d:
            raise ValueError(f"{len(lines)} lines and {len(potentials)} potentials for d={self.d}")
        # one 1-D product reference per distinct line (lines are shared between coordinates)
        distinct: dict[int, int] = {}
        self._parts: list[ProductReference] = []
        for line, potential in zip(lines, potentials, strict=True):
            if id(line) not in distinct:
                distinct[id(line)] = len(self._parts)
                self._parts.append(ProductReference(line, 1, potential))
        self._kind = np.array([distinct[id(line)] for line in lines])
        self.line = lines[0]  # the time grid, shared by every line
        self._spread = np.array([_max_deviation(part) for part in self._parts])
        self._marginals: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    # ------------------------------------------------------------------ moments
    def _line_moments(self, times) -> tuple[np.ndarray, np.ndarray]:
        """(mean_y, var_y), each (n_times, d)."""
        per_part = [part.moments(times) for part in self._parts]
        mean = np.stack([m[:, 0] for m, _ in per_part], -1)[:, self._kind]
        var = np.stack([v[:, 0] for _, v in per_part], -1)[:, self._kind]
        return mean, var

    def moments(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mean, var), each (n_times, d): mean_x = Q^T mu_y, var_x_j = sum_i Q_ij^2 var_y_i."""
        mean_y, var_y = self._line_moments(times)
        return mean_y @ self.rotation, var_y @ self.rotation**2

    def covariance(self, times: np.ndarray) -> np.ndarray:
        """(n_times, d, d): Q^T diag(var_y) Q."""
        _, var_y = self._line_moments(times)
        return np.einsum("ij,ti,ik->tjk", self.rotation, var_y, self.rotation)

    def energy(self, times: np.ndarray) -> np.ndarray:
        """E = sum_i E_1(line_i), conserved."""
        e = sum(float(self._parts[k].energy([0.0])[0]) for k in self._kind)
        return np.full(len(np.atleast_1d(times)), e)

    # ------------------------------------------------------------------ drift and samples
    def drift(self, x, t):
        """(u, v) at x (..., d): Q^T u_y(Q x, t), with each u_y,i from its line."""
        xp = array_namespace(x)
        xn = np.asarray(x.detach().cpu() if xp is not np else x, dtype=float)
        tn = np.asarray(t.detach().cpu() if hasattr(t, "detach") else t, dtype=float)
        y = xn @ self.rotation.T
        u_y, v_y = np.empty_like(y), np.empty_like(y)
        for k, part in enumerate(self._parts):
            cols = np.flatnonzero(self._kind == k)
            # each y_i is a 1-D problem: t gets an axis for the coordinates
            u_k, v_k = part.drift(y[..., cols, None], tn[..., None] if tn.ndim else tn)
            u_y[..., cols], v_y[..., cols] = u_k[..., 0], v_k[..., 0]
        u, v = u_y @ self.rotation, v_y @ self.rotation
        return like(u, x), like(v, x)

    def sample_density(self, n: int, t: float, seed: int | np.random.Generator = 0) -> np.ndarray:
        """n samples of rho(., t), (n, d): independent y_i by their inverse CDFs, x = Q^T y."""
        rng = np.random.default_rng(seed)
        y = np.empty((n, self.d))
        for k, part in enumerate(self._parts):
            cols = np.flatnonzero(self._kind == k)
            y[:, cols] = part.sample_density(n * len(cols), t, rng).reshape(n, len(cols))
        return y @ self.rotation

    # ------------------------------------------------------------------ marginals
    def marginal_density(self, x: np.ndarray, times: np.ndarray) -> np.ndarray:
        """(n_times, d, len(x)): each marginal by FFT inversion, interpolated linearly."""
        out = np.empty((len(np.atleast_1d(times)), self.d, len(x)))
        for a, i in enumerate(self.line.index(np.atleast_1d(times))):
            z, rho = self._marginals_at(int(i))
            for j in range(self.d):
                out[a, j] = np.interp(x, z[j], rho[j], left=0.0, right=0.0)
        return out

    def marginal_quantile(self, q: np.ndarray, times: np.ndarray) -> np.ndarray:
        """(n_times, d, len(q)): the inverse of each marginal's CDF (trapezoid rule)."""
        out = np.empty((len(np.atleast_1d(times)), self.d, len(q)))
        for a, i in enumerate(self.line.index(np.atleast_1d(times))):
            z, rho = self._marginals_at(int(i))
            for j in range(self.d):
                cdf = np.concatenate([[0.0], np.cumsum(0.5 * (rho[j, 1:] + rho[j, :-1]))])
                out[a, j] = np.interp(q, cdf / cdf[-1], z[j])
        return out

    def _marginals_at(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(z, rho), each (d, MARGINAL_POINTS): every marginal's grid and density at the
        time index, kept for the last few indices asked for."""
        if index not in self._marginals:
            if len(self._marginals) >= 8:
                self._marginals.pop(next(iter(self._marginals)))
            self._marginals[index] = self._invert(index)
        return self._marginals[index]

    def _invert(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """rho_j(z) = (1/2 pi) int prod_i c_i(Q_ij k) e^{-i k (z - mean_j)} dk, with c_i the
        characteristic function of y_i about its mean, on an FFT grid over mean_j +- W_j."""
        t = index * self.line.dt
        mean_x = self.moments(np.array([t]))[0][0]
        tables = [_centred_characteristic(part, index) for part in self._parts]
        n = MARGINAL_POINTS
        z = np.empty((self.d, n))
        rho = np.empty((self.d, n))
        for j in range(self.d):
            half = self._half_width(j)
            h = 2 * half / n
            k = 2 * math.pi * np.fft.rfftfreq(n, d=h)
            phi = self._characteristic(j, k, tables)
            # z_m = mean - W + m h: the shift by W is the phase e^{i k W}; irfft's kernel is
            # e^{+i k z}, so it inverts the conjugate
            rho[j] = np.fft.irfft(np.conj(phi * np.exp(1j * k * half)), n) / h
            z[j] = mean_x[j] - half + h * np.arange(n)
        return z, np.clip(rho, 0.0, None)

    def _characteristic(self, j: int, k: np.ndarray, tables) -> np.ndarray:
        """prod_i c_i(Q_ij k), the factors taken in blocks, largest |Q_ij| first. |c| <= 1, so
        once the partial product is below CUTOFF at some k the full one is too: such k are
        set to 0 and dropped, which leaves most of the work to the few k that matter."""
        column = self.rotation[:, j]
        order = np.argsort(-np.abs(column))
        phi = np.ones(len(k), dtype=complex)
        active = np.arange(len(k))
        for block in np.array_split(order, max(1, len(order) // 8)):
            factor = np.ones(len(active), dtype=complex)
            for kind in np.unique(self._kind[block]):
                step, table = tables[kind]
                q = column[block[self._kind[block] == kind]]
                factor *= _lookup(table, step, q[:, None] * k[active]).prod(0)
            phi[active] *= factor
            negligible = np.abs(phi[active]) < CUTOFF
            phi[active[negligible]] = 0.0
            active = active[~negligible]
        return phi

    def _half_width(self, j: int) -> float:
        """W_j: x_j - mean_j = sum_i Q_ij (y_i - mu_i) with |y_i - mu_i| <= R_i, so |x_j -
        mean_j| <= sum_i |Q_ij| R_i, and by Hoeffding P(|x_j - mean_j| > w) <=
        2 exp(-w^2 / (2 sum_i Q_ij^2 R_i^2)); W_j is the smaller bound at TAIL."""
        spread = self._spread[self._kind]
        column = self.rotation[:, j]
        hoeffding = math.sqrt(2 * np.sum(column**2 * spread**2) * math.log(2 / TAIL))
        return float(min(np.sum(np.abs(column) * spread), hoeffding))


def _max_deviation(part: ProductReference) -> float:
    """R: the largest distance from its mean at which the line's density exceeds TAIL times
    its peak, over all times."""
    rho = part.line_density
    x = part.line.x
    above = rho > TAIL * rho.max(-1, keepdims=True)
    lo = np.where(above, x, np.inf).min(-1)
    hi = np.where(above, x, -np.inf).max(-1)
    return float(np.max(np.maximum(part.line_mean - lo, hi - part.line_mean)))


def _centred_characteristic(part: ProductReference, index: int) -> tuple[float, np.ndarray]:
    """(step, table): c(s) = int rho(y) e^{i s (y - mu)} dy and its derivative c'(s) (rows 0
    and 1) at s = 0, step, 2 step, ... up to the line's Nyquist frequency, by zero-padded FFTs
    of the line's density."""
    line = part.line
    rho, mu = part.line_density[index], part.line_mean[index]
    dy = line.dx
    offset = line.x - mu
    table = np.fft.ifft(np.stack([rho, 1j * offset * rho]), TABLE_POINTS)
    table = table[:, : TABLE_POINTS // 2] * TABLE_POINTS * dy
    step = 2 * math.pi / (TABLE_POINTS * dy)
    return step, table * np.exp(1j * step * np.arange(TABLE_POINTS // 2) * offset[0])


def _lookup(table: np.ndarray, step: float, s: np.ndarray) -> np.ndarray:
    """c(s) by cubic Hermite interpolation in the table of c and c' (error <= step^4/384
    max|c|, where c is the fourth central moment: far below linear interpolation's
    step^2/8 var, which would show in the marginals' variances); c(-s) = conj c(s) (rho is
    real), and 0 beyond the line's Nyquist frequency, where the resolved density has no
    content."""
    value, slope = table
    a = np.abs(s) / step
    i = np.floor(a).astype(np.int64)
    inside = i < len(value) - 1
    i = np.where(inside, i, 0)
    w = a - i
    h00, h10 = (1 + 2 * w) * (1 - w) ** 2, w * (1 - w) ** 2
    h01, h11 = w**2 * (3 - 2 * w), w**2 * (w - 1)
    out = (h00 * value[i] + h10 * step * slope[i] + h01 * value[i + 1]
           + h11 * step * slope[i + 1])
    out = np.where(inside, out, 0.0)
    return np.where(s < 0, np.conj(out), out)
