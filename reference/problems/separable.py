"""Separable problems from a Gaussian start: V(x) = sum_k V1(x_k), psi_0 = prod_k phi_0(x_k)
with the same Gaussian phi_0 in every coordinate. The solution is the product of one 1-D
solution, computed once per configuration by split-step Fourier on a fine grid and checked
by halving dx and the time step (``reference.separable``; ``docs/problems.md``, "Separable
references"): an exact reference in any d, with no grid in d dimensions.
"""

from __future__ import annotations

import functools
import json
import math
from abc import abstractmethod
from typing import Any, ClassVar

import numpy as np

from reference.problems.gaussian_start import GaussianStart
from reference.separable import Line, ProductReference, split_step_line

__all__ = ["SeparableGaussianStart", "converged_line", "product_reference"]

# the largest change of the 1-D moments (relative to the scale of x) when dx and the time step
# are halved that a reference may have; a grid or step that misses it is refused
CONVERGENCE = 1e-7


class SeparableGaussianStart(GaussianStart):
    """A subclass declares the one-body potential ``potential_1d`` and its derivative
    ``force_1d`` (= -V1'), the start (``mu0``, ``s0_sq``, ``k0`` in ``derive``), and the 1-D
    reference grid: ``line_points`` on the box (periodic) and split steps of at most
    ``line_step``."""

    exchangeable_coordinates = True  # one V1 and one phi_0 for every coordinate
    line_points: ClassVar[int] = 2048
    line_step: ClassVar[float] = 2e-4

    @property
    def line_substeps(self) -> int:
        """Split steps per time step: the fewest that keep each one <= ``line_step``."""
        return max(1, math.ceil(self.dt / self.line_step - 1e-9))

    @abstractmethod
    def potential_1d(self, x):
        """V1(x), elementwise, numpy or torch."""

    @abstractmethod
    def force_1d(self, x):
        """-V1'(x), elementwise, numpy or torch."""

    def potential(self, x):
        return self.potential_1d(x).sum(-1)

    def grad_potential(self, x):
        return -self.force_1d(x)

    def one_body_potential(self, x):
        return self.potential_1d(x)

    @property
    def potential_is_separable(self) -> bool:
        return True

    def reference(self) -> ProductReference:
        return product_reference(self)

    def line(self) -> Line:
        """The converged 1-D solution, computed once per configuration in a process."""
        config = {k: v for k, v in self.config().items() if k != "d"}
        return _cached_line(type(self), json.dumps(config, sort_keys=True, default=str))

    def phi0(self, x: np.ndarray) -> np.ndarray:
        """The 1-D start: (2 pi s0^2)^(-1/4) exp(-(x - mu0)^2 / (4 s0^2) + i k0 x)."""
        amplitude = (2 * np.pi * self.s0_sq) ** -0.25 * np.exp(-((x - self.mu0) ** 2) / (4 * self.s0_sq))
        return amplitude * np.exp(1j * self.k0 * x)


def product_reference(problem) -> ProductReference:
    """The product of the problem's ``line()`` in its d coordinates, built once per
    configuration in a process: solvers ask for it per evaluation time and per batch of
    initial samples. ``problem.one_body_potential`` is V1."""
    return _cached_reference(type(problem), json.dumps(problem.config(), sort_keys=True,
                                                       default=str))


@functools.lru_cache(maxsize=2)  # each holds psi and its fields at every time: ~0.1-0.2 GB
def _cached_reference(cls: type, config_json: str) -> ProductReference:
    problem = cls.from_config(json.loads(config_json))
    return ProductReference(problem.line(), problem.d, problem.one_body_potential)


@functools.lru_cache(maxsize=8)
def _cached_line(cls: type, config_json: str) -> Line:
    config: dict[str, Any] = json.loads(config_json)
    problem = cls.from_config({**config, "d": cls.d_range[0]})
    return converged_line(problem)


def converged_line(problem: SeparableGaussianStart) -> Line:
    """The 1-D solution on the declared grid, checked against one on twice the points and
    twice the split steps: their means and standard deviations over time must agree to
    ``CONVERGENCE`` times the box width, and the density at the box's edge must be negligible
    (the grid is periodic). The finer solution is returned; ``convergence`` records the
    difference."""
    lo, hi = problem.box
    lines = []
    for refine in (1, 2):
        n = problem.line_points * refine
        x = lo + (hi - lo) * np.arange(n) / n
        lines.append(split_step_line(problem.potential_1d, problem.phi0(x), x, hbar=problem.hbar,
                                     m=problem.m, dt=problem.dt, n_steps=problem.n_steps,
                                     substeps=problem.line_substeps * refine))
    coarse, fine = (ProductReference(line, 1, problem.potential_1d) for line in lines)
    times = problem.times
    (m1, v1), (m2, v2) = coarse.moments(times), fine.moments(times)
    change = max(np.abs(m1 - m2).max(), np.abs(np.sqrt(v1) - np.sqrt(v2)).max()) / (hi - lo)
    rho = lines[1].density()
    edge = float(max(rho[:, :8].max(), rho[:, -8:].max()) / rho.max())
    if change > CONVERGENCE or edge > 1e-12:
        raise ValueError(f"{problem.name}: the 1-D reference is not converged on its grid "
                         f"({problem.line_points} points on {problem.box}, split steps of "
                         f"{problem.dt / problem.line_substeps:.2g}): moments change by "
                         f"{change:.1e} of the box on halving dx and tau (allowed "
                         f"{CONVERGENCE:g}), edge density {edge:.1e} of the peak")
    lines[1].convergence = float(change)
    return lines[1]
