"""Time per DSM training epoch: the few-passes path against plain autograd, and its scaling in d.

Three tables (each configuration runs in its own subprocess so that its peak memory is its own):

1. the authors' setting (2 hidden tanh layers of width 400, B = 100 paths, M = 150 times,
   N = 1000 steps) at d = 1 and 3: default (forward tangents + VJPs) vs ``full_jacobian``;
2. d = 10 with the exact grad(div): peak memory (RSS on CPU, allocated GPU memory on CUDA);
3. time per epoch for d in {1, 2, 5, 10, 20, 50, 100}, exact and Hutchinson grad(div), with the
   scaling exponent p of time ~ d^p fitted by least squares in log-log.

An epoch is one ``fit`` iteration (simulate B paths, build the points, one Adam step on the
loss); its time is the median over ``--epochs`` epochs after one warm-up epoch, read from the
training history. ``rollout_s`` is the path simulation alone (no gradients).

    python -m speed.dsm_epoch_speed --csv /tmp/dsm_epoch_speed.csv
    python -m speed.dsm_epoch_speed --only authors --epochs 3
    python -m speed.dsm_epoch_speed --only scaling --scaling-batch 20 --scaling-M 50
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))
AUTHORS = {"width": 400, "depth": 2, "batch": 100, "M": 150}


def measure(config: dict[str, Any]) -> dict[str, Any]:
    """Run in the subprocess: train ``epochs + 1`` epochs of one configuration, report times."""
    import torch

    from reference.problems import get_problem
    from solvers import Budget, get_solver
    from solvers.base import peak_memory
    from solvers.dsm import training_points

    if config["threads"]:
        torch.set_num_threads(config["threads"])
    problem = get_problem("harmonic", d=config["d"])
    options = {k: config[k] for k in ("width", "depth", "batch", "M", "grad_div",
                                      "hutchinson_probes", "full_jacobian", "device", "dtype",
                                      "chunk_points")}
    solver = get_solver("dsm", log_every=1, lr_schedule="constant", **options)
    rss0 = peak_memory()[0]
    cpu0 = time.process_time()
    solution = solver.run(problem, Budget(max_iters=config["epochs"] + 1))
    # CPU seconds per epoch (warm-up included): on a shared machine with 1 thread this is
    # what the epoch costs, while wall time also counts waiting for a core
    cpu_epoch_s = (time.process_time() - cpu0) / (config["epochs"] + 1)
    wall = solution.history["wall_s"].to_numpy()
    epoch_s = np.diff(np.concatenate([[0.0], wall]))[1:]  # drop the warm-up epoch
    nets = solution.nets
    device = next(nets.parameters()).device
    generator = torch.Generator(device=device).manual_seed(0)
    start = time.perf_counter()
    training_points(nets, problem, n_paths=config["batch"], n_times=config["M"], nu=1.0,
                    scheme="interpolated", generator=generator,
                    dtype=next(nets.parameters()).dtype, device=device)
    if device.type == "cuda":
        torch.cuda.synchronize()
    rollout_s = time.perf_counter() - start
    return {
        **config,
        "epoch_s": float(np.median(epoch_s)),
        "epoch_s_min": float(epoch_s.min()),
        "cpu_epoch_s": cpu_epoch_s,
        "rollout_s": rollout_s,
        "peak_rss_mb": solution.cost.peak_rss_mb,
        "rss_before_mb": rss0,
        "peak_gpu_mb": solution.cost.peak_gpu_mb,
        "device": solution.cost.device,
        "threads": solution.cost.threads,
    }


def run_isolated(config: dict[str, Any], timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--one", json.dumps(config)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {**config, "error": f"timeout after {timeout:.0f} s"}
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
        return {**config, "error": tail[0]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _chunk_points(text: str) -> str | int:
    return text if text == "auto" else int(text)


def scaling_exponent(d: list[int], seconds: list[float]) -> float:
    """p in seconds ~ c d^p, least squares on log-log."""
    slope, _ = np.polyfit(np.log(d), np.log(seconds), 1)
    return float(slope)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["authors", "memory", "scaling"], action="append",
                        help="run only these tables (repeatable); default all")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per configuration")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--d-list", default="1,2,5,10,20,50,100")
    parser.add_argument("--scaling-batch", type=int, default=AUTHORS["batch"],
                        help="B for the scaling table (default the authors' 100)")
    parser.add_argument("--scaling-M", type=int, default=AUTHORS["M"])
    parser.add_argument("--probes", type=int, default=1, help="Hutchinson probes k")
    parser.add_argument("--chunk-points", type=_chunk_points, default="auto",
                        help="points per backward pass in every configuration (the solver's "
                             "option: 'auto' or an integer, 0 = all at once)")
    parser.add_argument("--chunk-elements", type=float, default=2e8,
                        help="exact grad(div): chunk points so that d x points x width stays "
                             "below this many elements (bounds memory at large d)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per configuration")
    parser.add_argument("--csv", help="also write all rows to this CSV file")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.one:
        print(json.dumps(measure(json.loads(args.one))))
        return 0

    tables = set(args.only or ["authors", "memory", "scaling"])
    base = {"depth": 2, "grad_div": "exact", "hutchinson_probes": args.probes,
            "full_jacobian": False, "device": args.device, "dtype": args.dtype,
            "threads": args.threads, "epochs": args.epochs, "chunk_points": args.chunk_points}
    rows: list[dict[str, Any]] = []

    def run(table: str, **config: Any) -> dict[str, Any]:
        row = {"table": table, **run_isolated({**base, **config}, args.timeout)}
        rows.append(row)
        keys = ("table", "d", "grad_div", "full_jacobian", "batch", "M", "chunk_points",
                "epoch_s", "cpu_epoch_s", "rollout_s", "peak_rss_mb", "peak_gpu_mb", "error")
        shown = {k: row.get(k) for k in keys if row.get(k) is not None}
        print(json.dumps(shown), flush=True)
        return row

    if "authors" in tables:
        print("# 1. authors' setting (width 400, depth 2, B 100, M 150, N 1000)")
        for d in (1, 3):
            fast = run("authors", d=d, **AUTHORS)
            slow = run("authors", d=d, full_jacobian=True, **AUTHORS)
            if "epoch_s" in fast and "epoch_s" in slow:
                print(f"d={d}: default {fast['epoch_s']:.3f} s/epoch, full_jacobian "
                      f"{slow['epoch_s']:.3f} s/epoch, speed-up "
                      f"{slow['epoch_s'] / fast['epoch_s']:.2f}x (CPU time: "
                      f"{fast['cpu_epoch_s']:.3f} vs {slow['cpu_epoch_s']:.3f} s, "
                      f"{slow['cpu_epoch_s'] / fast['cpu_epoch_s']:.2f}x)")
    if "memory" in tables:
        print("# 2. d = 10, exact grad(div), authors' setting: peak memory")
        row = run("memory", d=10, **AUTHORS)
        if "epoch_s" in row:
            print(f"d=10 exact: peak RSS {row['peak_rss_mb']:.0f} MiB, peak GPU "
                  f"{row['peak_gpu_mb']} MiB, {row['epoch_s']:.3f} s/epoch")
    if "scaling" in tables:
        print(f"# 3. scaling in d (width 400, depth 2, B {args.scaling_batch}, "
              f"M {args.scaling_M}, k = {args.probes} probes)")
        ds = [int(v) for v in args.d_list.split(",")]
        points = args.scaling_batch * (args.scaling_M + 1)
        for mode in ("exact", "hutchinson"):
            times, cpu, dims = [], [], []
            for d in ds:
                chunk = args.chunk_points
                if mode == "exact" and d * points * 400 > args.chunk_elements:
                    chunk = max(1, int(args.chunk_elements // (d * 400)))
                row = run("scaling", d=d, grad_div=mode, width=400,
                          batch=args.scaling_batch, M=args.scaling_M, chunk_points=chunk)
                if "epoch_s" in row:
                    times.append(row["epoch_s"])
                    cpu.append(row["cpu_epoch_s"])
                    dims.append(d)
            if len(dims) >= 2:
                for label, series in (("wall", times), ("cpu", cpu)):
                    p = scaling_exponent(dims, series)
                    ratio = series[-1] / series[0]
                    print(f"{mode} ({label} time): time ~ d^{p:.2f} over d = {dims}; "
                          f"t(d={dims[-1]}) / t(d={dims[0]}) = {ratio:.2f}")
                    rows.append({"table": "scaling_fit", "grad_div": mode, "clock": label,
                                 "exponent": p, "ratio_last_first": ratio})

    if args.csv:
        import pandas as pd

        pd.DataFrame(rows).to_csv(args.csv, index=False)
        print(f"wrote {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
