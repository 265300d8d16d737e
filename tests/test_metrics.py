"""Metrics on cases with known answers."""

import math

import numpy as np
import pytest

from dsm_bench import metrics
from dsm_bench.harness.references import scored_against
from reference.exact import ExactReference, gaussian_packet_mean, gaussian_packet_variance
from reference.problems import get_problem
from solvers.base import Cost, DensitySolution, SamplerSolution


class ExactDensitySolution(DensitySolution):
    """A density 'solver' that returns the exact packet: every error must be ~0."""

    def __init__(self, problem, shift=0.0):
        super().__init__(problem, Cost())
        self.ref = ExactReference(problem)
        self.shift = shift

    def moments(self, times):
        mean, var = self.ref.moments(times)
        return mean + self.shift, var

    def marginal_density(self, x, times):
        return self.ref.marginal_density(np.asarray(x) - self.shift, times)

    def drift(self, x, t):
        return self.ref.drift(x, t)

    def energy(self, times):
        return self.ref.energy(times)


class ExactMarginalSampler(SamplerSolution):
    """Independent draws from the exact marginal at each time: a perfect sampler whose only
    error is sampling noise (its paths are not trajectories, which the metrics do not need)."""

    def __init__(self, problem):
        super().__init__(problem, Cost())

    def sample(self, n, seed, times):
        rng = np.random.default_rng(seed)
        mu = gaussian_packet_mean(self.problem, np.asarray(times))
        s = np.sqrt(gaussian_packet_variance(self.problem, np.asarray(times)))
        z = rng.standard_normal((n, len(times), self.problem.d))
        return mu[None, :, None] + s[None, :, None] * z


def test_identical_inputs_give_zero():
    ref = np.random.default_rng(0).normal(size=(50, 3)) + 2
    value, kind = metrics.relative_l2_over_time(ref, ref)
    assert value == 0.0 and kind == "relative"
    x = np.linspace(-5, 5, 1001)
    rho = np.exp(-(x**2) / 2)
    assert metrics.wasserstein1_densities(x, rho, rho) == 0.0
    assert metrics.energy_drift(np.full(10, 3.0)) == 0.0


def test_relative_l2_known_value_and_zero_reference():
    ref = np.ones((4, 1)) * 2.0
    est = ref * 1.1
    assert metrics.relative_l2_over_time(est, ref)[0] == pytest.approx(0.1)
    # reference identically 0 -> absolute L2 / sqrt(n_times) (the RMS), labelled absolute
    value, kind = metrics.relative_l2_over_time(np.full((4, 2), 0.3), np.zeros((4, 2)))
    assert kind == "absolute" and value == pytest.approx(0.3)


@pytest.mark.parametrize("delta", [0.05, 0.3, 1.0])
def test_w1_of_equal_width_gaussians_is_the_distance_of_means(delta):
    x = np.linspace(-8, 9, 8001)
    a = np.exp(-(x**2) / 2)
    b = np.exp(-((x - delta) ** 2) / 2)
    # trapezoid on dx = 2e-3: second-order error, far below 1e-6
    assert metrics.wasserstein1_densities(x, a, b) == pytest.approx(delta, abs=1e-6)
    # samples of N(0, 1) against the quantiles of N(delta, 1); sampling noise of W1 is of order
    # 1/sqrt(n) = 1e-3 at n = 10^6, the 5e-3 tolerance is 5 such units
    from scipy.special import ndtri

    n = 1_000_000
    samples = np.random.default_rng(1).standard_normal(n)
    quantiles = delta + ndtri((np.arange(n) + 0.5) / n)
    assert metrics.wasserstein1_samples(samples, quantiles) == pytest.approx(delta, abs=5e-3)


class LateDriftSolution(ExactDensitySolution):
    """The exact packet, but its osmotic velocity is 10 % too large after t = T / 2."""

    def drift(self, x, t):
        u, v = self.ref.drift(x, t)
        return np.where(np.asarray(t)[:, None] > self.problem.T / 2, 1.1 * u, u), v


def test_drift_error_over_time_locates_the_error():
    p = get_problem("harmonic", d=2)
    ev = metrics.evaluate(p, LateDriftSolution(p), **scored_against(p), n_eval_times=11)
    u_t, v_t = np.array(ev.series["u_err_t"]), np.array(ev.series["v_err_t"])
    # u off by exactly 10 % at every point after T / 2: its relative error there is 0.1
    np.testing.assert_allclose(u_t[6:], 0.1, rtol=1e-12)
    assert (u_t[:6] == 0).all() and (v_t[1:] == 0).all()
    assert v_t[0] is None  # the packet starts at rest: no relative error of v = 0 at t = 0
    # the total weighs each time by its E|u|^2: the early half adds norm but no error
    assert 0.05 < ev.metrics["u_err"] < 0.1


