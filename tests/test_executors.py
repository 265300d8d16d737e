"""Executor selection and settings: bad input exits 2 before anything is written; --dry-run.

The engines themselves run in test_dask.py and test_slurm.py; here only what needs none.
"""

from __future__ import annotations

import argparse

import pytest
from tiny_suite import ORACLE_AND_GRID
from tiny_suite import write_suite as write_tiny_suite

from dsm_bench.harness.executors import ExecutorError, load_executor_config, needs_gpu
from dsm_bench.harness.executors.slurm import SLURM_KEYS, _megabytes, _minutes
from dsm_bench.harness.runner import configure_parser, main
from dsm_bench.harness.suites import load_suite


def args_for(tmp_path, *extra: str) -> argparse.Namespace:
    suite = tmp_path / "t.toml"
    if not suite.exists():
        write_tiny_suite(tmp_path, ORACLE_AND_GRID)
    parser = argparse.ArgumentParser()
    configure_parser(parser)
    return parser.parse_args(["--suite", str(suite), "--out", str(tmp_path / "out"), *extra])


def test_unknown_slurm_key_exits_2_naming_the_valid_keys(tmp_path, capsys):
    config = tmp_path / "slurm.toml"
    config.write_text('[executor.slurm]\npartition = "gpu"\nwalltime = 60\n')
    code = main(args_for(tmp_path, "--executor", "slurm", "--executor-config", str(config)))
    err = capsys.readouterr().err
    assert code == 2
    assert "walltime" in err and all(key in err for key in SLURM_KEYS)
    assert not (tmp_path / "out").exists()


def test_missing_sbatch_exits_2_before_anything_is_written(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH without Slurm's commands
    code = main(args_for(tmp_path, "--executor", "slurm"))
    assert code == 2
    assert "sbatch" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_unreachable_scheduler_exits_2_before_anything_is_written(tmp_path, capsys):
    pytest.importorskip("distributed")
    config = tmp_path / "dask.toml"
    config.write_text("[executor.dask]\nconnect_timeout_s = 1\n")
    # port 9 (discard) on localhost: nothing listens there
    code = main(args_for(tmp_path, "--executor", "dask", "--scheduler", "tcp://127.0.0.1:9",
                         "--executor-config", str(config)))
    err = capsys.readouterr().err
    assert code == 2
    assert "cannot reach the Dask scheduler tcp://127.0.0.1:9" in err
    assert not (tmp_path / "out").exists()


def test_scheduler_without_dask_and_bad_values_exit_2(tmp_path, capsys):
    assert main(args_for(tmp_path, "--scheduler", "tcp://127.0.0.1:9")) == 2
    assert "--scheduler is a setting of --executor dask" in capsys.readouterr().err
    config = tmp_path / "slurm.toml"
    for bad, named in (('time = "soon"', "time"), ('mem = "lots"', "mem"),
                       ("cpus_per_task = 0", "cpus_per_task"), ('cluster = "pbs"', "cluster")):
        config.write_text(f"[executor.slurm]\n{bad}\n")
        assert main(args_for(tmp_path, "--executor", "slurm", "--executor-config",
                             str(config))) == 2
        assert named in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_config_file_overrides_the_suite_table(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('[executor.slurm]\naccount = "mine"\n')
    suite_tables = {"slurm": {"partition": "gpu", "account": "theirs"}}
    assert load_executor_config(config, suite_tables, "slurm") == {
        "partition": "gpu", "account": "mine"}
    config.write_text('[slurm]\nqos = "high"\n')  # a bare [slurm] table is read the same
    assert load_executor_config(config, {}, "slurm") == {"qos": "high"}
    with pytest.raises(ExecutorError, match="not valid TOML"):
        config.write_text("[slurm\n")
        load_executor_config(config, {}, "slurm")


def test_slurm_time_and_memory_formats():
    # Slurm's own formats, rounded up to whole minutes / megabytes
    assert [_minutes(v, "t") for v in (90, "90", "01:30:00", "1-00:00:00", "10:30")] == [
        90, 90, 90, 1440, 11]
    assert [_megabytes(v, "m") for v in (4000, "4000M", "16G", "1.5G")] == [
        4000, 4000, 16384, 1536]


def test_gpu_runs_are_those_on_cuda_or_on_auto_where_the_settings_say_so():
    suite = load_suite("paper")
    dsm = next(r for r in suite.runs if r.solver == "dsm")
    grid = next(r for r in suite.runs if r.solver == "grid")
    assert dsm.solver_options["device"] == "auto"
    assert not needs_gpu(dsm) and needs_gpu(dsm, gpu_for_auto=True)
    assert not needs_gpu(grid, gpu_for_auto=True)  # no device option: a CPU run


def test_dry_run_prints_arrays_and_hours_and_writes_nothing(tmp_path, capsys):
    config = tmp_path / "slurm.toml"
    config.write_text("[executor.slurm]\ngpu_for_auto = true\n")
    code = main(args_for(tmp_path, "--executor", "slurm", "--dry-run",
                         "--executor-config", str(config)))
    text = capsys.readouterr().out
    assert code == 0
    assert "2 runs to submit" in text and "1 job array(s)" in text
    # 2 CPU runs, each booked for its 60 s limit + the 120 s job margin = 3 min
    assert "mem=2512M time=3min gpus_per_node=0" in text
    assert "CPU hours budget 0.0 (reserved 0.1)" in text
    assert not (tmp_path / "out").exists()
