"""Every metric of docs/metrics.md, implemented once, for sample arrays and grid densities alike.

Errors are over a fixed subsample of the problem's time grid (``evaluation_times``: 101 evenly
spaced grid times by default), the same for every solver:

* mean_err, var_err: relative L2 over time of the per-coordinate mean / variance,
  ||m_hat - m_ref||_2 / ||m_ref||_2, averaged over coordinates. Where m_ref is identically 0 the
  absolute L2 divided by sqrt(number of times) is used and the ``*_kind`` column says "absolute".
* mean_vec_err: ||m_hat - m_ref||_2 / ||m_ref||_2 over time with the Euclidean norm in x, the
  mean vector's error: unchanged by a rotation of the coordinates (``dsm_bench.norms``); absent
  where the reference mean is identically 0.
* w1_err: 1-Wasserstein distance between the solver's and the reference's 1-D marginals,
  averaged over times and coordinates (the first ``w1_max_coords`` coordinates: the problems are
  exchangeable in their coordinates, and sorting 10^5 samples x 100 coordinates x 101 times is
  costlier than the rest of the evaluation).
* u_err, v_err: relative L2 of the drifts against the exact ones under rho_ref(., t),
  sqrt(sum_t E|u_hat - u|^2) / sqrt(sum_t E|u|^2), with ``n_drift_samples`` exact samples a time.
* energy_drift: max_t |E(t) - E(0)| / |E(0)|, E(t) = E_rho[m/2 (|u|^2 + |v|^2) + V] for samplers
  with a drift, or the solution's own <psi|H|psi>.
* energy_err: max_t |E(t) - E| / |E| against the exact conserved <H> (the problem's closed
  form, or an exact reference's).
* com_mean_err, com_var_err: the centre of mass X_c = mean_i x_i against its exact law (bosons).
* cov_err: ||C_hat - C||_F / ||C||_F over time, the covariance matrix, where the reference has
  ``covariance(times)`` (``CovarianceReference``); samplers per trial, density solvers through
  their own ``covariance``.
* ehrenfest_err (reference-free, ``dsm_bench.ehrenfest``): the residuals of d<x>/dt = <v> and
  m d<v>/dt = -<grad V>, integrated on the evaluation grid, relative to the position and
  velocity spreads.
* lost_frac (samplers, ``dsm_bench.trial``): the largest fraction of paths lost (outside the
  box or non-finite) over time; the moments use the paths that remain.

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
from typing import Any, Protocol

import numpy as np

from dsm_bench.ehrenfest import ehrenfest_error
from dsm_bench.norms import (
    relative_euclidean_over_time,
    relative_frobenius_over_time,
    relative_l2_over_time,
)
from dsm_bench.pooled import TrialMoments, pooled_errors, pooled_w1_error
from dsm_bench.schema import ESS_RELIABLE, LOST_FLAG
from dsm_bench.trial import Trial, sample_trial, stochastic_mechanics_energy, wasserstein1_samples
from reference.problems import Problem
from solvers.base import SamplerSolution

__all__ = [
    "CovarianceReference",
    "Evaluation",
    "evaluate",
    "evaluation_times",
    "relative_l2_over_time",
    "wasserstein1_samples",
    "wasserstein1_densities",
    "stochastic_mechanics_energy",
    "energy_drift",
]

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


def energy_drift(energy: np.ndarray) -> float:
    """max_t |E(t) - E(0)| / |E(0)|."""
    energy = np.asarray(energy, dtype=float)
    return float(np.max(np.abs(energy - energy[0])) / abs(energy[0]))


def exact_energy(problem: Problem, reference, reference_kind: str) -> float | None:
    """The exact conserved <H>: the problem's closed form, else an exact reference's."""
    exact = problem.exact_energy()
    if exact is None and reference is not None and reference_kind == "exact":
        exact = float(reference.energy(np.zeros(1))[0])
    return exact


def _energy_error(metrics: dict[str, Any], series: dict[str, Any], problem: Problem, reference,
                  reference_kind: str) -> None:
    """energy_err = max_t |E(t) - E| / |E| against the exact <H>, where both exist."""
    exact = exact_energy(problem, reference, reference_kind)
    energy = series.get("energy")
    if exact is None or energy is None or exact == 0:
        return
    energy = np.asarray(energy, dtype=float)
    if np.isfinite(energy).all():
        metrics["energy_err"] = float(np.max(np.abs(energy - exact)) / abs(exact))
        series["exact_energy"] = exact


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
    _energy_error(metrics, ev.series, problem, reference, reference_kind)
    _comparison_errors(metrics, ev.series, problem, times)
    if reference is not None and reference_kind == "exact":
        ev.series["ref_energy"] = float(reference.energy(times[:1])[0])
    metrics["eval_s"] = time.perf_counter() - t0
    return ev


class CovarianceReference(Protocol):
    """What ``cov_err`` reads of a reference (``ExactReference``, ``ProductReference``, a grid
    solution, any reference that knows its correlations): the covariance matrix of x at
    ``times`` (on the problem's time grid), shape (n_times, d, d). A reference without it, or
    whose covariance is None (a grid that kept no psi), has no ``cov_err``. A density
    solution offers the same method for its own covariance."""

    def covariance(self, times: np.ndarray) -> np.ndarray | None: ...


@dataclass
class _Target:
    """The reference at the evaluation times: its moments (n_times, d), its covariance
    (n_times, d, d) where it has one, and, for W1, the first ``n_w1`` coordinates."""

    reference: Any
    times: np.ndarray
    n_w1: int
    mean: np.ndarray | None = None
    var: np.ndarray | None = None
    cov: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.reference is not None:
            self.mean, self.var = self.reference.moments(self.times)
            # a reference without a covariance (or whose covariance is None: a grid that
            # kept no psi) has no cov_err: it is never made up
            if callable(getattr(self.reference, "covariance", None)):
                cov = self.reference.covariance(self.times)
                self.cov = None if cov is None else np.asarray(cov, dtype=float)


def _evaluate_sampler(ev: Evaluation, problem: Problem, solution, target: _Target,
                      n_samples: int, n_trials: int, seed: int) -> None:
    """Moments, covariance, W1, lost paths, energy and Ehrenfest residuals of a sampler, from
    ``n_trials`` independent trials of ``n_samples`` paths (seeds seed, seed + 1, ...)."""
    metrics, series, times = ev.metrics, ev.series, target.times
    metrics.update(n_samples=n_samples, n_trials=n_trials)
    ref_quantile = None
    if target.reference is not None:
        ref_quantile = _reference_quantiles(target.reference, times, n_samples, target.n_w1)
    trials, quantile_sum = [], None
    for k in range(n_trials):
        trial = sample_trial(problem, solution, times, n_samples, seed + k, target.n_w1,
                             ref_quantile, want_cov=target.cov is not None)
        ordered, trial.sorted = trial.sorted, None
        # the first trial's block becomes the running sum: one block held beside the next
        if quantile_sum is None:
            quantile_sum = ordered
        elif ordered is not None:
            quantile_sum += ordered
        trials.append(trial)
    means = np.stack([tr.mean for tr in trials])
    variances = np.stack([tr.var for tr in trials])
    series.update(
        mean=means.mean((0, 2)).tolist(),
        var=variances.mean((0, 2)).tolist(),
        mean_spread=means.mean(2).std(0).tolist() if n_trials > 1 else None,
        var_spread=variances.mean(2).std(0).tolist() if n_trials > 1 else None,
    )
    ev.notes.extend(_lost_paths(trials, times, metrics, series))
    if problem.d > 1:
        series["com_mean"] = np.mean([tr.com_mean for tr in trials], 0).tolist()
        series["com_var"] = np.mean([tr.com_var for tr in trials], 0).tolist()
    if target.reference is not None:
        _sampler_errors(metrics, series, problem, target, trials, quantile_sum / n_trials,
                        ref_quantile)
    if solution.has("drift"):
        energy = trials[0].energy
        series["energy"] = energy.tolist()
        metrics["energy_drift"] = energy_drift(energy)
        _ehrenfest(metrics, series, problem, times, [tr.path_means for tr in trials])
    if problem.d == 1:
        series["density"] = _sample_density_series(solution, target.reference, times, seed)


def _sampler_errors(metrics: dict[str, Any], series: dict[str, Any], problem: Problem,
                    target: _Target, trials: list[Trial], quantile_mean: np.ndarray,
                    ref_quantile: np.ndarray) -> None:
    """The errors of a sampler's trials against the reference: per trial (mean and spread)
    and pooled over trials."""
    means = np.stack([tr.mean for tr in trials])
    variances = np.stack([tr.var for tr in trials])
    pooled = TrialMoments.from_trials(means, variances, target.mean, target.var,
                                      problem.exchangeable_coordinates)
    series.update(pooled.to_series())
    metrics.update(pooled_errors(pooled))
    _trial_errors(metrics, "mean_err", [relative_l2_over_time(m, target.mean) for m in means])
    _mean_vector_error(metrics, means, target.mean)
    _trial_errors(metrics, "var_err", [relative_l2_over_time(v, target.var) for v in variances])
    if target.cov is not None:
        cov = [relative_frobenius_over_time(tr.cov, target.cov) for tr in trials]
        metrics["cov_err"], metrics["cov_err_std"] = float(np.mean(cov)), _std(cov)
    w1 = [float(tr.w1) for tr in trials]
    metrics["w1_err"], metrics["w1_err_std"] = float(np.mean(w1)), _std(w1)
    metrics["w1_err_pooled"] = pooled_w1_error(quantile_mean, ref_quantile,
                                               problem.exchangeable_coordinates)


def _lost_paths(trials: list[Trial], times: np.ndarray, metrics: dict[str, Any],
                series: dict[str, Any]) -> list[str]:
    """``lost_frac``: the largest fraction of paths lost (outside the box or non-finite) over
    the evaluation times, pooled over trials; the fraction per time in ``series["lost_frac"]``;
    a note for the row's message above ``LOST_FLAG``."""
    lost = np.mean([tr.lost for tr in trials], axis=0)
    series["lost_frac"] = lost.tolist()
    metrics["lost_frac"] = float(lost.max())
    if lost.max() <= LOST_FLAG:
        return []
    j = int(np.argmax(lost))
    return [f"lost {lost[j]:.1%} of its sampled paths by t={times[j]:g} (outside the box or "
            "non-finite); its moments use the paths that remain"]


def _ehrenfest(metrics: dict[str, Any], series: dict[str, Any], problem: Problem,
               times: np.ndarray, moments: list[dict[str, np.ndarray]]) -> None:
    """ehrenfest_err (mean over the given estimates, one per trial, and its spread) and its
    two residuals per time (``ehrenfest_x``, ``ehrenfest_v``, averaged over trials). Absent
    in a box of infinite walls: their force is not in <grad V>, so the theorem as the metric
    states it does not hold there (the exact solution of box_well reads about 2)."""
    if problem.reflecting_box:
        return
    errors = [ehrenfest_error(times, m, problem.m) for m in moments]
    values = [e["value"] for e in errors]
    metrics["ehrenfest_err"], metrics["ehrenfest_err_std"] = float(np.mean(values)), _std(values)
    for key in ("x", "v"):
        series[f"ehrenfest_{key}"] = np.mean([e[f"{key}_t"] for e in errors], 0).tolist()


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
        _mean_vector_error(metrics, [mean], target.mean)
        metrics["w1_err"] = _density_w1(problem, solution, target.reference, times,
                                        target.n_w1, density_points)
        metrics["w1_err_std"] = 0.0
        cov = solution.covariance(times) if solution.has("covariance") else None
        if target.cov is not None and cov is not None:
            metrics["cov_err"] = relative_frobenius_over_time(cov, target.cov)
            metrics["cov_err_std"] = 0.0
    if solution.has("energy"):
        energy = np.asarray(solution.energy(times))
        series["energy"] = energy.tolist()
        metrics["energy_drift"] = energy_drift(energy)
    velocity, force = (getattr(solution, name)(times) if solution.has(name) else None
                       for name in ("velocity_moments", "mean_potential_gradient"))
    if velocity is not None and force is not None:
        _ehrenfest(metrics, series, problem, times, [{"x": mean, "var_x": var, "v": velocity[0],
                                                      "var_v": velocity[1], "grad_v": force}])
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


def _mean_vector_error(metrics: dict[str, Any], means: list[np.ndarray] | np.ndarray,
                       reference_mean: np.ndarray) -> None:
    """``mean_vec_err`` (mean over the estimates, one per trial, and its spread), where the
    reference mean is not identically 0."""
    errors = [relative_euclidean_over_time(m, reference_mean) for m in means]
    if errors[0] is not None:
        metrics["mean_vec_err"], metrics["mean_vec_err_std"] = float(np.mean(errors)), _std(errors)


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
    # lost paths (non-finite) are left out; out-of-box ones fall outside the bins
    rho = np.stack([np.histogram(paths[np.isfinite(paths[:, k]), k], bins=edges)[0]
                    for k in range(len(sub))])
    rho = rho / (len(paths) * (edges[1] - edges[0]))
    ref = reference.marginal_density(x, sub)[:, 0] if reference is not None else None
    return {"x": x.tolist(), "times": sub.tolist(), "rho": rho.tolist(),
            "ref_rho": ref.tolist() if ref is not None else None}
