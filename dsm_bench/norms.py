"""The relative L2 norm over time that every moment error uses (``docs/metrics.md``):

    err = mean over coordinates c of ||m_hat(., c) - m_ref(., c)||_2 / ||m_ref(., c)||_2,

the norms taken over the evaluation times. A coordinate whose reference is identically zero
(a mean that is 0 by symmetry) uses the absolute L2 divided by sqrt(number of times)."""

from __future__ import annotations

import numpy as np

__all__ = ["reference_scale", "relative_euclidean_over_time", "relative_frobenius_over_time",
           "relative_l2_batch", "relative_l2_over_time"]


def _zero_reference(norm: np.ndarray, estimate: np.ndarray | None) -> np.ndarray:
    # "identically zero" up to the float noise of a reference that is 0 by symmetry
    size = 0.0 if estimate is None else float(np.abs(estimate).max(initial=0.0))
    return norm <= 1e-12 * max(1.0, size)


def reference_scale(reference: np.ndarray, estimate: np.ndarray | None = None) -> np.ndarray:
    """The divisor per coordinate, (c,): the reference's norm over the times (T, c), or
    sqrt(T) where it is identically zero (the absolute L2 / sqrt(T))."""
    ref = np.asarray(reference, float)
    norm = np.linalg.norm(ref, axis=0)
    return np.where(_zero_reference(norm, estimate), np.sqrt(len(ref)), norm)


def relative_l2_batch(estimate: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """The error for a batch of estimates (B, T, c) against one reference (T, c): shape (B,)."""
    est = np.asarray(estimate, float)
    ref = np.asarray(reference, float)
    diff = np.linalg.norm(est - ref, axis=-2)            # (B, c)
    return (diff / reference_scale(ref, est)).mean(-1)


def relative_l2_over_time(estimate: np.ndarray, reference: np.ndarray) -> tuple[float, str]:
    """(error, kind) of one estimate (T, ...) against its reference (T, ...); kind is
    "relative", "absolute" (every coordinate's reference is zero) or "mixed"."""
    est = np.asarray(estimate, dtype=float).reshape(len(estimate), -1)
    ref = np.asarray(reference, dtype=float).reshape(len(reference), -1)
    if est.shape != ref.shape:
        raise ValueError(f"shape mismatch: estimate {est.shape} vs reference {ref.shape}")
    zero = _zero_reference(np.linalg.norm(ref, axis=0), est)
    kind = "absolute" if zero.all() else ("relative" if not zero.any() else "mixed")
    return float(relative_l2_batch(est[None], ref)[0]), kind


def relative_frobenius_over_time(estimate: np.ndarray, reference: np.ndarray) -> float:
    """||C_hat - C||_{t,F} / ||C||_{t,F} for matrices over time (T, d, d): the relative L2
    over time of the Frobenius norms, sqrt(sum_t ||dC(t)||_F^2 / sum_t ||C(t)||_F^2). Not an
    average over entries: the off-diagonal entries of a diagonal reference are 0, and a
    relative error per entry would have no denominator there."""
    est, ref = np.asarray(estimate, float), np.asarray(reference, float)
    if est.shape != ref.shape or est.ndim != 3:
        raise ValueError(f"shape mismatch: estimate {est.shape} vs reference {ref.shape} "
                         "(both (n_times, d, d))")
    return float(np.linalg.norm(est - ref) / np.linalg.norm(ref))


def relative_euclidean_over_time(estimate: np.ndarray, reference: np.ndarray) -> float | None:
    """||m_hat - m||_{t,2} / ||m||_{t,2} for vectors over time (T, d): sqrt(sum_t |m_hat(t) -
    m(t)|^2 / sum_t |m(t)|^2), with |.| the Euclidean norm in x. A rotation of the coordinates
    leaves it unchanged, unlike the per-coordinate error, whose coordinates with a small mean
    divide by almost nothing. None where the reference is identically zero: the error has no
    scale there (the per-coordinate error's absolute form covers that case)."""
    est, ref = np.asarray(estimate, float), np.asarray(reference, float)
    if est.shape != ref.shape or est.ndim != 2:
        raise ValueError(f"shape mismatch: estimate {est.shape} vs reference {ref.shape} "
                         "(both (n_times, d))")
    norm = np.linalg.norm(ref)
    if _zero_reference(np.array([norm]), est)[0]:
        return None
    return float(np.linalg.norm(est - ref) / norm)
