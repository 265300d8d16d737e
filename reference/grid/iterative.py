"""Iterative solves of the unsplit Crank-Nicolson step ``A y = psi^n``, A = I + i tau/(2 hbar) H.

They solve the step of the full H without splitting, and are kept as the splitting-free
reference and for comparison (``speed/grid_speed.py`` measures them side by side with
the split steps):

* ``jacobi``: the Jacobi (diagonal) preconditioned Richardson iteration
  y <- y + D^{-1} (psi^n - A y). A is the identity plus a small perturbation
  (||tau H / 2 hbar|| ~ 0.1 on the default grids), and its off-diagonal part is only the
  kinetic stencil, so each iteration reduces the error by about
  tau hbar / (2 m dx^2) * sum|c| * 2d / |D| (~0.06 for the bosons); it needs one stencil
  product an iteration and no inner products but the residual norm,
* ``bicgstab`` / ``gmres``: scipy's Krylov solvers with the same preconditioner.

Every solve starts from the polynomial extrapolation of the previous steps' y. It stops at a
residual ||psi^n - A y|| <= tol ||psi^n||; since ||A^{-1}|| <= 1 the error of y is below that
residual, and the norm changes by at most 4 tol a step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

__all__ = ["ITERATIVE_METHODS", "IterativeSolve", "SolveStats"]

ITERATIVE_METHODS = ("jacobi", "bicgstab", "gmres")


@dataclass
class SolveStats:
    """Iterations of the linear solves so far, the most in one solve, and the largest relative
    residual left."""

    iterations: int = 0
    max_iterations: int = 0
    max_residual: float = 0.0


class IterativeSolve:
    """``solve(b)`` returns y with A y = b to the relative residual ``tol``; counts into
    ``stats``. ``predictor_order`` (0..3): how many previous solutions the start extrapolates."""

    def __init__(self, A: sp.csr_matrix, method: str, *, tol: float, max_iters: int,
                 predictor_order: int, stats: SolveStats):
        if method not in ITERATIVE_METHODS:
            raise ValueError(f"method={method!r}; valid iterative methods: "
                             f"{', '.join(ITERATIVE_METHODS)}")
        self.A = A
        self.method = method
        self.tol = float(tol)
        self.max_iters = int(max_iters)
        self.predictor_order = int(predictor_order)
        self.stats = stats
        self.diagonal = A.diagonal()
        self.inv_diagonal = 1.0 / self.diagonal
        self._history: list[np.ndarray] = []

    def reset(self) -> None:
        """Forget the predictor history (before solving for an unrelated state)."""
        self._history = []

    def _predict(self, b: np.ndarray) -> np.ndarray:
        h = self._history
        k = min(self.predictor_order, len(h))
        if k == 0:
            # A ~ I + O(0.1): the Jacobi step from 0 is the natural start
            return self.inv_diagonal * b
        if k == 1:
            return h[-1].copy()
        if k == 2:
            return 2.0 * h[-1] - h[-2]
        return 3.0 * h[-1] - 3.0 * h[-2] + h[-3]

    def _remember(self, y: np.ndarray) -> None:
        if self.predictor_order == 0:
            return
        self._history.append(y)
        if len(self._history) > self.predictor_order:
            self._history.pop(0)

    def solve(self, b: np.ndarray) -> np.ndarray:
        y = self._predict(b)
        bnorm = float(np.linalg.norm(b))
        if self.method == "jacobi":
            y, its, res = self._jacobi(b, y, bnorm)
        else:
            y, its, res = self._krylov(b, y)
        self.stats.iterations += its
        self.stats.max_iterations = max(self.stats.max_iterations, its)
        self.stats.max_residual = max(self.stats.max_residual, res / bnorm)
        self._remember(y)
        return y

    def _jacobi(self, b: np.ndarray, y: np.ndarray, bnorm: float) -> tuple[np.ndarray, int, float]:
        target = self.tol * bnorm
        its = 0
        while True:
            r = b - self.A @ y
            res = float(np.linalg.norm(r))
            if res <= target:
                return y, its, res
            if its >= self.max_iters:
                raise RuntimeError(
                    f"Jacobi iteration did not reach tol={self.tol:g} in {its} iterations "
                    f"(residual {res / bnorm:.2e}); use substeps or method='bicgstab'"
                )
            y += self.inv_diagonal * r
            its += 1

    def _krylov(self, b: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, int, float]:
        counter = [0]

        def count(_):
            counter[0] += 1

        precond = spla.LinearOperator(self.A.shape, matvec=lambda r: self.inv_diagonal * r,
                                      dtype=complex)
        solver = spla.bicgstab if self.method == "bicgstab" else spla.gmres
        kwargs: dict[str, Any] = {"rtol": self.tol, "atol": 0.0, "x0": y, "M": precond,
                                  "maxiter": self.max_iters, "callback": count}
        if self.method == "gmres":
            kwargs["callback_type"] = "pr_norm"
            kwargs["restart"] = 20
        y, info = solver(self.A, b, **kwargs)
        if info != 0:
            raise RuntimeError(f"{self.method} did not converge (info={info})")
        return y, counter[0], float(np.linalg.norm(b - self.A @ y))
