"""What a run may spend: ``Budget(max_iters=..., max_seconds=..., monitor_every=...)``.

The one declaration of the budget's keys and their constraints: the command line's ``--set``
and a suite's ``budget = {...}`` table are checked against ``BUDGET_OPTIONS`` before a run
starts, and every solver reads the typed fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from solvers.options import Integer, Option, Real

__all__ = ["BUDGET_OPTIONS", "Budget", "BudgetError"]

BUDGET_OPTIONS: dict[str, Option] = {
    "max_iters": Option(None, Integer(1), "training iterations (epochs, optimiser steps)"),
    "max_seconds": Option(None, Real(0, closed="neither"), "training seconds, pauses excluded"),
    "monitor_every": Option(None, Integer(1), "record cheap errors every N iterations"),
}


class BudgetError(ValueError):
    """A budget key is unknown or its value invalid (the message names the valid ones)."""


@dataclass(frozen=True)
class Budget:
    """Caps on one solve; None: no cap.

    max_iters: training iterations (the solver's own count, e.g. epochs, when None).
    max_seconds: training wall seconds, monitor and checkpoint pauses excluded.
    monitor_every: call the monitor every this many iterations (None: never).
    """

    max_iters: int | None = None
    max_seconds: float | None = None
    monitor_every: int | None = None

    def __post_init__(self) -> None:
        for key, value in asdict(self).items():
            constraint = BUDGET_OPTIONS[key].constraint
            if value is not None and not constraint.accepts(value):
                raise BudgetError(f"budget {key}={value!r} must be {constraint.describe()}")

    @classmethod
    def from_dict(cls, table: Mapping[str, Any] | None) -> Budget:
        """A budget from a suite's or ``--set``'s table of keys; unknown keys are refused."""
        table = dict(table or {})
        unknown = sorted(set(table) - set(BUDGET_OPTIONS))
        if unknown:
            raise BudgetError(f"unknown budget key(s) {', '.join(unknown)}; valid keys: "
                              f"{', '.join(BUDGET_OPTIONS)}")
        return cls(**table)

    def as_dict(self) -> dict[str, Any]:
        """The keys that are set (the form a suite writes)."""
        return {key: value for key, value in asdict(self).items() if value is not None}
