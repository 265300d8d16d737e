"""The ``dsm-bench`` command line: list | solve | run | report | check | tune.

Bad input (an unknown name, an invalid value, a malformed ``--set``) exits with status 2 and a
one-line message naming the valid choices, before any work is done or any file is written.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from dsm_bench.harness.settings import (
    BUDGET_KEYS,
    BUDGET_OPTIONS,
    EVALUATION_KEYS,
    EVALUATION_OPTIONS,
    UsageError,
    parse_settings,
    settings_errors,
    shadowed_options,
    split_settings,
)
from dsm_bench.schema import COST, METRIC_TABLE, Status
from dsm_bench.table import JOURNAL, journal_problem
from reference.problems import ProblemConfigError, get_problem, problem_class, problem_names
from solvers import (
    PluginError,
    SolverConfigError,
    load_plugin,
    solver_class,
    solver_names,
    unavailable_reason,
)
from solvers.options import describe_options, describe_spaces

# delegated subcommands that take --plugin (the report reads facts from the table; a plugin
# loaded there also names its variants through its own label hook)
PLUGIN_COMMANDS = ("run", "check", "report", "tune")

# subcommands implemented by the harness and the reports (module: configure_parser + main)
DELEGATED = {
    "run": ("dsm_bench.harness.runner", "run a suite: a sweep of solves into a results table"),
    "check": ("dsm_bench.harness.check", "compare a suite's metrics with a committed baseline"),
    "report": ("reports.build", "build tables, figures and an HTML report from a results table"),
    "tune": ("dsm_bench.tuning.command", "tune a suite's solvers with Optuna: equal trials and "
                                         "seconds for each (docs/tuning.md)"),
}


# ------------------------------------------------------------------------------ commands
def cmd_list(args: argparse.Namespace) -> int:
    if args.solver:
        return _describe_solver(args.solver)
    if args.problem:
        return _describe_problem(args.problem)
    print("problems:")
    for name in problem_names():
        cls = problem_class(name)
        lo, hi = cls.d_range
        symbol = cls.dimension_symbol
        dims = f"{symbol}={lo}" if lo == hi else f"{symbol}={lo}..{hi}"
        print(f"  {name:<18} {dims:<10} {cls.description or cls.label}")
    print("solvers:")
    for name in solver_names():
        reason = unavailable_reason(name)
        if reason is not None:  # a solver whose dependencies are missing
            print(f"  {name:<18} (unavailable: {reason})")
            continue
        cls = solver_class(name)
        print(f"  {name:<18} {cls.label}")
    print("budget (--set):", ", ".join(BUDGET_KEYS), "| evaluation:", ", ".join(EVALUATION_KEYS))
    print("a solver's options: dsm-bench list --solver NAME; a problem's parameters: "
          "dsm-bench list --problem NAME")
    return 0


def _describe_problem(name: str) -> int:
    """The problem's declared facts and its parameters, generated from their constraints."""
    if name not in problem_names():
        raise UsageError(f"unknown problem {name!r}; valid problems: {', '.join(problem_names())}")
    cls = problem_class(name)
    lo, hi = cls.d_range
    print(f"{name}: {cls.label}" + (f" - {cls.description}" if cls.description else ""))
    print(f"  {cls.dimension_symbol} = {lo}..{hi}; box {list(cls.box)} per axis; exchangeable "
          f"coordinates: {'yes' if cls.exchangeable_coordinates else 'no'}")
    print("parameters (--set KEY=VALUE; the dimension with --d):")
    _print_options(describe_options(cls.option_specs))
    return 0


def _print_options(rows: list[tuple[str, str, str, str]]) -> None:
    width = max((len(r[0]) for r in rows), default=0)
    for key, default, valid, help_text in rows:
        print(f"  {key:<{width}}  default {default}; {valid}")
        if help_text:
            print(f"  {'':<{width}}  {help_text}")


