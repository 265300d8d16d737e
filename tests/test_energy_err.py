"""energy_err: the solution's energy against the exact conserved <H>, with or without a
reference of psi (docs/metrics.md, "energy_err")."""

from __future__ import annotations

import numpy as np

from dsm_bench.harness.references import scored_against
from dsm_bench.metrics import _energy_error, evaluate, exact_energy
from reference.problems import get_problem
from solvers import get_solver


def test_henon_heiles_grid_energy_against_the_closed_form():
    """The grid conserves its discrete <H> up to its splitting (energy_drift) and starts at
    the closed form to 1e-6 (its spatial error at 96^2): so energy_err is at most the drift
    plus 1e-6, and the row carries it although the problem has no exact reference."""
    problem = get_problem("henon_heiles", d=2)
    assert problem.reference() is None
    solution = get_solver("grid").run(problem)
    metrics = evaluate(problem, solution, **scored_against(problem), n_eval_times=51).metrics
    assert 0 < metrics["energy_err"] <= metrics["energy_drift"] + 1e-6
    assert exact_energy(problem, None, "none") == problem.exact_energy()


def test_an_offset_energy_reads_as_its_relative_offset():
    """A solution 1 % above the exact energy at one time and exact elsewhere reads 0.01."""
    problem = get_problem("henon_heiles", d=3)
    exact = problem.exact_energy()
    energy = np.full(11, exact)
    energy[4] *= 1.01
    metrics, series = {}, {"energy": energy.tolist()}
    _energy_error(metrics, series, problem, None, "none")
    assert np.isclose(metrics["energy_err"], 0.01) and series["exact_energy"] == exact


def test_an_exact_reference_gives_the_target_where_the_problem_has_no_closed_form():
    problem = get_problem("harmonic_1d")
    assert problem.exact_energy() is None
    reference = problem.reference()
    assert exact_energy(problem, reference, "exact") == float(reference.energy(np.zeros(1))[0])
    assert exact_energy(problem, reference, "grid") is None  # a grid's energy is not exact
