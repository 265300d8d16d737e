"""The sweep runner: ``dsm-bench run --suite NAME --out DIR``.

Runs every run of a suite, each in its own process with its limits (``benchmarks.executor``),
and records one tidy row per run with every column of ``benchmarks.schema.COLUMNS``:

* ``DIR/results.jsonl``: the journal and the source of truth. A row is appended (one
  ``write`` + ``fsync``) the moment its run ends, so a killed sweep loses nothing finished; a
  torn last line from a kill mid-write is ignored on reading.
* ``DIR/results.parquet`` and ``DIR/results.csv``: the table, regenerated from the journal
  after every row (temp file + rename, so readers never see a partial file). Where the
  journal holds several rows of a config hash (retries), the last one is the table's.
* ``DIR/runs/<config_hash>.json``: each ok run's artifact (series and training history);
  ``DIR/logs/<config_hash>.log``: each run's output.

Re-running resumes: runs whose config hash already has a row are skipped (``--retry-failed``
re-runs those whose row is not ``ok``), unless the row's ``resolved_config`` (every solver
option and problem parameter, defaults included) differs from what the run would execute now:
a default changed since, so the row is stale and the run is redone. Runs the solver declares
infeasible (``supports``, e.g. a grid too big for memory) are recorded as ``infeasible`` with
the reason and not run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import tempfile
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.executor import Executor, LocalProcessExecutor, Task
from benchmarks.schema import COLUMNS, flatten_config
from benchmarks.suites import Suite, SuiteError, SuiteRun, load_suite, parse_selection

__all__ = ["ResultsStore", "SweepSummary", "configure_parser", "main", "run_suite",
           "read_results"]

JOURNAL, PARQUET, CSV = "results.jsonl", "results.parquet", "results.csv"

# Column types of the table (everything else is text). Integers are nullable because failed
# and infeasible rows leave most columns empty.
INT_COLUMNS = ["d", "seed", "n_samples", "n_trials", "eval_seed", "n_eval_times", "iters",
               "n_params", "threads"]
FLOAT_COLUMNS = [
    "mean_err", "mean_err_std", "var_err", "var_err_std", "w1_err", "w1_err_std", "u_err",
    "v_err", "energy_drift", "com_mean_err", "com_var_err", "var_err_brownian", "train_s",
    "s_per_iter", "eval_s", "peak_rss_mb", "peak_gpu_mb", "wall_s",
]
BOOL_COLUMNS = ["git_dirty"]


class ResultsStore:
    """The results directory: an append-only journal plus the table regenerated from it."""

    def __init__(self, directory: str | Path):
        self.dir = Path(directory)
        self.journal = self.dir / JOURNAL
        self._lock = threading.Lock()

    def rows(self) -> list[dict[str, Any]]:
        """Every row of the journal in order (a torn last line is skipped)."""
        if not self.journal.exists():
            return []
        out = []
        for line in self.journal.read_text().splitlines():
            with contextlib.suppress(ValueError):
                row = json.loads(line)
                if isinstance(row, dict) and "config_hash" in row:
                    out.append(row)
        return out

    def latest(self) -> dict[str, dict[str, Any]]:
        """The last row of every config hash, in order of first appearance."""
        latest: dict[str, dict[str, Any]] = {}
        for row in self.rows():
            latest[row["config_hash"]] = row
        return latest

    def append(self, row: dict[str, Any]) -> None:
        """Make a finished row durable, then refresh the table."""
        line = json.dumps(_json_row(row), default=str, allow_nan=False) + "\n"
        with self._lock:
            self.dir.mkdir(parents=True, exist_ok=True)
            torn = self.journal.exists() and self.journal.stat().st_size > 0 and \
                not self.journal.read_bytes().endswith(b"\n")
            with open(self.journal, "a") as f:
                # a sweep killed mid-write may have left a torn line: start on a fresh one
                f.write(("\n" if torn else "") + line)
                f.flush()
                os.fsync(f.fileno())
            self.write_tables()

    def table(self) -> pd.DataFrame:
        return results_frame(list(self.latest().values()))

    def write_tables(self) -> None:
        frame = self.table()
        _atomic_write(self.dir / PARQUET, lambda p: frame.to_parquet(p, index=False))
        _atomic_write(self.dir / CSV, lambda p: frame.to_csv(p, index=False))


def results_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows -> the typed table with exactly the schema's columns, in the schema's order."""
    frame = pd.DataFrame([{c: row.get(c) for c in COLUMNS} for row in rows], columns=COLUMNS)
    for c in INT_COLUMNS:
        frame[c] = pd.to_numeric(frame[c], errors="coerce").astype("Int64")
    for c in FLOAT_COLUMNS:
        frame[c] = pd.to_numeric(frame[c], errors="coerce").astype("float64")
    for c in BOOL_COLUMNS:
        frame[c] = frame[c].astype("boolean")
    for c in set(COLUMNS) - set(INT_COLUMNS) - set(FLOAT_COLUMNS) - set(BOOL_COLUMNS):
        frame[c] = frame[c].map(_text, na_action="ignore").astype("string")
    return frame


