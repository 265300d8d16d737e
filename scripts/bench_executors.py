"""Wall time of one suite through each executor, measured in the same process one after the other.

    python scripts/bench_executors.py --suite smoke --only solver=grid,oracle [--slurm]

Runs the selection with ``local --jobs N``, with ``dask`` on a LocalCluster of N workers (its
start and stop included) and, with ``--slurm``, through the Slurm cluster this machine
reaches (``scripts/slurm-local.sh start``), each into a fresh directory; prints the wall times,
the ratios to local, and Slurm's overhead per run: (Slurm wall - local wall) x N / runs executed.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from dsm_bench.harness.executors import make_executor
from dsm_bench.harness.runner import run_suite
from dsm_bench.harness.suites import load_suite, parse_selection


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--suite", default="smoke")
    p.add_argument("--only", action="append", default=[])
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--slurm", action="store_true", help="also through the Slurm cluster")
    args = p.parse_args()
    suite = load_suite(args.suite)
    if args.only:
        suite = suite.select(parse_selection(args.only))
    engines = ["local", "dask"] + (["slurm"] if args.slurm else [])
    walls: dict[str, float] = {}
    executed = 0  # runs that went to the executor (infeasible ones are recorded by the driver)
    with tempfile.TemporaryDirectory(prefix="bench-executors-") as tmp:
        for name in engines:
            settings = {"poll_s": 0.2} if name == "slurm" else {}
            executor = make_executor(name, jobs=args.jobs, settings=settings)
            started = time.perf_counter()
            summary = run_suite(suite, Path(tmp) / name, executor=executor, jobs=args.jobs,
                                progress=False)
            walls[name] = time.perf_counter() - started
            executed = sum(n for s, n in summary.statuses.items() if s != "infeasible")
            print(f"{name}: {walls[name]:.1f} s  ({summary})", flush=True)
    n = executed
    for name in engines[1:]:
        print(f"{name} / local: {walls[name] / walls['local']:.2f}")
    if "slurm" in walls:
        per_run = (walls["slurm"] - walls["local"]) * args.jobs / n
        print(f"slurm overhead per run: {per_run:.1f} s ({n} runs, {args.jobs} at a time)")


if __name__ == "__main__":
    main()
