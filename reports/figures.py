"""The report's figures, each saved as figures/<name>.png and a vector figures/<name>.pdf.

Every function takes the loaded ``Results`` and the per-configuration aggregate and adds its
figures to a ``FigureWriter``; a figure without data is skipped with a note (never an empty
plot, never a crash). Colours are per solver (``reports.style``); the reference is black
dashed everywhere; line style distinguishes configuration variants of one solver.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import ticker

from reports import style
from reports.data import Results

plt = style.plt

__all__ = ["FigureWriter", "FigureRecord", "build_all", "power_law_exponent", "parse_cost_estimate"]

TIME_UNIT = "time t (a.u., m = 1)"
LENGTH_UNIT = "a.u."


@dataclass
class FigureRecord:
    name: str
    title: str
    caption: str
    png: Path
    pdf: Path


@dataclass
class FigureWriter:
    """Saves figures under ``directory`` and remembers what was drawn and what was skipped."""

    directory: Path
    figures: list[FigureRecord] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def save(self, fig, name: str, title: str, caption: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        png, pdf = self.directory / f"{name}.png", self.directory / f"{name}.pdf"
        for ax in fig.axes:
            _tidy_log_axis(ax)
        fig.savefig(png)
        fig.savefig(pdf)
        plt.close(fig)
        self.figures.append(FigureRecord(name, title, caption, png, pdf))

    def skip(self, title: str, reason: str) -> None:
        self.skipped.append(f"{title}: {reason}")


# ----------------------------------------------------------------------------- helpers
def _sci_label(value: float, _pos=None) -> str:
    """m x 10^e in mathtext (every tick labelled, unlike matplotlib's log formatter)."""
    if value <= 0:
        return ""
    exponent = math.floor(math.log10(value) + 1e-9)
    mantissa = value / 10.0**exponent
    if -2 <= exponent <= 3:  # plain numbers where they are short
        return f"{value:g}"
    if abs(mantissa - 1) < 1e-6:
        return rf"$10^{{{exponent}}}$"
    return rf"${mantissa:.2g}\times10^{{{exponent}}}$"


def _tidy_log_axis(ax) -> None:
    """Readable log axes: no minor-tick labels, and at least two labelled ticks on a y axis
    spanning less than a decade (1-2-5 ticks, else finer ones, else widening the limits to
    the next ticks)."""
    if ax.get_xscale() == "log":
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    if ax.get_yscale() != "log":
        return
    ax.yaxis.set_minor_formatter(ticker.NullFormatter())
    low, high = ax.get_ylim()
    if low <= 0 or not np.isfinite(low) or not np.isfinite(high):
        return
    decades = [10.0**k for k in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
               if low <= 10.0**k <= high]
    if len(decades) >= 2:
        return
    for mantissas in ((1, 2, 5), (1, 1.5, 2, 3, 4, 5, 6, 8)):  # finer steps on narrow axes
        candidates = sorted(m * 10.0**k for k in range(math.floor(math.log10(low)) - 1,
                                                        math.ceil(math.log10(high)) + 1)
                            for m in mantissas)
        inside = [c for c in candidates if low <= c <= high]
        if len(inside) >= 2:
            break
    if len(inside) < 2:
        below = max(c for c in candidates if c < low * (1 + 1e-9))
        above = min(c for c in candidates if c > high * (1 - 1e-9))
        inside = [c for c in candidates if below <= c <= above]
        ax.set_ylim(below, above)
    ax.yaxis.set_major_locator(ticker.FixedLocator(inside))
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(_sci_label))


def power_law_exponent(d: np.ndarray, y: np.ndarray) -> float:
    """Least-squares slope p of log y = log c + p log d (cost ~ d^p); NaN with < 2 distinct
    dimensions or no positive values."""
    d, y = np.asarray(d, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(d) & np.isfinite(y) & (d > 0) & (y > 0)
    if len(np.unique(d[keep])) < 2:
        return math.nan
    slope, _ = np.polyfit(np.log(d[keep]), np.log(y[keep]), 1)
    return float(slope)


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


def _finite(values) -> np.ndarray:
    return np.asarray(pd.to_numeric(pd.Series(values), errors="coerce"), dtype=float)


def _series(artifact: dict[str, Any] | None, key: str) -> np.ndarray | None:
    """A series of an artifact as a float array (None entries -> NaN); None if absent."""
    if not artifact:
        return None
    series = artifact.get("series") or {}
    value = series.get(key)
    if value is None:
        return None
    try:
        arr = np.asarray([np.nan if v is None else v for v in value], dtype=float)
    except (TypeError, ValueError):
        return None
    return arr if arr.size and np.isfinite(arr).any() else None


def _multi_d_problems(table: pd.DataFrame) -> list[str]:
    problems = []
    for problem, group in table.groupby("problem", sort=False):
        if group["d"].dropna().nunique() >= 2:
            problems.append(problem)
    return problems


def _select_dims(dims, k: int = 3) -> list[int]:
    """At most k dimensions: all of them, or the smallest, a middle one and the largest."""
    dims = sorted({int(d) for d in dims if np.isfinite(d)})
    if len(dims) <= k:
        return dims
    return [dims[0], dims[len(dims) // 2], dims[-1]]


def _line_keys(agg: pd.DataFrame) -> list[tuple[str, str]]:
    keys = list(dict.fromkeys(zip(agg["solver"], agg["variant"], strict=True)))
    return sorted(keys, key=lambda k: (style.solver_sort_key(k[0]), k[1]))


def _variant_index(agg: pd.DataFrame, solver: str, variant: str) -> int:
    variants = sorted(set(agg.loc[agg["solver"] == solver, "variant"]))
    return variants.index(variant) if variant in variants else 0


def _dimension_axis(ax, dims, log: bool | None = None) -> None:
    """x axis over dimensions: log when they span >= 8x (or when asked), ticks at the
    dimensions themselves (up to 12), labelled as plain integers."""
    dims = sorted({int(d) for d in dims if np.isfinite(d)})
    if log is None:
        log = bool(dims) and dims[-1] / max(dims[0], 1) >= 8
    if log:
        ax.set_xscale("log")
    if dims and len(dims) <= 12:
        ax.xaxis.set_major_locator(ticker.FixedLocator(dims))
        ax.xaxis.set_major_formatter(ticker.FixedFormatter([str(d) for d in dims]))
        ax.xaxis.set_minor_locator(ticker.NullLocator())
    if len(dims) >= 2 and log:
        pad = (dims[-1] / dims[0]) ** 0.06
        ax.set_xlim(dims[0] / pad, dims[-1] * pad)
    elif len(dims) >= 2:
        pad = 0.06 * (dims[-1] - dims[0])
        ax.set_xlim(dims[0] - pad, dims[-1] + pad)


def _mark_gaps(ax, gaps: pd.DataFrame, solver: str, color: str) -> bool:
    """An x at the top of the axes for each dimension where this solver has no result."""
    rows = gaps[gaps["solver"] == solver]
    if rows.empty:
        return False
    transform = ax.get_xaxis_transform()  # x in data, y in axes fraction
    ax.scatter(rows["d"], np.full(len(rows), 0.96), marker="x", s=28, color=color,
               transform=transform, clip_on=False, zorder=5)
    return True


def _gap_rows(results: Results, problem: str) -> pd.DataFrame:
    """(solver, d, status, message) where no run of that solver at that d succeeded."""
    table = results.table[results.table["problem"] == problem]
    ok = set(zip(table.loc[table["status"] == "ok", "solver"],
                 table.loc[table["status"] == "ok", "d"], strict=True))
    bad = table[table["status"] != "ok"]
    keep = np.array([(s, d) not in ok for s, d in zip(bad["solver"], bad["d"], strict=True)],
                    dtype=bool)
    return bad.loc[keep][["solver", "d", "status", "message"]].drop_duplicates(["solver", "d"])


def _figure_legend(fig, axes, any_gap: bool = False, ncol: int = 3, title: str | None = None,
                   right: bool = False) -> None:
    """One legend for the whole figure, above the panels (or right of them), never over the
    data."""
    handles, labels = [], []
    for ax in np.ravel(axes):
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label not in labels and not label.startswith("_"):
                handles.append(handle)
                labels.append(label)
    if any_gap:
        handles.append(plt.Line2D([], [], marker="x", linestyle="", color="0.3"))
        labels.append("no result (failed / infeasible)")
    if handles and right:
        fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7,
                   title=title, title_fontsize=8.5)
    elif handles:
        fig.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, 1.0),
                   ncol=min(ncol, len(labels)), fontsize=7, title=title, title_fontsize=8.5)


