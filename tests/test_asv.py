"""asv: the configuration and the benchmarks are discoverable and a cheap one runs.

asv writes its machine file to ~/.asv-machine.json, so HOME points at a temporary directory
(the developer's own machine description stays untouched).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("asv") is None, reason="asv is not installed")


def _asv(args: list[str], home: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "HOME": str(home)}
    return subprocess.run(["asv", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_config_points_at_the_benchmarks():
    # asv.conf.json allows // comments
    text = re.sub(r"^\s*//.*$", "", (ROOT / "asv.conf.json").read_text(), flags=re.M)
    conf = json.loads(text)
    assert conf["benchmark_dir"] == "benchmarks"
    assert conf["environment_type"] == "existing"
    assert conf["results_dir"].startswith(".asv") and conf["html_dir"].startswith(".asv")


@pytest.mark.slow
def test_asv_discovers_and_runs_a_cheap_benchmark(tmp_path):
    machine = _asv(["machine", "--yes"], tmp_path)
    assert machine.returncode == 0, machine.stdout + machine.stderr
    check = _asv(["check", "--python=same"], tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "No problems found" in check.stdout
    # one parameter combination: the oracle on harmonic_1d (a solve without training)
    run = _asv(["run", "--python=same", "--quick", "--dry-run", "--show-stderr", "--bench",
                r"Solve.time_solve\('oracle', 'harmonic_1d', 1\)"], tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "bench_solvers.Solve.time_solve" in run.stdout and "failed" not in run.stdout
