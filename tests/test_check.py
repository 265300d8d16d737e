"""The regression gate: tolerances, verdicts, the command and the committed baseline."""

from __future__ import annotations

import argparse
import math

import pandas as pd
import pytest

from dsm_bench.harness.check import (
    BASELINE_COLUMNS,
    DEFAULT_BASELINE,
    baseline_frame,
    compare,
    main,
    tolerance,
)
from dsm_bench.harness.runner import ResultsStore
from dsm_bench.harness.suites import load_suite
from dsm_bench.schema import COLUMNS
from solvers import solver_class


def row(solver="dsm", problem="harmonic_1d", config_hash="h1", **metrics) -> dict:
    out = {c: None for c in COLUMNS}
    out.update(solver=solver, problem=problem, d=1, seed=0, config_hash=config_hash,
               status="ok", message="", n_trials=10, mean_err=0.10, mean_err_std=0.02,
               var_err=0.010, var_err_std=0.002, w1_err=0.01, w1_err_std=0.001)
    out.update(solver_class(solver).facts())
    out.update(metrics)
    return out


def frame(*rows) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=COLUMNS)


def verdicts(results, baseline) -> dict[tuple[str, str], str]:
    return {(c.key, c.metric): c.verdict for c in compare(results, baseline)}


def facts(name: str) -> dict:
    """The facts a results row records for a built-in solver (declared on its class)."""
    return solver_class(name).facts()


def test_tolerances_follow_the_method():
    # deterministic grid: relative 1e-6 (float64 reorderings are ~1e-12 relative)
    assert tolerance(facts("grid"), "var_err", 1e-3, None) == pytest.approx(1e-9, rel=1e-2)
    # sampler: 3 single-trial standard deviations
    assert tolerance(facts("oracle"), "var_err", 0.01, 0.002) == pytest.approx(0.006)
    # trained sampler: plus 10 % for training non-determinism across machines
    assert tolerance(facts("dsm"), "var_err", 0.01, 0.002) == pytest.approx(0.007)
    # sampler metric without a spread: 5 %; PINN (no sampling): 25 %
    assert tolerance(facts("oracle"), "energy_drift", 0.02, None) == pytest.approx(0.001)
    assert tolerance(facts("pinn"), "mean_err", 0.5, None) == pytest.approx(0.125)
    # a row without facts (an old table): lenient 25 %
    assert tolerance({}, "mean_err", 0.5, None) == pytest.approx(0.125)


def test_identical_results_pass():
    base = frame(row(), row("grid", config_hash="h2", mean_err=1e-4, mean_err_std=None))
    assert set(verdicts(base, base).values()) == {"ok"}


def test_worse_beyond_the_band_is_a_regression_and_within_it_is_not():
    base = frame(row())
    # var_err allowed +: 0.1 * 0.01 + 3 * 0.002 = 0.007
    assert verdicts(frame(row(var_err=0.0165)), base)[("dsm/harmonic_1d d=1 seed=0",
                                                       "var_err")] == "ok"
    assert verdicts(frame(row(var_err=0.0175)), base)[("dsm/harmonic_1d d=1 seed=0",
                                                       "var_err")] == "REGRESSION"
    # better beyond the band: reported, not failed
    assert verdicts(frame(row(mean_err=0.01)), base)[("dsm/harmonic_1d d=1 seed=0",
                                                      "mean_err")] == "improved"


def test_grid_gate_is_tight():
    base = frame(row("grid", mean_err=1e-3, mean_err_std=None))
    key = ("grid/harmonic_1d d=1 seed=0", "mean_err")
    assert verdicts(frame(row("grid", mean_err=1e-3 * (1 + 1e-7))), base)[key] == "ok"
    assert verdicts(frame(row("grid", mean_err=1e-3 * (1 + 1e-5))), base)[key] == "REGRESSION"


