"""The Schrodinger equation as the PINN's loss: two real residuals and the initial state.

For psi = Re psi + i Im psi, i hbar d_t psi = -(hbar^2 / 2m) Lap psi + V psi splits into

    r_re = -hbar d_t Im psi + (hbar^2 / 2m) Lap Re psi - V Re psi = 0
    r_im =  hbar d_t Re psi + (hbar^2 / 2m) Lap Im psi - V Im psi = 0

The Laplacian is the trace of DeepXDE's Hessian (d second-order backward passes), or a
stochastic estimate of it through the net (``solvers.pinn.laplacian``). With causal time
weighting (Wang, Sankaran, Perdikaris 2022, "Respecting causality is all you need for training
physics-informed neural networks") the residual at a point in time slice i is scaled by
sqrt(w_i), w_i = exp(-eps sum_{k<i} L_k), L_k the mean squared residual of slice k (no
gradient through w): the mean squared residual becomes sum_i w_i L_i / M, and a slice counts
only once the earlier ones are solved.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from reference.problems import Problem
from solvers.pinn.backend import import_deepxde
from solvers.pinn.laplacian import hessian_quadratic_forms_reverse, probes
from solvers.pinn.laplacian import laplacian as stochastic_laplacian

__all__ = ["causal_weights", "psi0_parts", "psi0_parts_differentiable", "schrodinger_residual"]


def schrodinger_residual(problem: Problem, x: Any, y: Any, *, laplacian: str = "exact",
                         k: int = 1, net: Callable[[Any], Any] | None = None,
                         hvp: str = "forward_over_reverse", causal_eps: float = 0.0,
                         causal_slices: int = 16) -> list:
    """The two real residuals [r_re, r_im] (each (N, 1)) of the Schrodinger equation at the
    space-time points x (N, d + 1), last column t, for y = (Re psi, Im psi) of shape (N, 2)
    computed from x (torch, differentiable). laplacian: exact (DeepXDE's Hessian), hutchinson
    or sdgd with k probes / coordinates, by Hessian-vector products (hvp): forward-over-reverse
    through ``net`` (the map x -> y) evaluated again, or reverse-over-reverse through DeepXDE's
    gradient of y. causal_eps > 0: causal time weighting over causal_slices slices."""
    dde = import_deepxde()
    d, hbar, m = problem.d, problem.hbar, problem.m
    re, im = y[:, 0:1], y[:, 1:2]
    dt_re = dde.grad.jacobian(y, x, i=0, j=d)
    dt_im = dde.grad.jacobian(y, x, i=1, j=d)
    if laplacian == "exact":
        lap_re = sum(dde.grad.hessian(y, x, component=0, i=k, j=k) for k in range(d))
        lap_im = sum(dde.grad.hessian(y, x, component=1, i=k, j=k) for k in range(d))
    elif hvp == "reverse_over_reverse":
        v, scale = probes(laplacian, len(x), d, k, dtype=x.dtype, device=x.device)
        gradients = [dde.grad.jacobian(y, x, i=c) for c in (0, 1)]  # cached: d_t came from these
        lap = scale * hessian_quadratic_forms_reverse(gradients, x, v).sum(1)
        lap_re, lap_im = lap[:, 0:1], lap[:, 1:2]
    else:
        if net is None:
            raise ValueError(f"laplacian={laplacian!r} needs the net")
        lap = stochastic_laplacian(net, x, d, laplacian, k)
        lap_re, lap_im = lap[:, 0:1], lap[:, 1:2]
    potential = problem.potential(x[:, :d])[:, None]
    kinetic = hbar**2 / (2 * m)
    residual = [
        -hbar * dt_im + kinetic * lap_re - potential * re,
        hbar * dt_re + kinetic * lap_im - potential * im,
    ]
    if causal_eps > 0:
        scale = causal_weights(x[:, d], residual[0] ** 2 + residual[1] ** 2, problem.T,
                               causal_eps, causal_slices).sqrt()[:, None]
        residual = [r * scale for r in residual]
    return residual


def causal_weights(t: Any, squared: Any, horizon: float, eps: float, slices: int) -> Any:
    """w at every point (N,): exp(-eps * sum of the mean squared residuals of the earlier time
    slices), slices of equal length on [0, horizon]; no gradient flows through w."""
    import torch

    squared = squared.detach().reshape(-1)
    index = torch.clamp((t.detach() / horizon * slices).long(), 0, slices - 1)
    total = torch.zeros(slices, dtype=squared.dtype, device=squared.device)
    count = torch.zeros_like(total)
    total.index_add_(0, index, squared)
    count.index_add_(0, index, torch.ones_like(squared))
    mean = total / count.clamp(min=1)
    before = torch.cumsum(mean, 0) - mean  # sum over k < i
    return torch.exp(-eps * before)[index]


def psi0_parts(problem: Problem, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(Re psi_0, Im psi_0) at x (..., d) from problem.psi0 (numpy: the soft initial
    condition's targets)."""
    psi0 = problem.psi0(x)
    return psi0.real, psi0.imag


def psi0_parts_differentiable(problem: Problem, x: Any) -> tuple[Any, Any]:
    """(Re psi_0, Im psi_0) on a torch tensor x (..., d), the same function as problem.psi0 but
    built from the problem's log |psi_0| and arg psi_0 (``Problem.log_psi0``): problem.psi0
    takes sqrt(rho_0), whose derivative is inf where rho_0 underflows to 0 (float32, d = 10,
    box corners), and inf * 0 = NaN residuals."""
    import torch

    log_amplitude, phase = problem.log_psi0(x)
    amplitude = torch.exp(log_amplitude)
    return amplitude * torch.cos(phase), amplitude * torch.sin(phase)