def _headroom(ax, fraction: float = 0.12) -> None:
    """Extend a log y axis upwards so that the gap markers at the top stay clear of data."""
    low, high = ax.get_ylim()
    if ax.get_yscale() == "log" and low > 0:
        ax.set_ylim(low, high * (high / low) ** fraction)
    else:
        ax.set_ylim(low, high + (high - low) * fraction)


def _published_points(problem: str, d: int, solver: str) -> dict[str, float]:
    from reports.tables import published_for

    return published_for(problem, d, solver) or {}


# ----------------------------------------------------------------- 1. error vs dimension
DIMENSION_METRICS = ("mean_err", "var_err", "w1_err", "u_err", "v_err")


def error_vs_dimension(results: Results, agg: pd.DataFrame, writer: FigureWriter) -> None:
    title = "Error vs dimension"
    problems = _multi_d_problems(results.ok)
    if not problems:
        writer.skip(title, "no problem has successful runs at two or more dimensions")
        return
    all_solvers = sorted(set(results.table["solver"]))
    for problem in problems:
        sub = agg[(agg["problem"] == problem) & (agg["n_ok"] > 0)]
        metrics = [m for m in DIMENSION_METRICS if sub[m].notna().any()]
        if not metrics:
            writer.skip(f"{title} ({problem})", "no error metric was computed")
            continue
        gaps = _gap_rows(results, problem)
        ncols = min(3, len(metrics))
        nrows = math.ceil(len(metrics) / ncols)
        fig, axes = plt.subplots(nrows, ncols, figsize=(style.FIG_WIDTH, 2.6 * nrows + 0.3),
                                 squeeze=False)
        any_gap = False
        for ax, metric in zip(axes.flat, metrics, strict=False):
            for solver, variant in _line_keys(sub):
                line = sub[(sub["solver"] == solver) & (sub["variant"] == variant)]
                line = line[line[metric].notna()].sort_values("d")
                if line.empty:
                    continue
                color = style.solver_color(solver, all_solvers)
                label = style.solver_label(solver, variant)
                y, spread = line[metric].to_numpy(float), line[f"{metric}_spread"].to_numpy(float)
                if solver == "oracle":
                    _floor_band(ax, line["d"].to_numpy(float), y, spread, color, label)
                    continue
                yerr = np.where(np.isfinite(spread), spread, 0.0)
                ax.errorbar(line["d"], y, yerr=yerr, color=color, marker="o", ms=3.5,
                            capsize=2.5, lw=1.3,
                            linestyle=style.variant_linestyle(_variant_index(sub, solver,
                                                                             variant)),
                            label=label)
                if ax is axes.flat[0]:
                    _annotate_config_changes(ax, line, y, color)
            for solver in sorted(set(sub["solver"])):
                for d in sorted(set(sub["d"])):
                    pub = _published_points(problem, int(d), solver).get(metric)
                    if pub is not None:
                        ax.scatter([d], [pub], marker="*", s=70, facecolor="none",
                                   edgecolor=style.solver_color(solver, all_solvers),
                                   linewidth=1.0, zorder=6,
                                   label=f"{style.solver_label(solver)}: authors' published")
            for solver in sorted(set(gaps["solver"])):
                any_gap |= _mark_gaps(ax, gaps, solver, style.solver_color(solver, all_solvers))
            ax.set_yscale("log")
            if not gaps.empty:
                _headroom(ax)
            ax.set_ylabel(style.METRIC_LABELS.get(metric, metric))
            ax.set_xlabel("dimension d" if problem != "bosons" else "particles n")
            _dimension_axis(ax, results.table.loc[results.table["problem"] == problem, "d"])
        for ax in axes.flat[len(metrics):]:
            ax.set_visible(False)
        fig.tight_layout()
        _figure_legend(fig, axes, any_gap, title=problem)
        writer.save(
            fig, f"error_vs_dimension_{problem}", f"{title}: {problem}",
            f"{problem}: errors against the {_reference_word(sub)} reference vs dimension "
            "(log scale). Points: mean over seeds; error bars: spread over seeds and sampling "
            "trials (pooled standard deviation). Shaded band: the oracle, the same sampler "
            "driven by the exact drift, i.e. the floor set by sampling noise and time "
            "discretisation; a sampler inside the band is indistinguishable from exact. "
            "Hollow stars: the authors' published figures (not rerun). Small labels (first "
            "panel): a setting that changes along a line, at the point where it changes. "
            "x at the top: no result at that dimension (failed or infeasible)."
        )


