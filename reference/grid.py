"""Crank-Nicolson on a uniform grid: the reference where no closed form exists (bosons).

The Schrodinger equation ``i hbar d_t psi = H psi`` with

    H = -(hbar^2 / 2m) Lap + V(x)

is discretised on the box ``problem.box`` per axis, ``n`` interior points an axis,
``x_j = lo + j dx`` (j = 1..n, dx = (hi - lo) / (n + 1)), with psi = 0 on and beyond the walls
(Dirichlet). The Laplacian is a central finite-difference stencil of order 2, 4, 6 or 8 per
axis, zero-padded at the walls, so the discrete H is real symmetric. Time stepping is
Crank-Nicolson with step tau = dt / substeps:

    (I + i tau/(2 hbar) H) psi^{n+1} = (I - i tau/(2 hbar) H) psi^n,

a Cayley transform of a Hermitian matrix: unitary, so the discrete norm is conserved exactly
up to the accuracy of the linear solve. It is written with A = I + i tau/(2 hbar) H as

    A y = psi^n,   psi^{n+1} = 2 y - psi^n      (y = (psi^{n+1} + psi^n) / 2),

which needs one solve and no right-hand-side product per step. The solve is

* ``direct`` (default in 1-D): a sparse LU of A, factorised once (a banded matrix, trivial
  fill),
* ``split`` (default for d >= 2): Crank-Nicolson split by axis. Every problem's potential is a
  sum of one-coordinate trap terms plus the pair interaction W (``Problem.trap_potential``),
  so H = sum_k H_k + W with H_k = -(hbar^2/2m) d^2/dx_k^2 + V_trap(x_k) acting on axis k only.
  The H_k commute with each other, and a step is

      psi <- exp(-i tau W / 2 hbar) [prod_k C_k] exp(-i tau W / 2 hbar) psi,
      C_k = (I + i tau/(2 hbar) H_k)^{-1} (I - i tau/(2 hbar) H_k),

  each C_k the 1-D Crank-Nicolson step, the SAME n x n matrix on every grid line of axis k
  (factorised once: stored dense, applied as one matrix product per axis), and the W kicks a
  Strang splitting (second order; they cancel for W = 0). Every factor is unitary, so the norm
  is conserved to rounding. Without interaction the scheme is exactly the product of 1-D CN
  propagations (the d-D error is the 1-D error of the same grid), the discrete energy is
  conserved exactly, and k steps are one product with C_k^k per axis. With interaction it
  differs from unsplit CN by O(tau^2) commutator terms [H_k, W], and the discrete energy is
  conserved to that order (tests bound both against unsplit CN),
* ``jacobi``: the Jacobi (diagonal) preconditioned Richardson iteration
  y <- y + D^{-1} (psi^n - A y), started from the polynomial extrapolation of the previous
  steps' y. A is the identity plus a small perturbation (||tau H / 2 hbar|| ~ 0.1 on the
  default grids), and its off-diagonal part is only the kinetic stencil, so each iteration
  reduces the error by about tau hbar / (2 m dx^2) * sum|c| * 2d / |D| (~0.06 for the bosons);
  it needs one stencil product an iteration and no inner products but the residual norm,
* ``bicgstab`` / ``gmres``: scipy's Krylov solvers with the same preconditioner and start.

``jacobi``, ``bicgstab`` and ``gmres`` solve the unsplit CN step of the full H (kept as the
splitting-free reference and for comparison: benchmarks/grid_speed.py measures them side by side).

Iterative solves stop at a residual ||psi^n - A y|| <= tol ||psi^n||; since ||A^{-1}|| <= 1
the error of y is below that residual, and the norm changes by at most 4 tol a step (the
solver records the largest change it saw).

Observables at the stored times (1-D marginals, moments, centre-of-mass moments,
energy <psi|H|psi> with the same discrete H, which CN conserves exactly) are integrated on the
grid by the rectangle rule, which is spectrally accurate for smooth densities that vanish at the
walls. The drifts are

    u = (hbar/2m) grad log|psi|^2 = (hbar/m) Re(grad psi / psi),
    v = (hbar/m) Im(grad psi / psi),

with grad psi from the central first-derivative stencil of the same order, interpolated
linearly to arbitrary points (exact for the Gaussian packets, whose u and v are linear in x).
"""

from __future__ import annotations

import math
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from reference.problems import Problem

__all__ = [
    "LAPLACIAN_STENCILS",
    "GRADIENT_STENCILS",
    "METHODS",
    "Grid",
    "GridResult",
    "CrankNicolson",
    "solve",
    "estimate_memory_bytes",
    "available_memory_bytes",
    "default_store_indices",
]

