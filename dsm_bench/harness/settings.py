"""``--set key=value`` settings: parsed once, then routed to the solver, the problem, the
budget or the evaluation. Shared by the command line and the benchmark scripts."""

from __future__ import annotations

import math
from typing import Any

from reference.problems import problem_option_names
from solvers.budget import BUDGET_OPTIONS as BUDGET_OPTIONS  # re-exported: --set, suites
from solvers.options import Integer, Option, Real

# evaluation settings and per-run limits, declared once for --set and suites alike (the
# budget's keys: solvers.budget)
EVALUATION_OPTIONS = {
    "n_samples": Option(10_000, Integer(1), "samples per trial (sampled solutions)"),
    "n_trials": Option(10, Integer(1), "independent sampling trials"),
    "eval_seed": Option(0, Integer(0), "seed of the evaluation's sampling"),
    # an L2 norm over time needs at least the two ends of [0, T]
    "n_eval_times": Option(101, Integer(2), "evaluation times, evenly spaced on the grid"),
}
# the defaults, when a suite sets no limits: generous enough for any smoke/quick run on a
# laptop, small enough that a hung or leaking run cannot stall a sweep for hours
LIMIT_OPTIONS = {
    "timeout_s": Option(3600.0, Real(0, closed="neither"), "wall time of one run"),
    "memory_mb": Option(16_000.0, Real(0, closed="neither"), "resident memory of one run"),
}
BUDGET_KEYS = ("max_iters", "max_seconds")  # settable with --set (monitor_every: suites only)
EVALUATION_KEYS = tuple(EVALUATION_OPTIONS)


def settings_errors(table: dict[str, Any], options: dict[str, Option], where: str,
                    sep: str = ".") -> list[str]:
    """Every unknown key and invalid value of a budget / evaluation / limits table, each
    message naming the key and its valid range (``where.key: value must be ...``; with
    ``sep="="`` as ``--set key=value must be ...``)."""
    errors = []
    unknown = sorted(set(table) - set(options))
    if unknown:
        errors.append(f"{where}: unknown key(s) {', '.join(unknown)}; valid keys: "
                      f"{', '.join(sorted(options))}")
    for key, value in table.items():
        if key in options and not options[key].constraint.accepts(value):
            shown = f"{where} {key}={value!r}" if sep == "=" else f"{where}.{key}: {value!r}"
            errors.append(f"{shown} must be {options[key].constraint.describe()}")
    return errors


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


def shadowed_options(option_names: Any, problem_keys: Any = None) -> list[str]:
    """The solver option names that --set would route elsewhere (a parameter of the problem,
    of any registered problem when None, a budget or an evaluation setting of the same
    name): such an option could never be set."""
    problem_keys = problem_option_names() if problem_keys is None else problem_keys
    routed = {*problem_keys, *BUDGET_KEYS, *EVALUATION_KEYS}
    return sorted(set(option_names) & routed)


def split_settings(settings: dict[str, Any], problem_keys: Any = None
                   ) -> tuple[dict, dict, dict, dict]:
    """Route --set keys: (solver options, problem overrides, budget, evaluation settings).
    ``problem_keys``: the problem's parameter names (default: those of every registered
    problem)."""
    problem_keys = set(problem_option_names() if problem_keys is None else problem_keys)
    problem = {k: v for k, v in settings.items() if k in problem_keys and k != "d"}
    budget = {k: v for k, v in settings.items() if k in BUDGET_KEYS}
    evaluation = {k: v for k, v in settings.items() if k in EVALUATION_KEYS}
    if "d" in settings:
        raise UsageError("set the dimension with --d D, not --set d=...")
    taken = set(problem) | set(budget) | set(evaluation)
    options = {k: v for k, v in settings.items() if k not in taken}
    return options, problem, budget, evaluation


