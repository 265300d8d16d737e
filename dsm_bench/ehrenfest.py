"""ehrenfest_err: how far a solution's mean motion is from Ehrenfest's theorem, without a
reference (docs/metrics.md, "ehrenfest_err").

Ehrenfest's theorem, in stochastic mechanics' velocities (E[u] = 0 under rho, so
<p>/m = E[v]):

    d<x>/dt = <v>,        m d<v>/dt = -<grad V>.

Both are integrated in time on the evaluation grid by the cumulative trapezoid rule I[f](t),
which is better conditioned than differencing noisy sampled moments (the noise of a
difference quotient grows like 1/sqrt(dt); that of an integral does not):

    R_x(t) = <x>(t) - <x>(0) - I[<v>](t)                  (a length)
    R_v(t) = <v>(t) - <v>(0) + I[<grad V>](t) / m         (a velocity)

Each is measured against the spread of its own quantity, the solution's position and
velocity spreads per coordinate, sigma_x(t)^2 = Var x_k and sigma_v(t)^2 = Var p_k / m^2 =
E[u_k^2] + Var v_k, over the same times and coordinates:

    e_x = ||R_x||_{t,k} / ||sigma_x||_{t,k},   e_v = ||R_v||_{t,k} / ||sigma_v||_{t,k},
    ehrenfest_err = max(e_x, e_v).
"""

from __future__ import annotations

import numpy as np

__all__ = ["cumulative_trapezoid", "ehrenfest_error", "ehrenfest_residuals"]


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
    r_v = mean_v - mean_v[0] + cumulative_trapezoid(mean_grad, times) / m
    return r_x, r_v


def ehrenfest_error(times: np.ndarray, moments: dict[str, np.ndarray], m: float
                    ) -> dict[str, object]:
    """{"value": max(e_x, e_v), "x": e_x, "v": e_v, "x_t": .., "v_t": ..} from ``moments``
    with keys "x", "var_x", "v", "var_v", "grad_v" (each (n_t, d): E[x], Var x, E[v],
    Var p / m^2, E[grad V]); x_t and v_t are the residuals per time, RMS over coordinates,
    over the RMS spread of all times (so that their RMS over time is e_x and e_v)."""
    r_x, r_v = ehrenfest_residuals(times, moments["x"], moments["v"], moments["grad_v"], m)
    out: dict[str, object] = {}
    for key, residual, var in (("x", r_x, moments["var_x"]), ("v", r_v, moments["var_v"])):
        scale = float(np.sqrt(np.mean(np.asarray(var, dtype=float))))
        out[key] = float(np.sqrt(np.mean(residual**2))) / scale
        out[f"{key}_t"] = np.sqrt(np.mean(residual**2, axis=-1)) / scale
    out["value"] = float(np.max([out["x"], out["v"]]))
    return out
