"""Install an example plugin package (examples/NAME) as a user would, into a temporary
folder that the commands find on PYTHONPATH, so the test environment itself is left as it
was; and run the command line in that environment. Imported by the example plugins' tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def install_example(name: str, workdir: Path) -> dict[str, str]:
    """pip-install examples/``name`` under ``workdir``; the environment that finds it."""
    target, source = workdir / "site", workdir / "src" / name
    shutil.copytree(ROOT / "examples" / name, source,
                    ignore=shutil.ignore_patterns("build", "*.egg-info"))
    build = subprocess.run(  # built from a copy: setuptools leaves build/ where it builds
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(source)],
        capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stdout + build.stderr
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), str(ROOT)])}


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dsm_bench.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)
