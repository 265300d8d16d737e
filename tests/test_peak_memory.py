"""peak_rss_mb measures the run's own process, not the runner that started it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from solvers.base import peak_memory

ROOT = Path(__file__).parents[1]


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="Linux /proc only")
def test_a_started_process_does_not_inherit_its_parents_peak():
    """On Linux ru_maxrss survives fork + exec, so a run's process would report its runner's
    high-water mark (the standard suite's rows read the runner's 1,443-1,502 MiB whatever
    the solver). Here the parent touches 800 MiB, then starts a Python that imports only
    solvers.base (well under 400 MiB): the child must report its own peak."""
    ballast = np.ones(800 * 2**20 // 8)  # 800 MiB, touched
    parent_peak = peak_memory()[0]
    assert parent_peak > 800
    child = subprocess.run(
        [sys.executable, "-c", "from solvers.base import peak_memory; print(peak_memory()[0])"],
        cwd=ROOT, capture_output=True, text=True, check=True)
    # the child imports numpy/pandas-sized modules at most: far below the parent's 800 MiB
    assert float(child.stdout) < 400, (float(child.stdout), parent_peak)
    del ballast
