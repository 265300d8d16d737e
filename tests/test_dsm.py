"""DSM: the residual equations, the fast derivative path, Hutchinson, training, persistence."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import solvers.dsm as dsm_module
from reference import exact
from reference.problems import Problem, get_problem, standard_options
from solvers import Budget, Cost, SolverConfigError, get_solver
from solvers.dsm import DSMNetworks, DSMSolution, DSMSolver, equations, residuals, residuals_autograd
from solvers.training import TrainingDiverged

torch.set_num_threads(1)  # the CI machine is small and shared; these tests are tiny

EXACT_PROBLEMS = [
    ("harmonic_1d", {}),
    ("harmonic_1d_phase", {}),
    ("harmonic", {"d": 3, "phase": 2.0}),
    ("free_singular", {}),
]


def _points(problem, n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    mean_scale = np.sqrt(problem.s0_sq) + 0.3  # covers the packet over [0, T]
    x = mean_scale * torch.randn((n, problem.d), generator=g, dtype=torch.float64)
    t = problem.T * torch.rand(n, generator=g, dtype=torch.float64)
    return x, t


@pytest.mark.parametrize("name, overrides", EXACT_PROBLEMS)
def test_exact_velocities_have_zero_residual(name, overrides):
    """The Gaussian packet's u, v solve the stochastic-mechanics equations: the residuals are
    float64 roundoff relative to the size of the terms that cancel."""
    problem = get_problem(name, **overrides)
    x, t = _points(problem)

    def u_fn(x, t):
        return exact.osmotic_velocity(problem, x, t)

    def v_fn(x, t):
        return exact.current_velocity(problem, x, t)

    r_u, r_v = residuals_autograd(u_fn, v_fn, problem, x, t)
    u, v = u_fn(x, t), v_fn(x, t)
    # the cancelling terms are O(|u| |J u| + |v| |J v| + |grad V|); |J| ~ |u| / |x| here, so
    # the scale is |u|^2 + |v|^2 + |grad V| per unit length (>= 1 keeps it away from 0)
    scale = float((u**2 + v**2).sum(-1).max() + problem.grad_potential(x).abs().max() + 1.0)
    scale /= float(x.abs().min().clamp(min=0.05))
    tol = 100 * np.finfo(np.float64).eps * scale
    assert r_u.abs().max().item() < tol
    assert r_v.abs().max().item() < tol

    # control: a 10% wrong osmotic velocity must not pass (the check can fail)
    r_u_bad, r_v_bad = residuals_autograd(lambda x, t: 1.1 * u_fn(x, t), v_fn, problem, x, t)
    assert max(r_u_bad.abs().max().item(), r_v_bad.abs().max().item()) > 1e3 * tol


@pytest.mark.parametrize("name, overrides", EXACT_PROBLEMS[::2])
@pytest.mark.parametrize("ic_built_in, activation", [(True, "tanh"), (False, "sin")])
def test_fast_path_matches_plain_autograd(name, overrides, ic_built_in, activation):
    """Forward tangents + two VJPs give the same residuals as the one-pass-per-component
    autograd reference, exactly (float64 roundoff), with exact and Hutchinson divergences."""
    problem = get_problem(name, **overrides)
    x, t = _points(problem, n=32)
    torch.manual_seed(1)
    _assert_fast_path_matches_autograd(
        DSMNetworks(problem, 24, 3, activation, ic_built_in).double(), x, t)


def _assert_fast_path_matches_autograd(nets: DSMNetworks, x: torch.Tensor, t: torch.Tensor):
    """The fast residuals equal the plain autograd ones, with exact and Hutchinson div."""
    probes = torch.randint(0, 2, (3, *x.shape), generator=torch.Generator().manual_seed(2))
    probes = probes.double() * 2 - 1
    for z in (None, probes):
        fast = residuals(nets, x, t, z)
        slow = residuals_autograd(nets.u, nets.v, nets.problem, x, t, z)
        for a, b in zip(fast, slow, strict=True):
            # roundoff of O(10) float64 operations on O(1..100) terms
            assert torch.allclose(a, b, rtol=1e-10, atol=1e-10 * float(b.detach().abs().max() + 1))


def _grad_div(nets, x, t, probes):
    x = x.detach().requires_grad_(True)
    jet = nets.jets(x, t, probes)
    return torch.autograd.grad(jet["div_u"].sum(), x)[0]


def test_hutchinson_grad_div_is_unbiased():
    """mean over trials of the k-probe estimate of grad div u -> exact grad div u; the
    tolerance is 5 standard errors (std over trials / sqrt(trials)) per component."""
    problem = get_problem("harmonic", d=4)
    x, t = _points(problem, n=16)
    torch.manual_seed(3)
    nets = DSMNetworks(problem, 32, 2, "tanh", True).double()
    exact_grad = _grad_div(nets, x, t, None)
    g = torch.Generator().manual_seed(4)
    trials, k = 400, 2
    est = torch.stack([
        _grad_div(nets, x, t, torch.randint(0, 2, (k, *x.shape), generator=g).double() * 2 - 1)
        for _ in range(trials)
    ])
    std = est.std(0)
    assert std.min() > 0  # the estimator is random at d > 1, so the check is not vacuous
    z = (est.mean(0) - exact_grad).abs() / (std / np.sqrt(trials))
    assert z.max() < 5.0
    # its variance falls as 1/k: k = 8 probes vs k = 2, ratio 4 within sampling error
    est8 = torch.stack([
        _grad_div(nets, x, t, torch.randint(0, 2, (8, *x.shape), generator=g).double() * 2 - 1)
        for _ in range(100)
    ])
    ratio = (est.var(0).mean() / est8.var(0).mean()).item()
    assert 2.5 < ratio < 6.5


def test_full_jacobian_mode_gives_the_same_training_loss():
    """One epoch, float64: the plain-autograd mode computes the same loss as the fast one."""
    problem = get_problem("harmonic", d=2, n_steps=20)
    common = dict(width=16, batch=8, M=5, dtype="float64", log_every=1, seed=3)
    fast = get_solver("dsm", **common).run(problem, Budget(max_iters=2))
    slow = get_solver("dsm", full_jacobian=True, **common).run(problem, Budget(max_iters=2))
    for col in ("loss_u", "loss_v"):
        np.testing.assert_allclose(fast.history[col], slow.history[col], rtol=1e-9)


def untrained_solution(solver: DSMSolver, problem) -> DSMSolution:
    """The solver's networks as initialised (a budget runs at least one iteration)."""
    return DSMSolution(problem, Cost(), None, solver.build(problem), solver.options)


