"""Density heat maps of the 1-D runs over (x, t): the reference, and each solver's absolute
error against it on one shared scale, at most 3 maps per figure."""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass
class _Scales:
    """What every density figure of one problem shares: the colour scales and the x range."""

    vmax: float
    peak: float
    clipped: bool
    emax: float
    y_range: tuple[float, float]


def _scales(reference: tuple | None, panels: dict[str, tuple], errors: dict[str, np.ndarray]
            ) -> _Scales:
    """Colour scale: the reference's (else every panel's) values; a near-delta start (the free
    particle) would squash everything else, so clip at the 99th percentile when the peak is
    far above it. Vertical zoom: where the density is ever above 1e-3 of its peak at that
    time (each time's own peak, so that a spreading packet keeps its tails in view)."""
    source = reference[2] if reference is not None else np.concatenate(
        [p[2].ravel() for p in panels.values()])
    peak = float(np.nanmax(source))
    q99 = float(np.nanquantile(source[source > 1e-3 * peak], 0.99))
    clipped = peak > 2.0 * q99
    emax = max((float(np.nanmax(e)) for e in errors.values()), default=1.0)
    zx, _zt, zrho = reference if reference is not None else next(iter(panels.values()))[:3]
    support = zx[(zrho >= 1e-3 * np.nanmax(zrho, axis=1, keepdims=True)).any(axis=0)]
    y_range = (zx[0], zx[-1])
    if len(support) >= 2:
        pad = 0.08 * (support[-1] - support[0])
        y_range = (max(zx[0], support[0] - pad), min(zx[-1], support[-1] + pad))
    return _Scales(q99 if clipped else peak, peak, clipped, emax, y_range)


def _draw_density(styles: style.SolverStyles, problem: str, panels: dict[str, tuple],
                  kinds: dict[str, str], writer: FigureWriter, title: str) -> None:
    """The reference's map, then each solver's |error| map against it (its density where
    there is nothing to compare with), at most 3 panels per figure."""
    reference, ref_label, self_reference = _reference(styles, panels, kinds)
    errors = {}
    for solver, (x, t, rho, ref) in panels.items():
        base = ref
        if base is None and reference is not None and reference[2].shape == rho.shape \
                and np.allclose(reference[0], x) and np.allclose(reference[1], t):
            base = reference[2]
        if base is not None and solver != self_reference:  # no error against itself
            errors[solver] = np.abs(rho - base)
    maps = [("reference", ref_label, reference)] if reference is not None else []
    for solver, (x, t, rho, _ref) in panels.items():
        if solver in errors:
            maps.append(("error", solver, (x, t, errors[solver])))
        elif solver != self_reference:
            maps.append(("density", solver, (x, t, rho)))
    scales = _scales(reference, panels, errors)
    chunks = [maps[k:k + 3] for k in range(0, len(maps), 3)]
    for number, chunk in enumerate(chunks, start=1):
        suffix = f" ({number} of {len(chunks)})" if len(chunks) > 1 else ""
        fig = _density_figure(styles, chunk, scales)
        writer.save(
            fig, f"density_{problem}" + (f"_{number}" if number > 1 else ""),
            f"{title}: {problem}{suffix}",
            f"{problem}: the density ρ(x, t) over space (vertical) and time (horizontal): the "
            f"{ref_label or 'exact'} reference (viridis), and each solver's absolute error "
            "against it on one shared scale (magma; a solver with nothing to compare with "
            "shows its density). Samplers' densities are estimated from their samples (first "
            "seed, first configuration). Each solver's density at t = 0, T/2 and T is drawn "
            "beside the reference's in the marginal-density figure."
            + (f" The density scale is clipped at {scales.vmax:.3g}: the peak, "
               f"{scales.peak:.3g}, is far above the rest (a near-delta start, a focus)."
               if scales.clipped else ""))


def _density_figure(styles: style.SolverStyles, chunk: list[tuple], scales: _Scales):
    """One row of up to 3 maps (time horizontal, x vertical, as in the paper's density
    figures; rasterised so that the PDF stays small), each kind with its colour bar."""
    ncols = len(chunk) if style.FIG_WIDTH >= 5 else min(len(chunk), 2)
    nrows = -(-len(chunk) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(style.FIG_WIDTH, 2.3 * nrows + 0.3),
                             squeeze=False, sharex=True, sharey=True, layout="constrained")
    images: dict[str, tuple] = {}
    for ax, (kind, who, (x, t, z)) in zip(axes.flat, chunk, strict=False):
        ax.grid(False)
        cmap, top = ("magma", scales.emax) if kind == "error" else ("viridis", scales.vmax)
        image = ax.pcolormesh(t, x, z.T, shading="nearest", cmap=cmap, vmin=0, vmax=top,
                              rasterized=True)
        images.setdefault("error" if kind == "error" else "density", (image, []))[1].append(ax)
        if kind == "reference":
            ax.set_title(f"reference ({who})", fontsize=8)
        else:
            short = styles.short_label(who)
            ax.set_title(f"|{short} − ref.|, max {np.nanmax(z):.2g}" if kind == "error"
                         else short, fontsize=7.5, color=styles.color(who))
        ax.set_xlabel("t (a.u.)")
    for ax in axes.flat[len(chunk):]:
        ax.set_visible(False)
    axes[0, 0].set_ylim(*scales.y_range)
    for row in axes:
        row[0].set_ylabel(f"x ({LENGTH_UNIT})")
    if "density" in images:
        image, where = images["density"]
        bar = fig.colorbar(image, ax=where, shrink=0.95, pad=0.01,
                           extend="max" if scales.clipped else "neither")
        bar.set_label(r"$\rho(x, t)$ (1/a.u.)" + ("\nclipped" if scales.clipped else ""))
    if "error" in images:
        image, where = images["error"]
        fig.colorbar(image, ax=where, shrink=0.95, pad=0.01, label=r"$|\Delta\rho|$ (1/a.u.)")
    return fig
