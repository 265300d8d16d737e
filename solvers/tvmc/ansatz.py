"""The authors' variational form: a Hermite one-body basis times a two-body Jastrow table.

    log psi(x) = sum_i log f(x_i) + sum_{i != j} log J(x_i, x_j),
    f(x)    = sum_{k=0}^{n_max} c_k h_k(y),                  y = sqrt(M omega) (x - a),
    J(x, z) = sum_{a,b=0}^{n_max+1} C_ab g_a(y) g_b(y'),     g_0 = 1, g_{k+1} = h_k,

with h_k the normalised Hermite functions of the trap (the oscillator's eigenstates in NetKet's
units, ``units.py``), complex coefficients c, and a symmetric complex table C. The sum over
ordered pairs i != j (each unordered pair twice, J squared) is the authors'
(``interacting-system/tvmc_jastrow_basis.py``). Two departures that leave the family of
wavefunctions unchanged: C is stored as its upper triangle (the authors' full table repeats
every off-diagonal entry, an exactly singular direction of the QGT), and the authors'
x-independent diagonal terms i = j (a normalisation) are left out.

The start c = (1, 0, ...), C = e_00 e_00^T is the product of trap ground states: the
problem's initial state.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

__all__ = ["HermiteJastrow", "hermite_functions"]


def hermite_functions(n_max: int, y):
    """h_0 .. h_{n_max} at y, stacked on a new last axis. The normalised recurrence
    h_k = sqrt(2/k) y h_{k-1} - sqrt((k-1)/k) h_{k-2} stays finite where the plain Hermite
    polynomials H_k(y) e^{-y^2/2} would overflow and lose digits."""
    h = [math.pi**-0.25 * jnp.exp(-0.5 * y**2)]
    if n_max >= 1:
        h.append(math.sqrt(2.0) * y * h[0])
    for k in range(2, n_max + 1):
        h.append(math.sqrt(2.0 / k) * y * h[k - 1] - math.sqrt((k - 1) / k) * h[k - 2])
    return jnp.stack(h, axis=-1)


def _one_body_init(key, shape, dtype=jnp.complex128):
    return jnp.zeros(shape, dtype).at[0].set(1.0)


def _two_body_init(key, shape, dtype=jnp.complex128):
    # upper triangle, row-major: entry 0 is C_00; J = C_00 (g_0 g_0 + g_0 g_0) / 2 = 1
    return jnp.zeros(shape, dtype).at[0].set(0.5)


class HermiteJastrow(nn.Module):
    """log psi of n particles on a line; input (..., n) positions in NetKet's units."""

    n_max: int
    scale: float  # sqrt(M omega)
    center: float = 0.0
    jastrow: bool = True

    @nn.compact
    def __call__(self, x):
        y = self.scale * (x - self.center)
        h = hermite_functions(self.n_max, y)  # (..., n, n_max + 1)
        c = self.param("one_body", _one_body_init, (self.n_max + 1,), jnp.complex128)
        log_psi = jnp.sum(jnp.log(h @ c), axis=-1)
        n = x.shape[-1]
        if not self.jastrow or n < 2:
            return log_psi
        k = self.n_max + 2
        rows, cols = np.triu_indices(k)
        upper = self.param("two_body", _two_body_init, (len(rows),), jnp.complex128)
        table = jnp.zeros((k, k), jnp.complex128).at[rows, cols].set(upper)
        table = table + table.T  # symmetric: J(x, z) = J(z, x)
        g = jnp.concatenate([jnp.ones_like(h[..., :1]), h], axis=-1)  # (..., n, k)
        pair = jnp.einsum("...ia,ab,...jb->...ij", g, table, g)
        off_diagonal = ~np.eye(n, dtype=bool)
        log_pair = jnp.where(off_diagonal, jnp.log(jnp.where(off_diagonal, pair, 1.0)), 0.0)
        return log_psi + jnp.sum(log_pair, axis=(-2, -1))
