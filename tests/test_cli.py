"""The command line: bad input exits 2 with a one-line message naming the valid choices."""

import json
import subprocess
import sys

import pytest

from dsm_bench.cli import main
from dsm_bench.harness.settings import parse_settings, parse_value, split_settings


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dsm_bench.cli", *args], capture_output=True,
                          text=True, timeout=300)


def test_parse_value_types():
    assert parse_value("3") == 3 and parse_value("1e-3") == 1e-3
    assert parse_value("true") is True and parse_value("None") is None
    assert parse_value("tanh") == "tanh"


def _choices(constraint) -> list:
    from solvers.options import AnyOf, Choice, NoneOr

    if isinstance(constraint, Choice):
        return list(constraint.values)
    if isinstance(constraint, AnyOf):
        return _choices(constraint.first) + _choices(constraint.second)
    if isinstance(constraint, NoneOr):
        return _choices(constraint.inner)
    return []


@pytest.mark.parametrize("solver", ["grid", "dsm", "oracle", "pinn"])
def test_every_declared_choice_survives_the_command_line(solver):
    """A choice spelled like a literal ('none', 'true') would reach the solver as None / True
    from --set (DSM's time_weighting 'none' did, until it became 'uniform')."""
    from solvers import solver_class

    for key, spec in solver_class(solver).option_specs.items():
        for choice in _choices(spec.constraint):
            if isinstance(choice, str):
                assert parse_value(choice) == choice, (key, choice)


def test_settings_are_routed():
    options, problem, budget, evaluation = split_settings(
        parse_settings(["width=64", "hbar=0.02", "max_seconds=5", "n_samples=100"]))
    assert options == {"width": 64} and problem == {"hbar": 0.02}
    assert budget == {"max_seconds": 5} and evaluation == {"n_samples": 100}


def test_list_names_problems_and_solvers(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("harmonic_1d", "free_singular", "bosons", "grid", "dsm", "oracle", "pinn"):
        assert name in out


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["solve", "grdi", "harmonic_1d"], "valid solvers: grid, dsm, oracle, pinn"),
        (["solve", "grid", "harmonik"], "valid problems: harmonic_1d"),
        (["solve", "grid", "harmonic", "--d", "0"], "1 <= d <= 100"),
        (["solve", "grid", "harmonic_1d", "--set", "hbar"], "malformed --set 'hbar'"),
        (["solve", "grid", "harmonic_1d", "--set", "hbar=-1"], "hbar=-1 must be"),
        (["solve", "grid", "harmonic_1d", "--set", "no_such_option=1"], "valid options:"),
        (["solve", "grid", "harmonic_1d", "--set", "max_seconds=0"], "max_seconds=0"),
        # integer settings are never truncated, and an L2 over time needs two times
        (["solve", "dsm", "harmonic_1d", "--set", "max_iters=1.5"],
         "--set max_iters=1.5 must be an integer >= 1"),
        (["solve", "dsm", "harmonic_1d", "--set", "n_samples=500.5"],
         "--set n_samples=500.5 must be an integer >= 1"),
        (["solve", "grid", "harmonic_1d", "--set", "n_eval_times=1"],
         "--set n_eval_times=1 must be an integer >= 2"),
        (["solve", "grid", "harmonic_1d", "--json", "/nonexistent/dir/x.json"], "not writable"),
    ],
)
def test_bad_input_exits_2_with_one_line(args, fragment, capsys, tmp_path):
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err
    assert len(err.splitlines()) == 1


def test_solve_grid_writes_json(tmp_path):
    out = tmp_path / "grid.json"
    proc = run_cli("solve", "grid", "harmonic_1d", "--json", str(out), "-q")
    assert proc.returncode == 0, proc.stderr
    assert "mean_err" in proc.stdout and "train_s" in proc.stdout
    artifact = json.loads(out.read_text())
    row = artifact["row"]
    assert row["status"] == "ok" and row["reference"] == "exact"
    # the default 1-D grid meets the 1e-4 accuracy target (tests/test_grid.py asserts it too)
    assert row["var_err"] <= 1e-4 and row["mean_err"] <= 1e-4
    series = artifact["series"]
    assert len(series["times"]) == len(series["mean"]) == len(series["ref_mean"]) == 101
    assert row["git_commit"] and json.loads(row["versions"])["numpy"]
