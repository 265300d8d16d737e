"""The Henon-Heiles chain: the grid reproduces the published split-step autocorrelation
(Schrader, Pedersen & Kvaal, ``reference.published.henon_heiles``) and the exact <H>, and
the problem meets the contract at any d.

The tolerances are the grid's own error, measured by the test rather than assumed: each
published peak is compared with the peak of a main solve, allowing the change of that peak
when the time step is doubled (Crank-Nicolson and the Strang kicks are second order, so this
is about three times the main solve's time error), when the grid is coarsened (the 8th-order
stencil's error falls as dx^8: the change bounds the finer grid's error many times over),
and when the box is widened (the walls reflect what escapes the well), plus what the
published numbers carry: 1e-4 in |C| and 2e-3 in t for reading a peak off samples 0.01
apart with a parabola. The sum must itself be small, so the comparison has teeth.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest

from dsm_bench.cli import main
from dsm_bench.metrics import stochastic_mechanics_energy
from reference.grid import solve
from reference.problems import get_problem
from reference.problems.base import contract_faults
from reference.problems.henon_heiles import HenonHeiles
from reference.published.henon_heiles import PEAKS, recurrence_peaks

READING = np.array([2e-3, 1e-4])  # (t, |C|): reading a peak off sampled data
STORE_EVERY = 5  # C every 0.05: the parabola then moves a peak by < 1e-4


@functools.cache
def _solve(d: int, n: int, substeps: int, box: tuple[float, float] | None = None):
    cls = HenonHeiles if box is None else type("WideHenonHeiles", (HenonHeiles,), {"box": box})
    return solve(cls(d=d), n, substeps=substeps, store_every=STORE_EVERY, store_psi=False)


def _peaks(result, published: np.ndarray) -> np.ndarray:
    """The solve's recurrence peak nearest in time to each published one, (k, 2)."""
    ours = np.array(recurrence_peaks(result.times, np.abs(result.autocorrelation_values), 0.05))
    return np.array([ours[np.argmin(np.abs(ours[:, 0] - t))] for t, _ in published])


def _check_peaks(d: int, n: int, coarse_n: int, substeps: int, wide_box, n_peaks: int,
                 max_tolerance: tuple[float, float]) -> None:
    published = np.array(PEAKS[d][:n_peaks])
    main_run = _peaks(_solve(d, n, substeps), published)
    variants = [_solve(d, n, substeps // 2), _solve(d, coarse_n, substeps),
                _solve(d, n, substeps, wide_box)]
    tolerance = sum(np.abs(_peaks(r, published) - main_run) for r in variants) + READING
    assert (tolerance <= np.array(max_tolerance)).all(), tolerance
    assert (np.abs(main_run - published) <= tolerance).all(), (main_run, published, tolerance)


def test_the_grid_reproduces_the_published_peaks_at_d2():
    _check_peaks(2, 96, 64, 2, (-10.0, 12.0), 3, (0.03, 5e-3))


@pytest.mark.slow
def test_the_grid_reproduces_the_published_peaks_at_d3():
    # at d = 3 the walls matter more (docs/problems.md, "Henon-Heiles"): widening the box
    # moves the second peak by 9e-3, which the tolerance carries
    _check_peaks(3, 64, 48, 2, (-10.0, 12.0), 2, (0.1, 1.5e-2))


@pytest.mark.parametrize("d", [2, pytest.param(3, marks=pytest.mark.slow)])
def test_the_grid_energy_is_the_exact_initial_energy(d):
    """<H> at t = 0 on the default grid is the closed form to 1e-6; it then moves only by
    the splitting's O(tau^2) error, bounded by its change on doubling tau."""
    problem = HenonHeiles(d=d)
    exact = problem.initial_energy()
    fine, coarse = _solve(d, problem.default_grid_points(), 2), _solve(d, problem.default_grid_points(), 1)
    assert abs(fine.energy_values[0] - exact) <= 1e-6 * exact
    drift = np.abs(fine.energy_values - exact)
    assert (drift <= np.abs(coarse.energy_values - fine.energy_values) + 1e-6 * exact).all()


def test_the_initial_energy_formula():
    """2.5 d + (d - 1) 16 lambda / 3: 5.596 at d = 2, 30.37 at d = 10, 55.14 at d = 18."""
    for d, energy in ((2, 5.596), (10, 30.37), (18, 55.14)):
        assert round(HenonHeiles(d=d).initial_energy(), 3 if d == 2 else 2) == energy


def test_stochastic_mechanics_energy_of_the_start_at_d10():
    """E_rho0[(|u0|^2 + |v0|^2)/2 + V] from 10^5 samples: within 5 standard errors of the
    closed form."""
    problem = get_problem("henon_heiles", d=10)
    x = problem.sample_initial(100_000, seed=3)
    u, v = problem.u0(x), problem.v0(x)
    energy = stochastic_mechanics_energy(problem, x, u, v)
    per_sample = 0.5 * ((u**2).sum(-1) + (v**2).sum(-1)) + problem.potential(x)
    stderr = per_sample.std() / math.sqrt(len(x))
    assert abs(energy - problem.initial_energy()) <= 5 * stderr
    assert stderr < 0.01 * problem.initial_energy()  # so the check bites


def test_potential_and_gradient_agree_in_numpy_and_torch():
    import torch

    problem = HenonHeiles(d=5)
    x = torch.randn(64, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0),
                    requires_grad=True)
    (autograd,) = torch.autograd.grad(problem.potential(x).sum(), x)
    np.testing.assert_allclose(problem.grad_potential(x).detach().numpy(), autograd.numpy(),
                               rtol=1e-12, atol=1e-12)
    xn = x.detach().numpy()
    np.testing.assert_allclose(problem.potential(xn), problem.potential(x).detach().numpy())
    # V by hand at one point: 1/2 |q|^2 + lambda sum (q_i^2 q_i+1 - q_i+1^3 / 3)
    q = np.array([1.0, -2.0, 0.5, 3.0, -1.0])
    cubic = sum(q[i] ** 2 * q[i + 1] - q[i + 1] ** 3 / 3 for i in range(4))
    assert problem.potential(q) == pytest.approx(0.5 * q @ q + 0.111803 * cubic, rel=1e-14)


