"""Solver registry: ``get_solver("dsm", width=400)``. Modules are imported lazily, so that
listing solvers or running the grid solver does not import torch or DeepXDE."""

from __future__ import annotations

import importlib
from typing import Any

from solvers.base import Cost, Solution, Solver, SolverConfigError

__all__ = ["Cost", "Solution", "Solver", "SolverConfigError", "get_solver", "solver_names",
           "solver_class"]

# name -> "module:Class"; adding a solver is one module plus one line here
SOLVERS: dict[str, str] = {
    "grid": "solvers.grid:GridSolver",
    "dsm": "solvers.dsm:DSMSolver",
    "oracle": "solvers.oracle:OracleSolver",
    "pinn": "solvers.pinn:PINNSolver",
}


def solver_names() -> list[str]:
    return list(SOLVERS)


def solver_class(name: str) -> type[Solver]:
    if name not in SOLVERS:
        raise SolverConfigError(f"unknown solver {name!r}; valid solvers: {', '.join(SOLVERS)}")
    module, cls = SOLVERS[name].split(":")
    return getattr(importlib.import_module(module), cls)


def get_solver(name: str, **options: Any) -> Solver:
    return solver_class(name)(**options)
