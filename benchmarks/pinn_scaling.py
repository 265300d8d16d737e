"""PINN cost and error against dimension at a fixed small budget.

    python -m benchmarks.pinn_scaling --problem harmonic --dims 1 2 3 5 10 --max-seconds 60
    python -m benchmarks.pinn_scaling --problem harmonic_1d --max-seconds 600 --out pinn_1d.csv

Every (problem, d) is trained and scored in its own subprocess (DeepXDE sets process-wide torch
defaults, and the peak resident memory ``ru_maxrss`` is then that run's alone) through
``benchmarks.single_run.run_one``: the same metrics and cost columns as ``dsm-bench solve``.
The table reports the error reached, the iterations done, the wall time per iteration and the
peak memory; ``--set key=value`` passes PINN options (and budget / evaluation settings) exactly
as ``dsm-bench solve`` does. Wall times depend on the machine's load: state it with the table.

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

COLUMNS = [
    "problem", "d", "iters", "stop_reason", "train_s", "s_per_iter", "peak_rss_mb", "n_params",
    "threads", "mean_err", "var_err", "w1_err", "u_err", "v_err", "energy_drift",
    "com_mean_err", "com_var_err", "final_loss", "eval_s", "reference", "status", "message",
]


def run_single(spec: dict[str, Any]) -> dict[str, Any]:
    """Train and score one configuration in this process; returns the table row."""
    import torch

    from benchmarks.single_run import RunSpec, run_one

    if spec.get("threads"):
        torch.set_num_threads(int(spec["threads"]))
    run = RunSpec(solver="pinn", problem=spec["problem"], d=spec.get("d"), seed=spec["seed"],
                  solver_options=spec["options"], problem_overrides=spec["overrides"],
                  budget=spec["budget"], evaluation=spec["evaluation"])
    try:
        result = run_one(run, progress=spec.get("progress", False),
                         monitor_every=spec.get("monitor_every") or None)
    except ModuleNotFoundError as exc:
        if "solvers.grid" not in str(exc):
            raise
        # the grid solver adapter is not registered yet: score against reference.grid directly
        return _run_against_grid_module(run, spec)
    row = {k: result.row.get(k) for k in COLUMNS if k in result.row}
    history = result.solution.history
    if spec.get("monitor_every"):
        # the error-vs-iteration curve (mean_err / var_err on the monitor's cheap settings)
        keep = [c for c in ("iter", "wall_s", "loss", "mean_err", "var_err") if c in history]
        curve = history[keep].dropna(subset=[c for c in ("mean_err",) if c in keep])
        row["curve"] = curve.to_dict(orient="list")
    row["final_loss"] = float(history["loss"].iloc[-1]) if len(history) else None
    row["problem"], row["status"], row["message"] = spec["problem"], "ok", ""
    row["config"] = result.row.get("config")
    return row


def _run_against_grid_module(run, spec: dict[str, Any]) -> dict[str, Any]:
    """Fit and evaluate with reference.grid.solve (Crank-Nicolson on the problem's default
    grid) as the reference: the same metrics.evaluate, without the registry's grid solver."""
    from benchmarks.metrics import evaluate
    from benchmarks.single_run import build_problem
    from reference import grid
    from solvers import get_solver

    problem = build_problem(run)
    reference = grid.solve(problem, store_psi=False)
    solver = get_solver("pinn", **{"seed": run.seed, **run.solver_options})
    solution = solver.fit(problem, budget=dict(run.budget), progress=spec.get("progress", False))
    ev = run.evaluation
    evaluation = evaluate(problem, solution, reference=reference, reference_kind="grid",
                          n_eval_times=int(ev["n_eval_times"]), seed=int(ev["eval_seed"]))
    row = {**solution.cost.as_dict(), **evaluation.metrics}
    row = {k: row.get(k) for k in COLUMNS if k in row}
    row.update(problem=run.problem, d=problem.d, status="ok",
               message="reference: reference.grid.solve (default grid)",
               final_loss=float(solution.history["loss"].iloc[-1]),
               config=json.dumps(solver.config(), default=str))
    return row


def _run_in_subprocess(spec: dict[str, Any], timeout: float | None) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "benchmarks.pinn_scaling", "--single", json.dumps(spec)]
    base = {"problem": spec["problem"], "d": spec.get("d")}
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {**base, "status": "timeout", "message": f"exceeded {timeout:.0f} s"}
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        return {**base, "status": "failed", "message": tail[0][:300]}
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
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pinn_scaling",
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
    parser.add_argument("--single", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.single is not None:
        row = run_single(json.loads(args.single))
        print(json.dumps(row, default=float))
        return 0

    from dsm_bench.cli import parse_settings, split_settings

    options, overrides, budget, evaluation = split_settings(parse_settings(args.set))
    options.setdefault("threads", args.threads)
    budget.setdefault("max_seconds", args.max_seconds)
    if args.max_iters is not None:
        budget.setdefault("max_iters", args.max_iters)
    evaluation.setdefault("n_eval_times", args.n_eval_times)
    timeout = args.timeout or 4 * float(budget["max_seconds"]) + 600
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
