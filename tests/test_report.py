"""The report builder on a small synthetic results directory.

The table and artifacts are constructed here, physically shaped: the reference series are the
exact Gaussian-packet laws of reference/exact.py, the solvers' series are those laws with a
known perturbation, and the rows' errors are computed from those series. The table includes a
failed and an infeasible run, several seeds, and a configuration variant of the oracle. Every
row carries its solver's declared facts (dsm_bench.schema.SOLVER_FACTS), as the harness
writes them; one test reads a table written before rows carried them.
"""

from __future__ import annotations

import argparse
import ast
import base64
import json
import math
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dsm_bench.harness.runner import results_frame
from dsm_bench.schema import COLUMNS, SOLVER_FACTS
from reference import exact
from reference.problems import get_problem
from reports import build
from reports.data import _point_labels, load_results, pooled_spread
from reports.figures import parse_cost_estimate, power_law_exponent, total_loss
from reports.style import PALETTE, SolverStyles
from reports.tables import format_number, format_pm

N_T = 21  # evaluation times in the synthetic artifacts (the real default is 101)
EVAL = {"n_samples": 1000, "n_trials": 3, "eval_seed": 0, "n_eval_times": N_T}
INFEASIBLE_MSG = "grid: 32^4 points x 16 B x 3 work arrays needs 24.0 GiB > limit 8 GiB"
FAILED_MSG = "RuntimeError: NaN in loss term loss_pde at iteration 40"


def _facts(label: str, short: str, floor: bool = False, sampler: bool = False,
           trained: bool = False, color: str = "") -> dict:
    """A row's solver facts, as solvers.base.Solver.facts() records them."""
    return {"solver_label": label, "solver_short_label": short, "solver_color": color,
            "solver_floor": floor, "solver_deterministic": not sampler,
            "solver_trained": trained, "solver_sampler": sampler, "solver_tolerance": 0.25}


# the facts the built-in solvers declare (colour "": the report's palette picks one)
FACTS = {
    "dsm": _facts("DSM", "DSM", sampler=True, trained=True),
    "pinn": _facts("PINN (DeepXDE)", "PINN", trained=True),
    "grid": _facts("Crank-Nicolson grid", "CN grid"),
    "oracle": _facts("oracle (exact drift; sampling floor)", "oracle", floor=True, sampler=True),
    # a plugin that is not installed here: the report knows it only from its rows
    "splitstep": _facts("split-step Fourier", "split-step", color="#56B4E9"),
}
# synthetic run shape per solver: relative perturbation amplitude (grid ~ 1e-4, oracle ~
# sampling noise, dsm larger, pinn worst), training time as a function of d, iterations
SHAPE = {
    "grid": (1e-4, lambda d: 0.01 * d**3, 1000),
    "splitstep": (3e-4, lambda d: 0.02 * d**3, 1000),
    "oracle": (0.01, lambda d: 0.0, 0),
    "dsm": (0.03, lambda d: 2.0 * d, 100),
    "pinn": (0.2, lambda d: 5.0 * d**1.5, 100),
}


# ----------------------------------------------------------------- synthetic results
def _relative_l2(est: np.ndarray, ref: np.ndarray) -> float:
    """The metrics' definition: relative L2 over time, absolute / sqrt(#times) where ref = 0."""
    norm = np.linalg.norm(ref)
    if norm == 0:
        return float(np.linalg.norm(est - ref) / math.sqrt(len(ref)))
    return float(np.linalg.norm(est - ref) / norm)


