"""The learned drift b = v + nu u for path simulation: both networks fused, no gradients.

With act(z) = alpha g(beta z) + gamma (``activations.folded_form``; tanh = 2 sigmoid(2 z) - 1)
the layers carry h = g(beta z): the next pre-activation beta (W a + b) = (alpha beta W) h
+ beta (b + gamma W 1), and the output W a + b = (alpha W) h + b + gamma W 1, so a layer costs
one matmul and one in-place call of g. The two input layers share one matmul (they read the
same x); the two output layers accumulate into one (b, d) buffer, nu N_u + N_v.

The sampler calls the drift once per step and chunk of paths with one time t (a 0-d tensor):
that call writes into buffers kept per thread and per chunk size, so a step allocates almost
nothing and the (chunk, width) activations stay in cache. The result is such a buffer: it is
valid until the next call from the same thread. Times given per point (a column, as in the
training points' interpolation step) take a plain, allocating pass.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import torch
from torch import nn

from reference.problems import Problem
from solvers.dsm.activations import folded_form, in_place

__all__ = ["FusedDrift"]


class FusedDrift:
    """b(x, t) = v + nu u of the two MLPs N_u, N_v given by their linear layers (input,
    hidden..., output; ``DSMNetworks.drift_function`` passes them), weights folded and taken
    at construction. built_in: u = u_0 + t N_u, v = v_0 + t N_v (the problem's u_0, v_0)."""

    # only fixed-shape kernels and no host synchronisation: a CUDA graph may capture a call
    graph_safe = True

    def __init__(self, layers_u: Sequence[nn.Linear], layers_v: Sequence[nn.Linear],
                 activation: str, problem: Problem, built_in: bool, nu: float):
        alpha, beta, gamma, g = folded_form(activation)
        self.g, self.g_ = g, in_place(g)
        self.problem, self.built_in, self.nu = problem, built_in, nu
        d = problem.d

        def folded(layer: nn.Linear, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
            # a layer reading h instead of a: (alpha W, b + gamma W 1), times scale
            return (scale * alpha * layer.weight,
                    scale * (layer.bias + gamma * layer.weight.sum(1)))

        with torch.no_grad():
            first = [layers_u[0], layers_v[0]]
            w_in = beta * torch.cat([f.weight for f in first])  # (2 width, d + 1)
            self.b_in = beta * torch.cat([f.bias for f in first])
            self.w_in_x, self.w_in_t = w_in[:, :d].T.contiguous(), w_in[:, d].contiguous()
            self.hidden = []
            for lu, lv in zip(layers_u[1:-1], layers_v[1:-1], strict=True):
                (wu, bu), (wv, bv) = folded(lu, beta), folded(lv, beta)
                self.hidden.append((wu.T.contiguous(), bu, wv.T.contiguous(), bv))
            (wu, bu), (wv, bv) = folded(layers_u[-1], 1.0), folded(layers_v[-1], 1.0)
            self.w_out_u, self.w_out_v = (nu * wu).T.contiguous(), wv.T.contiguous()  # (width, d)
            self.b_out = nu * bu + bv
        self.width = w_in.shape[0] // 2
        self._local = threading.local()

    def _buffers(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        key = (x.shape[0], x.device, x.dtype)
        cache = self._local.__dict__.setdefault("buffers", {})
        if key not in cache:
            n, w = x.shape[0], self.width
            new = lambda *shape: torch.empty(shape, dtype=x.dtype, device=x.device)  # noqa: E731
            cache[key] = {"bias": new(2 * w), "h_in": new(n, 2 * w), "out": new(n, x.shape[1]),
                          "u": [(new(n, w), new(n, w)) for _ in self.hidden]}
        return cache[key]

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if t.ndim > 0:
            return self._plain(x, t)
        buf = self._buffers(x)
        w, g_ = self.width, self.g_
        torch.addcmul(self.b_in, t, self.w_in_t, out=buf["bias"])  # b + t W_t, no host sync
        h = g_(torch.addmm(buf["bias"], x, self.w_in_x, out=buf["h_in"]))
        hu, hv = h[:, :w], h[:, w:]
        for (wu, bu, wv, bv), (nu_, nv_) in zip(self.hidden, buf["u"], strict=True):
            hu = g_(torch.addmm(bu, hu, wu, out=nu_))
            hv = g_(torch.addmm(bv, hv, wv, out=nv_))
        out = torch.addmm(self.b_out, hu, self.w_out_u, out=buf["out"]).addmm_(hv, self.w_out_v)
        return self._with_initial(x, t, out)

    def _plain(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        w, g = self.width, self.g
        h = g(torch.addmm(self.b_in + t * self.w_in_t, x, self.w_in_x))
        hu, hv = h[:, :w], h[:, w:]
        for wu, bu, wv, bv in self.hidden:
            hu, hv = g(torch.addmm(bu, hu, wu)), g(torch.addmm(bv, hv, wv))
        out = torch.addmm(self.b_out, hu, self.w_out_u).addmm_(hv, self.w_out_v)
        return self._with_initial(x, t, out)

    def _with_initial(self, x: torch.Tensor, t: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        # u = u_0 + t N_u, v = v_0 + t N_v: b = v_0 + nu u_0 + t (nu N_u + N_v)
        if not self.built_in:
            return out
        return self.problem.v0(x) + self.nu * self.problem.u0(x) + t * out
