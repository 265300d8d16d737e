"""Time to accuracy: the errors a training monitor measured, and the training loss, against
training wall time, one line per run, with the sampling floor as a band."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from dsm_bench.schema import metric_label
from reports import style
from reports.data import Results
from reports.figures.common import FigureWriter, figure_legend, select_dims

plt = style.plt

__all__ = ["total_loss", "training_curves"]

# monitor columns a history may carry, in the order they are worth a panel
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
    drawn = False
    for problem in list(dict.fromkeys(results.ok["problem"])):
        dims = results.ok.loc[results.ok["problem"] == problem, "d"]
        per_d = []
        for d in select_dims(dims):
            ok = results.ok[(results.ok["problem"] == problem) & (results.ok["d"] == d)]
            runs = [(row, _history(results.artifacts.get(idx))) for idx, row in ok.iterrows()]
            runs = [(row, h) for row, h in runs if h is not None]
            if runs:
                per_d.append((d, runs))
        if not per_d:
            continue
        monitors = [k for k in _MONITOR_KEYS
                    if any(k in h and h[k].notna().any() for _d, runs in per_d for _r, h in runs)]
        for d, runs in per_d:  # one figure per size: at most 3 panels
            _draw_training(results, agg[agg["problem"] == problem], problem, [(d, runs)],
                           monitors[:2], writer, title)
        drawn = True
    if not drawn:
        writer.skip(title, "no run artifact carries a training history with wall times")


def _draw_training(results: Results, agg: pd.DataFrame, problem: str, per_d: list,
                   monitors: list[str], writer: FigureWriter, title: str) -> None:
    styles = results.styles
    nrows, ncols, figsize = style.panel_grid(len(monitors) + 1)
    fig, grid = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False)
    axes = grid.reshape(1, -1)  # one size a figure: its panels in a row, whatever the grid
    loss_how = set()
    for r, (d, runs) in enumerate(per_d):
        for c, metric in enumerate(monitors):
            ax = axes[r, c]
            _floor_span(ax, agg[agg["d"] == d], metric, styles)
            for row, h in runs:
                if metric in h and h[metric].notna().any():
                    keep = h[metric].notna() & (h["wall_s"] > 0)
                    ax.plot(h.loc[keep, "wall_s"], h.loc[keep, metric], marker=".", ms=3,
                            lw=1.1, color=styles.color(row["solver"]),
                            label=f"{styles.label(row['solver'], row['variant'])}, "
                                  f"seed {int(row['seed'])}")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("training wall time (s)")
            ax.set_ylabel(metric_label(metric) + "\n(monitor)")
        ax = axes[r, -1]
        any_loss = False
        for row, h in runs:
            loss, how = total_loss(h)
            if loss is None:
                continue
            keep = loss.notna() & (h["wall_s"] > 0)
            ax.plot(h.loc[keep, "wall_s"], loss[keep], lw=1.1, color=styles.color(row["solver"]),
                    label=f"{styles.label(row['solver'], row['variant'])}, "
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
        else:
            ax.axis("off")
        axes[r, 0].set_title(f"{problem}, {style.dimension_symbol(problem)} = {d}", loc="left")
    fig.tight_layout()
    figure_legend(fig, axes, ncol=3)
    d = per_d[0][0]
    size = f"{style.dimension_symbol(problem)} = {int(d)}"
    writer.save(
        fig, f"training_{problem}_d{int(d)}", f"{title}: {problem}, {size}",
        f"{problem}, {size}: time to accuracy. "
        + ("First panels: errors measured during training by the monitor (against the reference, "
           "a cheaper evaluation than the final one) vs training wall time, log-log, one "
           "line per run; the shaded band is the sampling floor at the final evaluation's "
           "sample count (a monitor drawing fewer samples has a higher floor of its own). "
           "Last panel: "
           if monitors else
           "No monitor errors were recorded during training (runs without "
           "budget.monitor_every), so only ")
        + "the training loss vs training wall time, labelled as such; losses of different "
        "methods are in different units and not comparable."
        + (" Loss shown: " + "; ".join(sorted(loss_how)) + "." if loss_how else "")
    )


def _floor_span(ax, here: pd.DataFrame, metric: str, styles: style.SolverStyles) -> None:
    """The first floor configuration's value ± spread at this (problem, d), across the panel."""
    is_floor = np.array([styles.is_floor(s) for s in here["solver"]], dtype=bool)
    floor = here[is_floor & here[metric].notna().to_numpy()]
    if floor.empty:
        return
    y, s = floor[metric].iloc[0], floor[f"{metric}_spread"].iloc[0]
    s = s if np.isfinite(s) else 0.0
    solver = floor["solver"].iloc[0]
    ax.axhspan(max(y - s, 0.05 * y), y + s, color=styles.color(solver), alpha=0.18, lw=0,
               label=f"{styles.short_label(solver)} floor")
