"""The split-step Fourier example plugin (examples/splitstep) against exact answers.

Where the tolerances come from:

* Space: psi is represented by its trigonometric interpolant on a periodic box, and the FFT
  differentiates a band-limited periodic function exactly, so the spatial error is not a power
  of dx but the part of psi that the grid cannot hold: its spectrum beyond pi / dx and its
  tail beyond the box. The solver's grid rule keeps both densities below e^-18 ~ 1.5e-8 of their
  peaks (a Gaussian at 6 sigma), so moments carry a spatial error of about 1e-8, and halving dx
  changes nothing above rounding (test_spectral_in_space).
* Time: Strang splitting is second order, global error C dt^2 from the commutator [T, V]
  (none when V = 0). For a quadratic H it is the velocity-Verlet map of the Gaussian's moments:
  the orbit's amplitude is off by (w dt)^2 / 8 and its phase by w T (w dt)^2 / 24, both below
  (w dt)^2 = 1e-6 at the problems' dt = 1e-3, w = 1, T = 1.
"""

from __future__ import annotations

import math
import sys
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
import pytest

try:
    import dsm_bench_splitstep
except ImportError:  # not pip-installed: use the example's source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "splitstep" / "src"))
    import dsm_bench_splitstep

from dsm_bench.metrics import evaluation_times
from reference import exact
from reference.exact import ExactReference
from reference.problems import get_problem
from solvers.base import SolverConfigError
from solvers.registry import interface_problems

SplitStepSolver = dsm_bench_splitstep.SplitStepSolver

STRANG_QUADRATIC = 1e-6   # (w dt)^2 with w = 1, dt = 1e-3: Strang's error bound for a quadratic H
SPECTRAL_TAIL = 1.5e-8    # e^-18: the density the grid rule leaves at the box edge and at pi / dx
EDGE_AMPLITUDE = math.exp(-9)  # sqrt of it: psi's amplitude there, relative to its peak


def relative_l2(estimate: np.ndarray, reference: np.ndarray) -> float:
    return float(np.linalg.norm(estimate - reference) / np.linalg.norm(reference))


@pytest.fixture(scope="module")
def harmonic_1d():
    problem = get_problem("harmonic_1d")
    return problem, SplitStepSolver().run(problem)


# ----------------------------------------------------------------------------- the plugin
def test_declares_the_solver_interface():
    assert interface_problems(SplitStepSolver) == []
    facts = SplitStepSolver.facts()
    assert facts["solver_label"] == "split-step Fourier (Strang)"
    assert facts["solver_deterministic"] and not facts["solver_sampler"]
    with pytest.raises(SolverConfigError, match="n_points"):
        SplitStepSolver(n_points=4)
    with pytest.raises(SolverConfigError, match="half_width"):
        SplitStepSolver(half_width=0.0)


def test_entry_point_names_the_solver_when_installed():
    found = [ep for ep in entry_points(group="dsm_bench.solvers") if ep.name == "splitstep"]
    if not found:
        pytest.skip("dsm-bench-splitstep is not pip-installed (pip install -e examples/splitstep)")
    assert found[0].load() is SplitStepSolver


def test_supports_up_to_three_dimensions():
    solver = SplitStepSolver()
    assert solver.supports(get_problem("harmonic_1d")) is None
    reason = solver.supports(get_problem("harmonic", d=4))
    assert reason is not None and "d <= 3" in reason
    assert "GiB" in SplitStepSolver(n_points=512, max_memory_gb=1e-3).supports(
        get_problem("harmonic", d=3))


def test_declines_a_box_of_infinite_walls():
    """Its grid is periodic: on box_well it would let the packet through one wall and in at
    the other, so it declines and names the solver that has the walls."""
    reason = SplitStepSolver().supports(get_problem("box_well"))
    assert reason is not None and "periodic" in reason and "grid" in reason
    assert SplitStepSolver().supports(get_problem("soft_coulomb")) is None


def test_times_must_be_stored(harmonic_1d):
    problem, solution = harmonic_1d
    with pytest.raises(ValueError, match="not stored"):
        solution.moments(np.array([problem.dt]))  # a grid time, but not an evaluation time


# ----------------------------------------------------------------------------- exact packets
@pytest.mark.parametrize("name", ["harmonic_1d", "harmonic_1d_phase"])
def test_gaussian_packet_moments(name):
    problem = get_problem(name)
    solution = SplitStepSolver().run(problem)
    times = evaluation_times(problem)
    mean, var = solution.moments(times)
    mean_ref, var_ref = ExactReference(problem).moments(times)
    # Strang's (w dt)^2 bound; the spatial part (~1e-8) is below it
    assert relative_l2(mean, mean_ref) < STRANG_QUADRATIC
    assert relative_l2(var, var_ref) < STRANG_QUADRATIC
    assert solution.grid_check["rule_met"]


