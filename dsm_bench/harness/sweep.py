"""One sweep's bookkeeping, for the runner (``dsm_bench.harness.runner``): each finished run's
row journalled, then the tables, the summary and the progress bar; each run prepared (or
recorded as infeasible) and executed; and the summary of what a stop (an I/O error, a
signal) left unfinished.
"""

from __future__ import annotations

import errno
import os
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dsm_bench.harness.confined import UnsafePath
from dsm_bench.harness.executor import Executor, RunInterrupted, Task
from dsm_bench.harness.store import PARQUET, ResultsStore
from dsm_bench.harness.suites import Suite, SuiteRun
from dsm_bench.schema import Status

__all__ = ["Sweep", "SweepSummary"]


@dataclass
class SweepSummary:
    suite: str
    out: Path
    total: int = 0
    skipped: int = 0
    stale: list[str] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    # set when writing to the results directory failed (disk full, I/O error): no run was
    # started after it; the line says how many runs have a row and how many do not
    io_error: str = ""
    # the signal (SIGINT, SIGTERM) that stopped the sweep, and the line that says so
    signal: int = 0
    interrupted: str = ""

    @property
    def ok(self) -> bool:
        return (self.statuses[Status.FAILED] == 0 and self.statuses[Status.TIMEOUT] == 0
                and not self.io_error and not self.signal)

    @property
    def exit_status(self) -> int:
        """0 all ok or infeasible, 1 some failed, 128 + the signal that stopped the sweep."""
        return 128 + self.signal if self.signal else (0 if self.ok else 1)

    def __str__(self) -> str:
        done = ", ".join(f"{n} {s}" for s, n in sorted(self.statuses.items())) or "nothing run"
        lines = [f"suite {self.suite}: {self.total} runs, {self.skipped} already done "
                 f"(skipped), {done}; results in {self.out}"]
        lines += [f"  re-run, defaults changed since its row: {s}" for s in self.stale]
        lines += [f"  {f}" for f in self.failures]
        if self.io_error:
            lines.append(self.io_error)
        if self.interrupted:
            lines.append(self.interrupted)
        return "\n".join(lines)


def _io_error_text(exc: OSError, out: Path, finished: int, not_started: int) -> str:
    """The summary line of a sweep stopped by an I/O error: what is safe, what to do."""
    counts = f"{finished} finished, {not_started} not started"
    if isinstance(exc, UnsafePath):
        return f"{exc}: {counts}; run the same command once it is removed"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"disk full in {out}: {counts}; free space and run the same command"
    return (f"I/O error in {out} ({exc.strerror or exc}): {counts}; fix it and run the same "
            "command")


def _disk_full(row: dict[str, Any]) -> OSError | None:
    """The ENOSPC / EDQUOT behind a run that failed only because its output could not be
    written (it says nothing about the run: it is not recorded, and re-runs on resume)."""
    if row.get("status") != Status.FAILED:
        return None
    message = str(row.get("message") or "")
    for code in (errno.ENOSPC, errno.EDQUOT):
        if f"[Errno {code}]" in message or os.strerror(code) in message:
            return OSError(code, os.strerror(code))
    return None


