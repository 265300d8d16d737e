"""Deep Stochastic Mechanics (Orlova et al., ICML 2024) in torch.

Two networks give the osmotic and current velocities u_theta(x, t), v_theta(x, t) in R^d. By
default the initial condition is built in, u = u_0(x) + t N_u(x, t), v = v_0(x) + t N_v(x, t),
with N an MLP of (x, t). Training repeats:

1. Simulate B paths of Nelson's process dX = (v + nu u) dt + sqrt(nu hbar/m) dW from rho_0 by
   Euler-Maruyama (``solvers.nelson``, no gradients).
2. Pick training points. ``interpolated`` (the authors' scheme): M random step indices i, from
   each X_i one extra Euler-Maruyama step of random length tau in [0, dt), at time t_i + tau,
   plus the start points; ``grid``: the states X_i at M random grid times, plus the start points.
3. Minimise the mean squared residuals of the stochastic-mechanics equations

       R_v = d_t v + grad V / m - grad( 1/2 |u|^2 - 1/2 |v|^2 + (hbar/2m) div u )
       R_u = d_t u + grad( <u, v> + (hbar/2m) div v )

   (the Schrodinger equation for psi = sqrt(rho) exp(i S) written for u, v), each optionally
   weighted in time as the authors did, plus the initial condition as a loss term when it is
   not built in.

Derivatives on the default path take few passes. Forward mode is written out for the MLP (the
tangent of a = act(W a_prev + b) along a direction is act'(z) (W a_prev'), and to second
order d2a = act'(z) W d2a_prev + act''(z) dz_i dz_j), so a direction costs one batched matmul
per hidden layer and no autograd graph of its own:

* ``grad_div="exact"``, d = 1 (``TAYLOR_MAX_D``): value, t, x and xx tangents in one forward
  pass per network give d_t u, J_u and grad div u with no reverse pass at all;
* ``grad_div="exact"``, d > 1: the t tangent and the d coordinate tangents give d_t u and
  J_u (its (P, d, d) output, which costs less than the d hidden-width tangents that any exact
  divergence needs); grad div u and grad div v take ONE reverse pass (each network reads its
  own copy of x);
* ``grad_div="hutchinson"``: tangents along t and k Rademacher probes z give d_t u and
  div u ~ mean_k z^T J_u z (unbiased); then grad(1/2 |u|^2 - 1/2 |v|^2 + (hbar/2m) div u) and
  grad(<u, v> + (hbar/2m) div v) are one vector-Jacobian product each (J_u^T u, J_u^T v +
  J_v^T u): no d x d Jacobian, and a cost that does not grow with d at fixed width and k.

Measured CPU time of one loss + backward at the authors' size (P = 15,100 points, width 400,
1 thread): d = 1 second-order forward 1.5 s, tangents + reverse 1.8 s, full_jacobian 1.8 s;
d = 3: 4.6 s, 3.3 s, 4.2 s; hence the switch at d = 1. The path simulation (1000 sequential
steps of both networks on B paths) is shared by all modes and is a large part of an epoch.
``full_jacobian=True`` is the straightforward autograd implementation (one backward pass per
output component for every derivative, as in the authors' code), kept for comparison.
"""

from __future__ import annotations

import math
import os
import resource
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from reference.problems import Problem
from solvers.base import Cost, Monitor, Solution, Solver, SolverConfigError
from solvers.nelson import euler_maruyama, sample_initial, sample_paths

__all__ = [
    "DSMNetworks",
    "DSMSolution",
    "DSMSolver",
    "residuals",
    "residuals_autograd",
    "training_points",
]

_DTYPES = {"float32": torch.float32, "float64": torch.float64}
_FORMAT = "dsm-bench/dsm-v1"


