"""Fault injection: every way issue 15 found to corrupt a sweep, a table or a disk.

The faults come from hooks that are off unless a test sets them:
* a suite group's ``_fault`` (``dsm_bench.harness.executor._inject_fault``): the run's own
  process raises, runs out of memory, hangs, kills itself, or fails with ENOSPC;
* ``DSM_BENCH_INJECT_IO_ERROR=enospc:N`` (``dsm_bench.harness.store``): the driver's journal
  appends fail after N rows, as on a full disk;
* a real full disk: a 1 MiB tmpfs, where mounting is permitted (root), else skipped.

Fast tests drive ``run_suite`` with an in-process executor that returns complete rows; the
ones marked slow start real run processes.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tiny_suite import header
from tiny_suite import write_suite as write_tiny_suite

from dsm_bench import cli
from dsm_bench.harness import store as store_module
from dsm_bench.harness.executor import (
    Executor,
    LocalProcessExecutor,
    Task,
    _death_message,
    write_json_atomic,
)
from dsm_bench.harness.runner import main as run_main
from dsm_bench.harness.runner import run_suite
from dsm_bench.harness.single_run import failed_row
from dsm_bench.harness.store import (
    LOCK,
    ResultsDirBusy,
    ResultsStore,
    _acquire,
    driver_lock,
    file_mode,
    load_table,
)
from dsm_bench.harness.suites import load_suite
from dsm_bench.schema import COLUMNS
from solvers.training import TrainingDiverged, TrainingLoop

ROOT = Path(__file__).resolve().parents[1]

HEADER = header(timeout_s=120, memory_mb=4000)
# three oracle runs (no training): each costs about a process start-up
THREE = """
    [[runs]]
    solvers = ["oracle"]
    problems = ["harmonic_1d", "harmonic_1d_phase", "free_singular"]
