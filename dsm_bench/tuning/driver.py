"""The studies' driver: ask a trial, run it as an ordinary run, tell the study its row.

Each trial is one run through the sweep's own machinery (``dsm_bench.harness.sweep.Sweep``
prepares and records it; any executor runs it: local processes, Dask, Slurm), so it has the
same process isolation and limits, and a row in the same journal and table, with its
``study`` and ``trial``. The driver holds the results directory's lock (``DIR/.lock``)
throughout and is the only process that asks and tells.

The study is told from the row: ``ok`` -> COMPLETE with the objective; stop reason
``pruned`` -> PRUNED; anything else (an exception, a divergence, a memory or wall-time limit,
a crash) -> FAIL, with the row's message in the trial's ``message`` attribute. Every told
trial also carries its row's ``config_hash``, ``wall_s`` and ``train_s``: what it cost,
pruned or not.

Resume: a trial still RUNNING when the driver starts was cut off by a killed driver (its run
died with it, or, on Slurm, may still be running). If its run left a row, it is told from the
row; otherwise it is run again under the same number with the same options, so a study never
holds a duplicated trial and ends with exactly ``--trials``.

Trials of all studies share ``--jobs`` slots, asked in turn, so the studies of a problem
advance together; on an executor that submits batches (Slurm arrays) the driver asks one
trial per slot, submits them as one batch and tells them as their rows arrive.
"""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from dsm_bench.harness.executor import Executor, RunInterrupted
from dsm_bench.harness.runner import signals_stop
from dsm_bench.harness.settings import UsageError
from dsm_bench.harness.store import ResultsStore, driver_lock
from dsm_bench.harness.suites import Suite
from dsm_bench.harness.sweep import Sweep
from dsm_bench.schema import Status
from dsm_bench.tuning.objective import objective_value
from dsm_bench.tuning.plan import StudyPlan, TrialRun
from dsm_bench.tuning.pruning import PRUNER_ATTR
from dsm_bench.tuning.space import declared_spaces
from dsm_bench.tuning.storage import load_study, pruner, sampler, trial_handle

__all__ = ["TuneSettings", "TuneSummary", "open_study", "run_studies"]


@dataclass(frozen=True)
class TuneSettings:
    trials: int
    metric: str
    prune_every: int = 50  # iterations between monitor reports (0: no pruning)
    prune_startup: int = 5  # finished trials before the pruner may stop one
    seed: int = 0  # the TPE sampler's
    jobs: int = 1


@dataclass
class TuneSummary:
    states: dict[str, Counter] = field(default_factory=dict)
    signal: int = 0
    io_error: str = ""

    @property
    def exit_status(self) -> int:
        return 128 + self.signal if self.signal else (1 if self.io_error else 0)

    def __str__(self) -> str:
        lines = [f"{name}: " + ", ".join(f"{n} {s.lower()}" for s, n in sorted(c.items()))
                 for name, c in self.states.items()]
        if self.io_error:
            lines.append(self.io_error)
        if self.signal:
            lines.append("interrupted: run the same command to resume (no trial is repeated)")
        return "\n".join(lines)


def open_study(out: Path, plan: StudyPlan, settings: TuneSettings) -> optuna.Study:
    """The study of ``plan`` in ``out``: created with the settings, or resumed when they are
    the ones it was created with (UsageError otherwise: a study is one protocol)."""
    study = load_study(out, plan.name, sampler=sampler(settings.seed, settings.trials))
    pruning = ({"startup_trials": settings.prune_startup,
                "warmup_steps": settings.prune_every} if settings.prune_every else None)
    protocol = {"metric": settings.metric, "budget": plan.budget, "seed": settings.seed,
                "prune_every": settings.prune_every, "prune_startup": settings.prune_startup}
    if "protocol" not in study.user_attrs:
        study.set_user_attr("protocol", protocol)
        study.set_user_attr(PRUNER_ATTR, pruning)
        study.set_user_attr("solver", plan.solver)
        default = plan.default_params()
        if default is not None:  # trial 0 is the default: tuned is never worse on validation
            study.enqueue_trial(default, user_attrs={"default": True})
    elif study.user_attrs["protocol"] != protocol:
        raise UsageError(f"{out} holds study {plan.name} run with {study.user_attrs['protocol']}"
                         f", not {protocol}; use the same settings or another --out")
    if pruning:
        study.pruner = pruner(**pruning)
    return study


