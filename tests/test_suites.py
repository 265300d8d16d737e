"""Suite files: expansion, merging of defaults, and clear errors for bad input."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from dsm_bench.harness.suites import SuiteError, load_suite, parse_selection, parse_suite, suite_names
from reference.problems import problem_names
from solvers.registry import BUILTIN, OPTIONAL

# the solvers every shipped suite must cover: those that need no optional extra
CORE = set(BUILTIN) - set(OPTIONAL)


def write(tmp_path: Path, text: str, name: str = "t.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_shipped_suites_exist_and_validate():
    assert {"smoke", "quick", "standard", "paper"} <= set(suite_names())
    for name in ("smoke", "quick", "standard", "paper"):
        suite = load_suite(name)  # raises SuiteError on any invalid entry
        assert suite.runs, name


def test_smoke_covers_every_solver_and_problem():
    runs = load_suite("smoke").runs
    assert {r.solver for r in runs} == CORE
    assert {r.problem for r in runs} == set(problem_names())
    for solver in CORE:  # every solver meets every problem (infeasible ones recorded)
        assert {r.problem for r in runs if r.solver == solver} == set(problem_names()), solver


def test_quick_has_the_scaling_sweep():
    runs = load_suite("quick").runs
    dims = {s: {r.d for r in runs if r.solver == s and r.problem == "harmonic"}
            for s in ("dsm", "pinn", "grid")}
    assert dims["dsm"] >= {1, 2, 3, 5, 10, 20, 50, 100}
    assert dims["pinn"] >= {1, 2, 3, 5, 10, 20, 50, 100}
    # above d = 10 each neural solver runs its scalable variant, beside the exact one at d = 20
    high = [r for r in runs if r.problem == "harmonic" and r.d is not None and r.d > 20]
    for run in high:
        if run.solver == "dsm":
            assert run.solver_options.get("grad_div") == "hutchinson", run.label
        if run.solver == "pinn":
            assert run.solver_options.get("laplacian") in ("hutchinson", "sdgd"), run.label
    assert {1, 2, 3} <= dims["grid"] and max(dims["grid"]) <= 3
    assert {r.d for r in runs if r.solver == "grid" and r.problem == "bosons"} >= {2, 3}
    for problem in ("harmonic_1d", "harmonic_1d_phase"):
        assert {r.solver for r in runs if r.problem == problem} == CORE


def test_standard_reaches_the_paper_sizes():
    runs = load_suite("standard").runs
    assert max(r.d for r in runs if r.problem == "harmonic" and r.solver == "dsm") == 100
    assert {r.d for r in runs if r.problem == "bosons"} >= {2, 3, 5, 10, 20}


def test_expansion_is_a_cartesian_product_with_merged_defaults(tmp_path):
    suite = load_suite(write(tmp_path, """
        [defaults]
        seeds = [0, 1]
        budget = { max_iters = 10, max_seconds = 5 }
        evaluation = { n_samples = 100 }
        limits = { timeout_s = 30 }
        [defaults.options.oracle]
        dtype = "float32"
        [[runs]]
        solvers = ["oracle"]
        problems = ["harmonic"]
        d = [1, 2, 3]
        budget = { max_iters = 20 }
        [runs.options.oracle]
        nu = 0.5
    """))
    assert suite.name == "t"
    assert len(suite.runs) == 3 * 2
    assert sorted({(r.d, r.seed) for r in suite.runs}) == [(d, s) for d in (1, 2, 3)
                                                           for s in (0, 1)]
    run = suite.runs[0]
    assert run.budget == {"max_iters": 20, "max_seconds": 5}  # group wins, defaults kept
    assert run.solver_options == {"dtype": "float32", "nu": 0.5}
    assert run.limits.timeout_s == 30 and run.limits.memory_mb > 0
    spec = run.to_spec()
    assert spec.evaluation["n_samples"] == 100 and spec.suite == "t"
    # the config hash identifies the computation: different seeds, different hashes
    assert len({r.to_spec().config_hash() for r in suite.runs}) == len(suite.runs)


@pytest.mark.parametrize(
    ("group", "expected"),
    [
        ('solvers = ["nope"]\nproblems = ["harmonic_1d"]', "unknown solver 'nope'; valid solvers"),
        ('solvers = ["oracle"]\nproblems = ["nope"]', "unknown problem 'nope'; valid problems"),
        ('solvers = ["oracle"]\nproblems = ["harmonic"]\nd = [101]', "outside the allowed range"),
        ('solvers = ["oracle"]\nproblems = ["harmonic_1d"]\nd = [2]', "outside the allowed range"),
        ('solvers = ["oracle"]\nproblems = ["harmonic_1d"]\n[runs.options.oracle]\nwidth = 3',
         "unknown option(s) width; valid options"),
        ('solvers = ["oracle"]\nproblems = ["harmonic_1d"]\n[runs.options.oracle]\nnu = -1',
         "nu=-1 must be a number > 0"),
        ('solvers = ["oracle"]\nproblems = ["harmonic_1d"]\n[runs.options.dsm]\nwidth = 3',
         "options for dsm but the group's solvers are oracle"),
        ('solvers = ["oracle"]\nproblems = ["harmonic_1d"]\nbudget = { max_itres = 3 }',
         "unknown key(s) max_itres; valid keys: max_iters, max_seconds"),
        ('solvers = ["oracle"]\nproblems = ["harmonic_1d"]\nbudget = { max_iters = 0 }',
         "max_iters: 0 must be an integer >= 1"),
        ('solvers = ["oracle"]\nproblems = ["harmonic_1d"]\nbudget = { max_iters = 1.5 }',
         "max_iters: 1.5 must be an integer >= 1"),
        ('solvers = ["oracle"]\nproblems = ["harmonic_1d"]\nevaluation = { n_eval_times = 1 }',
         "n_eval_times: 1 must be an integer >= 2"),
        ('solvers = ["oracle"]\nproblems = ["harmonic_1d"]\nlimits = { memory_mb = "x" }',
         "memory_mb: 'x' must be a number > 0"),
        ('solvers = ["oracle"]\nproblems = ["harmonic_1d"]\nsolver = "grid"',
         "unknown key(s) solver; valid keys"),
        ('solvers = ["oracle"]\nproblems = ["harmonic_1d"]\n_fault = "explode"',
         "valid faults: raise, oom, hang"),
        ('solvers = ["oracle"]\nproblems = ["harmonic_1d"]\nproblem_overrides = { hbar = -1 }',
         "hbar=-1 must be a number > 0"),
    ],
)
def test_invalid_suites_name_the_error_and_the_valid_choices(tmp_path, group, expected):
    path = write(tmp_path, "[[runs]]\n" + group + "\n")
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    assert expected in str(info.value)
    assert "runs[0]" in str(info.value) or "unknown solver" in str(info.value)


def test_unknown_suite_lists_the_valid_ones():
    with pytest.raises(SuiteError, match="unknown suite 'nope'; valid suites: .*smoke"):
        load_suite("nope")


def test_duplicate_runs_are_rejected(tmp_path):
    path = write(tmp_path, """
        [[runs]]
        solvers = ["oracle"]
        problems = ["harmonic_1d"]
        [[runs]]
        solvers = ["oracle"]
        problems = ["harmonic_1d"]
    """)
    with pytest.raises(SuiteError, match="duplicates one of runs\\[0\\]"):
        load_suite(path)


def test_missing_solver_module_marks_its_runs_unavailable(monkeypatch, tmp_path):
    from solvers import registry

    registry.solver_names()  # discover the built-ins and entry points first
    monkeypatch.setitem(registry._SOLVERS._targets, "ghost", "solvers.ghost_not_written:Ghost")
    monkeypatch.setitem(registry._SOLVERS._origins, "ghost", "a test")
    suite = load_suite(write(tmp_path, """
        [[runs]]
        solvers = ["ghost", "oracle"]
        problems = ["harmonic_1d"]
    """))
    ghost, oracle = suite.runs
    assert "solver 'ghost' is unavailable: ModuleNotFoundError" in ghost.unavailable
    assert oracle.unavailable is None


def test_parse_needs_runs():
    with pytest.raises(SuiteError, match="at least one"):
        parse_suite({"name": "empty"})


def test_only_selects_a_part_of_a_suite_with_the_same_config_hashes():
    full = load_suite("standard")
    part = full.select(parse_selection(["solver=dsm,oracle", "problem=harmonic", "d=3"]))
    assert sorted(r.label for r in part.runs) == ["dsm/harmonic d=3 seed=0",
                                                  "oracle/harmonic d=3 seed=0"]
    # a part run into the same --out is skipped when the whole suite runs later
    full_hashes = {r.to_spec().config_hash() for r in full.runs}
    assert {r.to_spec().config_hash() for r in part.runs} <= full_hashes
    # d given by the problem's default (harmonic_1d has d = 1) matches too
    one_d = full.select(parse_selection(["d=1", "solver=grid"]))
    assert {r.problem for r in one_d.runs} == {"harmonic", "harmonic_1d",
                                               "harmonic_1d_phase", "free_singular",
                                               "anharmonic", "double_well", "cat", "box_well",
                                               "soft_coulomb"}
    with pytest.raises(SuiteError, match="unknown selection key 'dim'; valid keys: solver"):
        parse_selection(["dim=3"])
    with pytest.raises(SuiteError, match="malformed selection 'solver'"):
        parse_selection(["solver"])
    with pytest.raises(SuiteError, match="selects none of the"):
        full.select(parse_selection(["solver=grid", "d=100"]))


@pytest.mark.parametrize("name", ["../../escape", "/tmp/abs", "a/b", ".hidden", "sp ace"])
def test_a_suite_name_that_could_escape_its_folder_is_refused(tmp_path, name):
    path = write(tmp_path, f'name = "{name}"\n[[runs]]\nsolvers = ["oracle"]\n'
                           'problems = ["harmonic_1d"]\n')
    with pytest.raises(SuiteError, match="is not valid: use letters, digits"):
        load_suite(path)
