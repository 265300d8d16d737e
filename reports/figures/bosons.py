"""Interacting bosons: the centre of mass against its exact law and the energy over time,
and those metrics against the particle number."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dsm_bench.schema import metric_label
from reports import style
from reports.data import Results
from reports.figures.common import (
    LENGTH_UNIT,
    TIME_UNIT,
    FigureWriter,
    artifacts_by_line,
    dimension_axis,
    figure_legend,
    line_keys,
    select_dims,
    series,
)

plt = style.plt

__all__ = ["bosons"]

TITLE = "Bosons: centre of mass and energy"


def bosons(results: Results, agg: pd.DataFrame, writer: FigureWriter) -> None:
    _over_time(results, writer)
    _vs_particles(results, agg, writer)


def _over_time(results: Results, writer: FigureWriter) -> None:
    styles = results.styles
    ok = results.ok[results.ok["problem"] == "bosons"]
    per_n = []
    for n in select_dims(ok["d"]):
        lines = artifacts_by_line(results, "bosons", n)
        lines = {k: v for k, v in lines.items()
                 if series(v[1], "com_var") is not None or series(v[1], "energy") is not None}
        if lines:
            per_n.append((n, lines))
    if not per_n:
        writer.skip(f"{TITLE} over time", "no bosons run artifact carries centre-of-mass or "
                    "energy series")
        return
    for n, lines in per_n:  # one figure per particle number: two panels
        _draw_over_time(styles, n, lines, writer)


def _draw_over_time(styles: style.SolverStyles, n: int, lines: dict,
                    writer: FigureWriter) -> None:
    nrows, ncols, figsize = style.panel_grid(2)
    fig, grid = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False)
    axes = grid.reshape(1, -1)
    ax_c, ax_e = axes[0]
    ref_drawn = False
    for (solver, variant), (_row, artifact) in lines.items():
        t = series(artifact, "times")
        color, label = styles.color(solver), styles.label(solver, variant)
        com = series(artifact, "com_var")
        if t is not None and com is not None and len(com) == len(t):
            ax_c.plot(t, com, color=color, lw=1.3, label=label)
            ref = series(artifact, "ref_com_var")
            if ref is not None and not ref_drawn and len(ref) == len(t):
                ax_c.plot(t, ref, label=r"exact $\hbar/(2nm\omega)$; energy conserved",
                          **style.REFERENCE_STYLE)
                ref_drawn = True
        energy = series(artifact, "energy")
        if t is not None and energy is not None and len(energy) == len(t):
            # relative to the run's own E(0), as the energy_drift metric is
            ax_e.plot(t, (energy - energy[0]) / abs(energy[0]), color=color, lw=1.3,
                      label=label)
    ax_e.axhline(0.0, **style.REFERENCE_STYLE)
    ax_c.set_ylabel(rf"$\mathrm{{Var}}\,X_c$ ({LENGTH_UNIT}²)")
    ax_e.set_ylabel(r"$(E(t) - E(0))\,/\,|E(0)|$")
    for ax in (ax_c, ax_e):
        ax.set_xlabel(TIME_UNIT)
    ax_c.set_title(f"n = {n} particles", loc="left")
    ax_e.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
    fig.tight_layout()
    figure_legend(fig, axes, title="bosons")
    writer.save(
        fig, f"bosons_time_series_n{int(n)}", f"{TITLE} over time, n = {int(n)}",
        f"Interacting bosons, n = {int(n)}: variance of the centre of mass X_c = mean_i x_i "
        "over time (first panel) against the exact law Var X_c = ħ/(2nmω), constant because "
        "the interaction depends on differences only (Kohn's theorem), and the relative "
        "energy change (E(t) − E(0)) / |E(0)| against the run's own E(0) (second panel; the "
        "exact energy is conserved). Samplers: first seed, mean over sampling trials."
    )


def _vs_particles(results: Results, agg: pd.DataFrame, writer: FigureWriter) -> None:
    styles = results.styles
    sub = agg[(agg["problem"] == "bosons") & (agg["n_ok"] > 0)]
    metrics = [m for m in ("com_var_err", "com_mean_err", "energy_drift") if sub[m].notna().any()]
    if sub["d"].nunique() < 2 or not metrics:
        writer.skip(f"{TITLE} vs n", "fewer than two particle numbers with centre-of-mass or "
                    "energy metrics")
        return
    nrows, ncols, figsize = style.panel_grid(len(metrics), height=2.7)
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False)
    for ax, metric in zip(axes.flat, metrics, strict=True):
        for solver, variant in line_keys(sub, styles):
            line = sub[(sub["solver"] == solver) & (sub["variant"] == variant)]
            line = line[line[metric].notna()].sort_values("d")
            if line.empty:
                continue
            spread = line[f"{metric}_spread"].to_numpy(float)
            ax.errorbar(line["d"], line[metric], yerr=np.where(np.isfinite(spread), spread, 0),
                        marker=styles.marker(solver), ms=3.5, capsize=2.5, lw=1.3,
                        color=styles.color(solver),
                        label=styles.label(solver, variant))
        ax.set_yscale("log")
        ax.set_xlabel("particles n")
        ax.set_ylabel(metric_label(metric))
        dimension_axis(ax, sub["d"])
    fig.tight_layout()
    figure_legend(fig, axes, title="bosons")
    writer.save(
        fig, "bosons_vs_particles", f"{TITLE} vs n",
        "Interacting bosons vs particle number: centre-of-mass errors against the exact law and "
        "the energy drift max_t |E(t) − E(0)| / |E(0)| (reference-free); mean over seeds with "
        "the pooled spread where measured."
    )
