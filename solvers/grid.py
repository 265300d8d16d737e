"""Adapter exposing reference.grid (Crank-Nicolson on a grid) as the ``grid`` Solver.

Observables and psi are stored at ``n_store_times`` evenly spaced times (the metrics' 101
evaluation times by default) or every ``store_every``-th step, not at all 1001 steps: psi at
every step of a 50^3 grid would take 2 GB.
"""

from __future__ import annotations

import math
import resource
from typing import Any

import numpy as np

from reference import grid as cn
from reference.problems import Problem
from solvers.base import Cost, Monitor, Solution, Solver, SolverConfigError


class GridSolution(Solution):
    """A density-based Solution backed by a ``reference.grid.GridResult``."""

    def __init__(self, problem: Problem, cost: Cost, result: cn.GridResult):
        super().__init__(problem, cost)
        self.result = result

    def moments(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.result.moments(times)

    def marginal_density(self, x: np.ndarray, times: np.ndarray) -> np.ndarray:
        return self.result.marginal_density(x, times)

    def marginal_quantile(self, q: np.ndarray, times: np.ndarray) -> np.ndarray:
        return self.result.marginal_quantile(q, times)

    def drift(self, x: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.result.drift(x, t)

    def energy(self, times: np.ndarray) -> np.ndarray:
        return self.result.energy(times)

    def center_of_mass_moments(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.result.center_of_mass_moments(times)

    def psi(self, times: np.ndarray) -> np.ndarray:
        return self.result.psi(times)


def _auto_substeps(problem: Problem) -> int:
    """1-D: a CN step of tau <= 2.5e-4 (4 substeps of dt = 1e-3: the time error of harmonic_1d
    falls from 1.9e-4 to 1.3e-5; free_singular's dt = 1e-2 gets 40). Above 1-D a step costs
    n^d work and the spatial error dominates on the default grids: no substeps."""
    if problem.d > 1:
        return 1
    return max(1, math.ceil(problem.dt / 2.5e-4 - 1e-9))


class GridSolver(Solver):
    """Crank-Nicolson on a uniform grid with Dirichlet walls (see reference/grid.py)."""

    name = "grid"
    defaults: dict[str, Any] = {
        "n_points": None,       # None: problem.default_grid_points()
        "order": 8,             # stencil order: 2, 4, 6, 8
        "substeps": None,       # CN steps per problem step; None: see _auto_substeps
        "method": "auto",       # auto (1-D direct, else split) | split | direct | jacobi | bicgstab | gmres
        "tol": 2e-11,           # relative residual of the iterative solve
        "n_store_times": 101,
        "store_every": None,
        "store_psi": True,
        "max_memory_gb": None,  # None: MemAvailable
    }

    def validate(self) -> None:
        o = self.options
        if o["order"] not in cn.LAPLACIAN_STENCILS:
            raise SolverConfigError(f"grid: order={o['order']!r}; valid: "
                                    f"{sorted(cn.LAPLACIAN_STENCILS)}")
        if o["method"] not in cn.METHODS:
            raise SolverConfigError(f"grid: method={o['method']!r}; valid: {', '.join(cn.METHODS)}")
        if o["substeps"] is not None and (not isinstance(o["substeps"], int) or o["substeps"] < 1):
            raise SolverConfigError(f"grid: substeps={o['substeps']!r} must be an integer >= 1")

    def _memory(self, problem: Problem) -> int:
        o = self.options
        return cn.estimate_memory_bytes(problem, o["n_points"], order=o["order"],
                                        method=o["method"], n_store_times=o["n_store_times"],
                                        store_psi=o["store_psi"])

    def supports(self, problem: Problem) -> str | None:
        try:
            need = self._memory(problem)
        except ValueError as exc:
            return str(exc)
        limit = (cn.available_memory_bytes() if self.options["max_memory_gb"] is None
                 else self.options["max_memory_gb"] * 1024**3)
        if need > limit:
            return f"needs about {need / 1024**3:.2f} GiB, limit {limit / 1024**3:.2f} GiB"
        return None

    def fit(self, problem: Problem, budget: dict[str, Any] | None = None,
            monitor: Monitor | None = None, progress: bool = False) -> GridSolution:
        o = self.options
        budget = budget or {}
        substeps = o["substeps"] if o["substeps"] is not None else _auto_substeps(problem)
        result = cn.solve(problem, o["n_points"], order=o["order"], substeps=substeps,
                          method=o["method"], tol=o["tol"], n_store_times=o["n_store_times"],
                          store_every=o["store_every"], store_psi=o["store_psi"],
                          max_memory_gb=o["max_memory_gb"],
                          max_seconds=budget.get("max_seconds"), progress=progress)
        cost = Cost(
            train_s=result.wall_s, iters=result.n_steps,
            s_per_iter=result.wall_s / max(result.n_steps, 1),
            peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            n_params=result.grid.size, device="cpu", dtype="complex128",
        )
        return GridSolution(problem, cost, result)