def _annotate_config_changes(ax, line: pd.DataFrame, y: np.ndarray, color: str) -> None:
    """Label a line's points where its configuration changes with d (``point_settings``, e.g.
    grad_div=exact up to d = 10, hutchinson above): the first point with its settings, then
    each point where a setting differs from the point before, with the settings that did."""
    previous: dict[str, str] | None = None
    for d, value, pairs in zip(line["d"], y, line["point_settings"], strict=True):
        items = dict(pairs)
        if not items:
            return
        changed = {k: v for k, v in items.items() if previous is None or previous.get(k) != v}
        previous = items
        if changed and np.isfinite(value):
            ax.annotate(", ".join(f"{k}={v}" for k, v in changed.items()), (d, value),
                        xytext=(2, 5), textcoords="offset points", fontsize=5.5, color=color,
                        rotation=20)


def _floor_band(ax, d: np.ndarray, y: np.ndarray, spread: np.ndarray, color: str,
                label: str) -> None:
    spread = np.where(np.isfinite(spread), spread, 0.0)
    low = np.maximum(y - spread, y * 0.05)  # a log axis cannot show <= 0: clip to 5% of value
    high = y + spread
    if len(d) == 1:
        ax.axhspan(low[0], high[0], color=color, alpha=0.18, lw=0, label=label)
        ax.axhline(y[0], color=color, lw=1.0)
    else:
        ax.fill_between(d, low, high, color=color, alpha=0.18, lw=0, label=label)
        ax.plot(d, y, color=color, lw=1.0)


def _reference_word(sub: pd.DataFrame) -> str:
    refs = sorted({str(r) for r in sub["reference"].dropna() if str(r) not in ("", "none")})
    return " / ".join(refs) if refs else "available"


def errors_fixed_dimension(results: Results, agg: pd.DataFrame, writer: FigureWriter) -> None:
    """Problems run at one dimension only (the 1-D ones): errors per problem and solver."""
    title = "Errors on fixed-dimension problems"
    multi = set(_multi_d_problems(results.ok))
    sub = agg[(~agg["problem"].isin(multi)) & (agg["n_ok"] > 0)]
    metrics = [m for m in ("mean_err", "var_err", "w1_err") if sub[m].notna().any()]
    if sub.empty or not metrics:
        writer.skip(title, "no successful run on a problem run at a single dimension")
        return
    all_solvers = sorted(set(results.table["solver"]))
    cases = list(dict.fromkeys(zip(sub["problem"], sub["d"], strict=True)))
    keys = [k for k in _line_keys(sub) if k[0] != "oracle"]
    fig, axes = plt.subplots(1, len(metrics), figsize=(style.FIG_WIDTH, 2.9), squeeze=False)
    width = 0.8 / max(len(keys), 1)
    for ax, metric in zip(axes.flat, metrics, strict=True):
        for i, (problem, d) in enumerate(cases):
            here = sub[(sub["problem"] == problem) & (sub["d"] == d)]
            floor = here[(here["solver"] == "oracle") & here[metric].notna()]
            for _, row in floor.iterrows():
                spread = row[f"{metric}_spread"] if np.isfinite(row[f"{metric}_spread"]) else 0
                ax.fill_between([i - 0.45, i + 0.45], max(row[metric] - spread,
                                                          row[metric] * 0.05),
                                row[metric] + spread, color=style.solver_color("oracle"),
                                alpha=0.18, lw=0,
                                label=style.solver_label("oracle"))
                if len(floor) > 1 and row["variant"]:
                    # several floors (e.g. 10^4 and 10^5 samples): name each band
                    ax.text(i - 0.43, row[metric], row["variant"], fontsize=5.5, va="center",
                            color="0.25")
            for k, (solver, variant) in enumerate(keys):
                row = here[(here["solver"] == solver) & (here["variant"] == variant)]
                if row.empty or not np.isfinite(row[metric].iloc[0]):
                    continue
                x = i - 0.4 + width * (k + 0.5)
                spread = row[f"{metric}_spread"].iloc[0]
                ax.errorbar([x], [row[metric].iloc[0]],
                            yerr=[[spread if np.isfinite(spread) else 0.0]] * 2,
                            color=style.solver_color(solver, all_solvers), marker="o", ms=4,
                            capsize=2.5, linestyle="",
                            label=style.solver_label(solver, variant))
            for solver in sorted(set(here["solver"])):
                pub = _published_points(problem, int(d), solver).get(metric)
                if pub is not None:
                    k = [s for s, _ in keys].index(solver) if solver in [s for s, _ in keys] else 0
                    # beside the measured point, not on it
                    ax.scatter([i - 0.4 + width * (k + 0.85)], [pub], marker="*", s=70,
                               facecolor="none", linewidth=1.0, zorder=6,
                               edgecolor=style.solver_color(solver, all_solvers),
                               label=f"{style.solver_label(solver)}: authors' published")
        ax.set_xticks(range(len(cases)))
        labels = []
        for problem, d in cases:
            dname = "n" if problem == "bosons" else "d"
            label = problem if d == 1 else f"{problem} ({dname}={int(d)})"
            kinds = sub.loc[(sub["problem"] == problem) & (sub["d"] == d), f"{metric}_kind"] \
                if f"{metric}_kind" in sub else pd.Series(dtype=str)
            if (kinds == "absolute").any():
                label += "\n(absolute)"
            labels.append(label)
        ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=7)
        ax.set_xlim(-0.5, len(cases) - 0.5)
        ax.set_yscale("log")
        ax.set_ylabel(style.METRIC_LABELS.get(metric, metric))
    fig.tight_layout()
    _figure_legend(fig, axes)
    writer.save(
        fig, "errors_fixed_dimension", title,
        "Errors on the problems run at a single dimension (log scale); points: mean over seeds "
        "with the pooled spread over seeds and sampling trials; shaded: the oracle's sampling "
        "floor; hollow stars: the authors' published figures (not rerun). \"(absolute)\": the "
        "reference moment is identically 0, so the error is the absolute L2 over time divided "
        "by sqrt(#times), in length units."
    )


