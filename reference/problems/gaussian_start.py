"""A Gaussian initial state, the same in every coordinate:

    rho_0 = N(mu0, s0^2 I),   S_0(x) = k0 sum_k x_k   (psi_0 = sqrt(rho_0) exp(i S_0)),

so u_0 = -(hbar/2m)(x - mu0)/s0^2 and v_0 = (hbar/m) k0. A problem with this start subclasses
``GaussianStart`` and sets ``mu0``, ``s0_sq`` and ``k0`` in its ``derive``.
"""

from __future__ import annotations

import math

import numpy as np

from reference.arrays import array_namespace, like
from reference.problems.base import Problem

__all__ = ["GaussianStart"]


class GaussianStart(Problem):
    """The initial state of the module docstring; the potential is the subclass's."""

    mu0: float | np.ndarray  # one mean for every coordinate, or one each (shape (d,))
    s0_sq: float
    k0: float = 0.0

    def sample_initial(self, n: int, seed: int | np.random.Generator = 0) -> np.ndarray:
        rng = np.random.default_rng(seed)
        return self.mu0 + math.sqrt(self.s0_sq) * rng.standard_normal((n, self.d))

    def sample_initial_torch(self, n: int, generator, dtype, device):
        import torch

        z = torch.randn((n, self.d), generator=generator, dtype=dtype, device=device)
        return self._mean_like(z) + math.sqrt(self.s0_sq) * z

    def _mean_like(self, x):
        """mu0 as x's kind of array (a per-coordinate mean is a numpy array)."""
        if np.ndim(self.mu0) == 0:
            return self.mu0
        return like(self.mu0, x)

    def initial_density(self, x):
        xp = array_namespace(x)
        z = ((x - self._mean_like(x)) ** 2).sum(-1) / self.s0_sq
        return (2 * math.pi * self.s0_sq) ** (-self.d / 2) * xp.exp(-0.5 * z)

    def log_psi0(self, x):
        """log |psi_0| = -|x - mu0|^2 / (4 s0^2) - (d/4) log(2 pi s0^2), arg psi_0 = k0 sum x."""
        log_amplitude = (-((x - self._mean_like(x)) ** 2).sum(-1) / (4 * self.s0_sq)
                         - 0.25 * self.d * math.log(2 * math.pi * self.s0_sq))
        return log_amplitude, self.k0 * x.sum(-1)

    def psi0(self, x):
        """psi_0(x) = sqrt(rho_0) exp(i k0 sum x), complex."""
        xp = array_namespace(x)
        amplitude = xp.sqrt(self.initial_density(x))
        phase = self.k0 * x.sum(-1)
        return amplitude * (xp.cos(phase) + 1j * xp.sin(phase))

    def u0(self, x):
        """u_0 = (hbar/2m) grad log rho_0 = -(hbar/2m)(x - mu0)/s0^2."""
        return -(self.hbar / (2 * self.m)) * (x - self._mean_like(x)) / self.s0_sq

    def v0(self, x):
        """v_0 = (hbar/m) grad S_0 = (hbar/m) k0, constant."""
        return 0.0 * x + self.hbar * self.k0 / self.m

    def u0_vjp(self, x, w):
        """J_{u0}^T w = -(hbar/(2 m s0^2)) w: u_0 is affine with a scalar slope."""
        return -self.hbar / (2 * self.m * self.s0_sq) * w

    def v0_vjp(self, x, w):
        """v_0 is constant: J_{v0} = 0."""
        return 0.0 * w

    def initial_divergence(self, x):
        """None: u_0 is affine and v_0 constant."""
        return None

    def initial_moments(self) -> tuple[np.ndarray, np.ndarray]:
        return np.broadcast_to(np.asarray(self.mu0, float), (self.d,)).copy(), np.full(self.d, self.s0_sq)
