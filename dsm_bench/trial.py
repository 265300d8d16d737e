"""One sampling trial of a sampler: its paths streamed over memory-bounded chunks into the
moments, the covariance, the W1 block and the observables along paths (docs/metrics.md).

**Lost paths.** A path is lost from the first evaluation time at which it is non-finite or
outside the problem's box in some coordinate, and stays lost after it (a path that comes back
into the box is not trusted again). Lost paths are counted, not fatal: every moment at time t
uses the paths still alive at t, and ``Trial.lost`` is the fraction lost at each time. A
trial left with fewer than two paths at some time has no variance there and raises
``PathsLost`` (a ``FloatingPointError``) naming the time: the row fails with that reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["CHUNK_ELEMENTS", "PATH_OBSERVABLE_PATHS", "PathsLost", "Trial", "alive_paths", "sample_trial",
           "stochastic_mechanics_energy", "wasserstein1_samples"]

# elements of a (chunk, n_times, d) sample block kept in memory at once
CHUNK_ELEMENTS = 20_000_000
# paths of the first chunk along which the drift is evaluated (energy, Ehrenfest moments)
PATH_OBSERVABLE_PATHS = 10_000


class PathsLost(FloatingPointError):
    """A trial has fewer than two paths left at some time: no moments to score."""

    stop_reason = "diverged"  # the failed row's stop reason, as for a diverged training


def wasserstein1_samples(samples: np.ndarray, quantile: np.ndarray, *,
                         presorted: bool = False) -> np.ndarray:
    """W1 between empirical 1-D distributions and reference distributions.

    samples: (..., n), already sorted along the last axis if ``presorted``; quantile: (..., n)
    the reference quantile function at the levels (i - 1/2)/n, i = 1..n. Uses
    W1 = int_0^1 |Q_emp(q) - Q_ref(q)| dq with the midpoint rule on each level interval, whose
    error is far below the sampling noise O(sigma / sqrt(n)).
    """
    ordered = samples if presorted else np.sort(samples, axis=-1)
    return np.abs(ordered - quantile).mean(axis=-1)


def stochastic_mechanics_energy(problem, x: np.ndarray, u: np.ndarray, v: np.ndarray) -> float:
    """E = E_rho[ m/2 (|u|^2 + |v|^2) + V(x) ] from samples x ~ rho and drifts at them."""
    kinetic = 0.5 * problem.m * ((u**2).sum(-1) + (v**2).sum(-1))
    return float(np.mean(kinetic + problem.potential(x)))


def alive_paths(paths: np.ndarray, box: tuple[float, float]) -> np.ndarray:
    """(n, n_times) bool: the path is finite and inside the box in every coordinate at this
    evaluation time and at every earlier one."""
    lo, hi = box
    with np.errstate(invalid="ignore"):
        inside = (np.isfinite(paths) & (paths >= lo) & (paths <= hi)).all(-1)
    return np.logical_and.accumulate(inside, axis=1)


@dataclass
class Trial:
    """One trial's estimates at the evaluation times. mean, var: (n_t, d) (var unbiased,
    over the paths alive at each time); cov: (n_t, d, d) or None; lost: (n_t,) fraction of
    paths lost, alive: (n_t,) how many are left; sorted: the sorted samples of the W1
    coordinates (n_t, n_w1, n) or None; energy: (n_t,) or None; path_means: the first
    chunk's Ehrenfest moments (``_along_paths``), or None without a drift."""

    mean: np.ndarray
    var: np.ndarray
    com_mean: np.ndarray
    com_var: np.ndarray
    lost: np.ndarray
    alive: np.ndarray
    cov: np.ndarray | None = None
    w1: float = np.nan
    sorted: np.ndarray | None = None
    energy: np.ndarray | None = None
    path_means: dict[str, np.ndarray] | None = None


class _Sums:
    """Running sums over the alive paths of a trial's chunks."""

    def __init__(self, n_t: int, d: int, want_cov: bool):
        self.count = np.zeros(n_t)
        self.total, self.total_sq = np.zeros((n_t, d)), np.zeros((n_t, d))
        self.com_total, self.com_sq = np.zeros(n_t), np.zeros(n_t)
        # the covariance: sums of (x - center) and its outer products, center the first
        # chunk's mean, so that float32 products lose nothing to a mean far from 0
        self.outer = np.zeros((n_t, d, d)) if want_cov else None
        self.total_centered = np.zeros((n_t, d))
        self.center: np.ndarray | None = None

    def add(self, paths: np.ndarray, alive: np.ndarray) -> None:
        x = np.where(alive[..., None], paths, 0.0)  # lost entries add nothing
        count = alive.sum(0)
        self.count += count
        self.total += x.sum(0)
        self.total_sq += (x**2).sum(0)
        com = x.mean(-1)
        self.com_total += com.sum(0)
        self.com_sq += (com**2).sum(0)
        if self.outer is not None:
            self._add_outer(x, alive, count)

    def _add_outer(self, x: np.ndarray, alive: np.ndarray, count: np.ndarray) -> None:
        if self.center is None:
            self.center = x.sum(0) / np.maximum(count, 1)[:, None]
        y = np.where(alive[..., None], x - self.center, 0.0)
        self.total_centered += y.sum(0)
        # one (d, n) @ (n, d) product per time in float32 (error ~1e-6 relative, far below
        # any cov_err floor), by torch: it keeps to the run's thread count, where numpy's
        # BLAS threads contend with torch's and ran 10 times slower at d = 100
        import torch

        block = torch.from_numpy(np.ascontiguousarray(y.transpose(1, 2, 0), dtype=np.float32))
        self.outer += torch.bmm(block, block.transpose(1, 2)).numpy()

    def trial(self, n: int, times: np.ndarray, box: tuple[float, float]) -> Trial:
        c = self.count
        if (c < 2).any():
            j = int(np.argmax(c < 2))
            raise PathsLost(
                f"{n - int(c[j])} of {n} sampled paths left the box [{box[0]:g}, {box[1]:g}] "
                f"or became non-finite by t = {times[j]:g}: no moments to score")
        unbias = (c / (c - 1))[:, None]
        mean = self.total / c[:, None]
        com_mean = self.com_total / c
        cov = None
        if self.outer is not None:
            shift = self.total_centered / c[:, None]  # mean - center
            cov = (self.outer / c[:, None, None] - shift[:, :, None] * shift[:, None, :]) \
                * unbias[:, :, None]
        return Trial(mean=mean, var=(self.total_sq / c[:, None] - mean**2) * unbias,
                     com_mean=com_mean, com_var=(self.com_sq / c - com_mean**2) * unbias[:, 0],
                     lost=1.0 - c / n, alive=c.astype(int), cov=cov)


