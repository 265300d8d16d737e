"""cov_err, mean_vec_err, ehrenfest_err and lost_frac (docs/metrics.md) on cases with known
answers.

The solvers are real: the oracle, the oracle with its current velocity scaled by 1.5 (a DSM
whose v-network is off), the Crank-Nicolson grid. The samplers that draw from a known law
(correlated coordinates, paths that blow up) are fixtures: real ``SamplerSolution``
subclasses whose answers are known, scored by the real metrics.
"""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from dsm_bench import metrics
from dsm_bench.ehrenfest import cumulative_trapezoid
from dsm_bench.harness.references import scored_against
from dsm_bench.norms import relative_euclidean_over_time, relative_frobenius_over_time
from reference import exact
from reference.exact import ExactReference
from reference.problems import get_problem
from reference.separable import ProductReference, split_step_line
from reports.tables import lost_path_lines
from solvers.base import Cost, SamplerSolution
from solvers.grid import GridSolver
from solvers.oracle import OracleSolution, OracleSolver


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


class ExactDraws(SamplerSolution):
    """Independent draws of the exact packet at every time, coordinates 0 and 1 correlated
    with coefficient ``rho`` (their marginals stay exact), and the paths ``blow_up`` set to
    +inf from T/2 on and ``escape`` moved 10 boxes away from T/4 on."""

    def __init__(self, problem, rho: float = 0.0, blow_up=(), escape=()):
        super().__init__(problem, Cost())
        self.reference = ExactReference(problem)
        self.rho, self.blow_up, self.escape = rho, list(blow_up), list(escape)

    def sample(self, n, seed, times):
        mean, var = self.reference.moments(times)
        z = np.random.default_rng(seed).standard_normal((n, len(times), self.problem.d))
        if self.problem.d > 1:
            z[..., 1] = self.rho * z[..., 0] + math.sqrt(1 - self.rho**2) * z[..., 1]
        paths = mean + np.sqrt(var) * z
        late, later = times >= self.problem.T / 4, times >= self.problem.T / 2
        box = self.problem.box[1] - self.problem.box[0]
        for i in (i for i in self.blow_up if i < n):
            paths[i, later] = np.inf
        for i in (i for i in self.escape if i < n):
            paths[i, late] += 10 * box
        return paths


class MomentsOnly:
    """A reference with moments and quantiles but no covariance."""

    def __init__(self, problem):
        self._exact = ExactReference(problem)
        self.moments, self.marginal_quantile = self._exact.moments, self._exact.marginal_quantile
        self.energy = self._exact.energy


class ScaledCurrentOracle(OracleSolution):
    """The oracle with v replaced by 1.5 v in its paths and in the drift it reports: a DSM
    whose v-network is off by 1.5. (Scaling u instead leaves the harmonic packet's mean
    exact, E[x] being classical, so Ehrenfest's theorem cannot see it.)"""

    scale = 1.5

    def _drift(self, x, t):
        u, v = self.reference.drift(x, t)
        return self.scale * v + self.nu * u

    def drift(self, x, t):
        u, v = super().drift(x, t)
        return u, self.scale * v


# ------------------------------------------------------------------------------ cov_err
def _diagonal(cov: np.ndarray, var: np.ndarray) -> bool:
    return (np.array_equal(np.diagonal(cov, axis1=1, axis2=2), var)
            and np.count_nonzero(cov - np.einsum("tk,kj->tkj", var, np.eye(var.shape[1]))) == 0)


def test_exact_and_product_references_give_diagonal_covariances():
    """Without interaction the coordinates are independent: both references' covariances are
    diag(var), entry for entry."""
    times = np.array([0.0, 0.5, 1.0])
    ref = get_problem("harmonic", d=3, phase=1.5).reference()
    assert ref.covariance(times).shape == (3, 3, 3)
    assert _diagonal(ref.covariance(times), ref.moments(times)[1])
    x = np.linspace(-4.0, 4.0, 256, endpoint=False)
    line = split_step_line(lambda y: 0.5 * y**2, np.exp(-(x - 1.0) ** 2) + 0j, x, hbar=1.0,
                           m=1.0, dt=0.5, n_steps=2, substeps=20)
    product = ProductReference(line, 3, lambda y: 0.5 * y**2)
    assert _diagonal(product.covariance(times), product.moments(times)[1])