# Central second-derivative stencils: f''(x) ~ (c_0 f_0 + sum_j c_j (f_j + f_-j)) / dx^2, error
# O(dx^order); c_j for j = 0..order/2 (Fornberg's coefficients).
LAPLACIAN_STENCILS: dict[int, tuple[float, ...]] = {
    2: (-2.0, 1.0),
    4: (-5 / 2, 4 / 3, -1 / 12),
    6: (-49 / 18, 3 / 2, -3 / 20, 1 / 90),
    8: (-205 / 72, 8 / 5, -1 / 5, 8 / 315, -1 / 560),
}
# Central first-derivative stencils: f'(x) ~ sum_j b_j (f_j - f_-j) / dx, b_j for j = 1..order/2.
GRADIENT_STENCILS: dict[int, tuple[float, ...]] = {
    2: (1 / 2,),
    4: (2 / 3, -1 / 12),
    6: (3 / 4, -3 / 20, 1 / 60),
    8: (4 / 5, -1 / 5, 4 / 105, -1 / 280),
}
METHODS = ("auto", "split", "direct", "jacobi", "bicgstab", "gmres")
MAX_DIMENSION = 4
_COMPLEX_BYTES = 16


# ----------------------------------------------------------------------------- the grid
@dataclass(frozen=True)
class Grid:
    """``n`` interior points an axis on [lo, hi]^d; psi vanishes at lo and hi."""

    d: int
    n: int
    lo: float
    hi: float

    @property
    def dx(self) -> float:
        return (self.hi - self.lo) / (self.n + 1)

    @property
    def axis(self) -> np.ndarray:
        """The interior points of one axis, shape (n,)."""
        return self.lo + self.dx * np.arange(1, self.n + 1)

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.n,) * self.d

    @property
    def size(self) -> int:
        return self.n**self.d

    @property
    def cell_volume(self) -> float:
        return self.dx**self.d

    def evaluate(self, func: Callable[[np.ndarray], np.ndarray], dtype=float) -> np.ndarray:
        """func(points) on the whole grid, shape ``self.shape``, built one slab of the first
        axis at a time so that the (..., d) coordinate array never holds all points at once."""
        out = np.empty(self.shape, dtype=dtype)
        axis = self.axis
        rest = np.stack(np.meshgrid(*([axis] * (self.d - 1)), indexing="ij"), -1) if self.d > 1 \
            else np.empty((0,))
        for i, x0 in enumerate(axis):
            if self.d == 1:
                out[i] = func(np.array([[x0]]))[0]
            else:
                pts = np.concatenate([np.full(rest.shape[:-1] + (1,), x0), rest], -1)
                out[i] = func(pts)
        return out


def _resolve_points(problem: Problem, n_points: int | None) -> int:
    n = problem.default_grid_points() if n_points is None else int(n_points)
    if n < 3:
        raise ValueError(f"n_points={n} must be >= 3 grid points per axis")
    return n


def _check_dimension(problem: Problem) -> None:
    if problem.d > MAX_DIMENSION:
        raise ValueError(
            f"{problem.name}: the grid method supports d <= {MAX_DIMENSION} (got d={problem.d}): "
            f"a grid of n^d points does not fit in memory above that"
        )


def _resolve_method(method: str, d: int) -> str:
    if method not in METHODS:
        raise ValueError(f"method={method!r}; valid methods: {', '.join(METHODS)}")
    if method == "auto":
        # 1-D: the banded LU costs O(n) a step. d >= 2: a sparse LU fills in like n^(3(d-1)) (a
        # 40^3 grid took ~200 s to factorise); the split steps cost d n^(d+1) a step in matrix
        # products, and the bosons n = 3 case (50^3, 1000 steps) ran 8x faster than the
        # Jacobi-preconditioned unsplit CN (benchmarks/grid_speed.py)
        return "direct" if d == 1 else "split"
    return method


