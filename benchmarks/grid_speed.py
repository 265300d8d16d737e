"""Crank-Nicolson speed: the bosons n = 3 case of the authors (50^3 on [-1.5, 1.5]^3,
dt = 1e-3, 1000 steps), solve methods side by side, and the largest grid per d.

    python benchmarks/grid_speed.py                    # jacobi vs bicgstab, 1000 steps
    python benchmarks/grid_speed.py --steps 100        # a faster look (times scale linearly)
    python benchmarks/grid_speed.py --largest          # largest grid per d from the estimate

Wall times are for this machine as it is when the script runs; the authors' reference for the
same case printed 20.4 s on theirs.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from reference import grid
from reference.problems import get_problem


def measure_bosons(method: str, steps: int, n_points: int = 50, order: int = 4) -> dict:
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
        "energy_drift": float(np.max(np.abs(result.energy_values - result.energy_values[0]))),
        "com_var_end": float(result.com_var[-1]),
    }


def largest_grids(memory_gb: float) -> list[tuple[int, int, float]]:
    """Largest n per axis whose estimated memory (psi at 101 times) fits in memory_gb."""
    out = []
    for d in (1, 2, 3, 4):
        problem = get_problem("harmonic", d=d)
        n = 8
        while grid.estimate_memory_bytes(problem, n * 2) <= memory_gb * 1024**3 and n < 2**22:
            n *= 2
        lo, hi = n, n * 2
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if grid.estimate_memory_bytes(problem, mid) <= memory_gb * 1024**3:
                lo = mid
            else:
                hi = mid
        out.append((d, lo, grid.estimate_memory_bytes(problem, lo) / 1024**3))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--methods", nargs="+", default=["jacobi", "bicgstab"])
    parser.add_argument("--largest", action="store_true")
    parser.add_argument("--memory-gb", type=float, default=grid.available_memory_bytes() / 1024**3)
    args = parser.parse_args()
    if args.largest:
        print(f"largest grid per d within {args.memory_gb:.1f} GiB (estimate, psi at 101 times):")
        for d, n, gib in largest_grids(args.memory_gb):
            print(f"  d={d}: {n}^{d} points ({gib:.1f} GiB)")
        return
    for method in args.methods:
        row = measure_bosons(method, args.steps)
        print("  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                        for k, v in row.items()), flush=True)


if __name__ == "__main__":
    main()