def test_grid_covariance_of_interacting_bosons_obeys_kohn():
    """The interaction correlates the bosons (C_12 far from 0), yet Var X_c = sum(C) / 4 stays
    Kohn's exact law: an independent check of the off-diagonal entries to grid accuracy."""
    p = get_problem("bosons", d=2, n_steps=100)
    result = GridSolver(n_points=48, n_store_times=11).run(p).result
    times = result.times
    cov = result.covariance(times)
    assert np.allclose(cov, cov.transpose(0, 2, 1))
    assert np.allclose(np.diagonal(cov, axis1=1, axis2=2), result.moments(times)[1], rtol=1e-12)
    assert np.abs(cov[:, 0, 1]).max() > 0.1 * cov[:, 0, 0].max()
    _, com_var = p.center_of_mass_law(times)
    assert np.allclose(cov.sum((1, 2)) / 4, com_var, rtol=1e-3)


def test_sampled_cov_err_sits_at_its_sampling_floor():
    """Exact draws, independent coordinates: E||C_hat - C||_F^2 = d (d + 1) s^4 / (n - 1) per
    time against ||C||_F^2 = d s^4, so cov_err = sqrt((d + 1) / (n - 1)) up to the spread of
    a norm of d (d + 1) / 2 noisy entries (a few %); with d = 1 it is var_err. The packet is
    moved 50 widths away from 0 first: the covariance must not lose its digits to the mean."""
    d, n = 3, 2000
    p = get_problem("harmonic", d=d, n_steps=100)
    ev = metrics.evaluate(p, ExactDraws(p), **scored_against(p), n_samples=n, n_trials=6,
                          n_eval_times=21)
    assert ev.metrics["cov_err"] == pytest.approx(math.sqrt((d + 1) / (n - 1)), rel=0.1)
    p1 = get_problem("harmonic", d=1, n_steps=100)
    one = metrics.evaluate(p1, ExactDraws(p1), **scored_against(p1), n_samples=n, n_trials=2,
                           n_eval_times=21)
    # the same up to the float32 products of the covariance
    assert one.metrics["cov_err"] == pytest.approx(one.metrics["var_err"], rel=1e-4)


def test_correlated_coordinates_are_seen_by_cov_err_only():
    """Coordinates 0 and 1 correlated by rho = 0.5 with exact marginals (d = 2): var_err stays
    at its floor sqrt(2/n) = 0.03, while ||C_hat - C||_F / ||C||_F = sqrt(2 rho^2 / 2) = rho."""
    p = get_problem("harmonic", d=2, n_steps=100)
    ev = metrics.evaluate(p, ExactDraws(p, rho=0.5), **scored_against(p), n_samples=2000,
                          n_trials=3, n_eval_times=21)
    assert ev.metrics["var_err"] < 0.05
    assert ev.metrics["cov_err"] == pytest.approx(0.5, abs=0.03)


def test_cov_err_is_absent_where_the_reference_has_no_covariance():
    p = get_problem("harmonic", d=2, n_steps=100)
    ev = metrics.evaluate(p, ExactDraws(p), reference=MomentsOnly(p), reference_kind="exact",
                          n_samples=500, n_trials=2, n_eval_times=11)
    assert "var_err" in ev.metrics and "cov_err" not in ev.metrics


def test_relative_frobenius_is_one_norm_over_times_and_entries():
    ref = np.stack([np.eye(2), 2 * np.eye(2)])
    est = ref.copy()
    est[1, 0, 1] = est[1, 1, 0] = 1.0  # off-diagonal error of 1 twice, ||ref|| = sqrt(10)
    assert relative_frobenius_over_time(est, ref) == pytest.approx(math.sqrt(2 / 10))


# ------------------------------------------------------------------------- mean_vec_err
class RotatedDraws(SamplerSolution):
    """Independent exact draws of the rotated double well at every time (inverse CDFs of the
    y lines, rotated): a sampler on its floor with no time-step bias."""

    def __init__(self, problem):
        super().__init__(problem, Cost())
        self.reference = problem.reference()

    def sample(self, n, seed, times):
        rng = np.random.default_rng(seed)
        return np.stack([self.reference.sample_density(n, float(t), rng) for t in times], 1)


