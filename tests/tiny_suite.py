"""The tiny suite the harness tests run: name "t", one thread, 50 time steps, 2 trials x 400
samples at 11 times, so that a run costs about a process start-up. Imported by the test
modules (pytest puts tests/ on the path)."""

from __future__ import annotations

import textwrap
from pathlib import Path


def header(timeout_s: int = 60, memory_mb: int = 2000) -> str:
    """The suite's name and [defaults] table, with the per-run limits."""
    return f"""
    name = "t"
    [defaults]
    threads = 1
    problem_overrides = {{ n_steps = 50 }}
    evaluation = {{ n_samples = 400, n_trials = 2, n_eval_times = 11 }}
    limits = {{ timeout_s = {timeout_s}, memory_mb = {memory_mb} }}
"""


# the oracle (exact drift: sampled metrics) and the grid (deterministic) on harmonic_1d
ORACLE_AND_GRID = """
    [[runs]]
    solvers = ["oracle", "grid"]
    problems = ["harmonic_1d"]
"""


def write_suite(tmp_path: Path, groups: str, head: str | None = None,
                name: str = "t.toml") -> Path:
    """``head`` (default: ``header()``) and the ``[[runs]]`` groups as a TOML file."""
    path = tmp_path / name
    path.write_text(textwrap.dedent(header() if head is None else head)
                    + textwrap.dedent(groups))
    return path
