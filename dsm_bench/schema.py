"""The results table: one tidy row per (solver, problem, d, seed, config), and every metric
declared once.

``METRIC_TABLE`` is the one place a metric is declared: its column, label, unit, kind,
spread column and whether the regression gate compares it. The row's columns, the gate
(``dsm_bench.harness.check``), the report's labels and asv's ``track_*`` benchmarks are all
derived from it, so a new metric is one entry. Definitions: ``docs/metrics.md``.

This module imports nothing of the project, so the harness, the reports and asv can all read
it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from typing import Any

__all__ = ["BOOL_COLUMNS", "COLUMNS", "COST", "COST_TABLE", "ESS_RELIABLE", "FLOAT_COLUMNS", "IDENTITY",
           "INT_COLUMNS", "LOST_FLAG", "METRICS", "METRIC_TABLE", "Metric", "PROBLEM_FACTS",
           "PROVENANCE", "ProblemFacts", "SOLVER_FACTS", "TUNING",
           "STATUSES", "Status", "SolverFacts", "flatten_config", "gated_metrics", "metric", "metric_label"]


@dataclass(frozen=True)
class Metric:
    """A number the table records per run.

    kind: "error" (lower is better, compared with a reference), "check" (a reference-free
    consistency check, lower is better), "cost" (time, memory: machine-dependent, never
    gated) or "info" (a count or a setting).
    spread: the column holding its standard deviation over sampling trials, if any.
    gated: compared with the baseline by ``dsm-bench check``.
    """

    name: str
    label: str
    unit: str
    kind: str
    spread: str | None = None
    gated: bool = False
    kind_column: str | None = None  # "relative" or "absolute" (when the reference is 0)


METRIC_TABLE: tuple[Metric, ...] = (
    Metric("mean_err", "mean error", "rel. L2 over t", "error", "mean_err_std", True,
           "mean_err_kind"),
    Metric("var_err", "variance error", "rel. L2 over t", "error", "var_err_std", True,
           "var_err_kind"),
    # the mean as one vector in R^d, which a rotation of the coordinates leaves alone; not
    # gated, like cov_err below
    Metric("mean_vec_err", "mean vector error", "rel. L2 over t, Euclidean in x", "error",
           "mean_vec_err_std"),
    # moments pooled over trials (and exchangeable coordinates) before the norm: resolves
    # errors below the per-trial noise. Not gated: a noise-dominated norm with no trial spread
    # to set a band from (its excess over the floor is computed across rows, in the report)
    Metric("mean_err_pooled", "pooled mean error", "rel. L2 over t", "error"),
    Metric("var_err_pooled", "pooled variance error", "rel. L2 over t", "error"),
    # a sampler's pooled moments against the floor's on the same noise draw (never negative;
    # dsm_bench/model_error.py): computed across rows by the report, so rows leave them empty;
    # the report adds their interval as <name>_lo and <name>_hi
    Metric("mean_model_err", "mean model error", "rel. L2 over t", "error"),
    Metric("var_model_err", "variance model error", "rel. L2 over t", "error"),
    # the whole covariance matrix, which per-coordinate variances cannot see rotate. Not gated
    # yet: the committed baseline's columns are the gated metrics, so gating it (and
    # ehrenfest_err) is one flag each, with a baseline rewritten by --update-baseline
    Metric("cov_err", "covariance error", "rel. Frobenius L2 over t", "error", "cov_err_std"),
    Metric("w1_err", "W1 distance of marginals", "length", "error", "w1_err_std", True),
    # W1 of the trials' Wasserstein barycenter (sorted samples averaged over trials and
    # exchangeable coordinates): pooled like the moments above, and not gated for the same reason
    Metric("w1_err_pooled", "pooled W1 distance of marginals", "length", "error"),
    Metric("u_err", "osmotic velocity u error", "rel. L2 under rho", "error", None, True),
    Metric("v_err", "current velocity v error", "rel. L2 under rho", "error", None, True),
    Metric("energy_drift", "energy drift max|E(t)-E(0)|/|E(0)|", "relative", "check", None,
           True),
    # the solution's energy against the exact conserved <H> (the problem's closed form, or
    # an exact reference's): a target at every d, where no reference of psi exists
    Metric("energy_err", "energy error max|E(t)-E|/|E|", "relative", "error"),
    # Ehrenfest's theorem on the solution's own mean motion: no reference needed
    Metric("ehrenfest_err", "Ehrenfest residual", "rel. to spreads, L2 over t", "check",
           "ehrenfest_err_std"),
    # fraction of sampled paths that left the box or became non-finite, max over t: counted,
    # not fatal; not gated (a single lost path against a baseline of 0 would fail the gate)
    Metric("lost_frac", "lost path fraction, max over t", "fraction", "check"),
    Metric("com_mean_err", "centre-of-mass mean error", "rel. L2 over t", "error", None, True,
           "com_mean_err_kind"),
    Metric("com_var_err", "centre-of-mass variance error", "rel. L2 over t", "error", None,
           True),
    Metric("var_err_brownian", "variance error against Brownian spreading", "rel. L2 over t",
           "error", None, True),
    # importance-sampled moments (a density solver above d = 3): Kish's (sum w)^2 / sum w^2
    Metric("ess_min", "importance-sampling effective sample size, min over t", "samples",
           "info"),
)

# a row that lost more than this fraction of its sampled paths is flagged in its message
# and in the report
LOST_FLAG = 0.01

# below this many effective samples an importance-sampled moment rests on a few points: the
# row says its moments are unreliable and the report marks the point
ESS_RELIABLE = 100

COST_TABLE: tuple[Metric, ...] = (
    Metric("train_s", "training wall time", "s", "cost"),
    Metric("iters", "iterations", "count", "info"),
    Metric("s_per_iter", "time per iteration", "s", "cost"),
    Metric("eval_s", "evaluation wall time", "s", "cost"),
    Metric("peak_rss_mb", "peak host memory RSS", "MiB", "cost"),
    Metric("peak_gpu_mb", "peak GPU memory", "MiB", "cost"),
    Metric("n_params", "parameters", "count", "info"),
)

IDENTITY = [
    "suite",        # suite name ("" for a single `dsm-bench solve`)
    "solver",       # registry name
    "problem",      # registry name
    "d",            # dimension (number of particles for bosons)
    "seed",         # training / solver seed
    "config_hash",  # sha256 prefix of the canonical JSON of `config`
    "config",       # JSON: solver options, problem overrides, budget, evaluation settings
    "resolved_config",  # JSON: every solver option and problem parameter as run (defaults in)
    "status",       # ok | failed | timeout | infeasible
    "message",      # error or infeasibility reason ("" when ok)
]



@dataclass(frozen=True)
class SolverFacts:
    """A solver's declared facts (``solvers.base.Solver.facts``), recorded in every row as
    ``solver_<field>`` so that the gate and the report read them from the table, also for a
    plugin that is not installed where it is read. sampler: its ``fit`` returns a
    ``SamplerSolution`` (metrics from sampled paths)."""

    label: str
    short_label: str
    color: str
    floor: bool
    deterministic: bool
    trained: bool
    sampler: bool
    tolerance: float

    def as_row(self) -> dict[str, Any]:
        return {f"solver_{key}": value for key, value in asdict(self).items()}


def _solver_fact_columns(kind: str | None = None) -> list[str]:
    """The row's columns of the solver facts (of one Python type, e.g. "bool")."""
    return [f"solver_{f.name}" for f in fields(SolverFacts) if kind in (None, f.type)]