class Sweep:
    """One sweep's bookkeeping: every row recorded (journal, tables, summary, progress bar),
    each run prepared and executed, and what a stop leaves behind."""

    def __init__(self, suite: Suite, store: ResultsStore, executor: Executor, verbose: bool,
                 progress: bool, n_todo: int):
        from tqdm.auto import tqdm

        self.suite, self.store, self.executor, self.verbose = suite, store, executor, verbose
        self.summary = SweepSummary(suite=suite.name, out=store.dir, total=len(suite.runs))
        self.stopped = threading.Event()  # an I/O error: start nothing more, let runs end
        self.io_errors: list[OSError] = []
        self.bar = tqdm(total=n_todo, desc=f"suite {suite.name}", unit="run",
                        disable=not progress, dynamic_ncols=True)

    def io_failure(self, exc: OSError) -> None:
        self.io_errors.append(exc)
        self.stopped.set()

    def record(self, run: SuiteRun, row: dict[str, Any]) -> None:
        """Journal a finished run's row, then the tables, the summary and the bar."""
        full = _disk_full(row)
        if full is not None:
            self.io_failure(full)
            return
        row["suite"] = self.suite.name
        if not row.get("executor"):
            row["executor"] = self.executor.name
        try:
            self.store.append_journal(row)
        except OSError as exc:  # the row is not durable: the run re-runs on resume
            self.io_failure(exc)
            return
        status = row.get("status", Status.FAILED)
        self.summary.statuses[status] += 1
        if status in (Status.FAILED, Status.TIMEOUT):
            self.summary.failures.append(
                f"{status}: {run.label}: {str(row.get('message'))[:300]}")
        self.bar.update(1)
        self.bar.set_postfix_str(", ".join(f"{s} {n}"
                                           for s, n in sorted(self.summary.statuses.items())))
        if not self.stopped.is_set():
            try:
                self.store.write_tables()
            except OSError as exc:  # the row is safe in the journal; the tables catch up later
                self.io_failure(exc)

    def prepare(self, item: tuple[SuiteRun, Any]) -> Task | None:
        """The run's task, or None when it cannot run here (its row is then recorded)."""
        from dsm_bench.harness.single_run import failed_row, infeasible_reason, run_path_errors

        run, spec = item
        if run.unavailable:
            # a solver whose optional dependencies are missing (e.g. tvmc without its extra)
            self.record(run, failed_row(spec, Status.INFEASIBLE, run.unavailable))
            return None
        try:
            reason = infeasible_reason(spec)
            escapes = run_path_errors(spec, self.store.dir)
        except Exception as exc:  # noqa: BLE001 - a run that cannot even be set up
            self.record(run, failed_row(spec, Status.FAILED, f"{type(exc).__name__}: {exc}"))
            return None
        if escapes:
            self.record(run, failed_row(spec, Status.FAILED, "; ".join(escapes)))
            return None
        if reason is not None:
            self.record(run, failed_row(spec, Status.INFEASIBLE, reason))
            return None
        return Task(run=run, results_dir=self.store.dir.absolute(), verbose=self.verbose)

    def _halted(self) -> bool:
        return self.stopped.is_set() or self.executor.stopping.is_set()

    def execute(self, item: tuple[SuiteRun, Any]) -> None:
        if self._halted():
            return
        self.bar.set_description_str(f"{self.suite.name}: {item[0].label}")
        try:
            task = self.prepare(item)
            if task is not None:
                self.record(task.run, self.executor.execute(task))
        except RunInterrupted:  # stopped by a signal: no row, the same command runs it
            pass
        except OSError as exc:  # the executor could not write the run's log or folders
            self.io_failure(exc)

    def dispatch(self, todo: list[tuple[SuiteRun, Any]], jobs: int) -> None:
        """Every pending run: as one batch (Slurm arrays), or one at a time on ``jobs``
        threads, each waiting on its own run's process."""
        if self.executor.batches:
            tasks = [t for t in map(self.prepare, todo) if t is not None and not self._halted()]
            try:
                # jobs already submitted run on; their rows are collected by the same command
                self.executor.execute_all(tasks, self.record, self.store)
            except OSError as exc:
                self.io_failure(exc)
            return
        parallel = min(max(jobs, getattr(self.executor, "slots", 1)), max(len(todo), 1))
        if parallel <= 1:
            for item in todo:
                self.execute(item)
            return
        with ThreadPoolExecutor(max_workers=parallel) as pool:
            for future in [pool.submit(self.execute, item) for item in todo]:
                future.result()

    def finish(self, received: list[int]) -> SweepSummary:
        """The summary, with what an I/O error or a signal left unfinished."""
        summary, store = self.summary, self.store
        if not self.io_errors and not (store.dir / PARQUET).exists():
            try:
                store.write_tables()  # an empty, correctly shaped table
            except OSError as exc:
                self.io_failure(exc)
        if self.io_errors or received:
            done = store.latest()
            finished = sum(run.to_spec().config_hash() in done for run in self.suite.runs)
            counts = (finished, len(self.suite.runs) - finished)
            if self.io_errors:
                summary.io_error = _io_error_text(self.io_errors[0], store.dir, *counts)
            if received:
                summary.signal = received[0]
                summary.interrupted = ("interrupted: {} finished, {} not started; run the same "
                                       "command to resume".format(*counts))
        return summary