# ------------------------------------------------------------ 2./3. cost vs dimension
def cost_vs_dimension(results: Results, agg: pd.DataFrame, writer: FigureWriter) -> None:
    _cost_figure(results, agg, writer, ("train_s", "s_per_iter"), "cost_vs_dimension",
                 "Training time vs dimension",
                 "training wall time and time per iteration")
    _cost_figure(results, agg, writer, ("peak_rss_mb", "peak_gpu_mb"), "memory_vs_dimension",
                 "Peak memory vs dimension", "peak memory (host RSS; GPU where used)")


def _cost_figure(results: Results, agg: pd.DataFrame, writer: FigureWriter,
                 metrics: tuple[str, ...], stem: str, title: str, what: str) -> None:
    problems = _multi_d_problems(results.table)
    if not problems:
        writer.skip(title, "no problem was run at two or more dimensions")
        return
    all_solvers = sorted(set(results.table["solver"]))
    for problem in problems:
        sub = agg[agg["problem"] == problem]
        present = [m for m in metrics if sub[m].notna().any()]
        gaps = _gap_rows(results, problem)
        estimates = [(r.solver, r.d, parse_cost_estimate(r.message))
                     for r in gaps.itertuples() if r.status == "infeasible"]
        if not present:  # an infeasible run's estimate alone is not worth a figure
            writer.skip(f"{title} ({problem})", f"no {what} recorded by a successful run")
            continue
        fig, axes = plt.subplots(1, len(present), figsize=(style.FIG_WIDTH if len(present) > 1
                                                           else style.FIG_WIDTH * 0.55, 2.7),
                                 squeeze=False)
        any_gap = any_estimate = False
        for ax, metric in zip(axes.flat, present, strict=True):
            fits = []
            for solver, variant in _line_keys(sub):
                line = sub[(sub["solver"] == solver) & (sub["variant"] == variant)]
                line = line[line[metric].notna() & (line[metric] > 0)].sort_values("d")
                if line.empty:
                    continue
                color = style.solver_color(solver, all_solvers)
                exponent = power_law_exponent(line["d"], line[metric])
                if np.isfinite(exponent):
                    short = style.SOLVER_SHORT.get(solver, solver) + (f" [{variant}]"
                                                                      if variant else "")
                    fits.append(rf"{short} $\propto d^{{{exponent:.2f}}}$")
                ax.plot(line["d"], line[metric], marker="o", ms=3.5, lw=1.3, color=color,
                        linestyle=style.variant_linestyle(_variant_index(sub, solver, variant)),
                        label=style.solver_label(solver, variant))
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
                               edgecolor=style.solver_color(solver, all_solvers), zorder=6)
            ax.set_yscale("log")
            marked = gaps.loc[np.array([(s, d) not in estimated for s, d in
                                        zip(gaps["solver"], gaps["d"], strict=True)], dtype=bool)]
            if not marked.empty:
                _headroom(ax)
            for solver in sorted(set(marked["solver"])):
                any_gap |= _mark_gaps(ax, marked, solver, style.solver_color(solver, all_solvers))
            ax.set_ylabel(style.METRIC_LABELS.get(metric, metric))
            ax.set_xlabel("dimension d" if problem != "bosons" else "particles n")
            _dimension_axis(ax, results.table.loc[results.table["problem"] == problem, "d"],
                            log=True)
        if any_estimate:
            axes.flat[0].scatter([], [], marker="s", facecolor="none", edgecolor="0.3",
                                 label="estimate quoted by an infeasible run")
        fig.tight_layout()
        _figure_legend(fig, axes, any_gap, ncol=2, title=problem, right=len(present) == 1)
        writer.save(
            fig, f"{stem}_{problem}", f"{title}: {problem}",
            f"{problem}: {what} vs dimension, log-log, mean over seeds (memory: maximum). "
            "Each panel gives each solver's fitted power-law exponent p (cost ∝ d^p, least "
            "squares in log-log over the dimensions shown). Hollow squares: the estimated cost "
            "quoted by an infeasible run; x at the top: no result at that dimension. Times "
            "were measured on shared machines; compare exponents rather than absolute values "
            "across reports."
        )


# ----------------------------------------------------------- 4. moments over time
def _artifacts_by_line(results: Results, problem: str, d: int) -> dict[tuple[str, str], Any]:
    """For each (solver, variant): (row, artifact) of its lowest-seed ok run with an artifact."""
    table = results.ok
    rows = table[(table["problem"] == problem) & (table["d"] == d)]
    rows = rows.sort_values("seed")
    out: dict[tuple[str, str], Any] = {}
    for idx, row in rows.iterrows():
        key = (row["solver"], row["variant"])
        if key not in out and idx in results.artifacts:
            out[key] = (row, results.artifacts[idx])
    return dict(sorted(out.items(), key=lambda kv: (style.solver_sort_key(kv[0][0]), kv[0][1])))


def _reference_series(lines: dict, key: str) -> tuple[np.ndarray | None, np.ndarray | None, str]:
    """(times, reference series, label) from the first artifact that carries one."""
    for (_solver, _variant), (row, artifact) in lines.items():
        ref = _series(artifact, key)
        times = _series(artifact, "times")
        if ref is not None and times is not None and len(ref) == len(times):
            kind = str(row.get("reference") or "")
            label = {"exact": "exact", "grid": "grid reference"}.get(kind, "reference")
            return times, ref, label
    return None, None, ""