def _var_err(solution, problem, n=4000, seeds=(0, 1)):
    """Relative L2 over time of the sampled variance against the exact one (mean of trials)."""
    times = problem.times
    ref = exact.gaussian_packet_variance(problem, times)
    errs = []
    for seed in seeds:
        paths = solution.sample(n, seed, times)[:, :, 0]
        errs.append(np.linalg.norm(paths.var(0) - ref) / np.linalg.norm(ref))
    return float(np.mean(errs))


@pytest.mark.slow
def test_training_reduces_variance_error():
    """150 epochs of a small model on harmonic_1d (100 time steps to keep it fast) cut the
    variance error well below the untrained model's; we ask for a 4x cut, far above the
    sampling noise of the estimate (~0.01 at 4000 samples x 2 trials)."""
    problem = get_problem("harmonic_1d", n_steps=100)
    solver = get_solver("dsm", width=32, batch=32, M=20, lr=3e-3, seed=0)
    untrained = _var_err(untrained_solution(solver, problem), problem)
    solution = solver.run(problem, Budget(max_iters=150))
    trained = _var_err(solution, problem)
    assert trained < 0.25 * untrained
    assert trained < 0.1
    assert solution.history["loss"].iloc[-1] < solution.history["loss"].iloc[0]


SMALL = dict(width=16, batch=8, M=5, log_every=1)


def _params(solution):
    return torch.cat([p.detach().flatten() for p in solution.nets.parameters()])


