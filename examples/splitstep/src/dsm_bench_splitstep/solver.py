"""The ``splitstep`` solver: split-step Fourier (Strang) on a periodic box, d <= 3.

The numerics are in ``propagator`` (grid choice, Strang steps) and ``solution`` (observables
of psi); this class only declares the solver's facts and options and wires them together.
"""

from __future__ import annotations

import dataclasses
import time

from dsm_bench_splitstep import propagator as ss
from dsm_bench_splitstep.solution import SplitStepSolution
from reference.grid import available_memory_bytes
from reference.problems import Problem
from solvers.base import Budget, Cost, Monitor, Solver
from solvers.options import Boolean, Integer, NoneOr, Option, Real

__all__ = ["SplitStepSolver"]

MAX_DIMENSION = 3
MAX_RUNS = 3  # the first grid and at most two larger ones


class SplitStepSolver(Solver):
    """psi on a periodic grid, advanced by Strang splitting of e^{-iHt/hbar} into potential
    kicks and exact free propagation in Fourier space; psi kept at the evaluation times."""

    name = "splitstep"
    label = "split-step Fourier (Strang)"
    short_label = "split-step"
    color = "#56B4E9"
    deterministic = True  # float64 FFTs, no randomness
    tolerance = 1e-6      # as the grid: deterministic floating point, only BLAS/FFT rounding differs
    option_specs = {
        "n_points": Option(None, NoneOr(Integer(8)),
                           "grid points per axis; none: dx <= pi / k_max from the energy bound"),
        "half_width": Option(None, NoneOr(Real(0, closed="neither")),
                             "box half-width about the problem box's centre; none: the problem's box"),
        "substeps": Option(1, Integer(1), "Strang steps per problem time step"),
        "n_store_times": Option(101, Integer(2), "evenly spaced times psi is kept at"),
        "adapt": Option(True, Boolean(),
                        "rerun on a wider box / finer grid (at most twice) where the solution "
                        "breaks the grid rule; a given n_points / half_width is kept"),
        "workers": Option(1, Integer(1), "FFT threads (scipy.fft workers)"),
        "max_memory_gb": Option(None, NoneOr(Real(0, closed="neither")),
                                "memory limit; none: the available RAM"),
    }

    def supports(self, problem: Problem) -> str | None:
        if problem.reflecting_box:
            return ("the split-step grid is periodic, and the problem's box is one of infinite "
                    "walls (psi = 0 on its faces): use the grid solver (Dirichlet walls)")
        if problem.d > MAX_DIMENSION:
            return f"the split-step grid holds n^d points: d <= {MAX_DIMENSION} (got d={problem.d})"
        return self._memory_reason(problem, self._first_grid(problem))

    def _first_grid(self, problem: Problem) -> ss.PeriodicGrid:
        return ss.choose_grid(problem, self.options["n_points"], self.options["half_width"])

    def _memory_reason(self, problem: Problem, grid: ss.PeriodicGrid) -> str | None:
        o = self.options
        need = ss.estimate_memory_bytes(grid, len(ss.store_indices(problem.n_steps,
                                                                   o["n_store_times"])))
        limit = available_memory_bytes() if o["max_memory_gb"] is None else o["max_memory_gb"] * 2**30
        if need > limit:
            return (f"{grid.n}^{grid.d} points need about {need / 2**30:.2f} GiB, "
                    f"limit {limit / 2**30:.2f} GiB")
        return None

    def fit(self, problem: Problem, budget: Budget, monitor: Monitor | None,
            progress: bool) -> SplitStepSolution:
        o = self.options
        max_seconds = budget.max_seconds
        grid, store = self._first_grid(problem), ss.store_indices(problem.n_steps, o["n_store_times"])
        start = time.perf_counter()
        for run in range(1, MAX_RUNS + 1):
            left = None if max_seconds is None else max_seconds - (time.perf_counter() - start)
            psi = ss.propagate(problem, grid, store, substeps=o["substeps"], workers=o["workers"],
                               max_seconds=left)
            check = ss.check_grid(grid, psi)
            larger = ss.next_grid(grid, check, keep_n=o["n_points"] is not None,
                                  keep_box=o["half_width"] is not None)
            if (not o["adapt"] or larger is None or run == MAX_RUNS
                    or self._memory_reason(problem, larger) is not None):
                break
            grid, psi = larger, None  # free the last run's psi before the next one
        steps = run * problem.n_steps * o["substeps"]
        cost = Cost(iters=steps, n_params=grid.size, device="cpu", dtype="complex128",
                    threads=o["workers"])
        report = {**dataclasses.asdict(check), "runs": run, "rule_met": check.rule_met}
        return SplitStepSolution(problem, cost, grid, problem.times[store], psi, report)
