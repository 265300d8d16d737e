"""The grid, the finite-difference operators and the memory a solve needs.

The box ``problem.box`` is discretised per axis with ``n`` interior points,
``x_j = lo + j dx`` (j = 1..n, dx = (hi - lo) / (n + 1)), and psi = 0 on and beyond the walls
(Dirichlet). The Laplacian is a central finite-difference stencil of order 2, 4, 6 or 8 per
axis, zero-padded at the walls, so the discrete

    H = -(hbar^2 / 2m) Lap + V(x)

is real symmetric. The gradient (for the drifts) is the central first-derivative stencil of
the same order.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from reference.problems import Problem

__all__ = [
    "GRADIENT_STENCILS",
    "LAPLACIAN_STENCILS",
    "MAX_DIMENSION",
    "METHODS",
    "Grid",
    "available_memory_bytes",
    "check_dimension",
    "check_memory",
    "estimate_memory_bytes",
    "axis_hamiltonian",
    "gradient",
    "hamiltonian_matrix",
    "interaction_potential",
    "kinetic_coefficient",
    "laplacian_matrix",
    "resolve_method",
    "resolve_points",
    "second_difference_1d",
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


def resolve_points(problem: Problem, n_points: int | None) -> int:
    """Grid points per axis: ``n_points``, or the problem's default grid when None."""
    n = problem.default_grid_points() if n_points is None else int(n_points)
    if n < 3:
        raise ValueError(f"n_points={n} must be >= 3 grid points per axis")
    return n


def check_dimension(problem: Problem) -> None:
    if problem.d > MAX_DIMENSION:
        raise ValueError(
            f"{problem.name}: the grid method supports d <= {MAX_DIMENSION} (got d={problem.d}): "
            f"a grid of n^d points does not fit in memory above that"
        )


def resolve_method(method: str, d: int) -> str:
    """The solve method ``auto`` stands for in dimension d."""
    if method not in METHODS:
        raise ValueError(f"method={method!r}; valid methods: {', '.join(METHODS)}")
    if method == "auto":
        # 1-D: the banded LU costs O(n) a step. d >= 2: a sparse LU fills in like n^(3(d-1));
        # the split steps cost d n^(d+1) a step in matrix products, and beat the Jacobi-
        # preconditioned unsplit CN on the bosons (speed/grid_speed.py compares them)
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
    check_dimension(problem)
    n = resolve_points(problem, n_points)
    method = resolve_method(method, problem.d)
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


def check_memory(problem: Problem, n: int, need: int, max_memory_gb: float | None) -> None:
    """ValueError naming the remedies when ``need`` bytes exceed the limit (default:
    MemAvailable)."""
    limit = available_memory_bytes() if max_memory_gb is None else int(max_memory_gb * 1024**3)
    if need > limit:
        source = "available RAM" if max_memory_gb is None else f"max_memory_gb={max_memory_gb}"
        raise ValueError(
            f"{problem.name} d={problem.d} on {n}^{problem.d} grid points needs about "
            f"{need / 1024**3:.2f} GiB, more than the {limit / 1024**3:.2f} GiB of {source}; "
            "use fewer n_points, store fewer times (n_store_times) or store_psi=False"
        )


# ----------------------------------------------------------------------------- operators
def second_difference_1d(n: int, order: int, odd_walls: bool = False) -> sp.csr_matrix:
    """The 1-D stencil matrix (dimensionless: times 1/dx^2 it is d^2/dx^2), zero-padded; with
    ``odd_walls`` the values beyond a wall are instead minus their mirror images (psi odd about
    the wall), which keeps the stencil's order where psi' does not vanish at the wall (an
    infinite well's); zero padding is first order there. Symmetric either way."""
    c = LAPLACIAN_STENCILS[order]
    offsets = [j for j in range(-(len(c) - 1), len(c)) if abs(j) < n]
    out = sp.diags([np.full(n - abs(j), c[abs(j)]) for j in offsets], offsets, shape=(n, n),
                   format="lil")
    if odd_walls:
        # point i (0-based) is at i + 1 dx from the left wall: its neighbour i - j, for j >= i + 2,
        # mirrors onto index j - i - 2 (and on the right, i + j >= n + 1 onto 2n - i - j)
        for i in range(n):
            for j in range(2, len(c)):
                if j - i - 2 >= 0 and j - i - 2 < n:
                    out[i, j - i - 2] -= c[j]
                if 0 <= 2 * n - i - j < n and i + j >= n + 1:
                    out[i, 2 * n - i - j] -= c[j]
    return out.tocsr()


