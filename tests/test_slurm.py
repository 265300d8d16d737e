"""The Slurm executor through submitit: on a real Slurm cluster (marker ``slurm``; start one on
this machine with ``scripts/slurm-local.sh start``), and the same code path on submitit's
LocalExecutor where there is no Slurm."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from tiny_suite import header
from tiny_suite import write_suite as write_tiny_suite

from dsm_bench.harness.runner import configure_parser, main
from dsm_bench.harness.suites import load_suite

pytest.importorskip("submitit")

ORACLE = """
    [[runs]]
    solvers = ["oracle"]
    problems = ["harmonic_1d"]
"""


def slurm_is_up() -> bool:
    if shutil.which("sbatch") is None or shutil.which("sinfo") is None:
        return False
    out = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
    return out.returncode == 0 and any(s in out.stdout for s in ("idle", "mixed", "alloc"))


# CI starts a real one-node Slurm and sets DSM_BENCH_REQUIRE_SLURM=1: there a cluster that is
# down fails the tests instead of skipping them
needs_slurm = pytest.mark.skipif(
    not slurm_is_up() and not os.environ.get("DSM_BENCH_REQUIRE_SLURM"),
    reason="no Slurm cluster (scripts/slurm-local.sh start)")


def command(tmp_path: Path, extra: str = "", config: str = "") -> list[str]:
    suite = write_tiny_suite(tmp_path, ORACLE + textwrap.dedent(extra),
                             head=header(timeout_s=120))
    argv = ["--suite", str(suite), "--out", str(tmp_path / "out"), "--executor", "slurm",
            "--no-report"]
    if config:
        (tmp_path / "slurm.toml").write_text("[executor.slurm]\n" + config)
        argv += ["--executor-config", str(tmp_path / "slurm.toml")]
    return argv


def run_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    configure_parser(parser)
    return main(parser.parse_args(argv))


def journal(tmp_path: Path) -> list[dict]:
    lines = (tmp_path / "out" / "results.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def jobs(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "out" / "slurm" / "jobs.json").read_text())


@pytest.mark.slow
def test_submitit_local_executor_runs_the_same_code_path(tmp_path):
    argv = command(tmp_path, config='cluster = "local"\npoll_s = 0.2\n')
    assert run_main(argv) == 0
    [row] = journal(tmp_path)
    assert row["status"] == "ok" and row["executor"] == "submitit-local"
    assert row["job_id"] == jobs(tmp_path)[row["config_hash"]]["job_id"]
    assert (tmp_path / "out" / row["artifact"]).is_file()
    assert (tmp_path / "out" / "slurm" / "rows" / f"{row['config_hash']}.json").is_file()
    # --collect rebuilds the journal from the rows the jobs left, running nothing
    (tmp_path / "out" / "results.jsonl").unlink()
    assert run_main([*argv, "--collect"]) == 0
    assert journal(tmp_path) == [row]
    assert run_main([*argv, "--collect"]) == 0  # idempotent
    assert journal(tmp_path) == [row]


@pytest.mark.slurm
@needs_slurm
def test_a_suite_runs_as_a_job_array_and_a_rerun_submits_nothing(tmp_path):
    argv = command(tmp_path, """
        [[runs]]
        solvers = ["grid"]
        problems = ["harmonic_1d"]
    """, config="poll_s = 0.2\n")
    assert run_main(argv) == 0
    rows = journal(tmp_path)
    assert [r["status"] for r in rows] == ["ok", "ok"]
    recorded = jobs(tmp_path)
    array_ids = {r["job_id"].split("_")[0] for r in rows}
    assert len(array_ids) == 1  # one resource class: one array
    assert {r["job_id"] for r in rows} == {rec["job_id"] for rec in recorded.values()}
    assert all(r["executor"] == "slurm" and r["host"] for r in rows)
    assert run_main(argv) == 0
    assert jobs(tmp_path) == recorded and len(journal(tmp_path)) == 2


@pytest.mark.slurm
@needs_slurm
def test_a_killed_driver_resubmits_nothing_and_a_cancelled_job_is_a_failed_row(tmp_path):
    argv = command(tmp_path, """
        [[runs]]
        solvers = ["oracle"]
        problems = ["harmonic_1d_phase"]
        _fault = "hang"
    """, config="poll_s = 0.2\n")
    recorded = _kill_driver_once_submitted(argv, tmp_path)
    suite = load_suite(tmp_path / "t.toml")
    hung = recorded[next(r for r in suite.runs if r.fault).to_spec().config_hash()]["job_id"]
    _wait_running(hung)
    subprocess.run(["scancel", hung], check=True)

    assert run_main(argv) == 1  # the cancelled run failed
    assert jobs(tmp_path) == recorded  # nothing was submitted again
    rows = {r["job_id"]: r for r in journal(tmp_path)}
    assert set(rows) == {rec["job_id"] for rec in recorded.values()}
    assert rows[hung]["status"] == "failed"
    assert "JobState=CANCELLED" in rows[hung]["message"]
    assert [r["status"] for j, r in rows.items() if j != hung] == ["ok"]


def _wait_running(job_id: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        out = subprocess.run(["squeue", "-h", "-r", "-j", job_id, "-o", "%T"],
                             capture_output=True, text=True)
        if out.stdout.strip() == "RUNNING":
            return
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} never ran")


# ------------------------------------------------------------ issue 28, item 3 and 6


def _kill_driver_once_submitted(argv: list[str], tmp_path: Path) -> dict:
    """Start a driver, SIGKILL it once its jobs are recorded; the jobs it submitted."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    driver = subprocess.Popen([sys.executable, "-m", "dsm_bench.harness.runner", *argv],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    jobs_path = tmp_path / "out" / "slurm" / "jobs.json"
    deadline = time.monotonic() + 120
    while not jobs_path.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    os.kill(driver.pid, signal.SIGKILL)  # the driver dies; its jobs go on
    driver.wait()
    return jobs(tmp_path)


