"""The sweep runner: ``dsm-bench run --suite NAME --out DIR``.

Runs every run of a suite, each in its own process with its limits (``dsm_bench.harness.executor``),
on this machine or, with ``--executor dask|slurm``, on a cluster (``dsm_bench.harness.executors``,
docs/scaling.md), and records one tidy row per run with every column of ``dsm_bench.schema.COLUMNS``:

* ``DIR/results.jsonl``: the journal and the source of truth. A row is appended (one
  ``write`` + ``fsync``) the moment its run ends, so a killed sweep loses nothing finished.
* ``DIR/results.parquet`` and ``DIR/results.csv``: the table, rebuilt from the journal after
  every row (``dsm_bench.harness.store``: also how a broken table is repaired).
* ``DIR/runs/<config_hash>.json``: each ok run's artifact (series and training history);
  ``DIR/logs/<config_hash>.log``: each run's output.

Re-running resumes: runs whose config hash already has a row are skipped (``--retry-failed``
re-runs those whose row is not ``ok``), unless the row's ``resolved_config`` (every solver
option and problem parameter, defaults included) differs from what the run would execute now:
a default changed since, so the row is stale and the run is redone. Runs the solver declares
infeasible (``supports``, e.g. a grid too big for memory) are recorded as ``infeasible`` with
the reason and not run.

One driver per results directory: a sweep holds ``DIR/.lock`` (``fcntl``) from before it reads
the journal until it ends, with every executor; a second ``run``, ``check --out`` or
``--collect`` on DIR exits 2 naming the holder's pid, host and start time. A write that fails
(disk full, an I/O error) stops the sweep from starting runs: every row already written stays,
and the summary ends "disk full in DIR: N finished, M not started; free space and run the same
command" (exit 1). A run that failed only because its outputs could not be written gets no row,
so the same command re-runs it.

Ctrl-C (SIGINT) or SIGTERM stops the sweep: nothing new starts, the runs in flight are stopped
and get no row, and the summary ends "interrupted: N finished, M not started; run the same
command to resume" (exit 130 or 143). Nothing is written through a link planted in DIR
(``dsm_bench.harness.confined``): ``run`` refuses one up front with exit 2 naming it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from dsm_bench.harness.confined import UnsafePath
from dsm_bench.harness.confined import problems as unsafe_paths
from dsm_bench.harness.executor import Executor, LocalProcessExecutor
from dsm_bench.harness.executors import EXECUTORS
from dsm_bench.harness.settings import UsageError
from dsm_bench.harness.store import (
    ResultsDirBusy,
    ResultsError,
    ResultsStore,
    driver_lock,
    read_results,
    results_frame,
)
from dsm_bench.harness.suites import Suite, SuiteError, SuiteRun, load_suite, parse_selection
from dsm_bench.harness.sweep import Sweep, SweepSummary
from dsm_bench.schema import Status, flatten_config

__all__ = ["ResultsStore", "SweepSummary", "collect", "configure_parser", "main", "pending_runs",
           "read_results", "results_frame", "run_suite"]

def _stale(row: dict[str, Any], spec: Any) -> str:
    """'' when ``row`` is what ``spec`` runs today, else the settings that differ. Rows written
    before ``resolved_config`` existed, or of specs that cannot be built, cannot be compared
    and count as current."""
    from dsm_bench.harness.single_run import resolved_config_or_none

    recorded, now = row.get("resolved_config"), resolved_config_or_none(spec)
    if not isinstance(recorded, str) or now is None or recorded == now:
        return ""
    before, after = flatten_config(json.loads(recorded)), flatten_config(json.loads(now))
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    return ", ".join(f"{k} {before.get(k)!r} -> {after.get(k)!r}" for k in changed)


def pending_runs(suite: Suite, store: ResultsStore, retry_failed: bool = False
                 ) -> tuple[list[tuple[SuiteRun, Any]], int, list[str]]:
    """(runs to execute with their specs, runs already done, stale-row notes): resume."""
    done = store.latest()
    todo: list[tuple[SuiteRun, Any]] = []
    skipped, stale_notes = 0, []
    for run in suite.runs:
        spec = run.to_spec()
        row = done.get(spec.config_hash())
        stale = _stale(row, spec) if row is not None else ""
        if row is not None and not stale and (row.get("status") == Status.OK or not retry_failed):
            skipped += 1
            continue
        if stale:
            stale_notes.append(f"{run.label}: {stale}")
        todo.append((run, spec))
    return todo, skipped, stale_notes


def run_suite(
    suite: Suite,
    out: str | Path,
    *,
    executor: Executor | None = None,
    retry_failed: bool = False,
    verbose: bool = False,
    jobs: int = 1,
    progress: bool = True,
) -> SweepSummary:
    """Run (or resume) a sweep of ``suite`` into the directory ``out``; see the module doc.

    ``executor`` runs the tasks: one ``execute(task)`` call per run from a pool of ``jobs``
    threads (or of ``executor.slots``, where it queues runs itself, as Dask does), or a single
    ``execute_all(tasks, record, store)`` where it submits them in batches (Slurm arrays:
    ``executor.batches``). The executor is started before the first run and closed at the
    end; rows it left on disk that the journal lacks (``collect``) are journaled first. The
    sweep holds the directory's lock throughout (``driver_lock``: raises ``ResultsDirBusy``
    when another driver holds it), whichever executor runs the runs.

    An I/O error writing the results directory (a full disk) stops the sweep from starting
    runs; every row already in the journal stays, runs in flight finish, and the summary's
    ``io_error`` says how many runs are done and how many are not.

    SIGINT (Ctrl-C) and SIGTERM, in the main thread, stop the sweep at once: nothing new
    starts, the executor stops the runs in flight (``Executor.stop``: they get no row and run
    again on resume), every run that finished is journaled, and the summary's ``signal`` and
    ``interrupted`` line say so (exit status 128 + the signal)."""
    executor = executor or LocalProcessExecutor()
    with driver_lock(out), signals_stop(executor) as received:
        return _run_locked(suite, Path(out), executor, retry_failed, verbose, jobs, progress,
                           received)


@contextlib.contextmanager
def signals_stop(executor: Executor) -> Iterator[list[int]]:
    """While the block runs, the first SIGINT or SIGTERM stops ``executor`` (its runs in
    flight get no row); yields the list that signal's number is appended to."""
    received: list[int] = []

    def on_signal(signum: int) -> None:
        if not received:
            received.append(signum)
            # not in the handler: it may have interrupted the executor holding its own lock
            threading.Thread(target=executor.stop, daemon=True).start()

    with _signals_call(on_signal):
        yield received