def test_evaluation_times_are_a_fixed_subsample_of_the_grid():
    p = get_problem("harmonic_1d")
    t = metrics.evaluation_times(p, 101)
    assert len(t) == 101 and t[0] == 0.0 and t[-1] == p.T
    np.testing.assert_allclose(t, p.times[::10])
    assert len(metrics.evaluation_times(get_problem("free_singular"), 101)) == 101


def test_exact_density_solution_scores_zero_and_shift_is_detected():
    p = get_problem("harmonic_1d_phase")
    ev = metrics.evaluate(p, ExactDensitySolution(p), **scored_against(p))
    m = ev.metrics
    assert m["mean_err"] < 1e-14 and m["var_err"] < 1e-14
    # W1 from grid CDFs of identical densities: exactly 0 up to roundoff
    assert m["w1_err"] < 1e-12
    assert m["u_err"] < 1e-14 and m["v_err"] < 1e-14 and m["energy_drift"] == 0.0
    assert max(ev.series["u_err_t"]) < 1e-14 and len(ev.series["u_err_t"]) == 101
    shifted = metrics.evaluate(p, ExactDensitySolution(p, shift=0.01), **scored_against(p)).metrics
    # a rigid shift by 0.01 moves every marginal by W1 = 0.01 (grid dx = 4/2048 resolves it
    # to second order)
    assert shifted["w1_err"] == pytest.approx(0.01, rel=1e-3)
    assert shifted["mean_err"] > 0.1


def test_sampling_noise_of_mean_err_shrinks_as_inverse_sqrt_n():
    p = get_problem("harmonic", d=2)
    sampler = ExactMarginalSampler(p)
    small = metrics.evaluate(p, sampler, **scored_against(p), n_samples=1_000, n_trials=12, seed=0).metrics
    large = metrics.evaluate(p, sampler, **scored_against(p), n_samples=16_000, n_trials=12, seed=100).metrics
    ratio = small["mean_err"] / large["mean_err"]
    # expected ratio sqrt(16) = 4; each figure is a mean over 12 trials x 2 coordinates of a
    # chi-like norm over 101 independent times, whose relative spread is ~ 1/sqrt(2 * 101 * 24)
    # ~ 1.4 %: 3.5 .. 4.5 is a > 5-sigma band
    assert 3.5 < ratio < 4.5
    # W1 noise of a perfect sampler also shrinks ~ 1/sqrt(n)
    assert 3.0 < small["w1_err"] / large["w1_err"] < 5.0
    assert small["n_samples"] == 1_000 and small["n_trials"] == 12


def test_stochastic_mechanics_energy_of_ground_state():
    p = get_problem("bosons", d=2, g=0.0)
    x = p.sample_initial(200_000, seed=3)
    e = metrics.stochastic_mechanics_energy(p, x, p.u0(x), p.v0(x))
    # ground state energy n hbar w / 2 = 0.1; MC standard error ~ 2e-4
    assert e == pytest.approx(0.1, abs=1.5e-3)
    assert math.isfinite(e)


def test_importance_sampled_moments_record_their_ess_and_warn_below_the_threshold():
    """A density solution that reports its effective sample size: the row gets ess_min, and a
    note when it is below ESS_RELIABLE (the moments rest on a few points)."""
    from dsm_bench.metrics import evaluate
    from dsm_bench.schema import ESS_RELIABLE
    from reference.exact import ExactReference
    from reference.problems import get_problem

    problem = get_problem("harmonic_1d")

    class Weighted:  # the exact density with a chosen ESS per time (duck-typed: not a sampler)
        def __init__(self, ess_at_end):
            self.reference, self.ess_at_end = ExactReference(problem), ess_at_end

        def moments(self, times):
            return self.reference.moments(times)

        def marginal_density(self, x, times):
            return self.reference.marginal_density(x, times)

        def importance_ess(self, times):
            return np.linspace(5000, self.ess_at_end, len(times))

        def has(self, capability):
            return False

    good = evaluate(problem, Weighted(4000), **scored_against(problem), n_eval_times=11)
    assert good.metrics["ess_min"] == 4000 and good.notes == []
    weak = evaluate(problem, Weighted(ESS_RELIABLE / 2), **scored_against(problem), n_eval_times=11)
    assert weak.metrics["ess_min"] == ESS_RELIABLE / 2
    assert weak.notes == [f"unreliable moments: importance-sampling ESS min 50 < {ESS_RELIABLE} at t=1"]