def _assert_one_ok_row_per_job(tmp_path: Path, recorded: dict) -> None:
    rows = journal(tmp_path)
    assert [r["status"] for r in rows] == ["ok"] * len(recorded), rows
    assert {r["job_id"] for r in rows} == {rec["job_id"] for rec in recorded.values()}
    assert not any("ended without a row" in (r["message"] or "") for r in rows)


@pytest.mark.slow
def test_a_local_job_still_running_after_its_driver_was_killed_is_waited_for(tmp_path):
    argv = command(tmp_path, '    _fault = "sleep:8"\n',
                   config='cluster = "local"\npoll_s = 0.2\n')
    recorded = _kill_driver_once_submitted(argv, tmp_path)
    assert run_main(argv) == 0  # the resume waits for the job, and records its row
    assert jobs(tmp_path) == recorded  # nothing was submitted again
    _assert_one_ok_row_per_job(tmp_path, recorded)


@pytest.mark.slurm
@needs_slurm
def test_a_slurm_job_still_running_after_its_driver_was_killed_is_waited_for(tmp_path):
    argv = command(tmp_path, '    _fault = "sleep:8"\n', config="poll_s = 0.2\n")
    recorded = _kill_driver_once_submitted(argv, tmp_path)
    assert run_main(argv) == 0
    assert jobs(tmp_path) == recorded
    _assert_one_ok_row_per_job(tmp_path, recorded)


def test_collect_adds_a_row_that_arrived_after_its_job_was_called_lost(tmp_path, capsys):
    """An earlier driver gave up on job 4242 (a failed row is in the journal); its ok row
    landed in slurm/rows/ later. --collect adds it, once; the table shows it."""
    from dsm_bench.harness.single_run import failed_row
    from dsm_bench.harness.store import ResultsStore
    from dsm_bench.table import read_table_file

    argv = command(tmp_path, config='cluster = "local"\n')
    spec = load_suite(tmp_path / "t.toml").runs[0].to_spec()
    out = tmp_path / "out"
    lost = failed_row(spec, "failed", "submitit-local job 4242 ended without a row")
    lost.update(job_id="4242", suite="t", executor="submitit-local")
    ResultsStore(out).append(lost)
    done = failed_row(spec, "ok", "")
    done.update(job_id="4242", suite="t", executor="submitit-local",
                finished_at="2099-01-01T00:00:00Z")
    (out / "slurm" / "rows").mkdir(parents=True)
    (out / "slurm" / "rows" / f"{spec.config_hash()}.json").write_text(json.dumps(done))
    (out / "slurm" / "jobs.json").write_text(json.dumps(
        {spec.config_hash(): {"job_id": "4242", "cluster": "local", "array": "cpu"}}))

    assert run_main([*argv, "--collect"]) == 0
    assert "collected 1 row(s)" in capsys.readouterr().out
    assert run_main([*argv, "--collect"]) == 0  # idempotent
    assert "collected 0 row(s)" in capsys.readouterr().out
    assert [r["status"] for r in journal(tmp_path)] == ["failed", "ok"]
    for name in ("results.parquet", "results.csv"):
        assert read_table_file(out / name)["status"].tolist() == ["ok"]


@pytest.mark.slurm
@needs_slurm
def test_sbatch_refusing_a_submission_is_exit_2_and_leaves_no_pickle(tmp_path, capsys):
    argv = command(tmp_path, config='partition = "no-such-partition"\n')
    assert run_main(argv) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip() and "%|" not in line]
    assert len(lines) == 1 and "Traceback" not in err, err  # besides the progress bar
    assert "the scheduler refused array" in lines[0] and "invalid partition" in lines[0]
    assert list((tmp_path / "out" / "slurm").rglob("*.pkl")) == []
    assert not (tmp_path / "out" / "results.jsonl").exists()