def _series(problem_name: str, d: int, solver: str, seed: int,
            n_samples: int = 1000) -> tuple[dict, dict]:
    """(series, metrics) of one synthetic run: exact laws times a known perturbation."""
    problem = get_problem(problem_name, d=d)
    times = np.linspace(0.0, problem.T, N_T)
    facts = FACTS[solver]
    sampler = facts["solver_sampler"]
    amp = (SHAPE[solver][0] + (0.01 * seed if facts["solver_trained"] else 0.0)) * (
        1 + 0.1 * math.log(d))
    if facts["solver_floor"]:  # sampling noise ~ 1 / sqrt(samples)
        amp *= math.sqrt(1000 / n_samples)
    wiggle = np.sin(3 * times + seed)
    series: dict = {"times": times.tolist(), "mean_spread": None, "var_spread": None,
                    "ref_mean": None, "ref_var": None, "com_mean": None, "com_var": None,
                    "ref_com_mean": None, "ref_com_var": None, "energy": None,
                    "ref_energy": None, "brownian_var": None, "density": None}
    metrics: dict = {}
    if problem.has_exact_solution:
        ref_mean = exact.gaussian_packet_mean(problem, times)
        ref_var = exact.gaussian_packet_variance(problem, times)
        mean = ref_mean + amp * 0.1 * wiggle
        var = ref_var * (1 + amp * wiggle)
        series.update(mean=mean.tolist(), var=var.tolist(), ref_mean=ref_mean.tolist(),
                      ref_var=ref_var.tolist())
        metrics.update(mean_err=_relative_l2(mean, ref_mean), var_err=_relative_l2(var, ref_var),
                       mean_err_kind="relative" if np.any(ref_mean) else "absolute",
                       var_err_kind="relative",
                       w1_err=amp * 0.05, u_err=amp * 0.5, v_err=amp * 0.7, reference="exact")
        if facts["solver_trained"]:  # the learned drifts: a constant relative error
            series["u_err_t"] = np.full(N_T, amp * 0.5).tolist()
            series["v_err_t"] = [None] + np.full(N_T - 1, amp * 0.7).tolist()  # v(0) = 0
        if problem_name == "free_singular":
            brown = exact.brownian_spreading_variance(problem, times)
            series["brownian_var"] = brown.tolist()
            metrics["var_err_brownian"] = _relative_l2(var, brown)
    else:  # bosons: centre of mass exact at any n; energy conserved
        ref_com_var = exact.center_of_mass_variance(problem, times)
        com_var = ref_com_var * (1 + amp * wiggle)
        e0 = exact.initial_energy(problem)
        energy = e0 * (1 + 0.1 * amp * np.sin(times))
        var = problem.s0_sq * (1 + 0.1 * amp * wiggle)  # interacting: no closed form
        series.update(mean=(amp * 0.01 * wiggle).tolist(), var=var.tolist(),
                      com_mean=(amp * 0.01 * wiggle).tolist(), com_var=com_var.tolist(),
                      ref_com_mean=np.zeros(N_T).tolist(), ref_com_var=ref_com_var.tolist(),
                      energy=energy.tolist(), ref_energy=e0)
        metrics.update(com_var_err=_relative_l2(com_var, ref_com_var),
                       energy_drift=float(np.max(np.abs(energy - e0)) / abs(e0)),
                       reference="none")
    if not sampler:  # deterministic methods: no spread over sampling trials (metrics: 0.0)
        for key in ("mean_err", "var_err", "w1_err"):
            if key in metrics:
                metrics[f"{key}_std"] = 0.0
    if sampler:
        series["mean_spread"] = (0.3 * amp * np.sqrt(np.asarray(series["var"]))).tolist()
        series["var_spread"] = (0.3 * amp * np.asarray(series["var"])).tolist()
        for key in ("mean_err", "var_err", "w1_err"):
            if key in metrics:
                metrics[f"{key}_std"] = 0.4 * metrics[key]
    if d == 1 and problem.has_exact_solution:
        x = np.linspace(*problem.box, 81)
        ref_rho = exact.ExactReference(problem).marginal_density(x, times)[:, 0, :]
        rho = ref_rho * (1 + amp * np.cos(5 * x)[None, :])
        series["density"] = {"x": x.tolist(), "times": times.tolist(), "rho": rho.tolist(),
                             "ref_rho": ref_rho.tolist()}
    return series, metrics


def _history(solver: str, d: int, seed: int) -> dict:
    if solver not in ("dsm", "pinn"):
        return {"iter": [], "wall_s": []}
    iters = np.arange(0, 101, 10)
    wall = 0.05 * d * (iters + 1)
    history = {"iter": iters.tolist(), "wall_s": wall.tolist()}
    if solver == "dsm":
        history["loss_u"] = (1e-2 * np.exp(-iters / 30) + 1e-4).tolist()
        history["loss_v"] = (2e-2 * np.exp(-iters / 40) + 1e-4).tolist()
        history["var_err"] = (0.5 * np.exp(-iters / 25) + 0.03 + 0.01 * seed).tolist()
    else:
        history["loss_pde"] = (1.0 * np.exp(-iters / 50) + 1e-3).tolist()
        history["loss_ic"] = (0.1 * np.exp(-iters / 20) + 1e-4).tolist()
    return history


def _row(solver: str, problem: str, d: int, seed: int, status: str = "ok", message: str = "",
         evaluation: dict | None = None, facts: bool = True) -> tuple[dict, dict | None]:
    """One synthetic row and its artifact; ``facts=False``: a row as written before rows
    carried the solver's facts."""
    evaluation = {**EVAL, **(evaluation or {})}
    config = {"solver": solver, "problem": problem, "d": d, "seed": seed,
              "solver_options": {"width": 64} if solver in ("dsm", "pinn") else {},
              "problem_overrides": {"d": d}, "budget": {"max_iters": 100},
              "evaluation": evaluation, "suite": "smoke"}
    config_hash = f"{abs(hash(json.dumps(config, sort_keys=True))) % 16**12:012x}"
    row = {c: None for c in COLUMNS}
    row.update(suite="smoke", solver=solver, problem=problem, d=d, seed=seed,
               config_hash=config_hash, config=json.dumps(config, sort_keys=True),
               status=status, message=message, git_commit="0123456789abcdef0123",
               git_dirty=False, versions=json.dumps({"torch": "2.13.0", "numpy": "2.1.0"}),
               host="testhost (2 cores)", python="3.11.9", device="cpu", dtype="float64",
               threads=1, started_at="2026-11-25T06:00:00+00:00",
               finished_at="2026-11-25T06:05:00+00:00")
    if facts:
        row.update(FACTS[solver])
    if status != "ok":
        return row, None
    series, metrics = _series(problem, d, solver, seed, evaluation["n_samples"])
    sampler = FACTS[solver]["solver_sampler"]
    _amp, cost, iters = SHAPE[solver]
    train_s = cost(d)
    row.update(metrics)
    row.update(
        n_samples=evaluation["n_samples"] if sampler else None,
        n_trials=evaluation["n_trials"] if sampler else None,
        eval_seed=0, n_eval_times=N_T, train_s=train_s, iters=iters,
        s_per_iter=train_s / iters if iters else None, eval_s=0.5,
        peak_rss_mb=300.0 + 10.0 * d**2 + seed, peak_gpu_mb=None,
        n_params=5000 if FACTS[solver]["solver_trained"] else None,
        stop_reason="max_iters", wall_s=train_s + 0.5,
        artifact=f"runs/{config_hash}.json",
    )
    artifact = {"row": dict(row), "series": series, "history": _history(solver, d, seed)}
    return row, artifact


