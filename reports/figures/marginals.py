"""1-D marginal densities at a few times: each solver's beside the reference's (the runs'
density series, 1-D runs), and a gallery of the problems (their references alone, computed
from each problem's ``reference()``), at t = 0, T/2 and T."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from reports import style
from reports.data import Results
from reports.figures.common import LENGTH_UNIT, FigureWriter, artifacts_by_line, figure_legend
from reports.figures.density import _density_panel, _reference

plt = style.plt

__all__ = ["marginal_densities", "problem_gallery"]

_FRACTIONS = (0.0, 0.5, 1.0)  # of the horizon T: the times drawn
_TIME_NAMES = ("t = 0", "t = T/2", "t = T")


def _nearest(times: np.ndarray, t: float) -> int:
    return int(np.argmin(np.abs(times - t)))


def _support(curves: list[tuple[np.ndarray, np.ndarray]]) -> tuple[float, float]:
    """The x range where any drawn (x, density) is above 1e-3 of its peak, padded."""
    inside = [x[rho >= 1e-3 * np.nanmax(rho)] for x, rho in curves
              if np.isfinite(rho).any() and np.nanmax(rho) > 0]
    inside = [x for x in inside if len(x)]
    if not inside:
        return float(curves[0][0][0]), float(curves[0][0][-1])
    lo = min(float(x[0]) for x in inside)
    hi = max(float(x[-1]) for x in inside)
    pad = 0.08 * (hi - lo) if hi > lo else 1.0
    return lo - pad, hi + pad


def marginal_densities(results: Results, agg: pd.DataFrame, writer: FigureWriter) -> None:
    """Per problem with 1-D runs that carry a density series: three panels (t = 0, T/2, T),
    the reference black dashed and each solver's density in its colour."""
    title = "Marginal density at t = 0, T/2 and T"
    drawn = False
    for problem in list(dict.fromkeys(results.ok["problem"])):
        panels: dict[str, tuple] = {}
        kinds: dict[str, str] = {}
        for (solver, _variant), (row, artifact) in artifacts_by_line(results, problem, 1).items():
            panel = _density_panel(artifact)
            if solver not in panels and panel is not None:
                panels[solver] = panel
                kinds[solver] = str(row.get("reference") or "")
        if panels:
            _draw_marginals(results.styles, problem, panels, kinds, writer, title)
            drawn = True
    if not drawn:
        writer.skip(title, "no 1-D run artifact carries a density series")


def _draw_marginals(styles: style.SolverStyles, problem: str, panels: dict[str, tuple],
                    kinds: dict[str, str], writer: FigureWriter, title: str) -> None:
    reference, ref_label, itself = _reference(styles, panels, kinds)
    horizon = max(float(p[1][-1]) for p in panels.values())
    nrows, ncols, figsize = style.panel_grid(3, height=2.2)
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False, sharey=True)
    drawn: list[tuple[np.ndarray, np.ndarray]] = []
    for ax, fraction, name in zip(axes.flat, _FRACTIONS, _TIME_NAMES, strict=True):
        for solver, (x, t, rho, _ref) in panels.items():
            if solver == itself:
                continue
            k = _nearest(t, fraction * horizon)
            ax.plot(x, rho[k], color=styles.color(solver), lw=1.2,
                    label=styles.short_label(solver))
            drawn.append((x, rho[k]))
        if reference is not None:
            x, t, rho = reference
            k = _nearest(t, fraction * horizon)
            ax.plot(x, rho[k], label=f"reference ({ref_label})", **style.REFERENCE_STYLE)
            drawn.append((x, rho[k]))
            name = f"{name} = {t[k]:.3g}" if fraction else name
        ax.set_title(name, fontsize=8)
        ax.set_xlabel(f"x ({LENGTH_UNIT})")
    for ax in axes.flat:
        ax.set_xlim(*_support(drawn))
    for row in axes:
        row[0].set_ylabel(r"$\rho_1(x, t)$ (1/a.u.)")
    fig.tight_layout()
    figure_legend(fig, axes, ncol=5, title=problem)
    writer.save(
        fig, f"marginals_{problem}", f"{title}: {problem}",
        f"{problem}: the 1-D marginal density at t = 0, T/2 and T (nearest recorded times): "
        f"the {ref_label or 'exact'} reference (black dashed) and each solver's (first seed, "
        "first configuration; samplers' densities are histograms of their samples).")


