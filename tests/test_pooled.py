"""Pooled errors and the excess over the sampling floor, on cases with known answers.

The samplers are real: the oracle (``solvers.oracle``) and a test double of it whose osmotic
velocity is scaled by a known factor c, scored by the real metrics. For the harmonic packet
the Euler-Maruyama chain with the affine drift v + nu c u has Gaussian marginals whose mean
and variance follow a two-line recursion (``_em_moments``), which gives the analytic excess.
"""

import numpy as np
import pytest
import torch

from dsm_bench import metrics
from dsm_bench.harness.references import scored_against
from dsm_bench.pooled import (
    TrialMoments,
    excess_over_floor,
    pooled_errors,
    pooled_w1_error,
    relative_l2_batch,
)
from reference import exact
from reference.exact import ExactReference
from reference.problems import get_problem
from solvers.base import Cost, SamplerSolution
from solvers.oracle import OracleSolution, OracleSolver


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


class ScaledOsmoticOracle(OracleSolution):
    """The oracle with u replaced by c u: the drift of a DSM whose u-network is off by c."""

    scale = 1.5

    def _drift(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        u = exact.osmotic_velocity(self.problem, x, t)
        return exact.current_velocity(self.problem, x, t) + self.nu * self.scale * u


def _em_moments(problem, scale: float, nu: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of one coordinate of the Euler-Maruyama chain on the problem's grid.

    The drift b(x, t) = v + nu c u is affine in x with slope s(t) = s'/s - nu c hbar / (2 m s^2)
    (``reference.exact``), so X_{i+1} - E X_{i+1} = (1 + dt s_i)(X_i - E X_i) + noise and

        m_{i+1} = m_i + dt b(m_i, t_i),   V_{i+1} = (1 + dt s_i)^2 V_i + nu (hbar / m) dt,

    exactly (the chain stays Gaussian), Euler-Maruyama's O(dt) bias included."""
    dt, m, var = problem.dt, problem.mu0, problem.s0_sq
    means, variances = [m], [var]
    for i in range(problem.n_steps):
        t = np.array([i * dt])
        slope = (exact.gaussian_packet_width_rate(problem, t[0])
                 - nu * scale * problem.hbar / (2 * problem.m)
                 / exact.gaussian_packet_variance(problem, t[0]))
        x = np.array([[m]])
        drift = exact.current_velocity(problem, x, t) + nu * scale * exact.osmotic_velocity(
            problem, x, t)
        m = m + dt * float(drift[0, 0])
        var = (1 + dt * slope) ** 2 * var + nu * problem.diffusion * dt
        means.append(m)
        variances.append(var)
    return np.array(means), np.array(variances)


def _expected_var_err_pooled(problem, scale: float, times: np.ndarray, n_pooled: int) -> float:
    """E var_err_pooled ~ sqrt(||V - s^2||^2 + sum_t Var(v_hat(t))) / ||s^2||: the chain's
    bias and the pooled estimator's noise add in quadrature (the noise has mean 0), with
    Var(v_hat) = 2 V^2 / n_pooled for Gaussian marginals."""
    idx = np.rint(times / problem.dt).astype(int)
    _, var = _em_moments(problem, scale)
    var = var[idx]
    exact_var = exact.gaussian_packet_variance(problem, times)
    squared = np.sum((var - exact_var) ** 2) + np.sum(2 * var**2 / n_pooled)
    return float(np.sqrt(squared) / np.linalg.norm(exact_var))


def test_batched_relative_l2_is_the_metric():
    rng = np.random.default_rng(0)
    ref = np.stack([np.linspace(1, 2, 11), np.zeros(11)], axis=1)  # one zero coordinate
    est = ref + 0.01 * rng.standard_normal((3, 11, 2))
    batch = relative_l2_batch(est, ref)
    for b in range(3):
        assert batch[b] == pytest.approx(metrics.relative_l2_over_time(est[b], ref)[0], rel=1e-12)


def test_known_bias_is_recovered_and_noise_alone_is_not_resolved():
    """Synthetic trial moments: trials of a solver whose variance is (1 + 0.02) x the reference,
    and of a floor without bias, on shared noise (common random numbers)."""
    rng = np.random.default_rng(1)
    k, t = 10, 51
    ref_var = np.linspace(1.0, 0.5, t)[:, None]
    ref_mean = np.linspace(0.1, 0.2, t)[:, None]
    noise = 1e-3 * rng.standard_normal((k, t, 1))
    floor = TrialMoments(ref_mean + noise, ref_var + noise, ref_mean, ref_var)
    solver = TrialMoments(ref_mean + noise, 1.02 * ref_var + noise, ref_mean, ref_var)
    ex = excess_over_floor([(solver, floor)], n_boot=500)
    # var_err_pooled(solver) = ||0.02 v + e|| / ||v|| and the floor's ||e|| / ||v||, with the
    # pooled noise e ~ 1e-3 / sqrt(10): the excess is 0.02 up to ~ |e| / |v| ~ 3e-4
    assert ex["var"].value == pytest.approx(0.02, abs=1e-3)
    assert ex["var"].lo <= 0.02 + 1e-3 and ex["var"].hi >= 0.02 - 1e-3
    assert ex["var"].resolved
    # identical means: the excess is exactly 0 in every bootstrap replicate
    assert ex["mean"].value == 0.0 and not ex["mean"].resolved
    # a floor against an independent noise draw of itself: not distinguishable
    other = TrialMoments(ref_mean + 1e-3 * rng.standard_normal((k, t, 1)),
                         ref_var + 1e-3 * rng.standard_normal((k, t, 1)), ref_mean, ref_var)
    same = excess_over_floor([(other, floor)], n_boot=500)
    assert not same["var"].resolved and not same["mean"].resolved


def test_pooling_divides_the_noise_of_a_perfect_sampler():
    """The oracle's pooled variance error is the norm of noise pooled over K trials x d
    exchangeable coordinates: about 1/sqrt(K d) of the per-trial one (K d = 16 here; the
    per-trial noise is close to its Gaussian size sqrt(2 / n))."""
    p = get_problem("harmonic", d=2, n_steps=100)
    oracle = OracleSolver().run(p)
    m = metrics.evaluate(p, oracle, **scored_against(p),
        n_samples=1000, n_trials=8, seed=0, n_eval_times=21,
                         n_drift_samples=200).metrics
    ratio = m["var_err"] / m["var_err_pooled"]
    # sqrt(16) = 4 for independent noise; a norm over 21 strongly correlated times of one set
    # of paths has few degrees of freedom, so the realised ratio scatters by a factor ~2
    assert 2.0 < ratio < 10.0
    series = metrics.evaluate(p, oracle, **scored_against(p),
        n_samples=200, n_trials=3, seed=0, n_eval_times=21,
                              n_drift_samples=200).series
    moments = TrialMoments.from_series(series)
    assert moments.mean.shape == (3, 21, 1)  # coordinates pooled: harmonic is exchangeable
    assert pooled_errors(moments)["var_err_pooled"] >= 0


def _scored_pair(problem, solution_a, solution_b, **evaluation):
    a = metrics.evaluate(problem, solution_a, **scored_against(problem), **evaluation)
    b = metrics.evaluate(problem, solution_b, **scored_against(problem), **evaluation)
    return a, b, excess_over_floor([(TrialMoments.from_series(a.series),
                                     TrialMoments.from_series(b.series))], n_boot=1000)


def test_oracle_against_itself_on_two_seeds_is_on_the_floor():
    """Two independent draws of the floor: the excess interval contains 0."""
    p = get_problem("harmonic", d=1, n_steps=100)
    first, second = OracleSolver(seed=0).run(p), OracleSolver(seed=1).run(p)
    _, _, ex = _scored_pair(p, first, second, n_samples=1000, n_trials=8, seed=0,
                            n_eval_times=21, n_drift_samples=200)
    for moment in ("mean", "var"):
        assert ex[moment].lo <= 0.0 <= ex[moment].hi, (moment, ex[moment])


@pytest.mark.slow
def test_scaled_osmotic_velocity_gives_its_analytic_excess():
    """u scaled by c = 1.5 (d = 3, 100 steps, 10 trials x 4000 samples, coordinates pooled:
    1.2e5 samples a time): the measured excess of var_err_pooled over the oracle's, on common
    random numbers, has the analytic excess in its 95 % interval. c = 1.5, not 1.05: at
    100 steps the chain's O(dt) bias (0.4 %) and c = 1.05's model error (a few 0.1 %) cancel
    in part, and at this sample count the pooled noise (0.4 %) would hide either."""
    p = get_problem("harmonic", d=3, n_steps=100)
    oracle = OracleSolver().run(p)
    scaled = ScaledOsmoticOracle(p, oracle.cost, nu=1.0, dtype="float32", seed=0)
    n, k = 4000, 10
    _, _, ex = _scored_pair(p, scaled, oracle, n_samples=n, n_trials=k, seed=0,
                            n_eval_times=101, n_drift_samples=200)
    times = metrics.evaluation_times(p, 101)
    n_pooled = (n - 1) * k * p.d  # unbiased variances of n samples: 2 V^2 / (n - 1) each
    analytic = (_expected_var_err_pooled(p, ScaledOsmoticOracle.scale, times, n_pooled)
                - _expected_var_err_pooled(p, 1.0, times, n_pooled))
    assert ex["var"].resolved
    assert ex["var"].lo <= analytic <= ex["var"].hi, (analytic, ex["var"])


class WidenedMarginalSampler(SamplerSolution):
    """Independent draws of N(m(t), ((1 + eps) s(t))^2) in every coordinate at every time:
    the exact marginal with its width off by 1 + eps, so its W1 to the exact marginal is
    eps s(t) E|Z| = eps s(t) sqrt(2/pi). Draws are independent across times (not paths),
    so the noise of the metrics is independent across evaluation times."""

    def __init__(self, problem, eps: float):
        super().__init__(problem, Cost())
        self.eps = eps
        self.reference = ExactReference(problem)

    def sample(self, n, seed, times):
        mean, var = self.reference.moments(times)
        z = np.random.default_rng(seed).standard_normal((n, len(times), self.problem.d))
        return mean + (1.0 + self.eps) * np.sqrt(var) * z


def test_pooled_w1_averages_quantiles_over_exchangeable_coordinates_only():
    """Two coordinates whose averaged quantiles sit +delta and -delta from the reference:
    pooled over coordinates the shifts cancel (exchangeable marginals have the same law, so
    opposite shifts are noise); kept apart, each is a W1 of delta."""
    q = np.linspace(-2.0, 2.0, 50)
    ref = np.broadcast_to(q, (3, 2, 50))
    shifted = ref + np.array([0.1, -0.1])[None, :, None]
    assert pooled_w1_error(shifted, ref, exchangeable=True) == pytest.approx(0.0, abs=1e-15)
    assert pooled_w1_error(shifted, ref, exchangeable=False) == pytest.approx(0.1, rel=1e-12)


# Noise of W1 against a Gaussian quantile function, in units sigma / sqrt(N) for N pooled
# samples: sqrt(N) (Q_bar - Q) tends to the process B(Phi(x)) (B a Brownian bridge), so
#   * a sampler with no error: W1 ~ int |B(Phi(x))| dx, mean sqrt(2/pi) int sqrt(Phi (1 - Phi)) dx
#     = 1.288 and sd 0.445 (its second moment from E|X||Y| = (2/pi) s_X s_Y (sqrt(1 - r^2)
#     + r arcsin r) integrated over the bridge's covariance);
#   * a model error |a(q)| well above the noise: W1 - W1_exact ~ int sign(x) B(Phi(x)) dx, sd 0.603.
# Finite n moves the mean by the order statistics' bias, mean_i |E X_(i) - Phi^-1(q_i)| ~ 0.5 / n.
_NOISE_W1_MEAN, _NOISE_W1_SD, _SIGNED_SD = 1.288, 0.445, 0.603


def test_pooled_w1_recovers_a_known_width_error():
    """eps = 0.05 (harmonic, d = 1, 21 times, 10 trials x 20,000 samples):
    w1_err_pooled = eps sqrt(2/pi) mean_t s(t)."""
    p = get_problem("harmonic", d=1, n_steps=100)
    eps, n, k = 0.05, 20_000, 10
    m = metrics.evaluate(p, WidenedMarginalSampler(p, eps), **scored_against(p),
        n_samples=n, n_trials=k, seed=0,
                         n_eval_times=21, n_drift_samples=200).metrics
    times = metrics.evaluation_times(p, 21)
    s = np.sqrt(ExactReference(p).moments(times)[1][:, 0])
    expected = eps * np.sqrt(2 / np.pi) * s.mean()
    # Per time the pooled noise (N = n k = 2e5) shifts the value by sd 0.603 (1 + eps) s / sqrt(N)
    # = 1.4e-3 s; the 21 independent times average it to ~3e-4 s. The noise bias
    # E|a + e| - |a| = 2 sd phi(a / sd) - 2 |a| Phi(-|a| / sd) (positive) matters only where
    # |a| = eps s |z| < sd(e), |z| < 0.06: 7e-5 s averaged over the levels.
    # The order statistics' bias (0.5 s / n) adds 2.5e-5 s. 4 sd + 1e-4 s = 1.3e-3 s, 3.4 % of
    # eps sqrt(2/pi) s = 0.040 s.
    sd = _SIGNED_SD * (1 + eps) * np.sqrt(np.mean(s**2) / len(times) / (n * k))
    assert m["w1_err_pooled"] == pytest.approx(expected, abs=4 * sd + 1e-4 * s.mean())
    # convexity of |.|: the W1 of the averaged quantile function is never above the average
    # of the trials' W1, draw by draw
    assert m["w1_err_pooled"] <= m["w1_err"] + 1e-12


def test_pooled_w1_of_an_exact_sampler_is_its_noise_divided_by_sqrt_k_d():
    """No model error (harmonic, d = 2 exchangeable coordinates, 101 times, 8 trials x 5,000
    samples): w1_err is the noise of n samples and w1_err_pooled that of n K d, sqrt(16) = 4
    times less."""
    p = get_problem("harmonic", d=2, n_steps=100)
    n, k = 5000, 8
    m = metrics.evaluate(p, WidenedMarginalSampler(p, 0.0), **scored_against(p),
        n_samples=n, n_trials=k, seed=0,
                         n_eval_times=101, n_drift_samples=200).metrics
    times = metrics.evaluation_times(p, 101)
    s = np.sqrt(ExactReference(p).moments(times)[1][:, 0])
    # each is a mean over 101 independent times (and, per trial, over k d = 16 independent
    # curves) of 1.288 s / sqrt(N) with relative sd 0.445 / 1.288 = 0.35: 4 sd is 14 % pooled
    # (N = n k d) and 3.5 % per trial (N = n); the order statistics' bias adds at most 0.5 s / n
    spread = _NOISE_W1_SD / _NOISE_W1_MEAN * np.sqrt(np.mean(s**2)) / s.mean() / np.sqrt(len(times))
    for value, size, curves in ((m["w1_err_pooled"], n * k * p.d, 1), (m["w1_err"], n, k * p.d)):
        expected = _NOISE_W1_MEAN * s.mean() / np.sqrt(size)
        assert value == pytest.approx(expected, abs=4 * spread / np.sqrt(curves) * expected
                                      + 0.5 * s.mean() / n)
    # the ratio is sqrt(k d) = 4 up to 4 sd of both, in quadrature (14 %), and the pooled
    # value's bias (0.5 s / n against 1.288 s / sqrt(n k d): 2 %)
    assert 3.35 < m["w1_err"] / m["w1_err_pooled"] < 4.6
