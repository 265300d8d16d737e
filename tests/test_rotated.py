"""The rotated double well: its reference (reference.rotated) against independent methods,
and what the problem claims (not a product in the solvers' coordinates) asserted."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dsm_bench.trial import alive_paths
from reference.problems import get_problem
from reference.problems.double_well_rotated import haar_rotation
from solvers import get_solver


def test_the_rotation_is_orthogonal_seeded_and_recorded():
    q = haar_rotation(7, 3)
    assert np.allclose(q @ q.T, np.eye(7), atol=1e-12)
    assert np.array_equal(q, haar_rotation(7, 3))
    assert not np.allclose(q, haar_rotation(7, 4))
    problem = get_problem("double_well_rotated", d=5, rotation_seed=3)
    assert problem.config()["rotation_seed"] == 3
    assert np.array_equal(problem.rotation, haar_rotation(5, 3))


def test_the_potential_is_not_a_sum_over_the_solvers_coordinates():
    """d^2 V / dx_1 dx_2 (central differences, step 1e-3: error ~1e-6 of V's scale) is far
    from 0, as it would be for any V(x) = sum_k V_k(x_k); the gradient is V's."""
    problem = get_problem("double_well_rotated", d=2)
    x = np.array([[0.3, -0.7]])
    h = 1e-3
    e1, e2 = np.eye(2)[0] * h, np.eye(2)[1] * h
    mixed = (problem.potential(x + e1 + e2) - problem.potential(x + e1 - e2)
             - problem.potential(x - e1 + e2) + problem.potential(x - e1 - e2)) / (4 * h * h)
    assert abs(mixed[0]) > 0.5
    numeric = np.array([(problem.potential(x + e) - problem.potential(x - e))[0] / (2 * h)
                        for e in (e1, e2)])
    assert np.allclose(problem.grad_potential(x)[0], numeric, atol=1e-5)


def test_the_covariance_is_not_diagonal():
    """The coordinates of x are correlated at some t (|corr| >= 0.1): per-coordinate variances
    cannot see the rotation."""
    problem = get_problem("double_well_rotated", d=2)
    cov = problem.reference().covariance(problem.times[::50])
    corr = cov[:, 0, 1] / np.sqrt(cov[:, 0, 0] * cov[:, 1, 1])
    assert np.abs(corr).max() >= 0.1


@pytest.mark.parametrize("d", [2, 10])
def test_moments_covariance_and_marginals_agree_with_exact_samples(d):
    """Samples of the independent y_i (inverse CDFs), rotated, against the closed-form mean
    and covariance and the FFT-inverted marginals. Tolerances from n = 2 x 10^5 samples:
    5 standard errors for the moments (the covariance's from the fourth moments), and the
    Dvoretzky-Kiefer-Wolfowitz bound sqrt(log(2/a)/2n) at a = 1e-6 for each marginal's CDF."""
    problem = get_problem("double_well_rotated", d=d)
    reference = problem.reference()
    n = 200_000
    for t in problem.times[[0, 333, 1000]]:
        x = reference.sample_density(n, float(t), np.random.default_rng(7))
        mean, var = reference.moments(np.array([t]))
        cov = reference.covariance(np.array([t]))[0]
        assert np.allclose(np.diag(cov), var[0], rtol=1e-12)
        assert np.all(np.abs(x.mean(0) - mean[0]) <= 5 * np.sqrt(var[0] / n))
        centred = x - mean[0]
        products = centred[:, :, None] * centred[:, None, :]
        spread = products.std(0) / math.sqrt(n)
        assert np.all(np.abs(products.mean(0) - cov) <= 5 * spread + 1e-12)
        grid = np.linspace(-3.0, 3.0, 61)
        levels = (np.arange(1, 400) / 400.0)
        quantiles = reference.marginal_quantile(levels, np.array([t]))[0]
        empirical = np.stack([(x[:, j, None] <= quantiles[j]).mean(0) for j in range(min(d, 3))])
        assert np.abs(empirical - levels).max() <= math.sqrt(math.log(2 / 1e-6) / (2 * n))
        density = reference.marginal_density(grid, np.array([t]))[0]
        assert np.all(density >= 0)


@pytest.mark.slow
def test_the_rotated_reference_matches_the_2d_grid():
    """The rotated reference against Crank-Nicolson on the 2-D grid of V(Q x) started from
    psi_0(Q x). Tolerance from the grid's own time step (Richardson, as for the separable
    problems in test_new_problems.py). Controls: a barrier 10 % higher and another rotation
    are both outside it."""
    n_steps = 200
    problem = get_problem("double_well_rotated", d=2, n_steps=n_steps)
    times = problem.times[:: n_steps // 20]
    solves = [get_solver("grid", n_points=128, substeps=s).run(problem).moments(times)
              for s in (4, 8)]
    tolerance = [np.abs(a - b).max() for a, b in zip(*solves, strict=True)]
    exact = problem.reference().moments(times)
    for fine, ref, tol in zip(solves[1], exact, tolerance, strict=True):
        assert np.abs(fine - ref).max() <= tol
    for other in ({"a": 1.1}, {"rotation_seed": 1}):
        wrong = get_problem("double_well_rotated", d=2, n_steps=n_steps, **other).reference()
        assert any(np.abs(f - w).max() > tol for f, w, tol
                   in zip(solves[1], wrong.moments(times), tolerance, strict=True)), other


def _mass_outside(reference, times: np.ndarray, half_width: float) -> np.ndarray:
    """sum_k P(|x_k| > half_width) at each time, from the exact marginals (trapezoid rule):
    the union bound on the probability that a sample has some coordinate outside."""
    x = np.linspace(-20.0, 20.0, 16001)
    outside = np.abs(x) > half_width
    density = reference.marginal_density(x, times)
    return np.trapezoid(density * outside, x, axis=-1).sum(-1)


@pytest.mark.parametrize("d", [2, 10, pytest.param(100, marks=pytest.mark.slow)])
def test_the_box_holds_the_exact_density(d):
    """Summed over coordinates, the exact probability of being outside the box stays below
    1e-4 at every time: under one path of an evaluation trial's 10^4. Control at d = 100: the
    1-D well's box, [-4, 4], clips several percent, since x_k mixes 100 coordinates that sit
    in wells at +-1 and is close to normal."""
    problem = get_problem("double_well_rotated", d=d)
    reference = problem.reference()
    times = problem.times[::25]
    lo, hi = problem.box
    assert lo == -hi
    assert _mass_outside(reference, times, hi).max() <= 1e-4
    if d == 100:
        assert _mass_outside(reference, times, 4.0).max() >= 1e-2


@pytest.mark.slow
def test_the_oracle_stays_in_the_box_at_d_100():
    """Nelson's process with the exact drift, 4000 paths at 41 times: under 1e-3 of them are
    ever outside the box (lost_frac; 4 paths). This checks the drift outside the bulk too: a
    path that strays is pulled back, not pushed out. Control: with the box [-4, 4] over 1 % of
    the paths leave."""
    problem = get_problem("double_well_rotated", d=100)
    paths = get_solver("oracle").run(problem).sample(4000, 0, problem.times[::25])
    # the metrics' rule for a lost path: outside the box or non-finite, at or before a time
    assert 1 - alive_paths(paths, problem.box)[:, -1].mean() <= 1e-3
    assert 1 - alive_paths(paths, (-4.0, 4.0))[:, -1].mean() >= 1e-2