def _write(directory: Path, runs: list[tuple[dict, dict | None]], fmt: str = "parquet",
           columns: list[str] = COLUMNS) -> None:
    (directory / "runs").mkdir(parents=True, exist_ok=True)
    for row, artifact in runs:
        if artifact is not None:
            (directory / row["artifact"]).write_text(json.dumps(artifact))
    if fmt == "parquet":
        # the harness's own typed table (nullable Int64 / boolean / string columns)
        results_frame([row for row, _ in runs]).to_parquet(directory / "results.parquet",
                                                           index=False)
    else:
        pd.DataFrame([row for row, _ in runs], columns=columns).to_csv(
            directory / "results.csv", index=False)


def _synthetic_runs() -> list[tuple[dict, dict | None]]:
    runs = [_row(s, "harmonic_1d", 1, 0) for s in ("grid", "pinn", "oracle")]
    # DSM evaluated with 10^4 samples: its floor is the 10^4-sample oracle, not the first one
    runs.insert(1, _row("dsm", "harmonic_1d", 1, 0, evaluation={"n_samples": 10_000}))
    runs.append(_row("oracle", "harmonic_1d", 1, 0, evaluation={"n_samples": 10_000}))
    runs.append(_row("dsm", "harmonic_1d_phase", 1, 0))
    runs.append(_row("dsm", "free_singular", 1, 0))
    for d in (1, 2, 4):
        runs += [_row("dsm", "harmonic", d, seed) for seed in (0, 1)]
        runs.append(_row("oracle", "harmonic", d, 0))
    runs += [_row("grid", "harmonic", d, 0) for d in (1, 2)]
    runs.append(_row("grid", "harmonic", 4, 0, status="infeasible", message=INFEASIBLE_MSG))
    runs.append(_row("pinn", "harmonic", 1, 0))
    runs.append(_row("pinn", "harmonic", 2, 0, status="failed", message=FAILED_MSG))
    runs += [_row("dsm", "bosons", n, 0) for n in (2, 3)]
    return runs


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path, pd.DataFrame]:
    results_dir = tmp_path_factory.mktemp("results")
    runs = _synthetic_runs()
    _write(results_dir, runs)
    # one artifact lost: its row stays in the table, its time series are a noted gap
    lost = next(r for r, _ in runs if r["problem"] == "harmonic_1d_phase")
    (results_dir / lost["artifact"]).unlink()
    out = build.build_report(results_dir, results_dir / "report")
    return results_dir, out, pd.DataFrame([row for row, _ in runs])


class _ImageCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.tables = 0
        self.cells: list[str] = []
        self._in_cell = False

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs).get("src", ""))
        if tag == "table":
            self.tables += 1
        self._in_cell = tag in ("td", "th")

    def handle_endtag(self, tag):
        self._in_cell = False

    def handle_data(self, data):
        if self._in_cell:
            self.cells.append(data)


EXPECTED_FIGURES = [
    "error_vs_dimension_harmonic", "errors_fixed_dimension",
    "cost_vs_dimension_harmonic", "memory_vs_dimension_harmonic",
    "cost_vs_dimension_bosons", "memory_vs_dimension_bosons",
    "moments_harmonic_1d_d1", "moments_free_singular_d1",
    "moments_harmonic_d1", "moments_harmonic_d2", "moments_harmonic_d4",
    "moments_bosons_d2", "moments_bosons_d3",
    "drift_errors_harmonic_1d", "drift_errors_harmonic", "drift_errors_free_singular",
    "drift_errors_vs_dimension_harmonic",
    "density_harmonic_1d", "density_harmonic_1d_2", "density_harmonic", "density_harmonic_2",
    "density_free_singular",
    "marginals_harmonic_1d", "marginals_harmonic", "marginals_free_singular",
    "gallery", "gallery_2",
    "training_harmonic_1d_d1", "training_harmonic_d1", "training_harmonic_d2",
    "training_harmonic_d4", "training_free_singular_d1", "training_bosons_d2",
    "training_bosons_d3",
    "bosons_time_series_n2", "bosons_time_series_n3", "bosons_vs_particles",
]


