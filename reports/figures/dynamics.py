"""Figures of what a row says without a reference of psi: the autocorrelation |C(t)| beside
published recurrences, and the energy and Ehrenfest errors against d, every solver."""

from __future__ import annotations

import pandas as pd

from reports import style
from reports.data import Results
from reports.figures.common import (
    FigureWriter,
    artifacts_by_line,
    dimension_axis,
    figure_legend,
    multi_d_problems,
    series,
)
from reports.published import PUBLISHED_AUTOCORRELATION

plt = style.plt

__all__ = ["autocorrelation", "dynamics_vs_dimension"]

# the reference-free and energy errors, with their axis labels
_DYNAMICS = (("energy_err", r"$\max_t|E(t)-E|/|E|$"),
             ("ehrenfest_err", "Ehrenfest residual (rel.)"))


def autocorrelation(results: Results, agg: pd.DataFrame, writer: FigureWriter) -> None:
    """Per problem whose rows carry C(t) (the grid): |C(t)| per size, at most 3 panels, with
    the published recurrence peaks where there are some."""
    title = "Autocorrelation |C(t)| = |<psi(0)|psi(t)>|"
    drawn = False
    for problem in dict.fromkeys(results.ok["problem"]):
        curves = {}
        for d in sorted(int(d) for d in results.ok.loc[results.ok["problem"] == problem, "d"]
                        .unique()):
            lines = {key: (series(a, "times"), series(a, "autocorrelation"))
                     for key, (_row, a) in artifacts_by_line(results, problem, d).items()}
            lines = {k: v for k, v in lines.items() if v[1] is not None}
            if lines:
                curves[d] = lines
        if curves:
            _draw_autocorrelation(results.styles, problem, dict(list(curves.items())[:3]),
                                  writer, title)
            drawn = True
    if not drawn:
        writer.skip(title, "no row carries an autocorrelation series")


def _draw_autocorrelation(styles, problem: str, curves: dict, writer: FigureWriter,
                          title: str) -> None:
    peaks, citation = PUBLISHED_AUTOCORRELATION.get(problem, ({}, ""))
    nrows, ncols, figsize = style.panel_grid(len(curves), height=2.3)
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False, sharey=True)
    for ax, (d, lines) in zip(axes.flat, curves.items(), strict=False):
        for (solver, _variant), (t, c) in lines.items():
            ax.plot(t, c, color=styles.color(solver), lw=1.1, label=styles.short_label(solver))
        if d in peaks:
            t_peak, c_peak = zip(*peaks[d], strict=True)
            ax.plot(t_peak, c_peak, "o", mfc="none", mec="black", ms=5,
                    label="published peaks")
        ax.set_title(f"{style.dimension_symbol(problem)} = {d}", fontsize=8)
        ax.set_xlabel("t (a.u.)")
    for ax in axes.flat[len(curves):]:
        ax.set_visible(False)
    for row in axes:
        row[0].set_ylabel("|C(t)|")
    fig.tight_layout()
    figure_legend(fig, axes, ncol=4, title=problem)
    source = f" Circles: the published recurrence peaks ({citation})." if peaks else ""
    writer.save(fig, f"autocorrelation_{problem}", f"{title}: {problem}",
                f"{problem}: |C(t)| at the evaluation times (a coarse time grid understates a "
                f"peak's height slightly).{source}")


def dynamics_vs_dimension(results: Results, agg: pd.DataFrame, writer: FigureWriter) -> None:
    """Per problem run at several sizes with an energy or Ehrenfest error: both against d,
    one marker line per solver (its first configuration)."""
    title = "Energy and Ehrenfest errors against the dimension"
    drawn = False
    for problem in multi_d_problems(agg):
        rows = agg[agg["problem"] == problem]
        shown = [(m, label) for m, label in _DYNAMICS if m in rows and rows[m].notna().any()]
        if not shown:
            continue
        fig, axes = plt.subplots(1, len(shown), figsize=(style.FIG_WIDTH, 2.5), squeeze=False)
        for ax, (metric, label) in zip(axes[0], shown, strict=True):
            for solver in results.styles.order:
                line = rows[(rows["solver"] == solver) & rows[metric].notna()]
                line = line[line["variant"] == line["variant"].iloc[0]] if len(line) else line
                if line.empty:
                    continue
                ax.plot(line["d"], line[metric], marker=results.styles.marker(solver),
                        color=results.styles.color(solver), lw=1,
                        label=results.styles.short_label(solver))
            ax.set_yscale("log")
            dimension_axis(ax, rows["d"].to_numpy(dtype=float))
            ax.set(xlabel=style.dimension_label(problem), ylabel=label)
        fig.tight_layout()
        figure_legend(fig, axes, ncol=4, title=problem)
        writer.save(fig, f"dynamics_vs_dimension_{problem}", f"{title}: {problem}",
                    f"{problem}: the energy error against the exact conserved <H> and the "
                    "Ehrenfest residual of the solution's own mean motion (docs/metrics.md); "
                    "both need no reference of psi, so they score every size.")
        drawn = True
    if not drawn:
        writer.skip(title, "no problem run at several sizes has an energy or Ehrenfest error")