class _Driver:
    """One invocation's state: the studies, the work left, the sweep that records rows."""

    def __init__(self, plans: list[StudyPlan], suite: Suite, out: Path, settings: TuneSettings,
                 executor: Executor, verbose: bool):
        self.plans, self.out, self.settings, self.executor = plans, out, settings, executor
        self.store = ResultsStore(out)
        self.sweep = Sweep(Suite(name=suite.name, description=suite.description), self.store,
                           executor, verbose, False, 0)
        self.studies: dict[str, optuna.Study] = {}
        self.lock = threading.Lock()
        self.again: list[tuple[StudyPlan, TrialRun]] = []  # cut-off trials to run again
        self.turn = 0

    # ---------------------------------------------------------------- resume
    def open(self) -> None:
        latest = self.store.latest()
        for plan in self.plans:
            study = self.studies[plan.name] = open_study(self.out, plan, self.settings)
            for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
                if set(trial.params) != set(declared_spaces(plan.option_specs)):
                    self.tell(plan, trial.number, None, "the driver was killed while its "
                                                        "options were drawn")
                    continue
                run = plan.run_with(trial.params, trial.number, self.settings.prune_every)
                row = latest.get(run.to_spec().config_hash())
                if row is not None:
                    self.tell(plan, trial.number, row)
                else:
                    self.again.append((plan, run))

    # ---------------------------------------------------------------- ask
    def next_run(self) -> tuple[StudyPlan, TrialRun] | None:
        """A cut-off trial, else a new trial of the next study (in turn) short of its
        trials; None when every study has its trials asked, or the sweep is stopping."""
        with self.lock:
            if self.executor.stopping.is_set() or self.sweep.stopped.is_set():
                return None
            if self.again:
                return self.again.pop(0)
            for _ in self.plans:
                plan = self.plans[self.turn % len(self.plans)]
                self.turn += 1
                study = self.studies[plan.name]
                if len(study.get_trials(deepcopy=False)) < self.settings.trials:
                    trial = study.ask()
                    return plan, plan.trial_run(trial, self.settings.prune_every)
            return None

    # ---------------------------------------------------------------- run and tell
    def run_one(self, plan: StudyPlan, run: TrialRun) -> None:
        spec = run.to_spec()
        try:
            task = self.sweep.prepare((run, spec))
            if task is None:  # recorded as failed or infeasible without running
                row = self.store.latest().get(spec.config_hash())
            else:
                row = self.executor.execute(task)
                self.sweep.record(run, row)
        except RunInterrupted:
            return  # no row: the trial stays RUNNING and runs again on resume
        except OSError as exc:
            self.sweep.io_failure(exc)
            return
        if self.sweep.io_errors or row is None:
            return  # not journaled: the trial runs again on resume
        self.tell(plan, run.trial, row)

    def record_batch(self, run: Any, row: dict[str, Any]) -> None:
        """A batch executor's callback: journal the row, then tell its trial."""
        self.sweep.record(run, row)
        if not self.sweep.io_errors:
            plan = next(p for p in self.plans if p.name == run.study)
            self.tell(plan, run.trial, row)

    def tell(self, plan: StudyPlan, number: int, row: dict[str, Any] | None,
             why: str = "") -> None:
        state, value = TrialState.FAIL, None
        if row is not None and row.get("status") == Status.OK:
            value, why = objective_value(row, self.settings.metric)
            state = TrialState.COMPLETE if value is not None else TrialState.FAIL
        elif row is not None and row.get("stop_reason") == "pruned":
            state = TrialState.PRUNED
        elif row is not None:
            why = str(row.get("message") or row.get("status"))
        with self.lock:
            study = self.studies[plan.name]
            handle = trial_handle(study, number)
            for key in ("config_hash", "status", "wall_s", "train_s"):
                if row is not None and row.get(key) is not None:
                    handle.set_user_attr(key, row[key])
            if why:
                handle.set_user_attr("message", why[:300])
            study.tell(number, value, state=state, skip_if_finished=True)
        shown = f" {self.settings.metric} = {value:.4g}" if value is not None else ""
        spent = f" ({row['wall_s']:.1f} s)" if row is not None and row.get("wall_s") else ""
        print(f"{plan.name} trial {number}: {state.name.lower()}{shown}{spent}"
              + (f": {why[:160]}" if why and state == TrialState.FAIL else ""), flush=True)

    # ---------------------------------------------------------------- the loop
    def work(self) -> None:
        while (item := self.next_run()) is not None:
            self.run_one(*item)

    def run(self) -> None:
        jobs = max(1, self.settings.jobs)
        if self.executor.batches:
            while True:
                items = [i for i in (self.next_run() for _ in range(jobs)) if i is not None]
                if not items:
                    return
                tasks = []
                for plan, run in items:
                    task = self.sweep.prepare((run, run.to_spec()))
                    if task is not None:
                        tasks.append(task)
                    elif not self.sweep.io_errors:  # recorded as failed or infeasible
                        self.tell(plan, run.trial,
                                  self.store.latest().get(run.to_spec().config_hash()))
                self.executor.execute_all(tasks, self.record_batch, self.store)
                if self.executor.stopping.is_set() or self.sweep.io_errors:
                    return
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            for future in [pool.submit(self.work) for _ in range(jobs)]:
                future.result()

    def summary(self, received: list[int]) -> TuneSummary:
        summary = TuneSummary(signal=received[0] if received else 0)
        for name, study in self.studies.items():
            summary.states[name] = Counter(t.state.name for t in study.get_trials(deepcopy=False))
        if self.sweep.io_errors:
            summary.io_error = f"I/O error in {self.out}: {self.sweep.io_errors[0]}; fix it and " \
                               "run the same command"
        return summary


def run_studies(plans: list[StudyPlan], suite: Suite, out: str | Path, settings: TuneSettings,
                executor: Executor, verbose: bool = False) -> TuneSummary:
    """Run (or resume) every study of ``plans`` in ``out`` to ``settings.trials`` trials; see
    the module doc. The executor is started, not closed (the evaluation runs on it next)."""
    out = Path(out)
    with driver_lock(out), signals_stop(executor) as received:
        driver = _Driver(plans, suite, out, settings, executor, verbose)
        executor.start()
        for row in executor.collect(driver.store):  # rows of jobs a killed driver left
            row.setdefault("suite", suite.name)
            driver.store.append_journal(row)
        driver.open()
        driver.run()
        return driver.summary(received)