def moments_over_time(results: Results, agg: pd.DataFrame, writer: FigureWriter) -> None:
    title = "Mean and variance of X_t over time"
    all_solvers = sorted(set(results.table["solver"]))
    drawn = False
    for problem in list(dict.fromkeys(results.ok["problem"])):
        dims = results.ok.loc[results.ok["problem"] == problem, "d"]
        for d in _select_dims(dims):
            lines = _artifacts_by_line(results, problem, d)
            lines = {k: v for k, v in lines.items() if _series(v[1], "mean") is not None}
            if not lines:
                continue
            fig, axes = plt.subplots(2, 2, figsize=(style.FIG_WIDTH, 4.6), sharex=True,
                                     gridspec_kw={"height_ratios": [3, 2]})
            brownian_drawn = False
            for col, (key, spread_key, ref_key, ylabel) in enumerate([
                ("mean", "mean_spread", "ref_mean", rf"$E[X_t]$ ({LENGTH_UNIT})"),
                ("var", "var_spread", "ref_var", rf"$\mathrm{{Var}}\,X_t$ ({LENGTH_UNIT}²)"),
            ]):
                ax, res_ax = axes[0, col], axes[1, col]
                ref_t, ref, ref_label = _reference_series(lines, ref_key)
                for (solver, variant), (_row, artifact) in lines.items():
                    t, y = _series(artifact, "times"), _series(artifact, key)
                    if t is None or y is None or len(t) != len(y):
                        continue
                    color = style.solver_color(solver, all_solvers)
                    ls = style.variant_linestyle(_variant_index(agg[agg["problem"] == problem],
                                                                solver, variant))
                    ax.plot(t, y, color=color, lw=1.3, linestyle=ls,
                            label=style.solver_label(solver, variant))
                    spread = _series(artifact, spread_key)
                    if spread is not None and len(spread) == len(y):
                        ax.fill_between(t, y - spread, y + spread, color=color, alpha=0.2, lw=0)
                    own_ref = _series(artifact, ref_key)
                    if own_ref is not None and len(own_ref) == len(y):
                        res_ax.plot(t, y - own_ref, color=color, lw=1.1, linestyle=ls)
                        if spread is not None and len(spread) == len(y):
                            res_ax.fill_between(t, y - own_ref - spread, y - own_ref + spread,
                                                color=color, alpha=0.2, lw=0)
                if ref is not None:
                    ax.plot(ref_t, ref, label=ref_label, **style.REFERENCE_STYLE)
                    res_ax.axhline(0.0, **style.REFERENCE_STYLE)
                if key == "var":
                    for (_s, _v), (_row, artifact) in lines.items():
                        brown = _series(artifact, "brownian_var")
                        t = _series(artifact, "times")
                        if brown is not None and t is not None and len(brown) == len(t):
                            ax.plot(t, brown, color="0.45", lw=1.2, linestyle=":",
                                    label=r"Brownian $s_0^2 + (\hbar/m)t$ (authors' reference; "
                                  "not the Schrödinger solution)")
                            brownian_drawn = True
                            break
                ax.set_ylabel(ylabel)
                res_ax.set_ylabel(f"estimate − reference\n({LENGTH_UNIT}{'²' if col else ''})")
                res_ax.set_xlabel(TIME_UNIT)
                res_ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
            dname = "n" if problem == "bosons" else "d"
            coords = " (per coordinate, averaged over coordinates)" if d > 1 else ""
            fig.tight_layout()
            _figure_legend(fig, axes, ncol=3, title=f"{problem}, {dname} = {d}{coords}")
            drawn = True
            writer.save(
                fig, f"moments_{problem}_d{d}", f"{title}: {problem}, {dname} = {d}",
                f"{problem}, {dname} = {d}: mean (left) and variance (right) of X_t over time "
                f"for every solver against the {ref_label or 'reference'} (black dashed); "
                "bottom: estimate minus reference. Samplers show their first seed, the curve is "
                "the mean over sampling trials and the shading ± one standard deviation over "
                "trials." + (" Dotted grey: the Brownian law the authors compared against, "
                             "shown for comparison only (metrics use the exact law)."
                             if brownian_drawn else "")
            )
    if not drawn:
        writer.skip(title, "no run artifact carries mean / variance time series")


def drift_errors_over_time(results: Results, agg: pd.DataFrame, writer: FigureWriter) -> None:
    """Relative errors of the learned u and v at each time (series ``u_err_t``, ``v_err_t``),
    one line per dimension: where in time a trained solver's velocities go wrong."""
    title = "Drift errors over time"
    drawn = False
    for problem in list(dict.fromkeys(results.ok["problem"])):
        dims = sorted({int(d) for d in results.ok.loc[results.ok["problem"] == problem, "d"]})
        curves = []  # (solver, variant, d, artifact)
        for d in dims:
            for (solver, variant), (_row, artifact) in _artifacts_by_line(
                    results, problem, d).items():
                if solver != "oracle" and _series(artifact, "u_err_t") is not None:
                    curves.append((solver, variant, d, artifact))
        if not curves:
            continue
        lines = sorted({(c[0], c[1]) for c in curves},
                       key=lambda k: (style.solver_sort_key(k[0]), k[1]))
        shade = plt.get_cmap("viridis")
        dname = "n" if problem == "bosons" else "d"
        fig, axes = plt.subplots(1, 2, figsize=(style.FIG_WIDTH, 3.2), sharex=True)
        for solver, variant, d, artifact in curves:
            k = dims.index(d)
            color = shade(0.9 * k / max(1, len(dims) - 1))
            ls = style.variant_linestyle(lines.index((solver, variant)))
            t = _series(artifact, "times")
            for ax, key in zip(axes, ("u_err_t", "v_err_t"), strict=True):
                y = _series(artifact, key)
                if t is None or y is None or len(y) != len(t):
                    continue
                label = f"{style.solver_label(solver, variant)}, {dname} = {d}" \
                    if len(lines) > 1 else f"{dname} = {d}"
                ax.plot(t, y, color=color, linestyle=ls, lw=1.2, label=label)
        for ax, name in zip(axes, ("u (osmotic)", "v (current)"), strict=True):
            ax.set_yscale("log")
            ax.set_xlabel(TIME_UNIT)
            ax.set_ylabel(f"relative L2 error of {name}")
        fig.tight_layout()
        _figure_legend(fig, axes, ncol=4, title=problem)
        drawn = True
        who = " and ".join(style.SOLVER_SHORT.get(s, s) for s in dict.fromkeys(c[0] for c in curves))
        writer.save(
            fig, f"drift_errors_{problem}", f"{title}: {problem}",
            f"{problem}: relative L2 error over time of the velocities learned by {who}, "
            "sqrt(E|u_hat - u|^2 / E|u|^2) under the exact law at each evaluation time (left: "
            "osmotic u, right: current v), one line per dimension (lighter: larger), first "
            "seed. The time average of these, weighted by E|u|^2, is the table's u_err / v_err."
        )
    if not drawn:
        writer.skip(title, "no run artifact carries drift errors over time (exact reference "
                           "and a solver with a drift)")


