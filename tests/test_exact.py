"""The closed forms checked against the equations they solve, not against themselves.

Derivatives come from torch autograd in float64, so the residuals are roundoff-limited; the
tolerance 1e-6 (relative to the size of the terms) leaves room for that roundoff only.
"""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from reference import exact
from reference.problems import get_problem

CASES = [
    ("harmonic_1d", {}),
    ("harmonic_1d_phase", {}),
    ("harmonic", {"d": 3, "phase": 1.5}),
    ("free_singular", {}),
    ("free_singular", {"phase": 3.0}),
    ("harmonic", {"d": 2, "T": 10.0}),  # past w t = pi: the Gouy phase must be unwrapped
    ("bosons", {"d": 3, "g": 0.0}),
    # a start displaced in some coordinates only: the packet's constants are per coordinate
    ("harmonic_active", {"d": 4, "active": 2, "phase": 0.5}),
]


def _points(problem, n=64, seed=0):
    rng = np.random.default_rng(seed)
    t = torch.tensor(rng.uniform(0, problem.T, n), requires_grad=True)
    tc = t.detach().numpy()[:, None]  # (n, 1): per-coordinate constants broadcast to (n, d)
    mu = exact.gaussian_packet_mean(problem, tc)
    s = np.sqrt(exact.gaussian_packet_variance(problem, tc))
    x = torch.tensor(mu + 2 * s * rng.standard_normal((n, problem.d)), requires_grad=True)
    return x, t


def _grad(f, x):
    (g,) = torch.autograd.grad(f.sum(), x, create_graph=True, allow_unused=True)
    # a field that does not depend on x (e.g. div v for a Gaussian packet) has zero gradient
    return torch.zeros_like(x) if g is None else g


def _div(field, x):
    return sum(_grad(field[:, k], x)[:, k] for k in range(x.shape[1]))


def _time_derivative(field, t):
    return torch.stack(
        [torch.autograd.grad(field[:, k].sum(), t, create_graph=True)[0]
         for k in range(field.shape[1])], dim=1)


def _assert_small(residual, *scales):
    scale = max(float(s.detach().abs().max()) for s in scales)
    assert float(residual.detach().abs().max()) <= 1e-6 * scale + 1e-12


@pytest.mark.parametrize(("name", "kw"), CASES)
def test_continuity_equation(name, kw):
    """d_t rho + div(rho v) = 0."""
    p = get_problem(name, **kw)
    x, t = _points(p)
    rho = exact.gaussian_packet_density(p, x, t)
    v = exact.current_velocity(p, x, t)
    drho_dt = torch.autograd.grad(rho.sum(), t, create_graph=True)[0]
    flux_div = _div(rho[:, None] * v, x)
    _assert_small(drho_dt + flux_div, drho_dt, flux_div)


@pytest.mark.parametrize(("name", "kw"), CASES)
def test_osmotic_velocity_is_grad_log_density(name, kw):
    p = get_problem(name, **kw)
    x, t = _points(p)
    log_rho = torch.log(exact.gaussian_packet_density(p, x, t))
    u = exact.osmotic_velocity(p, x, t)
    expected = p.hbar / (2 * p.m) * _grad(log_rho, x)
    _assert_small(u - expected, expected)


@pytest.mark.parametrize(("name", "kw"), CASES)
def test_nelson_equations(name, kw):
    """d_t v = -grad V/m + 1/2 grad|u|^2 - 1/2 grad|v|^2 + (hbar/2m) grad div u,
    d_t u = -grad <u, v> - (hbar/2m) grad div v."""
    p = get_problem(name, **kw)
    x, t = _points(p)
    u = exact.osmotic_velocity(p, x, t)
    v = exact.current_velocity(p, x, t)
    c = p.hbar / (2 * p.m)
    rhs_v = (-p.grad_potential(x) / p.m + 0.5 * _grad((u**2).sum(1), x)
             - 0.5 * _grad((v**2).sum(1), x) + c * _grad(_div(u, x), x))
    rhs_u = -_grad((u * v).sum(1), x) - c * _grad(_div(v, x), x)
    dv_dt, du_dt = _time_derivative(v, t), _time_derivative(u, t)
    _assert_small(dv_dt - rhs_v, dv_dt, rhs_v, p.grad_potential(x))
    _assert_small(du_dt - rhs_u, du_dt, rhs_u)


@pytest.mark.parametrize(("name", "kw"), CASES)
def test_wavefunction_solves_schrodinger(name, kw):
    """i hbar d_t psi = -(hbar^2/2m) Lap psi + V psi, on real and imaginary parts."""
    p = get_problem(name, **kw)
    x, t = _points(p)
    psi = exact.wavefunction(p, x, t)
    re, im = psi.real, psi.imag
    lap_re, lap_im = _div(_grad(re, x), x), _div(_grad(im, x), x)
    dre_dt = torch.autograd.grad(re.sum(), t, create_graph=True)[0]
    dim_dt = torch.autograd.grad(im.sum(), t, create_graph=True)[0]
    V = p.potential(x)
    k = p.hbar**2 / (2 * p.m)
    # i hbar (dRe + i dIm) = -hbar dIm + i hbar dRe
    res_re = -p.hbar * dim_dt + k * lap_re - V * re
    res_im = p.hbar * dre_dt + k * lap_im - V * im
    _assert_small(res_re, p.hbar * dim_dt, k * lap_re, V * re)
    _assert_small(res_im, p.hbar * dre_dt, k * lap_im, V * im)
    # |psi|^2 is the packet density
    rho = exact.gaussian_packet_density(p, x, t)
    _assert_small(re**2 + im**2 - rho, rho)


