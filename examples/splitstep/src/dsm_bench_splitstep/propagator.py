"""Strang split-step Fourier propagation on a periodic box.

The Schrodinger equation ``i hbar d_t psi = (T + V) psi``, T = -(hbar^2 / 2m) Lap, is
discretised on n points an axis of the periodic box [lo, lo + L)^d, x_j = lo + j dx,
dx = L / n, with wavenumbers k = 2 pi fftfreq(n, dx). A step of tau is

    psi <- e^{-i V tau / 2 hbar} F^-1 e^{-i hbar |k|^2 tau / 2m} F e^{-i V tau / 2 hbar} psi.

Every factor is unitary (the norm is kept to rounding) and the middle one is the exact free
propagator of the grid's trigonometric interpolant, so the only time error is the splitting's,
O(tau^2) globally from the commutator [T, V] (none at all for V = 0).

In space psi is its trigonometric interpolant: derivatives of a band-limited periodic function
are exact, so the spatial error is only the part of psi's spectrum beyond |k| = pi / dx and the
mass outside the box (which wraps around), both made negligible by the grid rule
(the rule of thumb for grid references): dx <= pi / k_max, box half-width >= max_t |<x>| + 6 sigma_x.
``choose_grid`` applies it a priori (the problem's box, k_max from the energy bound) and
``check_grid`` checks it a posteriori on the solution, in the form that also holds for
non-Gaussian marginals: the marginal density at the box's edge, and the momentum density at
|k| = pi / dx, stay below e^{-18} (a Gaussian's density at 6 sigma) of their peaks.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.fft as sfft

from reference.exact import initial_energy
from reference.problems import Problem

__all__ = ["EDGE_RATIO", "GridCheck", "PeriodicGrid", "check_grid", "choose_grid",
           "estimate_memory_bytes", "growth_factor", "next_grid", "propagate", "store_indices"]

_COMPLEX_BYTES = 16
# the grid rule's safety factor: |mean| + 6 sigma <= sqrt(1 + 6^2) sqrt(<k^2>) by Cauchy-Schwarz
_SIGMAS = 6.0
EDGE_RATIO = math.exp(-_SIGMAS**2 / 2)  # a Gaussian's density at 6 sigma over its peak


@dataclass(frozen=True)
class PeriodicGrid:
    """n points an axis on the periodic box [lo, lo + length)^d."""

    d: int
    n: int
    lo: float
    length: float

    @property
    def dx(self) -> float:
        return self.length / self.n

    @property
    def axis(self) -> np.ndarray:
        return self.lo + self.dx * np.arange(self.n)

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.n,) * self.d

    @property
    def size(self) -> int:
        return self.n**self.d

    @property
    def cell_volume(self) -> float:
        return self.dx**self.d

    @property
    def wavenumbers(self) -> np.ndarray:
        """k of one axis in FFT order, shape (n,)."""
        return 2 * math.pi * np.fft.fftfreq(self.n, self.dx)

    def axis_array(self, values: np.ndarray, axis: int) -> np.ndarray:
        """A 1-D array along ``axis``, shaped to broadcast against the grid."""
        shape = [1] * self.d
        shape[axis] = self.n
        return values.reshape(shape)

    def k_squared(self) -> np.ndarray:
        """|k|^2 on the whole grid (FFT order)."""
        k2 = self.wavenumbers**2
        return sum(self.axis_array(k2, a) for a in range(self.d)) * np.ones(self.shape)

    def evaluate(self, func: Callable[[np.ndarray], np.ndarray], dtype=float) -> np.ndarray:
        """func(points (..., d)) on the grid, one slab of the first axis at a time (the pair
        interaction builds a (..., d, d) temporary)."""
        out = np.empty(self.shape, dtype=dtype)
        rest = np.stack(np.meshgrid(*([self.axis] * (self.d - 1)), indexing="ij"), -1) \
            if self.d > 1 else np.empty((0,))
        for i, x0 in enumerate(self.axis):
            if self.d == 1:
                out[i] = func(np.array([[x0]]))[0]
            else:
                out[i] = func(np.concatenate([np.full(rest.shape[:-1] + (1,), x0), rest], -1))
        return out


def _potential_minimum(problem: Problem) -> float:
    """A lower bound of V: the trap is >= 0, the pair term >= 0 unless attractive (g < 0)."""
    pairs = problem.d * (problem.d - 1) / 2
    return min(0.0, 0.5 * problem.g * pairs * (2 * math.pi * problem.s2) ** -0.5)


def max_wavenumber(problem: Problem) -> float:
    """An upper bound of max_t(|<k_i>| + 6 sigma_{k_i}) for one coordinate.

    Energy is conserved, so at every t the kinetic energy is at most E - min V, and the
    coordinates are exchangeable (one trap, one initial state for all, a symmetric pair
    term), so <k_i^2> <= 2 m (E - min V) / (d hbar^2); then |<k>| + 6 sigma_k <= sqrt(37 <k^2>).
    """
    kinetic = initial_energy(problem) - _potential_minimum(problem)
    k_sq = 2 * problem.m * kinetic / (problem.d * problem.hbar**2)
    return math.sqrt((1 + _SIGMAS**2) * k_sq)


def choose_grid(problem: Problem, n_points: int | None = None,
                half_width: float | None = None) -> PeriodicGrid:
    """The a-priori grid: the problem's box (or ``half_width`` about its centre; whether it
    holds the packet is checked on the solution by ``check_grid``) and dx <= pi / k_max
    (``max_wavenumber``), unless ``n_points`` is given."""
    lo, hi = problem.box
    if half_width is not None:
        centre = 0.5 * (lo + hi)
        lo, hi = centre - half_width, centre + half_width
    length = hi - lo
    if n_points is None:
        n_points = _fft_size(math.ceil(length * max_wavenumber(problem) / math.pi))
    return PeriodicGrid(problem.d, int(n_points), float(lo), float(length))


def _fft_size(target: int) -> int:
    """The smallest even size >= target (and >= 8) that FFTs fast (factors 2, 3, 5)."""
    n = sfft.next_fast_len(max(8, target))
    while n % 2:
        n = sfft.next_fast_len(n + 1)
    return n


def growth_factor(edge_ratio: float) -> float:
    """How much wider a box (or finer a grid) should make ``edge_ratio`` reach ``EDGE_RATIO``
    if the tail is Gaussian about the centre: ln r scales as h^2, so h' / h = sqrt(18 / -ln r);
    10 % more for the mass the periodic wrap added to the edge, and within [1.2, 2]."""
    if edge_ratio <= EDGE_RATIO:
        return 1.0
    ratio = min(edge_ratio, 0.5)
    return float(np.clip(1.1 * math.sqrt(math.log(EDGE_RATIO) / math.log(ratio)), 1.2, 2.0))


@dataclass(frozen=True)
class GridCheck:
    """The grid rule checked on a solution: the largest (over stored times and axes) 1-D
    marginal density at the box's edge cells and momentum density at the |k| = pi / dx cells,
    each over its peak, and the largest |k| whose momentum density reaches ``EDGE_RATIO`` of
    its peak."""

    x_edge_ratio: float
    k_edge_ratio: float
    k_extent: float

    @property
    def rule_met(self) -> bool:
        return max(self.x_edge_ratio, self.k_edge_ratio) <= EDGE_RATIO


def check_grid(grid: PeriodicGrid, psi: np.ndarray) -> GridCheck:
    """``GridCheck`` of psi stored on ``grid``, shape (n_times, *grid.shape)."""
    x_ratio = k_ratio = k_extent = 0.0
    k = np.abs(grid.wavenumbers)
    edge_k = k >= k.max() * (1 - 1e-9) - 2 * math.pi / grid.length  # the outermost two bins
    for snapshot in psi:
        rho = (snapshot.conj() * snapshot).real
        phat = sfft.fftn(snapshot)
        power = (phat.conj() * phat).real
        for a in range(grid.d):
            rest = tuple(b for b in range(grid.d) if b != a)
            marginal = rho.sum(axis=rest)
            x_ratio = max(x_ratio, max(marginal[0], marginal[-1]) / marginal.max())
            spectrum = power.sum(axis=rest)
            k_ratio = max(k_ratio, spectrum[edge_k].max() / spectrum.max())
            k_extent = max(k_extent, k[spectrum >= EDGE_RATIO * spectrum.max()].max())
    return GridCheck(float(x_ratio), float(k_ratio), float(k_extent))


def next_grid(grid: PeriodicGrid, check: GridCheck, keep_n: bool = False,
              keep_box: bool = False) -> PeriodicGrid | None:
    """The grid to rerun on where ``check`` shows the rule broken; None where it holds or
    nothing may change. The box widens by ``growth_factor`` (unless ``keep_box``). dx (unless
    ``keep_n``): where the spectrum was resolved, the measured rule pi / (1.1 k_extent), which
    may be coarser than the a-priori energy bound; else dx / ``growth_factor``."""
    if check.rule_met:
        return None
    length = grid.length * (1.0 if keep_box else growth_factor(check.x_edge_ratio))
    if keep_n:
        n = grid.n
    elif check.k_edge_ratio <= EDGE_RATIO:
        n = _fft_size(math.ceil(length * 1.1 * check.k_extent / math.pi))
    else:
        n = _fft_size(math.ceil(length * growth_factor(check.k_edge_ratio) / grid.dx))
    new = PeriodicGrid(grid.d, n, grid.lo - 0.5 * (length - grid.length), length)
    return None if new == grid else new


def store_indices(n_steps: int, n_store_times: int) -> np.ndarray:
    """Steps at which psi is kept: ``n_store_times`` evenly spaced points of the time grid (the
    metrics' evaluation times by default)."""
    return np.unique(np.round(np.linspace(0, n_steps, n_store_times)).astype(int))


def estimate_memory_bytes(grid: PeriodicGrid, n_store: int) -> int:
    """Stored psi snapshots plus psi, its transform, the kinetic factor and two kicks."""
    return (n_store + 5) * grid.size * _COMPLEX_BYTES


def initial_state(problem: Problem, grid: PeriodicGrid) -> np.ndarray:
    """psi_0 on the grid, normalised so that sum |psi|^2 dx^d = 1."""
    psi = grid.evaluate(problem.psi0, dtype=complex)
    return psi / math.sqrt(float(np.vdot(psi, psi).real) * grid.cell_volume)


def propagate(problem: Problem, grid: PeriodicGrid, store: np.ndarray, *, substeps: int = 1,
              workers: int = 1, max_seconds: float | None = None) -> np.ndarray:
    """psi at the problem steps ``store`` (sorted, from 0), shape (len(store), *grid.shape).

    Consecutive half kicks merge into one full kick; psi is completed with a half kick only
    where it is stored. Raises TimeoutError past ``max_seconds`` (a partial solution is not
    a solution)."""
    tau = problem.dt / substeps
    half_kick = np.exp(-0.5j * tau / problem.hbar * grid.evaluate(problem.potential))
    full_kick = half_kick**2
    kinetic = np.exp(-0.5j * problem.hbar * tau / problem.m * grid.k_squared())
    out = np.empty((len(store),) + grid.shape, dtype=complex)
    psi = initial_state(problem, grid)
    step, start = 0, time.perf_counter()
    for slot, target in enumerate(store):
        n_sub = (int(target) - step) * substeps
        if n_sub > 0:
            psi = psi * half_kick
            for s in range(n_sub):
                phat = sfft.fftn(psi, overwrite_x=True, workers=workers)
                phat *= kinetic
                psi = sfft.ifftn(phat, overwrite_x=True, workers=workers)
                psi *= half_kick if s == n_sub - 1 else full_kick
            step = int(target)
        out[slot] = psi
        if max_seconds is not None and time.perf_counter() - start > max_seconds:
            raise TimeoutError(f"split-step {problem.name} d={problem.d} on {grid.n}^{grid.d} "
                               f"points exceeded max_seconds={max_seconds} at step {step}")
    return out
