"""Inside a trial's run process: the training monitor's errors reported to the trial, and the
median pruner's verdict acted on.

``dsm_bench.harness.single_run.run_one`` wraps the training monitor of a run whose spec names
a study (``RunSpec.study``, ``RunSpec.trial``). At every monitor step the wrapper reports the
monitor's ``PRUNE_SIGNAL`` to the trial in the results directory's journal (the run's process
starts in that directory) and raises ``TrialPruned`` when the pruner says stop: the run ends
like a failed one, with stop reason ``pruned``, and the driver tells the study so. The
monitor's seconds are not training seconds (``solvers.training``), so reporting costs a trial
none of its budget.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna

from dsm_bench.tuning.objective import PRUNE_SIGNAL
from dsm_bench.tuning.storage import load_study, pruner, trial_handle

__all__ = ["PRUNER_ATTR", "TrialPruned", "pruning_monitor"]

PRUNER_ATTR = "pruner"  # the study's user attribute holding the pruner's settings


class TrialPruned(optuna.TrialPruned):
    """The median pruner stopped this trial (the row's stop reason: ``pruned``)."""

    stop_reason = "pruned"


def _iteration(solution: Any) -> int:
    """The iteration a monitor snapshot was taken at: its cost's count where the solver
    fills it (PINN), else its history's last row (DSM logs one at every monitor step)."""
    iters = int(getattr(solution.cost, "iters", 0) or 0)
    history = getattr(solution, "history", None)
    if history is not None and "iter" in history and len(history):
        iters = max(iters, int(history["iter"].max()))
    return iters


def pruning_monitor(study_name: str, trial_number: int | None,
                    monitor: Callable[[Any], dict[str, float]],
                    results_dir: str | Path | None = None) -> Callable[[Any], dict[str, float]]:
    """``monitor`` that also reports to trial ``trial_number`` of ``study_name`` (in
    ``results_dir``, default the working directory) and raises ``TrialPruned`` on the
    pruner's word."""
    if trial_number is None:
        return monitor
    study = load_study(Path.cwd() if results_dir is None else results_dir, study_name)
    settings = study.user_attrs.get(PRUNER_ATTR)
    if not settings:  # a study without pruning: report nothing
        return monitor
    study.pruner = pruner(**settings)
    trial = trial_handle(study, trial_number)

    def monitored(solution: Any) -> dict[str, float]:
        values = monitor(solution)
        value = values.get(PRUNE_SIGNAL)
        if value is not None:
            step = _iteration(solution)
            trial.report(float(value), step)
            if trial.should_prune():
                raise TrialPruned(f"trial {trial_number} of {study_name} pruned at iteration "
                                  f"{step}: {PRUNE_SIGNAL} = {value:.3g} is worse than the "
                                  "median of the earlier trials there")
        return values

    return monitored
