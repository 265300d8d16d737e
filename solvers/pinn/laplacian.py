"""The Laplacian of the net's outputs: exact, or a stochastic estimate that costs O(k), not O(d).

Every estimator is a weighted sum of Hessian quadratic forms v^T H v: one Hessian-vector
product per probe v, whatever d is, computed either forward-over-reverse (``torch.func.jvp`` of
``torch.func.vjp`` on the net, evaluated again on the points) or reverse-over-reverse (one more
backward pass of autograd through the gradient the residual already holds for d_t psi).

* ``exact``: v = e_1 .. e_d, Lap = sum_i e_i^T H e_i (d products);
* ``hutchinson``: k Rademacher probes, Lap ~ (1/k) sum_j v_j^T H v_j; unbiased since
  E[v v^T] = I, variance 2 sum_{i != l} H_il^2 / k (Hu et al. 2024, "Hutchinson trace estimation
  for high-dimensional and high-order physics-informed neural networks");
* ``sdgd``: k of the d coordinates drawn without replacement, once per evaluation (one residual
  evaluation is one optimiser step), Lap ~ (d/k) sum_{i in S} H_ii; unbiased, variance
  d^2 s^2 (d - k) / (k (d - 1)) with s^2 the spread of the diagonal (Hu et al. 2024, "Tackling
  the curse of dimensionality with physics-informed neural networks").

A squared residual built on an unbiased Laplacian is a biased loss (E r^2 = r_true^2 + Var r):
the variance term shrinks as 1/k, and both papers train with it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["HVP_MODES", "LAPLACIANS", "hessian_quadratic_forms",
           "hessian_quadratic_forms_reverse", "laplacian", "probes", "resolve_laplacian"]

LAPLACIANS = ("auto", "exact", "hutchinson", "sdgd")
HVP_MODES = ("forward_over_reverse", "reverse_over_reverse")
# auto: the exact trace costs d Hessian-vector products; up to d = 10 that is affordable and
# noise-free, above it the stochastic estimate keeps the cost flat in d
EXACT_UP_TO = 10


def resolve_laplacian(method: str, d: int) -> str:
    """The estimator ``method`` stands for at dimension d (auto: exact for d <= 10, else
    hutchinson)."""
    if method not in LAPLACIANS:
        raise ValueError(f"laplacian={method!r}; valid: {', '.join(LAPLACIANS)}")
    if method == "auto":
        return "exact" if d <= EXACT_UP_TO else "hutchinson"
    return method


def probes(method: str, n: int, d: int, k: int, *, dtype: Any = None, device: Any = None,
           generator: Any = None) -> tuple[Any, float]:
    """(V, scale): probe vectors V of shape (n, k, d) (k = d for exact) and the factor such that
    scale * sum_j V_j^T H V_j estimates tr H at each of the n points."""
    import torch

    kw = {"dtype": dtype, "device": device}
    if method == "exact":
        return torch.eye(d, **kw).expand(n, d, d), 1.0
    if method == "hutchinson":
        signs = torch.randint(0, 2, (n, k, d), generator=generator, device=device)
        return (2 * signs - 1).to(dtype or torch.get_default_dtype()), 1.0 / k
    if method == "sdgd":
        chosen = torch.randperm(d, generator=generator, device=device)[:k]
        return torch.eye(d, **kw)[chosen].expand(n, k, d), d / k
    raise ValueError(f"laplacian={method!r}; valid: exact, hutchinson, sdgd")


def hessian_quadratic_forms(f: Callable[[Any], Any], x: Any, v: Any) -> Any:
    """v_j^T H_c(x) v_j for every point, probe j and output component c: shape (n, k, c).

    f maps (M, d + t) -> (M, c) row by row (no coupling between rows, as an MLP); x is (n, d + t)
    and v (n, k, d): the probes span the first d inputs (space), the remaining t (time) get 0.
    The points are repeated once per probe and one jvp of grad covers them all.
    """
    import torch
    from torch.func import jvp, vjp

    n, k, d = v.shape
    xs = x.detach().repeat_interleave(k, dim=0)  # (n k, d + t): point i's k copies are adjacent
    tangent = torch.zeros_like(xs)
    tangent[:, :d] = v.reshape(n * k, d)
    n_out = f(xs[:1]).shape[1]
    cotangents = torch.eye(n_out, dtype=xs.dtype, device=xs.device)

    def gradients(z):
        # one forward, then one reverse pass per output component
        y, pull = vjp(f, z)
        return torch.stack([pull(cotangents[c].expand_as(y))[0] for c in range(n_out)])

    _, hv = jvp(gradients, (xs,), (tangent,))  # (c, n k, d + t): H_c v per row
    forms = (hv[:, :, :d] * tangent[None, :, :d]).sum(-1)  # (c, n k)
    return forms.T.reshape(n, k, n_out)


def hessian_quadratic_forms_reverse(gradients: list[Any], x: Any, v: Any) -> Any:
    """v_j^T H_c v_j as ``hessian_quadratic_forms``, from the gradients grad_x y_c (each
    (n, d + t), built with create_graph from x): one backward pass per probe and component."""
    import torch

    n, k, d = v.shape
    out = []
    for g in gradients:
        forms = []
        for j in range(k):
            (hv,) = torch.autograd.grad((g[:, :d] * v[:, j]).sum(), x, create_graph=True)
            forms.append((hv[:, :d] * v[:, j]).sum(-1))
        out.append(torch.stack(forms, dim=1))
    return torch.stack(out, dim=-1)


def laplacian(f: Callable[[Any], Any], x: Any, d: int, method: str, k: int,
              generator: Any = None) -> Any:
    """The Laplacian over the first d inputs of every output of f at x: (n, c)."""
    v, scale = probes(method, len(x), d, k, dtype=x.dtype, device=x.device, generator=generator)
    return scale * hessian_quadratic_forms(f, x, v).sum(1)