# ------------------------------------------------------------------------------ tests
@pytest.mark.slow
def test_every_figure_and_table_exists(built):
    _, out, _ = built
    for name in EXPECTED_FIGURES:
        for ext in ("png", "pdf"):
            path = out / "figures" / f"{name}.{ext}"
            assert path.exists() and path.stat().st_size > 1000, path
    # no figure beyond the expected ones (an unexpected one means the selection logic changed)
    assert sorted(p.stem for p in (out / "figures").glob("*.png")) == sorted(EXPECTED_FIGURES)
    # each at one-column width too, and each with a LaTeX snippet that includes its PDF
    assert sorted(p.stem for p in (out / "figures" / "column").glob("*.pdf")) == sorted(
        EXPECTED_FIGURES)
    for name in EXPECTED_FIGURES:
        page = (out / "figures" / f"{name}.tex").read_text()
        column = (out / "figures" / "column" / f"{name}.tex").read_text()
        assert rf"\includegraphics[width=\textwidth]{{figures/{name}.pdf}}" in page
        assert rf"\includegraphics[width=\columnwidth]{{figures/column/{name}.pdf}}" in column
        assert r"\begin{figure*}" in page and r"\caption{" in column
    # the families against dimension are 3.4 in wide at column width (a tight bounding box
    # trims the margins, and a legend above the panels never makes them wider)
    from PIL import Image
    for name in EXPECTED_FIGURES:
        if not ("dimension" in name or name.startswith("bosons_vs")):
            continue
        with Image.open(out / "figures" / "column" / f"{name}.png") as image:
            width_in = image.size[0] / image.info.get("dpi", (150, 150))[0]
        assert 2.4 < width_in < 3.6, (name, width_in)
    for name in ("main", "drift_energy", "runs"):
        assert (out / "tables" / f"{name}.csv").exists()
        tex = (out / "tables" / f"{name}.tex").read_text()
        assert all(rule in tex for rule in (r"\toprule", r"\midrule", r"\bottomrule"))
    assert "authors' published (not rerun)" in (out / "tables" / "main.tex").read_text()
    report = (out / "report.md").read_text()
    assert "drawing failed" not in report  # build_all turns exceptions into notes: none allowed
    for name in EXPECTED_FIGURES:
        assert f"figures/{name}.png" in report
    # captions say what was plotted: the loss is labelled as the loss, with its terms
    assert "Loss shown: dsm: sum of loss terms (loss_u, loss_v); pinn: sum of loss terms" in report


@pytest.mark.slow
def test_every_figure_has_at_most_three_panels_and_a_legend_within_them(built, tmp_path):
    """Every figure of the synthetic suite, at page and at column width (3.4 in)."""
    from reports.data import aggregate
    from reports.excess import add_excess
    from reports.figures import build_all

    results = load_results(built[0])
    agg = add_excess(aggregate(results.table, results.styles), results, n_boot=50)
    page = build_all(results, agg, tmp_path)
    assert len(page.figures) == len(EXPECTED_FIGURES)
    assert not any("drawing failed" in note for note in page.skipped), page.skipped
    column = sorted(p.stem for p in (tmp_path / "column").glob("*.png"))
    assert column == sorted(f.name for f in page.figures)
    for record in page.figures:
        assert record.panels <= 3 and record.legend_fits, record.name


@pytest.mark.slow
def test_html_parses_and_embeds_every_image(built):
    _, out, _ = built
    text = (out / "report.html").read_text()
    parser = _ImageCollector()
    parser.feed(text)
    parser.close()
    assert len(parser.images) == len(EXPECTED_FIGURES)
    for src in parser.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert parser.tables >= 2  # main table and the runs without a result
    assert 'src="http' not in text and "<script" not in text  # self-contained, static


@pytest.mark.slow
def test_main_table_numbers_equal_row_values(built):
    _, out, rows = built
    main = pd.read_csv(out / "tables" / "main.csv", keep_default_na=True)
    main["variant"] = main["variant"].fillna("")
    ok = rows[rows["status"] == "ok"]
    html_cells = _ImageCollector()
    html_cells.feed((out / "report.html").read_text())
    # single-seed configurations: the table shows the row itself (CSV round trip is exact:
    # pandas writes floats with repr precision)
    single = ok[(ok["problem"] == "harmonic_1d") & (ok["solver"] == "dsm")].iloc[0]
    line = main[(main["problem"] == "harmonic_1d") & (main["solver"] == "dsm")].iloc[0]
    for metric in ("mean_err", "var_err", "w1_err", "train_s", "peak_rss_mb"):
        assert line[metric] == single[metric], metric
    assert line["mean_err_spread"] == single["mean_err_std"]
    assert format_pm(single["mean_err"], single["mean_err_std"]) in html_cells.cells
    assert line["published_mean_err"] == 0.108 and line["published_var_err_spread"] == 0.010
    # every single-run configuration, all of its numbers
    counted = 0
    for _, line in main[main["n_ok"] == 1].iterrows():
        match = ok[(ok["problem"] == line["problem"]) & (ok["d"] == line["d"])
                   & (ok["solver"] == line["solver"])]
        if line["solver"] == "oracle" and line["problem"] == "harmonic_1d":
            match = match[[json.loads(c)["evaluation"]["n_samples"] == int(line["n_samples"])
                           for c in match["config"]]]
        assert len(match) == 1
        for metric in ("mean_err", "var_err", "w1_err", "train_s", "peak_rss_mb"):
            expected = match[metric].iloc[0]
            assert (pd.isna(expected) and pd.isna(line[metric])) or line[metric] == expected
        counted += 1
    assert counted >= 10
    # two seeds: the mean over seeds and the pooled spread (law of total variance)
    two = ok[(ok["problem"] == "harmonic") & (ok["d"] == 2) & (ok["solver"] == "dsm")]
    line = main[(main["problem"] == "harmonic") & (main["d"] == 2) & (main["solver"] == "dsm")]
    assert line["mean_err"].iloc[0] == pytest.approx(two["mean_err"].mean(), rel=1e-12)
    expected = math.sqrt((two["mean_err_std"] ** 2).mean()
                         + ((two["mean_err"] - two["mean_err"].mean()) ** 2).mean())
    assert line["mean_err_spread"].iloc[0] == pytest.approx(expected, rel=1e-12)


