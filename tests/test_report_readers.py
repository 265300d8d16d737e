"""The report as a reader meets it: variant labels, one trial, tables the report must refuse,
and the pages rendered by a real headless Chromium (no console error; the summary table and
the first figure on the first 1400 x 900 screen).

The results tables are synthetic (tests/test_report.py's physically shaped rows, written to
disk as the harness writes them); one slow test runs the real DSM and oracle with one trial.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_report import _row, _with_trial_moments, _write
from test_report_browser import _MEASURE, HEIGHT, WIDTH, Page, needs_chromium
from tiny_suite import write_suite

from reports import build
from reports.data import load_results


def _configured(run, options: dict, resolved: dict) -> tuple[dict, dict]:
    """The run with these suite options (its config) and every option as run."""
    row, artifact = run
    config = json.loads(row["config"])
    config["solver_options"] = options
    row["config"] = json.dumps(config, sort_keys=True)
    row["config_hash"] = f"{abs(hash(row['config'])) % 16**12:012x}"
    row["resolved_config"] = json.dumps({"solver": resolved, "problem": {}})
    return row, artifact


def _variants_table(tmp_path: Path) -> Path:
    """DSM exact vs Hutchinson, PINN auto vs SDGD, and a plugin solver that is not installed
    with an option set to None in one configuration, each pair at the same d."""
    runs = []
    for d in (2, 3):
        runs.append(_configured(_row("dsm", "harmonic", d, 0), {},
                                {"grad_div": "exact", "hutchinson_probes": 1, "width": 64}))
        runs.append(_configured(_row("dsm", "harmonic", d, 0),
                                {"grad_div": "hutchinson", "hutchinson_probes": 1},
                                {"grad_div": "hutchinson", "hutchinson_probes": 1, "width": 64}))
        runs.append(_configured(_row("pinn", "harmonic", d, 0), {},
                                {"laplacian": "auto", "laplacian_k": 1}))
        runs.append(_configured(_row("pinn", "harmonic", d, 0),
                                {"laplacian": "sdgd", "laplacian_k": 2},
                                {"laplacian": "sdgd", "laplacian_k": 2}))
        runs.append(_configured(_row("splitstep", "harmonic", d, 0), {"filter": None},
                                {"filter": None, "n": 64}))
        runs.append(_configured(_row("splitstep", "harmonic", d, 0), {"filter": 0.5},
                                {"filter": 0.5, "n": 64}))
        runs.append(_row("oracle", "harmonic", d, 0))
    _write(tmp_path, runs)
    return tmp_path


def test_variant_labels_are_named_by_their_solver_and_never_show_none(tmp_path):
    results = load_results(_variants_table(tmp_path))
    labels = {results.styles.label(s, v) for s, v in zip(results.table["solver"],
                                                          results.table["variant"], strict=True)}
    assert {"DSM, exact grad div", "DSM, Hutchinson (1 probe)",
            "PINN (DeepXDE), auto Laplacian", "PINN (DeepXDE), SDGD Laplacian (k = 2)",
            "split-step Fourier, filter = default", "split-step Fourier, filter = 0.5",
            "oracle (exact drift; sampling floor)"} == labels
    out = build.build_report(tmp_path, tmp_path / "out")
    for path in [out / "report.md", out / "tables" / "main.csv", out / "tables" / "summary.csv",
                 *(out / "figures").glob("*.tex")]:
        text = path.read_text()
        assert "None" not in text and "=None" not in text, path
    # only the options that differ are shown: width (the same everywhere) is not
    assert not any("width" in label for label in labels)


def test_one_trial_shows_the_model_error_without_an_interval(tmp_path):
    """DSM and the oracle scored with one trial (issue 28: a KeyError 'var_excess_lo'):
    the report is built, with the values and no interval."""
    runs = [_with_trial_moments(_row("oracle", "harmonic", d, 0), 0.0, 10 + d, k=1)
            for d in (1, 2)]
    runs += [_with_trial_moments(_row("dsm", "harmonic", d, 0), 0.02, 10 + d, k=1)
             for d in (1, 2)]
    _write(tmp_path, runs)
    out = build.build_report(tmp_path, tmp_path / "out")
    main = pd.read_csv(out / "tables" / "main.csv")
    dsm = main[main["solver"] == "dsm"]
    np.testing.assert_allclose(dsm["var_model_err"], 0.02, rtol=0.05)
    assert dsm["var_model_err_lo"].isna().all() and dsm["var_excess_lo"].isna().all()
    assert "one trial: no interval" in (out / "report.md").read_text()


def _report_cli(directory: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dsm_bench.cli", "report", str(directory),
                           "--out", str(directory / "out")],
                          capture_output=True, text=True, timeout=120)


IDENTITY = ["suite", "solver", "problem", "d", "seed", "config_hash", "config",
            "resolved_config", "status", "message"]


@pytest.mark.parametrize("rows, words", [
    # only the identity columns: nothing to report
    ([["s", "dsm", "harmonic", 2, 0, "a1", "{}", "{}", "ok", ""]],
     "a table with only the identity columns"),
    # a foreign row: a size that is not a number
    ([["s", "dsm", "harmonic", 2, 0, "a1", "{}", "{}", "ok", ""],
      ["s", "nosuch", "weird", "x", 0, "a2", "{}", "{}", "ok", ""]], "row 2 (config_hash a2) has d = 'x'"),
    # a mistyped status, and a row without a problem
    ([["s", "dsm", "harmonic", 2, 0, "a1", "{}", "{}", "done", ""]], "has status 'done'"),
    ([["s", "dsm", "", 2, 0, "a1", "{}", "{}", "ok", ""]], "has no problem"),
])
def test_a_table_the_harness_did_not_write_is_refused_in_one_line(tmp_path, rows, words):
    frame = pd.DataFrame(rows, columns=IDENTITY)
    if "identity" not in words:
        frame["mean_err"] = 0.1
    frame.to_csv(tmp_path / "results.csv", index=False)
    done = _report_cli(tmp_path)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dsm-bench report: error: ")
    assert words in lines[0]
    assert not (tmp_path / "out").exists()


def test_a_metric_that_is_not_a_number_is_refused(tmp_path):
    runs = [_row("grid", "harmonic", 2, 0), _row("dsm", "harmonic", 2, 0)]
    _write(tmp_path, runs, fmt="csv")
    frame = pd.read_csv(tmp_path / "results.csv", dtype=str)
    frame.loc[1, "var_err"] = "abc"
    frame.to_csv(tmp_path / "results.csv", index=False)
    done = _report_cli(tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "row 2" in done.stderr and "var_err = 'abc', not a number" in done.stderr


@pytest.mark.slow
def test_dsm_and_oracle_with_one_trial_run_and_report(tmp_path):
    """The real sweep (issue 28, item 7): `run` builds the report, `report` exits 0."""
    head = """
    name = "t"
    [defaults]
    threads = 1
    problem_overrides = { n_steps = 50 }
    evaluation = { n_samples = 300, n_trials = 1, n_eval_times = 11 }
    limits = { timeout_s = 120, memory_mb = 3000 }
    [defaults.options.dsm]
    width = 16
    batch = 20
    M = 10
    device = "cpu"
