"""The marginal-density figures: each solver's 1-D density at t = 0, T/2 and T beside the
reference's, the gallery of the problems' references, and what happens without data; and the
density maps, at most 3 panels each."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from test_report import _row, _write

from reference.problems import get_problem
from reports import style
from reports.data import Results, aggregate, load_results
from reports.figures import FigureWriter
from reports.figures.density import density_maps
from reports.figures.marginals import _gallery_case, marginal_densities, problem_gallery


def _loaded(tmp_path: Path, runs) -> tuple[Results, pd.DataFrame]:
    _write(tmp_path, runs)
    results = load_results(tmp_path)
    style.apply_style()
    return results, aggregate(results.table, results.styles)


def test_the_gallery_shows_each_problems_reference_at_three_times(tmp_path):
    """One panel per problem with a reference and a successful run (anharmonic, cat), none
    for a problem without one (bosons), not installed, or without a successful run. The
    curves are the reference's marginal at t = 0, T/2, T: normalised, and at t = 0 the law
    the problem samples its start from."""
    table = pd.DataFrame({"problem": ["anharmonic", "cat", "bosons", "not_installed",
                                      "double_well"],
                          "d": [1, 1, 2, 1, 1], "_config": [{}] * 5,
                          "status": ["ok"] * 4 + ["failed"]})  # no ok run: not shown
    writer = FigureWriter(tmp_path)
    problem_gallery(Results(tmp_path, table, {}), pd.DataFrame(), writer)
    assert [(f.name, f.panels) for f in writer.figures] == [("gallery", 2)]
    assert (tmp_path / "gallery.pdf").stat().st_size > 1000 and not writer.skipped
    for name in ("anharmonic", "cat"):
        label, x, rho = _gallery_case((name, {"d": 1}))
        assert label.startswith(f"{name} (d = 1, T = ")
        dx = x[1] - x[0]
        assert rho.shape == (3, len(x)) and np.allclose(rho.sum(1) * dx, 1, atol=2e-3)
        start = get_problem(name, d=1).sample_initial(200_000, 0)[:, 0]
        counts, _ = np.histogram(start, bins=np.append(x - dx / 2, x[-1] + dx / 2))
        sampled = counts / (len(start) * dx)
        # L1 distance of the two laws against twice the histogram's own expected L1 noise,
        # sum_i sqrt(2 p_i / (pi n)) for bin probabilities p_i (~0.03 here: at 600 bins and
        # 2e5 samples the noise alone is that large)
        p_bin = np.clip(rho[0] * dx, 0, None)
        noise = np.sqrt(2 * p_bin / (np.pi * len(start))).sum()
        assert np.abs(sampled - rho[0]).sum() * dx < 2 * noise, name
        assert np.abs(rho[1:] - rho[0]).sum(1).max() * dx > 0.1, name  # it moves


def test_marginals_draw_one_figure_per_problem_with_density_series(tmp_path):
    runs = [_row(s, "harmonic_1d", 1, 0) for s in ("grid", "oracle", "dsm", "pinn")]
    runs += [_row(s, "harmonic", 2, 0) for s in ("oracle", "dsm")]  # no density at d = 2
    results, agg = _loaded(tmp_path, runs)
    writer = FigureWriter(tmp_path / "figures")
    marginal_densities(results, agg, writer)
    assert [(f.name, f.panels) for f in writer.figures] == [("marginals_harmonic_1d", 3)]
    assert "black dashed" in writer.figures[0].caption and not writer.skipped


def test_marginals_skip_without_density_series(tmp_path):
    """Rows without a density series: no figure, no error, a note of what is missing."""
    results, agg = _loaded(tmp_path, [_row(s, "harmonic", 2, 0) for s in ("oracle", "dsm")])
    writer = FigureWriter(tmp_path / "figures")
    marginal_densities(results, agg, writer)
    assert writer.figures == [] and len(writer.skipped) == 1
    assert "no 1-D run artifact carries a density series" in writer.skipped[0]
    assert not (tmp_path / "figures").exists()


def test_density_maps_have_at_most_three_panels(tmp_path):
    """Four solvers and a reference: the reference map and four error maps, as 3 + 2."""
    runs = [_row(s, "harmonic_1d", 1, 0) for s in ("grid", "oracle", "dsm", "pinn")]
    results, agg = _loaded(tmp_path, runs)
    writer = FigureWriter(tmp_path / "figures")
    density_maps(results, agg, writer)
    assert [(f.name, f.panels) for f in writer.figures] == [
        ("density_harmonic_1d", 3), ("density_harmonic_1d_2", 2)]
    assert writer.figures[1].title.endswith("(2 of 2)")