def _mean_vector_floor(reference, times, n: int) -> float:
    """E|m_hat(t) - m(t)|^2 = tr C(t) / n for n independent draws: the floor of mean_vec_err,
    sqrt(sum_t tr C(t) / n) / ||m||_{t,2}."""
    mean, var = reference.moments(times)
    return math.sqrt(var.sum() / n) / float(np.linalg.norm(mean))


@pytest.mark.slow
def test_mean_vec_err_sits_at_its_floor_where_the_per_coordinate_error_does_not():
    """The rotated double well at d = 10, exact draws, n = 2000: mean_vec_err is its floor
    sqrt(sum_t tr C / n) / ||m|| within 10 %: 3 sd of the mean over 4 trials, the spread of
    one trial's norm being about 7 % (21 x 10 noisy entries, correlated within a time). The
    per-coordinate mean_err divides coordinate k's noise by the norm of its own mean,
    Q_1k mu_1(t), and Q_1k is small for some k (2.6e-4 at seed 0): it reads more than 10 times
    the floor on the same draws (12.5 against 0.11)."""
    p = get_problem("double_well_rotated", d=10)
    ev = metrics.evaluate(p, RotatedDraws(p), **scored_against(p), n_samples=2000, n_trials=4,
                          n_eval_times=21)
    floor = _mean_vector_floor(p.reference(), metrics.evaluation_times(p, 21), 2000)
    assert ev.metrics["mean_vec_err"] == pytest.approx(floor, rel=0.1)
    assert ev.metrics["mean_err"] > 10 * floor


def test_mean_vec_err_is_mean_err_in_one_dimension():
    """With one coordinate the Euclidean norm is the absolute value: for a sampler per trial
    and for the grid's integrated moments alike."""
    p = get_problem("harmonic", d=1, n_steps=100)
    ev = metrics.evaluate(p, ExactDraws(p), **scored_against(p), n_samples=500, n_trials=3,
                          n_eval_times=21)
    assert ev.metrics["mean_vec_err"] == pytest.approx(ev.metrics["mean_err"], rel=1e-12)
    assert ev.metrics["mean_vec_err_std"] == pytest.approx(ev.metrics["mean_err_std"], rel=1e-9)
    grid = metrics.evaluate(p, GridSolver().run(p), **scored_against(p))
    assert grid.metrics["mean_vec_err"] == pytest.approx(grid.metrics["mean_err"], rel=1e-12)


def test_mean_vec_err_is_rotation_invariant_and_undefined_for_a_zero_mean():
    rng = np.random.default_rng(0)
    mean, estimate = rng.standard_normal((2, 11, 5))
    rotation = np.linalg.qr(rng.standard_normal((5, 5)))[0]
    error = relative_euclidean_over_time(estimate, mean)
    assert error == pytest.approx(relative_euclidean_over_time(estimate @ rotation,
                                                               mean @ rotation), rel=1e-12)
    assert error == pytest.approx(np.linalg.norm(estimate - mean) / np.linalg.norm(mean))
    assert relative_euclidean_over_time(estimate, np.zeros((11, 5))) is None


# ------------------------------------------------------------------------ ehrenfest_err
def _rms(values) -> float:
    return float(np.sqrt(np.mean(np.square(values))))