@contextlib.contextmanager
def _signals_call(handler: Callable[[int], None]) -> Iterator[None]:
    """While the block runs, SIGINT and SIGTERM call ``handler(signum)`` instead of raising
    or ending the process (only the main thread can install handlers; elsewhere: no change)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, lambda signum, _frame: handler(signum))
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _run_locked(suite: Suite, out: Path, executor: Executor, retry_failed: bool, verbose: bool,
                jobs: int, progress: bool, received: list[int]) -> SweepSummary:
    store = ResultsStore(out)
    executor.start()  # an unreachable cluster fails here, before anything is written
    for row in executor.collect(store):  # rows of jobs an earlier driver left behind
        row.setdefault("suite", suite.name)
        store.append_journal(row)
    if store.journal.exists():
        for note in store.repair_tables()[1]:  # a table file a report found broken, say
            print(f"note: {note}", file=sys.stderr)
    todo, skipped, stale = pending_runs(suite, store, retry_failed)
    sweep = Sweep(suite, store, executor, verbose, progress, len(todo))
    sweep.summary.skipped, sweep.summary.stale = skipped, stale
    try:
        sweep.dispatch(todo, jobs)
    finally:
        sweep.bar.close()
        executor.close()
    return sweep.finish(received)


def collect(store: ResultsStore, executor: Any, suite_name: str) -> int:
    """``--collect``: rows that finished jobs left on disk go into the journal, and the table
    is rewritten from the journal; nothing runs. Returns the number of rows added."""
    with driver_lock(store.dir):
        rows = executor.collect(store)
        for row in rows:
            row.setdefault("suite", suite_name)
            store.append_journal(row)
        store.write_tables()
    return len(rows)


# ---------------------------------------------------------------------------- command line


def configure_parser(p: argparse.ArgumentParser) -> None:
    """Arguments of ``dsm-bench run``."""
    p.add_argument("--suite", required=True,
                   help="suite name (benchmarks/suites/NAME.toml) or path to a .toml file")
    p.add_argument("--out", required=True, type=Path, help="results directory (created)")
    p.add_argument("--retry-failed", action="store_true",
                   help="re-run runs whose recorded status is not ok")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="show each run's training progress and output")
    p.add_argument("--no-report", action="store_true", help="do not build the report")
    p.add_argument("--jobs", type=int, default=1,
                   help="runs in parallel (each its own process; default 1)")
    p.add_argument("--only", action="append", default=[], metavar="KEY=VALUE[,VALUE...]",
                   help="run only the suite's runs whose solver, problem, d or seed is one of "
                        "the values (repeatable; all must match), e.g. --only solver=dsm,oracle "
                        "--only d=3. Rows keep their config hash, so a long suite can be run "
                        "in parts into one --out")
    p.add_argument("--executor", choices=EXECUTORS, default="local",
                   help="where runs execute: local processes (default), a Dask cluster, or "
                        "Slurm jobs through submitit (docs/scaling.md)")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                   help="--executor dask: the scheduler of a running cluster (default: a "
                        "LocalCluster of --jobs worker processes, started for the sweep)")
    p.add_argument("--executor-config", type=Path, metavar="FILE.toml",
                   help="executor settings, e.g. an [executor.slurm] table (partition, "
                        "account, time, ...); its keys override the suite's own table")
    p.add_argument("--collect", action="store_true",
                   help="run nothing: add the rows finished jobs left in --out to the "
                        "journal and rewrite the table")
    p.add_argument("--dry-run", action="store_true",
                   help="run and write nothing: print the job arrays, their resources and "
                        "the CPU / GPU hours the suite's budgets imply")


def results_dir_problems(out: Path) -> list[str]:
    """Why a sweep may not write into ``out``: it cannot be created or written, or links are
    planted where the sweep writes (``dsm_bench.harness.confined``). [] when it may."""
    problem = check_writable(out)
    return [problem] if problem else unsafe_paths(out)


def ensure_results_dir(out: Path) -> None:
    """Create ``out`` (UsageError when the file system refuses, e.g. under /proc)."""
    try:
        Path(out).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out {out} cannot be written: {exc.strerror or exc}") from None


def check_writable(out: Path) -> str | None:
    """Why ``out`` cannot be created / written, or None; checked before anything is written."""
    out = Path(out).absolute()
    if out.exists():
        if not out.is_dir():
            return f"--out {out} exists and is not a directory"
        return None if os.access(out, os.W_OK | os.X_OK) else f"--out {out} is not writable"
    parent = out.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        return f"--out {out}: {parent} is not a directory"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"--out {out} cannot be created: {parent} is not writable"
    return None


def main(args: argparse.Namespace) -> int:
    """``dsm-bench run``: 0 when every run ended ok or infeasible, 1 when some failed or timed
    out, 2 on bad input (nothing written)."""
    from dsm_bench.harness.executors import ExecutorError, load_executor_config, make_executor

    executor_name = getattr(args, "executor", "local")
    dry_run, collecting = getattr(args, "dry_run", False), getattr(args, "collect", False)
    if args.jobs < 1:
        print(f"error: --jobs must be >= 1 (got {args.jobs})", file=sys.stderr)
        return 2
    if dry_run and collecting:
        print("error: --dry-run and --collect exclude each other", file=sys.stderr)
        return 2
    problems = [] if dry_run else results_dir_problems(args.out)
    if problems:
        print("error: " + "; ".join(problems), file=sys.stderr)
        return 2
    try:
        suite = load_suite(args.suite, plugins=getattr(args, "plugin", None))
        selection = parse_selection(args.only)
        if selection:
            suite = suite.select(selection)
        settings = load_executor_config(getattr(args, "executor_config", None), suite.executor,
                                        executor_name)
        escapes = _path_errors(suite, args.out)
        if escapes:
            raise UsageError("\n  ".join(escapes))
        if collecting and not Path(args.out).is_dir():
            raise UsageError(f"--collect: {args.out} does not exist")
        executor = make_executor(executor_name, jobs=args.jobs,
                                 scheduler=getattr(args, "scheduler", None), settings=settings,
                                 results_dir=args.out)
    except (SuiteError, ExecutorError, UsageError, UnsafePath) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    store = ResultsStore(args.out)
    if dry_run:
        args.no_report = True
        print(dry_run_text(suite, store, executor, settings, args.retry_failed))
        return 0
    try:
        with contextlib.ExitStack() as held:
            if store.dir.is_dir():  # a busy DIR is refused before a cluster is started
                held.enter_context(driver_lock(store.dir))
            if collecting:
                try:
                    added = collect(store, executor, suite.name)
                except OSError as exc:
                    print(f"error: --collect could not write {store.dir}: {exc}; every row "
                          "already in the journal is kept: free space and run the same "
                          "command", file=sys.stderr)
                    return 1
                print(f"collected {added} row(s) into {store.journal}; table rewritten")
                return 0
            executor.start()
            ensure_results_dir(args.out)
            summary = run_suite(suite, args.out, executor=executor,
                                retry_failed=args.retry_failed, verbose=args.verbose,
                                jobs=args.jobs)
    except (ResultsDirBusy, ExecutorError, UsageError, UnsafePath, ResultsError) as exc:
        # busy, unreachable cluster, sbatch refused, a link planted, a foreign journal, /proc
        executor.close()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(summary)
    return summary.exit_status


def _path_errors(suite: Suite, out: Path) -> list[str]:
    """Every run option that names a path outside ``out`` (an option declared ``RunPath``)."""
    from dsm_bench.harness.single_run import run_path_errors

    errors: list[str] = []
    for run in suite.runs:
        try:
            found = run_path_errors(run.to_spec(), out)
        except Exception:  # noqa: BLE001 - a run that cannot be built is recorded as failed
            continue
        errors += [e for e in found if e not in errors]
    return errors


def dry_run_text(suite: Suite, store: ResultsStore, executor: Any, settings: dict[str, Any],
                 retry_failed: bool = False) -> str:
    """What ``--dry-run`` prints: the runs a sweep would submit, grouped into job arrays."""
    from dsm_bench.harness.executors import plan_text
    from dsm_bench.harness.single_run import infeasible_reason

    todo, skipped, _ = pending_runs(suite, store, retry_failed)
    runnable, not_run = [], 0
    for run, spec in todo:
        try:
            runnable_here = not run.unavailable and infeasible_reason(spec) is None
        except Exception:  # noqa: BLE001 - it would be recorded as a failed row, not submitted
            runnable_here = False
        if runnable_here:
            runnable.append(run)
        else:
            not_run += 1
    text = plan_text(runnable, getattr(executor, "settings", settings),
                     getattr(executor, "name", "local"), skipped=skipped)
    if not_run:
        text += f"\n{not_run} run(s) infeasible or unavailable: recorded as rows, not submitted"
    return text


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m dsm_bench.harness.runner", description=__doc__)
    configure_parser(parser)
    sys.exit(main(parser.parse_args()))
