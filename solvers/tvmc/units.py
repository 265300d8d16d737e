"""The map between the benchmark's units and NetKet's (hbar = 1).

The benchmark solves i hbar d_t psi = -(hbar^2 / 2m) Lap psi + V psi. Dividing by hbar gives

    i d_t psi = -(1 / 2M) Lap psi + (V / hbar) psi,    M = m / hbar,

which is NetKet's equation (hbar = 1) for particles of mass M in the potential V / hbar, on
the same time axis. Energies come back multiplied by hbar. (The authors' script is this map
with hbar = 0.1, m = 1: mass 10 and the whole potential multiplied by 10.)

``NetKetUnits.potential`` writes V / hbar in jax for NetKet to evaluate.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import jax.numpy as jnp

from reference.problems import Problem

__all__ = ["NetKetUnits", "netket_units"]


@dataclass(frozen=True)
class NetKetUnits:
    """NetKet's mass M = m / hbar and the energy unit hbar (E_physical = hbar * E_netket)."""

    mass: float
    energy_unit: float
    problem: Problem

    def potential(self) -> Callable:
        """V(x) / hbar on NetKet's configurations x of shape (..., n): the trap and the pair
        interaction (g/2) sum_{i<j} (2 pi s2)^(-1/2) exp(-(x_i - x_j)^2 / (2 s2)), as in
        ``reference.problems.Problem.potential``, written in jax."""
        p = self.problem
        trap_k = 0.5 * p.m * p.omega**2
        pair_k = 0.5 * p.g * (2 * math.pi * p.s2) ** -0.5
        scale = 1.0 / p.hbar

        def v_over_hbar(x):
            v = trap_k * jnp.sum((x - p.center) ** 2, axis=-1)
            if p.g != 0.0 and x.shape[-1] > 1:
                diff = x[..., :, None] - x[..., None, :]
                # the ordered double sum counts each pair twice and the n diagonal terms once
                pairs = jnp.sum(jnp.exp(-(diff**2) / (2 * p.s2)), axis=(-2, -1)) - x.shape[-1]
                v = v + pair_k * 0.5 * pairs
            return scale * v

        return v_over_hbar

    @property
    def oscillator_scale(self) -> float:
        """sqrt(M omega): the inverse length of the trap's Hermite functions in NetKet units
        (the same as sqrt(m omega / hbar) in the benchmark's)."""
        return math.sqrt(self.mass * self.problem.omega)


def netket_units(problem: Problem) -> NetKetUnits:
    return NetKetUnits(mass=problem.m / problem.hbar, energy_unit=problem.hbar, problem=problem)
