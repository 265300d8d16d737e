"""soft_coulomb: the potential, the grid reference's energy and its convergence as a shrinks.

The grid must resolve the core: a packet that falls through it reaches k ~ sqrt(2 m Z / a) /
hbar. The table in docs/problems.md ("soft_coulomb") gives the points that bring the 1-D
moments within 1e-4 of a grid of 8192 points; the slow test checks two of its rows.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from scipy.integrate import quad

from dsm_bench.harness.references import reference_for
from reference.problems import get_problem
from reference.problems.base import contract_faults
from reference.problems.soft_coulomb import SoftCoulomb
from solvers import get_solver


def test_soft_coulomb_honours_the_contract_and_its_potential_is_bounded():
    assert contract_faults(SoftCoulomb) == []
    problem = get_problem("soft_coulomb", d=3, a=0.05, Z=2.0)
    assert problem.potential_lower_bound() == -40.0  # -Z / a, at the centre
    assert problem.potential(np.zeros((1, 3)))[0] == -40.0
    x = torch.randn(64, 3, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(problem.potential(x).sum(), x)
    assert torch.allclose(grad, problem.grad_potential(x))
    assert np.allclose(problem.grad_potential(x.detach().numpy()), grad.numpy())
    assert (problem.potential(x.detach().numpy()) >= -40.0).all()
    assert problem.reference() is None


def test_the_grid_reference_has_the_start_energy_and_conserves_it():
    """E(0) = hbar^2 / (8 m s0^2) + E_rho0[V] (the Gaussian's kinetic energy and the potential
    by adaptive quadrature) against the grid's discrete energy, which Crank-Nicolson conserves."""
    problem = get_problem("soft_coulomb")
    reference, kind = reference_for(problem)
    assert kind == "grid"
    s0_sq, mu0 = problem.s0_sq, problem.mu0
    density = lambda x: np.exp(-((x - mu0) ** 2) / (2 * s0_sq)) / np.sqrt(2 * np.pi * s0_sq)  # noqa: E731
    reach = 12 * np.sqrt(s0_sq)  # the Gaussian's mass beyond is below 1e-32
    potential, _ = quad(lambda x: density(x) * problem.potential(np.array([[x]]))[0],
                        mu0 - reach, mu0 + reach, points=[0.0, mu0], limit=200, epsabs=1e-13)
    energy = problem.hbar**2 / (8 * problem.m * s0_sq) + potential
    grid_energy = reference.energy(problem.times[::100])
    assert abs(grid_energy[0] - energy) < 1e-6
    assert np.ptp(grid_energy) < 1e-10


@pytest.mark.slow
@pytest.mark.parametrize(("a", "enough", "too_few"), [(0.1, 384, 256), (0.025, 768, 512)])
def test_the_grid_needs_more_points_as_the_core_narrows(a, enough, too_few):
    """Rows of the docs' table: ``enough`` points bring the 1-D moments within 1e-4 of 2048
    points (which agree with 8192 to 2e-9), ``too_few`` do not."""
    problem = get_problem("soft_coulomb", a=a)
    times = problem.times[::100]
    fine = get_solver("grid", n_points=2048).run(problem).moments(times)

    def error(points: int) -> float:
        moments = get_solver("grid", n_points=points).run(problem).moments(times)
        return max(np.abs(m - f).max() for m, f in zip(moments, fine, strict=True))

    assert error(enough) < 1e-4 < error(too_few)


def test_the_cli_lists_soft_coulomb():
    out = subprocess.run([sys.executable, "-m", "dsm_bench.cli", "list", "--problem",
                          "soft_coulomb"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "soft Coulomb" in out.stdout and "softening" in out.stdout
