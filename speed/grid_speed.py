"""Crank-Nicolson speed: the bosons n = 3 case of the authors (50^3 on [-1.5, 1.5]^3,
dt = 1e-3, 1000 steps), solve methods side by side, and the largest grid per d.

    python -m speed.grid_speed                    # split vs unsplit CN (jacobi), 1000 steps
    python -m speed.grid_speed --methods split jacobi bicgstab --steps 100
    python -m speed.grid_speed --largest          # largest grid per d from the estimate

Wall times are for this machine as it is when the script runs; the authors' reference for the
same case printed 20.4 s on theirs. Each row also gives Var X_c at t = T (Kohn: 0.05 / 3 for
every g) and the energy drift, so a faster method that is less accurate shows it.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from reference import grid
from reference.problems import get_problem


def measure_bosons(method: str, steps: int, n_points: int = 50, order: int = 8) -> dict:
    problem = get_problem("bosons", d=3, n_steps=steps, T=steps * 1e-3)
    t0 = time.perf_counter()
    result = grid.solve(problem, n_points, order=order, method=method, store_psi=False,
                        n_store_times=min(101, steps + 1))
    wall = time.perf_counter() - t0
    return {
        "method": method, "grid": f"{n_points}^3", "order": order, "steps": steps,
        "wall_s": wall, "solve_s": result.wall_s,
        "iters_per_step": result.solver_iterations / steps,
        "max_norm_change": result.max_norm_change,
        "energy_drift_rel": float(np.max(np.abs(result.energy_values - result.energy_values[0]))
                                  / abs(result.energy_values[0])),
        "com_var_end": float(result.com_var[-1]),
    }


def largest_grids(memory_gb: float, store_psi: bool = True) -> list[tuple[int, int, float]]:
    """Largest n per axis whose estimated memory (default method, psi kept at 101 times or only
    the moments) fits in memory_gb."""
    limit = memory_gb * 1024**3
    out = []
    for d in (1, 2, 3, 4):
        problem = get_problem("harmonic", d=d)

        def need(n: int, problem=problem) -> int:
            return grid.estimate_memory_bytes(problem, n, store_psi=store_psi)

        n = 8
        while need(n * 2) <= limit and n < 2**24:
            n *= 2
        lo, hi = n, n * 2
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if need(mid) <= limit:
                lo = mid
            else:
                hi = mid
        out.append((d, lo, need(lo) / 1024**3))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--methods", nargs="+", default=["split", "jacobi"],
                        choices=[m for m in grid.METHODS if m != "auto"])
    parser.add_argument("--order", type=int, default=8, choices=sorted(grid.LAPLACIAN_STENCILS))
    parser.add_argument("--largest", action="store_true")
    parser.add_argument("--memory-gb", type=float, default=grid.available_memory_bytes() / 1024**3)
    args = parser.parse_args()
    if args.largest:
        for store_psi in (True, False):
            what = "psi kept at 101 times" if store_psi else "moments only (store_psi=False)"
            print(f"largest grid per d within {args.memory_gb:.1f} GiB (estimate, {what}):")
            for d, n, gib in largest_grids(args.memory_gb, store_psi):
                print(f"  d={d}: {n}^{d} points ({gib:.1f} GiB)")
        return
    for method in args.methods:
        row = measure_bosons(method, args.steps, order=args.order)
        print("  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                        for k, v in row.items()), flush=True)


if __name__ == "__main__":
    main()
