"""t-VMC through NetKet (the optional extra ``.[tvmc]``): units, ansatz, stationarity, options."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys

import numpy as np
import pytest

from reference.problems import get_problem
from solvers import Budget, SolverConfigError

HAS_NETKET = importlib.util.find_spec("netket") is not None
if HAS_NETKET:
    from solvers.tvmc import TVMCSolver
    from solvers.tvmc.units import netket_units

needs_netket = pytest.mark.skipif(not HAS_NETKET, reason='needs the extra: pip install -e ".[tvmc]"')


def test_without_netket_the_import_error_names_the_install_command():
    """The registry lists the solver as unavailable with this message (a subprocess, so that
    hiding NetKet does not touch this interpreter's modules)."""
    code = ("import sys; sys.modules['netket'] = None\n"
            "try:\n    import solvers.tvmc\nexcept ImportError as e:\n    print(e)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert 'pip install -e ".[tvmc]"' in out.stdout


# a tiny configuration: compiling the TDVP step dominates its cost
TINY = dict(n_max=4, vmc_samples=256, n_chains=16, sweep_size=4, n_discard=10)


@pytest.fixture(scope="module")
def stationary():
    """Five Euler steps from the non-interacting ground state (g = 0, n = 2)."""
    problem = get_problem("bosons", d=2, g=0.0)
    return problem, TVMCSolver(**TINY).run(problem, budget=Budget(max_iters=5))


@needs_netket
def test_potential_in_netket_units_is_the_problems_over_hbar():
    jnp = pytest.importorskip("jax.numpy")
    problem = get_problem("bosons", d=3)
    x = np.random.default_rng(0).normal(scale=0.5, size=(64, 3))
    v = np.asarray(netket_units(problem).potential()(jnp.asarray(x)))
    np.testing.assert_allclose(problem.hbar * v, problem.potential(x), rtol=1e-12, atol=1e-14)
    assert netket_units(problem).mass == pytest.approx(problem.m / problem.hbar)


@needs_netket
def test_initial_ansatz_is_the_problems_initial_state(stationary):
    """log psi_0 - log psi0_problem is a constant (a normalisation): the basis scale
    sqrt(M omega) reproduces the variance hbar / (2 m omega) of the start."""
    problem, solution = stationary
    x = problem.sample_initial(200, seed=1)
    diff = solution.log_amplitude(x, 0.0) - np.log(problem.psi0(x).astype(complex))
    np.testing.assert_allclose(diff, diff[0], atol=1e-10)


@needs_netket
def test_ground_state_stays_stationary_when_g_is_zero(stationary):
    """The start is an eigenstate of H at g = 0, so |psi|^2 must not move. The variance of
    every coordinate is checked against hbar / (2 m omega) = 0.05 at each step within 5
    standard errors of a sample variance, sqrt(2 / n_eff) relative; n_eff = n / 2 is a
    conservative count for importance resampling (duplicates) at its measured effective
    sample sizes (>= 0.6 of the draws here). A wrong mass or potential scale in NetKet's
    units would make the start a non-eigenstate and spread or shrink it."""
    problem, solution = stationary
    assert solution.cost.iters == 5 and solution.cost.stop_reason == "max_iters"
    assert np.isfinite(solution.history["energy"]).all()
    # the energy n hbar omega / 2 of the start is reproduced with zero variance (eigenstate)
    assert solution.history["energy"].iloc[-1] == pytest.approx(problem.d * problem.hbar / 2)
    n = 4000
    times = np.arange(6) * problem.dt
    x = solution.sample(n, seed=3, times=times)
    assert x.shape == (n, 6, 2)
    var = x.var(axis=0, ddof=1)
    tol = 5 * math.sqrt(2 / (n / 2)) * problem.s0_sq
    assert np.all(np.abs(var - problem.s0_sq) < tol), var
    # and the mean stays at the trap centre within 5 standard errors
    assert np.all(np.abs(x.mean(axis=0)) < 5 * math.sqrt(problem.s0_sq / (n / 2)))
    # the drift of the ground state: u = -(hbar/2m) x / s0^2, v = 0
    u, v = solution.drift(x[:50, -1], np.full(50, times[-1]))
    np.testing.assert_allclose(u, -problem.hbar / (2 * problem.m) * x[:50, -1] / problem.s0_sq,
                               atol=1e-8)
    np.testing.assert_allclose(v, 0.0, atol=1e-8)


@needs_netket
def test_sampling_is_deterministic_per_seed(stationary):
    _, solution = stationary
    times = np.array([0.0, 0.005])
    a, b = solution.sample(300, 7, times), solution.sample(300, 7, times)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, solution.sample(300, 8, times))


@needs_netket
def test_time_budget_stops_at_a_step_and_says_how_far_it_got():
    problem = get_problem("bosons", d=2, g=0.0)
    solution = TVMCSolver(**TINY).run(problem, budget=Budget(max_seconds=1e-9))
    assert solution.cost.iters == 0 and solution.cost.stop_reason == "time_budget"
    assert solution.sample(10, 0, np.array([0.0])).shape == (10, 1, 2)
    with pytest.raises(ValueError, match=r"reached t=0 of T=1 .*time_budget"):
        solution.sample(10, 0, np.array([0.5]))


@needs_netket
@pytest.mark.parametrize("options, message", [
    ({"vmc_samples": 100, "n_chains": 16}, "n_chains=16 must divide vmc_samples=100"),
    ({"regularization": "diag_shift"}, "needs diag_shift > 0"),
    ({"integrator": "rk45"}, r"integrator='rk45'.*must be one of euler, heun"),
    ({"n_max": -1}, "n_max=-1"),
    ({"jastrow": 1}, r"jastrow=1.*must be true or false"),
    ({"dt": 0.0}, "dt=0.0"),
])
def test_invalid_options_name_the_valid_values(options, message):
    with pytest.raises(SolverConfigError, match=message):
        TVMCSolver(**options)


@needs_netket
def test_supports_the_bosons_only():
    solver = TVMCSolver()
    assert solver.supports(get_problem("bosons", d=3)) is None
    # the harmonic packet starts displaced from the trap's centre; a problem with no trap at
    # all (the Morse-like anharmonic well) is refused for its potential
    assert "starts elsewhere" in solver.supports(get_problem("harmonic", d=2))
    assert "needs a harmonic trap" in solver.supports(get_problem("anharmonic", d=2))
    assert "starts from the trap's ground state" in solver.supports(
        get_problem("bosons", d=2, phase=1.0))
    with pytest.raises(SolverConfigError, match="must divide T"):
        TVMCSolver(dt=0.3).n_steps(get_problem("bosons", d=2))


@needs_netket
@pytest.mark.slow
def test_a_run_stopped_before_T_is_a_timeout_row_scored_on_what_it_reached(tmp_path):
    """20 of 100 steps: scored on the evaluation times t <= 0.2 (t_reached), status timeout,
    exit 1 with the interval named; the grid reference at n = 2 scores it."""
    settings = ["n_steps=100", "g=0", "max_iters=20", "n_samples=200", "n_trials=2",
                *[f"{k}={v}" for k, v in TINY.items()]]
    out = subprocess.run(
        [sys.executable, "-m", "dsm_bench.cli", "solve", "tvmc", "bosons", "--d", "2", "-q",
         "--json", str(tmp_path / "run.json"), *[a for s in settings for a in ("--set", s)]],
        capture_output=True, text=True)
    assert out.returncode == 1, out.stderr
    assert "stopped by its budget at t=0.2 of T=1: scored on [0, 0.2] (21 evaluation times)" \
        in out.stderr
    row = json.loads((tmp_path / "run.json").read_text())["row"]
    assert row["status"] == "timeout" and row["t_reached"] == pytest.approx(0.2)
    assert row["n_eval_times"] == 21 and math.isfinite(row["var_err"])
