"""Each sampler's model error and excess error over the sampling floor, computed across rows
for the report.

A sampled row (its artifact keeps the per-trial moments, ``trial_mean`` / ``trial_var``) is
paired with a floor row (a solver declared ``is_floor``) of the same problem (the artifact's
full problem config, so a changed time grid never pairs), dimension and evaluation settings
(n_samples, n_trials, eval_seed, n_eval_times), so that both were scored on the same noise
draw. The model error (the distance between the two pooled moments, never negative) comes from
``dsm_bench.model_error``; the excess err_pooled(solver) - err_pooled(floor) and its bootstrap
interval from ``dsm_bench.pooled.excess_over_floor``;
the seeds of one configuration are averaged, with the trials resampled jointly for all of
them. Rows without a floor partner or without stored trial moments (artifacts written before
they were kept) get NaN.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd

from dsm_bench.model_error import model_error
from dsm_bench.pooled import TrialMoments, excess_over_floor
from reports.data import Results
from reports.style import FLOOR_WORDS, SolverStyles, dimension_symbol
from reports.tables import excess_of, format_number

__all__ = ["EXCESS_COLUMNS", "MODEL_ERROR_COLUMNS", "add_excess", "model_error_lines"]
EXCESS_COLUMNS = tuple(f"{moment}_excess{suffix}" for moment in ("mean", "var")
                       for suffix in ("", "_lo", "_hi"))
MODEL_ERROR_COLUMNS = tuple(f"{moment}_model_err{suffix}" for moment in ("mean", "var")
                            for suffix in ("", "_lo", "_hi"))
_SETTINGS = ("problem", "d", "n_samples", "n_trials", "eval_seed", "n_eval_times")


def _setting_key(row: pd.Series, artifact: dict[str, Any]) -> tuple:
    """What must match for two rows to share their sampling noise model."""
    values = tuple(None if isinstance(row[c], float) and math.isnan(row[c]) else row[c]
                   for c in _SETTINGS)
    return values + (json.dumps(artifact.get("problem"), sort_keys=True),)


def add_excess(agg: pd.DataFrame, results: Results, *, n_boot: int = 2000,
               level: float = 0.95) -> pd.DataFrame:
    """``agg`` with the columns of MODEL_ERROR_COLUMNS and EXCESS_COLUMNS: per (problem, d,
    solver, variant), the model error of the pooled mean and variance against the floor and
    the excess of mean_err_pooled and var_err_pooled over it, each with its interval."""
    out = agg.copy()
    for column in (*MODEL_ERROR_COLUMNS, *EXCESS_COLUMNS):
        out[column] = math.nan
    if out.empty:
        return out
    styles = results.styles
    ok = results.ok
    floors: dict[tuple, TrialMoments] = {}
    for idx, row in ok.sort_values("seed").iterrows():
        if styles.is_floor(row["solver"]) and idx in results.artifacts:
            moments = TrialMoments.from_series(results.artifacts[idx].get("series") or {})
            key = _setting_key(row, results.artifacts[idx])
            if moments is not None and key not in floors:  # the lowest seed's draw
                floors[key] = moments
    if not floors:
        return out
    for i, group in out.iterrows():
        if styles.is_floor(group["solver"]):
            continue
        rows = ok[(ok["problem"] == group["problem"]) & (ok["d"] == group["d"])
                  & (ok["solver"] == group["solver"]) & (ok["variant"] == group["variant"])]
        pairs = []
        for idx, row in rows.iterrows():
            artifact = results.artifacts.get(idx)
            if artifact is None:
                continue
            moments = TrialMoments.from_series(artifact.get("series") or {})
            floor = floors.get(_setting_key(row, artifact))
            if moments is not None and floor is not None:
                pairs.append((moments, floor))
        if not pairs:
            continue
        try:
            excess = excess_over_floor(pairs, n_boot=n_boot, level=level)
            model = model_error(pairs, n_boot=n_boot, level=level)
        except ValueError:  # seeds scored with different trial counts: no joint resampling
            continue
        for name, values in (("excess", excess), ("model_err", model)):
            for moment, value in values.items():
                out.loc[i, [f"{moment}_{name}", f"{moment}_{name}_lo",
                            f"{moment}_{name}_hi"]] = (value.value, value.lo, value.hi)
    return out


def model_error_lines(agg: pd.DataFrame, styles: SolverStyles, level: float = 0.95
                      ) -> list[str]:
    """One sentence per configuration with a model error: its value, interval and, where the
    interval reaches 0, that it is not distinguishable from the floor."""
    lines = []
    for row in agg.to_dict("records"):
        parts = []
        for moment in ("var", "mean"):
            value = excess_of(row, moment, "model_err")
            if value is None:
                continue
            interval = (f" ({level:.0%} interval {format_number(value.lo, 2)} to "
                        f"{format_number(value.hi, 2)})" if np.isfinite(value.lo) else
                        " (one trial: no interval)")
            verdict = "" if value.resolved or not np.isfinite(value.lo) else f": {FLOOR_WORDS}"
            parts.append(f"{moment} model error {format_number(value.value, 2)}{interval}"
                         f"{verdict}")
        if parts:
            lines.append(f"{row['problem']}, {dimension_symbol(row['problem'])} = "
                         f"{int(row['d'])}, {styles.label(row['solver'], row['variant'])}: "
                         + "; ".join(parts))
    return lines
