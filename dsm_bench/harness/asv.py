"""What asv's benchmarks (benchmarks/bench_*.py) need from the harness.

asv registers every module-level name starting with time_/track_/peakmem_/mem_ in any module
under benchmarks/, so these helpers are named asv_* and live here, keeping bench_*.py thin.
The suite is ``smoke`` unless ``DSM_BENCH_ASV_SUITE`` names another (a path or a name); its
``plugins`` are loaded, so a plugin's solver is benchmarked like a built-in.
"""

from __future__ import annotations

import itertools
import os

from dsm_bench.harness.suites import SuiteRun, load_suite, resolved_d

__all__ = ["asv_case", "asv_parameters", "asv_setup", "asv_skipped", "asv_suite"]


def asv_suite() -> str:
    """The suite asv benchmarks: ``$DSM_BENCH_ASV_SUITE`` or ``smoke``."""
    return os.environ.get("DSM_BENCH_ASV_SUITE", "smoke")


def asv_parameters(suite: str = "smoke") -> tuple[list[str], list[str], list[int]]:
    """(solvers, problems, dimensions) spanned by a suite: the axes of the asv parameter grid.

    Loaded without instantiating solvers, so that asv discovery stays fast and works while a
    solver module is missing (its benchmarks then fail alone).
    """
    runs = load_suite(suite, validate=False).runs
    dims = sorted({resolved_d(r) for r in runs})
    return (list(dict.fromkeys(r.solver for r in runs)),
            list(dict.fromkeys(r.problem for r in runs)), dims)


def asv_case(suite: str, solver: str, problem: str, d: int) -> SuiteRun:
    """The first run of ``suite`` for this (solver, problem, d); NotImplementedError (which
    asv reports as a skipped combination) when the suite has none."""
    for run in load_suite(suite, validate=False).runs:
        if (run.solver, run.problem, resolved_d(run)) == (solver, problem, int(d)):
            return run
    raise NotImplementedError(f"suite {suite!r} has no run {solver}/{problem} d={d}")


def asv_setup(suite: str, solver: str, problem: str, d: int):
    """(problem, solver, budget) of a suite's run for an asv benchmark; NotImplementedError
    (asv: skipped) where the suite has no such run or the solver declares it infeasible."""
    problem_obj, solver_obj, budget = asv_case(suite, solver, problem, d).build()
    reason = solver_obj.supports(problem_obj)
    if reason is not None:
        raise NotImplementedError(f"infeasible: {reason}")
    return problem_obj, solver_obj, budget


def asv_skipped(suite: str = "smoke") -> list[tuple[str, str, int]]:
    """The (solver, problem, d) combinations of the asv grid that the suite does not run."""
    solvers, problems, dims = asv_parameters(suite)
    present = {(r.solver, r.problem, resolved_d(r)) for r in load_suite(suite,
                                                                        validate=False).runs}
    return [c for c in itertools.product(solvers, problems, dims) if c not in present]
