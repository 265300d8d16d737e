"""The sweep runner: durable rows, resume, isolation of crashes / OOM / hangs, bad input.

Real processes and real limits throughout; the faults are injected with the suite's
test-only ``_fault`` field, executed by the run's child process before the run. The runs
are the oracle (no training) on tiny time grids, so each costs about a process start-up.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from tiny_suite import header, write_suite

from dsm_bench.harness.executor import LocalProcessExecutor, Task
from dsm_bench.harness.runner import ResultsStore, main, read_results, run_suite
from dsm_bench.harness.suites import load_suite
from dsm_bench.schema import COLUMNS
from reference import exact
from reference.problems import get_problem

# every run of these suites: the oracle (exact drift, no training) on 50 time steps
HEADER = header()


def journal_hashes(out: Path) -> list[str]:
    return [json.loads(line)["config_hash"]
            for line in (out / "results.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_faults_become_rows_and_the_sweep_goes_on(tmp_path):
    suite = load_suite(write_suite(tmp_path, """
        [[runs]]
        solvers = ["oracle"]
        problems = ["harmonic_1d"]
        _fault = "raise"
        [[runs]]
        solvers = ["oracle"]
        problems = ["harmonic_1d_phase"]
        _fault = "oom"
        limits = { memory_mb = 300 }
        [[runs]]
        solvers = ["oracle"]
        problems = ["free_singular"]
        _fault = "hang"
        limits = { timeout_s = 4 }
        [[runs]]
        solvers = ["oracle"]
        problems = ["bosons"]
        d = [2]
        [[runs]]
        solvers = ["oracle"]
        problems = ["harmonic"]
        d = [2]
    """))
    out = tmp_path / "out"
    summary = run_suite(suite, out, progress=False)
    table = pd.read_parquet(out / "results.parquet")
    assert list(table.columns) == COLUMNS
    assert len(table) == 5 and table["config_hash"].is_unique
    by_problem = table.set_index("problem")

    raised = by_problem.loc["harmonic_1d"]
    assert raised["status"] == "failed"
    assert raised["message"] == "RuntimeError: injected fault: raise"

    oom = by_problem.loc["harmonic_1d_phase"]
    assert oom["status"] == "failed"
    assert oom["message"].startswith("memory limit exceeded")
    # killed on the first poll above the limit: 50 MiB steps every 20 ms vs a 50 ms poll
    assert 300 < oom["peak_rss_mb"] < 300 + 500

    hung = by_problem.loc["free_singular"]
    assert hung["status"] == "timeout" and "wall-time limit of 4 s" in hung["message"]
    assert hung["wall_s"] >= 4

    infeasible = by_problem.loc["bosons"]
    assert infeasible["status"] == "infeasible" and "declares no reference with one" in infeasible["message"]
    assert infeasible["d"] == 2

    # the run after the faults still ran, in its own process, and is right: the oracle
    # samples the exact law, so its variance error is sampling noise of 2 x 400 samples
    # (relative std of a variance estimate ~ sqrt(2 / 400) = 0.07; 0.3 is > 4 sigma)
    ok = by_problem.loc["harmonic"]
    assert ok["status"] == "ok" and ok["message"] == ""
    assert ok["var_err"] < 0.3
    assert ok["peak_rss_mb"] > 0 and ok["d"] == 2
    artifact = json.loads((out / ok["artifact"]).read_text())
    problem = get_problem("harmonic", d=2, n_steps=50)
    times = artifact["series"]["times"]
    assert artifact["row"]["config_hash"] == ok["config_hash"]
    assert artifact["series"]["ref_var"] == pytest.approx(
        list(exact.gaussian_packet_variance(problem, pd.Series(times).to_numpy())), rel=1e-9)

    assert summary.statuses == {"failed": 2, "timeout": 1, "infeasible": 1, "ok": 1}
    assert not summary.ok
    # the CSV twin holds the same rows
    assert (pd.read_csv(out / "results.csv")["config_hash"].tolist()
            == table["config_hash"].tolist())


@pytest.mark.slow
def test_killed_sweep_loses_nothing_and_repeats_nothing(tmp_path):
    path = write_suite(tmp_path, """
        [[runs]]
        solvers = ["oracle"]
        problems = ["harmonic_1d", "harmonic_1d_phase", "free_singular"]
        _fault = "sleep:0.5"
        [[runs]]
        solvers = ["oracle"]
        problems = ["harmonic"]
        d = [2]
        _fault = "sleep:0.5"
    """)
    out = tmp_path / "out"
    env = {**os.environ, "TMPDIR": str(tmp_path)}  # the runs' task files: findable below
    runner = subprocess.Popen(
        [sys.executable, "-m", "dsm_bench.harness.runner", "--suite", str(path), "--out", str(out),
         "--no-report"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    journal = out / "results.jsonl"
    while time.monotonic() < deadline and runner.poll() is None:
        if journal.exists() and journal.read_text().count("\n") >= 1:
            break
        time.sleep(0.05)
    assert runner.poll() is None, "the sweep ended before it could be killed"
    runner.send_signal(signal.SIGKILL)
    runner.wait()
    before = ResultsStore(out).rows()
    assert 1 <= len(before) < 4
    # the run in flight died with the runner (no orphan still computing)
    time.sleep(0.5)
    assert not [p for p in _processes_mentioning(str(tmp_path)) if "dsm_bench.harness.executor" in p]

    summary = run_suite(load_suite(path), out, progress=False)
    assert summary.skipped == len(before)
    hashes = journal_hashes(out)
    assert len(hashes) == 4 and len(set(hashes)) == 4  # all there, none repeated
    after = ResultsStore(out).latest()
    for row in before:  # the finished rows are untouched
        assert after[row["config_hash"]] == row
    table = read_results(out)
    assert (table["status"] == "ok").all() and len(table) == 4


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if text in cmd:
                found.append(cmd)
    return found


@pytest.mark.slow
def test_resume_skips_finished_and_retry_failed_reruns_the_rest(tmp_path):
    faulty = write_suite(tmp_path, """
        [[runs]]
        solvers = ["oracle"]
        problems = ["harmonic_1d"]
        [[runs]]
        solvers = ["oracle"]
        problems = ["free_singular"]
        _fault = "raise"
    """, name="faulty.toml")
    out = tmp_path / "out"
    first = run_suite(load_suite(faulty), out, progress=False)
    assert first.statuses == {"ok": 1, "failed": 1}

    again = run_suite(load_suite(faulty), out, progress=False)  # nothing to do
    assert again.skipped == 2 and sum(again.statuses.values()) == 0

    # the fault is not part of the config: the same runs, now healthy
    fixed = write_suite(tmp_path, """
        [[runs]]
        solvers = ["oracle"]
        problems = ["harmonic_1d", "free_singular"]
    """, name="fixed.toml")
    retried = run_suite(load_suite(fixed), out, retry_failed=True, progress=False)
    assert retried.skipped == 1 and retried.statuses == {"ok": 1}
    hashes = journal_hashes(out)
    assert len(hashes) == 3 and len(set(hashes)) == 2  # the journal keeps the failed attempt
    table = read_results(out)
    assert len(table) == 2 and (table["status"] == "ok").all()  # the table, the latest rows


@pytest.mark.slow
def test_resume_reruns_a_row_whose_defaults_changed_since(tmp_path):
    """The config hash names the request (overrides only); a row written when a default was
    different (here: the oracle's dtype, as before stop 11) is stale and is redone."""
    suite = load_suite(write_suite(tmp_path, """
        [[runs]]
        solvers = ["oracle"]
        problems = ["harmonic_1d"]
    """))
    out = tmp_path / "out"
    run_suite(suite, out, progress=False)
    journal = out / "results.jsonl"
    row = json.loads(journal.read_text())
    resolved = json.loads(row["resolved_config"])
    assert resolved["solver"]["dtype"] == "float32" and resolved["problem"]["n_steps"] == 50
    resolved["solver"]["dtype"] = "float64"  # the row as older code wrote it
    row["resolved_config"] = json.dumps(resolved, sort_keys=True)
    journal.write_text(json.dumps(row) + "\n")

    again = run_suite(suite, out, progress=False)
    assert again.skipped == 0 and again.statuses == {"ok": 1}
    assert again.stale == ["oracle/harmonic_1d seed=0: solver.dtype 'float64' -> 'float32'"]
    assert "defaults changed" in str(again)
    assert run_suite(suite, out, progress=False).skipped == 1  # the new row is current


@pytest.mark.slow
def test_parallel_jobs_and_unavailable_solver(tmp_path, monkeypatch):
    from solvers import registry

    registry.solver_names()  # discover the built-ins and entry points first
    monkeypatch.setitem(registry._SOLVERS._targets, "ghost", "solvers.ghost_not_written:Ghost")
    monkeypatch.setitem(registry._SOLVERS._origins, "ghost", "a test")
    suite = load_suite(write_suite(tmp_path, """
        [[runs]]
        solvers = ["oracle", "ghost"]
        problems = ["harmonic_1d", "harmonic_1d_phase"]
    """))
    out = tmp_path / "out"
    summary = run_suite(suite, out, jobs=2, progress=False)
    table = read_results(out)
    assert summary.statuses == {"ok": 2, "infeasible": 2}  # unavailable: an optional dependency is missing
    ghost = table[table["solver"] == "ghost"]
    assert ghost["message"].str.contains("solver 'ghost' is unavailable").all()
    assert (table[table["solver"] == "oracle"]["status"] == "ok").all()


def test_executor_reports_a_crash_with_the_log_tail(tmp_path):
    """A child that dies without a result (here: a Python that exits at once)."""
    suite = load_suite(write_suite(tmp_path, """
        [[runs]]
        solvers = ["oracle"]
        problems = ["harmonic_1d"]
    """))
    fake_python = tmp_path / "python"
    fake_python.write_text("#!/bin/sh\necho 'Fatal Python error: simulated' >&2\nkill -9 $$\n")
    fake_python.chmod(0o755)
    row = LocalProcessExecutor(python=str(fake_python)).execute(
        Task(run=suite.runs[0], results_dir=tmp_path / "out"))
    assert row["status"] == "failed"
    assert "killed by SIGKILL" in row["message"] and "simulated" in row["message"]
    assert set(COLUMNS) <= set(row)


def _args(**kw) -> argparse.Namespace:
    base = dict(suite="smoke", out=None, retry_failed=False, verbose=False, no_report=True,
                jobs=1, only=[])
    return argparse.Namespace(**{**base, **kw})


def test_unknown_suite_exits_2_listing_suites_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(_args(suite="nope", out=out)) == 2
    err = capsys.readouterr().err
    assert "unknown suite 'nope'; valid suites:" in err and "smoke" in err
    assert not out.exists()


def test_invalid_suite_exits_2_and_writes_nothing(tmp_path, capsys):
    path = write_suite(tmp_path, """
        [[runs]]
        solvers = ["oracle"]
        problems = ["harmonic_1d"]
        [runs.options.oracle]
        widht = 3
    """)
    out = tmp_path / "out"
    assert main(_args(suite=str(path), out=out)) == 2
    assert "unknown option(s) widht" in capsys.readouterr().err
    assert not out.exists()


def test_bad_only_exits_2_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(_args(out=out, only=["solvers=dsm"])) == 2
    assert "unknown selection key 'solvers'; valid keys: solver, problem, d, seed" in \
        capsys.readouterr().err
    assert main(_args(out=out, only=["solver=grid", "d=100"])) == 2
    assert "selects none of the" in capsys.readouterr().err
    assert not out.exists()


def test_unwritable_out_exits_2(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    assert main(_args(out=blocker / "out")) == 2
    assert "not a directory" in capsys.readouterr().err
    assert main(_args(out=blocker)) == 2
    assert "exists and is not a directory" in capsys.readouterr().err
    if os.geteuid() != 0:  # root may write anywhere: permissions cannot be tested as root
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        assert main(_args(out=locked / "out")) == 2
        assert not (locked / "out").exists()


def test_empty_store_and_torn_journal_line(tmp_path):
    store = ResultsStore(tmp_path)
    assert store.rows() == [] and len(store.table()) == 0
    row = {c: None for c in COLUMNS} | {"config_hash": "abc", "status": "ok", "d": 1}
    store.append(row)
    with open(store.journal, "a") as f:  # a kill in the middle of a write
        f.write('{"config_hash": "def", "stat')
    assert [r["config_hash"] for r in store.rows()] == ["abc"]
    store.append(row | {"config_hash": "ghi"})  # the next row starts on a fresh line
    assert [r["config_hash"] for r in store.rows()] == ["abc", "ghi"]
    assert pd.read_parquet(tmp_path / "results.parquet")["config_hash"].tolist() == ["abc", "ghi"]


def test_threads_column_is_the_blas_limit_when_torch_is_not_loaded():
    """The grid runs on numpy/scipy alone: its row must report the BLAS threads the executor
    set (OMP_NUM_THREADS), not the CPU count."""
    code = ("import sys; from solvers.base import Cost; "
            "print('torch' in sys.modules, Cost().threads)")
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    root = Path(__file__).resolve().parents[1]
    limited = subprocess.run([sys.executable, "-c", code], env=env | {"OMP_NUM_THREADS": "1"},
                             cwd=root, capture_output=True, text=True, check=True)
    assert limited.stdout.split() == ["False", "1"]
    free = subprocess.run([sys.executable, "-c", code], env=env, cwd=root,
                          capture_output=True, text=True, check=True)
    assert free.stdout.split() == ["False", str(os.cpu_count() or 1)]