"""

# a test plugin: a "trained" solver whose losses grow by `growth` an iteration, which
# writes its `checkpoint` (declared RunPath) where the run's process resolves it, and whose
# solution has NaN moments with `nan_moments` (its evaluation fails after training)
PLUGIN = '''
from reference.exact import ExactReference
from solvers.base import Cost, DensitySolution, Solver
from solvers.options import Boolean, Option, Real, RunPath
from solvers.training import TrainingLoop


class ExactSolution(DensitySolution):
    def __init__(self, problem, cost, history):
        super().__init__(problem, cost, history)
        self.reference = ExactReference(problem)
        self.nan_moments = False

    def moments(self, times):
        mean, var = self.reference.moments(times)
        return (mean * float("nan"), var) if self.nan_moments else (mean, var)

    def marginal_density(self, x, times):
        return self.reference.marginal_density(x, times)


class Faulty(Solver):
    """A test double: an exact solution behind a training loop with a chosen loss growth."""
    name = "faulty"
    label = "faulty (test plugin)"
    color = "#000000"
    trained = True
    option_specs = {
        "checkpoint": Option("", RunPath(), "a file written at the end"),
        "growth": Option(1.0, Real(0, closed="neither"), "loss factor per iteration"),
        "nan_moments": Option(False, Boolean(), "the solution's moments are NaN"),
    }

    def supports(self, problem):
        return None if problem.has_exact_solution else "needs a closed form"

    def fit(self, problem, budget, monitor, progress) -> ExactSolution:
        cost, loss = Cost(), 1.0
        loop = TrainingLoop("faulty", target_iters=40)
        with loop:
            while loop.running():
                loss *= self.options["growth"]
                loop.step_done(loop.iteration + 1, {"loss_a": loss, "loss_b": 1.0})
            loop.finish(cost)
        if self.options["checkpoint"]:
            with open(self.options["checkpoint"], "w") as f:
                f.write("state")
        solution = ExactSolution(problem, cost, loop.history())
        solution.nan_moments = self.options["nan_moments"]
        return solution
'''


def write_suite(tmp_path: Path, groups: str, header: str = HEADER, name: str = "t.toml") -> Path:
    return write_tiny_suite(tmp_path, groups, head=header, name=name)


@pytest.fixture(scope="module")
def faulty_plugin(tmp_path_factory) -> Path:
    """One plugin file for the module: a solver name is registered once per process."""
    path = tmp_path_factory.mktemp("plugin") / "faulty.py"
    path.write_text(PLUGIN)
    return path


def plugin_suite(tmp_path: Path, plugin: Path, options: str) -> Path:
    return write_suite(tmp_path, f"""
        [[runs]]
        solvers = ["faulty"]
        problems = ["harmonic_1d"]
        [runs.options.faulty]
        {options}
    """, header=HEADER.replace('name = "t"', f'name = "t"\n    plugins = ["{plugin}"]'))


def run_args(**kw) -> argparse.Namespace:
    base = dict(suite="smoke", out=None, retry_failed=False, verbose=False, no_report=True,
                jobs=1, only=[])
    return argparse.Namespace(**{**base, **kw})


def journal_hashes(out: Path) -> list[str]:
    return [r["config_hash"] for r in ResultsStore(out).rows()]


class InProcess(Executor):
    """An executor that runs nothing: each task's row is complete and ok (or what ``row``
    makes of it); ``during`` is called inside every execute (while the sweep runs)."""

    name = "inprocess"

    def __init__(self, row=None, during=None):
        super().__init__()
        self.row, self.during, self.executed = row, during, 0

    def execute(self, task: Task) -> dict:
        self.executed += 1
        if self.during is not None:
            self.during(task)
        row = failed_row(task.spec, "ok", "")
        return self.row(row) if self.row else row


def cli_run(*args: str, cwd: Path = ROOT, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "dsm_bench.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600, **kw)


# ------------------------------------------------------------ 1. one driver per directory

def test_a_second_driver_exits_2_naming_the_holder(tmp_path, capsys):
    out = tmp_path / "out"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from dsm_bench.harness.store import "
         "driver_lock\nwith driver_lock(sys.argv[1]):\n print('held', flush=True); "
         "time.sleep(60)", str(out)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert holder.stdout.readline().strip() == "held"
        suite = write_suite(tmp_path, THREE)
        assert run_main(run_args(suite=str(suite), out=out)) == 2
        err = capsys.readouterr().err
        assert f"pid {holder.pid} on host {socket.gethostname()} since " in err
        assert "in use by another driver" in err
        assert not (out / "results.jsonl").exists()  # nothing run, nothing written
    finally:
        holder.kill()
        holder.wait()
    # the holder's death releases the lock (the kernel's, however it died)
    with driver_lock(out):
        pass


def test_every_executor_runs_under_the_lock_and_collect_takes_it(tmp_path):
    """dask and slurm run inside run_suite (execute / execute_all): the lock is held there."""
    out = tmp_path / "out"
    suite = load_suite(write_suite(tmp_path, THREE))
    where = {"dir": out}

    def busy(_task=None) -> None:
        with pytest.raises(ResultsDirBusy):  # a second open file description of .lock
            os.close(_acquire(where["dir"] / LOCK))

    executor = InProcess(during=busy)
    run_suite(suite, out, executor=executor, progress=False)
    assert executor.executed == 3

    class Batch(InProcess):  # the Slurm shape: all tasks at once, rows through record()
        batches = True

        def execute_all(self, tasks, record, store):
            busy()
            for task in tasks:
                record(task.run, self.execute(task))

        def collect(self, store):
            busy()
            return []

    batch = Batch()
    where["dir"] = tmp_path / "out2"
    run_suite(suite, where["dir"], executor=batch, progress=False)
    assert batch.executed == 3
    from dsm_bench.harness.runner import collect

    assert collect(ResultsStore(where["dir"]), batch, "t") == 0


@pytest.mark.slow
def test_two_real_drivers_on_one_out_run_each_config_once(tmp_path):
    suite = write_suite(tmp_path, THREE + '    _fault = "sleep:1"\n')
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "dsm_bench.cli", "run", "--suite", str(suite), "--out",
           str(out), "--no-report"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    first = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    second = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    results = [p.communicate(timeout=600) + (p.returncode,) for p in (first, second)]
    codes = sorted(r[2] for r in results)
    assert codes == [0, 2], results
    loser = next(r for r in results if r[2] == 2)
    assert "in use by another driver (pid " in loser[1]
    hashes = journal_hashes(out)
    assert len(hashes) == 3 and len(set(hashes)) == 3


# ------------------------------------------------------------ 2. disk full, I/O errors

def test_enospc_stops_starting_runs_and_keeps_every_finished_row(tmp_path, monkeypatch):
    suite = load_suite(write_suite(tmp_path, """
        [[runs]]
        solvers = ["oracle"]
        problems = ["harmonic_1d"]
        seeds = [0, 1, 2, 3, 4]
    """))
    out = tmp_path / "out"
    monkeypatch.setenv(store_module.INJECT_ENV, "enospc:2")
    monkeypatch.setattr(store_module, "_injected_appends", 0)
    executor = InProcess()
    summary = run_suite(suite, out, executor=executor, progress=False)
    assert executor.executed == 3  # the third could not be recorded: nothing started after
    assert not summary.ok
    assert summary.io_error == (f"disk full in {out}: 2 finished, 3 not started; free space "
                                "and run the same command")
    assert str(summary).endswith(summary.io_error)
    assert len(journal_hashes(out)) == 2
    assert (out / "results.jsonl").read_bytes().endswith(b"\n")  # no torn line
    # space freed: the same command runs exactly the rest
    monkeypatch.delenv(store_module.INJECT_ENV)
    again = run_suite(suite, out, executor=InProcess(), progress=False)
    assert again.skipped == 2 and again.ok
    hashes = journal_hashes(out)
    assert len(hashes) == 5 and len(set(hashes)) == 5
    assert pd.read_parquet(out / "results.parquet")["config_hash"].tolist() == hashes


def test_a_run_that_failed_for_lack_of_space_gets_no_row_and_stops_the_sweep(tmp_path):
    suite = load_suite(write_suite(tmp_path, THREE))
    out = tmp_path / "out"

    def no_space(row):
        row.update(status="failed", message="OSError: [Errno 28] No space left on device")
        return row

    executor = InProcess(row=no_space)
    summary = run_suite(suite, out, executor=executor, progress=False)
    assert executor.executed == 1 and journal_hashes(out) == []
    assert summary.io_error.startswith(f"disk full in {out}: 0 finished, 3 not started")


def _tmpfs(path: Path, size: str = "1m") -> None:
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True)
    if done.returncode != 0:
        pytest.skip("mounting a tmpfs is not permitted here")


def _fill(path: Path, leave: int) -> None:
    """Fill the file system of ``path`` until about ``leave`` bytes are free."""
    free = os.statvfs(path).f_bavail * os.statvfs(path).f_frsize
    with open(path / "filler", "wb") as f:
        f.write(b"\0" * max(free - leave, 0))


@pytest.fixture
def tmpfs(tmp_path):
    mount = tmp_path / "tmpfs"
    _tmpfs(mount)
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_a_journal_write_on_a_full_disk_leaves_no_torn_line(tmpfs):
    store = ResultsStore(tmpfs)
    row = {c: None for c in COLUMNS} | {"config_hash": "a", "status": "ok"}
    store.append_journal(row)
    before = store.journal.read_bytes()
    _fill(tmpfs, leave=0)
    with pytest.raises(OSError) as exc:
        store.append_journal(row | {"config_hash": "b", "message": "x" * 200_000})
    assert exc.value.errno == errno.ENOSPC
    assert store.journal.read_bytes() == before
    (tmpfs / "filler").unlink()
    store.append_journal(row | {"config_hash": "c"})
    assert [r["config_hash"] for r in store.rows()] == ["a", "c"]


@pytest.mark.slow
def test_a_sweep_into_a_full_tmpfs_ends_with_the_summary_and_resumes(tmpfs):
    suite = write_suite(tmpfs.parent, THREE)
    out = tmpfs / "out"
    out.mkdir()
    _fill(tmpfs, leave=0)
    done = cli_run("run", "--suite", str(suite), "--out", str(out), "--no-report")
    assert done.returncode == 1, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert (f"disk full in {out}: 0 finished, 3 not started; free space and run the same "
            "command") in done.stdout
    (tmpfs / "filler").unlink()
    again = cli_run("run", "--suite", str(suite), "--out", str(out), "--no-report")
    assert again.returncode == 0, again.stdout + again.stderr[-2000:]
    hashes = journal_hashes(out)
    assert len(hashes) == 3 and len(set(hashes)) == 3


# ------------------------------------------------------------ 3. divergence

def _train(losses, **kw) -> TrainingLoop:
    loop = TrainingLoop("t", target_iters=len(losses), **kw)
    with loop:
        for i, row in enumerate(losses, start=1):
            loop.step_done(i, row)
        loop.finish(__import__("solvers.base", fromlist=["Cost"]).Cost())
    return loop


def test_a_loss_that_grows_past_the_factor_stops_training_naming_term_and_values():
    losses = [{"loss_u": 1.0 / i, "loss_v": 0.5} for i in range(1, 31)]
    losses += [{"loss_u": 1e3 * 2.0**i, "loss_v": 0.5} for i in range(10)]
    with pytest.raises(TrainingDiverged) as exc:
        _train(losses)
    err = exc.value
    # loss_u's minimum is 1/30 and the total's 1/30 + 0.5 = 0.533: 1e3 * 2^3 = 8e3 (iteration
    # 34) is the first value whose total passes 1e4 x 0.533 (loss_u passed 1e4 / 30 before)
    assert (err.term, err.iteration) == ("loss_u", 34)
    assert err.value == pytest.approx(8e3) and err.minimum == pytest.approx(1 / 30)
    assert err.stop_reason == "diverged"
    assert "t: training diverged at iteration 34: loss term loss_u = 8e+03" in str(err)
    assert "divergence_factor=10000" in str(err)


def test_a_non_finite_loss_stops_training_also_during_the_warm_up():
    with pytest.raises(TrainingDiverged, match="diverged at iteration 3: loss term loss_v is nan"):
        _train([{"loss_u": 1.0, "loss_v": v} for v in (1.0, 1.0, np.nan, 1.0)])


def test_healthy_training_and_a_term_that_was_near_zero_do_not_stop():
    rng = np.random.default_rng(0)
    # noisy decay (healthy Adam runs wander by a few x above their best) and an IC term that
    # was fitted to 1e-9 and came back to 1e-4: 1e5 x its minimum, but the total did not grow
    noisy = [{"loss_u": float(np.exp(-i / 50) * rng.uniform(1, 5)), "loss_ic": 1e-9 if i < 100
              else 1e-4} for i in range(1, 301)]
    loop = _train(noisy)
    assert loop.stop_reason == "completed"
    history = loop.history()
    assert history.attrs == {"divergence_factor": 1e4, "divergence_warmup": 15}


def test_the_warm_up_and_the_factor_are_settings():
    blowup = [{"loss": 1.0}] * 5 + [{"loss": 1e6}] * 5
    assert _train(blowup, divergence_warmup=20).stop_reason == "completed"
    assert _train(blowup, divergence_factor=None, divergence_warmup=0).stop_reason == "completed"
    with pytest.raises(TrainingDiverged, match="iteration 6"):
        _train(blowup, divergence_warmup=2)


@pytest.mark.slow
@pytest.mark.parametrize("lr", ["1e6", "1e20"])
def test_solve_of_a_diverging_dsm_exits_1_with_the_message(lr):
    done = cli_run("solve", "dsm", "harmonic_1d_phase", "-q", "--set", f"lr={lr}",
                   "--set", "max_iters=60", "--set", "width=16", "--set", "batch=10",
                   "--set", "M=10", "--set", "n_samples=500", "--set", "n_trials=2")
    assert done.returncode == 1, done.stdout + done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert "TrainingDiverged: dsm: training diverged at iteration" in done.stderr


@pytest.mark.slow
def test_a_diverged_run_is_a_failed_row_with_stop_reason_diverged(tmp_path, faulty_plugin):
    suite = load_suite(plugin_suite(tmp_path, faulty_plugin, "growth = 10.0"))
    out = tmp_path / "out"
    summary = run_suite(suite, out, progress=False)
    row = ResultsStore(out).rows()[0]
    assert (row["status"], row["stop_reason"]) == ("failed", "diverged")
    assert "TrainingDiverged: faulty: training diverged at iteration 11" in row["message"]
    assert "loss_a = 1e+11" in row["message"] and not summary.ok


@pytest.mark.slow
def test_a_run_whose_evaluation_fails_keeps_its_training_cost(tmp_path, faulty_plugin):
    """Paths lost or moments NaN after a long training: the failed row still says how many
    iterations and seconds the training took (nothing learnt about the cost is lost)."""
    suite = load_suite(plugin_suite(tmp_path, faulty_plugin, "nan_moments = true"))
    out = tmp_path / "out"
    run_suite(suite, out, progress=False)
    row = ResultsStore(out).rows()[0]
    assert row["status"] == "failed" and "moments are not finite" in row["message"]
    assert row["iters"] == 40 and row["train_s"] > 0 and row["s_per_iter"] > 0
    assert row["peak_rss_mb"] > 0


# ------------------------------------------------------------ 4. paths outside --out

@pytest.mark.parametrize("name", ["../../escape", "/tmp/escape", "a/b"])
def test_a_suite_name_that_is_not_a_plain_name_is_refused(tmp_path, capsys, name):
    suite = write_suite(tmp_path, THREE, header=HEADER.replace('"t"', json.dumps(name)))
    out = tmp_path / "out"
    assert run_main(run_args(suite=str(suite), out=out)) == 2
    assert "name" in capsys.readouterr().err
    assert cli.main(["check", "--suite", str(suite), "--baseline",
                     str(ROOT / "benchmarks" / "baselines" / "smoke.csv")]) == 2
    assert not out.exists()


@pytest.mark.parametrize("path", ["../outside.txt", "/tmp/outside.txt", "sub/../../outside"])
def test_a_run_path_option_that_escapes_out_is_refused_up_front(tmp_path, capsys, path,
                                                                faulty_plugin):
    suite = plugin_suite(tmp_path, faulty_plugin, f"checkpoint = {json.dumps(path)}")
    out = tmp_path / "out"
    assert run_main(run_args(suite=str(suite), out=out)) == 2
    err = capsys.readouterr().err
    assert f"faulty: checkpoint={path!r} resolves to" in err and "outside the results" in err
    assert not out.exists()


@pytest.mark.slow
def test_a_relative_run_path_lands_inside_out(tmp_path, monkeypatch, faulty_plugin):
    monkeypatch.chdir(tmp_path)  # not the results directory
    suite = load_suite(plugin_suite(tmp_path, faulty_plugin, 'checkpoint = "state.txt"'))
    summary = run_suite(suite, "out", progress=False)
    assert summary.ok, str(summary)
    assert (tmp_path / "out" / "state.txt").read_text() == "state"
    assert not (tmp_path / "state.txt").exists()


def _results_dir(tmp_path: Path, **row) -> Path:
    directory = tmp_path / "results"
    store = ResultsStore(directory)
    base = {c: None for c in COLUMNS} | {"config_hash": "h1", "solver": "oracle",
                                         "problem": "harmonic_1d", "d": 1, "seed": 0,
                                         "status": "ok", "suite": "t"}
    store.append(base | row)
    return directory


def test_report_refuses_an_artifact_path_outside_the_results_dir(tmp_path, capsys):
    (tmp_path / "secret.json").write_text("{}")
    results = _results_dir(tmp_path, artifact="../secret.json")
    out = tmp_path / "report"
    assert cli.main(["report", str(results), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "'../secret.json'" in err and "outside the results directory; refused" in err
    assert not out.exists() and not list(tmp_path.glob(".report*"))


def test_the_default_report_folder_stays_under_reports():
    from reports.build import default_out_dir

    assert default_out_dir("../../escape").parent == Path("reports")
    assert default_out_dir("/abs/name").parent == Path("reports")


# ------------------------------------------------------------ 5. broken tables

def test_a_corrupt_or_stale_table_is_rebuilt_from_the_journal_and_said(tmp_path):
    results = _results_dir(tmp_path)
    (results / "results.parquet").write_bytes(b"garbage, not parquet")
    (results / "results.csv").write_text("a,b\n1,2\n")
    table, notes = load_table(results)
    assert table["config_hash"].tolist() == ["h1"]
    assert any("results.parquet is unreadable (ArrowInvalid" in n and "rebuilt from" in n
               for n in notes)
    assert any("results.csv does not have the results columns: rebuilt" in n for n in notes)
    assert pd.read_parquet(results / "results.parquet")["config_hash"].tolist() == ["h1"]
    (results / "results.csv").unlink()
    assert "results.csv is missing: rebuilt" in load_table(results)[1][0]
    assert load_table(results)[1] == []  # repaired: nothing more to say


def test_the_report_reads_the_journal_past_a_broken_table_and_says_so(tmp_path):
    from reports.data import load_results

    results = _results_dir(tmp_path)
    (results / "results.parquet").write_bytes(b"garbage")
    before = (results / "results.parquet").read_bytes()
    loaded = load_results(results)
    assert loaded.table["config_hash"].tolist() == ["h1"]
    assert any("results.parquet is unreadable (ArrowInvalid" in n and "read results.jsonl"
               in n for n in loaded.notes)
    assert (results / "results.parquet").read_bytes() == before  # the report only reads


def test_check_and_report_on_broken_tables_without_a_journal_exit_2(tmp_path, capsys):
    results = tmp_path / "results"
    results.mkdir()
    (results / "results.parquet").write_bytes(b"garbage")
    baseline = str(ROOT / "benchmarks" / "baselines" / "smoke.csv")
    assert cli.main(["check", "--results", str(results), "--baseline", baseline]) == 2
    assert "results.parquet is unreadable" in capsys.readouterr().err
    (results / "results.parquet").unlink()
    (results / "results.csv").write_text("a,b\n1,2\n")
    out = tmp_path / "report"
    assert cli.main(["report", str(results), "--out", str(out)]) == 2
    assert "lacks the column(s) config_hash, solver, problem, status" in capsys.readouterr().err
    assert not out.exists()


def test_check_compares_a_journal_whose_parquet_is_corrupt(tmp_path, capsys):
    results = _results_dir(tmp_path, mean_err=0.1, var_err=0.1)
    (results / "results.parquet").write_bytes(b"garbage")
    baseline = tmp_path / "baseline.csv"
    assert cli.main(["check", "--results", str(results), "--baseline", str(baseline),
                     "--update-baseline"]) == 0
    assert cli.main(["check", "--results", str(results), "--baseline", str(baseline)]) == 0
    captured = capsys.readouterr()
    assert "results.parquet is unreadable" in captured.err and "rebuilt from" in captured.err


@pytest.mark.parametrize("content", ["", "\x00\x01garbage\x02", "just,some\ncolumns,here\n"])
def test_a_broken_baseline_is_exit_2_naming_the_file(tmp_path, capsys, content):
    results = _results_dir(tmp_path)
    baseline = tmp_path / "baseline.csv"
    baseline.write_text(content)
    assert cli.main(["check", "--results", str(results), "--baseline", str(baseline)]) == 2
    assert f"baseline {baseline}" in capsys.readouterr().err


def test_a_report_that_fails_midway_leaves_no_folder(tmp_path, monkeypatch, capsys):
    import reports.build as build

    results = _results_dir(tmp_path)

    def boom(*a, **k):
        raise RuntimeError("figure failed")

    monkeypatch.setattr(build.figures_, "build_all", boom)
    out = tmp_path / "report"
    with pytest.raises(RuntimeError):
        build.build_report(results, out)
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["results"]


# ------------------------------------------------------------ 6. bad values, up front

@pytest.mark.parametrize("setting, words", [
    ("n_eval_times=1", "n_eval_times=1 must be an integer >= 2"),
    ("max_iters=1.5", "max_iters=1.5 must be an integer >= 1"),
    ("n_samples=500.5", "n_samples=500.5 must be an integer >= 1"),
])
def test_solve_refuses_bad_budget_and_evaluation_values(capsys, setting, words):
    assert cli.main(["solve", "oracle", "harmonic_1d", "-q", "--set", setting]) == 2
    assert words in capsys.readouterr().err


def test_a_suite_refuses_n_eval_times_1(tmp_path, capsys):
    suite = write_suite(tmp_path, THREE, header=HEADER.replace("n_eval_times = 11",
                                                               "n_eval_times = 1"))
    assert run_main(run_args(suite=str(suite), out=tmp_path / "out")) == 2
    assert "n_eval_times" in capsys.readouterr().err


# ------------------------------------------------------------ 7. smaller defects

def test_a_sigkill_is_blamed_on_memory_only_on_memory_evidence(tmp_path):
    log = tmp_path / "log"
    outside = _death_message(-signal.SIGKILL, log, peak_mb=120.0, limit_mb=4000.0,
                             oom_killed=False)
    assert "from outside the harness" in outside and "OOM" not in outside
    near = _death_message(-signal.SIGKILL, log, peak_mb=3900.0, limit_mb=4000.0)
    assert "likely the system OOM killer" in near
    counted = _death_message(-signal.SIGKILL, log, peak_mb=10.0, limit_mb=4000.0, oom_killed=True)
    assert "OOM killer (the cgroup's oom_kill count rose)" in counted


@pytest.mark.slow
def test_a_run_killed_from_outside_is_not_called_an_oom(tmp_path):
    run = load_suite(write_suite(tmp_path, THREE)).runs[0]
    run.fault = "sigkill"  # the run's process kills itself, as an outside `kill -9` would
    row = LocalProcessExecutor().execute(Task(run=run, results_dir=tmp_path / "out"))
    assert row["status"] == "failed"
    assert "killed by SIGKILL from outside the harness" in row["message"]


def test_every_file_of_a_results_directory_has_one_mode(tmp_path):
    suite = load_suite(write_suite(tmp_path, THREE))
    out = tmp_path / "out"
    run_suite(suite, out, executor=InProcess(), progress=False)
    write_json_atomic(out / "runs" / "x.json", {"a": 1})
    modes = {p.name: p.stat().st_mode & 0o777 for p in
             [out / "results.jsonl", out / "results.parquet", out / "results.csv",
              out / "runs" / "x.json", out / LOCK]}
    assert set(modes.values()) == {file_mode()}, modes
    assert not [p for p in out.rglob("*.tmp")]  # temporaries renamed or removed


def test_a_failed_atomic_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "t.json"
    write_json_atomic(target, {"v": 1})
    with pytest.raises(ValueError):
        write_json_atomic(target, {"v": float("nan")})  # strict JSON refuses NaN
    assert json.loads(target.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["t.json"]
