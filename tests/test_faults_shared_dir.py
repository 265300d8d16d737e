"""A results directory that others can write (issue 28, items 1 and 8): a symbolic link
planted where the driver or a run writes is refused with exit 2 naming it, and its target is
never written; were it planted after the check, ``O_NOFOLLOW`` refuses it at the open. Also:
each run's scratch (task.json) stays under DIR, and a plugin is imported once per process."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from test_faults import InProcess
from test_faults_inputs import refused
from tiny_suite import header, write_suite

from dsm_bench.harness.confined import UnsafePath, subdir
from dsm_bench.harness.executor import LocalProcessExecutor, Task
from dsm_bench.harness.runner import run_suite
from dsm_bench.harness.store import LOCK, ResultsStore, _acquire
from dsm_bench.harness.suites import load_suite
from dsm_bench.table import read_table_file

ROOT = Path(__file__).resolve().parents[1]
ONE = """
    [[runs]]
    solvers = ["oracle"]
    problems = ["harmonic_1d"]
"""
VICTIM = "a file someone else owns\n"


def config_hash(suite: Path) -> str:
    return load_suite(suite).runs[0].to_spec().config_hash()


def plant(out: Path, name: str, target: Path) -> Path:
    link = out / name
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)
    return link


def victim(tmp_path: Path) -> Path:
    path = tmp_path / "victim.txt"
    path.write_text(VICTIM)
    return path


# ------------------------------------------------------------ refused before anything runs

@pytest.mark.parametrize("name", [".lock", "results.jsonl", "results.parquet", "results.csv",
                                  "logs/HASH.log", "runs/HASH.json", "slurm/jobs.json"])
def test_a_file_link_in_out_is_refused_and_its_target_untouched(tmp_path, capsys, name):
    suite = write_suite(tmp_path, ONE)
    out, target = tmp_path / "out", victim(tmp_path)
    link = plant(out, name.replace("HASH", config_hash(suite)), target)
    refused(capsys, ["run", "--suite", str(suite), "--out", str(out), "--no-report"],
            str(link), "symbolic link", str(target))
    assert target.read_text() == VICTIM
    assert not (out / "results.jsonl").is_file() or name == "results.jsonl"


@pytest.mark.parametrize("name", ["runs", "logs", "tmp", "slurm", "dask-scratch"])
def test_a_directory_link_in_out_is_refused_and_nothing_lands_outside(tmp_path, capsys, name):
    suite = write_suite(tmp_path, ONE)
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    elsewhere.mkdir()
    link = plant(out, name, elsewhere)
    refused(capsys, ["run", "--suite", str(suite), "--out", str(out), "--no-report"],
            str(link), "symbolic link")
    assert list(elsewhere.iterdir()) == []


def test_check_out_refuses_a_link_too(tmp_path, capsys):
    suite = write_suite(tmp_path, ONE)
    out, target = tmp_path / "out", victim(tmp_path)
    plant(out, ".lock", target)
    baseline = tmp_path / "b.csv"
    refused(capsys, ["check", "--suite", str(suite), "--out", str(out), "--baseline",
                     str(baseline), "--update-baseline"], ".lock", "symbolic link")
    assert target.read_text() == VICTIM and not baseline.exists()


def test_out_itself_may_be_a_link(tmp_path):
    real, out = tmp_path / "real", tmp_path / "out"
    real.mkdir()
    out.symlink_to(real)
    suite = load_suite(write_suite(tmp_path, ONE))
    summary = run_suite(suite, out, executor=InProcess(), progress=False)
    assert summary.ok and summary.statuses["ok"] == 1
    assert [r["status"] for r in ResultsStore(real).rows()] == ["ok"]
    assert (real / LOCK).is_file() and (real / "results.parquet").is_file()


# ------------------------------------------------------------ planted after the check: O_NOFOLLOW

def test_the_journal_is_never_appended_through_a_link(tmp_path):
    out, target = tmp_path / "out", victim(tmp_path)
    plant(out, "results.jsonl", target)
    with pytest.raises(UnsafePath, match="results.jsonl is a symbolic link"):
        ResultsStore(out).append_journal({"config_hash": "h", "status": "ok"})
    assert target.read_text() == VICTIM


def test_the_lock_is_never_opened_through_a_link(tmp_path):
    out, target = tmp_path / "out", victim(tmp_path)
    plant(out, LOCK, target)
    with pytest.raises(UnsafePath, match=r"\.lock is a symbolic link"):
        _acquire(out / LOCK)
    assert target.read_text() == VICTIM


def test_a_run_never_truncates_a_linked_log(tmp_path):
    suite = load_suite(write_suite(tmp_path, ONE))
    run = suite.runs[0]
    out, target = tmp_path / "out", victim(tmp_path)
    plant(out, f"logs/{run.to_spec().config_hash()}.log", target)
    with pytest.raises(UnsafePath, match="is a symbolic link"):
        LocalProcessExecutor().execute(Task(run=run, results_dir=out))
    assert target.read_text() == VICTIM


def test_a_sweep_that_meets_a_link_stops_and_says_so(tmp_path):
    """Planted between the check and the run: the sweep stops starting runs, names it."""
    suite = load_suite(write_suite(tmp_path, ONE))
    out, target = tmp_path / "out", victim(tmp_path)
    plant(out, f"logs/{suite.runs[0].to_spec().config_hash()}.log", target)
    summary = run_suite(suite, out, executor=LocalProcessExecutor(), progress=False)
    assert not summary.ok and "is a symbolic link" in summary.io_error
    assert "0 finished, 1 not started" in summary.io_error
    assert target.read_text() == VICTIM and ResultsStore(out).rows() == []


def test_a_subdirectory_that_resolves_outside_is_refused(tmp_path):
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    (elsewhere / "logs").mkdir(parents=True)
    out.mkdir()
    (out / "slurm").symlink_to(elsewhere)
    with pytest.raises(UnsafePath, match="slurm is a symbolic link"):
        subdir(out, "slurm/rows")
    assert not (elsewhere / "rows").exists()  # not even an empty folder made through it
    (out / "runs").symlink_to(tmp_path)  # a link inside DIR's tree but to its parent
    with pytest.raises(UnsafePath, match="runs is a symbolic link"):
        subdir(out, "runs")
    (out / "runs").unlink()
    assert subdir(out, "runs") == Path(os.path.realpath(out)) / "runs"


# ------------------------------------------------------------ hygiene

@pytest.mark.slow
def test_a_runs_task_file_lives_under_out_and_is_removed(tmp_path):
    suite = load_suite(write_suite(tmp_path, ONE + '    _fault = "sleep:3"\n',
                                   head=header(timeout_s=120)))
    out = tmp_path / "out"
    seen: list[Path] = []

    def watch() -> None:
        deadline = time.monotonic() + 60
        while not seen and time.monotonic() < deadline:
            seen.extend((out / "tmp").glob("run-*/task.json"))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    summary = run_suite(suite, out, executor=LocalProcessExecutor(), progress=False)
    watcher.join()
    assert summary.ok and len(seen) == 1
    assert list((out / "tmp").iterdir()) == []  # removed with the run


PLUGIN = """
import os
with open(os.environ["IMPORT_LOG"], "a") as f:
    f.write(f"{os.getpid()}\\n")
from solvers.grid import GridSolver

class Counted(GridSolver):
    name = "counted"
    label = "counted grid"
"""


@pytest.mark.slow
def test_a_plugin_is_imported_once_per_process(tmp_path):
    (tmp_path / "counted.py").write_text(PLUGIN)
    suite = write_suite(tmp_path, """
        [[runs]]
        solvers = ["counted"]
        problems = ["harmonic_1d"]
        seeds = [0, 1, 2]
    """, head=header().replace('name = "t"', 'name = "t"\n    plugins = ["counted.py"]'))
    log = tmp_path / "imports.log"
    env = {**os.environ, "IMPORT_LOG": str(log), "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "dsm_bench.cli", "run", "--suite", str(suite), "--out",
           str(tmp_path / "out"), "--no-report"]
    for expected_runs in (3, 0):  # the sweep, then a resume that runs nothing
        log.write_text("")
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, done.stderr
        pids = log.read_text().split()
        # the driver once, and each run's own process once
        assert len(pids) == len(set(pids)) == 1 + expected_runs, pids
    table = read_table_file(tmp_path / "out" / "results.csv")
    assert sorted(table["seed"]) == [0, 1, 2]
