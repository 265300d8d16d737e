"""Tests of the PINN solver (solvers/pinn.py): equations, training, budgets, integration.

The physics checks run the exact Gaussian packet through the same code paths as a trained net:
the residual function, the drifts by autograd, the energy and the two integration rules.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("deepxde")

from reference import exact  # noqa: E402
from reference.problems import Problem, get_problem  # noqa: E402
from solvers import get_solver  # noqa: E402
from solvers.base import Cost, SolverConfigError  # noqa: E402
from solvers.pinn import PINNSolution, schrodinger_residual  # noqa: E402

torch.set_num_threads(1)  # the CI machine's cores are shared

PROBLEMS = [
    ("harmonic_1d", {}),
    ("harmonic_1d_phase", {}),
    ("harmonic", {"d": 2, "phase": 1.5}),
    ("free_singular", {}),
]


def _space_time_points(problem: Problem, n: int = 256, seed: int = 0):
    """Points where the packet is not negligible: |x| <= 3 sigma_0-ish, t in [0.05, 1]."""
    gen = torch.Generator().manual_seed(seed)
    spread = 4 * math.sqrt(max(problem.s0_sq, 1e-3))
    x = (torch.rand(n, problem.d, generator=gen, dtype=torch.float64) - 0.5) * spread
    t = 0.05 + 0.95 * torch.rand(n, 1, generator=gen, dtype=torch.float64)
    return torch.cat([x, t], dim=1).requires_grad_(True)


@pytest.mark.parametrize("name, overrides", PROBLEMS)
def test_exact_packet_has_zero_residual(name, overrides):
    """The exact packet solves i hbar psi_t = -(hbar^2/2m) Lap psi + V psi, so both real residuals
    vanish up to float64 autograd rounding; its complex conjugate solves the time-reversed
    equation and must NOT (so the check can fail on a sign or unit error)."""
    import deepxde as dde

    problem = get_problem(name, **overrides)
    xt = _space_time_points(problem)
    d = problem.d
    psi = exact.wavefunction(problem, xt[:, :d], xt[:, d])
    y = torch.stack([psi.real, psi.imag], dim=1)
    residual = schrodinger_residual(problem, xt, y)
    dde.grad.clear()
    # every term is O(hbar |psi_t|) or O(V |psi|) <= ~1 here, and float64 autograd of the closed
    # form rounds at ~1e-16 relative: 1e-10 leaves margin for cancellation without hiding an
    # error (a wrong sign or a factor 2 gives residuals of the size of the terms, >= 1e-4)
    for r in residual:
        assert r.shape == (len(xt), 1)
        assert float(r.detach().abs().max()) < 1e-10

    y_conj = torch.stack([psi.real, -psi.imag], dim=1)
    wrong = schrodinger_residual(problem, xt, y_conj)
    dde.grad.clear()
    # hbar * |d_t psi| of the packet is >= ~1e-3 somewhere (phase rotates at E / hbar ~ 5 rad/s)
    assert max(float(r.detach().abs().max()) for r in wrong) > 1e-4


class _PerturbedPacket(torch.nn.Module):
    """psi = psi_exact (1 + 0.5 tanh(N(x, t))) with N an untrained tanh network: a 'net' whose
    density differs from the packet (moments shift) but whose tails stay within a factor 1.5^2
    of it, so that importance weights are bounded and the statistical error is well defined."""

    def __init__(self, problem: Problem, scale: float = 0.5, seed: int = 1):
        super().__init__()
        torch.manual_seed(seed)
        self.problem = problem
        self.scale = scale
        d = problem.d
        self.net = torch.nn.Sequential(torch.nn.Linear(d + 1, 32), torch.nn.Tanh(),
                                       torch.nn.Linear(32, 1)).double()
        with torch.no_grad():
            self.net[0].weight.mul_(3.0)  # variation on the packet's length scale

    def forward(self, xt):
        d = self.problem.d
        psi = exact.wavefunction(self.problem, xt[:, :d], xt[:, d])
        factor = 1 + self.scale * torch.tanh(self.net(xt)[:, 0])
        return torch.stack([psi.real * factor, psi.imag * factor], dim=1)


def _solution(problem: Problem, model, **kwargs) -> PINNSolution:
    return PINNSolution(problem, Cost(), None, model, dtype="float64", **kwargs)


@pytest.mark.parametrize("name, overrides", PROBLEMS[:3])
def test_exact_model_integrates_to_exact_moments_energy_and_drift(name, overrides):
    """With psi = the exact packet, grid integration must reproduce the closed forms."""
    problem = get_problem(name, **overrides)
    model = _PerturbedPacket(problem, scale=0.0)
    solution = _solution(problem, model)
    times = np.array([0.0, 0.3, 0.7, 1.0])
    ref = exact.ExactReference(problem)
    mean, var = solution.moments(times)
    ref_mean, ref_var = ref.moments(times)
    # midpoint rule on a Gaussian with dx << sigma converges spectrally; the walls at +-2 cut
    # ~exp(-2^2 / (2 * 0.1)) of the mass: both far below 1e-8
    np.testing.assert_allclose(mean, ref_mean, atol=1e-8)
    np.testing.assert_allclose(var, ref_var, rtol=1e-7)

    # energy is conserved and equal to <psi_0|H|psi_0>; the grid sum of the smooth local energy
    # is accurate to the same spectral level, 1e-7 relative
    energy = solution.energy(times)
    np.testing.assert_allclose(energy, exact.initial_energy(problem), rtol=1e-7)

    x = problem.sample_initial(64, seed=3) * 1.5 + 0.05
    t = np.linspace(0.1, 0.9, 64)
    u, v = solution.drift(x, t)
    # autograd of the closed form in float64: rounding only (u, v are O(0.1))
    np.testing.assert_allclose(u, exact.osmotic_velocity(problem, x, t), atol=1e-10)
    np.testing.assert_allclose(v, exact.current_velocity(problem, x, t), atol=1e-10)

    grid_x = np.linspace(-1.0, 1.0, 41)
    marginal = solution.marginal_density(grid_x, times)
    # cubic spline through the grid marginal (dx = 4/2048 in 1-D, 4/160 in 2-D, sigma >= 0.17):
    # error ~ (dx / sigma)^4 |rho''''| sigma^4 / 384 <~ 1e-4 relative within 3 sigma
    np.testing.assert_allclose(marginal, ref.marginal_density(grid_x, times), rtol=1e-3,
                               atol=1e-6)


def test_importance_sampling_agrees_with_grid_at_d2():
    """Same net, two integration rules: the importance-sampling moments must lie within their
    stated delta-method standard errors of the (deterministic, accurate) grid moments."""
    problem = get_problem("harmonic", d=2, phase=1.5)
    model = _PerturbedPacket(problem, scale=0.5)
    times = np.array([0.0, 0.25, 0.5, 1.0])
    grid = _solution(problem, model, integration="grid")
    sampled = _solution(problem, model, integration="importance", is_samples=20_000, is_seed=7)
    g_mean, g_var = grid.moments(times)
    s_mean, s_var, mean_se, var_se = sampled.moments_with_error(times)
    # the perturbation must move the moments away from the packet, or agreement proves little
    ref_mean, ref_var = exact.ExactReference(problem).moments(times)
    assert np.abs(g_mean - ref_mean).max() > 5 * mean_se.max()
    # 16 comparisons at 4.5 standard errors: a false alarm has probability ~1e-4 (fixed seed)
    assert np.all(np.abs(s_mean - g_mean) < 4.5 * mean_se)
    assert np.all(np.abs(s_var - g_var) < 4.5 * var_se)
    # and the errors are the size expected from 20,000 draws of O(1)-variance weights
    assert np.all(mean_se < 5 * np.sqrt(g_var / 20_000))

    grid_x = np.linspace(-0.9, 1.0, 20)
    g_marg = grid.marginal_density(grid_x, times[1:2])
    s_marg = _solution(problem, model, integration="importance", is_samples=4000,
                       marginal_samples=4000).marginal_density(grid_x, times[1:2])
    # the substitution estimator averages 4000 bounded ratios (weights within a factor ~2.25 of
    # each other): relative error ~ 1/sqrt(4000) * O(1) = ~2%; 10% is ~5 standard errors
    np.testing.assert_allclose(s_marg, g_marg, rtol=0.1, atol=0.02)

    c_mean, c_var = grid.center_of_mass_moments(times)
    np.testing.assert_allclose(c_mean, g_mean.mean(-1), atol=1e-12)  # E X_c = mean of means
    assert np.all(c_var <= g_var.mean(-1) + 1e-12)  # Var(mean) <= mean of Var (Cauchy-Schwarz)


def _fit(problem_name="harmonic_1d", budget=None, monitor=None, **options):
    small = {"width": 16, "depth": 2, "num_domain": 200, "num_boundary": 20, "num_initial": 40,
             "log_every": 10, "seed": 0, "device": "cpu", "lbfgs": 0}
    solver = get_solver("pinn", **{**small, **options})
    return solver.fit(get_problem(problem_name), budget=budget, monitor=monitor)


@pytest.mark.parametrize("hard", [True, False])
def test_short_training_lowers_the_loss(hard):
    solution = _fit(iterations=80, hard_initial_condition=hard, lr=3e-3)
    history = solution.history
    assert list(history["iter"])[0] == 0 and list(history["iter"])[-1] == 80
    assert {"wall_s", "loss", "loss_pde_re", "loss_pde_im", "loss_wall_re"} <= set(history)
    if not hard:
        assert "loss_initial_re" in history
    # Adam from a Glorot start removes the gross misfit quickly: at least a factor 2 in 80 steps
    # (measured ~5-8x); a sign error in the gradient or an untrained net would not
    assert history["loss"].iloc[-1] < 0.5 * history["loss"].iloc[0]
    assert np.all(np.diff(history["wall_s"]) >= 0)
    cost = solution.cost
    assert cost.iters == 80 and cost.stop_reason == "completed"
    assert cost.n_params == (2 * 16 + 16) + (16 * 16 + 16) + (16 * 2 + 2)
    assert cost.train_s > 0 and cost.dtype == "float32" and cost.device == "cpu"
    mean, var = solution.moments(np.array([0.0, 0.5]))
    assert mean.shape == var.shape == (2, 1) and np.all(var > 0)
    if hard:
        # psi(., 0) = psi_0 exactly: the t = 0 moments are those of rho_0 (float32 net output,
        # grid quadrature ~1e-8: 1e-5 relative)
        assert mean[0, 0] == pytest.approx(0.0, abs=1e-5)
        assert var[0, 0] == pytest.approx(0.1, rel=1e-5)


def test_budgets_set_the_stop_reason_and_lbfgs_runs():
    solution = _fit(iterations=50, lbfgs=30, lbfgs_chunk=10, budget={"max_iters": 60})
    # 50 Adam steps, then L-BFGS capped to the 10 remaining iterations
    assert solution.cost.stop_reason == "max_iters"
    assert 50 < solution.cost.iters <= 60
    timed = _fit(iterations=10_000, budget={"max_seconds": 0.0})
    assert timed.cost.stop_reason == "time_budget"
    assert timed.cost.iters < 10_000


def test_monitor_is_called_and_recorded():
    calls = []

    def monitor(solution):
        calls.append(solution.cost.iters)
        return {"probe_var": float(solution.moments(np.array([0.0]))[1][0, 0])}

    solution = _fit(iterations=20, budget={"monitor_every": 10})
    assert "probe_var" not in solution.history  # no monitor, no column
    solution = _fit(iterations=20, budget={"monitor_every": 10}, monitor=monitor)
    assert calls == [0, 10, 20]
    rows = solution.history.set_index("iter")
    assert rows.loc[20, "probe_var"] == pytest.approx(0.1, rel=1e-4)  # hard IC: var(0) = 0.1


def test_nan_loss_names_the_term():
    @dataclasses.dataclass(frozen=True)
    class BrokenProblem(Problem):
        def potential(self, x):
            return x.sum(-1) * float("nan")

    fields = dataclasses.asdict(get_problem("harmonic_1d"))
    fields["grid_points"] = tuple(fields["grid_points"])
    problem = BrokenProblem(**fields)
    solver = get_solver("pinn", width=8, depth=1, num_domain=50, num_boundary=10, iterations=20,
                        lbfgs=0, device="cpu")
    with pytest.raises(FloatingPointError, match="pde_re"):
        solver.fit(problem)


def test_options_are_validated():
    with pytest.raises(SolverConfigError, match="valid options"):
        get_solver("pinn", widht=10)
    with pytest.raises(SolverConfigError, match="tanh"):
        get_solver("pinn", activation="tanhh")
    with pytest.raises(SolverConfigError, match="float64"):
        get_solver("pinn", precision="half")
    with pytest.raises(SolverConfigError, match="integer"):
        get_solver("pinn", width=0)
    assert get_solver("pinn", initializer="Glorot uniform").options["initializer"] == (
        "glorot_uniform")
    assert get_solver("pinn", lbfgs=True).options["lbfgs"] > 0
    config = get_solver("pinn").config()
    assert config["solver"] == "pinn" and "is_samples" in config


def test_high_dimension_uses_pseudo_points_and_importance_sampling():
    solver = get_solver("pinn", width=8, depth=1, num_domain=64, num_boundary=16, iterations=3,
                        lbfgs=0, device="cpu", is_samples=500, marginal_samples=8)
    problem = get_problem("harmonic", d=5)
    assert solver.train_distribution(problem) == "pseudo"
    solution = solver.fit(problem)
    assert solution.integration == "importance"
    assert solution.config["is_samples"] == 500
    mean, var = solution.moments(np.array([0.0, 1.0]))
    assert mean.shape == (2, 5) and np.all(np.isfinite(var))
    # hard initial condition: at t = 0 psi = psi_0 and the proposal is rho_0 itself, so every
    # weight is equal and the sample moments are those of 500 normal draws: |mean| < 4 sigma/sqrt(n)
    assert np.all(np.abs(mean[0]) < 4 * math.sqrt(0.1 / 500))
    marginal = solution.marginal_density(np.linspace(-1, 1, 5), np.array([0.0]))
    assert marginal.shape == (1, 5, 5) and np.all(marginal >= 0)


def test_hard_initial_condition_is_psi0_and_stays_finite_in_high_dimension():
    """The output transform's psi_0 (log-domain amplitude) equals problem.psi0, and its
    derivatives stay finite where rho_0 underflows in float32 (d = 10 box corners, where
    sqrt(rho_0) had an infinite derivative and gave NaN residuals)."""
    from solvers.pinn import _psi0_parts_differentiable

    problem = get_problem("harmonic", d=10, phase=-2.0)
    x = torch.as_tensor(problem.sample_initial(50, seed=2))
    re, im = _psi0_parts_differentiable(problem, x)
    psi0 = problem.psi0(x)
    # the same closed form in float64: rounding only
    torch.testing.assert_close(re, psi0.real, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(im, psi0.imag, rtol=1e-12, atol=1e-14)

    corner = torch.full((4, 10), 2.0, dtype=torch.float32, requires_grad=True)
    re, im = _psi0_parts_differentiable(problem, corner)
    (grad,) = torch.autograd.grad((re + im).sum(), corner)
    assert torch.isfinite(grad).all()
