"""Nelson's diffusion, simulated by Euler-Maruyama: the sampler shared by DSM and the oracle.

With osmotic velocity u = (hbar/2m) grad log rho and current velocity v = (hbar/m) grad S,
the process

    dX = (v(X, t) + nu u(X, t)) dt + sqrt(nu hbar / m) dW,    X_0 ~ rho_0,

has the quantum density rho(., t) = |psi(., t)|^2 as its marginal for every nu > 0 (nu = 1 is
Nelson's choice). Euler-Maruyama on the problem's grid t_i = i dt:

    X_{i+1} = X_i + (v + nu u)(X_i, t_i) dt + sqrt(nu hbar dt / m) xi_i,   xi_i ~ N(0, I).

Everything here runs without gradients and in torch, on the caller's device and dtype; the
random numbers come from an explicit ``torch.Generator`` so that a seed fixes the paths.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from reference.problems import Problem

__all__ = ["Drift", "euler_maruyama", "sample_initial", "sample_paths", "time_indices"]

# drift(x, t) -> v + nu u at points x (b, d) and one time t (a 0-d tensor)
Drift = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def time_indices(problem: Problem, times: np.ndarray) -> np.ndarray:
    """Step indices i with t_i = i dt equal to ``times``; ValueError for times off the grid."""
    times = np.atleast_1d(np.asarray(times, dtype=float))
    steps = np.rint(times / problem.dt).astype(np.int64)
    off = np.abs(steps * problem.dt - times) > 1e-9 * max(1.0, problem.T)
    if off.any() or (steps < 0).any() or (steps > problem.n_steps).any():
        bad = times[off | (steps < 0) | (steps > problem.n_steps)]
        raise ValueError(
            f"{problem.name}: times {bad[:5].tolist()} are not on the problem's time grid "
            f"(t_i = i * {problem.dt:g}, 0 <= i <= {problem.n_steps})"
        )
    return steps


def sample_initial(
    problem: Problem, n: int, generator: torch.Generator, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """n samples of rho_0 = N(mu0, s0^2 I) (every problem starts from this Gaussian), (n, d)."""
    z = torch.randn((n, problem.d), generator=generator, dtype=dtype, device=device)
    return problem.mu0 + math.sqrt(problem.s0_sq) * z


def euler_maruyama(
    drift: Drift,
    x0: torch.Tensor,
    problem: Problem,
    *,
    nu: float,
    generator: torch.Generator,
    record: torch.Tensor | None = None,
) -> torch.Tensor:
    """Roll Nelson's process over the problem's N steps from x0 (b, d).

    Returns the states at the step indices ``record`` (a sorted int64 tensor, default all
    N + 1), shape (len(record), b, d). No host-device synchronisation happens inside the loop:
    times are indexed from a device tensor and states are written into a preallocated buffer.
    """
    n_steps, dt = problem.n_steps, problem.dt
    noise = math.sqrt(nu * problem.diffusion * dt)
    device, dtype = x0.device, x0.dtype
    times = torch.arange(n_steps + 1, device=device, dtype=dtype) * dt
    if record is None:
        record_list = list(range(n_steps + 1))
    else:
        record_list = [int(i) for i in record]
    slot = {step: k for k, step in enumerate(record_list)}
    out = torch.empty((len(record_list), *x0.shape), dtype=dtype, device=device)
    x = x0
    with torch.no_grad():
        if 0 in slot:
            out[slot[0]] = x
        last = max(record_list) if record_list else 0
        for i in range(last):
            xi = torch.randn(x.shape, generator=generator, dtype=dtype, device=device)
            x = x + dt * drift(x, times[i]) + noise * xi
            if i + 1 in slot:
                out[slot[i + 1]] = x
    return out


def sample_paths(
    drift: Drift,
    problem: Problem,
    n: int,
    seed: int,
    times: np.ndarray,
    *,
    nu: float,
    dtype: torch.dtype,
    device: torch.device,
    batch_size: int,
) -> np.ndarray:
    """n paths of Nelson's process observed at ``times`` (on the problem's grid), as a float64
    numpy array (n, len(times), d). Simulated in batches of ``batch_size`` paths so that the
    working memory is bounded; one generator seeded with ``seed`` draws every batch in turn,
    so the result depends on (seed, batch_size) only."""
    if n < 1:
        raise ValueError(f"n={n} must be >= 1")
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size} must be >= 1")
    steps = time_indices(problem, times)
    order = np.argsort(steps, kind="stable")
    unique_steps, inverse = np.unique(steps[order], return_inverse=True)
    record = torch.as_tensor(unique_steps)
    generator = torch.Generator(device=device)
    generator.manual_seed(int(seed))
    result = np.empty((n, len(steps), problem.d), dtype=np.float64)
    for start in range(0, n, batch_size):
        b = min(batch_size, n - start)
        x0 = sample_initial(problem, b, generator, dtype, device)
        states = euler_maruyama(drift, x0, problem, nu=nu, generator=generator, record=record)
        states = states.to("cpu", torch.float64).numpy()  # (n_unique, b, d)
        result[start : start + b][:, order] = states[inverse].transpose(1, 0, 2)
    return result
