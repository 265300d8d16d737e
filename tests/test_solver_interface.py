"""The solver interface itself: the typed budget, the two Solution kinds, the one entry point
(``Solver.run``: supports checked once, fit timed, the returned kind checked), the facts that
the results table's columns derive from, and the moment-scale check of a diverged run."""

from __future__ import annotations

import dataclasses
import math
import re
import time

import numpy as np
import pytest

from dsm_bench.harness.single_run import SCALE_BOUND, SolutionDiverged, require_moments_in_scale
from dsm_bench.schema import BOOL_COLUMNS, FLOAT_COLUMNS, SOLVER_FACTS, SolverFacts
from reference.exact import ExactReference
from reference.problems import get_problem
from solvers import (
    Budget,
    Cost,
    DensitySolution,
    SamplerSolution,
    Solution,
    SolutionContractError,
    Solver,
    UnsupportedProblem,
    solver_class,
)
from solvers.budget import BudgetError
from solvers.registry import interface_problems


class Exact(DensitySolution):
    def __init__(self, problem, cost):
        super().__init__(problem, cost)
        self.reference = ExactReference(problem)

    def moments(self, times):
        return self.reference.moments(times)

    def marginal_density(self, x, times):
        return self.reference.marginal_density(x, times)


class Sleeper(Solver):
    """Sleeps, half of it in a reported pause; returns what ``returns`` says."""

    name = "sleeper"
    label = "sleeper (test double)"
    returns = "solution"
    calls = 0

    def supports(self, problem):
        return None if problem.has_exact_solution else "needs a closed form"

    def fit(self, problem, budget, monitor, progress) -> Exact:
        type(self).calls += 1
        time.sleep(0.2)
        if self.returns == "none":
            return None
        return Exact(problem, Cost(iters=4, paused_s=0.1))


@pytest.mark.parametrize("fields, message", [
    ({"max_iters": 0}, "max_iters=0 must be an integer >= 1"),
    ({"max_iters": 2.5}, "max_iters=2.5 must be an integer >= 1"),
    ({"max_iters": True}, "max_iters=True must be an integer >= 1"),
    ({"max_seconds": 0.0}, "max_seconds=0.0 must be a number > 0"),
    ({"max_seconds": math.inf}, "max_seconds=inf must be a number > 0"),
    ({"max_seconds": "60"}, "max_seconds='60' must be a number > 0"),
    ({"monitor_every": -1}, "monitor_every=-1 must be an integer >= 1"),
])
def test_a_budget_rejects_bad_values_naming_the_valid_ones(fields, message):
    with pytest.raises(BudgetError, match=message):
        Budget(**fields)


def test_a_budget_from_a_table_names_unknown_keys_and_round_trips():
    with pytest.raises(BudgetError, match="unknown budget key.*max_itres; valid keys: "
                                          "max_iters, max_seconds, monitor_every"):
        Budget.from_dict({"max_itres": 3})
    budget = Budget.from_dict({"max_iters": 30, "max_seconds": 2.5})
    assert budget == Budget(max_iters=30, max_seconds=2.5) and budget.monitor_every is None
    assert budget.as_dict() == {"max_iters": 30, "max_seconds": 2.5}
    with pytest.raises(dataclasses.FrozenInstanceError):
        budget.max_iters = 5


def test_an_incomplete_solution_cannot_be_built():
    problem = get_problem("harmonic_1d")

    class Neither(Solution):  # no kind
        def sample(self, n, seed, times):
            return np.zeros((n, len(times), 1))

    class NoSample(SamplerSolution):
        pass

    class NoMarginal(DensitySolution):
        def moments(self, times):
            return np.zeros((len(times), 1)), np.ones((len(times), 1))

    for cls, missing in ((Neither, "_kind"), (NoSample, "sample"), (NoMarginal, "marginal_density")):
        with pytest.raises(TypeError, match=f"abstract .*{missing}"):
            cls(problem, Cost())
    assert isinstance(Exact(problem, Cost()), DensitySolution)