def test_failures_nan_and_missing_runs_are_regressions():
    base = frame(row(), row(problem="free_singular", config_hash="h2"),
                 row(problem="harmonic_1d_phase", config_hash="h3"))
    now = frame(row(var_err=math.nan),
                row(problem="free_singular", config_hash="h2", status="failed",
                    message="RuntimeError: boom"),
                row(problem="bosons", config_hash="h4"))
    v = verdicts(now, base)
    assert v[("dsm/harmonic_1d d=1 seed=0", "var_err")] == "REGRESSION"
    assert v[("dsm/free_singular d=1 seed=0", "status")] == "REGRESSION"
    assert v[("dsm/harmonic_1d_phase d=1 seed=0", "run")] == "REGRESSION"
    assert v[("dsm/bosons d=1 seed=0", "run")] == "new"


def test_expected_infeasible_rows_are_not_regressions():
    base = frame(row("oracle", "bosons", status="infeasible", mean_err=None))
    assert set(verdicts(base, base).values()) == {"n/a"}


def _args(**kw) -> argparse.Namespace:
    base = dict(suite="smoke", baseline=DEFAULT_BASELINE, results=None, out=None,
                update_baseline=False, jobs=1, quiet=False)
    return argparse.Namespace(**{**base, **kw})


def test_check_command_names_every_regression(tmp_path, capsys):
    results = tmp_path / "results"
    store = ResultsStore(results)
    store.append(row())
    store.append(row("grid", config_hash="h2", mean_err=1e-4, mean_err_std=None))
    baseline = tmp_path / "baseline.csv"
    assert main(_args(results=results, baseline=baseline, update_baseline=True)) == 0
    assert list(pd.read_csv(baseline).columns) == BASELINE_COLUMNS
    assert main(_args(results=results, baseline=baseline)) == 0

    worse = tmp_path / "worse"
    ResultsStore(worse).append(row(var_err=0.05))
    ResultsStore(worse).append(row("grid", config_hash="h2", mean_err=2e-4, mean_err_std=None))
    capsys.readouterr()
    assert main(_args(results=worse, baseline=baseline)) == 1
    err = capsys.readouterr().err
    assert "dsm/harmonic_1d d=1 seed=0 var_err" in err
    assert "grid/harmonic_1d d=1 seed=0 mean_err" in err


def test_check_bad_input_exits_2(tmp_path, capsys):
    assert main(_args(results=tmp_path / "none", baseline=tmp_path / "b.csv")) == 2
    assert "not found" in capsys.readouterr().err
    base = tmp_path / "b.csv"
    baseline_frame(frame(row())).to_csv(base, index=False)
    assert main(_args(results=tmp_path / "none", baseline=base)) == 2
    assert "no results" in capsys.readouterr().err
    assert main(_args(suite="nope", baseline=base)) == 2
    assert "valid suites" in capsys.readouterr().err


def test_committed_baseline_matches_the_smoke_suite():
    """The baseline is regenerated whenever the smoke suite changes (config hashes match)."""
    if not DEFAULT_BASELINE.exists():
        pytest.fail(f"{DEFAULT_BASELINE} missing: run dsm-bench check --update-baseline")
    baseline = pd.read_csv(DEFAULT_BASELINE, dtype={"config_hash": str})
    hashes = {r.to_spec().config_hash() for r in load_suite("smoke").runs}
    assert set(baseline["config_hash"]) == hashes
    assert set(baseline.columns) == set(BASELINE_COLUMNS)


@pytest.mark.parametrize("content, expected", [
    ("", "is not a CSV table"),
    ("just,some\ngarbage,here\n", "lacks the column(s) solver, problem, config_hash, status"),
    ("solver,problem,config_hash,status\n", "has no runs"),
])
def test_a_broken_baseline_is_exit_2_naming_the_file(tmp_path, content, expected, capsys):
    results = tmp_path / "results"
    ResultsStore(results).append(row())
    baseline = tmp_path / "baseline.csv"
    baseline.write_text(content)
    args = argparse.Namespace(baseline=baseline, results=results, out=None, suite="smoke",
                              update_baseline=False, jobs=1, quiet=False)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert str(baseline) in err and expected in err
