"""Pooled errors of a sampler and its excess over the sampling floor (docs/metrics.md,
"Pooled errors and the excess over the floor").

The per-trial errors (``mean_err``, ``var_err``) are norms of one trial's noise: with n samples
they cannot fall below about sqrt(2/n) (the variance) whatever the drift. Pooling the moments
over the K trials (and over the d coordinates where the problem's marginals are exchangeable)
divides the noise by sqrt(K c) before the norm is taken:

    m_pool(t) = (1/K) sum_k m_k(t),   var_pool(t) = (1/K) sum_k var_k(t),
    mean_err_pooled = ||m_pool - m_ref||_t / ||m_ref||_t   (relative_l2_over_time),

with m_k, var_k the trial's moments averaged over the pooled coordinates (each unbiased, so
their averages are too). The W1 distance is pooled the same way, through the quantile
functions: the trials' sorted samples are averaged (the quantile function of the 1-D
Wasserstein barycenter of their empirical marginals) before the distance is taken,

    Q_bar(q_i) = (1/K) sum_k x_k,(i),   w1_err_pooled = (1/n) sum_i |Q_bar(q_i) - Q_ref(q_i)|,

q_i = (i - 1/2)/n, averaged over times. The excess over the floor of a solver S scored beside the floor F
(the oracle) on the same evaluation settings is

    excess = err_pooled(S) - err_pooled(F),

with a bootstrap interval that resamples trial indices jointly for S and F: on common random
numbers (the oracle draws DSM's noise) trial k of both shares its noise, and the joint
resampling keeps that pairing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dsm_bench.norms import reference_scale, relative_l2_batch

__all__ = ["Excess", "TrialMoments", "excess_over_floor", "pooled_errors", "pooled_w1_error",
           "reference_scale", "relative_l2_batch"]


@dataclass(frozen=True)
class TrialMoments:
    """Per-trial moments (K trials, T times, c pooled coordinate groups) and the reference.

    c is 1 where the coordinates were pooled (exchangeable marginals), else d; ``ref_mean``
    and ``ref_var`` are (T, c)."""

    mean: np.ndarray
    var: np.ndarray
    ref_mean: np.ndarray
    ref_var: np.ndarray

    @classmethod
    def from_trials(cls, means: np.ndarray, variances: np.ndarray, ref_mean: np.ndarray,
                    ref_var: np.ndarray, exchangeable: bool) -> TrialMoments:
        """From (K, T, d) trial moments and (T, d) reference moments; averaged over the
        coordinates when they are ``exchangeable`` (identically distributed marginals)."""
        means, variances = np.asarray(means, float), np.asarray(variances, float)
        ref_mean, ref_var = np.asarray(ref_mean, float), np.asarray(ref_var, float)
        if exchangeable:
            return cls(means.mean(-1, keepdims=True), variances.mean(-1, keepdims=True),
                       ref_mean.mean(-1, keepdims=True), ref_var.mean(-1, keepdims=True))
        return cls(means, variances, ref_mean, ref_var)

    def to_series(self) -> dict[str, Any]:
        """The artifact's entries: (K, T, c) nested lists, and the reference per coordinate
        only where coordinates were not pooled (the series' ``ref_mean`` is their average)."""
        out: dict[str, Any] = {"trial_mean": self.mean.tolist(), "trial_var": self.var.tolist()}
        if self.mean.shape[-1] > 1:
            out.update(ref_mean_coords=self.ref_mean.tolist(), ref_var_coords=self.ref_var.tolist())
        return out

    @classmethod
    def from_series(cls, series: dict[str, Any]) -> TrialMoments | None:
        """Read back from an artifact's series; None where it holds no trial moments or no
        reference (a row scored before they were stored, or without a reference)."""
        if not series.get("trial_mean") or series.get("ref_mean") is None:
            return None
        mean, var = np.asarray(series["trial_mean"], float), np.asarray(series["trial_var"], float)
        if mean.shape[-1] > 1:
            ref_mean = np.asarray(series["ref_mean_coords"], float)
            ref_var = np.asarray(series["ref_var_coords"], float)
        else:
            ref_mean = np.asarray(series["ref_mean"], float)[:, None]
            ref_var = np.asarray(series["ref_var"], float)[:, None]
        return cls(mean, var, ref_mean, ref_var)

    @property
    def n_trials(self) -> int:
        return int(self.mean.shape[0])


def pooled_errors(moments: TrialMoments) -> dict[str, float]:
    """mean_err_pooled and var_err_pooled: the moments averaged over all trials first."""
    pooled_mean = moments.mean.mean(0, keepdims=True)
    pooled_var = moments.var.mean(0, keepdims=True)
    return {"mean_err_pooled": float(relative_l2_batch(pooled_mean, moments.ref_mean)[0]),
            "var_err_pooled": float(relative_l2_batch(pooled_var, moments.ref_var)[0])}


def pooled_w1_error(quantile_mean: np.ndarray, ref_quantile: np.ndarray,
                    exchangeable: bool) -> float:
    """w1_err_pooled: W1 between the reference marginal and the barycenter of the trials'
    empirical marginals, averaged over times (and over coordinates where they are not pooled).

    quantile_mean: (T, c, n) the trials' sorted samples averaged over the K trials, Q_bar(q_i);
    ref_quantile: (T, c, n) the reference quantile function at q_i = (i - 1/2)/n. Where the
    coordinates are ``exchangeable`` both are averaged over them first (K c curves pooled).
    By convexity of |.| the result never exceeds the per-trial W1 averaged over the same
    trials and coordinates.
    """
    quantile_mean = np.asarray(quantile_mean, float)
    ref_quantile = np.asarray(ref_quantile, float)
    if quantile_mean.shape != ref_quantile.shape:
        raise ValueError(f"shape mismatch: quantiles {quantile_mean.shape} vs reference "
                         f"{ref_quantile.shape}")
    if exchangeable:
        quantile_mean = quantile_mean.mean(1)
        ref_quantile = ref_quantile.mean(1)
    # one time at a time: no temporary as large as the (T, c, n) block
    return float(np.mean([np.abs(q - r).mean() for q, r in zip(quantile_mean, ref_quantile,
                                                                 strict=True)]))


@dataclass(frozen=True)
class Excess:
    """err_pooled(solver) - err_pooled(floor) with its bootstrap interval [lo, hi]."""

    value: float
    lo: float
    hi: float

    @property
    def resolved(self) -> bool:
        """False where the interval contains 0 (not distinguishable from the floor) or where
        there is no interval (a single trial)."""
        return bool(self.lo > 0.0 or self.hi < 0.0)


def _bootstrap_errors(pairs: list[tuple[TrialMoments, TrialMoments]], idx: np.ndarray,
                      moment: str) -> np.ndarray:
    """Mean over pairs of err_pooled(solver) - err_pooled(floor), trials picked by idx (B, K)."""
    total = np.zeros(len(idx))
    for solver, floor in pairs:
        for sign, m in ((1.0, solver), (-1.0, floor)):
            est = getattr(m, moment)[idx].mean(1)         # (B, T, c)
            total += sign * relative_l2_batch(est, getattr(m, f"ref_{moment}"))
    return total / len(pairs)


def excess_over_floor(pairs: list[tuple[TrialMoments, TrialMoments]], *, n_boot: int = 2000,
                      level: float = 0.95, seed: int = 0) -> dict[str, Excess]:
    """The excess of the pooled mean and variance errors over the floor, {"mean": ..,
    "var": ..}, averaged over the (solver, floor) pairs (one per training seed).

    Interval: the basic (reverse-percentile) bootstrap over trial indices, resampled jointly
    for every solver and floor row: theta* - theta estimates the estimator's error, so
    [2 theta - q_hi, 2 theta - q_lo]. A norm of pooled noise is biased upward, and resampling
    trials with replacement adds about as much noise again; the reverse percentile reflects
    that shift instead of doubling it as the plain percentile interval would.
    """
    if not pairs:
        raise ValueError("no (solver, floor) pair to compare")
    sizes = {m.n_trials for pair in pairs for m in pair}
    if len(sizes) != 1:
        raise ValueError(f"the rows differ in their number of trials: {sorted(sizes)}")
    k = sizes.pop()
    if k < 2:
        # one trial: no resampling spread to measure, so no interval
        return {moment: Excess(float(_bootstrap_errors(pairs, np.zeros((1, 1), int), moment)[0]),
                               np.nan, np.nan) for moment in ("mean", "var")}
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, k, size=(n_boot, k))
    alpha = 0.5 * (1.0 - level)
    out = {}
    for moment in ("mean", "var"):
        value = float(_bootstrap_errors(pairs, np.arange(k)[None, :], moment)[0])
        replicates = _bootstrap_errors(pairs, idx, moment)
        q_lo, q_hi = np.quantile(replicates, [alpha, 1.0 - alpha])
        out[moment] = Excess(value, float(2 * value - q_hi), float(2 * value - q_lo))
    return out
