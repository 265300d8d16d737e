"""What a study minimises: a declared error metric of the trial's results row (default: the
pooled variance error), lower is better.

A density solution (the PINN, the grid) integrates its moments; with no sampling trials there
is nothing to pool, so its pooled error is its error: a ``*_pooled`` objective reads the
unpooled column of such a row. A row without the value (a metric the problem has no
reference for) fails its trial, which says why.
"""

from __future__ import annotations

import math
from typing import Any

from dsm_bench.schema import METRIC_TABLE

__all__ = ["DEFAULT_OBJECTIVE", "PRUNE_SIGNAL", "objective_metrics", "objective_value"]

DEFAULT_OBJECTIVE = "var_err_pooled"
# the training monitor's cheap estimate (1 trial x 2000 samples) reported at every monitor
# step and compared by the median pruner (dsm_bench.harness.single_run._training_monitor)
PRUNE_SIGNAL = "var_err"
POOLED = "_pooled"


def objective_metrics() -> list[str]:
    """The metrics a study may minimise: every declared error or check (lower is better)."""
    return [m.name for m in METRIC_TABLE if m.kind in ("error", "check")]


def objective_value(row: dict[str, Any], metric: str) -> tuple[float | None, str]:
    """(the objective of a finished trial's row, "" or why there is none)."""
    column = metric
    if metric.endswith(POOLED) and row.get("solver_sampler") is False:
        column = metric[: -len(POOLED)]
    value = row.get(column)
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value), ""
    return None, f"the row has no finite {column} (the objective {metric})"
