"""Rough inputs of issue 28 (items 5 and 6): each one exits 2 with one line naming the fault,
no traceback and, where a results directory is named, nothing written. Every case goes
through the real command line (``dsm_bench.cli.main``) in this process."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_suite import header, write_suite

from dsm_bench import cli
from dsm_bench.harness.store import ResultsStore
from dsm_bench.schema import COLUMNS
from solvers import unavailable_reason

ONE = """
    [[runs]]
    solvers = ["oracle"]
    problems = ["harmonic_1d"]
"""


def refused(capsys, argv: list[str], *words: str) -> str:
    """Run the command line; assert exit 2, one line on stderr naming ``words``, no traceback."""
    code = cli.main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1 and "Traceback" not in err, err
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def results_dir(tmp_path: Path) -> Path:
    """A results directory with one ok row of the tiny suite."""
    directory = tmp_path / "results"
    row = {c: None for c in COLUMNS} | {"config_hash": "h1", "solver": "oracle",
                                        "problem": "harmonic_1d", "d": 1, "seed": 0,
                                        "status": "ok", "suite": "t", "mean_err": 1e-3,
                                        "n_trials": 2}
    ResultsStore(directory).append(row)
    return directory


# ------------------------------------------------------------ suites and executor settings

def test_a_suite_that_is_not_utf8(tmp_path, capsys):
    suite = tmp_path / "latin.toml"
    suite.write_bytes(b'name = "caf\xe9"\n' + ONE.encode())
    refused(capsys, ["run", "--suite", str(suite), "--out", str(tmp_path / "out")],
            str(suite), "not UTF-8")
    assert not (tmp_path / "out").exists()


def test_an_executor_config_that_is_not_utf8(tmp_path, capsys):
    config = tmp_path / "x.toml"
    config.write_bytes(b"[executor.dask]\n# \xff\xfe\n")
    refused(capsys, ["run", "--suite", str(write_suite(tmp_path, ONE)), "--out",
                     str(tmp_path / "out"), "--executor", "dask", "--executor-config",
                     str(config)], str(config), "not UTF-8")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("table, words", [
    ('[executor.dask]\nconnect_timeout_s = "abc"\n', ["connect_timeout_s", "'abc'", "> 0"]),
    ("[executor.dask]\nconnect_timeout_s = -5\n", ["connect_timeout_s", "-5", "> 0"]),
    ('[executor.dask]\ngpu_for_auto = "no"\n', ["gpu_for_auto", "'no'", "true, false"]),
    ("[executor.slurm]\nmem = 0\n", ["mem", "at least 1 MB"]),
    ('[executor.slurm]\nmem = "0G"\n', ["mem", "at least 1 MB"]),
    ("[executor.slurm]\ntime = 0\n", ["time", "longer than 0"]),
    ('[executor.slurm]\ntime = "00:00:00"\n', ["time", "longer than 0"]),
])
def test_executor_settings_that_cannot_be_meant(tmp_path, capsys, table, words):
    executor = table.split("executor.")[1].split("]")[0]
    config = tmp_path / "x.toml"
    config.write_text(table)
    refused(capsys, ["run", "--suite", str(write_suite(tmp_path, ONE)), "--out",
                     str(tmp_path / "out"), "--executor", executor, "--executor-config",
                     str(config)], *words)
    assert not (tmp_path / "out").exists()


def test_a_300_character_suite_name_is_capped(tmp_path, capsys):
    name = "a" * 300
    suite = write_suite(tmp_path, ONE, head=header().replace('name = "t"', f'name = "{name}"'))
    refused(capsys, ["run", "--suite", str(suite), "--out", str(tmp_path / "out")],
            "suite name", "(300 characters)", "at most 100")


@pytest.mark.parametrize("out", ["/proc/dsm-bench-out", "/proc/self/dsm-bench-out"])
def test_an_out_under_proc(tmp_path, capsys, out):
    refused(capsys, ["run", "--suite", str(write_suite(tmp_path, ONE)), "--out", out,
                     "--no-report"], out)


# ------------------------------------------------------------ solve

def test_solve_of_a_solver_without_its_extra_gives_the_install_hint(capsys):
    reason = unavailable_reason("tvmc")
    if reason is None:
        pytest.skip("the tvmc extra is installed here")
    refused(capsys, ["solve", "tvmc", "harmonic_1d"], "tvmc", "unavailable", "pip install")


def test_solve_json_onto_a_directory(tmp_path, capsys):
    refused(capsys, ["solve", "grid", "harmonic_1d", "-q", "--json", str(tmp_path)],
            "--json", "is a directory")


# ------------------------------------------------------------ check

def baseline_text(**changes: str) -> str:
    """The baseline check --update-baseline writes for ``results_dir``, with cells changed."""
    row = {"solver": "oracle", "problem": "harmonic_1d", "d": "1", "seed": "0",
           "config_hash": "h1", "status": "ok", "n_trials": "2", "mean_err": "0.001"}
    row.update(changes)
    keys = [k for k in row if row[k] is not None]
    return ",".join(keys) + "\n" + ",".join(row[k] for k in keys) + "\n"


@pytest.mark.parametrize("changes, words", [
    ({"mean_err": "abc"}, ["row 1", "column mean_err", "'abc'", "not a number"]),
    ({"seed": "abc"}, ["row 1", "column seed", "'abc'", "not an integer"]),
    ({"seed": ""}, ["row 1", "column seed", "blank"]),
    ({"seed": None}, ["lacks the column(s) seed"]),
    ({"d": None}, ["lacks the column(s) d"]),
])
def test_a_baseline_value_that_does_not_parse_is_an_error_not_new(tmp_path, capsys, changes,
                                                                   words):
    results = results_dir(tmp_path)
    baseline = tmp_path / "baseline.csv"
    baseline.write_text(baseline_text(**changes))
    refused(capsys, ["check", "--results", str(results), "--baseline", str(baseline)],
            f"baseline {baseline}", *words)


def test_the_gate_still_fails_a_result_1000_times_worse(tmp_path, capsys):
    """The counterpart of the "abc" case: with a number there, the same results regress."""
    results = results_dir(tmp_path)
    baseline = tmp_path / "baseline.csv"
    baseline.write_text(baseline_text(mean_err="0.000001"))
    assert cli.main(["check", "--results", str(results), "--baseline", str(baseline)]) == 1
    assert "REGRESSION" in capsys.readouterr().out


def test_update_baseline_onto_a_directory(tmp_path, capsys):
    refused(capsys, ["check", "--results", str(results_dir(tmp_path)), "--baseline",
                     str(tmp_path), "--update-baseline"], str(tmp_path), "not a file")


def test_check_jobs_0(tmp_path, capsys):
    refused(capsys, ["check", "--suite", str(write_suite(tmp_path, ONE)), "--jobs", "0"],
            "--jobs must be >= 1")


# ------------------------------------------------------------ report and run on foreign journals

def test_report_on_a_journal_that_is_a_directory(tmp_path, capsys):
    (tmp_path / "results" / "results.jsonl").mkdir(parents=True)
    refused(capsys, ["report", str(tmp_path / "results"), "--out", str(tmp_path / "r")],
            "results.jsonl is not a file")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("text", ["not json\n{also not}\n", "\n\n", '{"no": "hash"}\n'])
def test_report_on_a_journal_with_no_readable_row(tmp_path, capsys, text):
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "results.jsonl").write_text(text)
    refused(capsys, ["report", str(tmp_path / "results"), "--out", str(tmp_path / "r")],
            "results.jsonl", "no readable row" if text.strip() else "no results row")
    assert not (tmp_path / "r").exists()


def test_run_into_a_directory_whose_journal_is_a_directory(tmp_path, capsys):
    (tmp_path / "out" / "results.jsonl").mkdir(parents=True)
    refused(capsys, ["run", "--suite", str(write_suite(tmp_path, ONE)), "--out",
                     str(tmp_path / "out"), "--no-report"], "results.jsonl",
            "not a regular file")


def test_run_into_a_directory_with_a_foreign_journal(tmp_path, capsys):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "results.jsonl").write_text("these are my notes\n")
    refused(capsys, ["run", "--suite", str(write_suite(tmp_path, ONE)), "--out",
                     str(tmp_path / "out"), "--no-report"], "no readable row")
    assert (tmp_path / "out" / "results.jsonl").read_text() == "these are my notes\n"


# ------------------------------------------------------------ what the estimates know cannot run

def test_a_time_grid_too_large_to_hold_is_refused(capsys):
    """10^13 steps: the time grid alone would need 80 TB (every solver builds it)."""
    refused(capsys, ["solve", "dsm", "harmonic_1d", "--set", "n_steps=10000000000000"],
            "n_steps=10000000000000", "[1, 1e+07]")


def test_a_horizon_that_overflows_dsm_weighting_is_refused(capsys):
    """T = 1e308: the authors' weight exp(2 (T - t)) overflows float32 beyond T = 44."""
    refused(capsys, ["solve", "dsm", "harmonic_1d", "--set", "T=1e308"],
            "overflows float32", "time_weighting='uniform'")
