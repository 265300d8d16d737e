"""The problem registry against the parameters of docs/problems.md ("The catalogue")."""

import math

import numpy as np
import pytest
import torch

from reference.problems import get_problem, problem_names


def test_catalogue_parameters_match_problems_md():
    h = get_problem("harmonic_1d")
    assert (h.d, h.hbar, h.m, h.T, h.n_steps) == (1, 1e-2, 1.0, 1.0, 1000)
    assert (h.omega, h.center, h.mu0, h.s0_sq, h.k0) == (1.0, 0.1, 0.0, 0.1, 0.0)
    assert get_problem("harmonic_1d_phase").k0 == -5.0
    assert get_problem("harmonic", d=100).d == 100
    assert get_problem("harmonic", d=3, phase=2.0).k0 == 2.0
    f = get_problem("free_singular")
    assert (f.omega, f.hbar, f.n_steps) == (0.0, 1e-2, 100)
    assert f.s0_sq == pytest.approx(1e-4)  # alpha = (hbar/m)^2
    b = get_problem("bosons", d=5)
    assert (b.hbar, b.g, b.s2, b.omega, b.center) == (0.1, 1.0, 0.1, 1.0, 0.0)
    assert b.s0_sq == pytest.approx(0.05)  # hbar / (2 m omega)
    assert b.is_ground_state_start
    assert b.box == (-1.5, 1.5) and b.grid_points[1] == 100 and b.grid_points[2] == 50
    assert set(problem_names()) == {"harmonic_1d", "harmonic_1d_phase", "harmonic",
                                    "free_singular", "bosons", "anharmonic", "double_well",
                                    "cat", "harmonic_active", "box_well", "soft_coulomb"}


def test_bosons_stay_in_ground_state_when_hbar_changes():
    b = get_problem("bosons", d=2, hbar=0.2)
    assert b.s0_sq == pytest.approx(0.1) and b.is_ground_state_start


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"name": "harmonc"}, "valid problems: harmonic_1d, harmonic_1d_phase, harmonic"),
        ({"name": "harmonic", "d": 0}, "1 <= d <= 100"),
        ({"name": "harmonic", "d": 101}, "1 <= d <= 100"),
        ({"name": "harmonic_1d", "d": 2}, "d = 1"),
        ({"name": "bosons", "d": 1}, "2 <= d <= 100"),
        ({"name": "harmonic", "hbar": 0.0}, "hbar=0.0 must be a number > 0"),
        ({"name": "harmonic", "m": -1.0}, "m=-1.0"),
        ({"name": "harmonic", "T": float("nan")}, "T=nan"),
        ({"name": "harmonic", "n_steps": 0}, "n_steps=0 must be an integer in [1, 1e+07]"),
        ({"name": "harmonic", "n_steps": 2.5}, "n_steps=2.5"),
        ({"name": "harmonic", "omega": 2.0}, "overridable parameters: d, hbar"),
    ],
)
def test_bad_input_names_the_value_and_allowed_range(kwargs, fragment):
    name = kwargs.pop("name")
    with pytest.raises(ValueError) as info:
        get_problem(name, **kwargs)
    assert fragment in str(info.value)


def _pair_potential_loop(p, x):
    """V written out with explicit loops over pairs, straight from docs/problems.md."""
    total = 0.5 * p.m * p.omega**2 * ((x - p.center) ** 2).sum()
    for i in range(p.d):
        for j in range(i + 1, p.d):
            total += 0.5 * p.g * (2 * math.pi * p.s2) ** -0.5 * math.exp(
                -((x[i] - x[j]) ** 2) / (2 * p.s2))
    return total


@pytest.mark.parametrize("d", [2, 3, 7])
def test_bosons_potential_matches_pair_sum(d):
    p = get_problem("bosons", d=d)
    x = np.random.default_rng(d).normal(0, 0.4, (5, d))
    expected = [_pair_potential_loop(p, xi) for xi in x]
    np.testing.assert_allclose(p.potential(x), expected, rtol=1e-13)


@pytest.mark.parametrize(("name", "d"), [("harmonic", 3), ("bosons", 4), ("free_singular", 1)])
def test_grad_potential_is_the_gradient_numpy_and_torch(name, d):
    p = get_problem(name, d=d)
    x = np.random.default_rng(0).normal(0, 0.5, (6, d))
    xt = torch.tensor(x, requires_grad=True)
    (grad_autograd,) = torch.autograd.grad(p.potential(xt).sum(), xt)
    # autograd is exact up to float64 roundoff
    np.testing.assert_allclose(p.grad_potential(x), grad_autograd.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(p.potential(x), p.potential(xt).detach().numpy(), rtol=1e-14)


def test_initial_state_is_consistent():
    p = get_problem("harmonic_1d_phase")
    x = np.linspace(-3, 3, 20001)[:, None]
    dx = x[1, 0] - x[0, 0]
    psi = p.psi0(x)
    # normalised: trapezoid error is negligible for a smooth packet far from the ends
    assert np.sum(np.abs(psi) ** 2) * dx == pytest.approx(1.0, abs=1e-10)
    # u_0 = (hbar/2m) d/dx log rho_0 and v_0 = (hbar/m) d/dx arg psi_0, by central differences
    # (error O(dx^2) ~ 1e-8 relative)
    log_rho = np.log(p.initial_density(x))
    u_fd = p.hbar / (2 * p.m) * np.gradient(log_rho, dx)
    np.testing.assert_allclose(p.u0(x)[1:-1, 0], u_fd[1:-1], rtol=1e-6, atol=1e-9)
    phase = np.unwrap(np.angle(psi))
    v_fd = p.hbar / p.m * np.gradient(phase, dx)
    np.testing.assert_allclose(p.v0(x)[1:-1, 0], v_fd[1:-1], rtol=1e-6)


def test_initial_samples_have_the_initial_moments():
    p = get_problem("harmonic", d=4)
    n = 200_000
    x = p.sample_initial(n, seed=1)
    # 5 standard errors: sd of the sample mean is sqrt(s0^2/n), of the sample variance
    # s0^2 sqrt(2/n)
    assert np.all(np.abs(x.mean(0) - p.mu0) < 5 * math.sqrt(p.s0_sq / n))
    assert np.all(np.abs(x.var(0) - p.s0_sq) < 5 * p.s0_sq * math.sqrt(2 / n))
    np.testing.assert_array_equal(x, p.sample_initial(n, seed=1))


def test_every_builtin_problem_honours_the_contract():
    """The registry checks plugins when they load; the built-ins are checked here."""
    from reference.problems import problem_class
    from reference.problems.base import contract_faults

    for name in problem_names():
        assert contract_faults(problem_class(name)) == [], name