# ------------------------------------------------------------- 5. density heat maps
def density_maps(results: Results, agg: pd.DataFrame, writer: FigureWriter) -> None:
    title = "Density over (x, t)"
    drawn = False
    for problem in list(dict.fromkeys(results.ok["problem"])):
        lines = _artifacts_by_line(results, problem, 1)
        panels: dict[str, tuple] = {}
        reference_kind = ""
        for (solver, _variant), (row, artifact) in lines.items():
            if solver in panels:  # one configuration per solver keeps the panels readable
                continue
            density = ((artifact or {}).get("series") or {}).get("density")
            if not isinstance(density, dict) or density.get("rho") is None:
                continue
            try:
                x = np.asarray(density["x"], dtype=float)
                t = np.asarray(density["times"], dtype=float)
                rho = np.asarray(density["rho"], dtype=float)
                ref = density.get("ref_rho")
                ref = None if ref is None else np.asarray(ref, dtype=float)
            except (KeyError, TypeError, ValueError):
                continue
            if rho.shape != (len(t), len(x)) or (ref is not None and ref.shape != rho.shape):
                continue
            panels[solver] = (x, t, rho, ref)
            if ref is not None and not reference_kind:
                reference_kind = str(row.get("reference") or "exact")
        if not panels:
            continue
        _draw_density(problem, panels, reference_kind, writer, title)
        drawn = True
    if not drawn:
        writer.skip(title, "no 1-D run artifact carries a density series")


def _draw_density(problem: str, panels: dict[str, tuple], reference_kind: str,
                  writer: FigureWriter, title: str) -> None:
    reference = next(((x, t, ref) for x, t, _rho, ref in panels.values() if ref is not None),
                     None)
    ref_label = {"grid": "grid"}.get(reference_kind, "exact")
    if reference is None and "grid" in panels:
        # no exact density: the grid solver is the reference, and no error panel is drawn for it
        x, t, rho, _ = panels["grid"]
        reference, ref_label = (x, t, rho), "grid"
    errors = {}
    for solver, (x, t, rho, ref) in panels.items():
        base = ref
        if base is None and reference is not None and reference[2].shape == rho.shape \
                and np.allclose(reference[0], x) and np.allclose(reference[1], t):
            base = reference[2]
        if base is not None and not (ref_label == "grid" and solver == "grid"):
            errors[solver] = np.abs(rho - base)
    solvers = list(panels)
    ncols = len(solvers) + (1 if reference is not None else 0)
    nrows = 2 if errors else 1
    fig, axes = plt.subplots(nrows, ncols, figsize=(style.FIG_WIDTH, 2.2 * nrows + 0.5),
                             squeeze=False, sharex=True, sharey=True, layout="constrained")

    # colour scale: the reference's (else every panel's) values; a near-delta start (the free
    # particle) would squash everything else, so clip at the 99th percentile when the peak is
    # far above it, and say so on the colour bar
    scale_source = reference[2] if reference is not None else np.concatenate(
        [p[2].ravel() for p in panels.values()])
    peak = float(np.nanmax(scale_source))
    vmax, clipped = peak, False
    q99 = float(np.nanquantile(scale_source[scale_source > 1e-3 * peak], 0.99))
    if peak > 2.0 * q99:
        vmax, clipped = q99, True
    emax = max((float(np.nanmax(e)) for e in errors.values()), default=1.0)
    # vertical zoom: where the density is ever above 1e-3 of its peak
    zx, _zt, zrho = reference if reference is not None else next(iter(panels.values()))[:3]
    # (relative to each time's own peak, so that a spreading packet keeps its tails in view)
    support = zx[(zrho >= 1e-3 * np.nanmax(zrho, axis=1, keepdims=True)).any(axis=0)]
    if len(support) >= 2:
        pad = 0.08 * (support[-1] - support[0])
        y_range = (max(zx[0], support[0] - pad), min(zx[-1], support[-1] + pad))
    else:
        y_range = (zx[0], zx[-1])

    def show(ax, x, t, z, cmap, top):
        # time horizontal, x vertical, as in the paper's density figures; rasterised so that
        # the PDF stays small
        ax.grid(False)
        return ax.pcolormesh(t, x, z.T, shading="nearest", cmap=cmap, vmin=0, vmax=top,
                             rasterized=True)

    density_image = error_image = None
    col = 0
    if reference is not None:
        density_image = show(axes[0, 0], *reference, "viridis", vmax)
        axes[0, 0].set_title(f"reference ({ref_label})", fontsize=8)
        if nrows == 2:
            axes[1, 0].axis("off")
        col = 1
    for solver in solvers:
        x, t, rho, _ = panels[solver]
        short = style.SOLVER_SHORT.get(solver, solver)
        density_image = show(axes[0, col], x, t, rho, "viridis", vmax)
        axes[0, col].set_title(short, fontsize=8, color=style.solver_color(solver))
        if nrows == 2:
            if solver in errors:
                error_image = show(axes[1, col], x, t, errors[solver], "magma", emax)
                axes[1, col].set_title(f"|{short} − ref.|, max {np.nanmax(errors[solver]):.2g}",
                                       fontsize=7.5)
                axes[1, col].set_xlabel("t (a.u.)")
            else:
                axes[1, col].axis("off")
        col += 1
    axes[0, 0].set_ylim(*y_range)
    for ax in axes[-1, :]:
        if ax.axison:
            ax.set_xlabel("t (a.u.)")
    for r in range(nrows):
        first = next((ax for ax in axes[r, :] if ax.axison), None)
        if first is not None:
            first.set_ylabel(f"x ({LENGTH_UNIT})")
            first.yaxis.set_tick_params(labelleft=True)
    if density_image is not None:
        bar = fig.colorbar(density_image, ax=list(axes[0, :]), shrink=0.95, pad=0.01,
                           extend="max" if clipped else "neither")
        bar.set_label(r"$\rho(x, t)$ (1/a.u.)" + ("\nclipped" if clipped else ""))
    if error_image is not None:
        fig.colorbar(error_image, ax=list(axes[1, :]), shrink=0.95, pad=0.01,
                     label=r"$|\Delta\rho|$ (1/a.u.)")
    writer.save(
        fig, f"density_{problem}", f"{title}: {problem}",
        f"{problem}: the density ρ(x, t) over space (vertical) and time (horizontal): the "
        f"{ref_label} reference and each solver on one colour scale (top), and each solver's "
        "absolute error against the reference on a shared scale (bottom). Samplers' densities "
        "are estimated from their samples (first seed, first configuration)."
        + (f" The colour scale is clipped at {vmax:.3g} (the peak, {peak:.3g}, is the "
           "near-delta start)." if clipped else "")
    )