def sample_trial(problem, solution, times: np.ndarray, n: int, seed: int, n_w1: int,
                 ref_quantile: np.ndarray | None, want_cov: bool) -> Trial:
    """One sampling trial of n paths (seed ``seed``), streamed over chunks.

    With a reference quantile function (n_t, n_w1, n), also its W1 and the sorted samples of
    the first n_w1 coordinates for the pooled W1; with ``want_cov`` the covariance matrix."""
    d, n_t = problem.d, len(times)
    chunk = max(1, min(n, CHUNK_ELEMENTS // (n_t * d)))
    sums = _Sums(n_t, d, want_cov)
    want_w1 = ref_quantile is not None
    w1_samples = np.empty((n_t, n_w1, n)) if want_w1 else None
    along: dict[str, Any] = {}
    seeds = np.random.SeedSequence(seed).spawn((n + chunk - 1) // chunk)
    start = 0
    for child in seeds:
        size = min(chunk, n - start)
        paths = np.asarray(solution.sample(size, int(child.generate_state(1)[0]), times), dtype=float)
        if paths.shape != (size, n_t, d):
            raise ValueError(f"sample() returned shape {paths.shape}, expected {(size, n_t, d)}")
        alive = alive_paths(paths, problem.box)
        sums.add(paths, alive)
        if want_w1:
            # lost samples sort last (+inf) and are dropped by _resample_alive
            kept = np.where(alive[..., None], paths[:, :, :n_w1], np.inf)
            w1_samples[..., start:start + size] = kept.transpose(1, 2, 0)
        if solution.has("drift") and start == 0:
            along = _along_paths(problem, solution, paths, alive, times)
        start += size
    out = sums.trial(n, times, problem.box)
    out.energy, out.path_means = along.get("energy"), along.get("path_means")
    if want_w1:
        w1_samples.sort(axis=-1)  # in place: the sorted block is returned for the pooled W1
        _resample_alive(w1_samples, out.alive)
        # one time at a time (equal blocks, so the mean of means is the mean)
        out.w1 = float(np.mean([wasserstein1_samples(w1_samples[j], ref_quantile[j],
                                                     presorted=True).mean()
                                for j in range(n_t)]))
        out.sorted = w1_samples
    return out


def _resample_alive(ordered: np.ndarray, alive: np.ndarray) -> None:
    """In place: where only alive[j] < n of the n sorted samples of time j are kept, their
    empirical quantile function at the n levels (i - 1/2)/n, x_(ceil(q_i alive[j])), so that
    every time keeps a block of n levels (the W1 and its pooled sum)."""
    n = ordered.shape[-1]
    for j in np.flatnonzero(alive < n):
        idx = np.floor((np.arange(n) + 0.5) * alive[j] / n).astype(int)
        ordered[j] = ordered[j][..., idx]


def _along_paths(problem, solution, paths: np.ndarray, alive: np.ndarray,
                 times: np.ndarray) -> dict[str, Any]:
    """Along the first chunk's alive paths (at most PATH_OBSERVABLE_PATHS), with the solution's
    drift: the stochastic-mechanics energy E(t) = E[m/2 (|u|^2 + |v|^2) + V] and the Ehrenfest
    moments E[x], Var x, E[v], Var p / m^2 = E[u^2] + Var v and E[grad V], each (n_t, d) (the
    same paths for all, so that the noise of the paths cancels in the residuals)."""
    m = min(len(paths), PATH_OBSERVABLE_PATHS)
    n_t, d = len(times), problem.d
    energy = np.full(n_t, np.nan)
    means = {key: np.full((n_t, d), np.nan) for key in ("x", "var_x", "v", "var_v", "grad_v")}
    for k, t in enumerate(times):
        x = paths[:m, k][alive[:m, k]]
        if len(x) < 2:
            continue
        u, v = (np.asarray(a, dtype=float) for a in solution.drift(x, np.full(len(x), t)))
        energy[k] = stochastic_mechanics_energy(problem, x, u, v)
        means["x"][k], means["var_x"][k] = x.mean(0), x.var(0, ddof=1)
        means["v"][k], means["var_v"][k] = v.mean(0), (u**2).mean(0) + v.var(0, ddof=1)
        means["grad_v"][k] = np.asarray(problem.grad_potential(x), dtype=float).mean(0)
    return {"energy": energy, "path_means": means}
