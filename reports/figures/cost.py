"""Training cost and peak memory against dimension, log-log, with each line's fitted
power-law exponent and the cost estimates quoted by infeasible runs."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from dsm_bench.schema import Status, metric_label
from reports import style
from reports.data import Results, power_law_exponent
from reports.figures.common import (
    FigureWriter,
    dimension_axis,
    figure_legend,
    gap_rows,
    headroom,
    line_keys,
    mark_gaps,
    multi_d_problems,
    variant_index,
)

plt = style.plt

__all__ = ["cost_vs_dimension", "parse_cost_estimate"]

_MEMORY = re.compile(r"(\d+(?:\.\d+)?(?:e[+-]?\d+)?)\s*(TiB|GiB|MiB|KiB|TB|GB|MB|kB|KB)\b", re.I)
_SECONDS = re.compile(r"(\d+(?:\.\d+)?(?:e[+-]?\d+)?)\s*(h|hours?|min|minutes?|s|sec|seconds?)\b",
                      re.I)
_TO_MIB = {"kib": 1 / 1024, "kb": 1 / 1024, "mib": 1.0, "mb": 1.0, "gib": 1024.0, "gb": 1024.0,
           "tib": 1024.0**2, "tb": 1024.0**2}
_TO_S = {"h": 3600.0, "hour": 3600.0, "hours": 3600.0, "min": 60.0, "minute": 60.0,
         "minutes": 60.0, "s": 1.0, "sec": 1.0, "second": 1.0, "seconds": 1.0}


def parse_cost_estimate(message: str) -> dict[str, float]:
    """Estimated cost in an infeasibility message: {"peak_rss_mb": MiB, "train_s": s} where
    present (largest figure of each kind, the binding one). Units are binary-agnostic: a
    message's GB is taken as GiB (a 2.4% difference, invisible on a log axis)."""
    out: dict[str, float] = {}
    if not isinstance(message, str):
        return out
    memory = [float(v) * _TO_MIB[u.lower()] for v, u in _MEMORY.findall(message)]
    seconds = [float(v) * _TO_S[u.lower()] for v, u in _SECONDS.findall(message)]
    if memory:
        out["peak_rss_mb"] = max(memory)
    if seconds:
        out["train_s"] = max(seconds)
    return out


def cost_vs_dimension(results: Results, agg: pd.DataFrame, writer: FigureWriter) -> None:
    _cost_figure(results, agg, writer, ("train_s", "s_per_iter"), "cost_vs_dimension",
                 "Training time vs dimension",
                 "training wall time and time per iteration")
    _cost_figure(results, agg, writer, ("peak_rss_mb", "peak_gpu_mb"), "memory_vs_dimension",
                 "Peak memory vs dimension", "peak memory (host RSS; GPU where used)")


def _cost_figure(results: Results, agg: pd.DataFrame, writer: FigureWriter,
                 metrics: tuple[str, ...], stem: str, title: str, what: str) -> None:
    problems = multi_d_problems(results.table)
    if not problems:
        writer.skip(title, "no problem was run at two or more dimensions")
        return
    styles = results.styles
    for problem in problems:
        sub = agg[agg["problem"] == problem]
        present = [m for m in metrics if sub[m].notna().any()]
        gaps = gap_rows(results, problem)
        estimates = [(r.solver, r.d, parse_cost_estimate(r.message))
                     for r in gaps.itertuples() if r.status == Status.INFEASIBLE]
        if not present:  # an infeasible run's estimate alone is not worth a figure
            writer.skip(f"{title} ({problem})", f"no {what} recorded by a successful run")
            continue
        nrows, ncols, figsize = style.panel_grid(len(present), height=2.7)
        if ncols == 1 and style.FIG_WIDTH >= 5:  # one panel at page width: not a wide strip
            figsize = (style.FIG_WIDTH * 0.55, figsize[1])
        fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False)
        any_gap = any_estimate = False
        for ax, metric in zip(axes.flat, present, strict=True):
            fits = []
            for solver, variant in line_keys(sub, styles):
                line = sub[(sub["solver"] == solver) & (sub["variant"] == variant)]
                line = line[line[metric].notna() & (line[metric] > 0)].sort_values("d")
                if line.empty:
                    continue
                exponent = power_law_exponent(line["d"], line[metric])
                if np.isfinite(exponent):
                    short = styles.short_label(solver) + (f" [{variant}]" if variant else "")
                    fits.append(rf"{short} $\propto d^{{{exponent:.2f}}}$")
                ax.plot(line["d"], line[metric], marker=styles.marker(solver), ms=3.5, lw=1.3,
                        color=styles.color(solver),
                        linestyle=style.variant_linestyle(variant_index(sub, solver, variant)),
                        label=styles.label(solver, variant))
            # each panel states its own fitted exponents (they differ between panels), in
            # its title so that they never cover data
            if fits:
                ax.set_title("fit: " + ", ".join(fits), fontsize=7.5)
            estimated = set()
            for solver, d, estimate in estimates:
                if metric in estimate:
                    any_estimate = True
                    estimated.add((solver, d))
                    ax.scatter([d], [estimate[metric]], marker="s", s=30, facecolor="none",
                               edgecolor=styles.color(solver), zorder=6)
            ax.set_yscale("log")
            marked = gaps.loc[np.array([(s, d) not in estimated for s, d in
                                        zip(gaps["solver"], gaps["d"], strict=True)], dtype=bool)]
            if not marked.empty:
                headroom(ax)
            for solver in sorted(set(marked["solver"])):
                any_gap |= mark_gaps(ax, marked, solver, styles.color(solver))
            ax.set_ylabel(metric_label(metric))
            ax.set_xlabel(style.dimension_label(problem))
            dimension_axis(ax, results.table.loc[results.table["problem"] == problem, "d"],
                           log=True)
        if any_estimate:
            axes.flat[0].scatter([], [], marker="s", facecolor="none", edgecolor="0.3",
                                 label="estimate quoted by an infeasible run")
        fig.tight_layout()
        figure_legend(fig, axes, any_gap, ncol=2, title=problem, right=len(present) == 1)
        writer.save(
            fig, f"{stem}_{problem}", f"{title}: {problem}",
            f"{problem}: {what} vs dimension, log-log, mean over seeds (memory: maximum). "
            "Each panel gives each solver's fitted power-law exponent p (cost ∝ d^p, least "
            "squares in log-log over the dimensions shown). Hollow squares: the estimated cost "
            "quoted by an infeasible run; x at the top: no result at that dimension. Times "
            "were measured on shared machines; compare exponents rather than absolute values "
            "across reports."
        )