def problem_gallery(results: Results, agg: pd.DataFrame, writer: FigureWriter) -> None:
    """The problems with a successful run as their references show them: the first
    coordinate's marginal density at t = 0, T/2 and T, one panel per problem (at its smallest
    size run), at most 3 panels per figure. A problem without a reference here is left out."""
    title = "The problems at t = 0, T/2 and T"
    cases = [case for case in map(_gallery_case, _problem_settings(results.ok)) if case]
    if not cases:
        writer.skip(title, "no problem of the table has an exact reference here")
        return
    chunks = [cases[k:k + 3] for k in range(0, len(cases), 3)]
    shades = plt.get_cmap("viridis")
    for number, chunk in enumerate(chunks, start=1):
        nrows, ncols, figsize = style.panel_grid(len(chunk), height=2.2)
        fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False)
        for ax, (label, x, rho) in zip(axes.flat, chunk, strict=False):
            for k, name in enumerate(_TIME_NAMES):
                ax.plot(x, rho[k], color=shades(0.85 * k / 2), lw=1.3, label=name)
            ax.set_xlim(*_support([(x, r) for r in rho]))
            ax.set_title(label, fontsize=8)
            ax.set_xlabel(f"x ({LENGTH_UNIT})")
            ax.set_ylabel(r"$\rho_1(x, t)$ (1/a.u.)")
        for ax in axes.flat[len(chunk):]:
            ax.set_visible(False)
        fig.tight_layout()
        figure_legend(fig, axes, ncol=3)
        suffix = f" ({number} of {len(chunks)})" if len(chunks) > 1 else ""
        writer.save(
            fig, "gallery" + (f"_{number}" if number > 1 else ""), f"{title}{suffix}",
            "Each problem's exact reference: the first coordinate's marginal density at t = 0, "
            "T/2 and T (lighter: later), at the smallest size run and the suite's settings.")


def _problem_settings(table: pd.DataFrame) -> list[tuple[str, dict[str, Any]]]:
    """(problem, settings) in the table's order: its smallest size and the suite's overrides."""
    out = []
    for problem, group in table.groupby("problem", sort=False):
        dims = sorted(int(d) for d in group["d"].dropna().unique())
        overrides: dict[str, Any] = {}
        for config in group["_config"]:
            for key, value in (config.get("problem_overrides") or {}).items():
                overrides.setdefault(key, value)
        out.append((str(problem), {**overrides, "d": dims[0] if dims else None}))
    return out


def _gallery_case(case: tuple[str, dict[str, Any]]) -> tuple | None:
    """(label, x, rho (3, len(x))) from the problem's reference; None where the
    problem is not installed here or has no reference."""
    from reference.problems import get_problem, problem_names

    name, settings = case
    if name not in problem_names():
        return None
    try:
        problem = get_problem(name, **{k: v for k, v in settings.items() if v is not None})
        reference = problem.reference()
    except (ValueError, TypeError):
        return None
    if reference is None or not hasattr(reference, "marginal_density"):
        return None
    lo, hi = problem.box
    x = np.linspace(lo, hi, 600)
    times = np.array([f * problem.T for f in _FRACTIONS])
    rho = np.asarray(reference.marginal_density(x, times), dtype=float)[:, 0, :]
    size = f"{style.dimension_symbol(name)} = {problem.d}"
    return f"{name} ({size}, T = {problem.T:g})", x, rho
