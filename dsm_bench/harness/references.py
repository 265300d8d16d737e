"""What a run is scored against: the reference its problem declares, else the grid.

The problem names its reference (``Problem.reference()``: a closed form, or anything with the
``ExactReference`` interface). Where it declares none, the harness falls back to the
Crank-Nicolson grid for d <= 3; above that, rows carry no reference errors, only the
reference-free checks. The metrics never make this choice.
"""

from __future__ import annotations

from typing import Any

from reference.problems import Problem

__all__ = ["reference_for", "scored_against"]


def reference_for(problem: Problem, grid_options: dict[str, Any] | None = None) -> tuple[Any, str]:
    """(reference, kind): the problem's own reference with kind "exact", the grid solution
    with kind "grid" (d <= 3, where the grid supports the problem), or (None, "none")."""
    declared = problem.reference()
    if declared is not None:
        return declared, "exact"
    if problem.d <= 3:
        from solvers.grid import GridSolver

        solver = GridSolver(**(grid_options or {}))
        if solver.supports(problem) is None:
            return solver.run(problem), "grid"
    return None, "none"


def scored_against(problem: Problem) -> dict[str, Any]:
    """``reference_for`` as the keyword arguments of ``dsm_bench.metrics.evaluate``."""
    reference, kind = reference_for(problem)
    return {"reference": reference, "reference_kind": kind}