def test_strang_is_second_order_in_time():
    errors = []
    for n_steps in (100, 200):
        problem = get_problem("harmonic_1d_phase", n_steps=n_steps)
        times = evaluation_times(problem)
        mean = SplitStepSolver().run(problem).moments(times)[0]
        errors.append(relative_l2(mean, ExactReference(problem).moments(times)[0]))
    # C dt^2 (1 + O(dt^2)): halving dt divides the error by 4 up to a few per cent (the time
    # error, ~3e-5 at dt = 1e-2, is 1000 times the spatial one)
    assert 3.8 < errors[0] / errors[1] < 4.2


def test_spectral_in_space(harmonic_1d):
    problem, coarse = harmonic_1d
    fine = SplitStepSolver(n_points=2 * coarse.grid.n).run(problem)
    times = evaluation_times(problem)
    # dx already resolves psi's spectrum to e^-18: halving it changes the variance only at the
    # level of that tail times the moment's weight, far below 1e-9 (no dx^p error term)
    change = np.abs(fine.moments(times)[1] - coarse.moments(times)[1]).max() / problem.s0_sq
    assert change < 1e-9


def test_marginal_density_and_energy(harmonic_1d):
    problem, solution = harmonic_1d
    times = evaluation_times(problem)[[0, 50, 100]]
    x = np.linspace(-1.9, 1.9, 777)
    rho = solution.marginal_density(x, times)
    rho_ref = ExactReference(problem).marginal_density(x, times)
    # the tail that wraps around the periodic box has amplitude <= e^-9 of psi's peak, so
    # |d rho| <= 2 |psi| |d psi| <= 2 e^-9 of the peak density
    assert np.abs(rho - rho_ref).max() / rho_ref.max() < 2 * EDGE_AMPLITUDE
    energy = solution.energy(times)
    # every factor is unitary and E is exact at t = 0 up to the spectral tail; Strang conserves
    # a modified energy, off by O((w dt)^2)
    assert abs(energy[0] / exact.initial_energy(problem) - 1) < SPECTRAL_TAIL
    assert np.abs(energy / energy[0] - 1).max() < STRANG_QUADRATIC


def test_drift_matches_the_packet(harmonic_1d):
    problem, solution = harmonic_1d
    reference = ExactReference(problem)
    for t in evaluation_times(problem)[[0, 50, 100]]:
        x = reference.sample_density(4000, float(t), seed=1)
        u, v = solution.drift(x, float(t))
        u_ref, v_ref = reference.drift(x, float(t))
        # u and v are linear in x, so linear interpolation adds nothing; grad psi / psi carries
        # the wrapped tail's e^-9 relative to psi's peak, divided by |psi| (~e^-2 at 2 sigma)
        scale = np.linalg.norm(u_ref)
        assert np.linalg.norm(u - u_ref) / scale < 10 * EDGE_AMPLITUDE
        assert np.linalg.norm(v - v_ref) / scale < 10 * EDGE_AMPLITUDE


def test_harmonic_2d_is_the_product_of_1d_packets():
    # hbar = 0.1 keeps the grid small (k ~ 1 / hbar); the packet needs a box of 2.5 at this hbar
    problem = get_problem("harmonic", d=2, hbar=0.1)
    solution = SplitStepSolver(half_width=2.5).run(problem)
    times = evaluation_times(problem)
    mean, var = solution.moments(times)
    mean_ref, var_ref = ExactReference(problem).moments(times)
    assert relative_l2(mean, mean_ref) < STRANG_QUADRATIC
    assert relative_l2(var, var_ref) < STRANG_QUADRATIC


@pytest.mark.slow
def test_harmonic_3d_is_the_product_of_1d_packets():
    problem = get_problem("harmonic", d=3, hbar=0.1)
    solution = SplitStepSolver(half_width=2.5).run(problem)
    times = evaluation_times(problem)
    mean, var = solution.moments(times)
    mean_ref, var_ref = ExactReference(problem).moments(times)
    assert relative_l2(mean, mean_ref) < STRANG_QUADRATIC
    assert relative_l2(var, var_ref) < STRANG_QUADRATIC


