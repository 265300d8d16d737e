"""Every metric of docs/metrics.md, implemented once, for sample arrays and grid densities alike.

Errors are over a fixed subsample of the problem's time grid (``evaluation_times``: 101 evenly
spaced grid times by default), the same for every solver:

* mean_err, var_err: relative L2 over time of the per-coordinate mean / variance,
  ||m_hat - m_ref||_2 / ||m_ref||_2, averaged over coordinates. Where m_ref is identically 0 the
  absolute L2 divided by sqrt(number of times) is used and the ``*_kind`` column says "absolute".
* w1_err: 1-Wasserstein distance between the solver's and the reference's 1-D marginals,
  averaged over times and coordinates (the first ``w1_max_coords`` coordinates: the problems are
  exchangeable in their coordinates, and sorting 10^5 samples x 100 coordinates x 101 times is
  costlier than the rest of the evaluation).
* u_err, v_err: relative L2 of the drifts against the exact ones under rho_ref(., t),
  sqrt(sum_t E|u_hat - u|^2) / sqrt(sum_t E|u|^2), with ``n_drift_samples`` exact samples a time.
* energy_drift: max_t |E(t) - E(0)| / |E(0)|, E(t) = E_rho[m/2 (|u|^2 + |v|^2) + V] for samplers
  with a drift, or the solution's own <psi|H|psi>.
* com_mean_err, com_var_err: the centre of mass X_c = mean_i x_i against its exact law (bosons).

Sample-based solutions are evaluated over ``n_trials`` independent trials of ``n_samples``
trajectories (seeds eval_seed, eval_seed + 1, ...); each metric is the mean over trials and its
``*_std`` column the standard deviation over trials.

* mean_err_pooled, var_err_pooled (samplers): the same relative L2 over time, of the moments
  averaged over all trials (and over the coordinates where the problem declares them
  exchangeable) before the norm is taken (``dsm_bench.pooled``); the per-trial moments are kept
  in the series (``trial_mean``, ``trial_var``) for the excess over the floor.
* w1_err_pooled (samplers with a reference): W1 between the reference marginal and the mean
  over trials (and exchangeable coordinates) of the trials' sorted samples, the quantile
  function of their Wasserstein barycenter; one running (n_times, n_w1, n) sum of sorted
  samples, the size of one trial's W1 block.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dsm_bench.norms import relative_l2_over_time
from dsm_bench.pooled import TrialMoments, pooled_errors, pooled_w1_error
from dsm_bench.schema import ESS_RELIABLE
from reference.problems import Problem
from solvers.base import SamplerSolution

__all__ = [
    "Evaluation",
    "evaluate",
    "evaluation_times",
    "relative_l2_over_time",
    "wasserstein1_samples",
    "wasserstein1_densities",
    "stochastic_mechanics_energy",
    "energy_drift",
]

# elements of a (chunk, n_times, d) sample block kept in memory at once
_CHUNK_ELEMENTS = 20_000_000


def evaluation_times(problem: Problem, n_eval_times: int = 101,
                     horizon: float | None = None) -> np.ndarray:
    """``n_eval_times`` evenly spaced points of the problem's time grid (all of it if fewer);
    with ``horizon`` < T only those up to it (a run its time budget stopped early)."""
    if n_eval_times < 2:
        raise ValueError(f"n_eval_times={n_eval_times} must be >= 2")
    idx = np.unique(np.round(np.linspace(0, problem.n_steps, n_eval_times)).astype(int))
    times = problem.times[idx]
    if horizon is None or horizon >= problem.T:
        return times
    # a grid time equal to the horizon up to rounding is covered
    times = times[times <= horizon + 1e-9 * problem.T]
    if len(times) < 2:
        raise ValueError(f"the solution reaches t={horizon:g} of T={problem.T:g}, before the "
                         f"second evaluation time; give it a larger time budget")
    return times


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


def wasserstein1_densities(x: np.ndarray, density_a: np.ndarray, density_b: np.ndarray) -> np.ndarray:
    """W1 = int |F_a - F_b| dx between 1-D densities on the uniform grid x (last axis).

    Each density is normalised on the grid first, so a solver's small norm error does not count
    as transport. Trapezoid rule for both the CDFs and the integral (second order in dx).
    """
    dx = float(x[1] - x[0])

    def cdf(rho: np.ndarray) -> np.ndarray:
        mass = np.concatenate(
            [np.zeros(rho.shape[:-1] + (1,)), np.cumsum(0.5 * (rho[..., 1:] + rho[..., :-1]), -1) * dx],
            axis=-1,
        )
        return mass / mass[..., -1:]

    gap = np.abs(cdf(density_a) - cdf(density_b))
    return 0.5 * dx * (gap[..., 1:] + gap[..., :-1]).sum(-1)


def stochastic_mechanics_energy(problem: Problem, x: np.ndarray, u: np.ndarray, v: np.ndarray) -> float:
    """E = E_rho[ m/2 (|u|^2 + |v|^2) + V(x) ] from samples x ~ rho and drifts at them."""
    kinetic = 0.5 * problem.m * ((u**2).sum(-1) + (v**2).sum(-1))
    return float(np.mean(kinetic + problem.potential(x)))


def energy_drift(energy: np.ndarray) -> float:
    """max_t |E(t) - E(0)| / |E(0)|."""
    energy = np.asarray(energy, dtype=float)
    return float(np.max(np.abs(energy - energy[0])) / abs(energy[0]))


@dataclass
class Evaluation:
    metrics: dict[str, Any]
    series: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # caveats for the row's message


def evaluate(
    problem: Problem,
    solution,
    *,
    reference=None,
    reference_kind: str = "none",
    n_samples: int = 10_000,
    n_trials: int = 10,
    seed: int = 0,
    n_eval_times: int = 101,
    w1_max_coords: int = 10,
    n_drift_samples: int = 2_000,
    density_points: int = 512,
) -> Evaluation:
    """Score a Solution with every metric that applies; see the module docstring.

    reference: what the errors are measured against, chosen by the caller (the problem's own
    ``reference()``, or the harness's grid fallback): an ``ExactReference``-like object or a
    grid Solution, with ``reference_kind`` "exact" or "grid"; None scores no errors (kind
    "none", or "self" for the grid reference itself).
    """
    t0 = time.perf_counter()
    times = evaluation_times(problem, n_eval_times, horizon=getattr(solution, "horizon", None))
    metrics: dict[str, Any] = {
        "reference": reference_kind,
        "n_eval_times": len(times),
        "eval_seed": seed,
        "t_reached": float(times[-1]),
    }
    notes: list[str] = []
    if times[-1] < problem.T:
        notes.append(f"stopped by its budget at t={solution.horizon:g} of T={problem.T:g}: "
                     f"scored on [0, {times[-1]:g}] ({len(times)} evaluation times), not "
                     "comparable with rows that reach T")
    ev = Evaluation(metrics=metrics, series={"times": times.tolist()}, notes=notes)
    target = _Target(reference, times, min(problem.d, w1_max_coords))
    if reference is not None:
        ev.series["ref_mean"] = target.mean.mean(1).tolist()
        ev.series["ref_var"] = target.var.mean(1).tolist()
    if isinstance(solution, SamplerSolution):
        _evaluate_sampler(ev, problem, solution, target, n_samples, n_trials, seed)
    else:
        _evaluate_density(ev, problem, solution, target, density_points)
    _drift_errors(metrics, ev.series, problem, solution, reference, reference_kind, times, seed,
                  n_drift_samples)
    _center_of_mass_errors(metrics, ev.series, problem)
    _comparison_errors(metrics, ev.series, problem, times)
    if reference is not None and reference_kind == "exact":
        ev.series["ref_energy"] = float(reference.energy(times[:1])[0])
    metrics["eval_s"] = time.perf_counter() - t0
    return ev


@dataclass
class _Target:
    """The reference at the evaluation times: its moments (n_times, d) and, for W1, the
    first ``n_w1`` coordinates."""

    reference: Any
    times: np.ndarray
    n_w1: int
    mean: np.ndarray | None = None
    var: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.reference is not None:
            self.mean, self.var = self.reference.moments(self.times)


def _evaluate_sampler(ev: Evaluation, problem: Problem, solution, target: _Target,
                      n_samples: int, n_trials: int, seed: int) -> None:
    """Moments, W1 and energy of a sampler, from ``n_trials`` independent trials of
    ``n_samples`` paths (seeds seed, seed + 1, ...)."""
    metrics, series, times = ev.metrics, ev.series, target.times
    metrics.update(n_samples=n_samples, n_trials=n_trials)
    ref_quantile = None
    if target.reference is not None:
        ref_quantile = _reference_quantiles(target.reference, times, n_samples, target.n_w1)
    trials, quantile_sum = [], None
    for k in range(n_trials):
        trial = _sample_trial(problem, solution, times, n_samples, seed + k, target.n_w1,
                              ref_quantile)
        ordered = trial.pop("sorted")
        # the first trial's block becomes the running sum: one block held beside the next
        if quantile_sum is None:
            quantile_sum = ordered
        elif ordered is not None:
            quantile_sum += ordered
        trials.append(trial)
    means = np.stack([tr["mean"] for tr in trials])
    variances = np.stack([tr["var"] for tr in trials])
    series.update(
        mean=means.mean((0, 2)).tolist(),
        var=variances.mean((0, 2)).tolist(),
        mean_spread=means.mean(2).std(0).tolist() if n_trials > 1 else None,
        var_spread=variances.mean(2).std(0).tolist() if n_trials > 1 else None,
    )
    if problem.d > 1:
        series["com_mean"] = np.mean([tr["com_mean"] for tr in trials], 0).tolist()
        series["com_var"] = np.mean([tr["com_var"] for tr in trials], 0).tolist()
    if target.reference is not None:
        pooled = TrialMoments.from_trials(means, variances, target.mean, target.var,
                                          problem.exchangeable_coordinates)
        series.update(pooled.to_series())
        metrics.update(pooled_errors(pooled))
        _trial_errors(metrics, "mean_err", [relative_l2_over_time(m, target.mean) for m in means])
        _trial_errors(metrics, "var_err", [relative_l2_over_time(v, target.var) for v in variances])
        w1 = [float(tr["w1"]) for tr in trials]
        metrics["w1_err"], metrics["w1_err_std"] = float(np.mean(w1)), _std(w1)
        quantile_sum /= n_trials
        metrics["w1_err_pooled"] = pooled_w1_error(quantile_sum, ref_quantile,
                                                   problem.exchangeable_coordinates)
    if solution.has("drift"):
        energy = trials[0]["energy"]
        series["energy"] = energy.tolist()
        metrics["energy_drift"] = energy_drift(energy)
    if problem.d == 1:
        series["density"] = _sample_density_series(solution, target.reference, times, seed)


def _evaluate_density(ev: Evaluation, problem: Problem, solution, target: _Target,
                      density_points: int) -> None:
    """Moments, W1 and energy of a density solution, integrated by the solution itself."""
    metrics, series, times = ev.metrics, ev.series, target.times
    mean, var = solution.moments(times)
    _require_finite_moments(mean, var, times)
    ev.notes.extend(_effective_sample_size(solution, times, metrics, series))
    series.update(mean=mean.mean(1).tolist(), var=var.mean(1).tolist(),
                  mean_spread=None, var_spread=None)
    if target.reference is not None:
        for name, est, ref in (("mean_err", mean, target.mean), ("var_err", var, target.var)):
            value, kind = relative_l2_over_time(est, ref)
            metrics.update({name: value, f"{name}_std": 0.0, f"{name}_kind": kind})
        metrics["w1_err"] = _density_w1(problem, solution, target.reference, times,
                                        target.n_w1, density_points)
        metrics["w1_err_std"] = 0.0
    if solution.has("energy"):
        energy = np.asarray(solution.energy(times))
        series["energy"] = energy.tolist()
        metrics["energy_drift"] = energy_drift(energy)
    if solution.has("autocorrelation"):  # C(t) = <psi_0|psi(t)>: |C| and its parts
        c = np.asarray(solution.autocorrelation(times))
        series.update(autocorrelation=np.abs(c).tolist(), autocorrelation_re=c.real.tolist(),
                      autocorrelation_im=c.imag.tolist())
    if problem.d > 1 and solution.has("center_of_mass_moments"):
        com_mean, com_var = solution.center_of_mass_moments(times)
        series["com_mean"], series["com_var"] = list(map(float, com_mean)), list(map(float, com_var))
    if problem.d == 1:
        series["density"] = _density_series(problem, solution, target.reference, times,
                                             density_points)


# ----------------------------------------------------------------------------- internals
def _effective_sample_size(solution, times: np.ndarray, metrics: dict[str, Any],
                           series: dict[str, Any]) -> list[str]:
    """Record the ESS of importance-sampled moments (``ess_min``, ``series["ess"]``); a
    note when it falls below ``ESS_RELIABLE`` at some time."""
    estimate = getattr(solution, "importance_ess", None)
    ess = estimate(times) if callable(estimate) else None
    if ess is None:
        return []
    ess = np.asarray(ess, dtype=float)
    series["ess"] = ess.tolist()
    metrics["ess_min"] = float(ess.min())
    if ess.min() >= ESS_RELIABLE:
        return []
    t = float(times[int(np.argmin(ess))])
    return [f"unreliable moments: importance-sampling ESS min {ess.min():.0f} < "
            f"{ESS_RELIABLE} at t={t:g}"]


def _require_finite_moments(mean: np.ndarray, var: np.ndarray, times: np.ndarray) -> None:
    """A density whose moments are NaN (|psi|^2 integrating to 0 or NaN) is a failed run,
    never an ok row with NaN errors; the message names the first such time."""
    mean, var = np.asarray(mean, dtype=float), np.asarray(var, dtype=float)
    bad = ~(np.isfinite(mean).all(axis=-1) & np.isfinite(var).all(axis=-1))
    if bad.any():
        t = float(times[int(np.argmax(bad))])
        raise FloatingPointError(f"the solution's moments are not finite at t = {t:g} "
                                 f"({int(bad.sum())} of {len(times)} evaluation times)")


def _std(values: list[float]) -> float:
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def _trial_errors(metrics: dict[str, Any], name: str, results: list[tuple[float, str]]) -> None:
    values = [v for v, _ in results]
    metrics[name] = float(np.mean(values))
    metrics[f"{name}_std"] = _std(values)
    metrics[f"{name}_kind"] = results[0][1]


def _reference_quantiles(reference, times: np.ndarray, n: int, n_coords: int) -> np.ndarray:
    """Reference quantiles at levels (i - 1/2)/n: (n_times, n_coords, n)."""
    levels = (np.arange(n) + 0.5) / n
    if hasattr(reference, "marginal_quantile"):
        return reference.marginal_quantile(levels, times)[:, :n_coords]
    # a density reference: invert its CDF on its own grid
    lo, hi = reference.problem.box
    x = np.linspace(lo, hi, 4097)
    rho = reference.marginal_density(x, times)[:, :n_coords]
    cdf = np.concatenate([np.zeros(rho.shape[:-1] + (1,)),
                          np.cumsum(0.5 * (rho[..., 1:] + rho[..., :-1]), -1)], -1)
    cdf /= cdf[..., -1:]
    out = np.empty(rho.shape[:-1] + (n,))
    for idx in np.ndindex(*rho.shape[:-1]):
        out[idx] = np.interp(levels, cdf[idx], x)
    return out


def _sample_trial(problem, solution, times, n, seed, n_w1, ref_quantile) -> dict[str, Any]:
    """One sampling trial: moments streamed over memory-bounded chunks of trajectories.

    With a reference, also its W1 and its sorted samples of the first n_w1 coordinates,
    ``sorted`` (n_times, n_w1, n), for the pooled W1 (None without a reference)."""
    d, n_t = problem.d, len(times)
    chunk = max(1, min(n, _CHUNK_ELEMENTS // (n_t * d)))
    total = np.zeros((n_t, d))
    total_sq = np.zeros((n_t, d))
    com_total = np.zeros(n_t)
    com_total_sq = np.zeros(n_t)
    want_w1 = ref_quantile is not None
    w1_samples = np.empty((n_t, n_w1, n) if want_w1 else (n_t, 0, n))
    energy_parts = []
    want_energy = solution.has("drift")
    seeds = np.random.SeedSequence(seed).spawn((n + chunk - 1) // chunk)
    start = 0
    for child in seeds:
        size = min(chunk, n - start)
        paths = np.asarray(solution.sample(size, int(child.generate_state(1)[0]), times), dtype=float)
        if paths.shape != (size, n_t, d):
            raise ValueError(f"sample() returned shape {paths.shape}, expected {(size, n_t, d)}")
        if not np.isfinite(paths).all():
            raise FloatingPointError("sampled trajectories contain NaN or Inf")
        total += paths.sum(0)
        total_sq += (paths**2).sum(0)
        com = paths.mean(-1)
        com_total += com.sum(0)
        com_total_sq += (com**2).sum(0)
        if want_w1:
            w1_samples[..., start:start + size] = paths[:, :, :n_w1].transpose(1, 2, 0)
        if want_energy and start == 0:
            energy_parts = _energy_along_paths(problem, solution, paths, times)
        start += size
    mean = total / n
    var = (total_sq / n - mean**2) * n / max(n - 1, 1)
    com_mean = com_total / n
    w1 = np.nan
    if want_w1:
        w1_samples.sort(axis=-1)  # in place: the sorted block is returned for the pooled W1
        # one time at a time (equal blocks, so the mean of means is the mean)
        w1 = float(np.mean([wasserstein1_samples(w1_samples[j], ref_quantile[j], presorted=True).mean()
                            for j in range(n_t)]))
    out = {
        "mean": mean,
        "var": var,
        "com_mean": com_mean,
        "com_var": (com_total_sq / n - com_mean**2) * n / max(n - 1, 1),
        "energy": np.asarray(energy_parts) if want_energy else None,
        "w1": w1,
        "sorted": w1_samples if want_w1 else None,
    }
    return out


def _energy_along_paths(problem, solution, paths: np.ndarray, times: np.ndarray) -> list[float]:
    """E(t) from the first chunk's samples (at most 10^4 per time) and the learned drifts."""
    x_all = paths[: min(len(paths), 10_000)]
    energies = []
    for k, t in enumerate(times):
        x = x_all[:, k, :]
        u, v = solution.drift(x, np.full(len(x), t))
        energies.append(stochastic_mechanics_energy(problem, x, np.asarray(u), np.asarray(v)))
    return energies


def _density_w1(problem, solution, reference, times, n_coords, n_points) -> float:
    lo, hi = problem.box
    x = np.linspace(lo, hi, 4 * n_points + 1)
    rho = solution.marginal_density(x, times)[:, :n_coords]
    rho_ref = reference.marginal_density(x, times)[:, :n_coords]
    return float(wasserstein1_densities(x, rho, rho_ref).mean())


def _drift_errors(metrics, series, problem, solution, reference, reference_kind, times, seed,
                  n) -> None:
    """u_err, v_err under rho_ref(., t) against the exact drifts (exact reference only), and
    the same relative errors at each time (series ``u_err_t``, ``v_err_t``: where in time the
    learned velocities are off)."""
    if reference_kind != "exact" or not solution.has("drift"):
        return
    rng = np.random.default_rng([seed, 7919])
    err_u, err_v, norm_u, norm_v = (np.zeros(len(times)) for _ in range(4))
    for i, t in enumerate(times):
        x = reference.sample_density(n, float(t), rng)
        tt = np.full(n, float(t))
        u, v = solution.drift(x, tt)
        u_ref, v_ref = reference.drift(x, tt)
        err_u[i] = float(((np.asarray(u) - u_ref) ** 2).sum(-1).mean())
        err_v[i] = float(((np.asarray(v) - v_ref) ** 2).sum(-1).mean())
        norm_u[i] = float((u_ref**2).sum(-1).mean())
        norm_v[i] = float((v_ref**2).sum(-1).mean())
    for name, err, norm in (("u", err_u, norm_u), ("v", err_v, norm_v)):
        total = norm.sum()
        # a drift that vanishes (v of a packet at rest at t = 0) is scored in absolute terms
        metrics[f"{name}_err"] = math.sqrt(err.sum() / total) if total > 0 else \
            math.sqrt(err.sum() / len(times))
        per_time = np.sqrt(np.divide(err, norm, out=np.full_like(err, np.nan), where=norm > 0))
        series[f"{name}_err_t"] = [None if not np.isfinite(e) else float(e) for e in per_time]


def _center_of_mass_errors(metrics, series, problem) -> None:
    """The centre of mass against the exact law the problem declares (the bosons, Kohn's
    theorem; any trap without interaction)."""
    if "com_mean" not in series:
        return
    times = np.asarray(series["times"])
    law = problem.center_of_mass_law(times)
    if law is None:
        return
    ref_mean, ref_var = (np.asarray(a, dtype=float) for a in law)
    series["ref_com_mean"], series["ref_com_var"] = ref_mean.tolist(), ref_var.tolist()
    metrics["com_mean_err"], metrics["com_mean_err_kind"] = relative_l2_over_time(
        np.asarray(series["com_mean"]), ref_mean)
    metrics["com_var_err"], _ = relative_l2_over_time(np.asarray(series["com_var"]), ref_var)


def _comparison_errors(metrics, series, problem, times) -> None:
    """The variance also against the other laws the problem names (free_singular: the
    authors' Brownian spreading s0^2 + hbar t / m), as ``var_err_<name>``."""
    for name, law in problem.comparison_variances(times).items():
        law = np.asarray(law, dtype=float)
        series[f"{name}_var"] = law.tolist()
        metrics[f"var_err_{name}"], _ = relative_l2_over_time(np.asarray(series["var"]), law)


def _density_series(problem, solution, reference, times, n_points) -> dict[str, Any]:
    lo, hi = problem.box
    x = np.linspace(lo, hi, n_points)
    sub = times[:: max(1, len(times) // 50)]
    rho = solution.marginal_density(x, sub)[:, 0]
    ref = reference.marginal_density(x, sub)[:, 0] if reference is not None else None
    return {"x": x.tolist(), "times": sub.tolist(), "rho": rho.tolist(),
            "ref_rho": ref.tolist() if ref is not None else None}


def _sample_density_series(solution, reference, times, seed) -> dict[str, Any]:
    """Histogram density of 10^4 sampled trajectories on the problem's box (1-D problems)."""
    problem = solution.problem
    lo, hi = problem.box
    edges = np.linspace(lo, hi, 201)
    x = 0.5 * (edges[1:] + edges[:-1])
    sub = times[:: max(1, len(times) // 50)]
    paths = np.asarray(solution.sample(10_000, seed, sub), dtype=float)[:, :, 0]
    rho = np.stack([np.histogram(paths[:, k], bins=edges, density=False)[0] for k in range(len(sub))])
    rho = rho / (len(paths) * (edges[1] - edges[0]))
    ref = reference.marginal_density(x, sub)[:, 0] if reference is not None else None
    return {"x": x.tolist(), "times": sub.tolist(), "rho": rho.tolist(),
            "ref_rho": ref.tolist() if ref is not None else None}
