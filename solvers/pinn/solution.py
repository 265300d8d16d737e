"""The PINN's answer: psi(x, t) from the trained net, and integrals of |psi|^2.

The trained net is a density-based Solution: |psi|^2, normalised where it is integrated (the
PINN does not conserve the norm exactly), gives moments and marginals; on a grid of the box for
d <= 3 and by self-normalised importance sampling above (proposal: the exact Gaussian packet
density when the problem has one, else N(mu0, s0^2 I)). The drifts follow from psi by autograd:

    u = (hbar / 2m) grad log |psi|^2 = (hbar / m) Re(grad psi / psi),
    v = (hbar / m) Im(grad psi / psi),

and the energy is E(t) = E_rho[m/2 (|u|^2 + |v|^2) + V] = <psi|H|psi> / <psi|psi>. The same
fields give Ehrenfest's averages (E[v] and Var p / m^2 = E[u^2 + v^2] - E[v]^2), and the rule
gives E[grad V] and the covariance of x.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from reference.problems import Problem
from solvers.base import Cost, DensitySolution

__all__ = ["DEFAULT_GRID_POINTS", "INTEGRATIONS", "PINNSolution"]

INTEGRATIONS = ("auto", "grid", "importance")
# points per axis of the evaluation grid (d <= 3) when grid_points = 0: the packet's smallest
# standard deviation on the harmonic problems over t in [0, 1] is 0.17, so dx = 4/2048 in 1-D
# is far below it; in 2-D and 3-D dx = 0.025 and 0.1 are below it, and the midpoint sum of a
# smooth density converges spectrally once dx < sigma (a Gaussian's error ~exp(-2 pi^2
# sigma^2 / dx^2), ~1e-25 at dx = 0.1, sigma = 0.17).
DEFAULT_GRID_POINTS = {1: 2048, 2: 160, 3: 40}


class PINNSolution(DensitySolution):
    """psi(x, t) from a network ``model``: (N, d + 1) tensor (x, t) -> (N, 2) (Re, Im psi).

    Integrals over |psi|^2 are self-normalised (the net's norm is not exactly 1):

    * ``integration == "grid"`` (default for d <= 3): midpoint sums on ``grid_points`` cells per
      axis of the box;
    * ``"importance"`` (default above d = 3): ``is_samples`` draws X ~ q_t, weights
      w = 1_box(X) |psi(X, t)|^2 / q_t(X) normalised to sum 1, with q_t the exact packet density
      (std scaled by ``is_proposal_scale``) or N(mu0, s0^2 I) without a closed form. The same
      standard normal draws (seed ``is_seed``) are used at every time. Outside the box psi = 0
      (the walls of the training domain).
    """

    def __init__(
        self,
        problem: Problem,
        cost: Cost,
        history: pd.DataFrame | None,
        model: Callable[[Any], Any],
        *,
        device: str = "cpu",
        dtype: str = "float64",
        integration: str = "auto",
        grid_points: int = 0,
        is_samples: int = 10_000,
        is_seed: int = 0,
        is_proposal_scale: float = 1.0,
        marginal_samples: int = 128,
        marginal_points: int = 129,
        chunk: int = 32_768,
        config: dict[str, Any] | None = None,
    ):
        super().__init__(problem, cost, history)
        import torch

        if integration not in INTEGRATIONS:
            raise ValueError(f"integration={integration!r}; valid: {', '.join(INTEGRATIONS)}")
        self.model = model
        self.device = torch.device(device)
        self.dtype = getattr(torch, dtype)
        self.integration = (
            ("grid" if problem.d <= 3 else "importance") if integration == "auto" else integration
        )
        if self.integration == "grid":
            self.grid_points = grid_points or DEFAULT_GRID_POINTS.get(problem.d, 0)
            if problem.d > 3 and not grid_points:
                raise ValueError(f"no default grid for d={problem.d}; pass grid_points")
        else:
            self.grid_points = 0
        self.is_samples = int(is_samples)
        self.is_seed = int(is_seed)
        self.is_proposal_scale = float(is_proposal_scale)
        self.marginal_samples = int(marginal_samples)
        self.marginal_points = int(marginal_points)
        self._cache: dict[float, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._field_cache: dict[float, tuple[float, np.ndarray, np.ndarray]] = {}
        self._nodes: np.ndarray | None = None
        self.chunk = int(chunk)
        self.config = dict(config or {})
        self.config.update(self.integration_config())

    def integration_config(self) -> dict[str, Any]:
        """How integrals are computed (recorded with the results)."""
        if self.integration == "grid":
            return {"integration": "grid", "grid_points": self.grid_points}
        return {
            "integration": "importance",
            "is_samples": self.is_samples,
            "is_seed": self.is_seed,
            "is_proposal": ("reference_moments" if self.problem.reference() is not None
                            else "initial_moments"),
            "is_proposal_scale": self.is_proposal_scale,
            "marginal_samples": self.marginal_samples,
            "marginal_points": self.marginal_points,
        }

    # ------------------------------------------------------------------ network evaluation
    def _xt(self, x: np.ndarray, t):
        import torch

        x = torch.as_tensor(np.asarray(x, dtype=float), dtype=self.dtype, device=self.device)
        t = torch.as_tensor(np.broadcast_to(np.asarray(t, dtype=float), x.shape[:1]).copy(),
                            dtype=self.dtype, device=self.device)
        return torch.cat([x, t[:, None]], dim=1)

    def _psi_parts(self, xt):
        """(Re psi, Im psi) on a (N, d + 1) tensor, evaluated in chunks."""
        import torch

        parts = [self.model(xt[i : i + self.chunk]) for i in range(0, len(xt), self.chunk)]
        y = torch.cat(parts) if parts else xt.new_zeros((0, 2))
        return y[:, 0], y[:, 1]

    def psi(self, x: np.ndarray, t) -> np.ndarray:
        """psi(x, t) as a complex array, x (n, d), t scalar or (n,)."""
        import torch

        with torch.no_grad():
            re, im = self._psi_parts(self._xt(x, t))
        return re.cpu().numpy().astype(float) + 1j * im.cpu().numpy().astype(float)

    def _density(self, x: np.ndarray, t: float) -> np.ndarray:
        """|psi|^2 at x (n, d), float64, unnormalised; 0 outside the box."""
        rho = np.abs(self.psi(x, t)) ** 2
        # where (not *): psi is 0 outside by definition, even where the net gives NaN there
        return np.where(self._in_box(x) > 0, rho, 0.0)

    def _in_box(self, x: np.ndarray) -> np.ndarray:
        lo, hi = self.problem.box
        return np.all((x >= lo) & (x <= hi), axis=-1).astype(float)

    def _local_fields(self, x: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(|psi|^2, u, v) at x (n, d) and a time t, by autograd of the net in chunks."""
        import torch

        p = self.problem
        rho_all, u_all, v_all = [], [], []
        for i in range(0, len(x), self.chunk):
            xt = self._xt(x[i : i + self.chunk], t).requires_grad_(True)
            y = self.model(xt)
            re, im = y[:, 0], y[:, 1]
            grad_re = torch.autograd.grad(re.sum(), xt, retain_graph=True)[0][:, : p.d]
            grad_im = torch.autograd.grad(im.sum(), xt)[0][:, : p.d]
            re, im = re.detach()[:, None], im.detach()[:, None]
            rho = re**2 + im**2
            # grad psi / psi = (grad re + i grad im)(re - i im) / |psi|^2
            u = (p.hbar / p.m) * (re * grad_re + im * grad_im) / rho
            v = (p.hbar / p.m) * (re * grad_im - im * grad_re) / rho
            rho_all.append(rho[:, 0].cpu().numpy())
            u_all.append(u.cpu().numpy())
            v_all.append(v.cpu().numpy())
        return (np.concatenate(rho_all).astype(float), np.concatenate(u_all).astype(float),
                np.concatenate(v_all).astype(float))

    # ------------------------------------------------------------------ integration rules
    def _grid_axis(self) -> np.ndarray:
        lo, hi = self.problem.box
        n = self.grid_points
        return lo + (np.arange(n) + 0.5) * (hi - lo) / n  # cell centres: the midpoint rule

    def _grid_nodes(self) -> np.ndarray:
        axis = self._grid_axis()
        mesh = np.meshgrid(*([axis] * self.problem.d), indexing="ij")
        return np.stack([g.ravel() for g in mesh], axis=-1)

    def _proposal_law(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """(mean, std) of every coordinate of the Gaussian proposal q_t, each (d,): the
        reference's moments at t where the problem declares a reference, else rho_0's."""
        reference = self.problem.reference()
        if reference is not None:
            mean, var = (a[0] for a in reference.moments(np.array([float(t)])))
        else:
            mean, var = self.problem.initial_moments()
        return mean, np.sqrt(var) * self.is_proposal_scale

    def _proposal(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """Proposal draws (n, d) and their log density at time t (same normal draws for all t)."""
        mean, std = self._proposal_law(t)
        z = np.random.default_rng(self.is_seed).standard_normal((self.is_samples, self.problem.d))
        log_q = (-0.5 * z**2 - _log(std) - 0.5 * math.log(2 * math.pi)).sum(-1)
        return mean + std * z, log_q

    def _rule(self, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Integration points X (n, d), log q(X) (0 on the grid: uniform cells, the volume
        cancels on normalising) and |psi(X, t)|^2 1_box(X); cached per time, since moments,
        marginals and centre-of-mass moments integrate the same density."""
        key = float(t)
        if key not in self._cache:
            if self.integration == "grid":
                if self._nodes is None:
                    self._nodes = self._grid_nodes()  # shared by all times
                x, log_q = self._nodes, np.zeros(len(self._nodes))
            else:
                x, log_q = self._proposal(t)
            if len(self._cache) >= 128:  # ~65 MB at d = 3 (40^3 float64 densities)
                self._cache.clear()
            self._cache[key] = (x, log_q, self._density(x, t))
        return self._cache[key]

    @staticmethod
    def _normalised_weights(rho: np.ndarray, log_q: np.ndarray, t: float) -> np.ndarray:
        """Weights rho / q normalised to sum 1. A density that is NaN or infinite anywhere, or 0
        everywhere, has no moments: FloatingPointError naming the time (the harness records a
        failed row; a NaN must never reach a moment)."""
        bad = ~np.isfinite(rho)
        if bad.any():
            raise FloatingPointError(
                f"|psi|^2 is not finite at t={t:g} ({int(bad.sum())} of {len(rho)} points)")
        with np.errstate(divide="ignore"):
            log_w = np.log(rho) - log_q
        if not np.isfinite(log_w).any():
            raise FloatingPointError(
                f"|psi|^2 integrates to zero at t={t:g} (it vanishes on every integration point)")
        w = np.exp(log_w - log_w.max())
        return w / w.sum()

    def importance_ess(self, times: np.ndarray) -> np.ndarray | None:
        """Kish's effective sample size of the importance weights at each time,
        (sum w)^2 / sum w^2 (= is_samples when |psi|^2 is the proposal, ~1 when one draw
        carries the integral); None for grid integration (no sampling)."""
        if self.integration != "importance":
            return None
        out = np.zeros(len(times))
        for j, t in enumerate(np.asarray(times, dtype=float)):
            x, log_q, rho = self._rule(t)
            w = self._normalised_weights(rho, log_q, t)
            out[j] = 1.0 / float(w @ w)  # sum w = 1
        return out

    def _points_weights(self, t: float, fields: bool = False):
        """Points X (n, d) and normalised weights w (sum 1) such that sum_i w_i f(X_i)
        approximates E_{|psi|^2}[f]; with fields=True also (u, v) at X."""
        x, log_q, rho = self._rule(t)
        u = v = None
        if fields:
            _, u, v = self._local_fields(x, t)
            # where rho = 0 the drifts are 0/0; those points carry zero weight
            u, v = np.nan_to_num(u), np.nan_to_num(v)
        return x, self._normalised_weights(rho, log_q, t), u, v

    # ------------------------------------------------------------------ Solution interface
    def moments(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean, var, _, _ = self.moments_with_error(times)
        return mean, var

    def moments_with_error(
        self, times: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(mean, var, mean_se, var_se), each (len(times), d). The standard errors are the
        delta-method errors of self-normalised importance sampling,
        se(E f)^2 = sum_i w_i^2 (f_i - E f)^2 with f = x (mean) and (x - mean)^2 (var);
        0 for grid integration (deterministic; its error is the quadrature error)."""
        d = self.problem.d
        out = np.zeros((4, len(times), d))
        for j, t in enumerate(np.asarray(times, dtype=float)):
            x, w, _, _ = self._points_weights(t)
            mean = w @ x
            dev2 = (x - mean) ** 2
            var = w @ dev2
            out[0, j], out[1, j] = mean, var
            if self.integration == "importance":
                out[2, j] = np.sqrt((w**2) @ dev2)
                out[3, j] = np.sqrt((w**2) @ (dev2 - var) ** 2)
        return out[0], out[1], out[2], out[3]

    def marginal_density(self, x: np.ndarray, times: np.ndarray) -> np.ndarray:
        """1-D marginals on the points x, (len(times), d, len(x)). Grid: sums of the normalised
        grid density over the other axes, through a cubic spline. Importance sampling:
        p_k(y) = E_q[|psi(X; X_k = y)|^2 / q_{-k}(X_{-k})] / E_q[|psi(X)|^2 / q(X)], the numerator
        over the first ``marginal_samples`` proposal draws, evaluated at x or, when x has more
        than ``marginal_points`` points, on that many nodes of the box and splined to x."""
        x = np.asarray(x, dtype=float)
        times = np.asarray(times, dtype=float)
        d = self.problem.d
        out = np.zeros((len(times), d, len(x)))
        for j, t in enumerate(times):
            if self.integration == "grid":
                out[j] = self._grid_marginals(x, t)
            else:
                out[j] = self._importance_marginals(x, t)
        return out

    def _grid_marginals(self, x: np.ndarray, t: float) -> np.ndarray:
        from scipy.interpolate import CubicSpline

        d, n = self.problem.d, self.grid_points
        axis = self._grid_axis()
        dx = axis[1] - axis[0]
        rho = self._rule(t)[2].reshape((n,) * d)
        rho = rho / (rho.sum() * dx**d)
        out = np.zeros((d, len(x)))
        for k in range(d):
            others = tuple(a for a in range(d) if a != k)
            marginal = rho.sum(axis=others) * dx ** (d - 1) if others else rho
            # a cubic spline through the cell-centre values: O(dx^4) where linear interpolation
            # is O(dx^2)
            out[k] = _spline_on(CubicSpline(axis, marginal), axis, x)
        return out

    def _importance_marginals(self, x: np.ndarray, t: float) -> np.ndarray:
        from scipy.interpolate import CubicSpline

        d = self.problem.d
        lo, hi = self.problem.box
        # evaluate on at most marginal_points nodes of the box and spline to x: the cost is
        # marginal_samples * marginal_points * d network evaluations per time
        nodes = x if len(x) <= self.marginal_points else np.linspace(lo, hi, self.marginal_points)
        samples, log_q, rho = self._rule(t)
        with np.errstate(divide="ignore"):
            log_z_terms = np.log(rho) - log_q
        shift = log_z_terms[np.isfinite(log_z_terms)].max()
        z = np.exp(log_z_terms - shift).mean()  # E_q[rho / q] exp(-shift)
        sub = samples[: self.marginal_samples]
        mean, std = self._proposal_law(t)
        # log q_{-k}(X_{-k}) = log q(X) - log q_k(X_k): the proposal is a product of Gaussians
        log_qk = -0.5 * ((sub - mean) / std) ** 2 - _log(std) - 0.5 * math.log(2 * math.pi)
        log_q_sub = log_q[: self.marginal_samples]
        out = np.zeros((d, len(x)))
        for k in range(d):
            points = np.repeat(sub[None, :, :], len(nodes), axis=0)  # (nodes, n, d)
            points[:, :, k] = nodes[:, None]
            rho_k = self._density(points.reshape(-1, d), t).reshape(len(nodes), len(sub))
            with np.errstate(divide="ignore"):
                log_terms = np.log(rho_k) - (log_q_sub - log_qk[:, k])[None, :] - shift
            values = np.exp(log_terms).mean(axis=1) / z
            out[k] = values if nodes is x else _spline_on(CubicSpline(nodes, values), nodes, x)
        return out

    def drift(self, x: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(x, dtype=float)
        t = np.broadcast_to(np.asarray(t, dtype=float), x.shape[:1])
        _, u, v = self._local_fields(x, t)
        return u, v

    def energy(self, times: np.ndarray) -> np.ndarray:
        """E(t) = E_{|psi|^2}[m/2 (|u|^2 + |v|^2) + V] = <psi|H|psi> / <psi|psi>."""
        return np.array([self._field_statistics(t)[0] for t in np.asarray(times, dtype=float)])

    def velocity_moments(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(E[v], Var p / m^2), each (len(times), d), for Ehrenfest's theorem: <p>/m = E[v]
        (E[u] = 0) and <p_k^2>/m^2 = (hbar/m)^2 <d_k psi|d_k psi> / <psi|psi> = E[u_k^2 + v_k^2]."""
        stats = [self._field_statistics(t) for t in np.asarray(times, dtype=float)]
        mean = np.array([s[1] for s in stats])
        return mean, np.array([s[2] for s in stats]) - mean**2

    def mean_potential_gradient(self, times: np.ndarray) -> np.ndarray:
        """E[grad V] under |psi|^2, (len(times), d), by the same integration rule."""
        out = np.zeros((len(times), self.problem.d))
        for j, t in enumerate(np.asarray(times, dtype=float)):
            x, w, _, _ = self._points_weights(t)
            out[j] = w @ np.asarray(self.problem.grad_potential(x), dtype=float)
        return out

    def covariance(self, times: np.ndarray) -> np.ndarray:
        """Cov x under |psi|^2, (len(times), d, d); its diagonal is ``moments``' variance."""
        d = self.problem.d
        out = np.zeros((len(times), d, d))
        for j, t in enumerate(np.asarray(times, dtype=float)):
            x, w, _, _ = self._points_weights(t)
            deviation = x - w @ x
            out[j] = (deviation * w[:, None]).T @ deviation
        return out

    def _field_statistics(self, t: float) -> tuple[float, np.ndarray, np.ndarray]:
        """(E(t), E[v], E[u^2 + v^2] per coordinate) from one autograd pass of the net over
        the integration points, cached per time (the energy and the velocity moments read the
        same fields). Where |psi| underflows in float32 (far tails) u = grad|psi| / |psi| is not
        representable: such points are left out only while their weight is negligible
        (<= 1e-12 of the total); otherwise the statistics are NaN."""
        key = float(t)
        if key not in self._field_cache:
            p = self.problem
            x, w, u, v = self._points_weights(key, fields=True)
            with np.errstate(over="ignore", invalid="ignore"):
                square = u**2 + v**2
                local = 0.5 * p.m * square.sum(-1) + p.potential(x)
            held = np.isfinite(local)
            if w[~held].sum() <= 1e-12 * w.sum():
                kept = w[held]
                stats = (float(kept @ local[held]), kept @ v[held], kept @ square[held])
            else:
                stats = (math.nan, np.full(p.d, np.nan), np.full(p.d, np.nan))
            if len(self._field_cache) >= 1024:  # 2 d + 1 floats a time
                self._field_cache.clear()
            self._field_cache[key] = stats
        return self._field_cache[key]

    def center_of_mass_moments(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(E X_c, Var X_c), X_c = mean_i x_i, each (len(times),)."""
        mean = np.zeros(len(times))
        var = np.zeros(len(times))
        for j, t in enumerate(np.asarray(times, dtype=float)):
            x, w, _, _ = self._points_weights(t)
            xc = x.mean(-1)
            mean[j] = w @ xc
            var[j] = w @ (xc - mean[j]) ** 2
        return mean, var



def _spline_on(spline, nodes: np.ndarray, x: np.ndarray) -> np.ndarray:
    """A density spline evaluated at x: 0 outside [nodes[0], nodes[-1]], clipped at 0."""
    inside = (x >= nodes[0]) & (x <= nodes[-1])
    return np.where(inside, np.maximum(spline(np.clip(x, nodes[0], nodes[-1])), 0.0), 0.0)


def _log(values: np.ndarray) -> np.ndarray:
    """math.log elementwise: the same bits as the scalar log it replaced (numpy's vectorised
    log may differ in the last place)."""
    return np.array([math.log(v) for v in np.ravel(values)]).reshape(np.shape(values))