# ----------------------------------------------------------- 6. time to accuracy
_MONITOR_KEYS = ("var_err", "mean_err", "w1_err", "u_err", "v_err", "com_var_err",
                 "com_mean_err", "energy_drift")


def _history(artifact: dict[str, Any] | None) -> pd.DataFrame | None:
    history = (artifact or {}).get("history")
    if not isinstance(history, dict) or "wall_s" not in history:
        return None
    try:
        lengths = {len(v) for v in history.values() if isinstance(v, list)}
        if len(lengths) != 1:
            return None
        frame = pd.DataFrame({k: v for k, v in history.items() if isinstance(v, list)})
    except (TypeError, ValueError):
        return None
    frame = frame.apply(pd.to_numeric, errors="coerce")
    return frame if len(frame) >= 2 else None


def total_loss(history: pd.DataFrame) -> tuple[pd.Series | None, str]:
    """The total training loss of a history and how it was obtained: its "loss" column, else
    the sum of its loss-term columns (names containing "loss"), else None."""
    for name in ("loss", "total_loss", "loss_total"):
        if name in history and history[name].notna().any():
            return history[name], "total loss"
    terms = [c for c in history.columns if "loss" in c.lower() and c not in _MONITOR_KEYS]
    if not terms:
        terms = [c for c in history.columns
                 if c not in ("iter", "wall_s", *_MONITOR_KEYS) and history[c].notna().any()]
    if not terms:
        return None, ""
    return history[terms].sum(axis=1, min_count=1), "sum of loss terms (" + ", ".join(terms) + ")"


def training_curves(results: Results, agg: pd.DataFrame, writer: FigureWriter) -> None:
    title = "Error vs wall time during training"
    all_solvers = sorted(set(results.table["solver"]))
    drawn = False
    for problem in list(dict.fromkeys(results.ok["problem"])):
        dims = results.ok.loc[results.ok["problem"] == problem, "d"]
        per_d = []
        for d in _select_dims(dims):
            ok = results.ok[(results.ok["problem"] == problem) & (results.ok["d"] == d)]
            runs = [(row, _history(results.artifacts.get(idx))) for idx, row in ok.iterrows()]
            runs = [(row, h) for row, h in runs if h is not None]
            if runs:
                per_d.append((d, runs))
        if not per_d:
            continue
        monitors = [k for k in _MONITOR_KEYS
                    if any(k in h and h[k].notna().any() for _d, runs in per_d for _r, h in runs)]
        monitors = monitors[:2]
        ncols = len(monitors) + 1
        fig, axes = plt.subplots(len(per_d), ncols, figsize=(style.FIG_WIDTH,
                                                             2.5 * len(per_d) + 0.4),
                                 squeeze=False)
        loss_how = set()
        for r, (d, runs) in enumerate(per_d):
            for c, metric in enumerate(monitors):
                ax = axes[r, c]
                floor = agg[(agg["problem"] == problem) & (agg["d"] == d)
                            & (agg["solver"] == "oracle")]
                floor = floor[floor[metric].notna()]
                if not floor.empty:
                    y, s = floor[metric].iloc[0], floor[f"{metric}_spread"].iloc[0]
                    s = s if np.isfinite(s) else 0.0
                    ax.axhspan(max(y - s, 0.05 * y), y + s, color=style.solver_color("oracle"),
                               alpha=0.18, lw=0, label="oracle floor")
                for row, h in runs:
                    if metric in h and h[metric].notna().any():
                        keep = h[metric].notna() & (h["wall_s"] > 0)
                        ax.plot(h.loc[keep, "wall_s"], h.loc[keep, metric], marker=".", ms=3,
                                lw=1.1, color=style.solver_color(row["solver"], all_solvers),
                                label=f"{style.solver_label(row['solver'], row['variant'])}, "
                                      f"seed {int(row['seed'])}")
                ax.set_xscale("log")
                ax.set_yscale("log")
                ax.set_xlabel("training wall time (s)")
                ax.set_ylabel(style.METRIC_LABELS.get(metric, metric) + "\n(monitor)")
                _dedupe_legend(ax)
            ax = axes[r, -1]
            any_loss = False
            for row, h in runs:
                loss, how = total_loss(h)
                if loss is None:
                    continue
                keep = loss.notna() & (h["wall_s"] > 0)
                ax.plot(h.loc[keep, "wall_s"], loss[keep], lw=1.1,
                        color=style.solver_color(row["solver"], all_solvers),
                        label=f"{style.solver_label(row['solver'], row['variant'])}, "
                              f"seed {int(row['seed'])}")
                loss_how.add(f"{row['solver']}: {how}")
                any_loss = True
                if (loss[keep] <= 0).any():
                    ax.set_yscale("symlog", linthresh=1e-6)
            if any_loss:
                if ax.get_yscale() != "symlog":
                    ax.set_yscale("log")
                ax.set_xscale("log")
                ax.set_xlabel("training wall time (s)")
                ax.set_ylabel("training loss (total)\nmethod's own units")
                _dedupe_legend(ax)
            else:
                ax.axis("off")
            dname = "n" if problem == "bosons" else "d"
            axes[r, 0].set_title(f"{problem}, {dname} = {d}", loc="left")
        fig.tight_layout()
        drawn = True
        writer.save(
            fig, f"training_{problem}", f"{title}: {problem}",
            f"{problem}: time to accuracy. "
            + ("Left: errors measured during training by the monitor (against the reference, "
               "a cheaper evaluation than the final one) vs training wall time, log-log, one "
               "line per run; the shaded band is the oracle's sampling floor at the final "
               "evaluation's sample count (a monitor drawing fewer samples has a higher floor "
               "of its own). Right: "
               if monitors else
               "No monitor errors were recorded during training (runs without "
               "budget.monitor_every), so only ")
            + "the training loss vs training wall time, labelled as such; losses of different "
            "methods are in different units and not comparable."
            + (" Loss shown: " + "; ".join(sorted(loss_how)) + "." if loss_how else "")
        )
    if not drawn:
        writer.skip(title, "no run artifact carries a training history with wall times")


