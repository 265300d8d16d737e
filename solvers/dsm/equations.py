'''The equations DSM trains on: stochastic mechanics for the Schrodinger equation.

Write psi = sqrt(rho) exp(i S) and define the osmotic and current velocities

    u = (hbar / 2m) grad log rho,        v = (hbar / m) grad S.

The Schrodinger equation i hbar d_t psi = (-hbar^2 / 2m) Laplacian psi + V psi is then the pair
(Orlova et al., ICML 2024, "Deep Stochastic Mechanics", the equations for u and v)

    d_t v = -grad V / m + <u, grad> u - <v, grad> v + (hbar / 2m) grad <grad, u>
    d_t u = -grad <u, v> - (hbar / 2m) grad <grad, v>

u and v are gradients, so <u, grad> u = grad 1/2 |u|^2 = J_u^T u (J the Jacobian). DSM
minimises the mean squared residuals of these equations at points (x, t) of its own simulated
paths:

    R_v = d_t v + grad V / m - (J_u^T u - J_v^T v + (hbar / 2m) grad div u)
    R_u = d_t u + J_u^T v + J_v^T u + (hbar / 2m) grad div v

    L = mean w_u(t) |R_u|^2 + mean w_v(t) |R_v|^2   [+ mean |u - u_0|^2 + |v - v_0|^2 at t = 0]

with the authors' time weights w_u = exp(2 (T - t)) - 1, w_v = exp(T - t) - 1 (or uniform).

``residuals`` is the fast path (forward tangents of ``solvers.dsm.networks``):

* exact grad div, d <= ``TAYLOR_MAX_D``: second-order forward mode, no reverse pass;
* exact grad div, larger d: t and coordinate tangents give d_t u and J_u, and grad div u and
  grad div v take ONE reverse pass;
* Hutchinson (``probes``): div u ~ mean_k z^T J_u z, then grad phi_v and grad phi_u below are
  one vector-Jacobian product each: no d x d Jacobian, a cost that does not grow with d.

``residuals_autograd`` is the straightforward autograd implementation (one backward pass per
output component, as in the authors' code): the ``full_jacobian`` mode and the reference the
fast path is tested against.
'''

from __future__ import annotations

from collections.abc import Callable

import torch

from reference.problems import Problem
from solvers.dsm.networks import DSMNetworks

__all__ = ["TAYLOR_MAX_D", "initial_condition_loss", "loss_terms", "rademacher_probes",
           "residuals", "residuals_autograd"]


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
        # u = u_0 + t N_u and v = v_0 + t N_v, so J_u^T w = J_{u0}^T w + t J_Nu^T w (the
        # problem's u0_vjp) and likewise for v
        u, v = problem.u0(x) + tc * n_u, problem.v0(x) + tc * n_v
        u_t, v_t = n_u + tc * n_u_t, n_v + tc * n_v_t

        def jt_u(w: torch.Tensor) -> torch.Tensor:
            return problem.u0_vjp(x, w) + tc * jt(jac_nu, w)

        def jt_v(w: torch.Tensor) -> torch.Tensor:
            return problem.v0_vjp(x, w) + tc * jt(jac_nv, w)

        grad_div_u, grad_div_v = tc * grad_tr_u, tc * grad_tr_v
        start = _initial_grad_div(problem, x)
        if start is not None:
            grad_div_u, grad_div_v = grad_div_u + start[0], grad_div_v + start[1]
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


def _initial_grad_div(problem: Problem, x: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(grad div u_0, grad div v_0) at x; None where u_0 and v_0 are affine."""
    with torch.enable_grad():
        xg = x.detach().requires_grad_(True)
        start = problem.initial_divergence(xg)
        if start is None:
            return None
        return tuple(_gradient(div, xg) for div in start)


def _gradient(scalar_field: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """grad of a per-point scalar at x; zeros where it does not depend on x (a constant)."""
    if not scalar_field.requires_grad:
        return torch.zeros_like(x)
    return torch.autograd.grad(scalar_field.sum(), x, retain_graph=True, allow_unused=True,
                               materialize_grads=True)[0]


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



# ------------------------------------------------------------------ the loss
def rademacher_probes(k: int, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """k random sign vectors z per point, (k, P, d): the lowest-variance Hutchinson probes
    (E z z^T = I, so E z^T J z = div)."""
    probes = torch.randint(0, 2, (k, *x.shape), generator=generator, device=x.device)
    return probes.to(x.dtype) * 2 - 1


def loss_terms(nets: DSMNetworks, x: torch.Tensor, t: torch.Tensor, *,
               probes: torch.Tensor | None = None, time_weighting: str = "authors",
               full_jacobian: bool = False) -> dict[str, torch.Tensor]:
    """{"loss_u": mean w_u(t) |R_u|^2, "loss_v": mean w_v(t) |R_v|^2} on points x (P, d),
    t (P,), each a 0-d tensor.

    time_weighting "authors": w_u = exp(2 (T - t)) - 1, w_v = exp(T - t) - 1, stressing early
    times whose errors every later time inherits (t = T weighs 0); "uniform": w = 1.
    """
    problem = nets.problem
    if full_jacobian:
        r_u, r_v = residuals_autograd(nets.u, nets.v, problem, x, t, probes)
    else:
        r_u, r_v = residuals(nets, x, t, probes)
    if time_weighting == "authors":
        w2_u = torch.expm1(2 * (problem.T - t))[:, None]
        w2_v = torch.expm1(problem.T - t)[:, None]
        return {"loss_u": (w2_u * r_u**2).mean(), "loss_v": (w2_v * r_v**2).mean()}
    return {"loss_u": (r_u**2).mean(), "loss_v": (r_v**2).mean()}


def initial_condition_loss(nets: DSMNetworks, x0: torch.Tensor) -> torch.Tensor:
    """ic = "loss": mean |u - u_0|^2 + mean |v - v_0|^2 at the start points x0 (t = 0), with
    u_0 = (hbar/2m) grad log rho_0 and v_0 = (hbar/m) grad S_0 from the problem."""
    problem = nets.problem
    u, v = nets.velocities(x0, 0.0)
    return ((u - problem.u0(x0)) ** 2).mean() + ((v - problem.v0(x0)) ** 2).mean()
