"""The Crank-Nicolson stepper and ``solve``, which propagates psi_0 over [0, T].

Time stepping of ``i hbar d_t psi = H psi`` is Crank-Nicolson with step tau = dt / substeps:

    (I + i tau/(2 hbar) H) psi^{n+1} = (I - i tau/(2 hbar) H) psi^n,

a Cayley transform of a Hermitian matrix: unitary, so the discrete norm is conserved exactly
up to the accuracy of the linear solve. It is written with A = I + i tau/(2 hbar) H as

    A y = psi^n,   psi^{n+1} = 2 y - psi^n      (y = (psi^{n+1} + psi^n) / 2),

which needs one solve and no right-hand-side product per step. The solve is

* ``direct`` (default in 1-D): a sparse LU of A, factorised once (a banded matrix, trivial
  fill),
* ``split`` (default for d >= 2): Crank-Nicolson split by axis. A potential is a sum of
  one-coordinate terms plus a coupling W (``Problem.one_body_potential``; W = V where a problem
  declares no one-body part), so H = sum_k H_k + W with H_k = -(hbar^2/2m) d^2/dx_k^2 + V1(x_k)
  acting on axis k only.
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
* ``jacobi`` / ``bicgstab`` / ``gmres``: iterative solves of the unsplit step
  (``reference.grid.iterative``).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from reference.grid.iterative import IterativeSolve, SolveStats
from reference.grid.operators import (
    LAPLACIAN_STENCILS,
    Grid,
    axis_hamiltonian,
    check_dimension,
    check_memory,
    estimate_memory_bytes,
    hamiltonian_matrix,
    interaction_potential,
    kinetic_coefficient,
    resolve_method,
    resolve_points,
)
from reference.grid.result import GridResult
from reference.problems import Problem

__all__ = ["CrankNicolson", "default_store_indices", "solve"]


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
        check_dimension(problem)
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
        self.grid = Grid(problem.d, resolve_points(problem, n_points), float(lo), float(hi))
        self.order = int(order)
        self.substeps = int(substeps)
        self.tau = problem.dt / self.substeps
        self.method = resolve_method(method, problem.d)
        self.tol = float(tol)
        self.max_solver_iters = int(max_solver_iters)
        self.predictor_order = int(predictor_order)
        self.stats = SolveStats()

        grid = self.grid
        self.potential = grid.evaluate(problem.potential).ravel()
        self.kinetic = kinetic_coefficient(problem, grid)
        self._lu = None
        self._iterative: IterativeSolve | None = None
        if self.method == "split":
            self._build_split()
            return
        self.H = hamiltonian_matrix(problem, grid, self.order, self.potential)
        alpha = self.tau / (2 * problem.hbar)
        self.A = (sp.identity(grid.size, dtype=complex, format="csr") + 1j * alpha * self.H).tocsr()
        self.A.sort_indices()
        if self.method == "direct":
            self._lu = spla.splu(self.A.tocsc(), permc_spec="NATURAL" if grid.d == 1 else "COLAMD")
        else:
            self._iterative = IterativeSolve(self.A, self.method, tol=self.tol,
                                             max_iters=self.max_solver_iters,
                                             predictor_order=self.predictor_order,
                                             stats=self.stats)

    def _build_split(self) -> None:
        """C_k (the same for every axis: the grid and the trap are), H_k and the W kicks."""
        problem, grid = self.problem, self.grid
        n = grid.n
        self.axis_hamiltonian = axis_hamiltonian(problem, grid, self.order)
        alpha = self.tau / (2 * problem.hbar)
        eye = np.eye(n)
        self.axis_step = np.linalg.solve(eye + 1j * alpha * self.axis_hamiltonian,
                                         eye - 1j * alpha * self.axis_hamiltonian)
        self._axis_step_powers: dict[int, np.ndarray] = {1: self.axis_step}
        self.interaction = interaction_potential(problem, grid, self.potential)
        if self.interaction is not None:
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
        if self._iterative is not None:
            self._iterative.reset()

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

    def _solve(self, b: np.ndarray) -> np.ndarray:
        """y with A y = b: the LU factors, or the iterative solve."""
        if self._lu is None:
            return self._iterative.solve(b)
        y = self._lu.solve(b)
        self.stats.iterations += 1
        self.stats.max_iterations = 1
        return y


# ----------------------------------------------------------------------------- the driver
def default_store_indices(n_steps: int, n_store_times: int = 101,
                          store_every: int | None = None) -> np.ndarray:
    """Step indices whose psi is kept: ``n_store_times`` evenly spaced points of the time grid
    (the metrics' evaluation times, ``dsm_bench.metrics.evaluation_times``), or every
    ``store_every``-th step plus the last."""
    if store_every is not None:
        if store_every < 1:
            raise ValueError(f"store_every={store_every} must be >= 1")
        idx = np.arange(0, n_steps + 1, store_every)
        return np.unique(np.append(idx, n_steps))
    if n_store_times < 2:
        raise ValueError(f"n_store_times={n_store_times} must be >= 2")
    return np.unique(np.round(np.linspace(0, n_steps, n_store_times)).astype(int))


def _observables(prop: CrankNicolson, psi: np.ndarray, psi0: np.ndarray) -> dict[str, Any]:
    """Normalised 1-D marginals, moments, centre-of-mass moments, energy, norm of psi, and
    the autocorrelation C = <psi_0|psi> (the Henon-Heiles literature's observable), keyed as
    ``GridResult``'s fields."""
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
        "energy_values": prop.energy(psi),
        "norm": float(total),
        "autocorrelation_values": complex(np.vdot(psi0, psi)) * grid.cell_volume,
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
    n = resolve_points(problem, n_points)
    store_idx = default_store_indices(problem.n_steps, n_store_times, store_every)
    need = estimate_memory_bytes(problem, n, order=order, method=method,
                                 n_store_times=len(store_idx), store_psi=store_psi)
    check_memory(problem, n, need, max_memory_gb)

    t0 = time.perf_counter()
    prop = CrankNicolson(problem, n, order=order, substeps=substeps, method=method, tol=tol,
                         predictor_order=predictor_order)
    run = _Run(prop, store_idx, store_psi, t0, max_seconds, progress)
    run.propagate()
    return GridResult(
        problem=problem,
        grid=prop.grid,
        order=prop.order,
        times=problem.times[store_idx],
        **{key: np.array(values) for key, values in run.obs.items()},
        psi_values=run.psis,
        n_steps=problem.n_steps * prop.substeps,
        max_norm_change=run.max_change,
        solver_iterations=prop.stats.iterations,
        max_residual=prop.stats.max_residual,
        wall_s=time.perf_counter() - t0,
        method=prop.method,
        substeps=prop.substeps,
    )


class _Run:
    """One propagation of psi_0 over the stored step indices: the observables (keyed as
    ``GridResult``'s fields) and psi at each, and the largest one-step norm change."""

    def __init__(self, prop: CrankNicolson, store_idx: np.ndarray, store_psi: bool, t0: float,
                 max_seconds: float | None, progress: bool):
        self.prop, self.store_idx, self.t0, self.max_seconds = prop, store_idx, t0, max_seconds
        self.psi0 = prop.initial_state()
        shape = (len(store_idx),) + prop.grid.shape
        self.psis = np.empty(shape, dtype=complex) if store_psi else None
        self.obs: dict[str, list] = {}
        self.max_change = 0.0
        self.bar = None
        if progress:
            from tqdm.auto import tqdm

            problem = prop.problem
            self.bar = tqdm(total=problem.n_steps, unit="step",
                            desc=f"CN {problem.name} {prop.grid.n}^{problem.d}")

    def record(self, slot: int, psi: np.ndarray) -> None:
        for key, value in _observables(self.prop, psi, self.psi0).items():
            self.obs.setdefault(key, []).append(value)
        if self.psis is not None:
            self.psis[slot] = psi.reshape(self.prop.grid.shape)

    def propagate(self) -> None:
        prop, psi = self.prop, self.psi0
        self.record(0, psi)
        # the split method advances from one stored time to the next in one call (a single
        # product per axis without interaction); the others step by step, so that time
        # limits bite early
        chunk = None if prop.method == "split" else 1
        step = 0
        try:
            for slot in range(1, len(self.store_idx)):
                while step < self.store_idx[slot]:
                    target = self.store_idx[slot] - step
                    k = target if chunk is None else min(chunk, target)
                    psi, change = prop.advance(psi, k * prop.substeps)
                    self.max_change = max(self.max_change, change)
                    step += k
                    self._tick(k, step)
                self.record(slot, psi)
        finally:
            if self.bar is not None:
                self.bar.close()

    def _tick(self, k: int, step: int) -> None:
        if self.bar is not None:
            self.bar.update(k)
        if self.max_seconds is not None and time.perf_counter() - self.t0 > self.max_seconds:
            problem = self.prop.problem
            raise TimeoutError(
                f"grid solve of {problem.name} d={problem.d} on {self.prop.grid.n}^{problem.d} "
                f"points exceeded max_seconds={self.max_seconds} at step "
                f"{step}/{problem.n_steps}")