def test_seeds_reproduce_and_differ():
    problem = get_problem("harmonic_1d", n_steps=20)
    a = get_solver("dsm", seed=5, **SMALL).run(problem, Budget(max_iters=3))
    b = get_solver("dsm", seed=5, **SMALL).run(problem, Budget(max_iters=3))
    c = get_solver("dsm", seed=6, **SMALL).run(problem, Budget(max_iters=3))
    assert torch.equal(_params(a), _params(b))
    assert not torch.allclose(_params(a), _params(c))
    times = problem.times[::5]
    np.testing.assert_array_equal(a.sample(50, 1, times), b.sample(50, 1, times))
    assert not np.allclose(a.sample(50, 1, times), a.sample(50, 2, times))
    assert a.sample(50, 1, times).shape == (50, len(times), 1)


def test_save_load_round_trip(tmp_path):
    problem = get_problem("harmonic", d=2, n_steps=20)
    solution = get_solver("dsm", **SMALL).run(problem, Budget(max_iters=2))
    path = tmp_path / "model.pt"
    solution.save(path)
    loaded = DSMSolution.load(path)
    times = problem.times[[0, 7, 20]]
    np.testing.assert_array_equal(solution.sample(20, 3, times), loaded.sample(20, 3, times))
    x = np.random.default_rng(0).normal(size=(10, 2))
    for a, b in zip(solution.drift(x, np.full(10, 0.5)), loaded.drift(x, np.full(10, 0.5)),
                    strict=True):
        np.testing.assert_array_equal(a, b)
    assert loaded.problem == problem
    assert loaded.cost.iters == 2 and loaded.cost.n_params == solution.cost.n_params
    assert list(loaded.history["iter"]) == [1, 2]


def test_interrupted_training_resumes_from_checkpoint(tmp_path):
    """A run killed after its iteration-2 checkpoint and restarted ends bitwise where an
    uninterrupted run ends (model, Adam state and the random stream are all restored)."""
    problem = get_problem("harmonic_1d", n_steps=20)
    opts = dict(SMALL, lr_schedule="constant")
    straight = get_solver("dsm", **opts).run(problem, Budget(max_iters=6))

    path = str(tmp_path / "ckpt.pt")

    def crash(solution):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        get_solver("dsm", checkpoint=path, checkpoint_every=2, **opts).run(
            problem, Budget(max_iters=6, monitor_every=3), monitor=crash)
    resumed = get_solver("dsm", checkpoint=path, checkpoint_every=2, **opts).run(
        problem, Budget(max_iters=6))
    assert torch.equal(_params(straight), _params(resumed))
    assert list(resumed.history["iter"]) == [1, 2, 3, 4, 5, 6]
    assert resumed.cost.iters == 6
    # the last checkpoint is a complete solution file: its cost records how training ended
    final = DSMSolution.load(path)
    assert final.cost.iters == 6 and final.cost.stop_reason == "max_iters"
    assert final.cost.peak_rss_mb is not None
    # a checkpoint of another configuration is refused, not silently mixed in
    with pytest.raises(SolverConfigError, match="width"):
        get_solver("dsm", checkpoint=path, **dict(opts, width=8)).run(problem, Budget(max_iters=8))


