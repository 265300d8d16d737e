"""The two networks of DSM and their derivative passes.

u_theta(x, t) and v_theta(x, t) in R^d are MLPs of (x, t). By default the initial condition is
built in, u = u_0(x) + t N_u(x, t), v = v_0(x) + t N_v(x, t).

Derivatives take few passes: forward mode is written out for the MLP. The tangent of
a = act(W a_prev + b) along a direction is act'(z) (W a_prev'), and to second order
d2a = act'(z) W d2a_prev + act''(z) dz_i dz_j, so a direction costs one batched matmul per
hidden layer and no autograd graph of its own:

* ``MLP.jets``: the t tangent and the d coordinate tangents (exact divergence) or k probe
  tangents (Hutchinson divergence, div N ~ mean_k z^T J z);
* ``MLP.jacobian_jets``: the t tangent and the full Jacobian J (d coordinate tangents);
* ``MLP.taylor_jets``: second order along the coordinate pairs, which gives grad div N with
  no reverse pass at all (pays for small d only).

``DSMNetworks.drift_function`` fuses both networks for the path simulation
(``solvers.dsm.drift``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from reference.problems import Problem
from solvers.dsm.activations import ACTIVATIONS, PLAIN, SECOND_ORDER
from solvers.dsm.drift import FusedDrift

__all__ = ["DTYPES", "MLP", "DSMNetworks", "build_networks"]

DTYPES = {"float32": torch.float32, "float64": torch.float64}


class MLP(nn.Module):
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
        act = PLAIN[self.activation]
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
        self.net_u = MLP(problem.d, width, depth, activation)
        self.net_v = MLP(problem.d, width, depth, activation)

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

    def drift_function(self, nu: float) -> FusedDrift:
        """b(x, t) = v + nu u for simulation (no gradients): both networks fused, the
        activation's cheaper form folded into the weights (taken now), buffers reused."""
        u, v = self.net_u, self.net_v
        return FusedDrift([*u.layers, u.out], [*v.layers, v.out], u.activation, self.problem,
                          self.ic_built_in, nu)

    def u(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.velocities(x, t)[0]

    def v(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.velocities(x, t)[1]

    def jets(self, x: torch.Tensor, t: torch.Tensor, probes: torch.Tensor | None = None
             ) -> dict[str, torch.Tensor]:
        """u, v, d_t u, d_t v and div u, div v up to an x-independent constant (exact, or the
        Hutchinson estimate with ``probes``), for x that requires grad. Only grad div enters
        the loss: div u_0 and div v_0 are added where the problem's initial velocities are not
        affine (``Problem.initial_divergence``), and left out where they are constants."""
        tc = self._column(t, x)
        nu_, nu_t, div_nu = self.net_u.jets(x, tc, probes)
        nv_, nv_t, div_nv = self.net_v.jets(x, tc, probes)
        if not self.ic_built_in:
            return {"u": nu_, "v": nv_, "u_t": nu_t, "v_t": nv_t, "div_u": div_nu,
                    "div_v": div_nv}
        # u = u_0(x) + t N: d_t u = N + t d_t N, div u = div u_0 + t div N
        tcol = tc if tc.ndim > 0 else tc.reshape(1, 1)
        div_u, div_v = tcol[:, 0] * div_nu, tcol[:, 0] * div_nv
        start = self.problem.initial_divergence(x)
        if start is not None:
            div_u, div_v = div_u + start[0], div_v + start[1]
        return {
            "u": self.problem.u0(x) + tc * nu_,
            "v": self.problem.v0(x) + tc * nv_,
            "u_t": nu_ + tc * nu_t,
            "v_t": nv_ + tc * nv_t,
            "div_u": div_u,
            "div_v": div_v,
        }




def build_networks(problem: Problem, options: dict[str, Any]) -> DSMNetworks:
    """The (untrained, unseeded) networks an options dict describes."""
    return DSMNetworks(problem, int(options["width"]), int(options["depth"]),
                       options["activation"], options["ic"] == "built_in")
