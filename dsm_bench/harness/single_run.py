"""One run: problem -> solver -> solution -> metrics -> a results row and its artifact.

Shared by ``dsm-bench solve`` and the sweep runner, so that every number a user compares is
computed here and only here.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dsm_bench.harness.provenance import now_utc, provenance
from dsm_bench.harness.references import reference_for
from dsm_bench.harness.settings import EVALUATION_OPTIONS
from dsm_bench.metrics import evaluate
from dsm_bench.schema import COLUMNS, COST, METRICS, ProblemFacts, Status
from dsm_bench.tuning.seeds import MONITOR_SEED
from reference.problems import Problem, get_problem, problem_class
from solvers import get_solver, load_plugin, solver_class
from solvers.base import peak_memory
from solvers.budget import Budget
from solvers.options import constrains_run_path

__all__ = ["RunSpec", "RunResult", "SolutionDiverged", "run_one", "solver_options_with_seed",
           "infeasible_reason", "failed_row", "build_problem", "require_moments_in_scale",
           "resolved_config_or_none", "run_path_errors"]

DEFAULT_EVALUATION = {key: option.default for key, option in EVALUATION_OPTIONS.items()}


@dataclass
class RunSpec:
    """Everything that determines a run (and so its config hash)."""

    solver: str
    problem: str
    d: int | None = None
    seed: int = 0
    solver_options: dict[str, Any] = field(default_factory=dict)
    problem_overrides: dict[str, Any] = field(default_factory=dict)
    budget: dict[str, Any] = field(default_factory=dict)
    evaluation: dict[str, Any] = field(default_factory=dict)
    suite: str = ""
    plugins: list[str] = field(default_factory=list)  # plugin files or modules to load first
    # a trial of ``dsm-bench tune``: its Optuna study and trial number (dsm_bench.tuning)
    study: str = ""
    trial: int | None = None

    def __post_init__(self) -> None:
        for plugin in self.plugins:
            load_plugin(plugin)
        unknown = set(self.evaluation) - set(DEFAULT_EVALUATION)
        if unknown:
            raise ValueError(
                f"unknown evaluation setting(s) {', '.join(sorted(unknown))}; "
                f"valid: {', '.join(DEFAULT_EVALUATION)}"
            )
        self.evaluation = {**DEFAULT_EVALUATION, **self.evaluation}

    def config(self) -> dict[str, Any]:
        """Canonical description; the suite name is not part of it (same run, same hash)."""
        out = asdict(self)
        out.pop("suite")
        out.pop("plugins")  # where a solver's code lives does not change what the run is
        if not self.study:  # a trial is its own run, whatever its options; others hash as before
            out.pop("study")
            out.pop("trial")
        return out

    def config_hash(self) -> str:
        canonical = json.dumps(self.config(), sort_keys=True, default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def resolved_config(self) -> str:
        """Canonical JSON of what the run executes: every solver option (defaults included)
        and every problem parameter. The hash names the request and stays put when a default
        changes (so the regression gate still compares like with like); this records what
        the request meant at the time, and resuming re-runs a row whose meaning changed."""
        resolved = {"solver": _build_solver(self).config(), "problem": build_problem(self).config()}
        return json.dumps(resolved, sort_keys=True, default=str)


@dataclass
class RunResult:
    row: dict[str, Any]
    artifact: dict[str, Any]
    solution: Any = None


def build_problem(spec: RunSpec) -> Problem:
    overrides = dict(spec.problem_overrides)
    if spec.d is not None:
        overrides["d"] = spec.d
    return get_problem(spec.problem, **overrides)


def solver_options_with_seed(solver: str, seed: int, options: dict[str, Any]) -> dict[str, Any]:
    """The run's seed is the solver's seed unless the options name one explicitly; methods
    without randomness (grid) take no seed."""
    out = dict(options)
    if "seed" in solver_class(solver).defaults:
        out.setdefault("seed", seed)
    return out


def _solver_options(spec: RunSpec) -> dict[str, Any]:
    return solver_options_with_seed(spec.solver, spec.seed, spec.solver_options)


def _build_solver(spec: RunSpec):
    return get_solver(spec.solver, **_solver_options(spec))


def infeasible_reason(spec: RunSpec) -> str | None:
    """Why the run cannot be attempted (e.g. a grid too large for memory), or None."""
    return _build_solver(spec).supports(build_problem(spec))


def run_path_errors(spec: RunSpec, results_dir: str | Path) -> list[str]:
    """Every solver option of ``spec`` declared ``RunPath`` whose value does not resolve
    inside ``results_dir`` (a relative value is relative to it: the run's process starts
    there), one message each; [] when all are confined."""
    root = Path(os.path.realpath(Path(results_dir).absolute()))
    errors = []
    for name, option in solver_class(spec.solver).option_specs.items():
        value = spec.solver_options.get(name)
        if not constrains_run_path(option.constraint) or not isinstance(value, str) or not value:
            continue
        target = Path(os.path.realpath(root / os.path.expanduser(value)))
        if target != root and root not in target.parents:
            errors.append(f"{spec.solver}: {name}={value!r} resolves to {target}, outside the "
                          f"results directory {root}; give a path relative to it")
    return errors


def _empty_row(spec: RunSpec, source: dict[str, Any] | None = None) -> dict[str, Any]:
    """A row with every column, the run's identity, the solver's facts and the provenance
    ``source`` (taken now when None)."""
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(
        suite=spec.suite,
        solver=spec.solver,
        problem=spec.problem,
        d=spec.d,
        seed=spec.seed,
        config_hash=spec.config_hash(),
        study=spec.study or None,
        trial=spec.trial,
        config=json.dumps(spec.config(), sort_keys=True, default=str),
        resolved_config=resolved_config_or_none(spec),
        message="",
    )
    try:
        row.update(solver_class(spec.solver).facts())
    except (ValueError, ImportError):
        pass  # an unknown or unavailable solver: the failed row says why
    try:
        problem = problem_class(spec.problem)
        row.update(ProblemFacts(problem.label, problem.dimension_symbol,
                                problem.exchangeable_coordinates).as_row())
    except ValueError:
        pass  # an unknown problem: the failed row says why
    row.update(source or provenance())
    return row


def resolved_config_or_none(spec: RunSpec) -> str | None:
    """``spec.resolved_config()``, or None for a spec that cannot be built (an unknown or
    unavailable solver, a bad option): the failed row records why."""
    try:
        return spec.resolved_config()
    except (ValueError, KeyError, ImportError):
        return None


def failed_row(spec: RunSpec, status: str, message: str, **extra: Any) -> dict[str, Any]:
    """A complete row for a run that did not produce a solution."""
    row = _empty_row(spec)
    try:
        row["d"] = build_problem(spec).d
    except ValueError:
        pass
    row.update(status=status, message=message, finished_at=now_utc())
    row.update({k: v for k, v in extra.items() if k in row})
    return row


def run_one(spec: RunSpec, progress: bool = False, monitor_every: int | None = None) -> RunResult:
    """Solve and evaluate one run in this process. Raises on failure (the caller records it)."""
    started, t0 = now_utc(), time.perf_counter()
    # the commit and versions as the run starts: the code that ran, even if the tree changes
    # during a long training
    source = provenance()
    problem = build_problem(spec)
    solver = _build_solver(spec)
    budget = Budget.from_dict(spec.budget)
    if monitor_every:
        budget = dataclasses.replace(budget, monitor_every=monitor_every)
    reference, reference_kind = reference_for(problem)
    if solver.is_reference and reference_kind == "grid":
        # the grid would be scored against itself: errors of 0 that mean nothing
        reference, reference_kind = None, "self"
    monitor = (_training_monitor(problem, reference, reference_kind) if budget.monitor_every
               else None)
    if monitor is not None and spec.study:
        from dsm_bench.tuning.pruning import pruning_monitor  # reports to the trial, may prune

        monitor = pruning_monitor(spec.study, spec.trial, monitor)
    solution = solver.run(problem, budget, monitor, progress)  # supports() checked, fit timed
    ev = spec.evaluation
    try:
        evaluation = evaluate(
            problem, solution, reference=reference, reference_kind=reference_kind,
            n_samples=int(ev["n_samples"]), n_trials=int(ev["n_trials"]),
            seed=int(ev["eval_seed"]), n_eval_times=int(ev["n_eval_times"]),
        )
        require_moments_in_scale(problem, evaluation.series)
    except Exception as exc:
        # a training that ends in a failed evaluation (paths lost, moments diverged) keeps
        # what it cost: iterations, seconds, memory go into the failed row
        # (the failure sets the row's stop reason, not the training's)
        cost = training_cost(solution)
        cost.pop("stop_reason", None)
        exc.training_cost = _jsonable(cost)
        raise
    cost = training_cost(solution)
    cost["eval_s"] = evaluation.metrics.pop("eval_s")

    row = _empty_row(spec, source)
    row["d"] = problem.d
    row.update({k: v for k, v in evaluation.metrics.items() if k in METRICS})
    row.update({k: v for k, v in cost.items() if k in COST})
    # a budget that stopped a time-marching solver before T: scored on what it reached, and
    # not an ok row, so no table or gate puts it beside rows over all of [0, T]
    # (the same test as the evaluation's note: the last evaluation time is the grid's T)
    stopped_early = evaluation.metrics["t_reached"] < problem.T
    row.update(status=Status.TIMEOUT if stopped_early else Status.OK, started_at=started,
               finished_at=now_utc(), wall_s=time.perf_counter() - t0, message="; ".join(evaluation.notes))
    artifact = {
        "row": _jsonable(row),
        "problem": problem.config(),
        "solver_config": solver.config(),
        "series": _jsonable(evaluation.series),
        "history": _jsonable(solution.history.to_dict(orient="list")),
        # the training loop's stop rules (divergence factor and warm-up), where it ran one
        "training": _jsonable(dict(getattr(solution.history, "attrs", {}) or {})),
    }
    return RunResult(row=row, artifact=artifact, solution=solution)


def training_cost(solution) -> dict[str, Any]:
    """The cost columns of a trained solution (iterations, seconds, device, stop reason) and
    this process's peak memory so far, for a row whether or not its evaluation succeeded."""
    cost = {k: v for k, v in solution.cost.as_dict().items() if k in COST}
    cost["peak_rss_mb"] = max(cost.get("peak_rss_mb") or 0.0, peak_memory()[0])
    return cost