def read_results(directory: str | Path) -> pd.DataFrame:
    """The results table of a results directory (from the journal when there is one)."""
    directory = Path(directory)
    if (directory / JOURNAL).exists():
        return ResultsStore(directory).table()
    if (directory / PARQUET).exists():
        return pd.read_parquet(directory / PARQUET)
    if (directory / CSV).exists():
        return results_frame(pd.read_csv(directory / CSV).to_dict("records"))
    raise FileNotFoundError(f"no results in {directory} (expected {JOURNAL}, {PARQUET} or {CSV})")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def _json_row(row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in row.items():
        if hasattr(value, "item") and not isinstance(value, (str, bytes)):
            value = value.item()  # numpy scalar
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        out[key] = value
    return out


def _atomic_write(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# ---------------------------------------------------------------------------- the sweep


@dataclass
class SweepSummary:
    suite: str
    out: Path
    total: int = 0
    skipped: int = 0
    stale: list[str] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.statuses["failed"] == 0 and self.statuses["timeout"] == 0

    def __str__(self) -> str:
        done = ", ".join(f"{n} {s}" for s, n in sorted(self.statuses.items())) or "nothing run"
        lines = [f"suite {self.suite}: {self.total} runs, {self.skipped} already done "
                 f"(skipped), {done}; results in {self.out}"]
        lines += [f"  re-run, defaults changed since its row: {s}" for s in self.stale]
        lines += [f"  {f}" for f in self.failures]
        return "\n".join(lines)


def _stale(row: dict[str, Any], spec: Any) -> str:
    """'' when ``row`` is what ``spec`` runs today, else the settings that differ. Rows written
    before ``resolved_config`` existed, or of specs that cannot be built, cannot be compared
    and count as current."""
    from benchmarks.single_run import resolved_config_or_none

    recorded, now = row.get("resolved_config"), resolved_config_or_none(spec)
    if not isinstance(recorded, str) or now is None or recorded == now:
        return ""
    before, after = flatten_config(json.loads(recorded)), flatten_config(json.loads(now))
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    return ", ".join(f"{k} {before.get(k)!r} -> {after.get(k)!r}" for k in changed)


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
    """Run (or resume) a sweep of ``suite`` into the directory ``out``; see the module doc."""
    from benchmarks.single_run import failed_row, infeasible_reason

    executor = executor or LocalProcessExecutor()
    store = ResultsStore(out)
    store.dir.mkdir(parents=True, exist_ok=True)
    done = store.latest()
    summary = SweepSummary(suite=suite.name, out=store.dir, total=len(suite.runs))
    todo: list[tuple[SuiteRun, Any]] = []
    for run in suite.runs:
        spec = run.to_spec()
        row = done.get(spec.config_hash())
        stale = _stale(row, spec) if row is not None else ""
        if row is not None and not stale and (row.get("status") == "ok" or not retry_failed):
            summary.skipped += 1
            continue
        if stale:
            summary.stale.append(f"{run.label}: {stale}")
        todo.append((run, spec))

    from tqdm.auto import tqdm

    bar = tqdm(total=len(todo), desc=f"suite {suite.name}", unit="run", disable=not progress,
               dynamic_ncols=True)

    def record(run: SuiteRun, row: dict[str, Any]) -> None:
        row["suite"] = suite.name
        store.append(row)
        status = row.get("status", "failed")
        summary.statuses[status] += 1
        if status in ("failed", "timeout"):
            summary.failures.append(f"{status}: {run.label}: {str(row.get('message'))[:300]}")
        bar.update(1)
        bar.set_postfix_str(", ".join(f"{s} {n}" for s, n in sorted(summary.statuses.items())))

    def execute(item: tuple[SuiteRun, Any]) -> None:
        run, spec = item
        bar.set_description_str(f"{suite.name}: {run.label}")
        if run.unavailable:
            record(run, failed_row(spec, "failed", run.unavailable))
            return
        try:
            reason = infeasible_reason(spec)
        except Exception as exc:  # noqa: BLE001 - a run that cannot even be set up
            record(run, failed_row(spec, "failed", f"{type(exc).__name__}: {exc}"))
            return
        if reason is not None:
            record(run, failed_row(spec, "infeasible", reason))
            return
        record(run, executor.execute(Task(run=run, results_dir=store.dir, verbose=verbose)))

    try:
        if jobs <= 1:
            for item in todo:
                execute(item)
        else:
            with ThreadPoolExecutor(max_workers=jobs) as pool:
                for future in [pool.submit(execute, item) for item in todo]:
                    future.result()
    finally:
        bar.close()
    if not store.journal.exists():
        store.write_tables()  # an empty, correctly shaped table
    return summary


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
    if args.jobs < 1:
        print(f"error: --jobs must be >= 1 (got {args.jobs})", file=sys.stderr)
        return 2
    problem = check_writable(args.out)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        suite = load_suite(args.suite)
        selection = parse_selection(args.only)
        if selection:
            suite = suite.select(selection)
    except SuiteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    summary = run_suite(suite, args.out, retry_failed=args.retry_failed, verbose=args.verbose,
                        jobs=args.jobs)
    print(summary)
    if not args.no_report:
        build_report_if_available(Path(args.out))
    return 0 if summary.ok else 1


def build_report_if_available(results_dir: Path) -> None:
    try:
        from reports.build import build_report
    except ImportError as exc:
        print(f"report skipped: reports.build is not available ({exc})")
        return
    try:
        where = build_report(results_dir, out_dir=None)
    except Exception as exc:  # noqa: BLE001 - the results are safe; say why there is no report
        print(f"report failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return
    print(f"report: {where}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    configure_parser(parser)
    sys.exit(main(parser.parse_args()))
