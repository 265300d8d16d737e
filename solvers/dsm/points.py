"""Training points: where DSM evaluates its residuals.

Each epoch simulates B paths of Nelson's process with the current networks,

    dX = (v + nu u)(X, t) dt + sqrt(nu hbar / m) dW,    X_0 ~ rho_0,

by Euler-Maruyama (``solvers.nelson``, no gradients), and takes (x, t) points along them, so
that training concentrates where the current model puts its probability mass.
"""

from __future__ import annotations

import torch

from reference.problems import Problem
from solvers.dsm.networks import DSMNetworks
from solvers.nelson import euler_maruyama, reflect_, sample_initial

__all__ = ["training_points"]


def training_points(
    nets: DSMNetworks,
    problem: Problem,
    *,
    n_paths: int,
    n_times: int,
    nu: float,
    scheme: str,
    generator: torch.Generator,
    dtype: torch.dtype,
    device: torch.device,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Training points (x (P, d), t (P,)) from B = n_paths simulated paths, P = B (M + 1).

    ``interpolated``: from the states X_i at M random steps i one extra Euler-Maruyama step of
    random length tau in [0, dt), at time t_i + tau, so that training times cover [0, T]
    continuously; ``grid``: the states themselves at t_i. Both add the start points (t = 0)
    as the first B points (the initial-condition loss term reads them there). Points of a path
    after it left the problem's box (or became non-finite) are dropped, so P <= B (M + 1):
    beyond the box the model is not scored, and in an unbounded potential (Henon-Heiles) the
    residuals of escaped paths grow without bound and swamp the loss (``docs/problems.md``,
    "DSM trains inside the box").
    """
    n_steps, dt = problem.n_steps, problem.dt

    drift = nets.drift_function(nu)
    with torch.no_grad():
        x0 = sample_initial(problem, n_paths, generator, dtype, device)
        states = euler_maruyama(drift, x0, problem, nu=nu, generator=generator)  # (N+1, B, d)
        m = min(n_times, n_steps)
        steps = torch.randperm(n_steps, generator=generator, device=device)[:m]
        xs = states[steps].reshape(-1, problem.d)  # (M B, d)
        ts = (steps.to(dtype) * dt).repeat_interleave(n_paths)
        kept = _in_box_so_far(states, problem)[steps].reshape(-1)
        if scheme == "interpolated":
            tau = dt * torch.rand(ts.shape, generator=generator, dtype=dtype, device=device)
            xi = torch.randn(xs.shape, generator=generator, dtype=dtype, device=device)
            noise = torch.sqrt(nu * problem.diffusion * tau)[:, None]
            xs = reflect_(xs + tau[:, None] * drift(xs, ts[:, None]) + noise * xi, problem)
            ts = ts + tau
            kept &= _inside(xs, problem)
        # a boolean index: one host sync an epoch on CUDA, for a loss over the kept points only
        xs, ts = xs[kept], ts[kept]
        x = torch.cat([states[0], xs])
        t = torch.cat([torch.zeros(n_paths, dtype=dtype, device=device), ts])
    return x, t


def _inside(x: torch.Tensor, problem: Problem) -> torch.Tensor:
    """Whether each point (..., d) is finite and within the problem's box, (...,)."""
    lo, hi = problem.box
    return (torch.isfinite(x) & (x >= lo) & (x <= hi)).all(-1)


def _in_box_so_far(states: torch.Tensor, problem: Problem) -> torch.Tensor:
    """(N + 1, B): whether each path has stayed finite and in the box up to each step. A path
    that left is lost from that step on: the rule of ``dsm_bench.trial.alive_paths``, by which
    the metrics score samples, here in torch on the training device (no host copy an epoch)."""
    return torch.cummin(_inside(states, problem).to(torch.uint8), dim=0).values.bool()