@pytest.mark.slow
def test_failed_and_infeasible_runs_are_gaps(built):
    _, out, _ = built
    main = pd.read_csv(out / "tables" / "main.csv")
    infeasible = main[(main["problem"] == "harmonic") & (main["d"] == 4)
                      & (main["solver"] == "grid")].iloc[0]
    assert infeasible["n_ok"] == 0 and np.isnan(infeasible["mean_err"])
    assert infeasible["status"] == "1 infeasible" and infeasible["message"] == INFEASIBLE_MSG
    failed = main[(main["problem"] == "harmonic") & (main["d"] == 2)
                  & (main["solver"] == "pinn")].iloc[0]
    assert failed["status"] == "1 failed"
    runs = pd.read_csv(out / "tables" / "runs.csv")
    assert set(runs["status"]) == {"ok", "failed", "infeasible"}
    report = (out / "report.md").read_text()
    assert INFEASIBLE_MSG in report and FAILED_MSG in report
    assert "is missing; its time series are not plotted" in report
    phase = main[(main["problem"] == "harmonic_1d_phase")].iloc[0]
    assert phase["n_ok"] == 1 and np.isfinite(phase["mean_err"])  # the row itself still counts
    # the oracle variants at harmonic_1d are told apart by their sample count
    oracle = main[(main["problem"] == "harmonic_1d") & (main["solver"] == "oracle")]
    assert list(oracle["variant"]) == ["n_samples = 1,000", "n_samples = 10,000"]  # natural order


def test_report_with_only_failed_runs_skips_figures(tmp_path):
    runs = [_row("dsm", "harmonic", 3, 0, status="failed", message=FAILED_MSG),
            _row("grid", "harmonic", 5, 0, status="infeasible", message=INFEASIBLE_MSG)]
    _write(tmp_path, runs, fmt="csv")
    out = build.build_report(tmp_path, tmp_path / "out")
    report = (out / "report.md").read_text()
    assert "Figures not drawn" in report and "drawing failed" not in report
    assert "no problem has successful runs at two or more dimensions" in report
    assert not list(out.glob("figures/*.png"))
    assert (out / "report.html").exists() and (out / "tables" / "main.csv").exists()


def test_cli_entry_points(tmp_path, monkeypatch):
    parser = argparse.ArgumentParser()
    build.configure_parser(parser)
    assert build.main(parser.parse_args([str(tmp_path / "missing")])) == 2
    _write(tmp_path, [_row("grid", "harmonic", 5, 0, status="infeasible", message="too big")],
           fmt="csv")
    monkeypatch.chdir(tmp_path)
    assert build.main(parser.parse_args([str(tmp_path)])) == 0
    # default OUT: reports/<suite>-<date>/ under the current directory
    outs = list((tmp_path / "reports").glob("smoke-*"))
    assert len(outs) == 1 and (outs[0] / "report.html").exists()
    assert build.default_out_dir("smoke").name.startswith("smoke-20")


def test_power_law_exponent_known_answer():
    d = np.array([1, 2, 4, 8, 16, 100])
    assert power_law_exponent(d, 3.0 * d**2.0) == pytest.approx(2.0, abs=1e-12)
    assert power_law_exponent(d, 0.5 * d**0.5) == pytest.approx(0.5, abs=1e-12)
    assert np.isnan(power_law_exponent(np.array([4, 4]), np.array([1.0, 2.0])))  # one dimension


def test_pooled_spread_known_answer():
    # one run: its own trial spread
    assert pooled_spread([0.1], [0.04]) == pytest.approx(0.04)
    # two runs 0.1 and 0.3 (between-seed variance 0.01), trial spreads 0.03 and 0.04
    assert pooled_spread([0.1, 0.3], [0.03, 0.04]) == pytest.approx(
        math.sqrt((0.03**2 + 0.04**2) / 2 + 0.01))
    # no trial spreads: sample standard deviation over seeds; NaN for one run
    assert pooled_spread([1.0, 3.0]) == pytest.approx(math.sqrt(2.0))
    assert np.isnan(pooled_spread([1.0]))