def laplacian_matrix(grid: Grid, order: int, odd_walls: bool = False) -> sp.csr_matrix:
    """The d-D stencil (dimensionless) as a Kronecker sum of the 1-D ones."""
    one = second_difference_1d(grid.n, order, odd_walls)
    eye = sp.identity(grid.n, format="csr")
    total = None
    for axis in range(grid.d):
        term = None
        for k in range(grid.d):
            factor = one if k == axis else eye
            term = factor if term is None else sp.kron(term, factor, format="csr")
        total = term if total is None else total + term
    return total.tocsr()


def kinetic_coefficient(problem: Problem, grid: Grid) -> float:
    """hbar^2 / (2 m dx^2): the kinetic term of H is minus this times the dimensionless
    stencil."""
    return problem.hbar**2 / (2 * problem.m * grid.dx**2)


def hamiltonian_matrix(problem: Problem, grid: Grid, order: int,
                       potential: np.ndarray) -> sp.csr_matrix:
    """The d-D discrete H = -kinetic * L + diag(V) (``potential``: V on the grid, flat)."""
    lap = laplacian_matrix(grid, order, problem.reflecting_box)
    return (-kinetic_coefficient(problem, grid) * lap + sp.diags(potential)).tocsr()


def axis_hamiltonian(problem: Problem, grid: Grid, order: int) -> np.ndarray:
    """H_k = -(hbar^2/2m) d^2/dx_k^2 + V_trap(x_k), dense n x n: the same on every axis
    (the grid and the trap are)."""
    lap = second_difference_1d(grid.n, order, problem.reflecting_box).toarray()
    return -kinetic_coefficient(problem, grid) * lap + np.diag(one_body_on_axis(problem, grid))


def one_body_on_axis(problem: Problem, grid: Grid) -> np.ndarray:
    """V1 on the grid's axis, where V = sum_k V1(x_k) + W; zero for a problem that declares
    no such part (W is then all of V)."""
    values = problem.one_body_potential(grid.axis)
    return np.zeros(grid.n) if values is None else np.asarray(values, dtype=float)


def interaction_potential(problem: Problem, grid: Grid, potential: np.ndarray) -> np.ndarray | None:
    """W = V - sum_k V1(x_k) on the grid, flat (the coupling, e.g. the pair interaction); None
    where V is separable."""
    if grid.d == 1 or (problem.potential_is_separable
                       and problem.one_body_potential(grid.axis) is not None):
        return None
    separable = np.zeros(grid.shape)
    trap = one_body_on_axis(problem, grid)
    for k in range(grid.d):
        shape = [1] * grid.d
        shape[k] = grid.n
        separable = separable + trap.reshape(shape)
    return potential - separable.ravel()


def gradient(psi: np.ndarray, dx: float, order: int, odd_walls: bool = False) -> np.ndarray:
    """Central-difference gradient of psi (zero beyond the walls, or with ``odd_walls`` minus
    the mirror images as in ``second_difference_1d``), shape (d, *psi.shape)."""
    b = GRADIENT_STENCILS[order]
    d = psi.ndim
    if odd_walls:
        return np.stack([_odd_gradient(psi, axis, b) for axis in range(d)]) / dx
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


def _odd_gradient(psi: np.ndarray, axis: int, b: tuple[float, ...]) -> np.ndarray:
    """sum_j b_j (f_{i+j} - f_{i-j}) along ``axis`` on psi extended oddly about both walls
    (the walls at index -1 and n, where psi = 0)."""
    f = np.moveaxis(psi, axis, 0)
    p = min(len(b), f.shape[0])
    zero = np.zeros_like(f[:1])
    padded = np.concatenate([-f[:p][::-1], zero, f, zero, -f[-p:][::-1]])
    n, centre = f.shape[0], p + 1
    out = sum(bj * (padded[centre + j:centre + j + n] - padded[centre - j:centre - j + n])
              for j, bj in enumerate(b[:p], start=1))
    return np.moveaxis(out, 0, axis)


def _axis_slice(d: int, axis: int, start: int | None, stop: int | None) -> tuple[slice, ...]:
    s = [slice(None)] * d
    s[axis] = slice(start, stop)
    return tuple(s)
