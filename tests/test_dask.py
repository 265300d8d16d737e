"""The Dask executor on a real LocalCluster (2 worker processes): the same rows as the local
executor, and a worker killed mid-run costs no row and duplicates none."""

from __future__ import annotations

import json
import os
import signal
import textwrap
import threading
import time

import pytest
from tiny_suite import ORACLE_AND_GRID
from tiny_suite import write_suite as write_tiny_suite

from dsm_bench.harness.executor import LocalProcessExecutor
from dsm_bench.harness.runner import ResultsStore, run_suite
from dsm_bench.harness.suites import load_suite

pytest.importorskip("distributed")

from dsm_bench.harness.executors.dask import DaskExecutor  # noqa: E402

METRICS = ("mean_err", "var_err", "w1_err", "mean_err_std", "var_err_std", "w1_err_std")


def write_suite(tmp_path, extra: str = ""):
    return load_suite(write_tiny_suite(tmp_path, ORACLE_AND_GRID + textwrap.dedent(extra)))


@pytest.mark.slow
def test_dask_rows_equal_the_local_executors(tmp_path):
    suite = write_suite(tmp_path)
    run_suite(suite, tmp_path / "local", executor=LocalProcessExecutor(), jobs=2, progress=False)
    run_suite(suite, tmp_path / "dask", executor=DaskExecutor(workers=2), progress=False)
    local = ResultsStore(tmp_path / "local").latest()
    dask = ResultsStore(tmp_path / "dask").latest()
    assert set(local) == set(dask) and len(local) == 2
    for config_hash, row in local.items():
        other = dask[config_hash]
        assert row["status"] == other["status"] == "ok"
        assert (row["executor"], other["executor"]) == ("local", "dask")
        assert other["job_id"].startswith(f"dsm-bench-{config_hash}") and other["host"]
        for metric in METRICS:
            if row.get(metric) is None:
                assert other.get(metric) is None
            elif row["solver_deterministic"]:
                # the same grid solve in another process: equal up to rounding
                assert other[metric] == pytest.approx(row[metric], rel=0, abs=1e-12)
            else:
                # sampled metrics: the same seed draws the same samples, bit for bit
                assert other[metric] == row[metric]


@pytest.mark.slow
def test_a_worker_killed_mid_run_is_retried_and_no_row_is_lost_or_doubled(tmp_path):
    suite = write_suite(tmp_path, """
        [[runs]]
        solvers = ["oracle"]
        problems = ["harmonic_1d_phase"]
        _fault = "sleep:8"
    """)
    slow_hash = next(r.to_spec().config_hash() for r in suite.runs if r.fault)
    out = tmp_path / "out"
    executor = DaskExecutor(workers=2).start()
    summary = {}
    sweep = threading.Thread(target=lambda: summary.update(
        s=run_suite(suite, out, executor=executor, progress=False)))
    sweep.start()
    victim = None
    deadline = time.monotonic() + 60
    while victim is None and time.monotonic() < deadline:
        for worker, keys in executor.client.processing().items():
            if any(slow_hash in str(k) for k in keys):
                victim = worker
        time.sleep(0.2)
    assert victim is not None, "the slow run never reached a worker"
    time.sleep(2)  # let its child process start the run
    pid = executor.client.run(os.getpid, workers=[victim])[victim]
    os.kill(pid, signal.SIGKILL)
    sweep.join(timeout=120)
    assert not sweep.is_alive()

    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    hashes = [r["config_hash"] for r in rows]
    assert len(hashes) == len(set(hashes)) == 3  # one row each: none lost, none doubled
    slow = next(r for r in rows if r["config_hash"] == slow_hash)
    # Dask reschedules the task of a lost worker (allowed-failures), so the run is retried
    assert slow["status"] == "ok" and slow["executor"] == "dask"
    assert summary["s"].statuses["ok"] == 3

    again = run_suite(suite, out, progress=False)  # resume: everything is done
    assert again.skipped == 3 and not again.statuses


@pytest.mark.slow
def test_the_local_clusters_scratch_and_the_runs_task_files_stay_under_out(tmp_path):
    """Nothing of a sweep lands in the temporary folder (issue 28, item 8): a killed driver
    or worker leaves its debris in DIR, where its owner looks."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    tmpdir, out = tmp_path / "tmpdir", tmp_path / "out"
    tmpdir.mkdir()
    suite = write_tiny_suite(tmp_path, ORACLE_AND_GRID)
    env = {**os.environ, "TMPDIR": str(tmpdir), "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "dsm_bench.cli", "run", "--suite", str(suite), "--out", str(out),
         "--executor", "dask", "--jobs", "2", "--no-report"],
        cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmpdir.rglob("*")) == []
    assert (out / "dask-scratch" / "dask-scratch-space").is_dir()
    assert list((out / "tmp").iterdir()) == []  # each run's task folder, removed with it