def _dedupe_legend(ax) -> None:
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    if unique:
        ax.legend(unique.values(), unique.keys(), loc="best", fontsize=6.5)


# ------------------------------------------------------------------- 7. bosons
def bosons(results: Results, agg: pd.DataFrame, writer: FigureWriter) -> None:
    title = "Bosons: centre of mass and energy"
    all_solvers = sorted(set(results.table["solver"]))
    ok = results.ok[results.ok["problem"] == "bosons"]
    per_n = []
    for n in _select_dims(ok["d"]):
        lines = _artifacts_by_line(results, "bosons", n)
        lines = {k: v for k, v in lines.items()
                 if _series(v[1], "com_var") is not None or _series(v[1], "energy") is not None}
        if lines:
            per_n.append((n, lines))
    if per_n:
        fig, axes = plt.subplots(len(per_n), 2, figsize=(style.FIG_WIDTH, 2.5 * len(per_n) + 0.4),
                                 squeeze=False)
        for r, (n, lines) in enumerate(per_n):
            ax_c, ax_e = axes[r]
            ref_drawn = False
            for (solver, variant), (_row, artifact) in lines.items():
                t = _series(artifact, "times")
                color = style.solver_color(solver, all_solvers)
                label = style.solver_label(solver, variant)
                com = _series(artifact, "com_var")
                if t is not None and com is not None and len(com) == len(t):
                    ax_c.plot(t, com, color=color, lw=1.3, label=label)
                    ref = _series(artifact, "ref_com_var")
                    if ref is not None and not ref_drawn and len(ref) == len(t):
                        ax_c.plot(t, ref, label=r"exact $\hbar/(2nm\omega)$; energy conserved",
                                  **style.REFERENCE_STYLE)
                        ref_drawn = True
                energy = _series(artifact, "energy")
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
        _figure_legend(fig, axes, title="bosons")
        writer.save(
            fig, "bosons_time_series", f"{title} over time",
            "Interacting bosons: variance of the centre of mass X_c = mean_i x_i over time "
            "(left) against the exact law Var X_c = ħ/(2nmω), constant because the interaction "
            "depends on differences only (Kohn's theorem), and the relative energy change "
            "(E(t) − E(0)) / |E(0)| against the run's own E(0) (right; the exact energy is "
            "conserved). "
            "Samplers: first seed, mean over sampling trials."
        )
    else:
        writer.skip(f"{title} over time", "no bosons run artifact carries centre-of-mass or "
                    "energy series")
    sub = agg[(agg["problem"] == "bosons") & (agg["n_ok"] > 0)]
    metrics = [m for m in ("com_var_err", "com_mean_err", "energy_drift") if sub[m].notna().any()]
    if sub["d"].nunique() < 2 or not metrics:
        writer.skip(f"{title} vs n", "fewer than two particle numbers with centre-of-mass or "
                    "energy metrics")
        return
    fig, axes = plt.subplots(1, len(metrics), figsize=(style.FIG_WIDTH, 2.7), squeeze=False)
    for ax, metric in zip(axes.flat, metrics, strict=True):
        for solver, variant in _line_keys(sub):
            line = sub[(sub["solver"] == solver) & (sub["variant"] == variant)]
            line = line[line[metric].notna()].sort_values("d")
            if line.empty:
                continue
            spread = line[f"{metric}_spread"].to_numpy(float)
            ax.errorbar(line["d"], line[metric], yerr=np.where(np.isfinite(spread), spread, 0),
                        marker="o", ms=3.5, capsize=2.5, lw=1.3,
                        color=style.solver_color(solver, all_solvers),
                        label=style.solver_label(solver, variant))
        ax.set_yscale("log")
        ax.set_xlabel("particles n")
        ax.set_ylabel(style.METRIC_LABELS.get(metric, metric))
        _dimension_axis(ax, sub["d"])
    fig.tight_layout()
    _figure_legend(fig, axes, title="bosons")
    writer.save(
        fig, "bosons_vs_particles", f"{title} vs n",
        "Interacting bosons vs particle number: centre-of-mass errors against the exact law and "
        "the energy drift max_t |E(t) − E(0)| / |E(0)| (reference-free); mean over seeds with "
        "the pooled spread where measured."
    )


def build_all(results: Results, agg: pd.DataFrame, directory: Path) -> FigureWriter:
    """Draw every figure; one failing figure is reported as skipped, not raised."""
    style.apply_style()
    writer = FigureWriter(Path(directory))
    for draw in (error_vs_dimension, errors_fixed_dimension, cost_vs_dimension,
                 moments_over_time, drift_errors_over_time, density_maps, training_curves,
                 bosons):
        try:
            draw(results, agg, writer)
        except Exception as exc:  # noqa: BLE001 - a broken figure must not lose the report
            plt.close("all")
            writer.skip(draw.__name__.replace("_", " "), f"drawing failed: {exc!r}")
    return writer
