"""Problem plugins: a problem in one file, loaded by ``--plugin`` on every command, and every
way such a file can break the problem contract (exit 2, one line naming the plugin and the
fault, no traceback).

Each command runs in its own process (``python -m dsm_bench.cli``), as a user would run it.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from reference.problems import GaussianStart, ProblemPluginError, register_problem
from reference.problems.base import contract_faults

ROOT = Path(__file__).resolve().parents[1]

# the smallest problem plugin: a quartic well from a Gaussian start
GOOD = '''
from reference.problems import GaussianStart, standard_options


class Quartic(GaussianStart):
    name = "quartic"
    label = "quartic well"
    box = (-2.0, 2.0)
    grid_points = (512,)
    option_specs = standard_options(hbar=0.05)

    def derive(self):
        self.mu0, self.s0_sq = 0.3, 0.05

    def potential(self, x):
        return (x**4).sum(-1)

    def grad_potential(self, x):
        return 4 * x**3
'''

BROKEN = {
    "raises on import": ("raise RuntimeError('the plugin blew up on import')\n" + GOOD,
                         "failed to import: RuntimeError: the plugin blew up on import"),
    "lacks a potential": (GOOD.replace("    def potential(self, x):\n        return (x**4).sum(-1)\n", ""),
                          "does not implement potential"),
    "non-finite initial state": (GOOD.replace("self.mu0, self.s0_sq = 0.3, 0.05",
                                              "self.mu0, self.s0_sq = float('nan'), 0.05"),
                                 "the initial samples is not finite"),
}


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dsm_bench.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def write(tmp_path: Path, source: str, name: str = "quartic.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


def test_a_problem_file_is_listed_and_solved_on_the_grid(tmp_path):
    plugin = write(tmp_path, GOOD)
    listed = cli("list", "--plugin", str(plugin))
    assert listed.returncode == 0, listed.stderr
    assert "quartic" in listed.stdout
    described = cli("list", "--problem", "quartic", "--plugin", str(plugin))
    assert described.returncode == 0, described.stderr
    assert "quartic well" in described.stdout and "hbar" in described.stdout
    solved = cli("solve", "grid", "quartic", "--plugin", str(plugin), "-q", "--set", "n_steps=100")
    assert solved.returncode == 0, solved.stdout + solved.stderr
    # the grid is the reference of a problem that declares none: it is not scored against itself
    assert "reference: self" in solved.stdout


def _suite(tmp_path: Path, plugin: Path) -> Path:
    suite = tmp_path / "suite.toml"
    suite.write_text(textwrap.dedent(f"""
        name = "quartic"
        plugins = ["{plugin}"]
        [[runs]]
        solvers = ["grid"]
        problems = ["quartic"]
        problem_overrides = {{ n_steps = 50 }}
    """))
    return suite


@pytest.mark.slow
@pytest.mark.parametrize("fault", list(BROKEN))
@pytest.mark.parametrize("command", ["list", "solve", "run", "check", "report"])
def test_a_broken_problem_plugin_exits_2_naming_it_on_every_command(tmp_path, fault, command):
    source, expected = BROKEN[fault]
    plugin = write(tmp_path, source)
    args = {
        "list": ["list", "--plugin", str(plugin)],
        "solve": ["solve", "grid", "quartic", "--plugin", str(plugin)],
        "run": ["run", "--suite", str(_suite(tmp_path, plugin)), "--out", str(tmp_path / "out")],
        # the suite's plugins = [...] above, --plugin here: both routes in
        "check": ["check", "--plugin", str(plugin), "--suite", str(_suite(tmp_path, plugin)),
                  "--baseline", str(tmp_path / "baseline.csv"), "--out", str(tmp_path / "out")],
        "report": ["report", str(tmp_path), "--plugin", str(plugin)],
    }[command]
    out = cli(*args)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    assert expected in out.stderr and str(plugin) in out.stderr, out.stderr


def test_the_contract_names_each_fault_of_a_class():
    class NoFacts(GaussianStart):
        def derive(self):
            self.mu0, self.s0_sq = 0.0, 1.0

    faults = " | ".join(contract_faults(NoFacts))
    assert "name must be an identifier" in faults and "does not implement" in faults
    with pytest.raises(ProblemPluginError, match="problem 'NoFacts' from a test"):
        register_problem(NoFacts, "a test")


def test_a_problem_plugin_name_cannot_take_a_builtin():
    namespace: dict = {}
    exec(textwrap.dedent(GOOD).replace('name = "quartic"', 'name = "harmonic"'), namespace)
    with pytest.raises(ProblemPluginError, match="already taken by built in"):
        register_problem(namespace["Quartic"], "a test")


@pytest.mark.slow
def test_a_problem_plugin_suite_reports_its_label_without_the_plugin(tmp_path):
    """The row records the problem's facts, so the report reads its label and dimension
    symbol from the table where the plugin is not installed."""
    plugin = write(tmp_path, GOOD.replace('label = "quartic well"',
                                          'label = "quartic well"\n    dimension_symbol = "n"'))
    out = tmp_path / "results"
    run = cli("run", "--suite", str(_suite(tmp_path, plugin)), "--out", str(out), "--no-report")
    assert run.returncode == 0, run.stdout + run.stderr
    plugin.unlink()  # the report must not need it
    report = cli("report", str(out), "--out", str(tmp_path / "report"))
    assert report.returncode == 0, report.stdout + report.stderr
    text = (tmp_path / "report" / "report.md").read_text()
    assert "(quartic well)" in text and "n = 1" in text