def test_free_singular_variance_is_schrodinger_not_brownian():
    p = get_problem("free_singular")
    t = np.linspace(0, 1, 11)
    np.testing.assert_allclose(exact.gaussian_packet_variance(p, t), 1e-4 + 0.25 * t**2,
                               rtol=1e-12)
    np.testing.assert_allclose(exact.brownian_spreading_variance(p, t), 1e-4 + 1e-2 * t,
                               rtol=1e-12)


def test_harmonic_moments_closed_form_values():
    p = get_problem("harmonic_1d_phase")
    t = np.array([0.0, 0.5, 1.0])
    # mu(t) = 0.1 - 0.1 cos t + (hbar k / m w) sin t with hbar k = -0.05
    np.testing.assert_allclose(exact.gaussian_packet_mean(p, t),
                               0.1 - 0.1 * np.cos(t) - 0.05 * np.sin(t), rtol=1e-12)
    c2 = (0.01 / (2 * math.sqrt(0.1))) ** 2
    np.testing.assert_allclose(exact.gaussian_packet_variance(p, t),
                               0.1 * np.cos(t) ** 2 + c2 * np.sin(t) ** 2, rtol=1e-12)


@pytest.mark.parametrize("n", [2, 3, 10])
def test_bosons_center_of_mass_and_energy(n):
    p = get_problem("bosons", d=n)
    t = np.linspace(0, 1, 5)
    np.testing.assert_allclose(exact.center_of_mass_variance(p, t), 0.05 / n, rtol=1e-12)
    np.testing.assert_allclose(exact.center_of_mass_mean(p, t), 0.0, atol=1e-15)
    closed = n * 0.1 / 2 + 0.5 * math.comb(n, 2) * (2 * math.pi * (0.1 + 2 * 0.05)) ** -0.5
    assert exact.initial_energy(p) == pytest.approx(closed, rel=1e-12)
    # independent Monte Carlo estimate of E_rho0[m/2 (|u0|^2 + |v0|^2) + V]
    x = p.sample_initial(400_000, seed=n)
    e = 0.5 * p.m * (p.u0(x) ** 2).sum(1) + p.potential(x)
    stderr = e.std() / math.sqrt(len(e))
    assert abs(e.mean() - exact.initial_energy(p)) < 5 * stderr  # 5 standard errors


def test_exact_reference_quantiles_and_densities():
    p = get_problem("harmonic", d=2)
    ref = exact.ExactReference(p)
    times = np.array([0.0, 0.7])
    mean, var = ref.moments(times)
    q = np.array([0.1, 0.5, 0.975])
    expected = stats.norm.ppf(q[None, None, :], mean[..., None], np.sqrt(var)[..., None])
    np.testing.assert_allclose(ref.marginal_quantile(q, times), expected, rtol=1e-12)
    x = np.linspace(-2, 2, 4001)
    rho = ref.marginal_density(x, times)
    np.testing.assert_allclose(np.trapezoid(rho, x, axis=-1), 1.0, atol=1e-9)
    with pytest.raises(ValueError, match="no closed-form"):
        exact.ExactReference(get_problem("bosons", d=2))


def test_harmonic_active_moves_only_its_active_coordinates():
    """harmonic_active's claim: the d - k inactive coordinates start in the trap's ground state
    (variance hbar/(2 m omega), no phase), which is stationary, so only k coordinates move.
    The closed form itself is checked against the Schrodinger equation above."""
    p = get_problem("harmonic_active", d=5, active=2)
    t = np.linspace(0, p.T, 11)[:, None]
    mean = exact.gaussian_packet_mean(p, t)
    var = np.broadcast_to(exact.gaussian_packet_variance(p, t), mean.shape)
    ground = p.hbar / (2 * p.m * p.omega)
    # inactive: mean 0 and the ground-state variance at every t, to float64 roundoff
    np.testing.assert_allclose(mean[:, 2:], 0.0, atol=1e-14)
    np.testing.assert_allclose(var[:, 2:], ground, rtol=1e-12)
    # active: the mean follows cos(omega t) from the displacement, a swing of 1 - cos(1) = 0.46
    assert np.ptp(mean[:, :2], axis=0).min() > 0.4 * p.options["displacement"]
    x = torch.tensor(np.random.default_rng(0).normal(0, 0.2, (32, 5)))
    tt = torch.full((32,), 0.7, dtype=torch.float64)
    v = exact.current_velocity(p, x, tt)
    assert float(v[:, 2:].abs().max()) == 0.0
    assert float(v[:, :2].abs().min()) > 0.1