def test_cost_estimate_and_total_loss_parsing():
    assert parse_cost_estimate(INFEASIBLE_MSG)["peak_rss_mb"] == pytest.approx(24.0 * 1024)
    assert parse_cost_estimate("estimated 2.5 h of wall time")["train_s"] == pytest.approx(9000)
    assert parse_cost_estimate("unsupported boundary") == {}
    history = pd.DataFrame({"iter": [0, 1], "wall_s": [0.1, 0.2], "loss_a": [1.0, 0.5],
                            "loss_b": [2.0, 1.0], "var_err": [0.3, 0.2]})
    loss, how = total_loss(history)
    assert loss.tolist() == [3.0, 1.5] and "loss_a" in how and "var_err" not in how


@pytest.mark.slow
def test_summary_compares_with_the_floor_at_the_same_sample_count(built):
    _, out, rows = built
    ok = rows[rows["status"] == "ok"]
    dsm = ok[(ok["problem"] == "harmonic_1d") & (ok["solver"] == "dsm")].iloc[0]
    oracles = ok[(ok["problem"] == "harmonic_1d") & (ok["solver"] == "oracle")]
    # the DSM row was evaluated with 10^4 samples: its floor is the 10^4-sample oracle
    floor = oracles[[json.loads(c)["evaluation"]["n_samples"] == 10_000
                     for c in oracles["config"]]].iloc[0]
    ratio = dsm["var_err"] / floor["var_err"]
    summary = pd.read_csv(out / "tables" / "summary.csv")
    line = summary[(summary["problem"] == "harmonic_1d") & (summary["solver"] == "dsm")].iloc[0]
    assert line["var_err_x_floor"] == pytest.approx(ratio, rel=1e-12)
    assert line["floor_var_err"] == floor["var_err"]
    # the report's summary table: problems as rows, solvers as columns, the ratio first
    row = next(ln for ln in (out / "report.md").read_text().splitlines()
               if ln.startswith("| harmonic_1d | d = 1 |"))
    assert f"| var {ratio:.1f}×, mean " in row
    assert f"var_err {format_number(floor['var_err'], 2)}" in row  # the floor's own column


def test_point_labels_name_settings_that_change_along_a_line():
    """A setting that changes only with d (the standard suite's exact -> Hutchinson switch)
    labels each point of the line in the solver's words, never as key=value; a setting a
    row's config leaves out is read from its artifact's full solver_config, else from the
    options as run; a line with one configuration has no labels."""
    configs = [{"d": 1, "solver_options": {"width": 64}},
               {"d": 10, "solver_options": {"width": 64}},
               {"d": 20, "solver_options": {"width": 64, "grad_div": "hutchinson"}},
               {"d": 1}, {"d": 20}]
    resolved = [None, {"solver": {"grad_div": "exact", "hutchinson_probes": 1}},
                {"solver": {"grad_div": "hutchinson", "hutchinson_probes": 2}}, None, None]
    table = pd.DataFrame({"problem": "harmonic", "variant": "",
                          "solver": ["dsm", "dsm", "dsm", "oracle", "oracle"],
                          "_config": configs,
                          "resolved_config": [json.dumps(r) if r else None for r in resolved]})
    artifacts = {0: {"solver_config": {"grad_div": "exact"}}}
    labels = _point_labels(table, artifacts)
    assert labels == ["exact grad div", "exact grad div", "Hutchinson (2 probes)", "", ""]
    assert not any("=" in label for label in labels)


# ------------------------------------------------------------------- solver facts
def test_unknown_solver_is_drawn_and_listed_with_its_declared_facts(tmp_path):
    """A solver the report has never heard of ("splitstep", a plugin not installed here) is
    labelled, coloured and ordered from its rows' facts alone."""
    runs = [_row("splitstep", "harmonic_1d", 1, 0), _row("dsm", "harmonic_1d", 1, 0),
            _row("oracle", "harmonic_1d", 1, 0)]
    _write(tmp_path, runs)
    out = build.build_report(tmp_path, tmp_path / "out")
    styles = load_results(tmp_path).styles
    assert styles.label("splitstep") == "split-step Fourier"
    assert styles.color("splitstep") == "#56B4E9"
    assert styles.order == ["dsm", "splitstep", "oracle"]  # methods by name, the floor last
    # dsm declares no colour: the first palette colour that no solver declared
    assert styles.color("dsm") == PALETTE[0] and styles.color("dsm") != "#56B4E9"
    report = (out / "report.md").read_text()
    assert "split-step Fourier (`splitstep`)" in report  # the setup's solver list
    main_rows = [ln for ln in report.splitlines() if ln.startswith("| harmonic_1d | 1 |")]
    assert any("| split-step Fourier |" in ln for ln in main_rows)  # the main table
    main = pd.read_csv(out / "tables" / "main.csv")
    assert main.loc[main["solver"] == "splitstep", "solver_label"].tolist() == [
        "split-step Fourier"]
    # compared with the floor like any method, by the floor fact, not by name
    summary = pd.read_csv(out / "tables" / "summary.csv")
    assert np.isfinite(summary.loc[summary["solver"] == "splitstep", "var_err_x_floor"]).all()
    assert "oracle" not in set(summary["solver"])
    assert (out / "figures" / "errors_fixed_dimension.png").exists()
    assert "drawing failed" not in report