"""
    suite = write_suite(tmp_path, """
    [[runs]]
    solvers = ["oracle", "dsm"]
    problems = ["harmonic_1d"]
    budget = { max_iters = 3 }
""", head=head)
    out = tmp_path / "results"
    done = subprocess.run([sys.executable, "-m", "dsm_bench.cli", "run", "--suite", str(suite),
                           "--out", str(out)], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "report failed" not in done.stderr and "Traceback" not in done.stderr
    again = _report_cli(out)
    assert again.returncode == 0, again.stderr
    main = pd.read_csv(out / "out" / "tables" / "main.csv")
    dsm = main[main["solver"] == "dsm"].iloc[0]
    assert dsm["var_model_err"] >= 0 and np.isnan(dsm["var_model_err_lo"])


# ------------------------------------------------------------------- in a real browser
# every problem and metric in the interactive page's menus, drawn in turn (after the first
# screen is measured): how many drew a trace
_SWITCH_ALL = """(() => {
  const family = document.getElementById("family"), metric = document.getElementById("metric");
  let drawn = 0;
  for (const f of [...family.options]) {
    family.value = f.value; family.onchange();
    for (const m of [...metric.options]) {
      metric.value = m.value; metric.onchange();
      drawn += document.querySelectorAll("#plot .scatterlayer .trace").length > 0;
    }
  }
  return drawn;
})()"""


def _inside(box: list[float]) -> bool:
    """A bounding box (top, bottom, left, right, width) wholly inside the 1400 x 900 viewport."""
    top, bottom, left, right, _ = box
    return 0 <= top < bottom <= HEIGHT and 0 <= left < right <= WIDTH


@pytest.mark.slow
@needs_chromium
def test_pages_render_in_chromium_without_console_errors(tmp_path):
    runs = []
    for d in (1, 2, 3):
        runs.append(_with_trial_moments(_row("oracle", "harmonic", d, 0), 0.0, 100 + d))
        runs.append(_with_trial_moments(_row("dsm", "harmonic", d, 0), 0.02, 100 + d))
        runs.append(_row("pinn", "harmonic", d, 0))
    runs += [_row(s, "harmonic_1d", 1, 0) for s in ("grid", "oracle", "dsm", "pinn")]
    _write(tmp_path, runs)
    out = build.build_report(tmp_path, tmp_path / "out")
    for name in ("interactive.html", "report.html"):
        page_file = out / name
        text = page_file.read_text()
        assert "<script src=" not in text and 'src="http' not in text  # nothing to fetch
        with Page() as page:  # the viewport is exactly 1400 x 900
            page.open(page_file.as_uri())
            layout = json.loads(page.evaluate(_MEASURE))
            drawn = page.evaluate(_SWITCH_ALL) if name == "interactive.html" else 0
            shot = tmp_path / f"{page_file.stem}.png"
            page.screenshot(shot)
            assert page.errors() == [], name  # switching the menus raised nothing either
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert layout["window"] == [WIDTH, HEIGHT]
        table, figure = layout["table"], layout["figure"]
        # the summary table, then the first figure, both whole on the first screen
        assert _inside(table) and _inside(figure), layout
        assert table[1] <= figure[0] or table[3] <= figure[2], layout  # apart, not overlapping
        assert layout["scroll_width"] <= WIDTH, layout  # nothing sticks out to the right
        assert figure[4] > 600, layout  # a figure, not a sliver
        if name == "interactive.html":
            assert layout["plotted"] >= 1  # Plotly drew it, offline
            # both families (harmonic over d, the 1-D problems), every metric: each one drawn
            assert drawn == text.count('"y_title"') >= 8, layout
