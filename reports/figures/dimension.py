"""Errors against dimension (problems run at several d) and at a fixed dimension (the 1-D
problems): one point per configuration, the sampling floor as a band, the authors'
published figures as hollow stars."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dsm_bench.schema import ESS_RELIABLE, metric_label
from reports import style
from reports.data import Results
from reports.figures.common import (
    FigureWriter,
    dimension_axis,
    excess_points,
    figure_legend,
    floor_band,
    floor_words,
    gap_rows,
    headroom,
    line_keys,
    mark_gaps,
    multi_d_problems,
    published_points,
    variant_index,
)

plt = style.plt

__all__ = ["DIMENSION_FIGURES", "error_vs_dimension", "errors_fixed_dimension"]

# the figures against dimension, at most 3 panels each: (name stem, title, metrics); the
# first is the headline figure of its problem. Model errors are drawn on a linear axis that
# includes 0 (the floor), with their interval over trials.
DIMENSION_FIGURES = (
    ("error_vs_dimension", "Error vs dimension", ("mean_err", "var_err", "w1_err")),
    ("model_error_vs_dimension", "Model error vs dimension", ("mean_model_err",
                                                                "var_model_err")),
    ("drift_errors_vs_dimension", "Learned velocity errors vs dimension", ("u_err", "v_err")),
)
_MODEL_ERRORS = ("mean_model_err", "var_model_err")


def error_vs_dimension(results: Results, agg: pd.DataFrame, writer: FigureWriter) -> None:
    problems = multi_d_problems(results.ok)
    if not problems:
        writer.skip("Error vs dimension", "no problem has successful runs at two or more "
                    "dimensions")
        return
    for problem in problems:
        sub = agg[(agg["problem"] == problem) & (agg["n_ok"] > 0)]
        for stem, title, candidates in DIMENSION_FIGURES:
            metrics = [m for m in candidates if m in sub and sub[m].notna().any()]
            if metrics:
                _dimension_figure(results, sub, writer, problem, metrics, stem, title)
            elif stem == DIMENSION_FIGURES[0][0]:
                writer.skip(f"{title} ({problem})", "no error metric was computed")


def _dimension_figure(results: Results, sub: pd.DataFrame, writer: FigureWriter, problem: str,
                      metrics: list[str], stem: str, title: str) -> None:
    styles = results.styles
    gaps = gap_rows(results, problem)
    nrows, ncols, figsize = style.panel_grid(len(metrics))
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False)
    any_gap = False
    all_dims = results.table.loc[results.table["problem"] == problem, "d"]
    for ax, metric in zip(axes.flat, metrics, strict=False):
        if metric in _MODEL_ERRORS:
            _model_error_panel(ax, sub, metric, styles)
        else:
            any_gap |= _error_panel(ax, sub, metric, styles, problem, gaps,
                                    annotate=ax is axes.flat[0] and style.FIG_WIDTH >= 5)
        ax.set_xlabel(style.dimension_label(problem))
        dimension_axis(ax, all_dims)
    for ax in axes.flat[len(metrics):]:
        ax.set_visible(False)
    fig.tight_layout()
    figure_legend(fig, axes, any_gap, title=problem)
    floor = floor_words(styles, sub["solver"])
    if metrics[0] in _MODEL_ERRORS:
        text = (f"{problem}: each sampler's model error vs dimension: the distance between its "
                "moments and the floor's on the same noise draw, pooled over trials, relative "
                "to the reference's norm (docs/metrics.md). Never negative; 0 is the floor "
                f"({floor or 'the exact drift'}). Bars: 95% paired bootstrap interval over "
                f"trials; hollow points: the interval reaches 0, {style.FLOOR_WORDS}.")
    else:
        text = (
            f"{problem}: errors against the {_reference_word(sub)} reference vs dimension "
            "(log scale). Points (one marker and colour per solver, line style per "
            "configuration): mean over seeds; error bars: spread over seeds and sampling "
            "trials (pooled standard deviation). "
            + (f"Shaded band: {floor}, value ± spread, the error left by sampling noise and "
               "time discretisation alone; a sampler inside the band is indistinguishable "
               "from exact. " if floor else "")
            + "Hollow stars: the authors' published figures (not rerun). Small labels (first "
            "panel): a setting that changes along a line, where it changes. x at the top: no "
            "result at that dimension (failed or infeasible).")
    writer.save(fig, f"{stem}_{problem}", f"{title}: {problem}", text)


def _error_panel(ax, sub: pd.DataFrame, metric: str, styles: style.SolverStyles, problem: str,
                 gaps: pd.DataFrame, annotate: bool) -> bool:
    """One error against d on a log axis: methods as points with error bars, the floor as a
    band, published figures as stars, gaps as x; True where a gap was marked."""
    any_gap = False
    for solver, variant in line_keys(sub, styles):
        line = sub[(sub["solver"] == solver) & (sub["variant"] == variant)]
        line = line[line[metric].notna()].sort_values("d")
        if line.empty:
            continue
        color, label = styles.color(solver), styles.label(solver, variant)
        y, spread = line[metric].to_numpy(float), line[f"{metric}_spread"].to_numpy(float)
        if styles.is_floor(solver):
            floor_band(ax, line["d"].to_numpy(float), y, spread, color, label)
            continue
        yerr = np.where(np.isfinite(spread), spread, 0.0)
        ax.errorbar(line["d"], y, yerr=yerr, color=color, marker=styles.marker(solver), ms=3.5,
                    capsize=2.5, lw=1.3,
                    linestyle=style.variant_linestyle(variant_index(sub, solver, variant)),
                    label=label)
        if annotate:
            _annotate_config_changes(ax, line, y, color)
        if "ess_min" in line:
            weak = line["ess_min"].to_numpy(float) < ESS_RELIABLE
            if weak.any():
                ax.scatter(line["d"].to_numpy(float)[weak], y[weak], marker="x", s=45,
                           color="black", zorder=7,
                           label=f"ESS < {ESS_RELIABLE}: moments unreliable")
    for solver in sorted(set(sub["solver"])):
        for d in sorted(set(sub["d"])):
            pub = published_points(problem, int(d), solver).get(metric)
            if pub is not None:
                ax.scatter([d], [pub], marker="*", s=70, facecolor="none",
                           edgecolor=styles.color(solver), linewidth=1.0, zorder=6,
                           label=f"{styles.label(solver)}: authors' published")
    for solver in sorted(set(gaps["solver"])):
        any_gap |= mark_gaps(ax, gaps, solver, styles.color(solver))
    ax.set_yscale("log")
    if not gaps.empty:
        headroom(ax)
    ax.set_ylabel(metric_label(metric))
    return any_gap


def _model_error_panel(ax, sub: pd.DataFrame, column: str, styles: style.SolverStyles) -> None:
    """One line per sampler: its model error vs d with its interval, the floor at 0."""
    for solver, variant in line_keys(sub, styles):
        line = sub[(sub["solver"] == solver) & (sub["variant"] == variant)]
        line = line[line[column].notna()].sort_values("d")
        if line.empty or styles.is_floor(solver):
            continue
        excess_points(ax, line["d"].to_numpy(float), line[column].to_numpy(float),
                      line[f"{column}_lo"].to_numpy(float), line[f"{column}_hi"].to_numpy(float),
                      styles.color(solver), styles.label(solver, variant),
                      style.variant_linestyle(variant_index(sub, solver, variant)),
                      marker=styles.marker(solver))
    floors = [s for s in styles.floors if s in set(sub["solver"])]
    ax.axhline(0.0, color=styles.color(floors[0]) if floors else "0.4", lw=1.0,
               label=f"{styles.label(floors[0])}: 0" if floors else "_floor")
    ax.set_ylabel(metric_label(column))


def _annotate_config_changes(ax, line: pd.DataFrame, y: np.ndarray, color: str) -> None:
    """Label a line's points where its configuration changes with d (``point_label``: the
    solver's words for the settings that change along the line, e.g. "exact grad div" up to
    d = 10, "Hutchinson (1 probe)" above): the first point, then each point whose label
    differs from the point before."""
    previous = None
    for d, value, text in zip(line["d"], y, line["point_label"], strict=True):
        if not text:
            return
        if text != previous and np.isfinite(value):
            note = ax.annotate(text, (d, value), xytext=(2, 5), textcoords="offset points",
                               fontsize=5.5, color=color, rotation=20)
            note.set_in_layout(False)  # a label, not a reason to shrink the panels
        previous = text


def _reference_word(sub: pd.DataFrame) -> str:
    refs = sorted({str(r) for r in sub["reference"].dropna()
                   if str(r) not in ("", "none", "self")})
    return " / ".join(refs) if refs else "available"


def errors_fixed_dimension(results: Results, agg: pd.DataFrame, writer: FigureWriter) -> None:
    """Problems run at one dimension only (the 1-D ones): errors per problem and solver."""
    title = "Errors on fixed-dimension problems"
    styles = results.styles
    multi = set(multi_d_problems(results.ok))
    sub = agg[(~agg["problem"].isin(multi)) & (agg["n_ok"] > 0)]
    metrics = [m for m in ("mean_err", "var_err", "w1_err") if sub[m].notna().any()]
    if sub.empty or not metrics:
        writer.skip(title, "no successful run on a problem run at a single dimension")
        return
    cases = list(dict.fromkeys(zip(sub["problem"], sub["d"], strict=True)))
    keys = [k for k in line_keys(sub, styles) if not styles.is_floor(k[0])]
    methods = [s for s, _ in keys]
    nrows, ncols, figsize = style.panel_grid(len(metrics), height=2.9)
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False)
    width = 0.8 / max(len(keys), 1)
    for ax, metric in zip(axes.flat, metrics, strict=True):
        for i, (problem, d) in enumerate(cases):
            here = sub[(sub["problem"] == problem) & (sub["d"] == d)]
            _floor_bands(ax, i, here, metric, styles)
            for k, (solver, variant) in enumerate(keys):
                row = here[(here["solver"] == solver) & (here["variant"] == variant)]
                if row.empty or not np.isfinite(row[metric].iloc[0]):
                    continue
                spread = row[f"{metric}_spread"].iloc[0]
                ax.errorbar([i - 0.4 + width * (k + 0.5)], [row[metric].iloc[0]],
                            yerr=[[spread if np.isfinite(spread) else 0.0]] * 2,
                            color=styles.color(solver), marker=styles.marker(solver), ms=4,
                            capsize=2.5,
                            linestyle="", label=styles.label(solver, variant))
            for solver in sorted(set(here["solver"])):
                pub = published_points(problem, int(d), solver).get(metric)
                if pub is not None:
                    k = methods.index(solver) if solver in methods else 0
                    # beside the measured point, not on it
                    ax.scatter([i - 0.4 + width * (k + 0.85)], [pub], marker="*", s=70,
                               facecolor="none", linewidth=1.0, zorder=6,
                               edgecolor=styles.color(solver),
                               label=f"{styles.label(solver)}: authors' published")
        ax.set_xticks(range(len(cases)))
        ax.set_xticklabels([_case_label(sub, problem, d, metric) for problem, d in cases],
                           rotation=30, ha="right", fontsize=7)
        ax.set_xlim(-0.5, len(cases) - 0.5)
        ax.set_yscale("log")
        ax.set_ylabel(metric_label(metric))
    fig.tight_layout()
    figure_legend(fig, axes)
    floor = floor_words(styles, sub["solver"])
    writer.save(
        fig, "errors_fixed_dimension", title,
        "Errors on the problems run at a single dimension (log scale); points: mean over seeds "
        "with the pooled spread over seeds and sampling trials; "
        + (f"shaded: {floor}; " if floor else "")
        + "hollow stars: the authors' published figures (not rerun). \"(absolute)\": the "
        "reference moment is identically 0, so the error is the absolute L2 over time divided "
        "by sqrt(#times), in length units."
    )


def _floor_bands(ax, i: int, here: pd.DataFrame, metric: str,
                 styles: style.SolverStyles) -> None:
    """Each floor configuration at case i as a band across the case's slot."""
    is_floor = np.array([styles.is_floor(s) for s in here["solver"]], dtype=bool)
    floors = here[is_floor & here[metric].notna().to_numpy()]
    for _, row in floors.iterrows():
        spread = row[f"{metric}_spread"] if np.isfinite(row[f"{metric}_spread"]) else 0
        # as floor_band draws it: value ± spread shaded, the value as a thin line
        ax.fill_between([i - 0.45, i + 0.45], max(row[metric] - spread, row[metric] * 0.05),
                        row[metric] + spread, color=styles.color(row["solver"]), alpha=0.18,
                        lw=0, label=styles.label(row["solver"]))
        ax.plot([i - 0.45, i + 0.45], [row[metric]] * 2, color=styles.color(row["solver"]),
                lw=1.0)
        if len(floors) > 1 and row["variant"]:
            # several floors (e.g. 10^4 and 10^5 samples): name each band
            ax.text(i - 0.43, row[metric], row["variant"], fontsize=5.5, va="center",
                    color="0.25")


def _case_label(sub: pd.DataFrame, problem: str, d: float, metric: str) -> str:
    label = problem if d == 1 else f"{problem} ({style.dimension_symbol(problem)} = {int(d)})"
    here = sub[(sub["problem"] == problem) & (sub["d"] == d)]
    kind = f"{metric}_kind"
    if kind in here and (here[kind] == "absolute").any():
        label += "\n(absolute)"
    return label