def test_it_honours_the_contract():
    assert contract_faults(HenonHeiles) == []


def test_a_bad_dimension_exits_2_naming_the_range(capsys):
    assert main(["solve", "grid", "henon_heiles", "--d", "1", "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert "2 <= d <= 100" in err and len(err.splitlines()) == 1


def test_a_grid_rows_series_carries_the_autocorrelation():
    from dsm_bench.metrics import evaluate
    from solvers import get_solver

    problem = HenonHeiles(d=2, n_steps=500)
    solution = get_solver("grid", n_points=48).run(problem)
    series = evaluate(problem, solution, reference_kind="self").series
    c = solution.result.autocorrelation(np.asarray(series["times"]))
    assert series["autocorrelation"][0] == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(series["autocorrelation"], np.abs(c))
    np.testing.assert_allclose(series["autocorrelation_re"], c.real)
    np.testing.assert_allclose(series["autocorrelation_im"], c.imag)
    assert min(series["autocorrelation"]) < 0.1  # it decays between recurrences


@pytest.mark.slow
def test_the_report_draws_c_beside_the_published_peaks_and_the_energy_error(tmp_path):
    """A real suite (the grid at d = 2 and 3 with a coarse grid, then `report`): the report
    draws |C(t)| with the published peaks, and the energy error against d, and its tables
    carry energy_err (the problem has no exact reference, so nothing else scores it above
    the grid's reach)."""
    suite = tmp_path / "hh.toml"
    suite.write_text('name = "hh"\n[defaults]\nseeds = [0]\nthreads = 1\n'
                     '[[runs]]\nsolvers = ["grid"]\nproblems = ["henon_heiles"]\nd = [2, 3]\n'
                     'options.grid = { n_points = 32 }\nproblem_overrides = { n_steps = 400 }\n')
    out = tmp_path / "out"
    assert main(["run", "--suite", str(suite), "--out", str(out), "--no-report"]) == 0
    assert main(["report", str(out), "--out", str(tmp_path / "report")]) == 0
    figures = tmp_path / "report" / "figures"
    assert (figures / "autocorrelation_henon_heiles.png").is_file()
    assert (figures / "dynamics_vs_dimension_henon_heiles.pdf").is_file()
    text = (tmp_path / "report" / "report.md").read_text()
    assert "published recurrence peaks (S. E. Schrader" in text
    table = (tmp_path / "report" / "tables" / "drift_energy.csv").read_text()
    assert "energy_err" in table.splitlines()[0]
