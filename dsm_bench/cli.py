"""The ``dsm-bench`` command line: list | solve | run | report | check.

Bad input (an unknown name, an invalid value, a malformed ``--set``) exits with status 2 and a
one-line message naming the valid choices, before any work is done or any file is written.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

from reference.problems import OVERRIDABLE, PROBLEM_SPECS, get_problem, problem_names
from solvers import SolverConfigError, solver_class, solver_names

BUDGET_KEYS = ("max_iters", "max_seconds")
EVALUATION_KEYS = ("n_samples", "n_trials", "eval_seed", "n_eval_times")

# subcommands implemented by the harness and the reports (module: configure_parser + main)
DELEGATED = {
    "run": ("benchmarks.run", "run a suite: a sweep of solves into a results table"),
    "check": ("benchmarks.check", "compare a suite's metrics with a committed baseline"),
    "report": ("reports.build", "build tables, figures and an HTML report from a results table"),
}


class UsageError(Exception):
    """Bad command-line input: reported in one line, exit status 2."""


def parse_value(text: str) -> Any:
    """'3' -> 3, '1e-3' -> 0.001, 'true' -> True, 'none' -> None, anything else a string."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    for convert in (int, float):
        try:
            value = convert(text)
        except ValueError:
            continue
        if isinstance(value, float) and not math.isfinite(value):
            raise UsageError(f"--set value {text!r} is not finite")
        return value
    return text


def parse_settings(items: list[str]) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key or not value.strip():
            raise UsageError(f"malformed --set {item!r}: expected key=value (e.g. --set width=64)")
        settings[key] = parse_value(value)
    return settings


def split_settings(settings: dict[str, Any]) -> tuple[dict, dict, dict, dict]:
    """Route --set keys: (solver options, problem overrides, budget, evaluation settings)."""
    problem = {k: v for k, v in settings.items() if k in OVERRIDABLE and k != "d"}
    budget = {k: v for k, v in settings.items() if k in BUDGET_KEYS}
    evaluation = {k: v for k, v in settings.items() if k in EVALUATION_KEYS}
    if "d" in settings:
        raise UsageError("set the dimension with --d D, not --set d=...")
    taken = set(problem) | set(budget) | set(evaluation)
    options = {k: v for k, v in settings.items() if k not in taken}
    return options, problem, budget, evaluation


# ------------------------------------------------------------------------------ commands
def cmd_list(args: argparse.Namespace) -> int:
    print("problems:")
    for name, spec in PROBLEM_SPECS.items():
        lo, hi = spec.d_range
        dims = f"d={lo}" if lo == hi else f"d={lo}..{hi}"
        print(f"  {name:<18} {dims:<10} {spec.description}")
    print("solvers:")
    for name in solver_names():
        try:
            cls = solver_class(name)
            doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
            print(f"  {name:<18} {doc}")
        except ImportError as exc:  # a solver whose dependencies are missing
            print(f"  {name:<18} (unavailable: {exc})")
    print("problem overrides (--set):", ", ".join(k for k in OVERRIDABLE if k != "d"),
          "| budget:", ", ".join(BUDGET_KEYS), "| evaluation:", ", ".join(EVALUATION_KEYS))
    return 0


def _validate_solve(args: argparse.Namespace):
    from benchmarks.single_run import RunSpec, solver_options_with_seed

    if args.solver not in solver_names():
        raise UsageError(f"unknown solver {args.solver!r}; valid solvers: {', '.join(solver_names())}")
    if args.problem not in problem_names():
        raise UsageError(
            f"unknown problem {args.problem!r}; valid problems: {', '.join(problem_names())}"
        )
    options, overrides, budget, evaluation = split_settings(parse_settings(args.set or []))
    spec = RunSpec(solver=args.solver, problem=args.problem, d=args.d, seed=args.seed,
                   solver_options=options, problem_overrides=overrides, budget=budget,
                   evaluation=evaluation)
    try:
        problem = get_problem(args.problem, **({"d": args.d} if args.d is not None else {}),
                              **overrides)
        solver = solver_class(args.solver)(
            **solver_options_with_seed(args.solver, args.seed, options))
    except (ValueError, TypeError) as exc:
        raise UsageError(str(exc)) from None
    for key, value in {**budget, **evaluation}.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            if not (key == "eval_seed" and isinstance(value, int) and value >= 0):
                raise UsageError(f"--set {key}={value!r} must be a positive number")
    if args.json is not None:
        parent = Path(args.json).resolve().parent
        if not parent.is_dir() or not os.access(parent, os.W_OK):
            raise UsageError(f"--json {args.json}: directory {parent} does not exist or is not writable")
    reason = solver.supports(problem)
    if reason is not None:
        raise UsageError(f"{args.solver} cannot solve {problem.name} (d={problem.d}): {reason}")
    return spec


