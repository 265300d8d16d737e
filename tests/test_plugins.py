"""Solver plugins: the three routes in, and every way a plugin can be broken.

Each command runs in its own process (``python -m dsm_bench.cli``), as a user would run it,
so that a plugin loaded by one test cannot leak into another.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]

# a density solver that returns the exact packet's moments: enough to exercise the interface
GOOD = '''
import numpy as np
from reference.exact import ExactReference
from solvers.base import Cost, DensitySolution, Solver
from solvers.options import Integer, Option

class ExactSolution(DensitySolution):
    def __init__(self, problem, cost, scale):
        super().__init__(problem, cost)
        self.reference, self.scale = ExactReference(problem), scale

    def moments(self, times):
        mean, var = self.reference.moments(times)
        return mean, var * self.scale

    def marginal_density(self, x, times):
        return self.reference.marginal_density(x, times)

class ExactPacket(Solver):
    """The closed form, with its variance scaled (a test double for the interface only)."""
    name = "exactpacket"
    label = "exact packet (plugin)"
    color = "#F0E442"
    deterministic = True
    tolerance = 1e-6
    option_specs = {"scale": Option(1, Integer(1, 3), "variance multiplier")}

    def supports(self, problem):
        return None if problem.has_exact_solution else "needs a closed form"

    def fit(self, problem, budget, monitor, progress) -> ExactSolution:
        return ExactSolution(problem, Cost(), self.options["scale"])
'''

RAISES = GOOD.replace('''        return ExactSolution(problem, Cost(), self.options["scale"])''',
                      '''        raise RuntimeError("the plugin's fit blew up on purpose")''')

NAN = GOOD.replace("return mean, var * self.scale", "return mean, var * np.nan")

NO_LABEL = GOOD.replace('    label = "exact packet (plugin)"\n', "    label = ''\n")

NO_FIT = GOOD.replace("    def fit(self, problem", "    def fit_renamed(self, problem")

IMPORT_ERROR = "import a_module_that_does_not_exist\n" + GOOD

NO_KIND = GOOD.replace(") -> ExactSolution:", "):")

# an incomplete Solution: refused when the plugin loads, not when a run is evaluated
NO_MOMENTS = GOOD.replace("    def moments(self, times):", "    def moments_renamed(self, times):")

RETURNS_NONE = GOOD.replace('        return ExactSolution(problem, Cost(), self.options["scale"])',
                            "        return None")


def cli(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT
        ) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "dsm_bench.cli", *args], cwd=cwd,
                          env=full_env, capture_output=True, text=True, timeout=600)


def plugin(tmp_path: Path, source: str, name: str = "myplugin.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


def test_a_plugin_file_is_listed_with_its_options(tmp_path):
    path = plugin(tmp_path, GOOD)
    out = cli("list", "--plugin", str(path))
    assert out.returncode == 0, out.stderr
    assert "exactpacket" in out.stdout and "exact packet (plugin)" in out.stdout
    out = cli("list", "--solver", "exactpacket", "--plugin", str(path))
    assert out.returncode == 0, out.stderr
    # the option documentation is generated from the declared constraint
    assert "scale" in out.stdout and "an integer in [1, 3]" in out.stdout


def test_a_plugin_solves_and_its_options_are_validated(tmp_path):
    path = plugin(tmp_path, GOOD)
    out = cli("solve", "exactpacket", "harmonic_1d", "--plugin", str(path), "-q")
    assert out.returncode == 0, out.stderr
    assert "var_err" in out.stdout
    bad = cli("solve", "exactpacket", "harmonic_1d", "--plugin", str(path), "--set", "scale=7")
    assert bad.returncode == 2
    assert "scale=7" in bad.stderr and "an integer in [1, 3]" in bad.stderr


SHADOWING = GOOD.replace('option_specs = {"scale"',
                         'option_specs = {"n_trials": Option(1, Integer(1), "x"), "scale"')


def test_an_option_named_like_a_setting_is_refused_before_it_is_silently_rerouted(tmp_path):
    """--set n_trials=... goes to the evaluation, so a solver option of that name could never
    be set: solve refuses the solver (exit 2) instead of running with the option ignored."""
    out = cli("solve", "exactpacket", "harmonic_1d", "--plugin", str(plugin(tmp_path, SHADOWING)))
    assert out.returncode == 2
    assert "declares option(s) n_trials" in out.stderr and "Traceback" not in out.stderr


def test_no_builtin_solver_option_is_shadowed_by_a_setting():
    from dsm_bench.harness.settings import shadowed_options
    from solvers.registry import solver_class, solver_names

    for name in solver_names():
        try:
            specs = solver_class(name).option_specs
        except ImportError:  # an optional solver whose extra is not installed
            continue
        assert shadowed_options(specs) == [], name


@pytest.mark.parametrize("source, expected", [
    (NO_LABEL, "label must be a non-empty string"),
    (NO_FIT, "does not implement fit"),
    (IMPORT_ERROR, "failed to import: ModuleNotFoundError"),
    (NO_KIND, "fit must declare the Solution class it returns"),
    (NO_MOMENTS, "its Solution ExactSolution does not implement moments"),
])
def test_a_broken_plugin_is_refused_with_exit_2_naming_it(tmp_path, source, expected):
    path = plugin(tmp_path, source, "broken.py")
    for command in (["list"], ["solve", "exactpacket", "harmonic_1d"],
                    ["run", "--suite", "smoke", "--out", str(tmp_path / "out")],
                    ["check", "--suite", "smoke"]):
        out = cli(*command, "--plugin", str(path))
        assert out.returncode == 2, (command, out.stdout, out.stderr)
        assert "broken.py" in out.stderr and expected in out.stderr, out.stderr
        assert "Traceback" not in out.stderr
    assert not (tmp_path / "out").exists()


def test_a_plugin_module_that_is_missing_is_refused(tmp_path):
    out = cli("list", "--plugin", "no_such_package.solver")
    assert out.returncode == 2
    assert "plugin no_such_package.solver failed to import" in out.stderr


def test_fit_that_raises_and_nan_moments_fail_cleanly(tmp_path):
    for source, expected in ((RAISES, "the plugin's fit blew up on purpose"),
                             (NAN, "moments are not finite at t = 0")):
        path = plugin(tmp_path, source, "faulty.py")
        out = cli("solve", "exactpacket", "harmonic_1d", "--plugin", str(path), "-q")
        assert out.returncode == 1, out.stdout + out.stderr
        assert expected in out.stderr and "Traceback" not in out.stderr


def test_a_fit_that_returns_none_is_refused_with_exit_2_naming_the_plugin(tmp_path):
    path = plugin(tmp_path, RETURNS_NONE, "returns_none.py")
    out = cli("solve", "exactpacket", "harmonic_1d", "--plugin", str(path), "-q")
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert ("solver 'exactpacket'" in out.stderr and "returns_none.py" in out.stderr
            and "fit returned NoneType, not ExactSolution" in out.stderr), out.stderr


@pytest.mark.slow
def test_a_suite_names_its_plugins_and_a_failing_plugin_costs_one_row(tmp_path):
    plugin(tmp_path, GOOD, "good.py")
    plugin(tmp_path, RAISES.replace('"exactpacket"', '"raiser"'), "raiser.py")
    plugin(tmp_path, RETURNS_NONE.replace('"exactpacket"', '"noner"'), "noner.py")
    suite = tmp_path / "plugged.toml"
    suite.write_text(textwrap.dedent("""
        name = "plugged"
        plugins = ["good.py", "raiser.py", "noner.py"]
        [[runs]]
        solvers = ["exactpacket", "raiser", "noner", "grid"]
        problems = ["harmonic_1d"]
    """))
    out = cli("run", "--suite", str(suite), "--out", str(tmp_path / "res"), "--no-report",
              cwd=tmp_path)
    assert out.returncode == 1, out.stdout + out.stderr  # one run failed
    table = pd.read_parquet(tmp_path / "res" / "results.parquet")
    by_solver = table.set_index("solver")
    assert by_solver.loc["exactpacket", "status"] == "ok"
    assert by_solver.loc["exactpacket", "solver_label"] == "exact packet (plugin)"
    assert by_solver.loc["exactpacket", "var_err"] < 1e-12  # the exact variance, scale 1
    assert by_solver.loc["raiser", "status"] == "failed"
    assert "blew up on purpose" in by_solver.loc["raiser", "message"]
    assert by_solver.loc["noner", "status"] == "failed"
    assert by_solver.loc["noner", "message"].startswith(
        "SolutionContractError: solver 'noner' (")
    assert "noner.py): fit returned NoneType, not ExactSolution" in by_solver.loc["noner", "message"]
    assert by_solver.loc["grid", "status"] == "ok"