def _describe_solver(name: str) -> int:
    """The solver's declared facts and its options, generated from their constraints."""
    if name not in solver_names():
        raise UsageError(f"unknown solver {name!r}; valid solvers: {', '.join(solver_names())}")
    reason = unavailable_reason(name)
    if reason is not None:
        print(f"{name}: unavailable ({reason})")
        return 0
    cls = solver_class(name)
    doc = (cls.__doc__ or "").strip().splitlines()
    print(f"{name}: {cls.label}" + (f" - {doc[0]}" if doc else ""))
    sampler = cls.declared_facts().sampler
    kinds = [fact for fact, on in (("trained", cls.trained), ("deterministic", cls.deterministic),
                                   ("sampler", sampler), ("sampling floor", cls.is_floor),
                                   ("grid reference", cls.is_reference)) if on]
    print(f"  kind: {', '.join(kinds) or 'none declared'}; regression tolerance: "
          f"{cls.tolerance:g} relative")
    print("options (--set KEY=VALUE):")
    _print_options(describe_options(cls.option_specs))
    spaces = describe_spaces(cls.option_specs)
    print("search space (dsm-bench tune):" if spaces else "search space: none (not tuned)")
    for key, default, space in spaces:
        print(f"  {key:<{max(len(s[0]) for s in spaces)}}  {space} (default {default})")
    return 0


def _validate_solve(args: argparse.Namespace):
    from dsm_bench.harness.single_run import RunSpec, solver_options_with_seed

    if args.solver not in solver_names():
        raise UsageError(f"unknown solver {args.solver!r}; valid solvers: {', '.join(solver_names())}")
    reason = unavailable_reason(args.solver)
    if reason is not None:  # a solver whose optional dependencies are missing: the hint
        raise UsageError(f"solver {args.solver!r} is unavailable: {reason}")
    if args.problem not in problem_names():
        raise UsageError(
            f"unknown problem {args.problem!r}; valid problems: {', '.join(problem_names())}"
        )
    problem_keys = problem_class(args.problem).option_specs
    shadowed = shadowed_options(solver_class(args.solver).option_specs, problem_keys)
    if shadowed:
        raise UsageError(f"solver {args.solver!r} declares option(s) {', '.join(shadowed)}, "
                         f"the name(s) of {args.problem}'s parameters, budget or evaluation "
                         "settings, so --set cannot reach them; one of them must rename them")
    options, overrides, budget, evaluation = split_settings(parse_settings(args.set or []),
                                                            problem_keys)
    spec = RunSpec(solver=args.solver, problem=args.problem, d=args.d, seed=args.seed,
                   solver_options=options, problem_overrides=overrides, budget=budget,
                   evaluation=evaluation, plugins=list(args.plugin or []))
    try:
        problem = get_problem(args.problem, **({"d": args.d} if args.d is not None else {}),
                              **overrides)
        solver = solver_class(args.solver)(
            **solver_options_with_seed(args.solver, args.seed, options))
    except (ValueError, TypeError) as exc:
        raise UsageError(str(exc)) from None
    errors = (settings_errors(budget, BUDGET_OPTIONS, "--set", sep="=")
              + settings_errors(evaluation, EVALUATION_OPTIONS, "--set", sep="="))
    if errors:
        raise UsageError(errors[0])
    if args.json is not None:
        if Path(args.json).is_dir():
            raise UsageError(f"--json {args.json} is a directory; give the name of a file")
        parent = Path(args.json).resolve().parent
        if not parent.is_dir() or not os.access(parent, os.W_OK):
            raise UsageError(f"--json {args.json}: directory {parent} does not exist or is not writable")
    reason = solver.supports(problem)
    if reason is not None:
        raise UsageError(f"{args.solver} cannot solve {problem.name} (d={problem.d}): {reason}")
    return spec