SOLVER_FACTS = _solver_fact_columns()


@dataclass(frozen=True)
class ProblemFacts:
    """A problem's declared facts (``reference.problems.Problem``), recorded in every row as
    ``problem_<field>`` so that the report reads them from the table, also for a problem
    plugin that is not installed where it is read."""

    label: str
    dimension_symbol: str  # "d", or "n" for particles: the figures' axis
    exchangeable: bool     # the coordinates' marginals are identical (moments may be pooled)

    def as_row(self) -> dict[str, Any]:
        return {f"problem_{key}": value for key, value in asdict(self).items()}


PROBLEM_FACTS = [f"problem_{f.name}" for f in fields(ProblemFacts)]

METRICS = [
    *[c for m in METRIC_TABLE for c in (m.name, m.spread, m.kind_column) if c],
    "reference",         # exact | grid | self | none
    "n_samples", "n_trials", "eval_seed", "n_eval_times",
    "t_reached",         # last evaluation time: T, or less when the budget stopped the solver
]

COST = [*[m.name for m in COST_TABLE], "device", "dtype", "threads", "stop_reason"]

PROVENANCE = [
    "git_commit", "git_dirty", "versions", "host", "python", "started_at", "finished_at",
    "wall_s", "artifact",  # artifact: path (relative to the results dir) of the run's JSON
    "executor",  # local | dask | slurm: what ran it
    "job_id",    # the scheduler's id for the run (Slurm job / Dask key), where there is one
]

# a trial of ``dsm-bench tune`` (dsm_bench.tuning): its Optuna study and trial number; empty
# on every other row
TUNING = ["study", "trial"]

COLUMNS = IDENTITY + SOLVER_FACTS + PROBLEM_FACTS + METRICS + COST + PROVENANCE + TUNING

class Status(StrEnum):
    """A row's status, declared once: what every module compares and writes."""

    OK = "ok"                  # solved and scored over all of [0, T]
    FAILED = "failed"          # raised, diverged, or broke a limit of memory
    TIMEOUT = "timeout"        # a wall-time limit, or a budget that stopped it before T
    INFEASIBLE = "infeasible"  # the solver cannot run the problem (it says why)


STATUSES = tuple(status.value for status in Status)

# column types on disk (everything else is text); integers are nullable because failed and
# infeasible rows leave most columns empty
INT_COLUMNS = ["d", "seed", "n_samples", "n_trials", "eval_seed", "n_eval_times", "threads", "trial",
               *[m.name for m in COST_TABLE if m.unit == "count"]]
FLOAT_COLUMNS = [*[c for m in METRIC_TABLE for c in (m.name, m.spread) if c],
                 *[m.name for m in COST_TABLE if m.unit != "count"], "wall_s",
                 *_solver_fact_columns("float"), "t_reached"]
BOOL_COLUMNS = ["git_dirty", *_solver_fact_columns("bool"), "problem_exchangeable"]

_BY_NAME = {m.name: m for m in (*METRIC_TABLE, *COST_TABLE)}


def metric(name: str) -> Metric:
    """The declaration of a metric or cost column."""
    return _BY_NAME[name]


def metric_label(name: str, with_unit: bool = True) -> str:
    """'variance error (rel. L2 over t)'; an undeclared column is its own label."""
    m = _BY_NAME.get(name)
    if m is None:
        return name
    return f"{m.label} ({m.unit})" if with_unit and m.unit != "count" else m.label


def gated_metrics() -> dict[str, str | None]:
    """metric -> its spread column, for every metric the regression gate compares."""
    return {m.name: m.spread for m in METRIC_TABLE if m.gated}


def flatten_config(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested config as dotted keys ({"a": {"b": 1}} -> {"a.b": 1}); lists become their
    JSON text, so that every value compares and hashes."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten_config(value, name + "."))
        else:
            out[name] = json.dumps(value, sort_keys=True) if isinstance(value, list) else value
    return out
