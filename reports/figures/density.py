"""Density heat maps of the 1-D runs over (x, t): the reference and each solver on one colour
scale, and each solver's absolute error against the reference."""

from __future__ import annotations

import numpy as np
import pandas as pd

from reports import style
from reports.data import Results
from reports.figures.common import LENGTH_UNIT, FigureWriter, artifacts_by_line

plt = style.plt

__all__ = ["density_maps"]


def density_maps(results: Results, agg: pd.DataFrame, writer: FigureWriter) -> None:
    title = "Density over (x, t)"
    drawn = False
    for problem in list(dict.fromkeys(results.ok["problem"])):
        panels: dict[str, tuple] = {}
        kinds: dict[str, str] = {}  # solver -> its row's reference column
        for (solver, _variant), (row, artifact) in artifacts_by_line(results, problem, 1).items():
            if solver in panels:  # one configuration per solver keeps the panels readable
                continue
            panel = _density_panel(artifact)
            if panel is not None:
                panels[solver] = panel
                kinds[solver] = str(row.get("reference") or "")
        if not panels:
            continue
        _draw_density(results.styles, problem, panels, kinds, writer, title)
        drawn = True
    if not drawn:
        writer.skip(title, "no 1-D run artifact carries a density series")


def _density_panel(artifact: dict | None) -> tuple | None:
    """(x, t, rho, ref_rho or None) of an artifact's density series; None if absent/malformed."""
    density = ((artifact or {}).get("series") or {}).get("density")
    if not isinstance(density, dict) or density.get("rho") is None:
        return None
    try:
        x = np.asarray(density["x"], dtype=float)
        t = np.asarray(density["times"], dtype=float)
        rho = np.asarray(density["rho"], dtype=float)
        ref = density.get("ref_rho")
        ref = None if ref is None else np.asarray(ref, dtype=float)
    except (KeyError, TypeError, ValueError):
        return None
    if rho.shape != (len(t), len(x)) or (ref is not None and ref.shape != rho.shape):
        return None
    return x, t, rho, ref


def _reference(styles: style.SolverStyles, panels: dict[str, tuple], kinds: dict[str, str]
               ) -> tuple[tuple | None, str, str | None]:
    """(x, t, reference density), its label, and the solver that is the reference (None when
    the reference is a separate one). A run scored against a reference carries it; where
    none does, a solution scored without one (reference "self": it is the grid reference)
    serves."""
    for solver, (x, t, _rho, ref) in panels.items():
        if ref is not None:
            return (x, t, ref), "grid" if kinds[solver] == "grid" else "exact", None
    for solver, (x, t, rho, _ref) in panels.items():
        if kinds[solver] == "self":
            return (x, t, rho), styles.short_label(solver), solver
    return None, "", None


def _draw_density(styles: style.SolverStyles, problem: str, panels: dict[str, tuple],
                  kinds: dict[str, str], writer: FigureWriter, title: str) -> None:
    reference, ref_label, self_reference = _reference(styles, panels, kinds)
    errors = {}
    for solver, (x, t, rho, ref) in panels.items():
        base = ref
        if base is None and reference is not None and reference[2].shape == rho.shape \
                and np.allclose(reference[0], x) and np.allclose(reference[1], t):
            base = reference[2]
        if base is not None and solver != self_reference:  # no error against itself
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
        short = styles.short_label(solver)
        density_image = show(axes[0, col], x, t, rho, "viridis", vmax)
        axes[0, col].set_title(short, fontsize=8, color=styles.color(solver))
        if nrows == 2:
            if solver in errors:
                error_image = show(axes[1, col], x, t, errors[solver], "magma", emax)
                # two lines: side by side panels leave one title little width
                axes[1, col].set_title(f"|{short} − ref.|\nmax {np.nanmax(errors[solver]):.2g}",
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
        f"{ref_label or 'exact'} reference and each solver on one colour scale (top), and each "
        "solver's absolute error against the reference on a shared scale (bottom). Samplers' "
        "densities are estimated from their samples (first seed, first configuration)."
        + (f" The colour scale is clipped at {vmax:.3g} (the peak, {peak:.3g}, is the "
           "near-delta start)." if clipped else "")
    )
