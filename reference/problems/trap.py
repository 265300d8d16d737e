"""A harmonic trap with a Gaussian pair interaction, from a Gaussian start: the physics of
the harmonic, free and bosons problems (``docs/problems.md``, "The catalogue"):

    V(x) = sum_k 1/2 m omega^2 (x_k - a)^2
           + (g/2) sum_{i != j} (2 pi s2)^(-1/2) exp(-(x_i - x_j)^2 / (2 s2)) / 2

(``omega = 0`` for a free particle). Without interaction (g = 0) the solution is a Gaussian
packet in every coordinate (``reference.exact``); with it the centre of mass still moves as
one packet of mass d m (Kohn's theorem).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from reference.arrays import array_namespace
from reference.options import Option, Real
from reference.problems.base import standard_options
from reference.problems.gaussian_start import GaussianStart

__all__ = ["TrappedGaussian", "trap_options"]

_TRAP_OPTIONS = ("d", "hbar", "m", "T", "n_steps", "g", "phase")


def trap_options(*, d: int = 1, hbar: float, n_steps: int = 1000, g: float = 0.0,
                 phase: float = 0.0) -> dict[str, Option]:
    """The standard options plus the interaction strength g and the initial phase k0."""
    return {
        **standard_options(d=d, hbar=hbar, n_steps=n_steps),
        "g": Option(g, Real(), "pair interaction strength"),
        "phase": Option(phase, Real(), "initial phase k0 in S_0 = k0 sum_k x_k"),
    }


class TrappedGaussian(GaussianStart):
    """The potential of the module docstring. A subclass sets ``omega``, ``center``, ``s2``
    and the start (``mu0``, ``s0_sq``, ``k0``) in its ``derive``."""

    omega: float
    center: float
    s2: float = 0.1
    exchangeable_coordinates = True  # isotropic trap, symmetric pairs, one start per coordinate

    @property
    def g(self) -> float:
        return float(self.options["g"])

    @property
    def has_exact_solution(self) -> bool:
        """A Gaussian packet in every coordinate exists when there is no interaction."""
        return self.g == 0.0

    @property
    def is_ground_state_start(self) -> bool:
        """Starts in the trap's ground state (so the centre of mass stays in it)."""
        return (self.omega > 0 and self.k0 == 0.0 and bool(np.all(np.asarray(self.mu0) == self.center))
                and math.isclose(self.s0_sq, self.hbar / (2 * self.m * self.omega), rel_tol=1e-12))

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "d": self.d, "hbar": self.hbar, "m": self.m, "T": self.T,
                "n_steps": self.n_steps, "omega": self.omega, "center": self.center,
                "g": self.g, "s2": self.s2, "mu0": np.asarray(self.mu0).tolist(),
                "s0_sq": self.s0_sq, "k0": self.k0, "box": list(self.box),
                "grid_points": list(self.grid_points), "d_range": list(self.d_range),
                **{k: v for k, v in self.options.items() if k not in _TRAP_OPTIONS}}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> TrappedGaussian:
        # the recorded config names the phase by its symbol k0
        return cls(**{key: config[key] for key in cls.defaults if key in config},
                   phase=config["k0"])

    # ----------------------------------------------------------------- potential
    def potential(self, x):
        xp = array_namespace(x)
        v = self.one_body_potential(x).sum(-1)
        if self.g != 0.0 and self.d > 1:
            diff = x[..., :, None] - x[..., None, :]
            pair = xp.exp(-(diff**2) / (2 * self.s2)).sum((-1, -2)) - self.d
            # the double sum counts each pair twice and includes the d diagonal terms exp(0) = 1
            v = v + 0.5 * self.g * self._pair_norm * 0.5 * pair
        return v

    def one_body_potential(self, x):
        """The trap term 1/2 m omega^2 (x - a)^2, elementwise."""
        return 0.5 * self.m * self.omega**2 * (x - self.center) ** 2

    @property
    def potential_is_separable(self) -> bool:
        return self.g == 0.0 or self.d == 1

    def grad_potential(self, x):
        xp = array_namespace(x)
        grad = self.m * self.omega**2 * (x - self.center)
        if self.g != 0.0 and self.d > 1:
            diff = x[..., :, None] - x[..., None, :]
            dphi = -diff / self.s2 * xp.exp(-(diff**2) / (2 * self.s2)) * self._pair_norm
            # d/dx_i of (g/2) sum_{j != i} phi(x_i - x_j); the diagonal term has diff = 0
            grad = grad + 0.5 * self.g * dphi.sum(-1)
        return grad

    def potential_lower_bound(self) -> float:
        """The trap is >= 0; the pair term is >= 0 unless attractive (g < 0)."""
        pairs = self.d * (self.d - 1) / 2
        return min(0.0, 0.5 * self.g * pairs * self._pair_norm)

    @property
    def _pair_norm(self) -> float:
        return (2 * math.pi * self.s2) ** -0.5

    def initial_energy(self) -> float:
        from reference.exact import initial_energy

        return initial_energy(self)

    # ----------------------------------------------------------------- references
    def reference(self):
        from reference.exact import ExactReference

        return ExactReference(self) if self.has_exact_solution else None

    def center_of_mass_law(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        if self.d < 2 or self.omega == 0.0:
            return None
        from reference.exact import center_of_mass_mean, center_of_mass_variance

        times = np.asarray(times, dtype=float)
        return center_of_mass_mean(self, times), center_of_mass_variance(self, times)
