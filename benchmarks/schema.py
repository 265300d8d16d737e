"""The results table: one tidy row per (solver, problem, d, seed, config).

The column names are defined here once; the runner writes them, reports read them. Every
metric and cost column of PROBLEMS.md is present in every row (NaN / None where it does not
apply), so that a table with failed or infeasible rows has the same shape as a clean one.
"""

from __future__ import annotations

import json
from typing import Any

IDENTITY = [
    "suite",        # suite name ("" for a single `dsm-bench solve`)
    "solver",       # registry name: grid, dsm, oracle, pinn
    "problem",      # registry name
    "d",            # dimension (number of particles for bosons)
    "seed",         # training / solver seed
    "config_hash",  # sha256 prefix of the canonical JSON of `config`
    "config",       # JSON: solver options, problem overrides, budget, evaluation settings
    "resolved_config",  # JSON: every solver option and problem parameter as run (defaults in)
    "status",       # ok | failed | timeout | infeasible
    "message",      # error or infeasibility reason ("" when ok)
]

METRICS = [
    "mean_err", "mean_err_std", "mean_err_kind",  # kind: "relative" or "absolute" (ref == 0)
    "var_err", "var_err_std", "var_err_kind",
    "w1_err", "w1_err_std",
    "u_err", "v_err",
    "energy_drift",
    "com_mean_err", "com_mean_err_kind", "com_var_err",
    "var_err_brownian",  # free_singular: var error against the (wrong) Brownian spreading law
    "reference",         # exact | grid | none
    "n_samples", "n_trials", "eval_seed", "n_eval_times",
]

COST = [
    "train_s", "iters", "s_per_iter", "eval_s", "peak_rss_mb", "peak_gpu_mb", "n_params",
    "device", "dtype", "threads", "stop_reason",
]

PROVENANCE = [
    "git_commit", "git_dirty", "versions", "host", "python", "started_at", "finished_at",
    "wall_s", "artifact",  # artifact: path (relative to the results dir) of the run's JSON
]

COLUMNS = IDENTITY + METRICS + COST + PROVENANCE

STATUSES = ("ok", "failed", "timeout", "infeasible")


def flatten_config(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested config as dotted keys ({"a": {"b": 1}} -> {"a.b": 1}); lists become their
    JSON text, so that every value compares and hashes."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten_config(value, name + "."))
        else:
            out[name] = json.dumps(value, sort_keys=True) if isinstance(value, list) else value
    return out
