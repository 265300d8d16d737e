"""A sampler's model error measured against the sampling floor on the same noise draw
(docs/metrics.md, "Model error").

The floor (the oracle: the exact drift) and a sampled solver S are evaluated with the same
evaluation seeds, so trial k of both is driven by the same Brownian increments (common random
numbers). The model error is the distance between their pooled moments, relative to the
reference's norm like the errors:

    D(t) = (1/K) sum_k (m_k^S(t) - m_k^F(t)),
    mean_model_err = ||D||_t / ||m_ref||_t   (per coordinate group, averaged over them),

and the same with the variances for var_model_err. It is a norm, so it is never negative; the
noise shared by both samplers cancels in the difference before the norm is taken, so what is
left is S's error against the exact drift's sampler plus the part of the noise that the two
drifts do not share. Where S equals the floor it is exactly 0.

Interval: the basic (reverse-percentile) bootstrap over trial indices, resampled jointly for
S and F (and for every training seed), with its lower end clipped at 0 (a norm cannot be
negative). A lower end of 0 means the model error is not resolved from the shared noise.
"""

from __future__ import annotations

import numpy as np

from dsm_bench.pooled import Excess, TrialMoments, reference_scale

__all__ = ["ModelError", "model_error"]

# the same triple as the excess: value with its interval [lo, hi]; ``resolved`` is lo > 0
ModelError = Excess


def _model_errors(pairs: list[tuple[TrialMoments, TrialMoments]], idx: np.ndarray,
                  moment: str) -> np.ndarray:
    """Mean over pairs of the debiased ||pooled S - pooled F|| / ||ref||, trials picked by
    idx (B, K); with a single trial the plain norm."""
    total = np.zeros(len(idx))
    k = idx.shape[1]
    for solver, floor in pairs:
        ref = getattr(solver, f"ref_{moment}")
        diff = getattr(solver, moment)[idx] - getattr(floor, moment)[idx]   # (B, K, T, c)
        squared = np.linalg.norm(diff.mean(1), axis=-2) ** 2                 # (B, c)
        if k > 1:
            # E||D_bar||^2 = ||E D||^2 + sum_t Var D_k(t) / K: remove the unshared noise's part
            squared = squared - diff.var(1, ddof=1).sum(-2) / k
        scale = reference_scale(ref, getattr(solver, moment))
        total += (np.sqrt(np.maximum(squared, 0.0)) / scale).mean(-1)
    return total / len(pairs)


def model_error(pairs: list[tuple[TrialMoments, TrialMoments]], *, n_boot: int = 2000,
                level: float = 0.95, seed: int = 0) -> dict[str, ModelError]:
    """{"mean": .., "var": ..}: the model error of the pooled mean and variance with its
    bootstrap interval, averaged over the (solver, floor) pairs (one per training seed; each
    pair scored on the same evaluation seeds). With one trial there is no interval (NaN)."""
    if not pairs:
        raise ValueError("no (solver, floor) pair to compare")
    sizes = {m.n_trials for pair in pairs for m in pair}
    if len(sizes) != 1:
        raise ValueError(f"the rows differ in their number of trials: {sorted(sizes)}")
    for solver, floor in pairs:
        if solver.mean.shape != floor.mean.shape:
            raise ValueError(f"solver and floor moments differ in shape: {solver.mean.shape} "
                             f"vs {floor.mean.shape}")
    k = sizes.pop()
    out = {}
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, k, size=(n_boot, k))
    alpha = 0.5 * (1.0 - level)
    for moment in ("mean", "var"):
        value = float(_model_errors(pairs, np.arange(k)[None, :], moment)[0])
        if k < 2:  # one trial: no resampling spread to measure
            out[moment] = ModelError(value, np.nan, np.nan)
            continue
        q_lo, q_hi = np.quantile(_model_errors(pairs, idx, moment), [alpha, 1.0 - alpha])
        out[moment] = ModelError(value, max(0.0, float(2 * value - q_hi)),
                                 max(0.0, float(2 * value - q_lo)))
    return out
