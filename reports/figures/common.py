"""What every report figure shares: the writer that saves and records figures, readable log
and dimension axes, one legend per figure, gap markers, the sampling-floor band, and access
to the per-run artifacts' time series."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import ticker

from reports import style
from reports.data import Results
from reports.published import published_for

plt = style.plt

__all__ = ["FigureRecord", "FigureWriter", "LENGTH_UNIT", "TIME_UNIT", "artifacts_by_line",
           "dedupe_legend", "dimension_axis", "excess_points", "figure_legend", "floor_band",
           "floor_words", "gap_rows",
           "headroom", "line_keys", "mark_gaps", "multi_d_problems", "published_points",
           "select_dims", "series", "variant_index"]

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


# ----------------------------------------------------------------------------- axes
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


def dimension_axis(ax, dims, log: bool | None = None) -> None:
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


def headroom(ax, fraction: float = 0.12) -> None:
    """Extend a log y axis upwards so that the gap markers at the top stay clear of data."""
    low, high = ax.get_ylim()
    if ax.get_yscale() == "log" and low > 0:
        ax.set_ylim(low, high * (high / low) ** fraction)
    else:
        ax.set_ylim(low, high + (high - low) * fraction)


def figure_legend(fig, axes, any_gap: bool = False, ncol: int = 3, title: str | None = None,
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


def dedupe_legend(ax) -> None:
    """A legend inside one panel, each label once."""
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    if unique:
        ax.legend(unique.values(), unique.keys(), loc="best", fontsize=6.5)


def floor_band(ax, d: np.ndarray, y: np.ndarray, spread: np.ndarray, color: str,
               label: str) -> None:
    """A sampling floor as a band (value ± spread) with its value as a thin line."""
    spread = np.where(np.isfinite(spread), spread, 0.0)
    low = np.maximum(y - spread, y * 0.05)  # a log axis cannot show <= 0: clip to 5% of value
    high = y + spread
    if len(d) == 1:
        ax.axhspan(low[0], high[0], color=color, alpha=0.18, lw=0, label=label)
        ax.axhline(y[0], color=color, lw=1.0)
    else:
        ax.fill_between(d, low, high, color=color, alpha=0.18, lw=0, label=label)
        ax.plot(d, y, color=color, lw=1.0)


def excess_points(ax, d: np.ndarray, value: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                  color: str, label: str, linestyle: str = "-") -> None:
    """A sampler's excess over the floor with its interval [lo, hi] on a linear axis: filled
    where the interval excludes 0, hollow where it contains 0 (not distinguishable from the
    floor); an interval that is missing (one trial) draws no bar."""
    lo = np.where(np.isfinite(lo), lo, value)
    hi = np.where(np.isfinite(hi), hi, value)
    ax.plot(d, value, color=color, lw=1.3, linestyle=linestyle, label=label)
    # the interval as a bar of its own: a bias-corrected interval need not contain the value
    ax.vlines(d, lo, hi, color=color, lw=1.3)
    ax.scatter(np.concatenate([d, d]), np.concatenate([lo, hi]), marker="_", s=30, color=color)
    on_floor = (lo <= 0) & (hi >= 0)
    ax.scatter(d[~on_floor], value[~on_floor], color=color, s=16, zorder=5)
    ax.scatter(d[on_floor], value[on_floor], facecolor="white", edgecolor=color, s=16,
               zorder=5)


# ---------------------------------------------------------------------- selections
def multi_d_problems(table: pd.DataFrame) -> list[str]:
    """Problems with rows at two or more dimensions, in first-seen order."""
    return [problem for problem, group in table.groupby("problem", sort=False)
            if group["d"].dropna().nunique() >= 2]


def select_dims(dims, k: int = 3) -> list[int]:
    """At most k dimensions: all of them, or the smallest, a middle one and the largest."""
    dims = sorted({int(d) for d in dims if np.isfinite(d)})
    if len(dims) <= k:
        return dims
    return [dims[0], dims[len(dims) // 2], dims[-1]]


def line_keys(agg: pd.DataFrame, styles: style.SolverStyles) -> list[tuple[str, str]]:
    """Every (solver, variant) of the aggregate in the solvers' order."""
    keys = list(dict.fromkeys(zip(agg["solver"], agg["variant"], strict=True)))
    return sorted(keys, key=lambda k: (styles.sort_key(k[0]), k[1]))


def variant_index(agg: pd.DataFrame, solver: str, variant: str) -> int:
    variants = sorted(set(agg.loc[agg["solver"] == solver, "variant"]))
    return variants.index(variant) if variant in variants else 0


def gap_rows(results: Results, problem: str) -> pd.DataFrame:
    """(solver, d, status, message) where no run of that solver at that d succeeded."""
    table = results.table[results.table["problem"] == problem]
    ok = set(zip(table.loc[table["status"] == "ok", "solver"],
                 table.loc[table["status"] == "ok", "d"], strict=True))
    bad = table[table["status"] != "ok"]
    keep = np.array([(s, d) not in ok for s, d in zip(bad["solver"], bad["d"], strict=True)],
                    dtype=bool)
    return bad.loc[keep][["solver", "d", "status", "message"]].drop_duplicates(["solver", "d"])


def mark_gaps(ax, gaps: pd.DataFrame, solver: str, color: str) -> bool:
    """An x at the top of the axes for each dimension where this solver has no result."""
    rows = gaps[gaps["solver"] == solver]
    if rows.empty:
        return False
    transform = ax.get_xaxis_transform()  # x in data, y in axes fraction
    ax.scatter(rows["d"], np.full(len(rows), 0.96), marker="x", s=28, color=color,
               transform=transform, clip_on=False, zorder=5)
    return True


def published_points(problem: str, d: int, solver: str) -> dict[str, float]:
    return published_for(problem, d, solver) or {}


# ----------------------------------------------------------------------- artifacts
def series(artifact: dict[str, Any] | None, key: str) -> np.ndarray | None:
    """A series of an artifact as a float array (None entries -> NaN); None if absent."""
    if not artifact:
        return None
    value = (artifact.get("series") or {}).get(key)
    if value is None:
        return None
    try:
        arr = np.asarray([np.nan if v is None else v for v in value], dtype=float)
    except (TypeError, ValueError):
        return None
    return arr if arr.size and np.isfinite(arr).any() else None


def artifacts_by_line(results: Results, problem: str, d: int) -> dict[tuple[str, str], Any]:
    """For each (solver, variant): (row, artifact) of its lowest-seed ok run with an artifact,
    in the solvers' order."""
    table = results.ok
    rows = table[(table["problem"] == problem) & (table["d"] == d)].sort_values("seed")
    out: dict[tuple[str, str], Any] = {}
    for idx, row in rows.iterrows():
        key = (row["solver"], row["variant"])
        if key not in out and idx in results.artifacts:
            out[key] = (row, results.artifacts[idx])
    styles = results.styles
    return dict(sorted(out.items(), key=lambda kv: (styles.sort_key(kv[0][0]), kv[0][1])))


def floor_words(styles: style.SolverStyles, solvers) -> str:
    """'the sampling floor (<label>)' for the floor solvers among ``solvers``; "" if none."""
    floors = [styles.label(s) for s in styles.order if styles.is_floor(s) and s in set(solvers)]
    return f"the sampling floor ({'; '.join(floors)})" if floors else ""
