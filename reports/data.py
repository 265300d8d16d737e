"""Reading a results directory: the table (the journal DIR/results.jsonl, else
DIR/results.parquet or DIR/results.csv), the per-run artifact JSONs, and the aggregation over
seeds that every table and figure shares.

Nothing here raises on missing solvers, dimensions, failed or infeasible runs: they are gaps.
A missing or unreadable artifact is recorded in ``Results.notes`` and skipped.

The journal is the source of truth: where there is one, the table is its last row per config
hash, and a table file that is missing, unreadable or behind it is named in the notes (the
harness rewrites it: the next ``dsm-bench run`` or ``check --results``; the report only reads,
so a read-only copy of a results directory can be reported on). An artifact path that leads
outside the results directory is refused (``ResultsRefused``): a table is data, and must not
make the report read whatever file it names.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dsm_bench.schema import COLUMNS, COST_TABLE, METRIC_TABLE, STATUSES, Status, flatten_config
from dsm_bench.table import (
    CSV,
    JOURNAL,
    PARQUET,
    latest_rows,
    read_without_journal,
    results_frame,
    table_file_problem,
)
from reports.style import SolverStyles, remember_problem_facts

__all__ = [
    "ERROR_METRICS",
    "Results",
    "ResultsRefused",
    "aggregate",
    "check_rows",
    "load_results",
    "parse_config",
    "pooled_spread",
    "power_law_exponent",
    "select_dims",
    "short_value",
    "natural_key",
]

# metrics reported as "value +- spread" (the schema's declarations); a metric's spread column
# (its standard deviation over sampling trials) is declared there where one exists
ERROR_METRICS = tuple(m.name for m in METRIC_TABLE)
_STD_COLUMNS = {m.name: m.spread for m in METRIC_TABLE if m.spread}
_KIND_COLUMNS = tuple(m.kind_column for m in METRIC_TABLE if m.kind_column)
# peak memory aggregates as the maximum over seeds (the machine must hold the worst run)
COST_MAX = ("peak_rss_mb", "peak_gpu_mb")
COST_MEAN = tuple(m.name for m in COST_TABLE if m.name not in COST_MAX)
NUMERIC = set(ERROR_METRICS) | set(_STD_COLUMNS.values()) | set(COST_MEAN) | set(COST_MAX) | {
    "d", "seed", "n_samples", "n_trials", "eval_seed", "n_eval_times", "threads", "wall_s"}

# solver options that never make a variant: the seed (seeds repeat one configuration) and
# what a run writes or its threads, which do not change what it computes
_RESOLVED_ONLY = {"seed", "threads", "checkpoint", "log_every", "sample_batch"}
# config keys that identify a run but not a configuration (seeds repeat one configuration)
_IDENTITY_KEYS = {"seed", "suite", "solver", "problem", "d", "evaluation.eval_seed",
                  "problem_overrides.d", "solver_options.seed"}


class ResultsRefused(ValueError):
    """A results table that must not be used as it is (an artifact path escaping DIR)."""


@dataclass
class Results:
    """A loaded results directory."""

    directory: Path
    table: pd.DataFrame                      # every row, schema columns + "variant", "_config"
    artifacts: dict[int, dict[str, Any]]     # row index -> parsed artifact JSON
    notes: list[str] = field(default_factory=list)  # what was missing or unreadable

    @property
    def ok(self) -> pd.DataFrame:
        return self.table[self.table["status"] == Status.OK]

    @cached_property
    def styles(self) -> SolverStyles:
        """Each solver's label, colour and order, from the rows' declared facts."""
        return SolverStyles.from_table(self.table)

    @property
    def suite(self) -> str:
        suites = [s for s in self.table["suite"].dropna().astype(str) if s]
        return pd.Series(suites).mode().iloc[0] if suites else "adhoc"


def parse_config(value: Any) -> dict[str, Any]:
    """The row's config column (a JSON string, or already a dict) as a dict; {} if unreadable."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value.strip():
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def load_results(results_dir: Path) -> Results:
    """Read the results table of ``results_dir`` and every row's artifact.

    Raises FileNotFoundError when there is no usable table (the one thing a report cannot do
    without), ResultsRefused when a row's artifact path leads outside ``results_dir``."""
    results_dir = Path(results_dir)
    table, notes = read_table(results_dir)
    check_rows(table, results_dir)
    table, trials = _without_tuning_trials(table)
    if trials:
        notes.append(f"{trials} tuning trial(s) (validation seeds) are left out of the "
                     "comparison; the Tuning section reports them (docs/tuning.md)")
    table = _normalise(table)
    root = results_dir.resolve()
    artifacts: dict[int, dict[str, Any]] = {}
    for idx, row in table.iterrows():
        path = row.get("artifact")
        if row["status"] != Status.OK or not isinstance(path, str) or not path:
            continue
        full = (results_dir / path).resolve()
        if root not in full.parents:
            raise ResultsRefused(
                f"{results_dir}: row {row.get('config_hash')} ({row['solver']} / "
                f"{row['problem']}) names the artifact {path!r}, which resolves to {full}, "
                "outside the results directory; refused")
        try:
            artifacts[idx] = json.loads(full.read_text())
        except FileNotFoundError:
            notes.append(f"artifact {path} ({row['solver']} / {row['problem']} d={row['d']}) "
                         "is missing; its time series are not plotted")
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            notes.append(f"artifact {path} is unreadable ({exc}); its time series are not plotted")
    # the row's config holds the suite's overrides only; the artifact has every option
    table["point_label"] = _point_labels(table, artifacts)
    return Results(results_dir, table, artifacts, notes)