def test_run_checks_supports_once_with_one_error_and_never_calls_fit():
    Sleeper.calls = 0
    with pytest.raises(UnsupportedProblem, match=r"sleeper cannot solve bosons \(d=2\): needs a "
                                                 "closed form"):
        Sleeper().run(get_problem("bosons", d=2))
    assert Sleeper.calls == 0


def test_run_times_fit_less_the_reported_pauses():
    solution = Sleeper().run(get_problem("harmonic_1d"), Budget(max_iters=4))
    # 0.2 s of wall time in fit, 0.1 s of it a pause: 0.1 s of training (sleep overshoots a
    # little, more on a loaded machine)
    assert 0.1 <= solution.cost.train_s < 0.3
    assert solution.cost.s_per_iter == pytest.approx(solution.cost.train_s / 4)
    assert solution.cost.peak_rss_mb > 0


def test_run_refuses_a_fit_that_returns_none_and_a_budget_that_is_a_dict():
    solver = Sleeper()
    solver.returns = "none"
    with pytest.raises(SolutionContractError, match=r"solver 'sleeper' \(.*test_solver_interface"
                                                    r"\.py\): fit returned NoneType, not Exact"):
        solver.run(get_problem("harmonic_1d"))
    with pytest.raises(TypeError, match="budget must be a solvers.budget.Budget, not dict"):
        Sleeper().run(get_problem("harmonic_1d"), {"max_iters": 3})


def test_the_sampler_fact_is_the_kind_fit_returns_and_the_columns_derive_from_the_facts():
    assert [solver_class(n).declared_facts().sampler for n in ("grid", "pinn", "dsm", "oracle")] == [
        False, False, True, True]
    assert Sleeper.declared_facts() == SolverFacts(
        label="sleeper (test double)", short_label="sleeper (test double)", color="",
        floor=False, deterministic=False, trained=False, sampler=False, tolerance=0.25)
    assert list(Sleeper.facts()) == SOLVER_FACTS
    assert {"solver_floor", "solver_sampler"} <= set(BOOL_COLUMNS)
    assert "solver_tolerance" in FLOAT_COLUMNS and "solver_label" not in FLOAT_COLUMNS

    class Undeclared(Sleeper):
        name = "undeclared"

        def fit(self, problem, budget, monitor, progress):
            return Exact(problem, Cost())

    assert Undeclared.solution_class() is None
    assert "fit must declare the Solution class it returns" in " ".join(
        interface_problems(Undeclared))
    assert interface_problems(Sleeper) == []


def test_moments_far_outside_the_box_are_a_divergence():
    """A run that ends inside the training loop's divergence warm-up is judged by its moments:
    beyond SCALE_BOUND times the box (or not finite), the row fails as diverged."""
    problem = get_problem("harmonic_1d")
    lo, hi = problem.box
    bound = SCALE_BOUND * max(abs(lo), abs(hi), hi - lo)
    times = [0.0, 0.5, 1.0]
    require_moments_in_scale(problem, {"times": times, "mean": [0.0, 0.9 * bound, 1.0],
                                       "var": [0.1, 0.2, (0.9 * bound) ** 2]})
    for mean, var, message in (
            ([0.0, 1.1 * bound, 0.0], [0.1] * 3, "at t = 0.5 its mean 4.4e+03 is beyond 1000"),
            ([0.0] * 3, [0.1, 0.1, (1.1 * bound) ** 2], "at t = 1 its variance 1.94e+07"),
            ([0.0, math.nan, 0.0], [0.1] * 3, "at t = 0.5 its mean nan")):
        with pytest.raises(SolutionDiverged, match=re.escape(f"the solution diverged: {message}")):
            require_moments_in_scale(problem, {"times": times, "mean": mean, "var": var})
    assert SolutionDiverged.stop_reason == "diverged"