def test_ehrenfest_on_the_exact_packet_is_at_the_floor_and_a_wrong_v_is_not():
    """harmonic, d = 1, 100 steps (dt = 0.01), 2 trials x n = 10^4 paths (the drift is
    evaluated on all of them: PATH_OBSERVABLE_PATHS), 51 times. The packet: s(t) from 0.32
    down to 0.17, RMS over t >= 0.26; sigma_v(t)^2 = (hbar/2m)^2/s^2 + s'^2, RMS >= 0.15.

    Floor of the oracle, e_x. Per path R_x(t) = int u ds + sqrt(hbar/m) W_t: the Brownian
    part has sd sqrt(hbar t / m) <= 0.1 and int u ds sd <= hbar / (2 m s_min) = 0.03, so
    sd(R_x) <= 0.13 per path, over sqrt(n) and ||s||: 0.005. Euler-Maruyama moves the mean by
    explicit Euler steps: against the trapezoid, (dt/2) |<v>(t) - <v>(0)| <= 4.2e-4, over
    0.26: 0.0016. Tolerance: 3 sd + bias = 0.017.
    Floor of the oracle, e_v. Per path R_v = int [(u.grad) v - grad Q / m] ds + the
    martingale int grad v sqrt(hbar/m) dW: sd <= sqrt(hbar t/m) max|s'/s| (0.1 * 1.54) + 0.05
    = 0.2, over sqrt(n) and 0.15: 0.013. Tolerance: 3 sd = 0.04.

    v scaled by 1.5: m d<v>/dt misses -<grad V> by 0.5 m mu'', R_v = 0.5 (mu'(t) - mu'(0))
    up to 0.042: e_v about 0.1, above both tolerances and far above the oracle's value."""
    p = get_problem("harmonic", d=1, n_steps=100)
    oracle = OracleSolver().run(p)
    settings = {"n_samples": 10_000, "n_trials": 2, "n_eval_times": 51, "n_drift_samples": 100}
    exact_ev = metrics.evaluate(p, oracle, **scored_against(p), **settings)
    wrong = ScaledCurrentOracle(p, oracle.cost, nu=1.0, dtype="float32", seed=0)
    wrong_ev = metrics.evaluate(p, wrong, **scored_against(p), **settings)
    floor = exact_ev.metrics["ehrenfest_err"]
    assert _rms(exact_ev.series["ehrenfest_x"]) < 0.017
    assert _rms(exact_ev.series["ehrenfest_v"]) < 0.04
    assert wrong_ev.metrics["ehrenfest_err"] > 0.04 * 1.5
    assert wrong_ev.metrics["ehrenfest_err"] > 10 * floor


def test_grid_ehrenfest_is_at_the_trapezoid_floor():
    """The grid's E[v], Var p / m^2 and E[grad V] are the packet's mu', (hbar/2m)^2/s^2 + s'^2
    and m w^2 (mu - a) to grid accuracy, and its Ehrenfest residual is the trapezoid rule's
    on the evaluation grid (Delta = 0.01, |mu - a| <= 0.101): |R_x| <= (Delta^2/12)
    |mu''(t) - mu''(0)| <= 1.7e-6 over ||s|| >= 0.26, and |R_v| <= (Delta^2/12) w^2
    |mu'(t) - mu'(0)| <= 1.7e-6 over ||sigma_v|| >= 0.15: below 1.2e-5."""
    p = get_problem("harmonic_1d", phase=1.5)
    sol = GridSolver().run(p)
    times = metrics.evaluation_times(p)
    mean_v, var_v = sol.velocity_moments(times)
    s_sq = exact.gaussian_packet_variance(p, times)
    rate = exact.gaussian_packet_width_rate(p, times)
    assert np.allclose(mean_v[:, 0], exact.gaussian_packet_mean_velocity(p, times), atol=1e-5)
    assert np.allclose(var_v[:, 0], (p.hbar / (2 * p.m)) ** 2 / s_sq + rate**2 * s_sq,
                       rtol=1e-3)
    assert np.allclose(sol.mean_potential_gradient(times)[:, 0],
                       p.omega**2 * (exact.gaussian_packet_mean(p, times) - p.center), atol=1e-5)
    ev = metrics.evaluate(p, sol, **scored_against(p))
    assert ev.metrics["ehrenfest_err"] < 1.2e-5
    assert ev.metrics["ehrenfest_err_std"] == 0.0


def test_cumulative_trapezoid_is_exact_for_linear_integrands():
    t = np.linspace(0.0, 1.0, 11)
    assert np.allclose(cumulative_trapezoid(2 * t, t), t**2)


