"""Benchmark suites: named TOML files that expand into runs (solver x problem x d x seed).

A suite file (``benchmarks/suites/NAME.toml``) has optional ``name`` / ``description``, a
``[defaults]`` table and a list of ``[[runs]]`` groups. Every group expands to the cartesian
product of its ``solvers``, ``problems``, ``d`` and ``seeds``; its tables are merged over the
defaults (group values win)::

    [defaults]
    seeds = [0]
    threads = 1                                   # torch / BLAS threads in each run's process
    budget = { max_iters = 100, max_seconds = 60 }
    evaluation = { n_samples = 10000, n_trials = 10, eval_seed = 0, n_eval_times = 101 }
    limits = { timeout_s = 600, memory_mb = 8000 }  # per run: wall time and resident memory
    [defaults.options.dsm]                        # solver options, per solver
    width = 64

    [[runs]]
    solvers = ["dsm", "oracle"]
    problems = ["harmonic"]
    d = [1, 2, 3]                                 # omit for the problem's own d
    problem_overrides = { n_steps = 200 }
    budget = { max_iters = 500 }

Validation (``Suite.validate``) names every error with its place in the file: unknown keys,
solvers, problems, options (checked against each solver's ``defaults`` by instantiating it),
budget / evaluation / limit values, d out of the problem's range. A solver whose module cannot
be imported does not invalidate the suite: its runs are marked ``unavailable`` and the runner
records them as infeasible rows with the import error (which names the install command).

Test-only hook: a group may set ``_fault`` to ``"raise"``, ``"oom"``, ``"hang"`` or
``"sleep:SECONDS"``; the run's child process executes the fault before the run (see
``dsm_bench.harness.executor``). It is not part of the run's config hash.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser as a package
    import tomli as tomllib

from dsm_bench.harness.settings import (
    BUDGET_OPTIONS,
    EVALUATION_OPTIONS,
    LIMIT_OPTIONS,
    settings_errors,
)

__all__ = [
    "SUITES_DIR",
    "Limits",
    "Suite",
    "SuiteError",
    "SuiteRun",
    "load_suite",
    "parse_selection",
    "resolved_d",
    "suite_names",
]

SUITES_DIR = Path(__file__).resolve().parents[2] / "benchmarks" / "suites"

SUITE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*")
# the name becomes part of folder names (reports/<name>-<date>/): well below NAME_MAX (255)
SUITE_NAME_MAX = 100
SUITE_KEYS = {"name", "description", "plugins", "executor", "defaults", "runs"}
DEFAULT_KEYS = {"seeds", "threads", "budget", "evaluation", "limits", "options",
                "problem_overrides"}
GROUP_KEYS = DEFAULT_KEYS | {"solvers", "problems", "d", "note", "_fault"}
FAULTS = ("raise", "oom", "hang", "enospc", "sigkill", "sleep:SECONDS")

# when a suite sets no limits (their reason: dsm_bench.harness.settings.LIMIT_OPTIONS)
DEFAULT_LIMITS = {key: option.default for key, option in LIMIT_OPTIONS.items()}


class SuiteError(ValueError):
    """A suite file is missing or invalid; the message says where and what is valid."""


@dataclass(frozen=True)
class Limits:
    """Per-run resource limits enforced by the executor."""

    timeout_s: float = DEFAULT_LIMITS["timeout_s"]
    memory_mb: float = DEFAULT_LIMITS["memory_mb"]
    threads: int | None = None  # torch / BLAS threads; None: the library default


@dataclass
class SuiteRun:
    """One run of a suite: what it computes (-> ``RunSpec``) and how it is executed."""

    suite: str
    solver: str
    problem: str
    d: int | None
    seed: int
    solver_options: dict[str, Any]
    problem_overrides: dict[str, Any]
    budget: dict[str, Any]
    evaluation: dict[str, Any]
    limits: Limits
    fault: str | None = None
    where: str = ""  # "runs[2]": the group of the suite file it came from
    unavailable: str | None = None  # why the solver cannot be imported (set by validate)
    plugins: list[str] = field(default_factory=list)  # loaded in the run's own process too

    def to_spec(self):
        """The ``dsm_bench.harness.single_run.RunSpec`` of this run (its config hash is the run's key)."""
        from dsm_bench.harness.single_run import RunSpec

        return RunSpec(
            solver=self.solver, problem=self.problem, d=self.d, seed=self.seed,
            solver_options=copy.deepcopy(self.solver_options),
            problem_overrides=copy.deepcopy(self.problem_overrides),
            budget=copy.deepcopy(self.budget), evaluation=copy.deepcopy(self.evaluation),
            suite=self.suite, plugins=list(self.plugins),
        )

    def build(self):
        """(problem, solver, budget) ready for ``solver.run(problem, budget)``, built as
        ``dsm_bench.harness.single_run`` builds them (used by the asv benchmarks)."""
        from dsm_bench.harness.single_run import build_problem
        from solvers import get_solver

        spec = self.to_spec()
        if self.limits.threads is not None:
            import torch

            torch.set_num_threads(self.limits.threads)
        from dsm_bench.harness.single_run import solver_options_with_seed

        solver = get_solver(self.solver, **solver_options_with_seed(self.solver, self.seed,
                                                                    self.solver_options))
        from solvers.budget import Budget

        return build_problem(spec), solver, Budget.from_dict(self.budget)

    @property
    def label(self) -> str:
        d = "" if self.d is None else f" d={self.d}"
        return f"{self.solver}/{self.problem}{d} seed={self.seed}"


@dataclass
class Suite:
    name: str
    description: str
    runs: list[SuiteRun] = field(default_factory=list)
    path: Path | None = None
    plugins: list[str] = field(default_factory=list)
    # the suite's [executor.<name>] tables (e.g. [executor.slurm]), checked by that executor
    executor: dict[str, Any] = field(default_factory=dict)

    def add_plugins(self, plugins: list[str]) -> Suite:
        """Load plugins (files or modules; see ``solvers.registry``) for every run of the
        suite; a plugin that fails raises SuiteError naming it."""
        from solvers import PluginError, load_plugin

        for plugin in plugins:
            try:
                load_plugin(plugin)
            except PluginError as exc:
                raise SuiteError(str(exc)) from None
            if plugin not in self.plugins:
                self.plugins.append(plugin)
        for run in self.runs:
            run.plugins = list(self.plugins)
        return self

    def validate(self, check_solver_options: bool = True) -> Suite:
        """Raise SuiteError listing every problem found; mark runs of unimportable solvers.

        Options are checked by constructing each solver (cheap: solvers import their heavy
        dependencies lazily), so the messages are the solvers' own SolverConfigErrors.
        """
        from dsm_bench.harness.single_run import solver_options_with_seed
        from reference.problems import get_problem
        from solvers import SolverConfigError, solver_class, solver_names

        errors: list[str] = []
        classes: dict[str, Any] = {}
        for name in sorted({r.solver for r in self.runs}):
            if name not in solver_names():
                errors.append(f"unknown solver {name!r}; valid solvers: "
                              f"{', '.join(solver_names())}")
                continue
            try:
                classes[name] = solver_class(name)
            except ImportError as exc:
                classes[name] = f"solver {name!r} is unavailable: {type(exc).__name__}: {exc}"
        seen: dict[str, str] = {}
        checked: set[str] = set()
        for run in self.runs:
            cls = classes.get(run.solver)
            if isinstance(cls, str):
                run.unavailable = cls
            try:
                overrides = dict(run.problem_overrides)
                if run.d is not None:
                    overrides["d"] = run.d
                get_problem(run.problem, **overrides)
            except ValueError as exc:
                errors.append(f"{run.where}: {exc}")
            if cls is None or isinstance(cls, str) or not check_solver_options:
                continue
            options = solver_options_with_seed(run.solver, run.seed, run.solver_options)
            key = run.solver + json.dumps(options, sort_keys=True, default=str)
            if key in checked:
                continue
            checked.add(key)
            try:
                cls(**options)
            except (SolverConfigError, ValueError, TypeError) as exc:
                errors.append(f"{run.where}: {run.solver} options {run.solver_options}: {exc}")
        for run in self.runs:
            key = json.dumps([run.solver, run.problem, run.d, run.seed, run.solver_options,
                              run.problem_overrides, run.budget, run.evaluation],
                             sort_keys=True, default=str)
            if key in seen:
                errors.append(f"{run.where}: run {run.label} duplicates one of {seen[key]}")
            seen[key] = run.where
        if errors:
            raise SuiteError(f"suite {self.name!r} is invalid:\n  " + "\n  ".join(
                dict.fromkeys(errors)))
        return self

    def select(self, selection: dict[str, set[str]]) -> Suite:
        """The suite restricted to the runs matching every key of ``selection`` (see
        ``parse_selection``). Config hashes do not depend on the selection, so a suite run in
        parts into one results directory ends up the same table as a run in one go."""
        def field_text(run: SuiteRun, key: str) -> str:
            return str(resolved_d(run)) if key == "d" else str(getattr(run, key))

        runs = [r for r in self.runs
                if all(field_text(r, k) in wanted for k, wanted in selection.items())]
        if not runs:
            shown = "; ".join(f"{k}={','.join(sorted(v))}" for k, v in selection.items())
            raise SuiteError(f"--only {shown} selects none of the {len(self.runs)} runs of "
                             f"suite {self.name!r}")
        return Suite(name=self.name, description=self.description, runs=runs, path=self.path,
                     plugins=list(self.plugins), executor=self.executor)


SELECT_KEYS = ("solver", "problem", "d", "seed")


def parse_selection(items: list[str]) -> dict[str, set[str]]:
    """``["solver=dsm,oracle", "d=3"]`` -> ``{"solver": {"dsm", "oracle"}, "d": {"3"}}``.

    Values stay text and are compared with ``str()`` of the run's field, so ``d=3`` matches
    ``d = 3``; a run without an explicit d is matched by its problem's default d.
    """
    selection: dict[str, set[str]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        key = key.strip()
        wanted = {v.strip() for v in values.split(",") if v.strip()}
        if not sep or not wanted:
            raise SuiteError(f"malformed selection {item!r}; expected KEY=VALUE[,VALUE...] "
                             f"with KEY one of {', '.join(SELECT_KEYS)}")
        if key not in SELECT_KEYS:
            raise SuiteError(f"unknown selection key {key!r}; valid keys: "
                             f"{', '.join(SELECT_KEYS)}")
        selection.setdefault(key, set()).update(wanted)
    return selection


def suite_names() -> list[str]:
    """Names of the suites shipped in benchmarks/suites/."""
    return sorted(p.stem for p in SUITES_DIR.glob("*.toml"))


def load_suite(name_or_path: str | Path, validate: bool = True,
               plugins: list[str] | None = None) -> Suite:
    """Load a suite by name (``smoke``) or from a TOML file path, expanded and validated.

    The suite's own ``plugins = [...]`` (modules, or ``.py`` files relative to the suite file)
    and ``plugins`` given here (``--plugin``) are loaded before the suite is validated."""
    path = Path(name_or_path)
    if path.suffix != ".toml" or not path.is_file():
        candidate = SUITES_DIR / f"{name_or_path}.toml"
        if not candidate.is_file():
            raise SuiteError(
                f"unknown suite {str(name_or_path)!r}; valid suites: "
                f"{', '.join(suite_names())} (or a path to a .toml file)"
            )
        path = candidate
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SuiteError(f"{path}: not valid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise SuiteError(f"{path}: not UTF-8 text (byte {exc.start}); a TOML file must be "
                         "UTF-8") from None
    except OSError as exc:
        raise SuiteError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    suite = parse_suite(data, default_name=path.stem)
    suite.path = path
    errors: list[str] = []
    listed = _string_list(data["plugins"], "plugins", errors) if "plugins" in data else []
    own = [str((path.parent / p).resolve()) if p.endswith(".py") else p for p in listed]
    if errors:
        raise SuiteError(f"suite {suite.name!r} is invalid:\n  " + "\n  ".join(errors))
    suite.add_plugins([*own, *(plugins or [])])
    return suite.validate() if validate else suite


def parse_suite(data: dict[str, Any], default_name: str = "suite") -> Suite:
    """Expand a parsed suite document into runs (structure and types checked, not registries)."""
    errors: list[str] = []
    _unknown_keys(data, SUITE_KEYS, "suite", errors)
    name = str(data.get("name", default_name))
    if not SUITE_NAME.fullmatch(name) or len(name) > SUITE_NAME_MAX:
        # the name becomes a folder name (reports/<name>-<date>): nothing that can escape it
        shown = name if len(name) <= 60 else f"{name[:40]}...({len(name)} characters)"
        raise SuiteError(f"suite name {shown!r} is not valid: use letters, digits, '_', '.' "
                         f"and '-' only, not starting with '.', at most {SUITE_NAME_MAX} of them")
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        raise SuiteError(f"suite {name!r}: [defaults] must be a table")
    _unknown_keys(defaults, DEFAULT_KEYS, "[defaults]", errors)
    groups = data.get("runs", [])
    if not isinstance(groups, list) or not groups:
        raise SuiteError(f"suite {name!r}: needs at least one [[runs]] group")
    runs: list[SuiteRun] = []
    for i, group in enumerate(groups):
        where = f"runs[{i}]"
        if not isinstance(group, dict):
            errors.append(f"{where}: must be a table")
            continue
        _unknown_keys(group, GROUP_KEYS, where, errors)
        runs.extend(_expand_group(name, defaults, group, where, errors))
    if errors:
        raise SuiteError(f"suite {name!r} is invalid:\n  " + "\n  ".join(errors))
    executor = data.get("executor", {})
    if not isinstance(executor, dict) or not all(isinstance(v, dict) for v in executor.values()):
        raise SuiteError(f"suite {name!r}: [executor] must hold tables such as [executor.slurm]")
    return Suite(name=name, description=str(data.get("description", "")), runs=runs,
                 executor=executor)


def _expand_group(suite: str, defaults: dict[str, Any], group: dict[str, Any], where: str,
                  errors: list[str]) -> list[SuiteRun]:
    def merged(key: str) -> dict[str, Any]:
        base, own = defaults.get(key, {}), group.get(key, {})
        for table, label in ((base, "[defaults]"), (own, where)):
            if not isinstance(table, dict):
                errors.append(f"{label}: {key} must be a table")
                return {}
        return {**base, **own}

    solvers = _string_list(group.get("solvers"), f"{where}.solvers", errors)
    problems = _string_list(group.get("problems"), f"{where}.problems", errors)
    dims = group.get("d", [None])
    dims = dims if isinstance(dims, list) else [dims]
    for d in dims:
        if d is not None and (isinstance(d, bool) or not isinstance(d, int) or d < 1):
            errors.append(f"{where}.d: {d!r} is not a positive integer")
    seeds = group.get("seeds", defaults.get("seeds", [0]))
    seeds = seeds if isinstance(seeds, list) else [seeds]
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, int) or s < 0:
            errors.append(f"{where}.seeds: {s!r} is not a non-negative integer")

    budget = _typed(merged("budget"), BUDGET_OPTIONS, f"{where}.budget", errors)
    evaluation = _typed(merged("evaluation"), EVALUATION_OPTIONS, f"{where}.evaluation", errors)
    limits = _typed(merged("limits"), LIMIT_OPTIONS, f"{where}.limits", errors)
    overrides = merged("problem_overrides")
    if "d" in overrides:
        errors.append(f"{where}.problem_overrides: set d with the group's `d` list")
    threads = group.get("threads", defaults.get("threads"))
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)
                                or threads < 1):
        errors.append(f"{where}.threads: {threads!r} must be an integer >= 1")
    fault = group.get("_fault")
    if fault is not None and not _valid_fault(fault):
        errors.append(f"{where}._fault: {fault!r}; valid faults: {', '.join(FAULTS)}")

    options_default = defaults.get("options", {})
    options_group = group.get("options", {})
    for table, label in ((options_default, "[defaults].options"), (options_group,
                                                                   f"{where}.options")):
        if not isinstance(table, dict) or not all(isinstance(v, dict) for v in table.values()):
            errors.append(f"{label}: must be tables of options per solver, "
                          "e.g. [runs.options.dsm]")
            return []
    stray = set(options_group) - set(solvers)
    if stray:
        errors.append(f"{where}.options: options for {', '.join(sorted(stray))} but the "
                      f"group's solvers are {', '.join(solvers)}")

    run_limits = Limits(**{**DEFAULT_LIMITS, **limits}, threads=threads)
    runs = []
    for solver, problem, d, seed in itertools.product(solvers, problems, dims, seeds):
        runs.append(SuiteRun(
            suite=suite, solver=solver, problem=problem, d=d, seed=seed,
            solver_options={**options_default.get(solver, {}), **options_group.get(solver, {})},
            problem_overrides=dict(overrides), budget=dict(budget),
            evaluation=dict(evaluation), limits=run_limits, fault=fault, where=where,
        ))
    return runs


def _valid_fault(fault: Any) -> bool:
    if fault in ("raise", "oom", "hang", "enospc", "sigkill"):
        return True
    if isinstance(fault, str) and fault.startswith("sleep:"):
        try:
            return float(fault.split(":", 1)[1]) >= 0
        except ValueError:
            return False
    return False


def _unknown_keys(table: dict[str, Any], valid: set[str], where: str, errors: list[str]) -> None:
    unknown = set(table) - valid
    if unknown:
        errors.append(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; "
                      f"valid keys: {', '.join(sorted(valid))}")


def _string_list(value: Any, where: str, errors: list[str]) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        errors.append(f"{where}: must be a non-empty list of names")
        return []
    return value


def _typed(table: dict[str, Any], options: dict[str, Any], where: str,
           errors: list[str]) -> dict[str, Any]:
    """A budget / evaluation / limits table checked against its declared options."""
    found = settings_errors(table, options, where)
    errors.extend(found)
    return {} if found else dict(table)


def resolved_d(run: SuiteRun) -> int:
    """The run's dimension: its own d, or the problem's default."""
    if run.d is not None:
        return int(run.d)
    from reference.problems import problem_class

    return int(problem_class(run.problem).defaults["d"])