def cmd_solve(args: argparse.Namespace) -> int:
    from benchmarks.single_run import run_one

    spec = _validate_solve(args)
    result = run_one(spec, progress=not args.quiet)
    row = result.row
    print(f"{row['solver']} on {row['problem']} (d={row['d']}, seed={row['seed']}, "
          f"reference: {row['reference']}, config {row['config_hash']})")
    _print_block("metrics", row, [
        "mean_err", "var_err", "w1_err", "u_err", "v_err", "energy_drift", "com_mean_err",
        "com_var_err", "var_err_brownian"], std=True)
    if row.get("n_samples") is not None:
        print(f"  (sampled: {row['n_trials']} trials x {row['n_samples']} samples, "
              f"eval seed {row['eval_seed']}; +- is the std over trials)")
    _print_block("cost", row, ["train_s", "iters", "s_per_iter", "eval_s", "peak_rss_mb",
                               "peak_gpu_mb", "n_params", "device", "dtype", "threads",
                               "stop_reason"])
    if args.json:
        Path(args.json).write_text(json.dumps(result.artifact, indent=1, allow_nan=False))
        print(f"wrote {args.json}")
    return 0


def _print_block(title: str, row: dict[str, Any], keys: list[str], std: bool = False) -> None:
    print(f"{title}:")
    for key in keys:
        value = row.get(key)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        text = f"{value:.4g}" if isinstance(value, float) else str(value)
        spread = row.get(f"{key}_std") if std else None
        if spread:
            text += f" +- {spread:.2g}"
        kind = row.get(f"{key}_kind")
        if kind and kind != "relative":
            text += f" ({kind})"
        print(f"  {key:<16} {text}")


# ------------------------------------------------------------------------------ parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dsm-bench",
        description="Benchmark Deep Stochastic Mechanics against PINNs and Crank-Nicolson.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("list", help="list problems and solvers")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("solve", help="solve one problem with one solver, print metrics and cost")
    p.add_argument("solver", help=f"one of: {', '.join(solver_names())}")
    p.add_argument("problem", help=f"one of: {', '.join(problem_names())}")
    p.add_argument("--d", type=int, default=None, help="dimension (number of particles for bosons)")
    p.add_argument("--seed", type=int, default=0, help="solver seed (default 0)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="solver option, problem override (hbar, g, phase, T, n_steps, m), budget "
                        "(max_iters, max_seconds) or evaluation setting (n_samples, n_trials, "
                        "eval_seed, n_eval_times); repeatable")
    p.add_argument("--json", metavar="FILE", help="write metrics, cost and moments over time")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_solve)

    for name, (module, help_text) in DELEGATED.items():
        p = sub.add_parser(name, help=help_text)
        try:
            mod = importlib.import_module(module)
        except ImportError as exc:
            p.set_defaults(func=_unavailable(name, exc))
            continue
        mod.configure_parser(p)
        p.set_defaults(func=mod.main)
    return parser


def _unavailable(name: str, exc: Exception):
    def run(args: argparse.Namespace) -> int:
        print(f"dsm-bench {name}: unavailable ({exc})", file=sys.stderr)
        return 2

    return run


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (UsageError, SolverConfigError) as exc:
        print(f"dsm-bench {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
