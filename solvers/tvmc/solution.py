"""The t-VMC solution: the variational states stored at every time step.

Samples are drawn iid by importance resampling (sampling-importance-resampling) rather than by
NetKet's Markov chains: the harness asks for 10 trials x 10^4 samples at 101 times, and
independent draws need no burn-in or autocorrelation control, are reproducible from the seed
alone, and cost one evaluation of log psi per proposal. The repulsion spreads the bosons to
several times their initial variance, so the proposal follows the state: pilot draws estimate
the mean and covariance of |psi_t|^2, and the proposal is N(mean, 2 cov) (heavier tails than
the target). The weights are |psi_t|^2 / q, and the effective sample size is checked.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from reference.problems import Problem
from solvers.base import Cost, SamplerSolution

__all__ = ["TVMCSolution"]

# proposal covariance / target covariance: per direction the effective sample size of a Gaussian
# target N(0, s^2) under N(0, c s^2) is sqrt(2c - 1)/c = 0.87 of the draws at c = 2
PROPOSAL_VARIANCE_FACTOR = 2.0
# the pilot that fits the proposal: its weighted moments only need to be right to ~10%
PILOT_DRAWS = 8192
PILOT_ROUNDS = 2
LADDER_TIME = 0.01  # time between two rungs of the proposal ladder
EVAL_BATCH = 65_536


class TVMCSolution(SamplerSolution):
    """States psi_k at the step times t_k = k dt, k = 0 .. steps done; ``horizon`` is the last
    time reached (T unless the budget stopped the integration)."""

    def __init__(self, problem: Problem, cost: Cost, history: pd.DataFrame | None, *,
                 log_psi: Callable, unravel: Callable, parameters: list[np.ndarray], dt: float,
                 seed: int, oversampling: int):
        super().__init__(problem, cost, history)
        self._log_psi = jax.jit(log_psi)
        self._unravel = unravel
        self.parameters = parameters  # flat complex parameter vector per step
        self.dt = float(dt)
        self.seed = int(seed)
        self.oversampling = int(oversampling)
        self.min_ess_fraction = math.inf  # smallest ESS / draws seen by sample()
        self._proposals: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        grad_re = jax.grad(lambda p, x: jnp.real(log_psi(p, x)), argnums=1)
        grad_im = jax.grad(lambda p, x: jnp.imag(log_psi(p, x)), argnums=1)
        self._grads = jax.jit(jax.vmap(lambda p, x: (grad_re(p, x), grad_im(p, x)),
                                       in_axes=(None, 0)))

    @property
    def horizon(self) -> float:
        return (len(self.parameters) - 1) * self.dt

    def _step(self, t: float) -> int:
        k = int(round(float(t) / self.dt))
        if k >= len(self.parameters) or k < 0:
            raise ValueError(
                f"tvmc: no state at t={float(t):g}: the integration reached t={self.horizon:g} of "
                f"T={self.problem.T:g} ({self.cost.iters} steps, stopped by "
                f"{self.cost.stop_reason}); give it a larger time budget")
        return k

    def _params(self, k: int) -> Any:
        return self._unravel(jnp.asarray(self.parameters[k]))

    def log_amplitude(self, x: np.ndarray, t: float) -> np.ndarray:
        """log psi_t(x) (complex, unnormalised) for x (n, d)."""
        return self._log_amplitude(x, self._step(t))

    def _log_amplitude(self, x: np.ndarray, k: int) -> np.ndarray:
        params = self._params(k)
        out = [np.asarray(self._log_psi(params, jnp.asarray(x[i:i + EVAL_BATCH])))
               for i in range(0, len(x), EVAL_BATCH)]
        return np.concatenate(out) if out else np.zeros(0, complex)

    def _draw(self, k: int, mean: np.ndarray, chol: np.ndarray, draws: int,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Draws x = mean + chol z from the Gaussian proposal and their normalised importance
        weights |psi_k(x)|^2 / q(x) (log q = -|z|^2 / 2 + const)."""
        z = rng.standard_normal((draws, len(mean)))
        x = mean + z @ chol.T
        log_w = 2.0 * self._log_amplitude(x, k).real + 0.5 * (z**2).sum(-1)
        w = np.exp(log_w - log_w.max())
        return x, w / w.sum()

    def proposal(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(mean, Cholesky factor of the covariance) of the Gaussian proposal at step k. Pilot
        draws with a fixed seed refine the proposal of the previous rung of a fixed ladder of
        steps (the state moves little between rungs; at k = 0 the start's N(center, 2 s0^2 I))
        by its weighted moments, twice; so sample() depends on k and the seeds only. The full
        covariance matters: the repulsion anti-correlates the particles, whose centre of mass
        stays narrow while each coordinate spreads."""
        if k not in self._proposals:
            p = self.problem
            rung = max(1, round(LADDER_TIME / self.dt))
            if k == 0:
                mean, chol = np.full(p.d, p.center), math.sqrt(2 * p.s0_sq) * np.eye(p.d)
            else:
                previous = (k - 1) // rung * rung
                for j in range(0, previous, rung):  # fill the ladder bottom-up (no recursion)
                    self.proposal(j)
                mean, chol = self.proposal(previous)
            rng = np.random.default_rng([self.seed, k, 1])
            for _ in range(PILOT_ROUNDS):
                x, w = self._draw(k, mean, chol, PILOT_DRAWS, rng)
                mean = w @ x
                cov = (w[:, None] * (x - mean)).T @ (x - mean)
                chol = np.linalg.cholesky(PROPOSAL_VARIANCE_FACTOR * cov
                                          + 1e-12 * np.trace(cov) * np.eye(p.d))
            self._proposals[k] = (mean, chol)
        return self._proposals[k]

    def sample(self, n: int, seed: int, times: np.ndarray) -> np.ndarray:
        p = self.problem
        steps = [self._step(t) for t in times]  # fail before any work when out of range
        rng = np.random.default_rng([int(seed), self.seed])
        draws = self.oversampling * n
        out = np.empty((n, len(times), p.d))
        for j, k in enumerate(steps):
            x, w = self._draw(k, *self.proposal(k), draws, rng)
            ess = 1.0 / np.sum(w**2)
            self.min_ess_fraction = min(self.min_ess_fraction, ess / draws)
            if ess < n:
                warnings.warn(f"tvmc: importance resampling at t={float(times[j]):g} has an "
                              f"effective sample size {ess:.0f} < {n} samples; raise "
                              "sample_oversampling", RuntimeWarning, stacklevel=2)
            # systematic resampling: each draw is repeated about n w_i times
            picks = np.searchsorted(np.cumsum(w), (rng.random() + np.arange(n)) / n)
            out[:, j] = x[np.minimum(picks, draws - 1)]
        return out

    def drift(self, x: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """u = (hbar/m) Re grad log psi, v = (hbar/m) Im grad log psi (|psi|^2 = e^{2 Re log psi})."""
        x = np.asarray(x, dtype=float)
        t = np.broadcast_to(np.asarray(t, dtype=float), x.shape[:-1])
        u, v = np.empty_like(x), np.empty_like(x)
        steps = np.array([self._step(s) for s in np.unique(t)])
        for k in steps:
            rows = np.flatnonzero(np.rint(t / self.dt).astype(int) == k)
            re, im = self._grads(self._params(int(k)), jnp.asarray(x[rows]))
            u[rows], v[rows] = np.asarray(re), np.asarray(im)
        factor = self.problem.hbar / self.problem.m
        return factor * u, factor * v
