"""Ctrl-C and SIGTERM stop a parallel sweep (issue 28, item 2): a real ``dsm-bench run
--jobs 2`` subprocess (local processes, or a Dask LocalCluster) gets one real signal once its
first row is in. It starts nothing new, stops its running runs, journals what finished, says
"interrupted: N finished, M not started; run the same command to resume" and exits 130 or
143; the same command then completes the sweep with every run exactly once."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tiny_suite import header, write_suite

from dsm_bench.harness.store import ResultsStore
from dsm_bench.table import read_table_file

ROOT = Path(__file__).resolve().parents[1]
# six runs that each take 4 s beyond their start-up: two run at a time
SIX = """
    [[runs]]
    solvers = ["oracle"]
    problems = ["harmonic_1d"]
    seeds = [0, 1, 2, 3, 4, 5]
    _fault = "sleep:4"
"""


def start(suite: Path, out: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "dsm_bench.cli", "run", "--suite", str(suite), "--out", str(out),
         "--jobs", "2", "--no-report", *extra],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_first_row(out: Path, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if ResultsStore(out).rows():
            return
        time.sleep(0.1)
    raise AssertionError(f"no row appeared (exit {proc.poll()})")


def assert_tables_agree(out: Path) -> list[str]:
    """Journal, parquet and csv hold the same runs, none twice; returns their hashes."""
    hashes = [r["config_hash"] for r in ResultsStore(out).rows()]
    assert len(hashes) == len(set(hashes)), hashes
    for name in ("results.parquet", "results.csv"):
        table = read_table_file(out / name)
        assert sorted(table["config_hash"].astype(str)) == sorted(hashes), name
    return hashes


def runs_alive(out: Path) -> list[str]:
    """Command lines of processes still working in ``out`` (the runs' children)."""
    alive = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(out) in cmdline and "dsm_bench.harness.executor" in cmdline:
            alive.append(cmdline)
    return alive


@pytest.mark.slow
@pytest.mark.parametrize("executor, signum", [
    ("local", signal.SIGINT),
    ("local", signal.SIGTERM),
    pytest.param("dask", signal.SIGINT, marks=pytest.mark.skipif(
        importlib.util.find_spec("distributed") is None, reason="no distributed")),
])
def test_one_signal_stops_a_parallel_sweep_and_the_same_command_resumes(tmp_path, executor,
                                                                        signum):
    suite = write_suite(tmp_path, SIX, head=header(timeout_s=120))
    out = tmp_path / "out"
    proc = start(suite, out, "--executor", executor)
    wait_for_first_row(out, proc)
    sent = time.monotonic()
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=60)
    took = time.monotonic() - sent

    assert proc.returncode == 128 + signum, stderr
    assert "Traceback" not in stderr and "Traceback" not in stdout
    lines = [line for line in stdout.splitlines() if line.startswith("interrupted:")]
    assert len(lines) == 1, stdout
    finished = len(assert_tables_agree(out))
    assert lines[0] == (f"interrupted: {finished} finished, {6 - finished} not started; run "
                        "the same command to resume")
    # at most the two runs in flight finished after the signal; nothing queued started
    assert 1 <= finished <= 3, finished
    assert took < 20, f"{took:.1f} s from the signal to the exit"  # the runs take 4 s each
    assert runs_alive(out) == []
    assert list((out / "tmp").iterdir()) == []  # the stopped runs' scratch went with them

    proc = start(suite, out, "--executor", executor)
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr
    assert f"{finished} already done (skipped), {6 - finished} ok" in stdout
    assert len(assert_tables_agree(out)) == 6
    assert {r["status"] for r in ResultsStore(out).rows()} == {"ok"}