# ------------------------------------------------------------------ activations and derivatives
def _tanh_pair(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    a = torch.tanh(z)
    return a, 1.0 - a * a


def _sin_pair(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.sin(z), torch.cos(z)


def _softplus_pair(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return nn.functional.softplus(z), torch.sigmoid(z)


def _silu_pair(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    s = torch.sigmoid(z)
    return z * s, s * (1.0 + z * (1.0 - s))


# activation name -> z -> (act(z), act'(z)); smooth ones only: the loss needs third derivatives
ACTIVATIONS: dict[str, Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]] = {
    "tanh": _tanh_pair,
    "sin": _sin_pair,
    "softplus": _softplus_pair,
    "silu": _silu_pair,
}


def _tanh_triple(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    a = torch.tanh(z)
    s = 1.0 - a * a
    return a, s, -2.0 * a * s


def _sin_triple(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    a = torch.sin(z)
    return a, torch.cos(z), -a


def _softplus_triple(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    s = torch.sigmoid(z)
    return nn.functional.softplus(z), s, s * (1.0 - s)


def _silu_triple(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    s = torch.sigmoid(z)
    # (z s)' = s (1 + z (1 - s)), (z s)'' = s (1 - s) (2 + z (1 - 2 s))
    return z * s, s * (1.0 + z * (1.0 - s)), s * (1.0 - s) * (2.0 + z * (1.0 - 2.0 * s))


# activation name -> z -> (act, act', act''): second-order forward mode (Taylor jets)
SECOND_ORDER: dict[str, Callable[[torch.Tensor], tuple[torch.Tensor, ...]]] = {
    "tanh": _tanh_triple,
    "sin": _sin_triple,
    "softplus": _softplus_triple,
    "silu": _silu_triple,
}

# activation name -> act(z) alone, for the plain forward pass (sampling, rollouts)
_PLAIN: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "tanh": torch.tanh,
    "sin": torch.sin,
    "softplus": nn.functional.softplus,
    "silu": nn.functional.silu,
}

# activation name -> (alpha, beta, gamma, g) with act(z) = alpha g(beta z) + gamma, g cheaper
# than act: the path simulation keeps h = g(beta z) and folds alpha, beta, gamma into the
# weights. tanh = 2 sigmoid(2 z) - 1: on this project's CPU (AVX-512, torch 2.13, one thread)
# torch.tanh takes 150 us on a (100, 400) tensor and torch.sigmoid 17 us, and tanh was a third
# of a path simulation at width 400 and most of one at width 64. The loss keeps torch.tanh:
# under autograd (double backward for grad div) the three-op form measured slower at d = 3.
_CHEAPER_FORM: dict[str, tuple[float, float, float, Callable[[torch.Tensor], torch.Tensor]]] = {
    "tanh": (2.0, 2.0, -1.0, torch.sigmoid),
}


def _folded_form(activation: str
                 ) -> tuple[float, float, float, Callable[[torch.Tensor], torch.Tensor]]:
    """(alpha, beta, gamma, g) with act(z) = alpha g(beta z) + gamma; (1, 1, 0, act) when no
    cheaper form is known."""
    return _CHEAPER_FORM.get(activation, (1.0, 1.0, 0.0, _PLAIN[activation]))


class _MLP(nn.Module):
    """N(x, t): R^d x R -> R^d, ``depth`` hidden layers of ``width`` units."""

    def __init__(self, d: int, width: int, depth: int, activation: str):
        super().__init__()
        self.d = d
        self.activation = activation
        self.layers = nn.ModuleList(
            [nn.Linear(d + 1, width)] + [nn.Linear(width, width) for _ in range(depth - 1)]
        )
        self.out = nn.Linear(width, d)

    def _first(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        # W [x; t] + b without concatenating: t is a column (P, 1) or a 0-d tensor
        w = self.layers[0].weight
        return torch.addmm(self.layers[0].bias + t * w[:, self.d], x, w[:, : self.d].T)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        act = _PLAIN[self.activation]
        a = act(self._first(x, t))
        for layer in self.layers[1:]:
            a = act(layer(a))
        return self.out(a)

    def jets(
        self, x: torch.Tensor, t: torch.Tensor, probes: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(N, d_t N, div-estimate of N) at x (P, d), t (P, 1).

        probes None: div N = sum_i (J e_i)_i with the d coordinate tangents (exact);
        probes (k, P, d): div N ~ mean_k z_k^T J z_k (Hutchinson). Tangents are propagated
        layer by layer, all directions in one matmul per layer.
        """
        act = ACTIVATIONS[self.activation]
        w0 = self.layers[0].weight
        a, slope = act(self._first(x, t))
        wx = w0[:, : self.d]  # (width, d)
        tan_t = slope * w0[:, self.d]  # (P, width): along t
        if probes is None:
            # along e_i the first pre-activation tangent is the column W[:, i]
            tan_x = slope.unsqueeze(0) * wx.T.unsqueeze(1)  # (d, P, width)
        else:
            tan_x = slope.unsqueeze(0) * (probes @ wx.T)  # (k, P, width)
        # t and x tangents stay separate tensors: slicing one stacked tensor would cost a
        # zero-filled full-size gradient per slice in the backward passes
        n_dir, n_pts, width = tan_x.shape
        for layer in self.layers[1:]:
            a, slope = act(layer(a))
            tan_t = slope * (tan_t @ layer.weight.T)
            tan_x = slope * (tan_x.reshape(-1, width) @ layer.weight.T).reshape(n_dir, n_pts, -1)
        out = self.out(a)
        w_out = self.out.weight  # (d, width)
        out_t = tan_t @ w_out.T
        if probes is None:
            div = torch.einsum("ipw,iw->p", tan_x, w_out)
        else:
            div = ((tan_x @ w_out.T) * probes).sum(-1).mean(0)
        return out, out_t, div


    def jacobian_jets(
        self, x: torch.Tensor, t: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(N, d_t N, T) at x (P, d), t (P, 1), with T[b, p, a] = dN_a / dx_b (P, d, d as
        (d, P, d)): forward mode along t and the d coordinates. Value, t- and x-tangents go
        through separate matmuls (no concatenate-then-slice, whose backward would zero-fill)."""
        act = ACTIVATIONS[self.activation]
        w0 = self.layers[0].weight
        a, slope = act(self._first(x, t))
        tan_t = slope * w0[:, self.d]
        tan_x = slope.unsqueeze(0) * w0[:, : self.d].T.unsqueeze(1)  # (d, P, width)
        n_dir, n_pts, width = tan_x.shape
        for layer in self.layers[1:]:
            a, slope = act(layer(a))
            tan_t = slope * (tan_t @ layer.weight.T)
            tan_x = slope * (tan_x.reshape(-1, width) @ layer.weight.T).reshape(n_dir, n_pts, -1)
        w_out = self.out.weight
        return self.out(a), tan_t @ w_out.T, tan_x @ w_out.T


    def taylor_jets(
        self, x: torch.Tensor, t: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(N, d_t N, T, grad div N) at x (P, d), t (P, 1) by forward mode to second order,
        with no reverse pass: T[b, p, a] = dN_a/dx_b from the d first-order tangents, and
        (grad div N)_j = sum_i d_i d_j N_i from second-order tangents along the pairs {i, j}:

            z = W a + b:  dz = W da,  d2z = W d2a;   a' = act(z):  da' = act'(z) dz,
            d2a'_ij = act'(z) d2z_ij + act''(z) dz_i dz_j,

        d (d + 1) / 2 pairs, so it pays for small d only (see ``TAYLOR_MAX_D``)."""
        triple = SECOND_ORDER[self.activation]
        d = self.d
        pairs = [(i, j) for i in range(d) for j in range(i, d)]
        w0 = self.layers[0].weight
        a, s1, s2 = triple(self._first(x, t))
        wx = w0[:, :d]  # first pre-activation tangent along e_i is the column W[:, i]
        tan_t = s1 * w0[:, d]
        tan_x = s1.unsqueeze(0) * wx.T.unsqueeze(1)  # (d, P, width)
        left = torch.tensor([i for i, _ in pairs], device=x.device)
        right = torch.tensor([j for _, j in pairs], device=x.device)
        # the first pre-activation is linear in x: its second tangents vanish
        tan_xx = s2.unsqueeze(0) * (wx.T[left] * wx.T[right]).unsqueeze(1)  # (pairs, P, width)
        n_pts, width = a.shape
        for layer in self.layers[1:]:
            w = layer.weight.T
            dz_x = (tan_x.reshape(-1, width) @ w).reshape(d, n_pts, -1)
            d2z = (tan_xx.reshape(-1, width) @ w).reshape(len(pairs), n_pts, -1)
            a, s1, s2 = triple(layer(a))
            tan_t = s1 * (tan_t @ w)
            tan_xx = s1 * d2z + s2 * dz_x[left] * dz_x[right]
            tan_x = s1 * dz_x
        w_out = self.out.weight
        jac = tan_x @ w_out.T  # (d, P, d)
        hess = tan_xx @ w_out.T  # (pairs, P, d): d_i d_j N for each pair
        grad_div = torch.zeros_like(x)
        for k, (i, j) in enumerate(pairs):
            grad_div[:, j] = grad_div[:, j] + hess[k, :, i]
            if i != j:
                grad_div[:, i] = grad_div[:, i] + hess[k, :, j]
        return self.out(a), tan_t @ w_out.T, jac, grad_div


class DSMNetworks(nn.Module):
    """The pair (u_theta, v_theta). With ``ic_built_in``, u = u_0 + t N_u and v = v_0 + t N_v
    (u_0 = (hbar/2m) grad log rho_0 and v_0 = (hbar/m) grad S_0 from the problem)."""

    def __init__(self, problem: Problem, width: int, depth: int, activation: str,
                 ic_built_in: bool):
        super().__init__()
        self.problem = problem
        self.ic_built_in = ic_built_in
        self.net_u = _MLP(problem.d, width, depth, activation)
        self.net_v = _MLP(problem.d, width, depth, activation)

    @staticmethod
    def _column(t: torch.Tensor | float, x: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
        return t.reshape(-1, 1) if t.ndim > 0 else t

    def velocities(self, x: torch.Tensor, t: torch.Tensor | float) -> tuple[torch.Tensor, torch.Tensor]:
        """(u, v) at x (P, d) and t (P,) or a scalar."""
        tc = self._column(t, x)
        nu_, nv_ = self.net_u(x, tc), self.net_v(x, tc)
        if not self.ic_built_in:
            return nu_, nv_
        return self.problem.u0(x) + tc * nu_, self.problem.v0(x) + tc * nv_

    def drift_function(self, nu: float) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """b(x, t) = v + nu u for simulation (no gradients), both networks fused: one matmul
        for the two input layers, one for the two output layers (weights taken now).

        With act(z) = alpha g(beta z) + gamma (``_folded_form``; tanh = 2 sigmoid(2 z) - 1) the
        layers carry h = g(beta z): the next pre-activation beta (W a + b) = (alpha beta W) h
        + beta (b + gamma W 1), and the output W a + b = (alpha W) h + b + gamma W 1, so a
        layer costs one matmul and one call of g."""
        alpha, beta, gamma, g = _folded_form(self.net_u.activation)
        d = self.problem.d

        def folded(layer: nn.Linear, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
            # a layer reading h instead of a: (alpha W, b + gamma W 1), times scale
            return (scale * alpha * layer.weight,
                    scale * (layer.bias + gamma * layer.weight.sum(1)))

        with torch.no_grad():
            first = [n.layers[0] for n in (self.net_u, self.net_v)]
            w_in = beta * torch.cat([f.weight for f in first])  # (2 width, d + 1)
            b_in = beta * torch.cat([f.bias for f in first])
            w_in_x, w_in_t = w_in[:, :d].T.contiguous(), w_in[:, d]
            hidden = []
            for lu, lv in zip(self.net_u.layers[1:], self.net_v.layers[1:], strict=True):
                (wu, bu), (wv, bv) = folded(lu, beta), folded(lv, beta)
                hidden.append((wu.T.contiguous(), bu, wv.T.contiguous(), bv))
            (wu, bu), (wv, bv) = folded(self.net_u.out, 1.0), folded(self.net_v.out, 1.0)
            w_out = torch.cat([nu * wu, wv], 1).T.contiguous()  # (2 width, d)
            b_out = nu * bu + bv
        width = w_in.shape[0] // 2
        problem, built_in = self.problem, self.ic_built_in

        def drift(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            h = g(torch.addmm(b_in + t * w_in_t, x, w_in_x))
            for wu, bu, wv, bv in hidden:
                h = torch.cat([g(torch.addmm(bu, h[:, :width], wu)),
                               g(torch.addmm(bv, h[:, width:], wv))], 1)
            out = torch.addmm(b_out, h, w_out)  # nu N_u + N_v
            if built_in:
                return problem.v0(x) + nu * problem.u0(x) + t * out
            return out

        return drift

    def u(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.velocities(x, t)[0]

    def v(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.velocities(x, t)[1]

    def jets(self, x: torch.Tensor, t: torch.Tensor, probes: torch.Tensor | None = None
             ) -> dict[str, torch.Tensor]:
        """u, v, d_t u, d_t v and div u, div v up to an x-independent constant (exact, or the
        Hutchinson estimate with ``probes``). The constant is div u_0: every problem starts from
        a Gaussian, so u_0 is affine in x and v_0 constant, and only grad div enters the loss."""
        tc = self._column(t, x)
        nu_, nu_t, div_nu = self.net_u.jets(x, tc, probes)
        nv_, nv_t, div_nv = self.net_v.jets(x, tc, probes)
        if not self.ic_built_in:
            return {"u": nu_, "v": nv_, "u_t": nu_t, "v_t": nv_t, "div_u": div_nu,
                    "div_v": div_nv}
        # u = u_0(x) + t N: d_t u = N + t d_t N, div u = div u_0 + t div N
        tcol = tc if tc.ndim > 0 else tc.reshape(1, 1)
        return {
            "u": self.problem.u0(x) + tc * nu_,
            "v": self.problem.v0(x) + tc * nv_,
            "u_t": nu_ + tc * nu_t,
            "v_t": nv_ + tc * nv_t,
            "div_u": tcol[:, 0] * div_nu,
            "div_v": tcol[:, 0] * div_nv,
        }


# ------------------------------------------------------------------ residuals
def residuals(
    nets: DSMNetworks, x: torch.Tensor, t: torch.Tensor, probes: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(R_u, R_v), each (P, d), on the few-passes path (see the module docstring):

        R_v = d_t v + grad V / m - (J_u^T u - J_v^T v + (hbar/2m) grad div u)
        R_u = d_t u + J_u^T v + J_v^T u + (hbar/2m) grad div v

    x (P, d) and t (P,) are training points. Exact grad div (``probes`` None): one forward
    pass per network carries the t tangent and the d coordinate tangents, which give d_t u
    and J_u; grad div u and grad div v then take ONE reverse pass (each network reads its own
    copy of x, so one backward call returns both gradients). Hutchinson (``probes`` (k, P, d)):
    forward tangents along t and the k probes, then the two scalar potentials

        phi_v = 1/2 |u|^2 - 1/2 |v|^2 + (hbar/2m) div u,    phi_u = <u, v> + (hbar/2m) div v

    are differentiated by one vector-Jacobian product each (grad 1/2|u|^2 = J_u^T u, ...), so
    no d x d Jacobian is formed and the cost does not grow with d at fixed width and k.
    """
    if probes is None:
        return _residuals_exact(nets, x, t)
    problem = nets.problem
    x = x.detach().requires_grad_(True)
    jet = nets.jets(x, t.detach(), probes)
    c = problem.hbar / (2 * problem.m)
    u, v = jet["u"], jet["v"]
    phi_v = 0.5 * (u * u).sum(-1) - 0.5 * (v * v).sum(-1) + c * jet["div_u"]
    phi_u = (u * v).sum(-1) + c * jet["div_v"]
    grad_phi_v = torch.autograd.grad(phi_v.sum(), x, create_graph=True, retain_graph=True)[0]
    grad_phi_u = torch.autograd.grad(phi_u.sum(), x, create_graph=True)[0]
    r_v = jet["v_t"] + problem.grad_potential(x) / problem.m - grad_phi_v
    r_u = jet["u_t"] + grad_phi_u
    return r_u, r_v


# exact grad div: second-order forward mode (no reverse pass) up to this d; above it the
# d (d + 1) / 2 second-order tangents cost more than one reverse pass over d first-order ones
TAYLOR_MAX_D = 1


def _residuals_exact(nets: DSMNetworks, x: torch.Tensor, t: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    problem = nets.problem
    x = x.detach()
    tc = t.detach().reshape(-1, 1)
    if problem.d <= TAYLOR_MAX_D:
        n_u, n_u_t, jac_nu, grad_tr_u = nets.net_u.taylor_jets(x, tc)
        n_v, n_v_t, jac_nv, grad_tr_v = nets.net_v.taylor_jets(x, tc)
    else:
        x_u = x.clone().requires_grad_(True)  # the u network's copy of x
        x_v = x.clone().requires_grad_(True)  # the v network's copy of x
        n_u, n_u_t, jac_nu = nets.net_u.jacobian_jets(x_u, tc)
        n_v, n_v_t, jac_nv = nets.net_v.jacobian_jets(x_v, tc)
        # grad of the traces of both Jacobians in one backward call (disjoint graphs)
        trace_u = torch.diagonal(jac_nu, dim1=0, dim2=2).sum(-1)
        trace_v = torch.diagonal(jac_nv, dim1=0, dim2=2).sum(-1)
        grad_tr_u, grad_tr_v = torch.autograd.grad(
            trace_u.sum() + trace_v.sum(), (x_u, x_v), create_graph=True)

    def jt(jac: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        # (J^T w)_b = sum_a dN_a/dx_b w_a, with jac[b, p, a] = dN_a/dx_b
        return torch.einsum("bpa,pa->pb", jac, w)

    if nets.ic_built_in:
        # u = u_0 + t N_u with u_0 = -(hbar/2m)(x - mu0)/s0^2 (every problem starts from a
        # Gaussian), so J_u = -(hbar/(2 m s0^2)) I + t J_Nu; v_0 is constant: J_v = t J_Nv
        u0_slope = -problem.hbar / (2 * problem.m * problem.s0_sq)
        u, v = problem.u0(x) + tc * n_u, problem.v0(x) + tc * n_v
        u_t, v_t = n_u + tc * n_u_t, n_v + tc * n_v_t

        def jt_u(w: torch.Tensor) -> torch.Tensor:
            return u0_slope * w + tc * jt(jac_nu, w)

        def jt_v(w: torch.Tensor) -> torch.Tensor:
            return tc * jt(jac_nv, w)

        grad_div_u, grad_div_v = tc * grad_tr_u, tc * grad_tr_v
    else:
        u, v, u_t, v_t = n_u, n_v, n_u_t, n_v_t

        def jt_u(w: torch.Tensor) -> torch.Tensor:
            return jt(jac_nu, w)

        def jt_v(w: torch.Tensor) -> torch.Tensor:
            return jt(jac_nv, w)

        grad_div_u, grad_div_v = grad_tr_u, grad_tr_v
    c = problem.hbar / (2 * problem.m)
    r_v = v_t + problem.grad_potential(x) / problem.m - (jt_u(u) - jt_v(v) + c * grad_div_u)
    r_u = u_t + jt_u(v) + jt_v(u) + c * grad_div_v
    return r_u, r_v


def residuals_autograd(
    u_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    v_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    problem: Problem,
    x: torch.Tensor,
    t: torch.Tensor,
    probes: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(R_u, R_v) for any differentiable u_fn(x, t), v_fn(x, t) (x (P, d), t (P,)), by plain
    autograd: one backward pass per output component for d_t and the Jacobians, which are
    materialised (P, d, d); then grad div by one more pass. With ``probes`` (k, P, d), div is
    the Hutchinson estimate mean_k z^T J z (k backward passes for J^T z). This is the
    ``full_jacobian`` mode and the reference the fast path is tested against."""
    x = x.detach().requires_grad_(True)
    t = t.detach().requires_grad_(True)
    u, v = u_fn(x, t), v_fn(x, t)
    d = problem.d

    def jacobian_and_time(f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # as a straightforward implementation (and the authors' code) does it: one backward
        # pass per output component for d_t, and one per component for the x-Jacobian
        rows, dts = [], []
        for i in range(d):
            dts.append(torch.autograd.grad(f[:, i].sum(), t, create_graph=True,
                                           materialize_grads=True)[0])
        for i in range(d):
            rows.append(torch.autograd.grad(f[:, i].sum(), x, create_graph=True,
                                            materialize_grads=True)[0])
        return torch.stack(rows, 1), torch.stack(dts, 1)  # (P, d, d) J[p, i, j], (P, d)

    jac_u, u_t = jacobian_and_time(u)
    jac_v, v_t = jacobian_and_time(v)

    def divergence(f: torch.Tensor, jac: torch.Tensor) -> torch.Tensor:
        if probes is None:
            return torch.diagonal(jac, dim1=1, dim2=2).sum(-1)
        est = []
        for z in probes:
            jtz = torch.autograd.grad((f * z).sum(), x, create_graph=True,
                                      materialize_grads=True)[0]
            est.append((jtz * z).sum(-1))
        return torch.stack(est).mean(0)

    # materialize_grads: an affine u (the exact Gaussian packet) has a constant divergence
    grad_div_u = torch.autograd.grad(divergence(u, jac_u).sum(), x, create_graph=True,
                                     materialize_grads=True)[0]
    grad_div_v = torch.autograd.grad(divergence(v, jac_v).sum(), x, create_graph=True,
                                     materialize_grads=True)[0]
    c = problem.hbar / (2 * problem.m)
    jtu_u = torch.einsum("pij,pi->pj", jac_u, u)
    jtv_v = torch.einsum("pij,pi->pj", jac_v, v)
    grad_uv = torch.einsum("pij,pi->pj", jac_u, v) + torch.einsum("pij,pi->pj", jac_v, u)
    r_v = v_t + problem.grad_potential(x) / problem.m - (jtu_u - jtv_v + c * grad_div_u)
    r_u = u_t + grad_uv + c * grad_div_v
    return r_u, r_v


# ------------------------------------------------------------------ training points
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
    as the first B points (the initial-condition loss term reads them there).
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
        if scheme == "interpolated":
            tau = dt * torch.rand(ts.shape, generator=generator, dtype=dtype, device=device)
            xi = torch.randn(xs.shape, generator=generator, dtype=dtype, device=device)
            noise = torch.sqrt(nu * problem.diffusion * tau)[:, None]
            xs = xs + tau[:, None] * drift(xs, ts[:, None]) + noise * xi
            ts = ts + tau
        x = torch.cat([states[0], xs])
        t = torch.cat([torch.zeros(n_paths, dtype=dtype, device=device), ts])
    return x, t


# ------------------------------------------------------------------ solution
class DSMSolution(Solution):
    """A trained DSM model: samples Nelson's process with the learned drift v + nu u."""

    is_sampler = True

    def __init__(self, problem: Problem, cost: Cost, history: pd.DataFrame | None,
                 nets: DSMNetworks, options: dict[str, Any]):
        super().__init__(problem, cost, history)
        self.nets = nets
        self.options = dict(options)

    @property
    def _device(self) -> torch.device:
        return next(self.nets.parameters()).device

    @property
    def _dtype(self) -> torch.dtype:
        return next(self.nets.parameters()).dtype

    def sample(self, n: int, seed: int, times: np.ndarray) -> np.ndarray:
        self.nets.eval()
        drift = self.nets.drift_function(float(self.options["nu"]))
        paths = sample_paths(drift, self.problem, n, seed, times,
                             nu=float(self.options["nu"]), dtype=self._dtype,
                             device=self._device, batch_size=int(self.options["sample_batch"]))
        return paths

    def drift(self, x: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(x, dtype=float)
        t = np.broadcast_to(np.asarray(t, dtype=float), x.shape[:-1])
        xt = torch.as_tensor(x, dtype=self._dtype, device=self._device)
        tt = torch.as_tensor(np.array(t), dtype=self._dtype, device=self._device)
        with torch.no_grad():
            u, v = self.nets.velocities(xt, tt)
        return u.to("cpu", torch.float64).numpy(), v.to("cpu", torch.float64).numpy()

    # -------------------------------------------------------------- persistence
    def _state(self) -> dict[str, Any]:
        return {
            "format": _FORMAT,
            "problem": self.problem.config(),
            "options": dict(self.options),
            "model": self.nets.state_dict(),
            "history": _history_records(self.history),
            "cost": self.cost.as_dict(),
        }

    def save(self, path: str | os.PathLike) -> None:
        """Write the model, its options, problem, history and cost (torch.save, atomic)."""
        _atomic_save(self._state(), path)

    @classmethod
    def load(cls, path: str | os.PathLike, device: str = "cpu") -> DSMSolution:
        """Read a file written by ``save`` (or a training checkpoint)."""
        state = torch.load(path, map_location=device, weights_only=True)
        if state.get("format") != _FORMAT:
            raise ValueError(f"{path}: not a DSM solution file (format {state.get('format')!r})")
        problem = _problem_from_config(state["problem"])
        options = state["options"]
        nets = _build_networks(problem, options).to(device=device,
                                                    dtype=_DTYPES[options["dtype"]])
        nets.load_state_dict(state["model"])
        cost = Cost(**state["cost"])
        history = pd.DataFrame(state["history"]) if state["history"] else None
        return cls(problem, cost, history, nets, options)


def _problem_from_config(config: dict[str, Any]) -> Problem:
    fields = dict(config)
    for key in ("box", "grid_points", "d_range"):
        fields[key] = tuple(fields[key])
    return Problem(**fields)


def _history_records(history: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
            for row in history.to_dict("records")]


def _atomic_save(state: dict[str, Any], path: str | os.PathLike) -> None:
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    torch.save(state, tmp)
    os.replace(tmp, path)  # a crash mid-write leaves the previous checkpoint intact


def _build_networks(problem: Problem, options: dict[str, Any]) -> DSMNetworks:
    return DSMNetworks(problem, int(options["width"]), int(options["depth"]),
                       options["activation"], options["ic"] == "built_in")


# ------------------------------------------------------------------ solver
_CHOICES: dict[str, tuple[str, ...]] = {
    "activation": tuple(ACTIVATIONS),
    "lr_schedule": ("cosine", "constant"),
    # "uniform", not "none": the command line reads --set key=none as None
    "time_weighting": ("authors", "uniform"),
    "ic": ("built_in", "loss"),
    "dtype": tuple(_DTYPES),
    "device": ("auto", "cpu", "cuda"),
    "scheme": ("interpolated", "grid"),
    "grad_div": ("exact", "hutchinson"),
}

# "auto" chunk on a CPU. Measured (scratch loop, one thread, epochs 2-4, harmonic): width 400,
# B 100, M 150 (15,100 points), d = 1: 3.18 s an epoch unchunked, 2.80 s at 4096, 2.84 s at
# 1024; d = 3: 6.43 s unchunked, 5.30 s at 4096, 5.08 s at 2048. Width 64, M 50: 5-7% faster.
# The passes' elementwise work on (points, width) tensors runs from cache instead of memory.
# Two threads, same loop: d = 1 1.87 -> 1.71 s, d = 3 3.76 -> 3.17 s; benchmarks/dsm_epoch_speed.py
# (a process per configuration) gave d = 1 1.82 unchunked and 2.11 chunked, d = 3 4.10 and
# 3.09-3.48, on a machine whose epoch times moved by 15 % between identical runs.
CPU_CHUNK_POINTS = 2048

# options that change the trained model: a checkpoint resumes only when these match
_MODEL_KEYS = ("width", "depth", "activation", "batch", "M", "lr", "lr_schedule", "lr_decay",
               "weight_u", "weight_v", "weight_ic", "time_weighting", "ic", "nu", "dtype",
               "seed", "scheme", "grad_div", "hutchinson_probes", "full_jacobian")


class DSMSolver(Solver):
    """Deep Stochastic Mechanics. Options (``defaults``), all recorded with results:

    width, depth (hidden layers), activation: the two MLPs (authors: 400, 2, tanh).
    epochs: training iterations (one simulated batch each) unless the budget's max_iters is set.
    batch (B paths), M (training times per path): P = B (M + 1) points an epoch (authors: 100,
    150). lr, lr_schedule (cosine to lr * lr_decay over the run, or constant), Adam.
    weight_u, weight_v, weight_ic: loss weights; time_weighting "authors" multiplies the
    residuals by sqrt(exp(2 (T - t)) - 1) (u) and sqrt(exp(T - t) - 1) (v), stressing early
    times whose errors every later time inherits (and weighing t = T by 0); "uniform".
    ic: "built_in" (u = u_0 + t N) or "loss" (an MSE term at t = 0). nu: noise of the process.
    dtype, device ("auto": cuda when available), threads (torch CPU threads, 0: torch's
    default), seed. scheme: "interpolated" | "grid". grad_div: "exact" | "hutchinson" with
    hutchinson_probes k. full_jacobian: plain autograd, one pass per component (slow path).
    chunk_points: points per backward pass (gradient accumulated; 0 = all at once): bounds
    memory, and on a CPU keeps each pass's tensors near the cache ("auto": ``CPU_CHUNK_POINTS``
    on a CPU, all points on CUDA). checkpoint (path, "" for none), checkpoint_every
    (iterations; 0: only at the end).
    log_every: history row / progress / NaN-check cadence. sample_batch: paths per batch when
    sampling.
    """

    name = "dsm"
    defaults: dict[str, Any] = {
        "width": 400,
        "depth": 2,
        "activation": "tanh",
        "epochs": 1000,
        "batch": 100,
        "M": 150,
        "lr": 1e-3,
        "lr_schedule": "cosine",
        "lr_decay": 0.01,
        "weight_u": 1.0,
        "weight_v": 1.0,
        "weight_ic": 1.0,
        "time_weighting": "authors",
        "ic": "built_in",
        "nu": 1.0,
        "dtype": "float32",
        "device": "auto",
        "threads": 0,
        "seed": 0,
        "scheme": "interpolated",
        "grad_div": "exact",
        "hutchinson_probes": 1,
        "full_jacobian": False,
        "chunk_points": "auto",
        "checkpoint": "",
        "checkpoint_every": 0,
        "log_every": 10,
        "sample_batch": 65536,
    }

    def validate(self) -> None:
        o = self.options
        for key, choices in _CHOICES.items():
            if o[key] not in choices:
                raise SolverConfigError(
                    f"dsm: {key}={o[key]!r} is not valid; valid values: {', '.join(choices)}")
        positive_ints = ("width", "depth", "epochs", "batch", "M", "hutchinson_probes",
                         "log_every", "sample_batch")
        for key in positive_ints:
            if isinstance(o[key], bool) or not isinstance(o[key], int) or o[key] < 1:
                raise SolverConfigError(f"dsm: {key}={o[key]!r} must be an integer >= 1")
        for key in ("threads", "seed", "checkpoint_every"):
            if isinstance(o[key], bool) or not isinstance(o[key], int) or o[key] < 0:
                raise SolverConfigError(f"dsm: {key}={o[key]!r} must be an integer >= 0")
        chunk = o["chunk_points"]
        if chunk != "auto" and (isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 0):
            raise SolverConfigError(f"dsm: chunk_points={chunk!r} must be an integer >= 0 or 'auto'")
        for key in ("lr", "nu"):
            if isinstance(o[key], bool) or not isinstance(o[key], (int, float)) or not o[key] > 0:
                raise SolverConfigError(f"dsm: {key}={o[key]!r} must be a number > 0")
        for key in ("weight_u", "weight_v", "weight_ic"):
            if isinstance(o[key], bool) or not isinstance(o[key], (int, float)) or o[key] < 0:
                raise SolverConfigError(f"dsm: {key}={o[key]!r} must be a number >= 0")
        if not isinstance(o["lr_decay"], (int, float)) or not 0 < o["lr_decay"] <= 1:
            raise SolverConfigError(f"dsm: lr_decay={o['lr_decay']!r} must be in (0, 1]")
        if not isinstance(o["full_jacobian"], bool):
            raise SolverConfigError(f"dsm: full_jacobian={o['full_jacobian']!r}: true or false")
        if not isinstance(o["checkpoint"], str):
            raise SolverConfigError(f"dsm: checkpoint={o['checkpoint']!r} must be a path or ''")
        if o["device"] == "cuda" and not torch.cuda.is_available():
            raise SolverConfigError("dsm: device='cuda' but CUDA is not available; "
                                    "valid values here: auto, cpu")

    def device(self) -> torch.device:
        if self.options["device"] == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.options["device"])

    def build(self, problem: Problem) -> DSMNetworks:
        """The untrained networks (seeded), on the configured device and dtype.

        Warns when width < d: the Jacobian of an MLP, W_out diag(act') ... W_1, has rank at
        most its narrowest layer, so such a net cannot represent a velocity field whose
        gradient has full rank d, e.g. the harmonic oscillator's u = -a(t) x (J_u = -a(t) I).
        """
        if self.options["width"] < problem.d:
            warnings.warn(
                f"dsm: width={self.options['width']} < d={problem.d}: the networks' Jacobians "
                f"have rank <= {self.options['width']}, so they cannot represent a velocity "
                f"field with a full-rank gradient (the harmonic oscillator's u = -a(t) x); "
                f"use width >= d", UserWarning, stacklevel=2)
        torch.manual_seed(int(self.options["seed"]))
        return _build_networks(problem, self.options).to(
            device=self.device(), dtype=_DTYPES[self.options["dtype"]])

    def loss_terms(self, nets: DSMNetworks, x: torch.Tensor, t: torch.Tensor,
                   generator: torch.Generator) -> dict[str, torch.Tensor]:
        """The weighted mean squared residuals on points (x, t), each a 0-d tensor."""
        o, problem = self.options, nets.problem
        probes = None
        if o["grad_div"] == "hutchinson":
            # Rademacher probes: the lowest-variance Hutchinson estimator of a trace
            shape = (o["hutchinson_probes"], *x.shape)
            probes = torch.randint(0, 2, shape, generator=generator, device=x.device)
            probes = probes.to(x.dtype) * 2 - 1
        if o["full_jacobian"]:
            r_u, r_v = residuals_autograd(nets.u, nets.v, problem, x, t, probes)
        else:
            r_u, r_v = residuals(nets, x, t, probes)
        if o["time_weighting"] == "authors":
            w2_u = torch.expm1(2 * (problem.T - t))[:, None]
            w2_v = torch.expm1(problem.T - t)[:, None]
            terms = {"loss_u": (w2_u * r_u**2).mean(), "loss_v": (w2_v * r_v**2).mean()}
        else:
            terms = {"loss_u": (r_u**2).mean(), "loss_v": (r_v**2).mean()}
        return terms

    @staticmethod
    def initial_condition_term(nets: DSMNetworks, x0: torch.Tensor) -> torch.Tensor:
        """ic = "loss": mean squared misfit of (u, v) to (u_0, v_0) at the start points x0."""
        problem = nets.problem
        u, v = nets.velocities(x0, 0.0)
        return ((u - problem.u0(x0)) ** 2).mean() + ((v - problem.v0(x0)) ** 2).mean()

    def _total(self, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        o = self.options
        return o["weight_u"] * terms["loss_u"] + o["weight_v"] * terms["loss_v"]

    def fit(
        self,
        problem: Problem,
        budget: dict[str, Any] | None = None,
        monitor: Monitor | None = None,
        progress: bool = False,
    ) -> DSMSolution:
        o = self.options
        budget = dict(budget or {})
        max_iters = budget.get("max_iters")
        max_seconds = budget.get("max_seconds")
        monitor_every = int(budget.get("monitor_every") or 0)
        target = int(max_iters) if max_iters is not None else int(o["epochs"])
        if target < 0:
            raise SolverConfigError(f"dsm: max_iters={max_iters!r} must be >= 0")
        if o["threads"]:
            torch.set_num_threads(int(o["threads"]))
        device, dtype = self.device(), _DTYPES[o["dtype"]]

        nets = self.build(problem)
        optimizer = torch.optim.Adam(nets.parameters(), lr=o["lr"])
        generator = torch.Generator(device=device)
        generator.manual_seed(int(o["seed"]))
        iteration, train_s, rows = 0, 0.0, []

        checkpoint = o["checkpoint"]
        if checkpoint and os.path.exists(checkpoint):
            iteration, train_s, rows = self._resume(checkpoint, problem, nets, optimizer,
                                                    generator)

        cost = Cost(device=str(device), dtype=o["dtype"], threads=torch.get_num_threads(),
                    n_params=sum(p.numel() for p in nets.parameters()))
        solution = DSMSolution(problem, cost, None, nets, o)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        # NaN checks and logging need the loss on the host: every epoch on CPU (free), at the
        # logging cadence on CUDA (a sync), keeping the epochs in between asynchronous
        check_every = 1 if device.type == "cpu" else int(o["log_every"])
        pending: list[tuple[int, torch.Tensor]] = []
        term_names = ["loss_u", "loss_v"] + (["loss_ic"] if o["ic"] == "loss" else [])

        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=target, initial=iteration, desc="dsm", unit="epoch")

        stop_reason = "max_iters" if max_iters is not None else "completed"
        start_iteration = iteration
        clock = time.perf_counter()
        last = None
        while iteration < target:
            elapsed = train_s + time.perf_counter() - clock
            if max_seconds is not None and elapsed >= max_seconds:
                stop_reason = "time_budget"
                break
            # schedule progress: by iterations, or by time when a time budget binds sooner
            frac = iteration / max(target, 1)
            if max_seconds is not None:
                frac = max(frac, elapsed / max_seconds)
            lr = self._lr(frac)
            for group in optimizer.param_groups:
                group["lr"] = lr
            values = self._epoch(nets, problem, optimizer, generator, device, dtype)
            iteration += 1
            pending.append((iteration, torch.stack([values[k] for k in term_names])))
            if len(pending) >= check_every or iteration == target:
                last = self._check(pending, term_names)
                pending = []
            if iteration % o["log_every"] == 0 or iteration == target:
                if pending:
                    last = self._check(pending, term_names)
                    pending = []
                elapsed = train_s + time.perf_counter() - clock
                row = {"iter": iteration, "wall_s": elapsed, "lr": lr,
                       "loss": float(sum(last.values())), **last}
                rows.append(row)
                if bar is not None:
                    bar.set_postfix({k: f"{v:.3g}" for k, v in row.items()
                                     if k.startswith("loss")})
            if bar is not None:
                bar.update(1)
            if monitor is not None and monitor_every and iteration % monitor_every == 0:
                # monitor time is excluded from train_s
                paused = time.perf_counter()
                solution.history = pd.DataFrame(rows)
                extra = monitor(solution) or {}
                nets.train()
                if rows and rows[-1]["iter"] == iteration:
                    rows[-1].update(extra)
                else:
                    rows.append({"iter": iteration,
                                 "wall_s": train_s + paused - clock, **extra})
                clock += time.perf_counter() - paused
            if checkpoint and o["checkpoint_every"] and iteration % o["checkpoint_every"] == 0:
                paused = time.perf_counter()
                self._save_checkpoint(checkpoint, problem, nets, optimizer, generator, iteration,
                                      train_s + paused - clock, rows, cost)
                clock += time.perf_counter() - paused
        if pending:
            self._check(pending, term_names)
        train_s += time.perf_counter() - clock
        if bar is not None:
            bar.close()
        if iteration >= target and max_iters is None:
            stop_reason = "completed"

        cost.train_s = train_s
        cost.iters = iteration
        run_iters = iteration - start_iteration
        cost.s_per_iter = train_s / iteration if iteration else None
        if run_iters == 0 and iteration == 0:
            cost.s_per_iter = None
        cost.stop_reason = stop_reason
        cost.peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        if device.type == "cuda":
            cost.peak_gpu_mb = torch.cuda.max_memory_allocated(device) / 2**20
        solution.history = pd.DataFrame(rows) if rows else solution.history
        if checkpoint:
            self._save_checkpoint(checkpoint, problem, nets, optimizer, generator, iteration,
                                  train_s, rows, cost)
        nets.eval()
        return solution

    # -------------------------------------------------------------- internals
    def _lr(self, frac: float) -> float:
        o = self.options
        if o["lr_schedule"] == "constant":
            return float(o["lr"])
        frac = min(max(frac, 0.0), 1.0)
        floor = o["lr"] * o["lr_decay"]
        return float(floor + 0.5 * (o["lr"] - floor) * (1 + math.cos(math.pi * frac)))

    def _epoch(self, nets: DSMNetworks, problem: Problem, optimizer: torch.optim.Optimizer,
               generator: torch.Generator, device: torch.device, dtype: torch.dtype
               ) -> dict[str, torch.Tensor]:
        o = self.options
        nets.eval()
        x, t = training_points(nets, problem, n_paths=o["batch"], n_times=o["M"], nu=o["nu"],
                               scheme=o["scheme"], generator=generator, dtype=dtype,
                               device=device)
        nets.train()
        optimizer.zero_grad(set_to_none=True)
        n = x.shape[0]
        chunk = o["chunk_points"]
        if chunk == "auto":
            chunk = CPU_CHUNK_POINTS if device.type == "cpu" else n
        chunk = chunk or n
        totals: dict[str, torch.Tensor] = {}
        for lo in range(0, n, chunk):
            hi = min(n, lo + chunk)
            terms = self.loss_terms(nets, x[lo:hi], t[lo:hi], generator)
            # every term is a mean over points: weight a chunk by its share of the points
            share = (hi - lo) / n
            (self._total(terms) * share).backward()
            for k, v in terms.items():
                totals[k] = totals.get(k, 0.0) + v.detach() * share
        if o["ic"] == "loss":
            # once over all start points (the first B of x), not per chunk: most chunks hold
            # none, and a mean over none is NaN
            loss_ic = self.initial_condition_term(nets, x[: o["batch"]])
            (o["weight_ic"] * loss_ic).backward()
            totals["loss_ic"] = loss_ic.detach()
        optimizer.step()
        return totals

    @staticmethod
    def _check(pending: list[tuple[int, torch.Tensor]], names: list[str]) -> dict[str, float]:
        values = torch.stack([v for _, v in pending]).to("cpu", torch.float64).numpy()
        bad = ~np.isfinite(values)
        if bad.any():
            row, col = np.argwhere(bad)[0]
            raise FloatingPointError(
                f"dsm: loss term {names[col]} is {values[row, col]} at epoch {pending[row][0]} "
                "(training diverged; lower lr or check the problem scales)")
        return dict(zip(names, values[-1].tolist(), strict=True))

    def _save_checkpoint(self, path: str, problem: Problem, nets: DSMNetworks,
                         optimizer: torch.optim.Optimizer, generator: torch.Generator,
                         iteration: int, train_s: float, rows: list[dict[str, Any]],
                         cost: Cost) -> None:
        cost_now = Cost(**{**cost.as_dict(), "train_s": train_s, "iters": iteration})
        state = {
            "format": _FORMAT,
            "problem": problem.config(),
            "options": dict(self.options),
            "model": nets.state_dict(),
            "history": _history_records(pd.DataFrame(rows)),
            "cost": cost_now.as_dict(),
            "optimizer": optimizer.state_dict(),
            "generator": generator.get_state(),
            "iteration": iteration,
            "train_s": train_s,
        }
        _atomic_save(state, path)

    def _resume(self, path: str, problem: Problem, nets: DSMNetworks,
                optimizer: torch.optim.Optimizer, generator: torch.Generator
                ) -> tuple[int, float, list[dict[str, Any]]]:
        state = torch.load(path, map_location=self.device(), weights_only=True)
        if state.get("format") != _FORMAT or "optimizer" not in state:
            raise SolverConfigError(f"dsm: {path} is not a DSM training checkpoint")
        if state["problem"] != problem.config():
            raise SolverConfigError(
                f"dsm: checkpoint {path} was trained on another problem "
                f"({state['problem']['name']}, d={state['problem']['d']}); remove it or "
                "choose another checkpoint path")
        changed = [k for k in _MODEL_KEYS if state["options"].get(k) != self.options[k]]
        if changed:
            raise SolverConfigError(
                f"dsm: checkpoint {path} has different options ({', '.join(changed)}); "
                "remove it or choose another checkpoint path")
        nets.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"].cpu())  # generator states live on the host
        return int(state["iteration"]), float(state["train_s"]), list(state["history"])
