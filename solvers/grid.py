"""Adapter exposing ``reference.grid`` (Crank-Nicolson on a grid) as the ``grid`` Solver.

Observables and psi are stored at ``n_store_times`` evenly spaced times (the metrics' 101
evaluation times by default) or every ``store_every``-th step, not at all 1001 steps: psi at
every step of a 50^3 grid would take 2 GB.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from reference import grid as cn
from reference.problems import Problem
from solvers.base import Budget, Cost, DensitySolution, Monitor, Solver
from solvers.options import Boolean, Choice, Integer, NoneOr, Option, Real

__all__ = ["GridSolution", "GridSolver"]


class GridSolution(DensitySolution):
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

    # these three need psi: None where it was not stored (the metrics are then absent)
    def covariance(self, times: np.ndarray) -> np.ndarray | None:
        return self.result.covariance(times)

    def velocity_moments(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        return self.result.velocity_moments(times)

    def mean_potential_gradient(self, times: np.ndarray) -> np.ndarray | None:
        return self.result.mean_potential_gradient(times)

    def psi(self, times: np.ndarray) -> np.ndarray:
        return self.result.psi(times)

    def autocorrelation(self, times: np.ndarray) -> np.ndarray:
        """C(t) = <psi_0|psi(t)>, complex (``reference.grid.GridResult.autocorrelation``)."""
        return self.result.autocorrelation(times)


def _auto_substeps(problem: Problem) -> int:
    """1-D: a CN step of tau <= 2.5e-4 (4 substeps of dt = 1e-3: the time error of harmonic_1d
    falls from 1.9e-4 to 1.3e-5; free_singular's dt = 1e-2 gets 40). Above 1-D a step costs
    n^d work and the spatial error dominates on the default grids: no substeps."""
    if problem.d > 1:
        return 1
    return max(1, math.ceil(problem.dt / 2.5e-4 - 1e-9))


class GridSolver(Solver):
    """Crank-Nicolson on a uniform grid with Dirichlet walls (see ``reference.grid``)."""

    name = "grid"
    label = "Crank-Nicolson grid"
    short_label = "CN grid"
    color = "#009E73"  # Okabe-Ito bluish green
    deterministic = True
    # its solution IS the grid reference where no closed form exists: not scored against itself
    is_reference = True
    # float64 throughout and no randomness: the same bits on one machine; between machines BLAS
    # and thread counts reorder sums (~1e-12 relative on psi), far below 1e-6 of any error
    tolerance = 1e-6
    option_specs: ClassVar[dict[str, Option]] = {
        "n_points": Option(None, NoneOr(Integer(3)),
                           "grid points per axis; none: the problem's default grid"),
        "order": Option(8, Choice(*sorted(cn.LAPLACIAN_STENCILS)),
                        "order of the finite-difference stencils"),
        "substeps": Option(None, NoneOr(Integer(1)),
                           "CN steps per problem time step; none: tau <= 2.5e-4 in 1-D, 1 above"),
        "method": Option("auto", Choice(*cn.METHODS),
                         "linear solve of a step; auto: direct LU in 1-D, split by axis above"),
        "tol": Option(2e-11, Real(0, 1, closed="neither"),
                      "relative residual of the iterative solves (jacobi, bicgstab, gmres)"),
        "n_store_times": Option(101, Integer(2), "evenly spaced times whose psi is kept"),
        "store_every": Option(None, NoneOr(Integer(1)),
                              "keep psi every this many steps instead (plus the last)"),
        "store_psi": Option(True, Boolean(),
                            "keep psi (needed for drift); false: observables only"),
        "max_memory_gb": Option(None, NoneOr(Real(0, closed="neither")),
                                "refuse grids whose estimate exceeds this; none: MemAvailable"),
    }

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

    def fit(self, problem: Problem, budget: Budget, monitor: Monitor | None,
            progress: bool) -> GridSolution:
        o = self.options
        substeps = o["substeps"] if o["substeps"] is not None else _auto_substeps(problem)
        result = cn.solve(problem, o["n_points"], order=o["order"], substeps=substeps,
                          method=o["method"], tol=o["tol"], n_store_times=o["n_store_times"],
                          store_every=o["store_every"], store_psi=o["store_psi"],
                          max_memory_gb=o["max_memory_gb"],
                          max_seconds=budget.max_seconds, progress=progress)
        cost = Cost(iters=result.n_steps, n_params=result.grid.size, device="cpu",
                    dtype="complex128")
        return GridSolution(problem, cost, result)