# ----------------------------------------------------------------------------- memory
def available_memory_bytes() -> int:
    """MemAvailable from /proc/meminfo (physical memory where that is not readable)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 8 * 1024**3


def estimate_memory_bytes(
    problem: Problem,
    n_points: int | None = None,
    *,
    order: int = 8,
    method: str = "auto",
    n_store_times: int = 101,
    store_psi: bool = True,
) -> int:
    """Bytes a solve would need: the stored psi snapshots, the sparse A (complex values and
    int32/int64 indices), the working vectors of the solve, and for ``direct`` the LU factors.

    Working vectors: psi, y, residual, diagonal, 3 predictor history (jacobi) or ~12 for
    scipy's Krylov solvers, plus the potential and a temporary of each stencil product.
    LU fill: 1-D banded, ~(order + 1) n entries a row; in d >= 2 nested-dissection-like
    ordering keeps ~n^(d-1) entries a row (an upper estimate for SuperLU's COLAMD).
    """
    _check_dimension(problem)
    n = _resolve_points(problem, n_points)
    method = _resolve_method(method, problem.d)
    if order not in LAPLACIAN_STENCILS:
        raise ValueError(f"order={order}; valid stencil orders: {sorted(LAPLACIAN_STENCILS)}")
    size = n**problem.d
    nnz = size * (1 + problem.d * order)
    index_bytes = 4 if nnz < 2**31 else 8
    matrix = nnz * (_COMPLEX_BYTES + index_bytes) * 2  # A and a COO/CSR copy while building
    if method == "split":
        # no d-D matrix: n x n per axis (C_k, H_k and a few powers of C_k)
        matrix = 8 * n * n * _COMPLEX_BYTES
    # split: psi, two matrix-product outputs, H psi and its term, V, W and the two kicks
    vectors = {"split": 8, "direct": 6, "jacobi": 10, "bicgstab": 16, "gmres": 30}[method]
    work = vectors * size * _COMPLEX_BYTES
    stored = n_store_times * size * _COMPLEX_BYTES if store_psi else 0
    stored += n_store_times * problem.d * n * 8 * 2  # marginals and moments: small
    lu = 0
    if method == "direct":
        per_row = (order + 1) if problem.d == 1 else n ** (problem.d - 1)
        lu = 2 * size * per_row * (_COMPLEX_BYTES + 4)
    return int(matrix + work + stored + lu)


def _check_memory(problem: Problem, n: int, need: int, max_memory_gb: float | None) -> None:
    limit = available_memory_bytes() if max_memory_gb is None else int(max_memory_gb * 1024**3)
    if need > limit:
        source = "available RAM" if max_memory_gb is None else f"max_memory_gb={max_memory_gb}"
        raise ValueError(
            f"{problem.name} d={problem.d} on {n}^{problem.d} grid points needs about "
            f"{need / 1024**3:.2f} GiB, more than the {limit / 1024**3:.2f} GiB of {source}; "
            "use fewer n_points, store fewer times (n_store_times) or store_psi=False"
        )


# ----------------------------------------------------------------------------- operators
def _second_difference_1d(n: int, order: int) -> sp.csr_matrix:
    """The 1-D stencil matrix (dimensionless: times 1/dx^2 it is d^2/dx^2), zero-padded."""
    c = LAPLACIAN_STENCILS[order]
    offsets = [j for j in range(-(len(c) - 1), len(c)) if abs(j) < n]
    return sp.diags([np.full(n - abs(j), c[abs(j)]) for j in offsets], offsets, shape=(n, n),
                    format="csr")


def laplacian_matrix(grid: Grid, order: int) -> sp.csr_matrix:
    """The d-D stencil (dimensionless) as a Kronecker sum of the 1-D ones."""
    one = _second_difference_1d(grid.n, order)
    eye = sp.identity(grid.n, format="csr")
    total = None
    for axis in range(grid.d):
        term = None
        for k in range(grid.d):
            factor = one if k == axis else eye
            term = factor if term is None else sp.kron(term, factor, format="csr")
        total = term if total is None else total + term
    return total.tocsr()


def gradient(psi: np.ndarray, dx: float, order: int) -> np.ndarray:
    """Central-difference gradient of psi (zero beyond the walls), shape (d, *psi.shape)."""
    b = GRADIENT_STENCILS[order]
    d = psi.ndim
    out = np.zeros((d,) + psi.shape, dtype=psi.dtype)
    n = psi.shape[0]
    for axis in range(d):
        for j, bj in enumerate(b, start=1):
            if j >= n:
                break
            hi = _axis_slice(d, axis, j, None)
            lo = _axis_slice(d, axis, None, -j)
            out[axis][lo] += bj * psi[hi]   # + b_j f_{i+j}
            out[axis][hi] -= bj * psi[lo]   # - b_j f_{i-j}
    return out / dx


def _axis_slice(d: int, axis: int, start: int | None, stop: int | None) -> tuple[slice, ...]:
    s = [slice(None)] * d
    s[axis] = slice(start, stop)
    return tuple(s)


# ----------------------------------------------------------------------------- propagator
@dataclass
class _SolveStats:
    iterations: int = 0
    max_iterations: int = 0
    max_residual: float = 0.0


class CrankNicolson:
    """Crank-Nicolson for a Problem on a Grid (see the module docstring).

    ``step(psi)`` returns psi one step tau = dt / substeps later, ``advance(psi, k)`` k steps
    later; ``hamiltonian(psi)`` applies the discrete H (for the energy).
    """

    def __init__(
        self,
        problem: Problem,
        n_points: int | None = None,
        *,
        order: int = 8,
        substeps: int = 1,
        method: str = "auto",
        tol: float = 2e-11,
        max_solver_iters: int = 200,
        predictor_order: int = 2,
    ):
        _check_dimension(problem)
        if order not in LAPLACIAN_STENCILS:
            raise ValueError(f"order={order}; valid stencil orders: {sorted(LAPLACIAN_STENCILS)}")
        if int(substeps) != substeps or substeps < 1:
            raise ValueError(f"substeps={substeps!r} must be an integer >= 1")
        if not 0 < tol < 1:
            raise ValueError(f"tol={tol!r} must be in (0, 1)")
        if predictor_order not in (0, 1, 2, 3):
            raise ValueError(f"predictor_order={predictor_order}; valid: 0, 1, 2, 3")
        self.problem = problem
        lo, hi = problem.box
        self.grid = Grid(problem.d, _resolve_points(problem, n_points), float(lo), float(hi))
        self.order = int(order)
        self.substeps = int(substeps)
        self.tau = problem.dt / self.substeps
        self.method = _resolve_method(method, problem.d)
        self.tol = float(tol)
        self.max_solver_iters = int(max_solver_iters)
        self.predictor_order = int(predictor_order)
        self.stats = _SolveStats()

        grid = self.grid
        self.potential = grid.evaluate(problem.potential).ravel()
        self.kinetic = problem.hbar**2 / (2 * problem.m * grid.dx**2)  # hbar^2 / (2 m dx^2)
        self._history: list[np.ndarray] = []
        self._lu = None
        if self.method == "split":
            self._build_split()
            return
        # H = -kinetic * L + V with L the dimensionless stencil
        lap = laplacian_matrix(grid, self.order)
        self.H = (-self.kinetic * lap + sp.diags(self.potential)).tocsr()
        alpha = self.tau / (2 * problem.hbar)
        self.A = (sp.identity(grid.size, dtype=complex, format="csr") + 1j * alpha * self.H).tocsr()
        self.A.sort_indices()
        self.diagonal = self.A.diagonal()
        self.inv_diagonal = 1.0 / self.diagonal
        if self.method == "direct":
            self._lu = spla.splu(self.A.tocsc(), permc_spec="NATURAL" if grid.d == 1 else "COLAMD")

    def _build_split(self) -> None:
        """C_k (the same for every axis: the grid and the trap are), H_k and the W kicks."""
        problem, grid = self.problem, self.grid
        n = grid.n
        lap = _second_difference_1d(n, self.order).toarray()
        self.axis_hamiltonian = -self.kinetic * lap + np.diag(problem.trap_potential(grid.axis))
        alpha = self.tau / (2 * problem.hbar)
        eye = np.eye(n)
        self.axis_step = np.linalg.solve(eye + 1j * alpha * self.axis_hamiltonian,
                                         eye - 1j * alpha * self.axis_hamiltonian)
        self._axis_step_powers: dict[int, np.ndarray] = {1: self.axis_step}
        self.interaction: np.ndarray | None = None
        if problem.g != 0.0 and grid.d > 1:
            separable = np.zeros(grid.shape)
            trap = problem.trap_potential(grid.axis)
            for k in range(grid.d):
                shape = [1] * grid.d
                shape[k] = n
                separable = separable + trap.reshape(shape)
            self.interaction = self.potential - separable.ravel()
            self._half_kick = np.exp(-0.5j * self.tau / problem.hbar * self.interaction)
            self._kick = self._half_kick * self._half_kick

    def _along_axis(self, psi: np.ndarray, matrix: np.ndarray, axis: int) -> np.ndarray:
        """``matrix`` (n x n) applied to every grid line of ``axis``; psi flat, returns flat.
        One BLAS matrix product: the lines of the last axis are rows, the others batches."""
        n, d = self.grid.n, self.grid.d
        if axis == d - 1:
            return (psi.reshape(-1, n) @ matrix.T).reshape(-1)
        return np.matmul(matrix, psi.reshape(n**axis, n, n ** (d - axis - 1))).reshape(-1)

    def _along_all_axes(self, psi: np.ndarray, matrix: np.ndarray) -> np.ndarray:
        for axis in range(self.grid.d):
            psi = self._along_axis(psi, matrix, axis)
        return psi

    def _axis_step_power(self, k: int) -> np.ndarray:
        if k not in self._axis_step_powers:
            self._axis_step_powers[k] = np.linalg.matrix_power(self.axis_step, k)
        return self._axis_step_powers[k]

    # ------------------------------------------------------------------ physics
    def initial_state(self) -> np.ndarray:
        """psi_0 on the grid, normalised to 1 in the discrete norm sum |psi|^2 dx^d."""
        psi = self.grid.evaluate(self.problem.psi0, dtype=complex).ravel()
        return psi / math.sqrt(self.norm(psi))

    def norm(self, psi: np.ndarray) -> float:
        return float(np.vdot(psi, psi).real) * self.grid.cell_volume

    def hamiltonian(self, psi: np.ndarray) -> np.ndarray:
        if self.method != "split":
            return self.H @ psi
        out = self.interaction * psi if self.interaction is not None else np.zeros_like(psi)
        for axis in range(self.grid.d):
            out += self._along_axis(psi, self.axis_hamiltonian, axis)
        return out

    def energy(self, psi: np.ndarray) -> float:
        """<psi|H|psi> / <psi|psi> on the grid."""
        return float(np.vdot(psi, self.hamiltonian(psi)).real / np.vdot(psi, psi).real)

    # ------------------------------------------------------------------ stepping
    def reset(self) -> None:
        """Forget the predictor history (call before propagating an unrelated state)."""
        self._history = []

    def step(self, psi: np.ndarray) -> np.ndarray:
        return self.advance(psi, 1)[0]

    def advance(self, psi: np.ndarray, n_steps: int) -> tuple[np.ndarray, float]:
        """psi ``n_steps`` steps of tau later, and the largest change of the norm in one step
        (over all ``n_steps`` for the split method without interaction, which jumps there in
        one product per axis). Both are unitary, so that change measures the solve error."""
        if n_steps < 1:
            return psi, 0.0
        norm_prev = self.norm(psi)
        if self.method == "split" and self.interaction is None:
            psi = self._along_all_axes(psi, self._axis_step_power(n_steps))
            self.stats.iterations += n_steps
            self.stats.max_iterations = 1
            return psi, abs(self.norm(psi) - norm_prev)
        max_change = 0.0
        if self.method == "split":
            # Strang: the half kicks of consecutive steps merge into one full kick
            psi = self._half_kick * psi
            for i in range(n_steps):
                psi = self._along_all_axes(psi, self.axis_step)
                psi = (self._kick if i < n_steps - 1 else self._half_kick) * psi
                norm_now = self.norm(psi)  # the kicks are unitary: this is the norm after step i
                max_change = max(max_change, abs(norm_now - norm_prev))
                norm_prev = norm_now
            self.stats.iterations += n_steps
            self.stats.max_iterations = 1
            return psi, max_change
        for _ in range(n_steps):
            y = self._solve(psi)
            psi = 2.0 * y - psi
            norm_now = self.norm(psi)
            max_change = max(max_change, abs(norm_now - norm_prev))
            norm_prev = norm_now
        return psi, max_change

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

    def _solve(self, b: np.ndarray) -> np.ndarray:
        if self._lu is not None:
            y = self._lu.solve(b)
            self.stats.iterations += 1
            self.stats.max_iterations = 1
            return y
        y = self._predict(b)
        bnorm = float(np.linalg.norm(b))
        target = self.tol * bnorm
        if self.method == "jacobi":
            its = 0
            while True:
                r = b - self.A @ y
                res = float(np.linalg.norm(r))
                if res <= target:
                    break
                if its >= self.max_solver_iters:
                    raise RuntimeError(
                        f"Jacobi iteration did not reach tol={self.tol:g} in {its} iterations "
                        f"(residual {res / bnorm:.2e}); use substeps or method='bicgstab'"
                    )
                y += self.inv_diagonal * r
                its += 1
        else:
            counter = [0]

            def count(_):
                counter[0] += 1

            precond = spla.LinearOperator(self.A.shape, matvec=lambda r: self.inv_diagonal * r,
                                          dtype=complex)
            solver = spla.bicgstab if self.method == "bicgstab" else spla.gmres
            kwargs: dict[str, Any] = {"rtol": self.tol, "atol": 0.0, "x0": y, "M": precond,
                                      "maxiter": self.max_solver_iters, "callback": count}
            if self.method == "gmres":
                kwargs["callback_type"] = "pr_norm"
                kwargs["restart"] = 20
            y, info = solver(self.A, b, **kwargs)
            if info != 0:
                raise RuntimeError(f"{self.method} did not converge (info={info})")
            its = counter[0]
            res = float(np.linalg.norm(b - self.A @ y))
        self.stats.iterations += its
        self.stats.max_iterations = max(self.stats.max_iterations, its)
        self.stats.max_residual = max(self.stats.max_residual, res / bnorm)
        self._remember(y)
        return y


# ----------------------------------------------------------------------------- the result
def default_store_indices(n_steps: int, n_store_times: int = 101,
                          store_every: int | None = None) -> np.ndarray:
    """Step indices whose psi is kept: ``n_store_times`` evenly spaced points of the time grid
    (the metrics' evaluation times, ``benchmarks.metrics.evaluation_times``), or every
    ``store_every``-th step plus the last."""
    if store_every is not None:
        if store_every < 1:
            raise ValueError(f"store_every={store_every} must be >= 1")
        idx = np.arange(0, n_steps + 1, store_every)
        return np.unique(np.append(idx, n_steps))
    if n_store_times < 2:
        raise ValueError(f"n_store_times={n_store_times} must be >= 2")
    return np.unique(np.round(np.linspace(0, n_steps, n_store_times)).astype(int))


@dataclass
class GridResult:
    """psi-derived observables at the stored times (and psi itself unless store_psi=False).

    Arrays: ``times`` (n_t,), ``mean``/``var`` (n_t, d), ``marginals`` (n_t, d, n),
    ``com_mean``/``com_var`` (n_t,), ``energy`` (n_t,), ``norm`` (n_t,), ``psi``
    (n_t, *grid.shape) or None.
    """

    problem: Problem
    grid: Grid
    order: int
    times: np.ndarray
    mean: np.ndarray
    var: np.ndarray
    marginals: np.ndarray
    com_mean: np.ndarray
    com_var: np.ndarray
    energy_values: np.ndarray
    norm: np.ndarray
    psi_values: np.ndarray | None
    n_steps: int
    max_norm_change: float
    solver_iterations: int
    max_residual: float
    wall_s: float
    method: str
    substeps: int
    _fields: OrderedDict = field(default_factory=OrderedDict, repr=False)

    # ------------------------------------------------------------------ lookup
    def time_indices(self, times: Sequence[float] | np.ndarray) -> np.ndarray:
        """Indices of ``times`` among the stored times (ValueError if one is not stored)."""
        t = np.atleast_1d(np.asarray(times, dtype=float))
        idx = np.searchsorted(self.times, t)
        idx = np.clip(idx, 0, len(self.times) - 1)
        left = np.clip(idx - 1, 0, len(self.times) - 1)
        idx = np.where(np.abs(self.times[left] - t) < np.abs(self.times[idx] - t), left, idx)
        bad = np.abs(self.times[idx] - t) > 1e-9 * max(1.0, self.problem.T)
        if bad.any():
            raise ValueError(
                f"time(s) {t[bad][:5].tolist()} not stored; stored: {len(self.times)} times "
                f"from {self.times[0]:g} to {self.times[-1]:g} (set n_store_times / store_every)"
            )
        return idx

    def moments(self, times) -> tuple[np.ndarray, np.ndarray]:
        idx = self.time_indices(times)
        return self.mean[idx], self.var[idx]

    def center_of_mass_moments(self, times) -> tuple[np.ndarray, np.ndarray]:
        idx = self.time_indices(times)
        return self.com_mean[idx], self.com_var[idx]

    def energy(self, times) -> np.ndarray:
        return self.energy_values[self.time_indices(times)]

    def psi(self, times) -> np.ndarray:
        """psi on the grid at stored times, (len(times), *grid.shape), normalised so that
        sum |psi|^2 dx^d = 1 (at the start; CN keeps it)."""
        if self.psi_values is None:
            raise ValueError("psi was not stored (store_psi=False)")
        return self.psi_values[self.time_indices(times)]

    def marginal_density(self, x, times) -> np.ndarray:
        """1-D marginals interpolated linearly onto x, (len(times), d, len(x)); 0 outside the
        box (psi vanishes at the walls, which are included as interpolation nodes)."""
        idx = self.time_indices(times)
        x = np.asarray(x, dtype=float)
        nodes = np.concatenate([[self.grid.lo], self.grid.axis, [self.grid.hi]])
        out = np.empty((len(idx), self.grid.d, x.size))
        for a, i in enumerate(idx):
            for k in range(self.grid.d):
                values = np.concatenate([[0.0], self.marginals[i, k], [0.0]])
                out[a, k] = np.interp(x.ravel(), nodes, values, left=0.0, right=0.0)
        return out

    def marginal_quantile(self, q, times) -> np.ndarray:
        """Quantiles of each 1-D marginal, (len(times), d, len(q)), by inverting the CDF of the
        piecewise-linear marginal (trapezoid rule between nodes)."""
        idx = self.time_indices(times)
        q = np.asarray(q, dtype=float)
        nodes = np.concatenate([[self.grid.lo], self.grid.axis, [self.grid.hi]])
        out = np.empty((len(idx), self.grid.d, q.size))
        for a, i in enumerate(idx):
            for k in range(self.grid.d):
                rho = np.concatenate([[0.0], self.marginals[i, k], [0.0]])
                cdf = np.concatenate([[0.0], np.cumsum(0.5 * (rho[1:] + rho[:-1]) * self.grid.dx)])
                cdf /= cdf[-1]
                out[a, k] = np.interp(q, cdf, nodes)
        return out

    def velocity_fields(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(u, v) on the grid at stored time ``index``, each (d, *grid.shape)."""
        if index in self._fields:
            self._fields.move_to_end(index)
            return self._fields[index]
        if self.psi_values is None:
            raise ValueError("drift needs psi (store_psi=False was set)")
        psi = self.psi_values[index]
        grad = gradient(psi, self.grid.dx, self.order)
        rho = np.maximum((psi.conj() * psi).real, np.finfo(float).tiny)
        # grad psi / psi = conj(psi) grad psi / |psi|^2
        ratio = psi.conj()[None] * grad / rho[None]
        scale = self.problem.hbar / self.problem.m
        fields = (scale * ratio.real, scale * ratio.imag)
        self._fields[index] = fields
        if len(self._fields) > 4:  # each is 2 d n^d floats: keep a few
            self._fields.popitem(last=False)
        return fields

    def drift(self, x, t) -> tuple[np.ndarray, np.ndarray]:
        """(u, v) at points x (n, d) and times t (n,) (or a scalar), each (n, d): linear in
        space on the grid (points outside the interior grid take the nearest boundary value),
        linear in time between stored times."""
        from scipy.interpolate import RegularGridInterpolator

        x = np.atleast_2d(np.asarray(x, dtype=float))
        t = np.broadcast_to(np.asarray(t, dtype=float), (len(x),))
        if (t < self.times[0] - 1e-12).any() or (t > self.times[-1] + 1e-12).any():
            raise ValueError(f"drift times must lie in [{self.times[0]}, {self.times[-1]}]")
        axis = self.grid.axis
        xc = np.clip(x, axis[0], axis[-1])
        u = np.empty_like(x)
        v = np.empty_like(x)
        for tv in np.unique(t):
            sel = t == tv
            j = int(np.clip(np.searchsorted(self.times, tv, side="right") - 1, 0,
                            len(self.times) - 1))
            if j == len(self.times) - 1 or abs(self.times[j] - tv) < 1e-12:
                weights = [(j, 1.0)]
            else:
                w = (tv - self.times[j]) / (self.times[j + 1] - self.times[j])
                weights = [(j, 1.0 - w), (j + 1, w)]
            us = np.zeros((sel.sum(), self.grid.d))
            vs = np.zeros_like(us)
            for i, w in weights:
                fu, fv = self.velocity_fields(i)
                for k in range(self.grid.d):
                    grid_axes = (axis,) * self.grid.d
                    us[:, k] += w * RegularGridInterpolator(grid_axes, fu[k])(xc[sel])
                    vs[:, k] += w * RegularGridInterpolator(grid_axes, fv[k])(xc[sel])
            u[sel], v[sel] = us, vs
        return u, v


# ----------------------------------------------------------------------------- the driver
def _observables(prop: CrankNicolson, psi: np.ndarray) -> dict[str, Any]:
    grid = prop.grid
    rho = (psi.conj() * psi).real.reshape(grid.shape) * grid.cell_volume
    axis = grid.axis
    d = grid.d
    marginals = np.empty((d, grid.n))
    mean = np.empty(d)
    for k in range(d):
        marginals[k] = rho.sum(axis=tuple(a for a in range(d) if a != k)) / grid.dx
        mean[k] = (marginals[k] * axis).sum() * grid.dx
    # second moments E[x_i x_j] for the centre of mass: from the 2-D marginals
    second = np.empty((d, d))
    for i in range(d):
        xi = marginals[i] * grid.dx
        second[i, i] = (xi * axis**2).sum()
        for j in range(i + 1, d):
            pair = rho.sum(axis=tuple(a for a in range(d) if a not in (i, j)))
            second[i, j] = second[j, i] = axis @ pair @ axis
    total = rho.sum()
    mean = mean / total
    second = second / total
    cov = second - np.outer(mean, mean)
    return {
        "marginals": marginals / total,
        "mean": mean,
        "var": np.diag(cov).copy(),
        "com_mean": float(mean.mean()),
        "com_var": float(cov.sum() / d**2),
        "energy": prop.energy(psi),
        "norm": float(total),
    }


def solve(
    problem: Problem,
    n_points: int | None = None,
    *,
    order: int = 8,
    substeps: int = 1,
    method: str = "auto",
    tol: float = 2e-11,
    n_store_times: int = 101,
    store_every: int | None = None,
    store_psi: bool = True,
    max_memory_gb: float | None = None,
    max_seconds: float | None = None,
    progress: bool = False,
    predictor_order: int = 2,
) -> GridResult:
    """Propagate psi_0 over the problem's time grid [0, T] with Crank-Nicolson.

    Observables (and psi unless ``store_psi=False``) are kept at ``n_store_times`` evenly spaced
    points of the problem's time grid, or every ``store_every``-th step: storing psi at all
    1001 times of a 50^3 grid would take 2 GB. Raises ValueError before allocating when the
    estimated memory exceeds ``max_memory_gb`` (default: MemAvailable) and TimeoutError when
    ``max_seconds`` is exceeded (a partial solution is not a solution).
    """
    n = _resolve_points(problem, n_points)
    store_idx = default_store_indices(problem.n_steps, n_store_times, store_every)
    need = estimate_memory_bytes(problem, n, order=order, method=method,
                                 n_store_times=len(store_idx), store_psi=store_psi)
    _check_memory(problem, n, need, max_memory_gb)

    t0 = time.perf_counter()
    prop = CrankNicolson(problem, n, order=order, substeps=substeps, method=method, tol=tol,
                         predictor_order=predictor_order)
    grid = prop.grid
    psi = prop.initial_state()
    n_t = len(store_idx)
    psis = np.empty((n_t,) + grid.shape, dtype=complex) if store_psi else None
    obs: dict[str, list] = {k: [] for k in ("marginals", "mean", "var", "com_mean", "com_var",
                                              "energy", "norm")}

    def record(slot: int) -> None:
        for key, value in _observables(prop, psi).items():
            obs[key].append(value)
        if psis is not None:
            psis[slot] = psi.reshape(grid.shape)

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=problem.n_steps, desc=f"CN {problem.name} {n}^{problem.d}", unit="step")
    record(0)
    max_change = 0.0
    # the split method advances from one stored time to the next in one call (a single product
    # per axis without interaction); the others step by step, so that time limits bite early
    chunk = None if prop.method == "split" else 1
    step = 0
    for slot in range(1, n_t):
        while step < store_idx[slot]:
            k = store_idx[slot] - step if chunk is None else min(chunk, store_idx[slot] - step)
            psi, change = prop.advance(psi, k * prop.substeps)
            max_change = max(max_change, change)
            step += k
            if bar is not None:
                bar.update(k)
            if max_seconds is not None and time.perf_counter() - t0 > max_seconds:
                if bar is not None:
                    bar.close()
                raise TimeoutError(
                    f"grid solve of {problem.name} d={problem.d} on {n}^{problem.d} points "
                    f"exceeded max_seconds={max_seconds} at step {step}/{problem.n_steps}"
                )
        record(slot)
    if bar is not None:
        bar.close()
    wall = time.perf_counter() - t0
    return GridResult(
        problem=problem,
        grid=grid,
        order=prop.order,
        times=problem.times[store_idx],
        mean=np.array(obs["mean"]),
        var=np.array(obs["var"]),
        marginals=np.array(obs["marginals"]),
        com_mean=np.array(obs["com_mean"]),
        com_var=np.array(obs["com_var"]),
        energy_values=np.array(obs["energy"]),
        norm=np.array(obs["norm"]),
        psi_values=psis,
        n_steps=problem.n_steps * prop.substeps,
        max_norm_change=max_change,
        solver_iterations=prop.stats.iterations,
        max_residual=prop.stats.max_residual,
        wall_s=wall,
        method=prop.method,
        substeps=prop.substeps,
    )
