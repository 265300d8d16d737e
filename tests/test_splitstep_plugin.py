"""The example plugin, end to end, as a user would add it: installed as a package with an
entry point, then listed, solved, run in a suite, gated against a baseline and drawn in the
report with its own label. No file of this repository names it.

The package is installed into a temporary folder that the commands find on PYTHONPATH
(``example_packages``).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pandas as pd
import pytest
from example_packages import cli, install_example

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict[str, str]:
    return install_example("splitstep", tmp_path_factory.mktemp("splitstep"))


def test_the_entry_point_makes_it_a_solver(installed):
    out = cli(installed, "list")
    assert out.returncode == 0, out.stderr
    assert "splitstep" in out.stdout and "split-step Fourier" in out.stdout
    out = cli(installed, "list", "--solver", "splitstep")
    assert out.returncode == 0, out.stderr
    assert "options (--set KEY=VALUE)" in out.stdout


def test_suite_check_and_report(installed, tmp_path):
    suite = tmp_path / "splitstep.toml"
    suite.write_text(textwrap.dedent("""
        name = "splitstep-e2e"
        [[runs]]
        solvers = ["splitstep", "grid"]
        problems = ["harmonic_1d"]
        [[runs]]
        solvers = ["splitstep", "grid"]
        problems = ["bosons"]
        d = [2]
        problem_overrides = { n_steps = 100 }
    """))
    out_dir = tmp_path / "results"
    run = cli(installed, "run", "--suite", str(suite), "--out", str(out_dir), "--no-report")
    assert run.returncode == 0, run.stdout + run.stderr
    table = pd.read_parquet(out_dir / "results.parquet")
    assert set(table["status"]) == {"ok"}
    ss = table[table["solver"] == "splitstep"].set_index("problem")
    assert ss.loc["harmonic_1d", "solver_label"].startswith("split-step Fourier")
    # spectral in space and Strang (2nd order) in time at dt = 1e-3: far below the grid's
    # own 8th-order CN error on the exact packet; the test only asks for a physical answer
    assert ss.loc["harmonic_1d", "var_err"] < 1e-3
    assert ss.loc["harmonic_1d", "reference"] == "exact"

    baseline = tmp_path / "baseline.csv"
    update = cli(installed, "check", "--results", str(out_dir), "--baseline", str(baseline),
                 "--update-baseline")
    assert update.returncode == 0, update.stdout + update.stderr
    gate = cli(installed, "check", "--results", str(out_dir), "--baseline", str(baseline))
    assert gate.returncode == 0, gate.stdout + gate.stderr
    assert "0 regression(s)" in gate.stdout

    report = cli(installed, "report", str(out_dir), "--out", str(tmp_path / "report"))
    assert report.returncode == 0, report.stdout + report.stderr
    text = (tmp_path / "report" / "report.md").read_text()
    assert "split-step Fourier" in text
