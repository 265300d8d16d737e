"""Time series of one run per configuration: the mean and variance of X_t against the
reference (with the residual below), and the learned velocities' errors over time."""

from __future__ import annotations

import numpy as np
import pandas as pd

from reports import style
from reports.data import Results
from reports.figures.common import (
    LENGTH_UNIT,
    TIME_UNIT,
    FigureWriter,
    artifacts_by_line,
    figure_legend,
    select_dims,
    series,
    variant_index,
)

plt = style.plt

__all__ = ["drift_errors_over_time", "moments_over_time"]

# the row's reference kind -> how the reference curve is named in the legend
_REFERENCE_NAMES = {"exact": "exact", "grid": "grid reference"}


def _reference_series(lines: dict, key: str) -> tuple[np.ndarray | None, np.ndarray | None, str]:
    """(times, reference series, label) from the first artifact that carries one."""
    for (_solver, _variant), (row, artifact) in lines.items():
        ref = series(artifact, key)
        times = series(artifact, "times")
        if ref is not None and times is not None and len(ref) == len(times):
            label = _REFERENCE_NAMES.get(str(row.get("reference") or ""), "reference")
            return times, ref, label
    return None, None, ""


def moments_over_time(results: Results, agg: pd.DataFrame, writer: FigureWriter) -> None:
    title = "Mean and variance of X_t over time"
    drawn = False
    for problem in list(dict.fromkeys(results.ok["problem"])):
        dims = results.ok.loc[results.ok["problem"] == problem, "d"]
        for d in select_dims(dims):
            lines = artifacts_by_line(results, problem, d)
            lines = {k: v for k, v in lines.items() if series(v[1], "mean") is not None}
            if not lines:
                continue
            _draw_moments(results, agg[agg["problem"] == problem], problem, d, lines, writer,
                          title)
            drawn = True
    if not drawn:
        writer.skip(title, "no run artifact carries mean / variance time series")


def _draw_moments(results: Results, agg: pd.DataFrame, problem: str, d: int, lines: dict,
                  writer: FigureWriter, title: str) -> None:
    styles = results.styles
    fig, axes = plt.subplots(2, 2, figsize=(style.FIG_WIDTH, 4.6), sharex=True,
                             gridspec_kw={"height_ratios": [3, 1.4]})
    brownian_drawn = False
    ref_label = ""
    for col, (key, spread_key, ref_key, ylabel) in enumerate([
        ("mean", "mean_spread", "ref_mean", rf"$E[X_t]$ ({LENGTH_UNIT})"),
        ("var", "var_spread", "ref_var", rf"$\mathrm{{Var}}\,X_t$ ({LENGTH_UNIT}²)"),
    ]):
        ax, res_ax = axes[0, col], axes[1, col]
        ref_t, ref, ref_label = _reference_series(lines, ref_key)
        for (solver, variant), (_row, artifact) in lines.items():
            t, y = series(artifact, "times"), series(artifact, key)
            if t is None or y is None or len(t) != len(y):
                continue
            color = styles.color(solver)
            ls = style.variant_linestyle(variant_index(agg, solver, variant))
            ax.plot(t, y, color=color, lw=1.3, linestyle=ls, label=styles.label(solver, variant))
            spread = series(artifact, spread_key)
            if spread is not None and len(spread) == len(y):
                ax.fill_between(t, y - spread, y + spread, color=color, alpha=0.2, lw=0)
            own_ref = series(artifact, ref_key)
            if own_ref is not None and len(own_ref) == len(y):
                res_ax.plot(t, y - own_ref, color=color, lw=1.1, linestyle=ls)
                if spread is not None and len(spread) == len(y):
                    res_ax.fill_between(t, y - own_ref - spread, y - own_ref + spread,
                                        color=color, alpha=0.2, lw=0)
        if ref is not None:
            ax.plot(ref_t, ref, label=ref_label, **style.REFERENCE_STYLE)
            res_ax.axhline(0.0, **style.REFERENCE_STYLE)
        if key == "var":
            brownian_drawn = _brownian(ax, lines)
        ax.set_ylabel(ylabel)
        res_ax.set_ylabel(f"estimate − reference\n({LENGTH_UNIT}{'²' if col else ''})")
        res_ax.set_xlabel(TIME_UNIT)
        res_ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
    dname = style.dimension_symbol(problem)
    coords = " (per coordinate, averaged over coordinates)" if d > 1 else ""
    fig.tight_layout()
    figure_legend(fig, axes, ncol=3, title=f"{problem}, {dname} = {d}{coords}")
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


def _brownian(ax, lines: dict) -> bool:
    """The Brownian spreading law the authors compared with, where an artifact carries it."""
    for (_s, _v), (_row, artifact) in lines.items():
        brown, t = series(artifact, "brownian_var"), series(artifact, "times")
        if brown is not None and t is not None and len(brown) == len(t):
            ax.plot(t, brown, color="0.45", lw=1.2, linestyle=":",
                    label=r"Brownian $s_0^2 + (\hbar/m)t$ (authors' reference; "
                          "not the Schrödinger solution)")
            return True
    return False


def drift_errors_over_time(results: Results, agg: pd.DataFrame, writer: FigureWriter) -> None:
    """Relative errors of the learned u and v at each time (series ``u_err_t``, ``v_err_t``),
    one line per dimension: where in time a trained solver's velocities go wrong. Floors are
    left out: their drift is the exact one."""
    title = "Drift errors over time"
    styles = results.styles
    drawn = False
    for problem in list(dict.fromkeys(results.ok["problem"])):
        dims = sorted({int(d) for d in results.ok.loc[results.ok["problem"] == problem, "d"]})
        curves = []  # (solver, variant, d, artifact)
        for d in dims:
            for (solver, variant), (_row, artifact) in artifacts_by_line(
                    results, problem, d).items():
                if not styles.is_floor(solver) and series(artifact, "u_err_t") is not None:
                    curves.append((solver, variant, d, artifact))
        if not curves:
            continue
        lines = sorted({(c[0], c[1]) for c in curves},
                       key=lambda k: (styles.sort_key(k[0]), k[1]))
        shade = plt.get_cmap("viridis")
        dname = style.dimension_symbol(problem)
        fig, axes = plt.subplots(1, 2, figsize=(style.FIG_WIDTH, 3.2), sharex=True)
        for solver, variant, d, artifact in curves:
            color = shade(0.9 * dims.index(d) / max(1, len(dims) - 1))
            ls = style.variant_linestyle(lines.index((solver, variant)))
            t = series(artifact, "times")
            for ax, key in zip(axes, ("u_err_t", "v_err_t"), strict=True):
                y = series(artifact, key)
                if t is None or y is None or len(y) != len(t):
                    continue
                label = f"{styles.label(solver, variant)}, {dname} = {d}" \
                    if len(lines) > 1 else f"{dname} = {d}"
                ax.plot(t, y, color=color, linestyle=ls, lw=1.2, label=label)
        for ax, name in zip(axes, ("u (osmotic)", "v (current)"), strict=True):
            ax.set_yscale("log")
            ax.set_xlabel(TIME_UNIT)
            ax.set_ylabel(f"relative L2 error of {name}")
        fig.tight_layout()
        figure_legend(fig, axes, ncol=4, title=problem)
        drawn = True
        who = " and ".join(styles.short_label(s) for s in dict.fromkeys(c[0] for c in curves))
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
