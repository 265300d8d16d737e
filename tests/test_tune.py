"""``dsm-bench tune``: search spaces on options, the seed split, pruning, bad input, and an
end-to-end study of DSM and the PINN that is killed, resumed on a Dask LocalCluster and
evaluated through a tuned suite that ``run`` accepts.

Real components throughout: Optuna's journal file, the runner's processes, a Dask
LocalCluster, the results journal on disk.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

optuna = pytest.importorskip("optuna")

from test_plugins import GOOD  # noqa: E402

from dsm_bench import cli  # noqa: E402
from dsm_bench.harness.suites import parse_suite  # noqa: E402
from dsm_bench.table import journal_rows  # noqa: E402
from dsm_bench.tuning.plan import plan_studies  # noqa: E402
from dsm_bench.tuning.pruning import PRUNER_ATTR, TrialPruned, pruning_monitor  # noqa: E402
from dsm_bench.tuning.seeds import (  # noqa: E402
    MONITOR_SEED,
    VALIDATION_BASE,
    evaluation_seed_errors,
    is_validation_seed,
    validation_seeds,
)
from dsm_bench.tuning.storage import load_study  # noqa: E402
from reference.options import Integer, IntRange, LogUniform, Option, Real  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

# a few iterations of each method: a trial costs about a process start-up and an evaluation
SUITE = """
name = "tt"
[defaults]
seeds = [0]
threads = 1
problem_overrides = { n_steps = 40 }
evaluation = { n_samples = 300, n_trials = 2, eval_seed = 0, n_eval_times = 6 }
limits = { timeout_s = 120, memory_mb = 3000 }
budget = { max_iters = 4, max_seconds = 2 }
[defaults.options.dsm]
width = 16
batch = 10
M = 10
device = "cpu"
[defaults.options.pinn]
width = 8
depth = 2
num_domain = 100
num_boundary = 10
lbfgs = 0
grid_points = 64
device = "cpu"
[[runs]]
solvers = ["dsm", "pinn", "oracle"]
problems = ["harmonic_1d"]
"""


def write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def cli_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def tune_cmd(suite: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "dsm_bench.cli", "tune", "--suite", str(suite), "--trials",
            "3", "--out", str(out), "--prune-every", "2", "--prune-startup", "1", *extra]


# ------------------------------------------------------------------ declarations
def test_a_space_outside_its_option_constraint_is_refused():
    Option(1e-3, Real(0, closed="neither"), space=LogUniform(1e-4, 1e-2))
    with pytest.raises(ValueError, match="not an integer >= 1"):
        Option(4, Integer(1), space=IntRange(0, 8))
    with pytest.raises(ValueError, match="need 0 < low < high"):
        LogUniform(0.0, 1.0)


def test_list_shows_the_declared_spaces(capsys):
    assert cli.main(["list", "--solver", "dsm"]) == 0
    out = capsys.readouterr().out
    assert "search space (dsm-bench tune):" in out
    assert "lr          log-uniform in [0.0001, 0.01]" in out and "grad_div" in out
    assert cli.main(["list", "--solver", "oracle"]) == 0
    assert "search space: none (not tuned)" in capsys.readouterr().out


# the exact packet of the plugin tests, made tunable: its option declares a search space
PLUGIN = GOOD.replace('Option(1, Integer(1, 3), "variance multiplier")',
                      'Option(2, Integer(1, 3), "variance multiplier", space=IntRange(1, 3))'
                      ).replace("import Integer, Option", "import Integer, IntRange, Option")


@pytest.mark.slow
def test_a_plugin_declares_its_space_the_same_way(tmp_path):
    plugin = write(tmp_path, PLUGIN, "scaled.py")
    suite = write(tmp_path, f"""
        name = "p"
        plugins = ["{plugin}"]
        [defaults]
        budget = {{ max_seconds = 1 }}
        evaluation = {{ n_samples = 200, n_trials = 2, n_eval_times = 6 }}
        problem_overrides = {{ n_steps = 40 }}
        [[runs]]
        solvers = ["exactpacket", "oracle"]
        problems = ["harmonic_1d"]
        """)
    # in processes of their own: a plugin loaded here would join every later test's registry
    listed = subprocess.run([sys.executable, "-m", "dsm_bench.cli", "list", "--solver",
                             "exactpacket", "--plugin", str(plugin)], env=cli_env(),
                            capture_output=True, text=True, timeout=300)
    assert "scale  integer in [1, 3] (default 2)" in listed.stdout, listed.stderr
    out = tmp_path / "out"
    tuned = subprocess.run([sys.executable, "-m", "dsm_bench.cli", "tune", "--suite", str(suite),
                            "--trials", "2", "--out", str(out), "--no-evaluate"],
                           env=cli_env(), capture_output=True, text=True, timeout=300)
    assert tuned.returncode == 0, tuned.stdout + tuned.stderr
    assert "oracle: skipped, it declares no search space" in tuned.stdout
    study = load_study(out, "exactpacket/harmonic_1d/d=1")
    assert [t.number for t in study.trials] == [0, 1]
    assert all(t.params["scale"] in (1, 2, 3) for t in study.trials)


# ------------------------------------------------------------------ the seed split
def test_validation_and_evaluation_seeds_never_coincide():
    suite = parse_suite({
        "name": "s", "defaults": {"seeds": [0, 1, 2, VALIDATION_BASE - 1],
                                  "budget": {"max_seconds": 1.0}},
        "runs": [{"solvers": ["dsm", "pinn"], "problems": ["harmonic_1d"],
                  "evaluation": {"eval_seed": 0, "n_trials": 3}}]})
    plans, _ = plan_studies(suite)
    evaluation = {r.seed for p in plans for r in p.runs}
    sampling = {r.evaluation["eval_seed"] + k for p in plans for r in p.runs for k in range(3)}
    for plan in plans:
        trial = plan.run_with({}, 0, prune_every=0)
        spec = trial.to_spec()
        assert spec.seed not in evaluation | sampling
        draws = {spec.evaluation["eval_seed"] + k for k in range(spec.evaluation["n_trials"])}
        assert not draws & (evaluation | sampling)
        assert spec.study == plan.name and spec.trial == 0
    # every validation pair lies at or above the base; an evaluation seed there is refused
    for index in range(1000):
        assert min(validation_seeds(index)) >= VALIDATION_BASE
    assert evaluation_seed_errors([VALIDATION_BASE - 1], [0], [10]) == []
    assert evaluation_seed_errors([VALIDATION_BASE], [0])
    assert evaluation_seed_errors([0], [VALIDATION_BASE - 2], [3])  # its trials reach it
    # the training monitor, which the pruner reads, samples a validation draw too
    assert is_validation_seed(MONITOR_SEED)


# ------------------------------------------------------------------ pruning
def test_the_monitor_prunes_a_trial_worse_than_the_median(tmp_path):
    from dsm_bench.harness.references import reference_for
    from dsm_bench.harness.single_run import _training_monitor
    from reference.problems import get_problem
    from solvers import get_solver

    study = load_study(tmp_path, "oracle/harmonic_1d/d=1")
    study.set_user_attr(PRUNER_ATTR, {"startup_trials": 1, "warmup_steps": 0})
    first = study.ask()
    first.report(1e-9, 0)  # an earlier trial with a (much) better monitored error
    study.tell(first, 1e-9)
    second = study.ask()
    problem = get_problem("harmonic_1d", n_steps=40)
    solution = get_solver("oracle").run(problem)
    monitor = pruning_monitor(study.study_name, second.number,
                              _training_monitor(problem, *reference_for(problem)), tmp_path)
    with pytest.raises(TrialPruned, match="pruned at iteration 0") as raised:
        monitor(solution)
    assert raised.value.stop_reason == "pruned"
    frozen = load_study(tmp_path, study.study_name).trials[second.number]
    assert list(frozen.intermediate_values) == [0]


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("case, argv, needle", [
    ("zero trials", ["--trials", "0"], "--trials must be an integer >= 1 (got 0)"),
    ("unknown metric", ["--trials", "2", "--metric", "speed"], "valid metrics: mean_err"),
    ("unknown solver", ["--trials", "2"], "valid solvers:"),
    ("no space", ["--trials", "2", "--only", "solver=oracle"], "no solver with a search space"),
    ("unequal budgets", ["--trials", "2", "--only", "problem=harmonic_1d"],
     "the trials' training budgets differ (dsm 2 s, pinn 3 s)"),
])
def test_bad_input_exits_2_naming_the_valid_choices(tmp_path, capsys, case, argv, needle):
    text = SUITE
    if case == "unknown solver":
        text = text.replace('["dsm", "pinn", "oracle"]', '["dsm", "dsmm"]')
    if case == "unequal budgets":
        text += ('[[runs]]\nsolvers = ["pinn"]\nproblems = ["harmonic_1d"]\n'
                 'budget = { max_seconds = 3 }\n')
        text = text.replace('solvers = ["dsm", "pinn", "oracle"]', 'solvers = ["dsm", "oracle"]')
    out = tmp_path / "out"
    code = cli.main(["tune", "--suite", str(write(tmp_path, text)), "--out", str(out), *argv])
    err = capsys.readouterr().err
    assert code == 2, err
    assert needle in err and len(err.strip().splitlines()) <= 3  # the suite's lines at most
    assert "Traceback" not in err
    assert not (out / "tuning").exists()  # nothing written


# ------------------------------------------------------------------ end to end
def _wait_for_trial_row(journal: Path, proc: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if journal.exists() and any(r.get("study") for r in journal_rows(journal)):
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    raise AssertionError("no trial finished in time")


@pytest.mark.slow
def test_a_study_resumes_after_a_kill_runs_on_dask_and_writes_a_suite_run_accepts(tmp_path):
    suite, out = write(tmp_path, SUITE), tmp_path / "out"
    # 1. the driver, killed (SIGKILL) once a trial has its row: its run in flight dies with it
    first = subprocess.Popen(tune_cmd(suite, out, "--no-evaluate"), env=cli_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    _wait_for_trial_row(out / "results.jsonl", first)
    first.kill()
    first.communicate()
    assert first.returncode == -signal.SIGKILL
    killed_rows = len([r for r in journal_rows(out / "results.jsonl") if r.get("study")])
    assert 1 <= killed_rows < 6

    # 2. the same command on a Dask LocalCluster of two workers finishes the studies
    second = subprocess.run(tune_cmd(suite, out, "--executor", "dask", "--jobs", "2"),
                            env=cli_env(), capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stdout + second.stderr
    rows = [r for r in journal_rows(out / "results.jsonl") if r.get("study")]
    for name in ("dsm/harmonic_1d/d=1", "pinn/harmonic_1d/d=1"):
        numbers = [r["trial"] for r in rows if r["study"] == name]
        assert sorted(numbers) == [0, 1, 2], numbers  # each trial once: none repeated or lost
        study = load_study(out, name)
        assert [t.number for t in study.trials] == [0, 1, 2]
        assert all(t.state.is_finished() for t in study.trials)
        assert all(t.user_attrs["config_hash"] for t in study.trials)
    # trials are trained and sampled on validation seeds only
    for row in rows:  # a pruned or failed row keeps its settings in its config
        config = json.loads(row["config"])
        assert min(config["seed"], config["evaluation"]["eval_seed"]) >= VALIDATION_BASE
    # the resumed trials ran on Dask, two at a time (their run times overlap)
    on_dask = [r for r in rows[killed_rows:] if r["executor"] == "dask"]
    assert len(on_dask) == 6 - killed_rows
    spans = sorted((pd.Timestamp(r["started_at"]), pd.Timestamp(r["finished_at"]))
                   for r in on_dask)
    assert any(b[0] < a[1] for a, b in zip(spans, spans[1:], strict=False)), spans

    # 3. the tuned suite: default, tuned and the floor on the evaluation seeds, then `run`
    summary = json.loads((out / "tuning" / "summary.json").read_text())
    table = pd.read_parquet(out / "results.parquet")
    evaluated = table[table["study"].isna()]
    assert set(evaluated["seed"]) == {0} and set(evaluated["eval_seed"]) == {0}
    for entry in summary.values():
        hashes = entry["default_hashes"] + entry["tuned_hashes"] + entry["floor_hashes"]
        assert set(hashes) <= set(evaluated["config_hash"])
    again = subprocess.run([sys.executable, "-m", "dsm_bench.cli", "run", "--suite",
                            str(out / "tuned.toml"), "--out", str(out), "--no-report"],
                           env=cli_env(), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    n_runs = len(set(h for e in summary.values() for k in ("default_hashes", "tuned_hashes",
                                                          "floor_hashes") for h in e[k]))
    assert f"{n_runs} runs, {n_runs} already done" in again.stdout

    # 4. the report's section: one row per study, with the hours of every trial
    from dsm_bench.tuning.report import tuning_section

    section = tuning_section(out)
    assert list(section.table["trials"]) == [3, 3]
    assert (section.table["cpu_hours"] > 0).all()
    assert all(p.is_file() for p in section.figures)
    # ... and in the suite's report, where the trials are no rows of the comparison
    from reports.build import build_report
    from reports.data import load_results

    report = build_report(out, tmp_path / "report")
    text = (report / "report.md").read_text()
    assert "### Tuning" in text and "figures/tuning_history.png" in text
    assert (report / "figures" / "tuning_history.pdf").is_file()
    assert load_results(out).table["study"].isna().all()


def test_a_dead_trial_is_failed_and_a_pruned_one_pruned_in_the_study(tmp_path, capsys):
    from dsm_bench.harness.executor import LocalProcessExecutor
    from dsm_bench.harness.single_run import failed_row
    from dsm_bench.schema import Status
    from dsm_bench.tuning.driver import TuneSettings, _Driver

    suite = parse_suite({"name": "s", "defaults": {"budget": {"max_seconds": 1.0}},
                         "runs": [{"solvers": ["dsm"], "problems": ["harmonic_1d"]}]})
    plans, _ = plan_studies(suite)
    driver = _Driver(plans, suite, tmp_path, TuneSettings(trials=2, metric="var_err_pooled"),
                     LocalProcessExecutor(), verbose=False)
    driver.open()
    plan, run = driver.next_run()
    dead = failed_row(run.to_spec(), Status.FAILED, "run process killed by SIGKILL", wall_s=3.5)
    driver.tell(plan, run.trial, dead)
    plan, run = driver.next_run()
    pruned = failed_row(run.to_spec(), Status.FAILED, "TrialPruned: ...", wall_s=2.0,
                        stop_reason="pruned")
    driver.tell(plan, run.trial, pruned)
    assert driver.next_run() is None  # both trials asked: the study is full
    first, second = load_study(tmp_path, plan.name).trials
    assert first.params == plan.default_params() and first.user_attrs["default"]  # trial 0
    assert first.state == optuna.trial.TrialState.FAIL
    assert first.user_attrs["message"] == "run process killed by SIGKILL"
    assert first.user_attrs["wall_s"] == 3.5 and first.user_attrs["status"] == "failed"
    assert second.state == optuna.trial.TrialState.PRUNED and second.user_attrs["wall_s"] == 2.0
    assert "trial 0: fail" in capsys.readouterr().out
