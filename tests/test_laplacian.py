"""The PINN's stochastic Laplacians (solvers/pinn/laplacian.py): unbiased against the exact
trace, with the variance falling as the estimator's theory says, and validated options.

Each estimator is drawn many times at a few points of a small random float64 MLP (d = 8): the
draws are independent, so a z-test on their mean and a ratio test on their variances apply.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("deepxde")

from reference.problems import get_problem  # noqa: E402
from solvers import get_solver  # noqa: E402
from solvers.base import SolverConfigError  # noqa: E402
from solvers.pinn.laplacian import (  # noqa: E402
    hessian_quadratic_forms,
    hessian_quadratic_forms_reverse,
    laplacian,
    probes,
    resolve_laplacian,
)
from solvers.pinn.residual import causal_weights, schrodinger_residual  # noqa: E402

torch.set_num_threads(1)  # the CI machine's cores are shared

D = 8
N_POINTS = 6
N_DRAWS = 4000
Z = 4.5  # two-sided false alarm ~7e-6 per comparison; a few dozen comparisons, fixed seeds


def _mlp(d: int = D, seed: int = 0):
    """(x, t) -> 2 outputs, tanh, float64: a Hessian with sizeable off-diagonal entries."""
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(d + 1, 16), torch.nn.Tanh(),
                               torch.nn.Linear(16, 16), torch.nn.Tanh(),
                               torch.nn.Linear(16, 2)).double()


def _points(d: int = D, n: int = N_POINTS):
    return torch.randn(n, d + 1, dtype=torch.float64, generator=torch.Generator().manual_seed(1))


def _exact_trace(net, x, d: int = D):
    """tr H over the first d inputs, per point and output: d reverse-over-reverse passes of
    plain autograd (independent of the torch.func code under test)."""
    x = x.detach().requires_grad_(True)
    y = net(x)
    out = torch.zeros(len(x), 2, dtype=torch.float64)
    for c in range(2):
        (g,) = torch.autograd.grad(y[:, c].sum(), x, create_graph=True)
        for i in range(d):
            (h,) = torch.autograd.grad(g[:, i].sum(), x, retain_graph=True)
            out[:, c] += h[:, i]
    return out


def _draws(method: str, k: int, net, x, seed: int):
    """N_DRAWS independent estimates per point and output: (N_DRAWS, n, 2). Every point is
    repeated N_DRAWS times in one batch; sdgd draws one coordinate subset per call of
    ``probes`` (per step), so it is called once per draw and the draws are batched."""
    gen = torch.Generator().manual_seed(seed)
    big = x.repeat(N_DRAWS, 1)
    if method == "hutchinson":
        est = laplacian(net, big, D, method, k, generator=gen)
        return est.reshape(N_DRAWS, len(x), 2).detach()
    # the subsets of N_DRAWS steps, stacked so that one batch evaluates them all
    drawn = [probes(method, len(x), D, k, dtype=torch.float64, generator=gen)
             for _ in range(N_DRAWS)]
    v = torch.cat([p for p, _ in drawn])
    est = drawn[0][1] * hessian_quadratic_forms(net, big, v).sum(1)
    return est.reshape(N_DRAWS, len(x), 2).detach()


def test_sdgd_probes_are_distinct_coordinates():
    v, scale = probes("sdgd", 3, D, 4, dtype=torch.float64,
                      generator=torch.Generator().manual_seed(0))
    assert v.shape == (3, 4, D) and scale == D / 4
    assert torch.equal(v[0], v[2])  # one subset per step, shared by the points
    assert torch.equal(v[0].sum(0).clamp(max=1), v[0].sum(0))  # no coordinate twice
    assert torch.equal(v[0].sum(1), torch.ones(4, dtype=torch.float64))  # one-hot rows


def test_exact_probes_give_the_trace():
    net, x = _mlp(), _points()
    v, scale = probes("exact", len(x), D, D, dtype=torch.float64)
    est = scale * hessian_quadratic_forms(net, x, v).sum(1)
    torch.testing.assert_close(est, _exact_trace(net, x), rtol=1e-10, atol=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["hutchinson", "sdgd"])
def test_estimator_is_unbiased_and_its_variance_falls_with_k(method):
    net, x = _mlp(), _points()
    exact = _exact_trace(net, x).detach().numpy()
    k_small, k_large = 1, 4
    small = _draws(method, k_small, net, x, seed=2).numpy()
    large = _draws(method, k_large, net, x, seed=3).numpy()

    for draws in (small, large):
        # z-test of the mean of N_DRAWS independent draws against the exact trace
        se = draws.std(axis=0, ddof=1) / math.sqrt(N_DRAWS)
        assert np.all(np.abs(draws.mean(axis=0) - exact) < Z * se + 1e-12)

    # Var_k / Var_1: hutchinson averages k independent probes, 1/k; sdgd draws k coordinates
    # without replacement, the finite-population factor (d - k) / (k (d - 1))
    expected = 1 / k_large if method == "hutchinson" else (D - k_large) / (k_large * (D - 1))

    def variance_and_se(draws):
        # s^2 and its standard error sqrt((m4 - s^4) / n); for normal draws this is the
        # chi-square spread s^2 sqrt(2 / (n - 1)), here the draws' own kurtosis is used
        centred = draws - draws.mean(axis=0)
        s2 = (centred**2).mean(axis=0)
        m4 = (centred**4).mean(axis=0)
        return s2, np.sqrt(np.maximum(m4 - s2**2, 0) / N_DRAWS)

    v1, se1 = variance_and_se(small)
    vk, sek = variance_and_se(large)
    ratio = vk / v1
    # delta method: relative error of a ratio of independent estimates, added in quadrature
    ratio_se = ratio * np.sqrt((se1 / v1) ** 2 + (sek / vk) ** 2)
    assert np.all(np.abs(ratio - expected) < Z * ratio_se)
    # the test has power: 4000 draws pin the ratio to ~10%, and the alternatives (no fall,
    # 1/k for sdgd) differ by more than that
    assert np.all(ratio_se < 0.1 * expected + 0.02)


def test_sdgd_with_every_coordinate_is_exact_and_hutchinson_is_noisy():
    net, x = _mlp(), _points()
    exact = _exact_trace(net, x)
    torch.testing.assert_close(laplacian(net, x, D, "sdgd", D), exact, rtol=1e-10, atol=1e-12)
    one = laplacian(net, x, D, "hutchinson", 1, generator=torch.Generator().manual_seed(0))
    assert not torch.allclose(one, exact)  # Rademacher probes see the off-diagonal Hessian


@pytest.mark.parametrize("hvp", ["forward_over_reverse", "reverse_over_reverse"])
@pytest.mark.parametrize("method", ["sdgd", "exact"])
def test_residual_with_the_net_laplacian_equals_deepxde_hessian(method, hvp):
    """Inside the residual, the estimator (either way of taking Hessian-vector products) and
    DeepXDE's Hessian agree when the estimate is exact (sdgd with k = d)."""
    import deepxde as dde

    problem = get_problem("harmonic", d=3)
    net = _mlp(3)
    xt = _points(3, 32).requires_grad_(True)
    y = net(xt)
    reference = schrodinger_residual(problem, xt, y)
    dde.grad.clear()
    other = schrodinger_residual(problem, xt, y, laplacian=method, k=3, net=net, hvp=hvp)
    dde.grad.clear()
    for a, b in zip(reference, other, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_both_hvp_modes_give_the_same_hutchinson_forms():
    net, x = _mlp(), _points()
    v, _ = probes("hutchinson", len(x), D, 3, dtype=torch.float64,
                  generator=torch.Generator().manual_seed(4))
    xg = x.clone().requires_grad_(True)
    y = net(xg)
    gradients = [torch.autograd.grad(y[:, c].sum(), xg, create_graph=True)[0] for c in (0, 1)]
    torch.testing.assert_close(hessian_quadratic_forms_reverse(gradients, xg, v),
                               hessian_quadratic_forms(net, x, v), rtol=1e-10, atol=1e-12)


def test_causal_weights_follow_the_earlier_slices():
    t = torch.tensor([0.05, 0.3, 0.6, 0.95, 0.3], dtype=torch.float64)
    squared = torch.tensor([1.0, 2.0, 4.0, 8.0, 0.0], dtype=torch.float64)
    w = causal_weights(t, squared, horizon=1.0, eps=0.5, slices=4)
    # slice means: 1, 1 (2 and 0), 4, 8; w_i = exp(-eps * sum_{k<i} L_k)
    expected = torch.exp(-0.5 * torch.tensor([0.0, 1.0, 2.0, 6.0, 1.0], dtype=torch.float64))
    torch.testing.assert_close(w, expected)


def test_auto_and_options_are_validated():
    assert resolve_laplacian("auto", 10) == "exact"
    assert resolve_laplacian("auto", 11) == "hutchinson"
    with pytest.raises(SolverConfigError, match="hutchinson, sdgd"):
        get_solver("pinn", laplacian="hutchinsom")
    with pytest.raises(SolverConfigError, match="integer >= 1"):
        get_solver("pinn", laplacian_k=0)
    solver = get_solver("pinn", laplacian="sdgd", laplacian_k=5)
    with pytest.raises(SolverConfigError, match=r"laplacian_k=5 must be in \[1, d=3\].*sdgd"):
        solver.laplacian(get_problem("harmonic", d=3))
    assert solver.laplacian(get_problem("harmonic", d=5)) == ("sdgd", 5)
    # k is not consulted where auto means exact
    assert get_solver("pinn", laplacian_k=50).laplacian(get_problem("harmonic_1d")) == ("exact", 1)


def test_cli_exits_2_on_a_bad_laplacian(capsys):
    from dsm_bench.cli import main

    assert main(["solve", "pinn", "harmonic", "--d", "3", "-q", "--set", "laplacian=lap"]) == 2
    assert "exact, hutchinson, sdgd" in capsys.readouterr().err
    assert main(["solve", "pinn", "harmonic", "--d", "3", "-q", "--set", "laplacian=hutchinson",
                 "--set", "laplacian_k=4"]) == 2
    assert "laplacian_k=4 must be in [1, d=3]" in capsys.readouterr().err
