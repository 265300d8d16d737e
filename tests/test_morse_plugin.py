"""The example problem plugin, end to end, as a user would add it: installed as a package
with an entry point, then listed, solved by the grid, DSM and the PINN, run in a suite, gated
against its baseline and drawn in the report under its own label. No file of this repository
outside examples/morse names it.

The package is installed into a temporary folder that the commands find on PYTHONPATH
(``example_packages``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from example_packages import cli, install_example

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "morse"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict[str, str]:
    return install_example("morse", tmp_path_factory.mktemp("morse"))


def test_the_entry_point_makes_it_a_problem(installed):
    out = cli(installed, "list")
    assert out.returncode == 0, out.stderr
    assert "morse" in out.stdout and "Morse oscillator" in out.stdout
    out = cli(installed, "list", "--problem", "morse")
    assert out.returncode == 0, out.stderr
    assert "well_depth" in out.stdout and "stiffness" in out.stdout


@pytest.mark.parametrize("solver", ["grid", "dsm", "pinn"])
def test_each_solver_solves_it(installed, solver):
    budget = {"grid": [], "dsm": ["--set", "max_iters=5", "--set", "width=16"],
              "pinn": ["--set", "max_iters=5", "--set", "width=16", "--set", "num_domain=200"]}
    out = cli(installed, "solve", solver, "morse", "-q", "--set", "n_steps=100",
              "--set", "n_samples=500", "--set", "n_trials=2", *budget[solver])
    assert out.returncode == 0, out.stdout + out.stderr
    # no closed form: the grid is the reference, and the grid itself is not scored against it
    expected = "reference: self" if solver == "grid" else "reference: grid"
    assert expected in out.stdout


def test_suite_check_and_report(installed, tmp_path):
    out_dir = tmp_path / "results"
    suite = str(EXAMPLE / "suite.toml")
    run = cli(installed, "run", "--suite", suite, "--out", str(out_dir), "--no-report")
    assert run.returncode == 0, run.stdout + run.stderr
    table = pd.read_parquet(out_dir / "results.parquet")
    assert set(table["status"]) == {"ok"} and set(table["solver"]) == {"grid", "dsm", "pinn"}
    assert set(table.loc[table["solver"] != "grid", "reference"]) == {"grid"}

    gate = cli(installed, "check", "--results", str(out_dir), "--baseline",
               str(EXAMPLE / "baseline.csv"))
    assert gate.returncode == 0, gate.stdout + gate.stderr
    assert "0 regression(s)" in gate.stdout

    report = cli(installed, "report", str(out_dir), "--out", str(tmp_path / "report"))
    assert report.returncode == 0, report.stdout + report.stderr
    text = (tmp_path / "report" / "report.md").read_text()
    assert "Morse oscillator" in text
