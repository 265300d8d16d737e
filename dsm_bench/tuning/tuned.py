"""The tuned configurations as a result: ``DIR/tuned.toml``, a suite ``dsm-bench run`` takes,
evaluated on the evaluation seeds.

For every study with a completed trial the suite holds two groups on the original suite's
seeds (which the trials never used, ``dsm_bench.tuning.seeds``) and with the trials' training
budget: the *default* (the suite's own options) and the *tuned* (the best trial's options
over them); one group when they coincide. Running it gives the report's default and tuned rows
as fresh draws, not the best of the noisy draws that chose the trial. ``DIR/tuning/
summary.json`` maps every study to its best trial and to the config hashes of its default and
tuned rows (``dsm_bench.tuning.report`` reads it).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

import optuna
from optuna.trial import TrialState

from dsm_bench.harness.executor import write_json_atomic
from dsm_bench.harness.store import atomic_write
from dsm_bench.harness.suites import SuiteRun, parse_suite
from dsm_bench.tuning.plan import StudyPlan
from dsm_bench.tuning.storage import TUNING_DIR

__all__ = ["SUMMARY", "TUNED_SUITE", "best_trial", "write_tuned"]

TUNED_SUITE = "tuned.toml"
SUMMARY = "summary.json"


def best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    """The completed trial of lowest objective (None before one completed)."""
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return min(done, key=lambda t: (t.value, t.number)) if done else None


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, str)):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} has no TOML form here")
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"{value!r} has no TOML form here")


def _group(run: SuiteRun, d: int, seeds: list[int], budget: dict[str, Any],
           options: dict[str, Any], note: str) -> str:
    """One ``[[runs]]`` group: ``run``'s problem, evaluation and limits on ``seeds``, with
    ``budget`` and ``options`` over its own."""
    limits = {"timeout_s": run.limits.timeout_s, "memory_mb": run.limits.memory_mb}
    lines = ["[[runs]]", f"note = {_toml_value(note)}", f"solvers = {_toml_value([run.solver])}",
             f"problems = {_toml_value([run.problem])}", f"d = [{d}]",
             f"seeds = {_toml_value(sorted(seeds))}", f"evaluation = {_toml_value(run.evaluation)}",
             f"limits = {_toml_value(limits)}"]
    if budget:
        lines.append(f"budget = {_toml_value(budget)}")
    if run.limits.threads is not None:
        lines.append(f"threads = {run.limits.threads}")
    if run.problem_overrides:
        lines.append(f"problem_overrides = {_toml_value(run.problem_overrides)}")
    merged = {**run.solver_options, **options}
    if merged:
        lines.append(f"[runs.options.{run.solver}]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in merged.items()]
    return "\n".join(lines)


def _floor_group(plan: StudyPlan, run: SuiteRun) -> str:
    return _group(run, plan.d, [run.seed], run.budget, {},
                  f"floor: {run.solver} on {plan.problem} d={plan.d}")


def write_tuned(out: Path, suite_name: str, plugins: list[str], plans: list[StudyPlan],
                studies: dict[str, optuna.Study]) -> tuple[Path | None, list[str]]:
    """Write ``DIR/tuned.toml`` and ``DIR/tuning/summary.json``: (the suite's path, or None
    when no study has a completed trial; one note per study left out)."""
    groups, notes, summary = [], [], {}
    for plan in plans:
        study = studies[plan.name]
        best = best_trial(study)
        if best is None:
            notes.append(f"{plan.name}: no completed trial; left out of {TUNED_SUITE}")
            continue
        tuned = dict(best.params)
        same = all(plan.base.solver_options.get(k, plan.option_specs[k].default) == v
                   for k, v in tuned.items())
        seeds = [r.seed for r in plan.runs]
        default = _group(plan.base, plan.d, seeds, plan.budget, {},
                         f"default: {plan.name} as the suite sets it"
                         + ("; the tuned options too" if same else ""))
        groups.append(default)
        entry = summary[plan.name] = {
            "solver": plan.solver, "problem": plan.problem, "d": plan.d,
            "best_trial": best.number, "best_value": best.value, "params": tuned,
            "metric": study.user_attrs["protocol"]["metric"], "budget": plan.budget,
            "trials": len(study.get_trials(deepcopy=False)),
            "default_hashes": _hashes(default),
            "floor_hashes": [h for r in plan.floors for h in _hashes(_floor_group(plan, r))]}
        entry["tuned_hashes"] = entry["default_hashes"]
        if not same:
            groups.append(_group(plan.base, plan.d, seeds, plan.budget, tuned,
                                 f"tuned: {plan.name} trial {best.number}"))
            entry["tuned_hashes"] = _hashes(groups[-1])
    if not groups:
        return None, notes
    floors = {text: None for p in plans if p.name in summary
              for text in (_floor_group(p, r) for r in p.floors)}
    groups += list(floors)
    head = [f"name = {_toml_value(suite_name + '-tuned')}",
            "description = " + _toml_value(f"default against tuned options of {suite_name}, on "
                                           "its evaluation seeds (dsm-bench tune)")]
    if plugins:
        head.append(f"plugins = {_toml_value(plugins)}")
    text = "\n".join(head) + "\n\n" + "\n\n".join(groups) + "\n"
    path = out / TUNED_SUITE
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    write_json_atomic(out / TUNING_DIR / SUMMARY, summary)
    return path, notes


def _hashes(group: str) -> list[str]:
    """The config hashes of the rows one group of the tuned suite makes, parsed as ``run``
    parses it (the suite's name is no part of a hash)."""
    runs = parse_suite(tomllib.loads(f'name = "group"\n\n{group}\n')).runs
    return [run.to_spec().config_hash() for run in runs]