def _numbers(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(the values as floats, where a value is present but not a number)."""
    present = values.notna() & (values.astype(str).str.strip() != "")
    numeric = pd.to_numeric(values.where(present), errors="coerce")
    return numeric, present & numeric.isna()


def check_rows(table: pd.DataFrame, where: Path) -> None:
    """Refuse (ResultsRefused, naming the first bad row) a table whose rows ``dsm-bench run``
    did not write: a status outside STATUSES, no solver or problem, a size that is not a
    positive integer, a seed or metric that is not a number, or no metric column at all (a
    table with only the identity columns)."""
    def refuse(i: int, what: str) -> None:
        row = table.iloc[i]
        name = row.get("config_hash")
        raise ResultsRefused(
            f"{where}: row {i + 1}" + (f" (config_hash {name})" if isinstance(name, str) else "")
            + f" {what}; not a row that `dsm-bench run` writes (remove it, or rerun the suite)")

    if table.empty:
        return
    status = table["status"].where(table["status"].notna(), "").astype(str)
    bad = ~status.isin(["", *STATUSES])
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        refuse(i, f"has status {status.iloc[i]!r} (valid: {', '.join(STATUSES)})")
    for column in ("solver", "problem"):
        text = table[column].where(table[column].notna(), "").astype(str).str.strip()
        if (text == "").any():
            refuse(int(np.flatnonzero(text == "")[0]), f"has no {column}")
    d, _ = _numbers(table["d"])
    bad = ~(np.isfinite(d) & (d >= 1) & (d == np.floor(d)))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        refuse(i, f"has d = {table['d'].iloc[i]!r} (a size is a positive integer)")
    columns = [c for c in ("seed", *ERROR_METRICS) if c in table]
    for column in columns:
        _, mistyped = _numbers(table[column])
        if mistyped.any():
            i = int(np.flatnonzero(mistyped)[0])
            refuse(i, f"has {column} = {table[column].iloc[i]!r}, not a number")
    if not any(c in table for c in ERROR_METRICS):
        raise ResultsRefused(
            f"{where}: the table has no metric column ({', '.join(ERROR_METRICS[:3])}, ...): "
            "a table with only the identity columns is not a results table that "
            "`dsm-bench run` writes")


def _without_tuning_trials(table: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The rows that are not trials of a study (``dsm-bench tune``): a trial is trained and
    scored on validation seeds to choose options, so it is no result of its own."""
    if "study" not in table.columns:
        return table, 0
    trial = table["study"].notna() & (table["study"].astype(str) != "")
    return table[~trial].reset_index(drop=True), int(trial.sum())


def read_table(results_dir: Path) -> tuple[pd.DataFrame, list[str]]:
    """(the raw results table, notes): the journal's last row per config hash where there is a
    journal (each broken table file noted), else results.parquet, else results.csv. Raises
    ResultsError (a FileNotFoundError) naming the file when there is no usable table."""
    journal = results_dir / JOURNAL
    if journal.exists():
        table = results_frame(list(latest_rows(journal).values()))
        notes = []
        for name in (PARQUET, CSV):
            problem = table_file_problem(results_dir / name, table)
            if problem:
                notes.append(f"{results_dir / name} {problem}: read {JOURNAL} instead (the next "
                             f"`dsm-bench run` on {results_dir} rewrites it)")
        return table, notes
    return read_without_journal(results_dir), []


def _normalise(table: pd.DataFrame) -> pd.DataFrame:
    """Every schema column present, numeric columns numeric, a parsed config and a variant."""
    table = table.reset_index(drop=True).copy()
    for column in COLUMNS:
        if column not in table.columns:
            table[column] = np.nan
    # plain float64 / object columns: the harness writes nullable Int64, boolean and string
    # dtypes whose pd.NA does not survive numpy arithmetic or truth tests
    for column in NUMERIC:
        table[column] = pd.to_numeric(table[column], errors="coerce").astype("float64")
    for column in table.columns:
        if column not in NUMERIC:
            table[column] = table[column].astype(object).where(table[column].notna(), None)
    for column in ("suite", "solver", "problem", "status", "message", "reference", "device",
                   *_KIND_COLUMNS, "artifact"):
        table[column] = table[column].fillna("").astype(str)
    table["status"] = table["status"].replace("", Status.FAILED)
    table["_config"] = [parse_config(c) for c in table["config"]]
    table["variant"] = _variant_labels(table)
    remember_problem_facts(table)
    return table


def _flat_configs(table: pd.DataFrame) -> list[dict[str, Any]]:
    """Each row's config flattened to dotted keys, without the keys that identify a run."""
    return [{k: v for k, v in flatten_config(c).items() if k not in _IDENTITY_KEYS}
            for c in table["_config"]]


def _differing_keys(configs: list[dict[str, Any]]) -> set[str]:
    """The keys whose values (a missing key counting as a value) differ among configs."""
    return {key for key in set().union(*configs)
            if len({json.dumps(c.get(key), sort_keys=True, default=str) for c in configs}) > 1}


def _resolved_options(table: pd.DataFrame) -> list[dict[str, Any]]:
    """Each row's solver options as run (its ``resolved_config``; {} where absent)."""
    out = []
    for value in table.get("resolved_config", pd.Series([None] * len(table))):
        solver = parse_config(value).get("solver")
        out.append(solver if isinstance(solver, dict) else {})
    return out


def _label_hook(solver: str):
    """The solver's ``variant_label`` (solvers.base.Solver's readable default for a solver
    that is not installed here, or whose own hook fails)."""
    from solvers.base import Solver

    try:
        from solvers.registry import solver_class

        own = solver_class(solver).variant_label
    except Exception:  # noqa: BLE001 - not installed or broken here: the rows still report
        return Solver.variant_label

    def label(options: dict[str, Any], context: dict[str, Any] | None) -> str:
        try:
            return str(own(options, context))
        except Exception:  # noqa: BLE001 - a plugin's label must not lose the report
            return Solver.variant_label(options, context)

    return label


def _variant_labels(table: pd.DataFrame) -> list[str]:
    """A short label for configurations of one solver that coexist at the same (problem, d).

    Seeds repeat a configuration; anything else that differs between rows of one
    (problem, d, solver), e.g. grad_div = exact vs hutchinson, splits them into variants. The
    distinguishing keys are collected per (problem, solver), so that a variant keeps its label
    across dimensions; keys that only change with d (a budget scaled with d) do not split
    lines. Solver options are compared with their values as run (an option left to its
    default and one set to the same value are one configuration) and named by the solver's
    ``variant_label``; other keys (evaluation settings, budgets) are added only where the
    options alone do not tell the variants apart.
    """
    flat = _flat_configs(table)
    resolved = _resolved_options(table)
    for i, options in enumerate(resolved):  # options as run, where the row records them
        for key, value in options.items():
            if f"solver_options.{key}" in flat[i] or key in _RESOLVED_ONLY:
                continue
            flat[i][f"solver_options.{key}"] = value
    labels = [""] * len(table)
    for (_, solver), group in table.groupby(["problem", "solver"], sort=False):
        keys: set[str] = set()
        for _, at_d in group.groupby("d", dropna=False, sort=False):
            keys |= _differing_keys([flat[i] for i in at_d.index])
        keys -= {f"solver_options.{k}" for k in _RESOLVED_ONLY}
        options = sorted(k for k in keys if k.startswith("solver_options."))
        others = sorted(k for k in keys if not k.startswith("solver_options."))
        hook = _label_hook(str(solver)) if options else None
        if options:
            options = _telling_keys(group, options, flat, _named_keys(hook, options, flat,
                                                                      resolved, group.index))
            told_apart = all(
                len({json.dumps([flat[i].get(k) for k in options], default=str)
                     for i in at_d.index})
                == len({json.dumps([flat[i].get(k) for k in keys], default=str)
                        for i in at_d.index})
                for _, at_d in group.groupby("d", dropna=False, sort=False))
            if told_apart:
                others = []
        for i in group.index:
            parts = []
            if hook is not None:
                shown = {k.removeprefix("solver_options."): flat[i].get(k) for k in options}
                parts.append(hook(shown, resolved[i] or None))
            parts += [f"{key.rsplit('.', 1)[-1]} = {short_value(flat[i].get(key))}" for key in others]
            labels[i] = ", ".join(p for p in parts if p)
    return labels


def _named_keys(hook, keys: list[str], flat: list[dict[str, Any]],
                resolved: list[dict[str, Any]], rows) -> set[str]:
    """The option keys the solver's ``variant_label`` names in its own words (its text for
    the option differs from the readable default's) at some row."""
    from solvers.base import Solver

    named = set()
    for key in keys:
        name = key.removeprefix("solver_options.")
        for i in rows:
            option = {name: flat[i].get(key)}
            if hook(option, resolved[i] or None) != Solver.variant_label(option, resolved[i]):
                named.add(key)
                break
    return named


def _telling_keys(group: pd.DataFrame, keys: list[str], flat: list[dict[str, Any]],
                  named: set[str]) -> list[str]:
    """The fewest of ``keys`` that tell the configurations at each d apart as all of them do,
    preferring keys the solver names (``_named_keys``): a label shows what distinguishes the
    variants, not every option that also differs. Configurations that differ only in a
    dropped key never meet at one d, so they form one line (as a setting that changes only
    with d does)."""
    def kinds(at_d: pd.DataFrame, subset) -> int:
        return len({json.dumps([flat[i].get(k) for k in subset], default=str)
                    for i in at_d.index})

    by_d = [at_d for _, at_d in group.groupby("d", dropna=False, sort=False)]
    ordered = sorted(keys, key=lambda k: (k not in named, k))
    for size in range(1, len(keys)):
        for subset in itertools.combinations(ordered, size):
            if all(kinds(at_d, subset) == kinds(at_d, keys) for at_d in by_d):
                return sorted(subset)
    return keys


def _point_labels(table: pd.DataFrame, artifacts: dict[int, dict[str, Any]] | None = None
                  ) -> list[str]:
    """What one line's configuration is at each of its points, when it changes along the line,
    in the solver's words.

    Keys that change only with d (so they do not split a line into variants; e.g. the suite's
    grad_div switch from exact to Hutchinson above d = 10, or a width raised at d = 100) are
    named for every row of the (problem, solver, variant) line through the solver's
    ``variant_label`` ("Hutchinson (1 probe)", not "grad_div=hutchinson"), with every option
    as run as its context; keys that are not solver options read "key = value"; "" for a line
    with one configuration throughout. A solver option that a row's config does not set is
    read from its artifact's full ``solver_config``, else from the row's options as run."""
    artifacts = artifacts or {}
    flat, resolved = _flat_configs(table), _resolved_options(table)
    labels = [""] * len(table)
    for (_, solver, _), line in table.groupby(["problem", "solver", "variant"], sort=False):
        keys = sorted(_differing_keys([flat[i] for i in line.index]))
        if not keys:
            continue
        hook = _label_hook(str(solver))
        for i in line.index:
            every = {**artifacts.get(i, {}).get("solver_config", {}), **resolved[i]}
            options = {k.removeprefix("solver_options."): flat[i].get(k, every.get(
                k.removeprefix("solver_options."))) for k in keys if k.startswith("solver_options.")}
            parts = [hook(options, every or None)] if options else []
            parts += [f"{k.rsplit('.', 1)[-1]} = {short_value(flat[i].get(k))}" for k in keys
                      if not k.startswith("solver_options.")]
            labels[i] = ", ".join(p for p in parts if p)
    return labels


def short_value(value: Any) -> str:
    """A value as a label shows it: 10,000; "default" for a key a row does not set."""
    if value is None:
        return "default"
    if isinstance(value, float) and value.is_integer() and abs(value) >= 1000:
        return f"{int(value):,}"
    if isinstance(value, int) and abs(value) >= 1000:
        return f"{value:,}"
    return str(value)


def pooled_spread(values: Iterable[float], stds: Iterable[float] | None = None) -> float:
    """The spread of a metric over seeds x sampling trials.

    With per-run values m_i (mean over trials) and trial spreads s_i, the law of total
    variance for an equal mixture of runs gives

        spread^2 = mean_i s_i^2 + mean_i (m_i - mean m)^2,

    which is the row's own *_std for a single run. Without trial spreads it is the sample
    standard deviation over seeds (NaN for a single run: no spread was measured).
    """
    v = np.asarray([x for x in values], dtype=float)
    s = None if stds is None else np.asarray([x for x in stds], dtype=float)
    finite = np.isfinite(v)
    if not finite.any():
        return math.nan
    if s is not None and np.isfinite(s[finite]).all():
        v, s = v[finite], s[finite]
        return float(np.sqrt(np.mean(s**2) + np.mean((v - v.mean()) ** 2)))
    v = v[finite]
    return float(np.std(v, ddof=1)) if len(v) > 1 else math.nan


def aggregate(table: pd.DataFrame, styles: SolverStyles | None = None) -> pd.DataFrame:
    """One row per (problem, d, solver, variant): metrics as mean over ok runs with their
    pooled spread (``<metric>_spread``), costs as mean over runs (peak memory: the maximum),
    and the run counts by status. Groups with no ok run keep NaN metrics and say why.
    Rows are ordered by problem registry, d, the solvers' order in ``styles`` (default: the
    table's own), then variant."""
    rows = []
    keys = ["problem", "d", "solver", "variant"]
    for (problem, d, solver, variant), group in table.groupby(keys, sort=False, dropna=False):
        ok = group[group["status"] == Status.OK]
        row: dict[str, Any] = {"problem": problem, "d": d, "solver": solver, "variant": variant,
                               "point_label": group["point_label"].iloc[0]}
        for metric in ERROR_METRICS:
            values = ok[metric]
            row[metric] = float(values.mean()) if values.notna().any() else math.nan
            std_col = _STD_COLUMNS.get(metric)
            row[f"{metric}_spread"] = pooled_spread(values, ok[std_col] if std_col else None)
        for kind in _KIND_COLUMNS:
            kinds = ok[kind].dropna().astype(str)
            row[kind] = kinds.iloc[0] if len(kinds) else ""
        for cost in COST_MEAN:
            row[cost] = float(ok[cost].mean()) if ok[cost].notna().any() else math.nan
        for cost in COST_MAX:
            row[cost] = float(ok[cost].max()) if ok[cost].notna().any() else math.nan
        for column in ("n_samples", "n_trials", "reference", "device"):
            values = ok[column].dropna()
            row[column] = values.iloc[0] if len(values) else None
        row["n_ok"] = len(ok)
        row["seeds"] = ",".join(str(int(s)) for s in sorted(ok["seed"].dropna().unique()))
        counts = group["status"].value_counts()
        row["status"] = "; ".join(f"{n} {s}" for s, n in counts.items())
        not_ok = group[group["status"] != Status.OK]
        row["message"] = not_ok["message"].iloc[0] if len(not_ok) else ""
        rows.append(row)
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    from reference.problems import problem_names

    styles = styles or SolverStyles.from_table(table)
    registry = problem_names()
    order = [
        ((registry.index(p) if p in registry else len(registry)), p, d if np.isfinite(d) else -1,
         styles.sort_key(s), natural_key(v))
        for p, d, s, v in zip(out["problem"], out["d"], out["solver"], out["variant"],
                              strict=True)
    ]
    out = out.iloc[sorted(range(len(out)), key=order.__getitem__)]
    return out.reset_index(drop=True)


def select_dims(dims, k: int = 3) -> list[int]:
    """At most k dimensions: all of them, or the smallest, a middle one and the largest."""
    dims = sorted({int(d) for d in dims if np.isfinite(d)})
    if len(dims) <= k:
        return dims
    return [dims[0], dims[len(dims) // 2], dims[-1]]


def power_law_exponent(d: np.ndarray, y: np.ndarray) -> float:
    """Least-squares slope p of log y = log c + p log d (cost ~ d^p); NaN with < 2 distinct
    dimensions or no positive values."""
    d, y = np.asarray(d, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(d) & np.isfinite(y) & (d > 0) & (y > 0)
    if len(np.unique(d[keep])) < 2:
        return math.nan
    slope, _ = np.polyfit(np.log(d[keep]), np.log(y[keep]), 1)
    return float(slope)


def natural_key(text: str) -> tuple:
    """Sort key that orders embedded numbers by value ("n=1_000" before "n=10_000")."""
    parts = re.split(r"(\d[\d_,]*(?:\.\d+)?)", text)
    return tuple((0, float(p.replace("_", "").replace(",", "").rstrip(",") or 0)) if i % 2
                 else (1, p) for i, p in enumerate(parts))
