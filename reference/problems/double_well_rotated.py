"""``double_well_rotated``: the double well seen through a seeded random rotation, x = Q^T y.

In y the problem is separable: V = sum_i a (y_i^2 - b^2)^2, with y_1 started in the left well
(as in ``double_well``) and y_2..y_d started on the barrier top, where each splits into both
wells. The y_i therefore have different variances, so the covariance of x, Q^T diag(var_y) Q,
is not diagonal, and neither V(x) = sum_i V1((Q x)_i) nor psi_0 is a product in the
coordinates the solvers see. The reference is still exact in any d
(``reference.rotated.RotatedReference``; ``docs/problems.md``, "Rotated references").

Q is Haar-random, drawn from ``rotation_seed`` (recorded in the row's config).

The box is wider than the 1-D well's: each x_k mixes d coordinates that sit in wells at +-b,
so at large d it is close to normal, with a Gaussian tail that a box sized for one y clips
(``docs/problems.md``, "The rotated box").
"""

from __future__ import annotations

import functools
import json

import numpy as np

from reference.arrays import like
from reference.options import Integer, Option
from reference.problems.double_well import DoubleWell
from reference.problems.gaussian_start import GaussianStart
from reference.problems.separable import converged_line
from reference.rotated import RotatedReference

__all__ = ["DoubleWellRotated", "haar_rotation"]


def haar_rotation(d: int, seed: int) -> np.ndarray:
    """A Haar-distributed orthogonal d x d matrix: the QR factor of a Gaussian matrix with
    the signs of R's diagonal moved into Q (Mezzadri, Notices AMS 54, 2007)."""
    g = np.random.default_rng(seed).standard_normal((d, d))
    q, r = np.linalg.qr(g)
    return q * np.sign(np.diag(r))


class DoubleWellRotated(GaussianStart):
    name = "double_well_rotated"
    label = "rotated double well"
    description = ("the double well under a seeded rotation Q: y_1 tunnels, y_2..y_d split on "
                   "the barrier top; not a product in x, exact in any d")
    d_range = (2, 100)
    # were each x_k normal with the y lines' largest sd (1.19), some |x_k| would pass
    # b |Q_1k| + 1.2 sqrt(2 ln(2 d / 1e-4)) with probability below 1e-4 at each t: 6.5-6.8
    # for d = 2..100 at rotation_seed 0. tests/test_rotated.py checks the exact marginals
    box = (-7.0, 7.0)
    grid_points = (0, 192, 96)
    option_specs = {
        "d": Option(2, Integer(2), "dimension (number of coordinates)"),
        **{k: v for k, v in DoubleWell.option_specs.items() if k != "d"},
        "rotation_seed": Option(0, Integer(0), "seed of the Haar-random rotation Q"),
    }

    def derive(self) -> None:
        # the 1-D double well of these options, built once: V and grad V are on hot paths
        self.line_problem = well = self._line_problem()
        self.rotation = haar_rotation(self.d, self.options["rotation_seed"])
        # y_1 in the left well, the others on the barrier top; isotropic width, no momentum
        self.start_y = np.zeros(self.d)
        self.start_y[0] = well.mu0
        self.mu0, self.s0_sq, self.k0 = self.start_y @ self.rotation, well.s0_sq, 0.0

    def _line_problem(self) -> DoubleWell:
        """The 1-D double well of these options (its start is the left well)."""
        return DoubleWell(**{k: v for k, v in self.options.items()
                             if k in DoubleWell.option_specs and k != "d"})

    def potential(self, x):
        y = x @ like(self.rotation, x).T
        return self.line_problem.potential_1d(y).sum(-1)

    def grad_potential(self, x):
        """grad_x sum_i V1((Q x)_i) = Q^T V1'(Q x)."""
        rotation = like(self.rotation, x)
        return -self.line_problem.force_1d(x @ rotation.T) @ rotation

    def reference(self) -> RotatedReference:
        return _cached_reference(json.dumps(self.config(), sort_keys=True, default=str))


@functools.lru_cache(maxsize=8)
def _cached_lines(config_json: str):
    """The converged 1-D solutions from the left well and from the barrier top."""
    well = DoubleWell(**json.loads(config_json))
    return converged_line(well), converged_line(well.replace(mu0=0.0))


@functools.lru_cache(maxsize=2)
def _cached_reference(config_json: str) -> RotatedReference:
    problem = DoubleWellRotated.from_config(json.loads(config_json))
    in_well, on_top = _cached_lines(json.dumps(problem.line_problem.options, sort_keys=True))
    lines = [in_well] + [on_top] * (problem.d - 1)
    potential = problem.line_problem.potential_1d
    return RotatedReference(lines, problem.rotation, [potential] * problem.d)

