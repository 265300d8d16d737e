"""The tuning's report: default against tuned per study, and what the studies say about the
hyperparameters (Optuna's importances and optimisation history) as figures.

``tuning_section(DIR)`` reads DIR's results table, ``DIR/tuning/summary.json`` and the
studies' journal, writes ``DIR/tuning/tuning.csv`` and ``DIR/tuning/figures/*.png``, and
returns them with a Markdown section (each figure also as a vector PDF beside its PNG).
Every number comes from the rows: the default and tuned errors from the rows of the tuned
suite (evaluation seeds), the trials and the hours
each solver got from the rows of its trials (pruned and failed ones included: a pruned
trial's seconds count against its solver). Importances are Optuna's fANOVA (seeded), which
needs two completed trials; the figures are drawn with matplotlib.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from dsm_bench.harness.store import load_table
from dsm_bench.tuning.objective import objective_value
from dsm_bench.tuning.storage import TUNING_DIR, load_study
from dsm_bench.tuning.tuned import SUMMARY

__all__ = ["TuningSection", "tuning_section"]


@dataclass
class TuningSection:
    table: pd.DataFrame  # one row per study (tuning.csv)
    importances: dict[str, dict[str, float]]  # study -> option -> importance (sums to 1)
    figures: list[Path] = field(default_factory=list)
    markdown: str = ""


def _mean_objective(rows: pd.DataFrame, hashes: list[str], metric: str) -> float:
    values = [objective_value(r, metric)[0] for r in
              rows[rows["config_hash"].isin(hashes)].to_dict("records")]
    values = [v for v in values if v is not None]
    return float(sum(values) / len(values)) if values else math.nan


def _cpu_hours(rows: pd.DataFrame) -> float:
    threads = rows["threads"].fillna(1).astype(float)
    return float((rows["wall_s"].fillna(0).astype(float) * threads).sum() / 3600)


def _importances(study: Any) -> dict[str, float]:
    import optuna

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if len(complete) < 2:
        return {}
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
    return dict(optuna.importance.get_param_importances(study, evaluator=evaluator))


def _study_row(name: str, entry: dict[str, Any], study: Any, rows: pd.DataFrame
               ) -> dict[str, Any]:
    metric = entry["metric"]
    states = pd.Series([t.state.name.lower() for t in study.get_trials(deepcopy=False)])
    trial_rows = rows[rows["study"] == name]
    default = _mean_objective(rows, entry["default_hashes"], metric)
    tuned = _mean_objective(rows, entry["tuned_hashes"], metric)
    floor = _mean_objective(rows, entry.get("floor_hashes", []), metric)
    return {
        "study": name, "solver": entry["solver"], "problem": entry["problem"], "d": entry["d"],
        "metric": metric, "trials": len(states),
        "complete": int((states == "complete").sum()), "pruned": int((states == "pruned").sum()),
        "failed": int((states == "fail").sum()),
        "trial_seconds": entry["budget"].get("max_seconds"),
        "cpu_hours": _cpu_hours(trial_rows),
        "default": default, "tuned": tuned, "floor": floor,
        "default_excess": default - floor, "tuned_excess": tuned - floor,
        "best_trial": entry["best_trial"], "best_validation": entry["best_value"],
        "best_params": json.dumps(entry["params"], sort_keys=True),
    }


def _figures(studies: dict[str, Any], importances: dict[str, dict[str, float]], where: Path
             ) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna
    from matplotlib.ticker import MaxNLocator

    where.mkdir(parents=True, exist_ok=True)
    n = len(studies)
    paths = []
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.2), squeeze=False)
    for ax, (name, study) in zip(axes[0], studies.items(), strict=True):
        done = [t for t in study.get_trials(deepcopy=False) if t.value is not None]
        for state, marker in ((optuna.trial.TrialState.COMPLETE, "o"),
                              (optuna.trial.TrialState.PRUNED, "x")):
            pts = [(t.number, t.value) for t in done if t.state == state]
            if pts:
                ax.plot(*zip(*pts, strict=True), marker, label=state.name.lower(), ls="none")
        complete = sorted((t.number, t.value) for t in done
                          if t.state == optuna.trial.TrialState.COMPLETE)
        if complete:
            best = pd.Series([v for _, v in complete]).cummin()
            ax.step([k for k, _ in complete], best, where="post", label="best so far")
        ax.set(title=name, xlabel="trial", ylabel="objective (validation seeds)", yscale="log")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=7)
    fig.tight_layout()
    paths.append(where / "tuning_history.png")
    fig.savefig(paths[-1], dpi=120)
    fig.savefig(paths[-1].with_suffix(".pdf"))  # vector, for a paper
    plt.close(fig)

    shown = {k: v for k, v in importances.items() if v}
    if shown:
        fig, axes = plt.subplots(1, len(shown), figsize=(4.2 * len(shown), 3.2), squeeze=False)
        for ax, (name, values) in zip(axes[0], shown.items(), strict=True):
            keys = list(values)[::-1]
            ax.barh(keys, [values[k] for k in keys])
            ax.set(title=name, xlabel="importance (fANOVA)")
        fig.tight_layout()
        paths.append(where / "tuning_importances.png")
        fig.savefig(paths[-1], dpi=120)
        fig.savefig(paths[-1].with_suffix(".pdf"))
        plt.close(fig)
    return paths


def _markdown(table: pd.DataFrame, importances: dict[str, dict[str, float]]) -> str:
    lines = ["## Tuning: default against tuned", "",
             "Each method got the same trials and the same training seconds per trial; the "
             "default and tuned rows are fresh runs on the evaluation seeds, which the trials "
             "never used (docs/tuning.md).", "",
             "| study | trials (complete / pruned / failed) | s per trial | CPU h | default "
             "| tuned | floor | top options |", "|---|---|---|---|---|---|---|---|"]
    for r in table.to_dict("records"):
        top = ", ".join(f"{k} {v:.2f}" for k, v in list(importances.get(r["study"], {})
                                                        .items())[:3]) or "n/a"
        lines.append(f"| {r['study']} | {r['trials']} ({r['complete']} / {r['pruned']} / "
                     f"{r['failed']}) | {r['trial_seconds']:g} | {r['cpu_hours']:.3f} | "
                     f"{r['default']:.4g} | {r['tuned']:.4g} | {r['floor']:.4g} | {top} |")
    return "\n".join(lines) + "\n"


def tuning_section(out_dir: str | Path) -> TuningSection | None:
    """The tuning section of results directory ``out_dir`` (None when it holds no tuning):
    the table (also written to ``tuning/tuning.csv``), importances, figures and Markdown."""
    out_dir = Path(out_dir)
    summary_path = out_dir / TUNING_DIR / SUMMARY
    if not summary_path.is_file():
        return None
    summary = json.loads(summary_path.read_text())
    rows, _ = load_table(out_dir)
    studies = {name: load_study(out_dir, name) for name in summary}
    importances = {name: _importances(study) for name, study in studies.items()}
    table = pd.DataFrame([_study_row(name, entry, studies[name], rows)
                          for name, entry in summary.items()])
    table.to_csv(out_dir / TUNING_DIR / "tuning.csv", index=False)
    figures = _figures(studies, importances, out_dir / TUNING_DIR / "figures")
    return TuningSection(table, importances, figures, _markdown(table, importances))