def test_free_singular_spreads_exactly():
    problem = get_problem("free_singular")
    solution = SplitStepSolver().run(problem)
    times = evaluation_times(problem)
    mean, var = solution.moments(times)
    var_ref = 1e-4 + 0.25 * times**2  # (hbar/m)^2 + (hbar t / (2 m s0))^2 with s0 = hbar/m
    # V = 0: the kinetic factor is the exact propagator, no time error; what is left is the
    # spectral tail (the solver refines dx until it is below e^-18)
    assert relative_l2(var[:, 0], var_ref) < SPECTRAL_TAIL
    assert np.abs(mean).max() < 1e-10  # symmetric start: zero up to rounding of the tails
    energy = solution.energy(times)
    # |psi_hat| never changes when V = 0: the energy is conserved to rounding
    assert np.abs(energy / energy[0] - 1).max() < 1e-12


# ----------------------------------------------------------------------------- bosons
@pytest.fixture(scope="module")
def bosons_2():
    problem = get_problem("bosons", d=2)
    return problem, SplitStepSolver().run(problem)


def test_bosons_grid_rule_widens_the_problem_box(bosons_2):
    problem, solution = bosons_2
    # the marginal variance reaches 0.23 by T = 1: the problem's box [-1.5, 1.5] puts 1e-6 of
    # the peak density at its edge, so the solver reruns on a wider one
    assert solution.grid.length > problem.box[1] - problem.box[0]
    assert solution.grid_check["rule_met"] and solution.grid_check["runs"] == 2


def test_bosons_center_of_mass_law(bosons_2):
    problem, solution = bosons_2
    times = evaluation_times(problem)
    mean, var = solution.center_of_mass_moments(times)
    # Kohn: T and the trap split into centre-of-mass and relative parts and the interaction is
    # relative only, so the Strang map moves X_c as the harmonic one from its ground state:
    # the (w dt)^2 bound again
    assert np.abs(var / exact.center_of_mass_variance(problem, times) - 1).max() < STRANG_QUADRATIC
    assert np.abs(mean).max() < STRANG_QUADRATIC * math.sqrt(problem.hbar / (2 * problem.d))


def test_bosons_energy_is_conserved_to_second_order():
    problem = get_problem("bosons", d=2)
    times = evaluation_times(problem)
    drifts = []
    for substeps in (1, 2):
        solution = SplitStepSolver(half_width=2.25, substeps=substeps).run(problem)
        energy = solution.energy(times)
        drifts.append(np.abs(energy / energy[0] - 1).max())
    # E(0) is the closed form up to the spectral tail
    assert abs(energy[0] / exact.initial_energy(problem) - 1) < SPECTRAL_TAIL
    # Strang conserves a modified energy E + O(dt^2), with no secular drift; its scale is
    # (E dt / hbar)^2 ~ 3e-5 here, and halving dt divides the drift by about 4
    assert drifts[0] < (exact.initial_energy(problem) * problem.dt / problem.hbar) ** 2
    assert 3.5 < drifts[0] / drifts[1] < 4.5


def test_bosons_agree_with_crank_nicolson(bosons_2):
    from solvers.grid import GridSolver

    problem, solution = bosons_2
    times = evaluation_times(problem)
    grid = GridSolver().run(problem)
    # the split-step error is ~1e-8 here (halving dt changes var by 2e-8); the difference is
    # Crank-Nicolson's: its phase error per unit time is W^3 dt^2 / 12 for a mode of frequency
    # W = E / hbar ~ 5.5 (1.4e-5), and its walls at +-1.5 reflect the 1e-6 edge density
    assert relative_l2(solution.moments(times)[1], grid.moments(times)[1]) < 1e-4
    assert np.abs(solution.moments(times)[0] - grid.moments(times)[0]).max() < 1e-4


@pytest.mark.slow
def test_bosons_3_agree_with_crank_nicolson():
    from solvers.grid import GridSolver

    problem = get_problem("bosons", d=3)
    times = evaluation_times(problem)
    solution = SplitStepSolver(n_points=50, half_width=2.5).run(problem)
    grid = GridSolver().run(problem)
    # 50^3 on [-2.5, 2.5] meets the grid rule (the default, finer grid agrees to 1e-10), so the
    # difference is Crank-Nicolson's: the marginal spreads past its walls at +-1.5 by T = 1,
    # which costs it 1.4e-3 on Kohn's centre-of-mass variance
    assert solution.grid_check["rule_met"]
    assert relative_l2(solution.moments(times)[1], grid.moments(times)[1]) < 1e-3
    _, com_var = solution.center_of_mass_moments(times)
    assert np.abs(com_var / exact.center_of_mass_variance(problem, times) - 1).max() < STRANG_QUADRATIC
