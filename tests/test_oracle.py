"""The oracle (exact drift) and the shared Euler-Maruyama sampler."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

from dsm_bench.harness.references import scored_against
from dsm_bench.metrics import evaluate
from reference import exact
from reference.problems import get_problem
from solvers import Cost, SolverConfigError, UnsupportedProblem, get_solver
from solvers.dsm import DSMSolution
from solvers.nelson import euler_maruyama, sample_initial, sample_paths, time_indices

torch.set_num_threads(1)


@pytest.mark.slow
def test_oracle_reproduces_the_measured_floor():
    """harmonic_1d, 10 trials x 10^4 samples (docs/metrics.md, "The sampling floor"): the
    per-trial std is about 0.08 (mean_err) and 0.005-0.011 (var_err), so the mean over 10
    trials has a standard error of ~std / sqrt(10): 0.026 and 0.0035.
    Bounds at ~4 standard errors above the measurements: mean_err < 0.25, var_err < 0.03.
    The floor is not zero: a lower bound shows that sampling noise is really there."""
    problem = get_problem("harmonic_1d")
    solution = get_solver("oracle").run(problem)
    metrics = evaluate(problem, solution, **scored_against(problem),
        n_samples=10_000, n_trials=10, seed=0).metrics
    assert 0.02 < metrics["mean_err"] < 0.25
    assert 0.002 < metrics["var_err"] < 0.03
    assert metrics["u_err"] == pytest.approx(0.0, abs=1e-12)  # drift() is the exact one


def test_marginals_do_not_depend_on_nu():
    """Nelson's process has |psi|^2 as marginal for every noise level nu: at nu = 0.25 and 2
    the variance at T matches the exact one within 4 standard errors of a sample variance
    (relative SE sqrt(2 / n)) plus the Euler-Maruyama O(dt) bias (dt = 1e-2 here)."""
    problem = get_problem("harmonic_1d_phase", n_steps=100)
    n = 20_000
    t_end = np.array([problem.T])
    ref_var = float(exact.gaussian_packet_variance(problem, problem.T))
    ref_mean = float(exact.gaussian_packet_mean(problem, problem.T))
    for nu in (0.25, 2.0):
        paths = get_solver("oracle", nu=nu).run(problem).sample(n, 0, t_end)[:, 0, 0]
        assert abs(paths.var() / ref_var - 1) < 4 * math.sqrt(2 / n) + 2 * problem.dt
        assert abs(paths.mean() - ref_mean) < 4 * math.sqrt(ref_var / n) + 2 * problem.dt * 0.1


def test_euler_maruyama_pure_diffusion_variance():
    """Zero drift: X_T = X_0 + sqrt(nu hbar T / m) Z exactly, so Var X_T = s0^2 + nu hbar T / m
    within 4 standard errors (relative SE sqrt(2 / n))."""
    problem = get_problem("free_singular")
    n, nu = 40_000, 1.5
    g = torch.Generator().manual_seed(0)
    x0 = sample_initial(problem, n, g, torch.float64, torch.device("cpu"))
    states = euler_maruyama(lambda x, t: torch.zeros_like(x), x0, problem, nu=nu, generator=g,
                            record=torch.tensor([0, problem.n_steps]))
    expected = problem.s0_sq + nu * problem.hbar * problem.T / problem.m
    assert states.shape == (2, n, 1)
    assert abs(states[1].var().item() / expected - 1) < 4 * math.sqrt(2 / n)
    assert abs(states[0].var().item() / problem.s0_sq - 1) < 4 * math.sqrt(2 / n)


def test_sample_paths_order_batches_and_seeds():
    """Requested times come back in the requested order (repeats allowed); batching does not
    change the shape; a seed fixes the paths and another seed changes them."""
    problem = get_problem("harmonic", d=2, n_steps=50)
    sol = get_solver("oracle").run(problem)
    times = problem.times[[30, 0, 30, 50]]
    a = sol.sample(37, 4, times)
    assert a.shape == (37, 4, 2)
    np.testing.assert_array_equal(a[:, 0], a[:, 2])
    np.testing.assert_array_equal(a, sol.sample(37, 4, times))
    assert not np.allclose(a, sol.sample(37, 5, times))

    def drift(x, t):
        return exact.current_velocity(problem, x, t) + exact.osmotic_velocity(problem, x, t)

    kw = dict(nu=1.0, dtype=torch.float64, device=torch.device("cpu"))
    small = sample_paths(drift, problem, 37, 4, times, batch_size=10, **kw)
    assert small.shape == (37, 4, 2) and np.isfinite(small).all()


def test_dsm_and_oracle_draw_the_same_sampling_noise():
    """Evaluated with the same seed, DSM and the oracle start from the same points and take
    the same Brownian increments (common random numbers): at t = 0 DSM's built-in initial
    condition makes its drift exactly the oracle's, so after one step the paths coincide to
    float32 roundoff, and the oracle's floor is the same noise draw that DSM is scored on."""
    problem = get_problem("harmonic", d=2, n_steps=10, phase=0.5)
    oracle = get_solver("oracle").run(problem)
    solver = get_solver("dsm", width=8, device="cpu")
    dsm = DSMSolution(problem, Cost(), None, solver.build(problem), solver.options)  # untrained
    times = problem.times[[0, 1]]
    a, b = oracle.sample(500, 3, times), dsm.sample(500, 3, times)
    np.testing.assert_array_equal(a[:, 0], b[:, 0])
    np.testing.assert_allclose(a[:, 1], b[:, 1], rtol=0, atol=1e-5)  # float32 roundoff
    assert not np.allclose(a[:, 1], oracle.sample(500, 4, times)[:, 1])


def test_drift_is_exact_and_time_grid_checked():
    problem = get_problem("harmonic_1d_phase")
    sol = get_solver("oracle").run(problem)
    x = np.linspace(-1, 1, 7)[:, None]
    t = np.linspace(0, 1, 7)
    u, v = sol.drift(x, t)
    np.testing.assert_array_equal(u, exact.osmotic_velocity(problem, x, t))
    np.testing.assert_array_equal(v, exact.current_velocity(problem, x, t))
    with pytest.raises(ValueError, match="time grid"):
        time_indices(problem, np.array([0.0005]))


def test_problems_without_exact_solution_are_refused():
    problem = get_problem("bosons", d=2)
    solver = get_solver("oracle")
    assert "declares no reference with one" in solver.supports(problem)
    with pytest.raises(UnsupportedProblem, match="oracle cannot solve bosons .*exact"):
        solver.run(problem)
    with pytest.raises(SolverConfigError, match="float32, float64"):
        get_solver("oracle", dtype="half")
    with pytest.raises(SolverConfigError, match="valid options"):
        get_solver("oracle", width=3)


@pytest.mark.parametrize("options, valid", [
    ({"nu": 0}, "a number > 0"),
    ({"nu": float("nan")}, "a number > 0"),
    ({"dtype": "half"}, "one of float32, float64"),
    ({"seed": -1}, "an integer >= 0"),
    ({"seed": 1.0}, "an integer >= 0"),
])
def test_bad_options_name_the_valid_values(options, valid):
    """The message is generated from the declared constraint and names what is valid."""
    from solvers.oracle import OracleSolver

    (name, value), = options.items()
    with pytest.raises(SolverConfigError, match=re.escape(f"{name}={value!r}") + ".*" + re.escape(valid)):
        OracleSolver(**options)
