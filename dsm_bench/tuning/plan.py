"""A suite as studies: one per (solver, problem, d), each trial an ordinary run of the suite.

The study of (solver, problem, d) starts from the suite's first run of it: its options are
the *default* the tuned result is compared with, its problem, evaluation settings and limits
are every trial's. A trial changes only the options that have a declared search space
(``dsm_bench.tuning.space``), and is trained and sampled with the validation seeds
(``dsm_bench.tuning.seeds``). Fair by construction:

* every study of a problem runs the same number of trials (``--trials``);
* every trial of every solver on a (problem, d) has the same training budget: ``--seconds S``
  (``max_seconds``, no iteration cap), or else the suite's budgets, which must then give each
  tuned solver of the (problem, d) the same ``max_seconds``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dsm_bench.harness.settings import UsageError
from dsm_bench.harness.suites import Suite, SuiteRun, resolved_d
from dsm_bench.tuning.seeds import evaluation_seed_errors, validation_seeds
from dsm_bench.tuning.space import declared_spaces, suggest
from dsm_bench.tuning.storage import study_name
from reference.options import Choice

__all__ = ["StudyPlan", "TrialRun", "plan_studies"]


@dataclass
class TrialRun(SuiteRun):
    """A suite run that is trial ``trial`` of ``study``: its spec carries both, so its row has
    the ``study`` and ``trial`` columns and its config hash is its own."""

    study: str = ""
    trial: int | None = None

    def to_spec(self):
        spec = super().to_spec()
        spec.study, spec.trial = self.study, self.trial
        return spec

    @property
    def label(self) -> str:
        return f"{self.study} trial {self.trial}"


@dataclass
class StudyPlan:
    """One study: the suite's runs of its (solver, problem, d) and the trials' budget."""

    name: str
    solver: str
    problem: str
    d: int
    runs: list[SuiteRun]  # the suite's runs of it (one per evaluation seed): the default
    budget: dict[str, Any]  # every trial's and every evaluation run's training budget
    option_specs: dict[str, Any] = field(repr=False, default_factory=dict)
    # the suite's runs of a sampling floor (the oracle) on the same problem and d: evaluated
    # beside the default and tuned rows, for their excess over the floor
    floors: list[SuiteRun] = field(default_factory=list)

    @property
    def base(self) -> SuiteRun:
        return self.runs[0]

    def default_params(self) -> dict[str, Any] | None:
        """The tuned options as the suite sets them (or their defaults), None when one of
        them lies outside its space (the default cannot be a trial then)."""
        params = {name: self.base.solver_options.get(name, self.option_specs[name].default)
                  for name in declared_spaces(self.option_specs)}
        for name, space in declared_spaces(self.option_specs).items():
            value = params[name]
            inside = (value in space.values if isinstance(space, Choice)
                      else space.low <= value <= space.high)
            if not inside:
                return None
        return params

    def trial_run(self, trial: Any, prune_every: int) -> TrialRun:
        """Trial ``trial`` (an ``optuna.Trial``): the base run with drawn options, on the
        validation seeds, monitored every ``prune_every`` iterations (0: not monitored)."""
        params = suggest(trial, self.option_specs)
        return self.run_with(params, trial.number, prune_every)

    def run_with(self, params: dict[str, Any], number: int, prune_every: int) -> TrialRun:
        base = self.base
        seed, eval_seed = validation_seeds()
        budget = dict(self.budget)
        if prune_every:
            budget["monitor_every"] = prune_every
        return TrialRun(
            suite=base.suite, solver=base.solver, problem=base.problem, d=self.d, seed=seed,
            solver_options={**base.solver_options, **params},
            problem_overrides=dict(base.problem_overrides), budget=budget,
            evaluation={**base.evaluation, "eval_seed": eval_seed}, limits=base.limits,
            where=f"{self.name} trial {number}", unavailable=base.unavailable,
            plugins=list(base.plugins), study=self.name, trial=number)


def plan_studies(suite: Suite, seconds: float | None = None
                 ) -> tuple[list[StudyPlan], list[str]]:
    """(the studies of ``suite``, one note per solver or variant that is not tuned). Raises
    UsageError when the suite's seeds reach the validation seeds, when no solver has a
    search space, or when the trials' budgets of a problem differ (without ``seconds``)."""
    from dsm_bench.harness.settings import EVALUATION_OPTIONS
    from solvers import solver_class

    default_eval = EVALUATION_OPTIONS["eval_seed"].default
    errors = evaluation_seed_errors(
        [r.seed for r in suite.runs],
        [r.evaluation.get("eval_seed", default_eval) for r in suite.runs],
        [r.evaluation.get("n_trials", EVALUATION_OPTIONS["n_trials"].default) for r in suite.runs])
    if errors:
        raise UsageError(f"suite {suite.name!r}: {errors[0]}")
    groups: dict[tuple[str, str, int], list[SuiteRun]] = {}
    floors: dict[tuple[str, int], list[SuiteRun]] = {}
    notes: list[str] = []
    untuned: set[str] = set()
    for run in suite.runs:
        if run.unavailable:
            notes.append(f"{run.label}: skipped, {run.unavailable}")
            continue
        cls = solver_class(run.solver)
        if not declared_spaces(cls.option_specs):
            untuned.add(run.solver)
            if cls.is_floor:
                floors.setdefault((run.problem, resolved_d(run)), []).append(run)
            continue
        groups.setdefault((run.solver, run.problem, resolved_d(run)), []).append(run)
    notes += [f"{name}: skipped, it declares no search space (nothing to tune)"
              for name in sorted(untuned)]
    if not groups:
        raise UsageError(f"suite {suite.name!r} has no solver with a search space to tune "
                         f"(skipped: {', '.join(sorted(untuned)) or 'none'})")
    plans = []
    for (solver, problem, d), runs in groups.items():
        first = runs[0]
        same = [r for r in runs if r.solver_options == first.solver_options
                and r.problem_overrides == first.problem_overrides and r.budget == first.budget
                and r.evaluation == first.evaluation]
        if len(same) < len(runs):
            notes.append(f"{solver}/{problem}/d={d}: {len(runs) - len(same)} run(s) of other "
                         f"settings than {first.where}'s are not tuned (one study per solver, "
                         "problem and d)")
        budget = ({"max_seconds": float(seconds)} if seconds is not None
                  else {k: v for k, v in first.budget.items() if k != "monitor_every"})
        plans.append(StudyPlan(study_name(solver, problem, d), solver, problem, d, same,
                               budget, solver_class(solver).option_specs,
                               floors.get((problem, d), [])))
    _check_equal_budgets(plans)
    return plans, notes


def _check_equal_budgets(plans: list[StudyPlan]) -> None:
    """Every tuned solver of a (problem, d) trains its trials for the same seconds."""
    by_problem: dict[tuple[str, int], list[StudyPlan]] = {}
    for plan in plans:
        if plan.budget.get("max_seconds") is None:
            raise UsageError(f"{plan.name}: the suite's budget sets no max_seconds; a study "
                             "needs a training budget in seconds, equal for every solver "
                             "(--seconds S, or budget = {max_seconds = S} in the suite)")
        by_problem.setdefault((plan.problem, plan.d), []).append(plan)
    for (problem, d), group in by_problem.items():
        seconds = {p.solver: p.budget["max_seconds"] for p in group}
        if len(set(seconds.values())) > 1:
            shown = ", ".join(f"{s} {v:g} s" for s, v in seconds.items())
            raise UsageError(f"{problem} d={d}: the trials' training budgets differ ({shown}); "
                             "every tuned solver of a problem gets the same seconds: pass "
                             "--seconds S or give them one max_seconds in the suite")