def cmd_solve(args: argparse.Namespace) -> int:
    from dsm_bench.harness.single_run import run_one

    spec = _validate_solve(args)
    try:
        result = run_one(spec, progress=not args.quiet)
    except (SolverConfigError, UsageError):
        raise
    except Exception as exc:  # noqa: BLE001 - a failed run is reported, not a traceback
        print(f"dsm-bench solve: {spec.solver} on {spec.problem} failed: "
              f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    row = result.row
    print(f"{row['solver']} on {row['problem']} (d={row['d']}, seed={row['seed']}, "
          f"reference: {row['reference']}, config {row['config_hash']})")
    _print_block("metrics", row, [m.name for m in METRIC_TABLE], std=True)
    if row.get("n_samples") is not None:
        print(f"  (sampled: {row['n_trials']} trials x {row['n_samples']} samples, "
              f"eval seed {row['eval_seed']}; +- is the std over trials)")
    _print_block("cost", row, COST)
    if args.json:
        Path(args.json).write_text(json.dumps(result.artifact, indent=1, allow_nan=False))
        print(f"wrote {args.json}")
    if row["message"]:
        print(f"note: {row['message']}", file=sys.stderr if row["status"] != Status.OK else sys.stdout)
    # a run its budget stopped before T is scored on what it reached, but did not finish
    return 0 if row["status"] == Status.OK else 1


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

    p = sub.add_parser("list", help="list problems and solvers, or one solver's options")
    p.add_argument("--solver", metavar="NAME", help="show this solver's facts and options")
    p.add_argument("--problem", metavar="NAME", help="show this problem's facts and parameters")
    _add_plugin_argument(p)
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("solve", help="solve one problem with one solver, print metrics and cost")
    p.add_argument("solver", help=f"one of: {', '.join(solver_names())}")
    p.add_argument("problem", help=f"one of: {', '.join(problem_names())}")
    p.add_argument("--d", type=int, default=None, help="dimension (number of particles for bosons)")
    p.add_argument("--seed", type=int, default=0, help="solver seed (default 0)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="solver option, problem parameter (hbar, T, n_steps, m and the "
                        "problem's own: dsm-bench list --problem NAME), budget "
                        "(max_iters, max_seconds) or evaluation setting (n_samples, n_trials, "
                        "eval_seed, n_eval_times); repeatable")
    p.add_argument("--json", metavar="FILE", help="write metrics, cost and moments over time")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    _add_plugin_argument(p)
    p.set_defaults(func=cmd_solve)

    for name, (module, help_text) in DELEGATED.items():
        p = sub.add_parser(name, help=help_text)
        try:
            mod = importlib.import_module(module)
        except ImportError as exc:
            p.set_defaults(func=_unavailable(name, exc))
            continue
        mod.configure_parser(p)
        if name in PLUGIN_COMMANDS:
            _add_plugin_argument(p)
        wrap = {"run": cmd_run, "report": cmd_report}.get(name)
        p.set_defaults(func=wrap(mod.main) if wrap else mod.main)
    return parser


def cmd_report(report_main):
    """``dsm-bench report DIR``: a journal that is not one (a directory, no readable row) is
    refused before the reports read it, rather than shown as an empty report."""

    def report(args: argparse.Namespace) -> int:
        problem = journal_problem(Path(args.results_dir) / JOURNAL)
        if problem is not None:
            print(f"dsm-bench report: error: {problem}", file=sys.stderr)
            return 2
        return report_main(args)

    return report


def cmd_run(run_main):
    """``dsm-bench run``: the sweep (harness), then the report (the floor above it)."""

    def run(args: argparse.Namespace) -> int:
        status = run_main(args)
        if status in (0, 1) and not args.no_report:
            build_report_if_available(Path(args.out))
        return status

    return run


def build_report_if_available(results_dir: Path) -> None:
    try:
        from reports.build import build_report
    except ImportError as exc:
        print(f"report skipped: reports.build is not available ({exc})")
        return
    try:
        where = build_report(results_dir, out_dir=None)
    except Exception as exc:  # noqa: BLE001 - the results are safe; say why there is no report
        print(f"report failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return
    print(f"report: {where}")


def _add_plugin_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--plugin", action="append", default=[], metavar="FILE.py|MODULE",
                   help="load solver or problem plugins from a Python file or module "
                        "(repeatable)")


def preload_plugins(argv: list[str] | None) -> list[str]:
    """Load every ``--plugin`` before the parser is built, so that the plugins' solvers are
    valid choices (and listed in --help). Returns them as absolute paths or module names."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--plugin", action="append", default=[])
    known, _ = pre.parse_known_args(argv)
    plugins = [str(Path(p).resolve()) if p.endswith(".py") else p for p in known.plugin]
    for plugin in plugins:
        load_plugin(plugin)
    return plugins


def _unavailable(name: str, exc: Exception):
    def run(args: argparse.Namespace) -> int:
        print(f"dsm-bench {name}: unavailable ({exc})", file=sys.stderr)
        return 2

    return run


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        plugins = preload_plugins(argv)
    except PluginError as exc:
        print(f"dsm-bench: error: {exc}", file=sys.stderr)
        return 2
    parser = build_parser()
    args = parser.parse_args(argv)
    if hasattr(args, "plugin"):
        args.plugin = plugins
    # SIGTERM ends a command as Ctrl-C does (a sweep installs its own handlers for both)
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_interrupt) if main_thread else None
    try:
        return int(args.func(args) or 0)
    except (UsageError, SolverConfigError, ProblemConfigError) as exc:
        print(f"dsm-bench {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        signum = exc.args[0] if exc.args and isinstance(exc.args[0], int) else signal.SIGINT
        print(f"interrupted ({signal.Signals(signum).name})", file=sys.stderr)
        return 128 + signum
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


def _raise_interrupt(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(signum)


if __name__ == "__main__":
    sys.exit(main())
