"""ehrenfest_err: how far a solution's mean motion is from Ehrenfest's theorem, without a
reference (docs/metrics.md, "ehrenfest_err").

Ehrenfest's theorem, in stochastic mechanics' velocities (E[u] = 0 under rho, so
<p>/m = E[v]):

    d<x>/dt = <v>,        m d<v>/dt = -<grad V>.

Both are integrated in time on the evaluation grid by the cumulative trapezoid rule I[f](t),
which is better conditioned than differencing noisy sampled moments (the noise of a
difference quotient grows like 1/sqrt(dt); that of an integral does not):

    R_x(t) = <x>(t) - <x>(0) - I[<v>](t)                     (a length)
    R_v(t) = I[ <v> - <v>(0) + I[<grad V>] / m ](t)          (the velocity residual's
                                                              displacement, a length)

Both are measured in units of the start's RMS width L = (tr Cov_0(x) / d)^(1/2), a scale of
the problem and not of the solver, so every solver of a problem has the same denominator:

    e_x = ||R_x||_{t,k} / (sqrt(N_t d) L),   e_v likewise,   ehrenfest_err = max(e_x, e_v).
"""

from __future__ import annotations

import numpy as np

__all__ = ["cumulative_trapezoid", "ehrenfest_error", "ehrenfest_residuals", "width_scale"]


def cumulative_trapezoid(values: np.ndarray, times: np.ndarray) -> np.ndarray:
    """int_{t_0}^{t_j} f dt by the trapezoid rule, (n_t, ...) with 0 at t_0."""
    values = np.asarray(values, dtype=float)
    step = np.diff(np.asarray(times, dtype=float)).reshape(-1, *[1] * (values.ndim - 1))
    area = 0.5 * (values[1:] + values[:-1]) * step
    return np.concatenate([np.zeros_like(values[:1]), np.cumsum(area, axis=0)])


def ehrenfest_residuals(times: np.ndarray, mean_x: np.ndarray, mean_v: np.ndarray,
                        mean_grad: np.ndarray, m: float) -> tuple[np.ndarray, np.ndarray]:
    """(R_x, R_v), each (n_t, d), from E[x], E[v] and E[grad V] (n_t, d) at ``times``."""
    mean_x, mean_v = np.asarray(mean_x, float), np.asarray(mean_v, float)
    r_x = mean_x - mean_x[0] - cumulative_trapezoid(mean_v, times)
    velocity = mean_v - mean_v[0] + cumulative_trapezoid(mean_grad, times) / m
    return r_x, cumulative_trapezoid(velocity, times)


def width_scale(problem) -> float:
    """L, the start's RMS width per coordinate (the problem's ``initial_moments``)."""
    return float(np.sqrt(np.mean(np.asarray(problem.initial_moments()[1], dtype=float))))


def ehrenfest_error(times: np.ndarray, mean_x: np.ndarray, mean_v: np.ndarray,
                    mean_grad: np.ndarray, m: float, width: float) -> dict[str, object]:
    """{"value": max(e_x, e_v), "x": e_x, "v": e_v, "x_t": .., "v_t": ..}: the two errors and
    their residuals per time (RMS over coordinates, in units of L)."""
    r_x, r_v = ehrenfest_residuals(times, mean_x, mean_v, mean_grad, m)
    e_x = float(np.sqrt(np.mean(r_x**2))) / width
    e_v = float(np.sqrt(np.mean(r_v**2))) / width
    return {"value": float(np.max([e_x, e_v])), "x": e_x, "v": e_v,
            "x_t": np.sqrt(np.mean(r_x**2, axis=-1)) / width,
            "v_t": np.sqrt(np.mean(r_v**2, axis=-1)) / width}