# a solution whose moments lie this many times the problem's box away has diverged, whatever
# its training loop saw (a run that ends inside the loop's divergence warm-up is judged here)
SCALE_BOUND = 1e3


class SolutionDiverged(FloatingPointError):
    """The evaluated moments are non-finite or beyond ``SCALE_BOUND`` times the box."""

    stop_reason = "diverged"  # the failed row's stop reason, as for TrainingDiverged


def require_moments_in_scale(problem: Problem, series: dict[str, Any]) -> None:
    """Raise ``SolutionDiverged`` naming the first time at which the evaluated mean or
    standard deviation (``series``) leaves ``SCALE_BOUND`` times the problem's box."""
    lo, hi = problem.box
    bound = SCALE_BOUND * max(abs(lo), abs(hi), hi - lo)
    mean = np.asarray(series["mean"], dtype=float)
    var = np.asarray(series["var"], dtype=float)
    with np.errstate(invalid="ignore"):
        bad_mean, bad_var = ~(np.abs(mean) <= bound), ~(var <= bound**2)  # NaN is bad too
    if bad_mean.any() or bad_var.any():
        i = int(np.argmax(bad_mean | bad_var))
        what = f"mean {mean[i]:.3g}" if bad_mean[i] else f"variance {var[i]:.3g}"
        raise SolutionDiverged(
            f"the solution diverged: at t = {series['times'][i]:g} its {what} is beyond "
            f"{SCALE_BOUND:g} times the box [{lo:g}, {hi:g}] (lower lr or check the problem "
            "scales)")


def _training_monitor(problem: Problem, reference, reference_kind: str):
    """Cheap errors during training (time-to-accuracy curves): 1 trial x 2000 samples."""

    def monitor(solution) -> dict[str, float]:
        ev = evaluate(problem, solution, reference=reference, reference_kind=reference_kind,
                      n_samples=2_000, n_trials=1, seed=MONITOR_SEED, n_eval_times=51,
                      n_drift_samples=200)
        return {k: float(ev.metrics[k]) for k in ("mean_err", "var_err") if k in ev.metrics}

    return monitor


def _jsonable(obj: Any) -> Any:
    """NaN -> None and numpy scalars -> Python, so the artifact is strict JSON."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
