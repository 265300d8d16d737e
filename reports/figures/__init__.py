"""The report's figures, each saved as figures/<name>.png and a vector figures/<name>.pdf.

One module per figure family: ``dimension`` (errors vs d, fixed-d errors), ``cost`` (time and
memory vs d), ``moments`` (mean / variance and drift errors over time), ``density`` (heat maps),
``marginals`` (marginal densities at t = 0, T/2, T, and the problems' gallery),
``dynamics`` (|C(t)| beside published recurrences; energy and Ehrenfest errors vs d),
``training`` (time to accuracy), ``bosons``; ``common`` holds the writer and the axes helpers.
Every drawing function takes the loaded ``Results`` and the per-configuration aggregate and
adds its figures to a ``FigureWriter``; a figure without data is skipped with a note (never an
empty plot, never a crash). Colours and labels are each solver's declared facts
(``Results.styles``); the reference is black dashed everywhere; line style distinguishes
configuration variants of one solver.
"""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pandas as pd

from reports import style
from reports.data import Results, power_law_exponent
from reports.figures.bosons import bosons
from reports.figures.common import FigureRecord, FigureWriter
from reports.figures.cost import cost_vs_dimension, parse_cost_estimate
from reports.figures.density import density_maps
from reports.figures.dimension import error_vs_dimension, errors_fixed_dimension
from reports.figures.dynamics import autocorrelation, dynamics_vs_dimension
from reports.figures.marginals import marginal_densities, problem_gallery
from reports.figures.moments import drift_errors_over_time, moments_over_time
from reports.figures.training import total_loss, training_curves

__all__ = ["DRAWINGS", "FigureRecord", "FigureWriter", "build_all", "parse_cost_estimate",
           "power_law_exponent", "total_loss"]

# in the report's order
DRAWINGS = (error_vs_dimension, errors_fixed_dimension, cost_vs_dimension, moments_over_time,
            drift_errors_over_time, density_maps, marginal_densities, problem_gallery,
            autocorrelation, dynamics_vs_dimension, training_curves, bosons)


def build_all(results: Results, agg: pd.DataFrame, directory: Path) -> FigureWriter:
    """Draw every figure at page width into ``directory`` and at one-column width into
    ``directory``/column; return the page-width writer (the report shows those). One failing
    figure is reported as skipped, not raised. With more than one core the column figures are
    drawn by a forked child while this process draws the page figures (the two sets share
    nothing but the read-only data); if the child fails they are drawn here."""
    style.apply_style()
    writer = FigureWriter(Path(directory))
    column = FigureWriter(Path(directory) / "column", column=True)
    child = _fork_column_drawing(results, agg, column)
    _draw_all(results, agg, writer, style.PAGE_WIDTH)
    if child is not None:
        child.join()
    if child is None or child.exitcode != 0:
        _draw_all(results, agg, column, style.COLUMN_WIDTH)
    return writer


def _fork_column_drawing(results: Results, agg: pd.DataFrame, column: FigureWriter):
    """The column figures in a forked process (None where fork is not available, or on one
    core, where it would only interleave)."""
    if (os.cpu_count() or 1) < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return None
    child = multiprocessing.get_context("fork").Process(
        target=_draw_all, args=(results, agg, column, style.COLUMN_WIDTH), daemon=True)
    child.start()
    return child


def _draw_all(results: Results, agg: pd.DataFrame, writer: FigureWriter, width: float) -> None:
    style.FIG_WIDTH = width
    try:
        for draw in DRAWINGS:
            try:
                draw(results, agg, writer)
            except Exception as exc:  # noqa: BLE001 - a broken figure must not lose the report
                style.plt.close("all")
                writer.skip(draw.__name__.replace("_", " "), f"drawing failed: {exc!r}")
    finally:
        style.FIG_WIDTH = style.PAGE_WIDTH