def test_nan_stops_training_naming_term_and_iteration(monkeypatch):
    problem = get_problem("harmonic_1d", n_steps=20)
    calls = {"n": 0}
    real = equations.residuals

    def poisoned(*args, **kwargs):
        r_u, r_v = real(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 3:  # the third epoch's continuity residual diverges
            r_u = r_u * float("nan")
        return r_u, r_v

    monkeypatch.setattr(equations, "residuals", poisoned)
    with pytest.raises(TrainingDiverged, match=r"iteration 3: loss term loss_u is nan"):
        get_solver("dsm", **SMALL).run(problem, Budget(max_iters=5))


def test_a_huge_learning_rate_diverges_with_a_named_term():
    """lr = 1e20: Adam's first step makes the weights ~1e20 and the squared residuals
    overflow float32, so training stops at once instead of running on NaN."""
    problem = get_problem("harmonic_1d", n_steps=20)
    with pytest.raises(TrainingDiverged,
                       match=r"dsm: training diverged at iteration \d+: loss term loss_[uv] is"):
        get_solver("dsm", lr=1e20, **SMALL).run(problem, Budget(max_iters=10))


@pytest.mark.slow
def test_a_divergence_inside_the_warm_up_is_a_diverged_run_not_an_ok_row():
    """lr = 1e6 for 5 epochs, inside the loop's 10-iteration warm-up: the loss check waits,
    but the evaluated moments run thousands of box widths away, so the run fails as
    diverged instead of recording an ok row with mean_err ~1e6 (issue 28): either every
    sampled path leaves the box (PathsLost, counted by lost_frac until none is left) or the
    moments of those left run beyond 1000 box widths (SolutionDiverged); both are stop reason
    "diverged"."""
    from dsm_bench.harness.single_run import RunSpec, SolutionDiverged, run_one
    from dsm_bench.trial import PathsLost

    spec = RunSpec(solver="dsm", problem="harmonic_1d", budget={"max_iters": 5},
                   solver_options=dict(SMALL, lr=1e6, batch=10, M=10),
                   evaluation={"n_samples": 500, "n_trials": 2})
    with pytest.raises((SolutionDiverged, PathsLost),
                       match=r"(the solution diverged: at t = [\d.]+ its (mean|variance) .* is "
                             r"beyond 1000 times the box|500 of 500 sampled paths left the box)"
                       ) as caught:
        run_one(spec)
    assert caught.value.stop_reason == "diverged"


def test_time_budget_stops_training_with_the_progress_bar_on():
    """A time budget ends training between epochs once spent (stop_reason "time_budget"),
    far short of the planned epochs, and drives the cosine schedule by time."""
    problem = get_problem("harmonic_1d", n_steps=20)
    budget_s = 0.5
    sol = get_solver("dsm", epochs=100_000, **SMALL).run(
        problem, Budget(max_seconds=budget_s), progress=True)
    assert sol.cost.stop_reason == "time_budget"
    assert 1 <= sol.cost.iters < 100_000
    # it stops at the first epoch end past the budget: over it by at most one epoch (ten mean
    # epochs of margin: epoch times jump on a shared machine)
    assert budget_s <= sol.cost.train_s < budget_s + 10 * max(sol.cost.s_per_iter, 0.05)
    lr = sol.history["lr"].to_numpy()
    assert lr[-1] < 0.5 * lr[0]  # past half the budget, cosine is below half of lr


def test_budget_cost_and_monitor():
    problem = get_problem("harmonic_1d", n_steps=20)
    seen = []

    def monitor(solution):
        seen.append(len(solution.history))
        return {"probe": 1.5}

    sol = get_solver("dsm", width=16, depth=2, batch=8, M=5, log_every=2).run(
        problem, Budget(max_iters=4, monitor_every=2), monitor=monitor)
    assert sol.cost.stop_reason == "max_iters" and sol.cost.iters == 4
    # two MLPs (d + 1 -> 16 -> 16 -> d), weights and biases
    assert sol.cost.n_params == 2 * ((2 * 16 + 16) + (16 * 16 + 16) + (16 + 1))
    assert sol.cost.peak_rss_mb > 0 and sol.cost.train_s > 0 and sol.cost.s_per_iter > 0
    assert list(sol.history["probe"]) == [1.5, 1.5] and seen == [1, 2]
    assert {"iter", "wall_s", "loss", "loss_u", "loss_v"} <= set(sol.history.columns)

    timed = get_solver("dsm", **SMALL).run(problem, Budget(max_seconds=1e-9))
    assert timed.cost.stop_reason == "time_budget" and timed.cost.iters == 0
    done = get_solver("dsm", epochs=2, **SMALL).run(problem)
    assert done.cost.stop_reason == "completed" and done.cost.iters == 2


@pytest.mark.parametrize("options", [
    {"ic": "loss", "scheme": "grid", "time_weighting": "uniform"},
    {"grad_div": "hutchinson", "hutchinson_probes": 2, "chunk_points": 7},
])
def test_option_variants_train(options):
    problem = get_problem("harmonic", d=2, n_steps=20)
    sol = get_solver("dsm", **SMALL, **options).run(problem, Budget(max_iters=2))
    assert np.isfinite(sol.history["loss"]).all()
    if options.get("ic") == "loss":
        assert "loss_ic" in sol.history.columns
    u, v = sol.drift(np.zeros((3, 2)), np.zeros(3))
    assert u.shape == v.shape == (3, 2)


@pytest.mark.parametrize("ic", ["built_in", "loss"])
def test_chunked_backward_gives_the_same_step(ic):
    """Gradient accumulation over point chunks is the same gradient (float64 roundoff); with
    the initial condition as a loss term too (its start points sit in the first chunk only)."""
    problem = get_problem("harmonic", d=2, n_steps=20)
    opts = dict(SMALL, dtype="float64", ic=ic)
    whole = get_solver("dsm", **opts).run(problem, Budget(max_iters=2))
    chunked = get_solver("dsm", chunk_points=9, **opts).run(problem, Budget(max_iters=2))
    assert torch.allclose(_params(whole), _params(chunked), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("options, match", [
    ({"widht": 3}, "valid options"),
    ({"grad_div": "approx"}, "exact, hutchinson"),
    ({"scheme": "random"}, "interpolated, grid"),
    ({"width": 0}, "width"),
    ({"lr": -1.0}, "lr"),
    ({"chunk_points": "big"}, "auto or an integer >= 0"),
    ({"lr_decay": 0.0}, r"\(0, 1\]"),
])
def test_bad_options_name_valid_values(options, match):
    with pytest.raises(SolverConfigError, match=match):
        get_solver("dsm", **options)


def test_sample_rejects_times_off_grid():
    problem = get_problem("harmonic_1d", n_steps=20)
    sol = untrained_solution(get_solver("dsm", **SMALL), problem)
    with pytest.raises(ValueError, match="time grid"):
        sol.sample(5, 0, np.array([0.0, 0.0123]))


@pytest.mark.parametrize("activation", list(dsm_module.SECOND_ORDER))
def test_folded_activation_forms_are_the_activations(activation):
    """The rollout's act(z) = alpha g(beta z) + gamma (tanh = 2 sigmoid(2 z) - 1, faster on
    CPU) is the activation to float64 roundoff over [-40, 40], saturation included."""
    alpha, beta, gamma, g = dsm_module.folded_form(activation)
    z = torch.linspace(-40.0, 40.0, 20001, dtype=torch.float64)
    expected = {"tanh": torch.tanh, "sin": torch.sin, "softplus": torch.nn.functional.softplus,
                "silu": torch.nn.functional.silu}[activation](z)
    assert torch.allclose(alpha * g(beta * z) + gamma, expected, rtol=1e-14, atol=4e-16)


@pytest.mark.parametrize("activation", list(dsm_module.SECOND_ORDER))
@pytest.mark.parametrize("ic_built_in", [True, False])
def test_fused_simulation_drift_equals_v_plus_nu_u(ic_built_in, activation):
    """The rollout's fused two-network drift, with the activation's constants folded into the
    weights, is v + nu u of the separate networks."""
    problem = get_problem("harmonic", d=3, phase=1.0)
    torch.manual_seed(0)
    nets = DSMNetworks(problem, 16, 3, activation, ic_built_in).double()
    x, t = _points(problem, n=9)
    u, v = nets.velocities(x, t)
    fused = nets.drift_function(0.7)(x, t[:, None])
    assert torch.allclose(fused, v + 0.7 * u, rtol=1e-12, atol=1e-12)  # float64 roundoff


@pytest.mark.parametrize("activation", list(dsm_module.SECOND_ORDER))
@pytest.mark.parametrize("taylor_max_d", [0, 3])
def test_exact_paths_agree_for_every_activation(monkeypatch, activation, taylor_max_d):
    """Second-order forward mode (all d up to 3 here) and tangents + one reverse pass (all d)
    both equal the plain-autograd residuals to float64 roundoff, for every activation."""
    monkeypatch.setattr(equations, "TAYLOR_MAX_D", taylor_max_d)
    for d in (1, 2):
        problem = get_problem("harmonic", d=d, phase=1.0)
        x, t = _points(problem, n=12)
        torch.manual_seed(0)
        nets = DSMNetworks(problem, 16, 3, activation, True).double()
        for a, b in zip(residuals(nets, x, t),
                        residuals_autograd(nets.u, nets.v, problem, x, t), strict=True):
            assert torch.allclose(a, b, rtol=1e-10, atol=1e-12)


def test_width_below_d_warns_because_the_jacobian_is_rank_deficient():
    """A net narrower than d has a Jacobian of rank <= width, so it cannot learn the harmonic
    u = -a(t) x (full-rank gradient); building one warns, and the rank bound is real."""
    problem = get_problem("harmonic", d=6)
    with pytest.warns(UserWarning, match="width=4 < d=6"):
        nets = get_solver("dsm", width=4, dtype="float64").build(problem)
    x, t = _points(problem, n=1)
    jac = torch.autograd.functional.jacobian(lambda y: nets.net_u(y, t.reshape(1, 1)), x)
    assert torch.linalg.matrix_rank(jac.reshape(6, 6)) <= 4
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # width >= d: no warning
        get_solver("dsm", width=6).build(problem)


def test_every_option_is_declared_with_help_and_a_valid_default():
    """The option table is the one declaration the command line and the docs read."""
    for name, spec in DSMSolver.option_specs.items():
        assert spec.help, name
        assert spec.constraint.accepts(spec.default), name
    assert DSMSolver.defaults == {k: s.default for k, s in DSMSolver.option_specs.items()}


class QuarticStart(Problem):
    """A non-Gaussian start (rho_0 ~ exp(-|x|^4/4 - |x|^2/2) per coordinate, S_0 = c x^3/3),
    so u_0 and v_0 are not affine and the fast path's initial-state terms (the problem's
    u0_vjp, v0_vjp and initial_divergence, by autodiff) are all exercised."""

    name = "quartic_start"
    label = "quartic start"
    d_range = (1, 3)
    box = (-3.0, 3.0)
    option_specs = standard_options(d=2, hbar=0.1)
    chirp = 0.7

    def potential(self, x):
        return 0.5 * (x**2).sum(-1)

    def grad_potential(self, x):
        return x

    def initial_density(self, x):
        from scipy.integrate import quad

        norm = quad(lambda s: np.exp(-(s**4) / 4 - s**2 / 2), -10, 10)[0]
        return (np.exp(-(x**4) / 4 - x**2 / 2) / norm).prod(-1)

    def sample_initial(self, n, seed=0):
        # rejection from N(0, 1): accept with probability exp(-x^4 / 4)
        rng, out = np.random.default_rng(seed), []
        while sum(len(a) for a in out) < n * self.d:
            z = rng.standard_normal(4 * n * self.d)
            out.append(z[rng.random(z.shape) < np.exp(-(z**4) / 4)])
        return np.concatenate(out)[: n * self.d].reshape(n, self.d)

    def psi0(self, x):
        return np.sqrt(self.initial_density(x)) * np.exp(1j * self.chirp * (x**3).sum(-1) / 3)

    def u0(self, x):
        return self.hbar / (2 * self.m) * (-(x**3) - x)

    def v0(self, x):
        return self.hbar / self.m * self.chirp * x**2


def test_fast_path_matches_plain_autograd_for_the_cat_start():
    """The cat: u_0 non-affine, v_0 = 0 (a divergence that is a constant, not a function of x)."""
    problem = get_problem("cat", d=2)
    x, t = _points(get_problem("harmonic", d=2), n=32)
    torch.manual_seed(1)
    _assert_fast_path_matches_autograd(DSMNetworks(problem, 24, 3, "tanh", True).double(), x, t)


@pytest.mark.parametrize("d", [1, 3])
def test_fast_path_matches_plain_autograd_for_a_non_gaussian_start(d):
    """With u_0, v_0 non-affine, the built-in initial condition adds J_{u0}^T w, J_{v0}^T w and
    grad div u_0, grad div v_0 to the fast path's residuals; the plain autograd reference
    differentiates u = u_0 + t N_u as a whole. They agree to float64 roundoff."""
    problem = QuarticStart(d=d)
    x, t = _points(get_problem("harmonic", d=d), n=32)
    torch.manual_seed(1)
    nets = DSMNetworks(problem, 24, 3, "tanh", True).double()
    _assert_fast_path_matches_autograd(nets, x, t)
    # control: the Gaussian start's shortcuts (affine u_0, constant v_0) would be wrong here
    gaussian_terms = QuarticStart.initial_divergence
    try:
        QuarticStart.initial_divergence = lambda self, x: None
        wrong = residuals(nets, x, t, None)
    finally:
        QuarticStart.initial_divergence = gaussian_terms
    slow = residuals_autograd(nets.u, nets.v, problem, x, t, None)
    assert not torch.allclose(wrong[0], slow[0], rtol=1e-6, atol=1e-6)
