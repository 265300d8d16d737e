"""PINN cost and error against dimension at a fixed small budget.

    python -m speed.pinn_scaling --problem harmonic --dims 1 2 3 5 10 --max-seconds 60
    python -m speed.pinn_scaling --problem harmonic_1d --max-seconds 600 --out pinn_1d.csv
    python -m speed.pinn_scaling --cost --dims 1 100 --set laplacian=hutchinson ...
    python -m speed.pinn_scaling --residual-cost --dims 1 100

Every (problem, d) is trained and scored in its own subprocess (DeepXDE sets process-wide torch
defaults, and the peak resident memory, ``solvers.base.peak_memory``, is then that run's alone) through
``dsm_bench.harness.single_run.run_one``: the same metrics and cost columns as ``dsm-bench solve``.
The table reports the error reached, the iterations done, the wall time per iteration and the
peak memory; ``--set key=value`` passes PINN options (and budget / evaluation settings) exactly
as ``dsm-bench solve`` does. Wall times depend on the machine's load: state it with the table.

``--cost`` measures the training cost alone: CPU seconds per iteration (process time, which a
loaded machine disturbs far less than wall time), as the difference between a fit of
``--max-iters`` and one of 5 iterations (set-up and the first evaluations cancel), and the peak
resident memory of the longer fit, each in a fresh process.

``--residual-cost`` times the residual's Laplacian alone, in one process and interleaved (so that
the machine's load hits every variant alike): CPU seconds of one residual evaluation and its
backward pass to the weights, on num_domain = 2000 points of the default 64 x 4 net, for the
exact Laplacian at each d and the stochastic ones (k = 1) both ways of taking Hessian-vector
products.

(No ``time_*`` / ``track_*`` names here: asv imports every module of this folder.)
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

from dsm_bench.schema import Status

COLUMNS = [
    "problem", "d", "iters", "stop_reason", "train_s", "s_per_iter", "peak_rss_mb", "n_params",
    "threads", "mean_err", "var_err", "w1_err", "u_err", "v_err", "energy_drift",
    "com_mean_err", "com_var_err", "final_loss", "eval_s", "reference", "status", "message",
]


def run_single(spec: dict[str, Any]) -> dict[str, Any]:
    """Train and score one configuration in this process; returns the table row."""
    import torch

    from dsm_bench.harness.single_run import RunSpec, run_one

    if spec.get("threads"):
        torch.set_num_threads(int(spec["threads"]))
    run = RunSpec(solver="pinn", problem=spec["problem"], d=spec.get("d"), seed=spec["seed"],
                  solver_options=spec["options"], problem_overrides=spec["overrides"],
                  budget=spec["budget"], evaluation=spec["evaluation"])
    result = run_one(run, progress=spec.get("progress", False),
                     monitor_every=spec.get("monitor_every") or None)
    row = {k: result.row.get(k) for k in COLUMNS if k in result.row}
    history = result.solution.history
    if spec.get("monitor_every"):
        # the error-vs-iteration curve (mean_err / var_err on the monitor's cheap settings)
        keep = [c for c in ("iter", "wall_s", "loss", "mean_err", "var_err") if c in history]
        curve = history[keep].dropna(subset=[c for c in ("mean_err",) if c in keep])
        row["curve"] = curve.to_dict(orient="list")
    row["final_loss"] = float(history["loss"].iloc[-1]) if len(history) else None
    row["problem"], row["status"], row["message"] = spec["problem"], Status.OK, ""
    row["config"] = result.row.get("config")
    return row


def iteration_cost(spec: dict[str, Any]) -> dict[str, Any]:
    """CPU seconds of ``spec["budget"]["max_iters"]`` iterations (no evaluation) and peak RSS."""
    import time

    import torch

    from reference.problems import get_problem
    from solvers import Budget, get_solver
    from solvers.base import peak_memory

    torch.set_num_threads(int(spec.get("threads") or 1))
    problem = get_problem(spec["problem"], **({"d": spec["d"]} if spec.get("d") else {}),
                          **spec["overrides"])
    solver = get_solver("pinn", **{"lbfgs": 0, **spec["options"]})
    tic = time.process_time()
    solution = solver.run(problem, Budget(max_iters=spec["budget"]["max_iters"]))
    return {"problem": spec["problem"], "d": problem.d, "iters": solution.cost.iters,
            "cpu_s": time.process_time() - tic, "train_s": solution.cost.train_s,
            "peak_rss_mb": peak_memory()[0], "status": Status.OK, "message": ""}


def residual_cost(dims: list[int], reps: int = 10, rounds: int = 3) -> list[dict[str, Any]]:
    """CPU seconds per residual + backward, median over interleaved rounds."""
    import statistics
    import time

    import torch

    from reference.problems import get_problem
    from solvers.pinn.backend import import_deepxde
    from solvers.pinn.residual import schrodinger_residual

    dde = import_deepxde()
    torch.set_num_threads(1)
    variants = [("exact", "forward_over_reverse"), ("hutchinson", "forward_over_reverse"),
                ("hutchinson", "reverse_over_reverse")]
    cases = [(d, lap, hvp) for d in dims for lap, hvp in variants if lap != "exact" or d <= 10]
    nets = {d: dde.nn.FNN([d + 1] + [64] * 4 + [2], "tanh", "Glorot normal") for d in dims}
    times: dict[tuple, list[float]] = {case: [] for case in cases}
    for _ in range(rounds):
        for case in cases:
            d, lap, hvp = case
            problem, net = get_problem("harmonic", d=d), nets[d]
            x = torch.rand(2000, d + 1, requires_grad=True)
            tic = time.process_time()
            for _ in range(reps):
                y = net(x)
                r = schrodinger_residual(problem, x, y, laplacian=lap, k=1, net=net, hvp=hvp)
                (r[0] ** 2 + r[1] ** 2).mean().backward()
                dde.grad.clear()
            times[case].append((time.process_time() - tic) / reps)
    return [{"d": d, "laplacian": lap, "hvp": hvp if lap != "exact" else "",
             "cpu_s": statistics.median(times[(d, lap, hvp)])} for d, lap, hvp in cases]


def cost_rows(args: argparse.Namespace, options: dict[str, Any], overrides: dict[str, Any],
              timeout: float) -> list[dict[str, Any]]:
    rows = []
    n = args.max_iters or 25
    for d in args.dims or [None]:
        runs = []
        for iters in (5, n):
            spec = {"problem": args.problem, "d": d, "options": options, "overrides": overrides,
                    "budget": {"max_iters": iters}, "threads": args.threads, "cost": True}
            runs.append(_run_in_subprocess(spec, timeout))
        short, full = runs
        row = dict(full)
        if short.get("status") == full.get("status") == Status.OK:
            row["cpu_s_per_iter"] = (full["cpu_s"] - short["cpu_s"]) / (full["iters"] - short["iters"])
        rows.append(row)
        print(f"done d={row.get('d')}: " + ", ".join(
            f"{k}={_format(row.get(k))}" for k in ("status", "cpu_s_per_iter", "peak_rss_mb",
                                                     "message") if _format(row.get(k))), flush=True)
    return rows


def _run_in_subprocess(spec: dict[str, Any], timeout: float | None) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "speed.pinn_scaling", "--single", json.dumps(spec)]
    base = {"problem": spec["problem"], "d": spec.get("d")}
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {**base, "status": Status.TIMEOUT, "message": f"exceeded {timeout:.0f} s"}
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        return {**base, "status": Status.FAILED, "message": tail[0][:300]}
    return json.loads(lines[-1])


def _format(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def markdown_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    shown = [c for c in columns if any(_format(r.get(c)) for r in rows)]
    lines = ["| " + " | ".join(shown) + " |", "|" + "---|" * len(shown)]
    lines += ["| " + " | ".join(_format(r.get(c)) for c in shown) + " |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m speed.pinn_scaling",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--problem", default="harmonic")
    parser.add_argument("--dims", type=int, nargs="*", default=None,
                        help="dimensions (default: the problem's own d)")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="training wall budget")
    parser.add_argument("--max-iters", type=int, default=None, help="training iteration budget")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run (0: all)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="PINN option, problem override, budget or evaluation setting")
    parser.add_argument("--n-eval-times", type=int, default=101)
    parser.add_argument("--timeout", type=float, default=None,
                        help="kill a run after this many seconds (default: 4 x budget + 600)")
    parser.add_argument("--out", default=None, help="also write the rows to this CSV / JSON")
    parser.add_argument("--monitor-every", type=int, default=0,
                        help="record mean_err / var_err every N iterations (time excluded)")
    parser.add_argument("--progress", action="store_true")
    parser.add_argument("--cost", action="store_true",
                        help="CPU seconds per iteration and peak memory only (no evaluation)")
    parser.add_argument("--residual-cost", action="store_true",
                        help="CPU seconds of one residual + backward per Laplacian (interleaved)")
    parser.add_argument("--single", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.single is not None:
        spec = json.loads(args.single)
        row = iteration_cost(spec) if spec.get("cost") else run_single(spec)
        print(json.dumps(row, default=float))
        return 0

    if args.residual_cost:
        rows = residual_cost(args.dims or [1, 100])
        print(markdown_table(rows, ["d", "laplacian", "hvp", "cpu_s"]))
        return 0

    from dsm_bench.harness.settings import parse_settings, split_settings

    options, overrides, budget, evaluation = split_settings(parse_settings(args.set))
    options.setdefault("threads", args.threads)
    budget.setdefault("max_seconds", args.max_seconds)
    if args.max_iters is not None:
        budget.setdefault("max_iters", args.max_iters)
    evaluation.setdefault("n_eval_times", args.n_eval_times)
    timeout = args.timeout or 4 * float(budget["max_seconds"]) + 600
    if args.cost:
        options.pop("threads", None)
        rows = cost_rows(args, options, overrides, timeout)
        print(f"\nPINN training cost on {args.problem}: options {json.dumps(options)}")
        print(markdown_table(rows, ["problem", "d", "iters", "cpu_s_per_iter", "peak_rss_mb",
                                    "status", "message"]))
        return 0
    rows = []
    for d in args.dims or [None]:
        spec = {"problem": args.problem, "d": d, "seed": args.seed, "options": options,
                "overrides": overrides, "budget": budget, "evaluation": evaluation,
                "threads": args.threads, "progress": args.progress,
                "monitor_every": args.monitor_every}
        row = _run_in_subprocess(spec, timeout)
        rows.append(row)
        print(f"done {args.problem} d={row.get('d')}: " + ", ".join(
            f"{k}={_format(row.get(k))}" for k in ("status", "iters", "s_per_iter", "mean_err",
                                                     "var_err", "peak_rss_mb", "message")
            if _format(row.get(k))), flush=True)
    print()
    print(f"PINN on {args.problem}: budget {json.dumps(budget)}, options {json.dumps(options)}")
    print(markdown_table(rows, COLUMNS))
    if args.out:
        out = Path(args.out)
        if out.suffix == ".json":
            out.write_text(json.dumps(rows, indent=1, default=float))
        else:
            import pandas as pd

            pd.DataFrame([{k: v for k, v in r.items() if k != "curve"} for r in rows]).to_csv(
                out, index=False)
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