def test_table_without_fact_columns_still_builds(tmp_path):
    """Results written before rows carried the solver facts: the built-in solvers keep their
    labels and the oracle is still the floor (the legacy table in reports.style)."""
    runs = [_row(s, "harmonic_1d", 1, 0, facts=False) for s in ("grid", "dsm", "oracle")]
    runs += [_row("dsm", "harmonic", d, 0, facts=False) for d in (1, 2)]
    old_columns = [c for c in COLUMNS if c not in SOLVER_FACTS]
    _write(tmp_path, runs, fmt="csv", columns=old_columns)
    assert "solver_label" not in pd.read_csv(tmp_path / "results.csv").columns
    out = build.build_report(tmp_path, tmp_path / "out")
    report = (out / "report.md").read_text()
    assert "Crank-Nicolson grid (`grid`)" in report and "drawing failed" not in report
    summary = pd.read_csv(out / "tables" / "summary.csv")
    dsm = summary[(summary["solver"] == "dsm") & (summary["problem"] == "harmonic_1d")]
    assert np.isfinite(dsm["var_err_x_floor"]).all() and "oracle" not in set(summary["solver"])
    styles = load_results(tmp_path).styles
    assert styles.floors == ["oracle"]
    # an unknown solver without facts: its name, and a palette colour
    unknown = SolverStyles.from_table(pd.DataFrame({"solver": ["mystery"]}))
    assert unknown.label("mystery") == "mystery" and unknown.color("mystery") in PALETTE


# --------------------------------------------------------------- package structure
REPORTS = Path(__file__).resolve().parents[1] / "reports"
PROJECT_PACKAGES = ("reports", "dsm_bench", "solvers", "reference", "benchmarks")


