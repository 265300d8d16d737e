"""Physics-informed neural network (PINN) for the Schrodinger equation, through DeepXDE.

A network N(x, t) -> (Re psi, Im psi) on the box ``problem.box`` (per axis) x [0, T] is trained
to make the two real residuals of i hbar d_t psi = -(hbar^2 / 2m) Lap psi + V psi vanish:

    r_re = -hbar d_t Im psi + (hbar^2 / 2m) Lap Re psi - V Re psi = 0
    r_im =  hbar d_t Re psi + (hbar^2 / 2m) Lap Im psi - V Im psi = 0

with psi(x, 0) = psi_0(x) (as a loss term, or exactly through the output transform
psi = psi_0(x) + t N(x, t) when ``hard_initial_condition``) and zero Dirichlet walls on the box.
The Laplacian is the trace of DeepXDE's Hessian (d second-order backward passes).

The trained net is a density-based Solution: |psi|^2, normalised where it is integrated (the
PINN does not conserve the norm exactly), gives moments and marginals; on a grid of the box for
d <= 3 and by self-normalised importance sampling above (proposal: the exact Gaussian packet
density when the problem has one, else N(mu0, s0^2 I)). The drifts follow from psi by autograd:

    u = (hbar / 2m) grad log |psi|^2 = (hbar / m) Re(grad psi / psi),
    v = (hbar / m) Im(grad psi / psi),

and the energy is E(t) = E_rho[m/2 (|u|^2 + |v|^2) + V] = <psi|H|psi> / <psi|psi>.

DeepXDE is imported lazily (``_import_deepxde``) with ``DDE_BACKEND=pytorch`` forced, so that
neither the registry nor the user's ``~/.deepxde`` config decide the backend.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from reference import exact
from reference.problems import Problem
from solvers.base import Cost, Monitor, Solution, Solver, SolverConfigError

__all__ = ["PINNSolver", "PINNSolution", "schrodinger_residual"]

ACTIVATIONS = ("tanh", "sin", "sigmoid", "swish", "silu", "gelu", "elu", "selu", "relu")
# DeepXDE's initializer names; the keys are the spellings accepted on the command line
INITIALIZERS = {
    "glorot_normal": "Glorot normal",
    "glorot_uniform": "Glorot uniform",
    "he_normal": "He normal",
    "he_uniform": "He uniform",
    "lecun_normal": "LeCun normal",
    "lecun_uniform": "LeCun uniform",
}
DISTRIBUTIONS = ("auto", "pseudo", "uniform", "Hammersley", "LHS", "Halton", "Sobol")
PRECISIONS = ("float32", "float64")
INTEGRATIONS = ("auto", "grid", "importance")
# points per axis of the evaluation grid (d <= 3) when grid_points = 0: the packet's smallest
# standard deviation on the harmonic problems over t in [0, 1] is 0.17, so dx = 4/2048 in 1-D
# is far below it; in 2-D and 3-D dx = 0.025 and 0.1 are below it, and the midpoint sum of a
# smooth density converges spectrally once dx < sigma (a Gaussian's error ~exp(-2 pi^2
# sigma^2 / dx^2), ~1e-25 at dx = 0.1, sigma = 0.17).
DEFAULT_GRID_POINTS = {1: 2048, 2: 160, 3: 40}
LOSS_TERMS_SOFT = ["pde_re", "pde_im", "wall_re", "wall_im", "initial_re", "initial_im"]
LOSS_TERMS_HARD = ["pde_re", "pde_im", "wall_re", "wall_im"]


# ----------------------------------------------------------------------------- DeepXDE
def _import_deepxde():
    """Import DeepXDE with the PyTorch backend, whatever ~/.deepxde/config.json says."""
    if "deepxde" in sys.modules:
        dde = sys.modules["deepxde"]
        if dde.backend.backend_name != "pytorch":
            raise RuntimeError(
                f"DeepXDE is already loaded with the {dde.backend.backend_name} backend; the PINN "
                "solver needs pytorch (set DDE_BACKEND=pytorch before importing deepxde)"
            )
        return dde
    os.environ["DDE_BACKEND"] = "pytorch"
    import torch

    device, dtype = torch.get_default_device(), torch.get_default_dtype()
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        import deepxde as dde  # noqa: PLC0415 (lazy on purpose: heavy, and sets torch defaults)
    # DeepXDE makes cuda the default device on CUDA machines; the solver chooses it per fit
    torch.set_default_device(device)
    torch.set_default_dtype(dtype)
    return dde


def schrodinger_residual(problem: Problem, x, y) -> list:
    """The two real residuals [r_re, r_im] (each (N, 1)) of the Schrodinger equation at the
    space-time points x (N, d + 1), last column t, for y = (Re psi, Im psi) of shape (N, 2)
    computed from x (torch, differentiable):

        r_re = -hbar d_t Im psi + (hbar^2 / 2m) Lap Re psi - V Re psi
        r_im =  hbar d_t Re psi + (hbar^2 / 2m) Lap Im psi - V Im psi
    """
    dde = _import_deepxde()
    d, hbar, m = problem.d, problem.hbar, problem.m
    re, im = y[:, 0:1], y[:, 1:2]
    dt_re = dde.grad.jacobian(y, x, i=0, j=d)
    dt_im = dde.grad.jacobian(y, x, i=1, j=d)
    lap_re = sum(dde.grad.hessian(y, x, component=0, i=k, j=k) for k in range(d))
    lap_im = sum(dde.grad.hessian(y, x, component=1, i=k, j=k) for k in range(d))
    potential = problem.potential(x[:, :d])[:, None]
    kinetic = hbar**2 / (2 * m)
    return [
        -hbar * dt_im + kinetic * lap_re - potential * re,
        hbar * dt_re + kinetic * lap_im - potential * im,
    ]


def _psi0_parts(problem: Problem, x):
    """(Re psi_0, Im psi_0) at x (..., d) from problem.psi0 (numpy: the soft initial condition's
    targets)."""
    psi0 = problem.psi0(x)
    return psi0.real, psi0.imag


def _psi0_parts_differentiable(problem: Problem, x):
    """(Re psi_0, Im psi_0) on a torch tensor x (..., d), the same function as problem.psi0 but
    with the amplitude as exp(log rho_0 / 2): problem.psi0 takes sqrt(rho_0), whose derivative is
    inf where rho_0 underflows to 0 (float32, d = 10, box corners), and inf * 0 = NaN residuals.

        psi_0 = (2 pi s0^2)^(-d/4) exp(-|x - mu0|^2 / (4 s0^2)) exp(i k0 sum_k x_k)
    """
    import torch

    p = problem
    log_amplitude = (-((x - p.mu0) ** 2).sum(-1) / (4 * p.s0_sq)
                     - 0.25 * p.d * math.log(2 * math.pi * p.s0_sq))
    amplitude = torch.exp(log_amplitude)
    phase = p.k0 * x.sum(-1)
    return amplitude * torch.cos(phase), amplitude * torch.sin(phase)


# ----------------------------------------------------------------------------- the solution
class PINNSolution(Solution):
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

    is_sampler = False

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
            "is_proposal": "exact_packet" if self.problem.has_exact_solution else "initial_gaussian",
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
        return rho * self._in_box(x)

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

    def _proposal_law(self, t: float) -> tuple[float, float]:
        """(mean, std) of every coordinate of the proposal q_t."""
        p = self.problem
        if p.has_exact_solution:
            mean = float(exact.gaussian_packet_mean(p, t))
            std = math.sqrt(float(exact.gaussian_packet_variance(p, t)))
        else:
            mean, std = p.mu0, math.sqrt(p.s0_sq)
        return mean, std * self.is_proposal_scale

    def _proposal(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """Proposal draws (n, d) and their log density at time t (same normal draws for all t)."""
        mean, std = self._proposal_law(t)
        z = np.random.default_rng(self.is_seed).standard_normal((self.is_samples, self.problem.d))
        log_q = (-0.5 * z**2 - math.log(std) - 0.5 * math.log(2 * math.pi)).sum(-1)
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
        with np.errstate(divide="ignore"):
            log_w = np.log(rho) - log_q
        if not np.isfinite(log_w).any():
            raise FloatingPointError(f"|psi|^2 vanishes on every integration point at t={t}")
        w = np.exp(log_w - log_w.max())
        return w / w.sum()

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
            # is O(dx^2) (0.7% at 3 sigma on the 2-D default grid)
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
        log_qk = -0.5 * ((sub - mean) / std) ** 2 - math.log(std) - 0.5 * math.log(2 * math.pi)
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
        p = self.problem
        out = np.zeros(len(times))
        for j, t in enumerate(np.asarray(times, dtype=float)):
            x, w, u, v = self._points_weights(t, fields=True)
            local = 0.5 * p.m * ((u**2).sum(-1) + (v**2).sum(-1)) + p.potential(x)
            out[j] = w @ local
        return out

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


# ----------------------------------------------------------------------------- the solver
class PINNSolver(Solver):
    """PINN (DeepXDE, PyTorch backend) for any problem of the registry.

    Options: network ``width`` x ``depth`` (hidden layers), ``activation``, ``initializer``;
    collocation points ``num_domain`` / ``num_initial`` / ``num_boundary`` drawn with
    ``train_distribution`` ("auto": Hammersley for d <= 3 without resampling, else "pseudo",
    since "uniform" builds a 2^d grid and Sobol fails above 40 inputs) and redrawn every
    ``resample_every`` iterations (0: never); Adam for ``iterations`` at ``lr`` then L-BFGS for
    ``lbfgs`` iterations (0 / False: none; True: 5000); ``precision``; ``device`` ("auto": cuda
    when available); ``seed``; ``hard_initial_condition`` (psi = psi_0 + t N); ``pde_weight``
    (weight of the residual losses: the residuals are O(hbar |psi| / T) against O(|psi|) for the
    walls and the initial condition; "auto" = (T / hbar)^2 balances them); ``log_every`` (loss
    history period); ``lbfgs_chunk`` (L-BFGS iterations between budget checks); evaluation
    (see PINNSolution): ``integration``, ``grid_points``, ``is_samples``, ``is_proposal_scale``,
    ``marginal_samples``, ``marginal_points``; ``threads`` (torch threads, 0: leave as is).

    Defaults: 64 x 4 tanh, hard initial condition, 2000 domain points, Adam 1000 iterations then
    L-BFGS, with the wall budget usually ending training. Measured on harmonic_1d (shared CPU):
    L-BFGS after Adam lowers the loss ~4x faster than Adam alone, but the moment errors did not
    follow (mean_err 1.9 -> 4.6, var_err 0.26 -> 0.54 from 1000 Adam to +800 L-BFGS
    iterations): a small residual does not pin down the slowly moving mean at hbar = 1e-2.
    """

    name = "pinn"
    defaults: dict[str, Any] = {
        "width": 64,
        "depth": 4,
        "activation": "tanh",
        "initializer": "glorot_normal",
        "num_domain": 2000,
        "num_initial": 400,
        "num_boundary": 200,
        "train_distribution": "auto",
        "resample_every": 0,
        "iterations": 1000,
        "lr": 1e-3,
        "lbfgs": 20_000,
        "lbfgs_chunk": 50,
        "precision": "float32",
        "device": "auto",
        "seed": 0,
        "hard_initial_condition": True,
        "pde_weight": "auto",
        "log_every": 100,
        "integration": "auto",
        "grid_points": 0,
        "is_samples": 10_000,
        "is_proposal_scale": 1.0,
        "marginal_samples": 128,
        "marginal_points": 129,
        "threads": 0,
    }

    def validate(self) -> None:
        o = self.options

        def positive_int(key: str, minimum: int = 1) -> None:
            value = o[key]
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
                raise SolverConfigError(f"pinn: {key}={value!r} must be an integer >= {minimum}")

        for key in ("width", "depth", "num_domain", "is_samples", "marginal_samples", "log_every",
                    "lbfgs_chunk", "marginal_points"):
            positive_int(key)
        for key in ("num_initial", "num_boundary", "resample_every", "iterations", "seed",
                    "grid_points", "threads"):
            positive_int(key, 0)
        if o["lbfgs_chunk"] < 2:
            # DeepXDE's torch L-BFGS loop takes a 1-iteration step for convergence
            raise SolverConfigError("pinn: lbfgs_chunk must be >= 2")
        if isinstance(o["lbfgs"], bool):
            o["lbfgs"] = 5000 if o["lbfgs"] else 0
        positive_int("lbfgs", 0)
        if o["activation"] not in ACTIVATIONS:
            raise SolverConfigError(
                f"pinn: activation={o['activation']!r}; valid: {', '.join(ACTIVATIONS)}")
        init = str(o["initializer"]).lower().replace(" ", "_")
        if init not in INITIALIZERS:
            raise SolverConfigError(
                f"pinn: initializer={o['initializer']!r}; valid: {', '.join(INITIALIZERS)}")
        o["initializer"] = init
        if o["train_distribution"] not in DISTRIBUTIONS:
            raise SolverConfigError(f"pinn: train_distribution={o['train_distribution']!r}; "
                                    f"valid: {', '.join(DISTRIBUTIONS)}")
        if o["precision"] not in PRECISIONS:
            raise SolverConfigError(
                f"pinn: precision={o['precision']!r}; valid: {', '.join(PRECISIONS)}")
        device = str(o["device"])
        if not (device in ("auto", "cpu", "cuda") or device.startswith("cuda:")):
            raise SolverConfigError(f"pinn: device={device!r}; valid: auto, cpu, cuda, cuda:N")
        if o["integration"] not in INTEGRATIONS:
            raise SolverConfigError(
                f"pinn: integration={o['integration']!r}; valid: {', '.join(INTEGRATIONS)}")
        for key in ("lr", "is_proposal_scale"):
            value = o[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise SolverConfigError(f"pinn: {key}={value!r} must be a number > 0")
        weight = o["pde_weight"]
        if weight != "auto" and (isinstance(weight, bool) or not isinstance(weight, (int, float))
                                 or not weight > 0):
            raise SolverConfigError(f"pinn: pde_weight={weight!r} must be 'auto' or a number > 0")
        if not isinstance(o["hard_initial_condition"], bool):
            raise SolverConfigError("pinn: hard_initial_condition must be true or false")
        if o["num_initial"] == 0 and not o["hard_initial_condition"]:
            raise SolverConfigError(
                "pinn: num_initial=0 needs hard_initial_condition=true (no initial condition)")

    # ------------------------------------------------------------------ helpers
    def resolved_device(self) -> str:
        import torch

        device = str(self.options["device"])
        if device == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise SolverConfigError(f"pinn: device={device!r} but CUDA is not available")
        return device

    def train_distribution(self, problem: Problem) -> str:
        dist = self.options["train_distribution"]
        if dist != "auto":
            return dist
        # quasi-random sequences are deterministic: resampling them would redraw the same points
        return "Hammersley" if problem.d <= 3 and self.options["resample_every"] == 0 else "pseudo"

    def pde_weight(self, problem: Problem) -> float:
        weight = self.options["pde_weight"]
        return (problem.T / problem.hbar) ** 2 if weight == "auto" else float(weight)

    def build(self, problem: Problem):
        """The DeepXDE model (data + net, not compiled) and its loss-term names."""
        dde = _import_deepxde()
        o = self.options
        d = problem.d
        lo, hi = problem.box
        space = dde.geometry.Interval(lo, hi) if d == 1 else dde.geometry.Hypercube(
            [lo] * d, [hi] * d)
        geomtime = dde.geometry.GeometryXTime(space, dde.geometry.TimeDomain(0.0, problem.T))

        def wall(x, on_boundary):
            return on_boundary

        def zero(x):
            return np.zeros((len(x), 1))

        conditions = [dde.icbc.DirichletBC(geomtime, zero, wall, component=c) for c in (0, 1)]
        hard = o["hard_initial_condition"]
        if not hard:
            def initial_part(component: int):
                return lambda x: _psi0_parts(problem, x[:, :d])[component][:, None]

            conditions += [
                dde.icbc.IC(geomtime, initial_part(c), lambda _, on_initial: on_initial,
                            component=c)
                for c in (0, 1)
            ]

        def pde(x, y):
            return schrodinger_residual(problem, x, y)

        data = dde.data.TimePDE(
            geomtime, pde, conditions,
            num_domain=o["num_domain"],
            num_boundary=o["num_boundary"],
            num_initial=0 if hard else o["num_initial"],
            train_distribution=self.train_distribution(problem),
        )
        net = dde.nn.FNN([d + 1] + [o["width"]] * o["depth"] + [2], o["activation"],
                         INITIALIZERS[o["initializer"]])
        if hard:
            def transform(x, y):
                # psi = psi_0(x) + t N(x, t): the initial condition holds exactly
                re0, im0 = _psi0_parts_differentiable(problem, x[:, :d])
                t = x[:, d:d + 1]
                return t * y + _stack_columns(re0, im0)

            net.apply_output_transform(transform)
        terms = LOSS_TERMS_HARD if hard else LOSS_TERMS_SOFT
        return dde.Model(data, net), terms

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        problem: Problem,
        budget: dict[str, Any] | None = None,
        monitor: Monitor | None = None,
        progress: bool = False,
    ) -> Solution:
        import torch

        budget = dict(budget or {})
        max_iters = budget.get("max_iters")
        max_seconds = budget.get("max_seconds")
        monitor_every = int(budget.get("monitor_every") or 0)
        o = self.options
        dde = _import_deepxde()
        device = self.resolved_device()
        previous = (torch.get_default_device(), torch.get_default_dtype(), torch.get_num_threads())
        if o["threads"]:
            torch.set_num_threads(o["threads"])
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                dde.config.set_default_float(o["precision"])
                dde.config.set_random_seed(o["seed"])
            torch.set_default_device(device)
            if device.startswith("cuda"):
                torch.cuda.reset_peak_memory_stats()
            return self._fit(problem, dde, device, max_iters, max_seconds, monitor,
                             monitor_every, progress)
        finally:
            torch.set_default_device(previous[0])
            torch.set_default_dtype(previous[1])
            torch.set_num_threads(previous[2])

    def _fit(self, problem, dde, device, max_iters, max_seconds, monitor, monitor_every,
             progress) -> PINNSolution:
        import torch

        o = self.options
        model, terms = self.build(problem)
        weights = [self.pde_weight(problem)] * 2 + [1.0] * (len(terms) - 2)
        n_adam = o["iterations"]
        n_lbfgs = o["lbfgs"]
        planned = n_adam + n_lbfgs
        if max_iters is not None:
            n_adam = min(n_adam, int(max_iters))
            n_lbfgs = min(n_lbfgs, int(max_iters) - n_adam)
        recorder = _Recorder(self, problem, device, max_seconds, monitor, monitor_every,
                             progress, total=n_adam + n_lbfgs)
        sink = io.StringIO()
        with contextlib.redirect_stdout(sink):
            model.compile("adam", lr=o["lr"], loss_weights=weights, verbose=0)
            recorder.start(model)
            if n_adam > 0:
                model.train(iterations=n_adam, display_every=o["log_every"],
                            callbacks=recorder.callbacks(o["resample_every"]), verbose=0)
                recorder.check_finite(terms)
            if n_lbfgs > 0 and not recorder.timed_out:
                dde.optimizers.set_LBFGS_options(maxiter=n_lbfgs)
                # the torch backend computes these only at import (min(1000, maxiter)): set them
                # so that the wall-time callback is consulted every lbfgs_chunk iterations (the
                # last chunk may overshoot n_lbfgs by < lbfgs_chunk; cost.iters counts them)
                chunk = min(o["lbfgs_chunk"], n_lbfgs)
                dde.optimizers.config.LBFGS_options["iter_per_step"] = chunk
                dde.optimizers.config.LBFGS_options["fun_per_step"] = int(1.25 * chunk)
                model.compile("L-BFGS", loss_weights=weights, verbose=0)
                model.train(display_every=o["log_every"],
                            callbacks=recorder.callbacks(o["resample_every"]), verbose=0)
                recorder.check_finite(terms)
        recorder.finish()
        iters = int(model.train_state.step)
        if recorder.timed_out:
            stop_reason = "time_budget"
        elif n_adam + n_lbfgs < planned:
            stop_reason = "max_iters"
        else:
            stop_reason = "completed"
        cost = Cost(
            train_s=recorder.train_s,
            iters=iters,
            s_per_iter=recorder.train_s / iters if iters else None,
            peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            peak_gpu_mb=(torch.cuda.max_memory_allocated() / 2**20
                         if device.startswith("cuda") else None),
            n_params=sum(p.numel() for p in model.net.parameters()),
            device=device,
            dtype=o["precision"],
            threads=torch.get_num_threads(),
            stop_reason=stop_reason,
        )
        solution = self.solution(problem, model.net, cost, recorder.history(model, terms), device)
        return solution

    def solution(self, problem: Problem, net, cost: Cost, history: pd.DataFrame | None,
                 device: str) -> PINNSolution:
        o = self.options
        net.eval()
        return PINNSolution(
            problem, cost, history, net,
            device=device, dtype=o["precision"], integration=o["integration"],
            grid_points=o["grid_points"], is_samples=o["is_samples"], is_seed=o["seed"],
            is_proposal_scale=o["is_proposal_scale"], marginal_samples=o["marginal_samples"],
            marginal_points=o["marginal_points"],
            config=self.config(),
        )


def _spline_on(spline, nodes: np.ndarray, x: np.ndarray) -> np.ndarray:
    """A density spline evaluated at x: 0 outside [nodes[0], nodes[-1]], clipped at 0."""
    inside = (x >= nodes[0]) & (x <= nodes[-1])
    return np.where(inside, np.maximum(spline(np.clip(x, nodes[0], nodes[-1])), 0.0), 0.0)


def _stack_columns(re, im):
    import torch

    return torch.stack([re, im], dim=1)


class _Recorder:
    """Wall time, budget, loss history, monitor and progress bar around DeepXDE's training."""

    def __init__(self, solver, problem, device, max_seconds, monitor, monitor_every, progress,
                 total):
        self.solver, self.problem, self.device = solver, problem, device
        self.max_seconds = max_seconds
        self.monitor, self.monitor_every = monitor, monitor_every
        self.total = total
        self.progress = progress
        self.timed_out = False
        self.excluded = 0.0  # seconds spent in the monitor (not training)
        self.step_wall: dict[int, float] = {}
        self.monitor_rows: dict[int, dict[str, float]] = {}
        self.bar = None
        self.t0 = None
        self.t_end = None
        self.model = None
        self.last_step = 0
        self.next_monitor = 0

    def start(self, model) -> None:
        self.model = model
        if self.progress:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=self.total, desc=f"pinn {self.problem.name} d={self.problem.d}",
                            unit="it", file=sys.stderr)
        self.t0 = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0 - self.excluded

    def callbacks(self, resample_every: int) -> list:
        dde = _import_deepxde()
        recorder = self

        class _Hook(dde.callbacks.Callback):
            def on_train_begin(self):
                recorder.on_step()

            def on_batch_end(self):
                recorder.on_step()

        hooks = [_Hook()]
        if resample_every:
            hooks.append(dde.callbacks.PDEPointResampler(period=resample_every))
        return hooks

    def on_step(self) -> None:
        model = self.model
        step = int(model.train_state.step)
        elapsed = self.elapsed()
        history = model.losshistory.steps
        if history and history[-1] == step and step not in self.step_wall:
            self.step_wall[step] = elapsed
            losses = np.asarray(model.losshistory.loss_train[-1], dtype=float)
            if not np.isfinite(losses).all():
                model.stop_training = True  # check_finite raises after train() returns
        if self.bar is not None and step > self.last_step:
            self.bar.update(step - self.last_step)
        self.last_step = step
        if self.monitor is not None and self.monitor_every and step >= self.next_monitor:
            # L-BFGS advances in chunks: monitor at the first step at or past each multiple
            self.next_monitor = (step // self.monitor_every + 1) * self.monitor_every
            tic = time.perf_counter()
            snapshot = self.solver.solution(self.problem, model.net, Cost(iters=step), None,
                                            self.device)
            self.monitor_rows[step] = {k: float(v) for k, v in self.monitor(snapshot).items()}
            model.net.train()
            self.excluded += time.perf_counter() - tic
        if self.max_seconds is not None and elapsed >= float(self.max_seconds):
            self.timed_out = True
            model.stop_training = True

    def check_finite(self, terms: list[str]) -> None:
        history = self.model.losshistory
        for step, losses in zip(history.steps, history.loss_train, strict=True):
            losses = np.asarray(losses, dtype=float)
            bad = [name for name, value in zip(terms, losses, strict=False)
                   if not np.isfinite(value)]
            if bad:
                self.finish()
                raise FloatingPointError(
                    f"pinn: non-finite loss in term(s) {', '.join(bad)} at iteration {step} "
                    f"({self.problem.name}, d={self.problem.d}); try a smaller lr or float64")

    def finish(self) -> None:
        if self.t_end is None:
            self.t_end = self.elapsed()
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    @property
    def train_s(self) -> float:
        return float(self.t_end if self.t_end is not None else self.elapsed())

    def history(self, model, terms: list[str]) -> pd.DataFrame:
        rows: dict[int, dict[str, float]] = {}
        for step, losses in zip(model.losshistory.steps, model.losshistory.loss_train,
                                strict=True):
            losses = np.asarray(losses, dtype=float)
            row = {"iter": int(step), "wall_s": self.step_wall.get(int(step), np.nan)}
            row.update({f"loss_{name}": float(v) for name, v in zip(terms, losses, strict=False)})
            row["loss"] = float(losses.sum())
            rows[int(step)] = row
        for step, values in self.monitor_rows.items():
            rows.setdefault(step, {"iter": step, "wall_s": self.step_wall.get(step, np.nan)})
            rows[step].update(values)
        columns = ["iter", "wall_s"] + [f"loss_{n}" for n in terms] + ["loss"]
        frame = pd.DataFrame([rows[k] for k in sorted(rows)])
        return frame if len(frame) else pd.DataFrame(columns=columns)