# ----------------------------------------------------------------------------- lost_frac
def test_a_few_lost_paths_are_counted_not_fatal():
    """3 of 1000 paths lost (two become inf at T/2, one leaves the box at T/4): lost_frac is
    0.003, the per-time series steps 0 -> 0.001 -> 0.003, and every moment is finite and
    scored on the paths that remain (at the floor of the 997 draws, as without the loss)."""
    p = get_problem("harmonic", d=2, n_steps=100)
    settings = {"n_samples": 1000, "n_trials": 3, "n_eval_times": 21}
    lossy = metrics.evaluate(p, ExactDraws(p, blow_up=(5, 600), escape=(17,)),
                             **scored_against(p), **settings)
    clean = metrics.evaluate(p, ExactDraws(p), **scored_against(p), **settings)
    m = lossy.metrics
    assert m["lost_frac"] == pytest.approx(0.003)
    assert clean.metrics["lost_frac"] == 0.0
    times = np.asarray(lossy.series["times"])
    expected = np.where(times >= p.T / 2, 0.003, np.where(times >= p.T / 4, 0.001, 0.0))
    assert np.allclose(lossy.series["lost_frac"], expected)
    for name in ("mean_err", "var_err", "cov_err", "w1_err", "w1_err_pooled", "var_err_pooled"):
        assert np.isfinite(m[name]), name
        assert m[name] == pytest.approx(clean.metrics[name], rel=0.2), name
    assert np.isfinite(lossy.series["mean"]).all() and np.isfinite(lossy.series["var"]).all()
    assert not lossy.notes  # under 1 %: no flag


def test_more_than_one_percent_lost_is_flagged_and_all_lost_fails():
    p = get_problem("harmonic", d=2, n_steps=100)
    settings = {"n_samples": 1000, "n_trials": 2, "n_eval_times": 21}
    ev = metrics.evaluate(p, ExactDraws(p, blow_up=range(30)), **scored_against(p), **settings)
    assert ev.metrics["lost_frac"] == pytest.approx(0.03)
    assert any("lost 3.0% of its sampled paths" in note for note in ev.notes)
    ok = metrics.evaluate(p, ExactDraws(p, blow_up=(1,)), **scored_against(p), **settings)
    table = pd.DataFrame([{"solver": "fixture", "problem": "harmonic", "d": 2, "seed": seed,
                           "status": "ok", "lost_frac": e.metrics["lost_frac"]}
                          for seed, e in ((0, ev), (1, ok))])
    lines = lost_path_lines(table)
    assert len(lines) == 1 and "seed 0: lost 3.0%" in lines[0] and "more than 1%" in lines[0]
    with pytest.raises(FloatingPointError, match="1000 of 1000 sampled paths .* t = 0.5"):
        metrics.evaluate(p, ExactDraws(p, blow_up=range(1000)), **scored_against(p), **settings)


def test_a_grid_without_psi_has_no_covariance_nor_ehrenfest_and_does_not_fail():
    """psi not stored (store_psi=False): the metrics that need it are absent, the row is
    scored on the rest."""
    p = get_problem("bosons", d=2, n_steps=100)
    sol = GridSolver(n_points=48, n_store_times=11, store_psi=False).run(p)
    ev = metrics.evaluate(p, sol, n_eval_times=11)
    assert "energy_drift" in ev.metrics
    assert "ehrenfest_err" not in ev.metrics and "cov_err" not in ev.metrics


@pytest.mark.slow
def test_the_report_flags_a_run_that_lost_more_than_one_percent(tmp_path):
    """A results directory on disk (test_report's synthetic rows) where DSM lost 5 % of its
    paths and the oracle none: the built report flags DSM's run, and only it."""
    from test_report import _row, _write

    from reports import build

    dsm, artifact = _row("dsm", "harmonic_1d", 1, 0)
    dsm["lost_frac"] = artifact["row"]["lost_frac"] = 0.05
    oracle = _row("oracle", "harmonic_1d", 1, 0)
    oracle[0]["lost_frac"] = oracle[1]["row"]["lost_frac"] = 0.0
    _write(tmp_path, [(dsm, artifact), oracle])
    report = (build.build_report(tmp_path, tmp_path / "out") / "report.md").read_text()
    flagged = [line for line in report.splitlines() if "of its sampled paths" in line]
    assert "Flag: runs that lost sampled paths" in report
    assert len(flagged) == 1 and "dsm on harmonic_1d, d = 1, seed 0: lost 5.0%" in flagged[0]