def _imports(path: Path) -> set[str]:
    """The modules a file imports (``from reports import style`` -> reports.style)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                module = REPORTS.parent / Path(*full.split("."))
                exists = module.with_suffix(".py").exists() or (module / "__init__.py").exists()
                names.add(full if exists else node.module)
    return names


def test_reports_import_graph_has_no_cycle_and_reads_only_the_schema():
    modules = {}
    for path in REPORTS.rglob("*.py"):
        parts = path.relative_to(REPORTS.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = _imports(path)
    outside = {m for deps in modules.values() for m in deps
               if m.split(".")[0] in PROJECT_PACKAGES and not m.startswith("reports")}
    # the results table's schema, the problem registry, the pooled-error and model-error
    # estimators (numpy only: the report's excess over the floor is the metrics' own formula)
    # and the solver registry, for a solver's own variant labels (solvers.base's default where
    # it is not installed); published data (reference.published); the tuning's own section,
    # which reads the studies' journal (optional: optuna is an extra); never the harness or a
    # solver module
    assert outside <= {"dsm_bench.schema", "dsm_bench.table", "dsm_bench.pooled",
                       "dsm_bench.model_error", "reference.problems", "solvers.base",
                       "solvers.registry", "reference.published.henon_heiles",
                       "dsm_bench.tuning.report"}, outside
    graph = {m: {d for d in deps if d in modules} for m, deps in modules.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for dep in sorted(graph[module]):
            assert state.get(dep) != 1, "import cycle: " + " -> ".join([*path, module, dep])
            if dep not in state:
                visit(dep, [*path, module])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [])
    assert "reports.figures.common" in graph and len(graph) >= 10


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed")
def test_report_html_renders_in_a_headless_browser(built):
    _, out, _ = built
    shot = out / "report.png"
    # no network here: without the background-networking flags chromium keeps dialling out
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--disable-quic", f"--user-data-dir={out / '.chromium'}",
                    f"--screenshot={shot}", "--window-size=1200,2400",
                    (out / "report.html").as_uri()], check=True, timeout=120,
                   capture_output=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_solution_scored_without_reference_is_the_density_reference():
    """Where no run carries a reference density, the solution scored against itself
    (reference "self": it IS the grid reference) is the reference panel, whatever its name."""
    from reports.figures.density import _reference

    x, t = np.linspace(-1, 1, 5), np.linspace(0, 1, 3)
    rho = np.ones((3, 5))
    styles = SolverStyles.from_table(pd.DataFrame({
        "solver": ["fd", "dsm"], "solver_label": ["finite differences", "DSM"],
        "solver_short_label": ["FD", "DSM"]}))
    panels = {"dsm": (x, t, 2 * rho, None), "fd": (x, t, rho, None)}
    reference, label, itself = _reference(styles, panels, {"dsm": "grid", "fd": "self"})
    assert itself == "fd" and label == "FD" and reference[2] is rho
    # a run that carries its reference density wins: the reference is separate
    panels["dsm"] = (x, t, 2 * rho, 3 * rho)
    reference, label, itself = _reference(styles, panels, {"dsm": "exact", "fd": "self"})
    assert itself is None and label == "exact" and np.all(reference[2] == 3 * rho)


# ----------------------------------------------------------- excess over the floor
def _with_trial_moments(run: tuple[dict, dict | None], bias: float, noise_seed: int,
                        k: int = 6) -> tuple[dict, dict | None]:
    """The run's artifact given per-trial pooled moments (K, T, 1): the exact laws, the
    variance scaled by (1 + bias), plus trial noise of relative size 1e-3."""
    row, artifact = run
    rng = np.random.default_rng(noise_seed)
    ref_mean = np.asarray(artifact["series"]["ref_mean"])[None, :, None]
    ref_var = np.asarray(artifact["series"]["ref_var"])[None, :, None]
    noise = 1e-3 * rng.standard_normal((k, N_T, 1))
    artifact["series"].update(trial_mean=(ref_mean + 1e-3 * noise).tolist(),
                              trial_var=(ref_var * (1 + bias + noise)).tolist())
    row["n_trials"] = k
    from dsm_bench.pooled import TrialMoments, pooled_errors

    row.update(pooled_errors(TrialMoments.from_series(artifact["series"])))
    artifact["row"] = dict(row)
    return row, artifact


def test_excess_over_the_floor_in_the_table_text_and_figure(tmp_path):
    from reports.excess import EXCESS_COLUMNS, MODEL_ERROR_COLUMNS, add_excess, model_error_lines
    from reports.figures import FigureWriter
    from reports.figures.dimension import error_vs_dimension
    from reports.style import FLOOR_WORDS
    from reports.tables import main_table

    runs = []
    for d in (1, 2):
        runs.append(_with_trial_moments(_row("oracle", "harmonic", d, 0), 0.0, 100 + d))
        # seed 0: a 2 % variance bias on the floor's noise draw; seed 1 likewise
        runs += [_with_trial_moments(_row("dsm", "harmonic", d, s), 0.02, 100 + d)
                 for s in (0, 1)]
    # PINN: no trial moments (a density method); the free_singular DSM: no floor to pair with
    runs.append(_row("pinn", "harmonic", 1, 0))
    runs.append(_with_trial_moments(_row("dsm", "free_singular", 1, 0), 0.0, 7))
    # an oracle of its own draw at d = 3 against a DSM without bias: on the floor
    runs.append(_with_trial_moments(_row("oracle", "harmonic", 3, 0), 0.0, 1))
    runs.append(_with_trial_moments(_row("dsm", "harmonic", 3, 0), 0.0, 2))
    _write(tmp_path, runs)
    results = load_results(tmp_path)
    from reports.data import aggregate

    agg = add_excess(aggregate(results.table, results.styles), results, n_boot=300)
    assert set(EXCESS_COLUMNS) <= set(agg.columns)
    dsm = agg[(agg["solver"] == "dsm") & (agg["problem"] == "harmonic")].set_index("d")
    # relative L2 of a 2 % scaled variance is 0.02, shared noise cancels: excess 0.02
    np.testing.assert_allclose(dsm.loc[[1, 2], "var_excess"], 0.02, atol=1e-3)
    assert (dsm.loc[[1, 2], "var_excess_lo"] > 0).all()
    on_floor = dsm.loc[3]
    assert on_floor["var_excess_lo"] <= 0 <= on_floor["var_excess_hi"]
    others = agg[(agg["solver"] != "dsm") | (agg["problem"] != "harmonic")]
    assert others["var_excess"].isna().all()  # floor, PINN, a DSM without a floor partner

    # the model error on the same noise draw: the 2 % bias itself, never negative
    assert set(MODEL_ERROR_COLUMNS) <= set(agg.columns)
    np.testing.assert_allclose(dsm.loc[[1, 2], "var_model_err"], 0.02, rtol=0.05)
    assert (dsm.loc[[1, 2], "var_model_err_lo"] > 0).all()
    assert (agg["var_model_err"].dropna() >= 0).all()
    assert (agg["var_model_err_lo"].dropna() >= 0).all()
    assert on_floor["var_model_err"] >= 0 and on_floor["var_model_err_lo"] == 0
    assert others["var_model_err"].isna().all()

    table = main_table(agg, results.styles)
    shown = table.display.set_index(["problem", "d", "solver"])
    assert shown.loc[("harmonic", "3", "DSM"), "var model error [95% CI]"].endswith("†")
    assert not shown.loc[("harmonic", "1", "DSM"), "var model error [95% CI]"].endswith("†")
    assert FLOOR_WORDS in table.caption
    assert {"var_model_err", "var_model_err_lo", "var_excess", "var_excess_lo",
            "var_err_pooled"} <= set(table.numbers.columns)
    lines = model_error_lines(agg, results.styles)
    assert sum(FLOOR_WORDS in line for line in lines if "d = 3" in line) == 1
    assert not any(FLOOR_WORDS in line.split(";")[0] for line in lines if "d = 1" in line)
    assert not any("exceeds" in line for line in lines)

    writer = FigureWriter(tmp_path / "figures")
    error_vs_dimension(results, agg, writer)
    record = next(f for f in writer.figures if f.name == "model_error_vs_dimension_harmonic")
    assert record.png.exists() and FLOOR_WORDS in record.caption
