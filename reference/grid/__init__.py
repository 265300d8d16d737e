"""Crank-Nicolson on a uniform grid: the reference where no closed form exists (bosons).

The Schrodinger equation ``i hbar d_t psi = H psi``, H = -(hbar^2 / 2m) Lap + V(x), on the
box ``problem.box`` with Dirichlet walls, propagated by Crank-Nicolson:

* ``operators``: the grid, the finite-difference stencils (order 2, 4, 6, 8), the pieces of
  the discrete H, and the memory a solve needs;
* ``stepper``: the Crank-Nicolson step (``direct`` LU in 1-D, split by axis with Strang
  kicks for the interaction in d >= 2) and ``solve``, which propagates psi_0 over [0, T];
* ``iterative``: Jacobi / BiCGSTAB / GMRES solves of the unsplit step, kept as the
  splitting-free reference and for comparison;
* ``result``: ``GridResult``, the observables at the stored times, psi and the drifts.
"""

from reference.grid.iterative import ITERATIVE_METHODS, IterativeSolve, SolveStats
from reference.grid.operators import (
    GRADIENT_STENCILS,
    LAPLACIAN_STENCILS,
    MAX_DIMENSION,
    METHODS,
    Grid,
    available_memory_bytes,
    estimate_memory_bytes,
    gradient,
    laplacian_matrix,
)
from reference.grid.result import GridResult
from reference.grid.stepper import CrankNicolson, default_store_indices, solve

__all__ = [
    "GRADIENT_STENCILS",
    "ITERATIVE_METHODS",
    "LAPLACIAN_STENCILS",
    "MAX_DIMENSION",
    "METHODS",
    "CrankNicolson",
    "Grid",
    "GridResult",
    "IterativeSolve",
    "SolveStats",
    "available_memory_bytes",
    "default_store_indices",
    "estimate_memory_bytes",
    "gradient",
    "laplacian_matrix",
    "solve",
]
