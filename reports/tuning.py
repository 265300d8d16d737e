"""The report's Tuning section: default against tuned per study, with the trials and hours
each method got, and Optuna's history and importances (``dsm_bench.tuning.report``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from reports import document as doc_

__all__ = ["tuning_blocks"]

_CAPTION = ("Each tuned method got the same number of trials and the same training seconds "
            "per trial; the default and tuned columns are fresh runs on the evaluation seeds, "
            "which no trial used, and the floor is the oracle's on the same seeds "
            "(docs/tuning.md). CPU h counts every trial, pruned and failed ones included.")


def _display(table: pd.DataFrame, importances: dict[str, dict[str, float]]) -> pd.DataFrame:
    def top(study: str) -> str:
        ranked = list(importances.get(study, {}).items())[:3]
        return ", ".join(f"{k} ({v:.2f})" for k, v in ranked) or "n/a (< 2 complete trials)"

    return pd.DataFrame({
        "solver": table["solver"], "problem": table["problem"], "d": table["d"],
        "metric": table["metric"],
        "trials (complete / pruned / failed)": [
            f"{r.trials} ({r.complete} / {r.pruned} / {r.failed})" for r in table.itertuples()],
        "s per trial": table["trial_seconds"], "CPU h": table["cpu_hours"].map("{:.3f}".format),
        "default": table["default"].map("{:.3g}".format),
        "tuned": table["tuned"].map("{:.3g}".format),
        "floor": table["floor"].map("{:.3g}".format),
        "most important options": [top(s) for s in table["study"]],
    })


def tuning_blocks(results_dir: Path, out_dir: Path, number: int) -> list:
    """The section's blocks (empty when ``results_dir`` holds no tuning); figures are
    numbered from ``number + 1`` and copied into ``out_dir/figures``."""
    try:
        from dsm_bench.tuning.report import tuning_section
    except ImportError as exc:  # optuna is the [tune] extra
        if (Path(results_dir) / "tuning").is_dir():
            return [doc_.Paragraph(f"The tuning in this directory is not reported: {exc} "
                                   "(pip install 'dsm-bench[tune]').")]
        return []
    section = tuning_section(results_dir)
    if section is None or section.table.empty:
        return []
    tables = out_dir / "tables"
    tables.mkdir(parents=True, exist_ok=True)
    section.table.to_csv(tables / "tuning.csv", index=False)
    blocks: list = [doc_.TableBlock("Default against tuned", _CAPTION,
                                    _display(section.table, section.importances),
                                    ["tables/tuning.csv"])]
    figures = out_dir / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    titles = {"tuning_history": ("Optimisation history",
                                 "Each trial's objective on the validation seeds (dots: complete, "
                                 "crosses: pruned at their last report) and the best so far."),
              "tuning_importances": ("Hyperparameter importances",
                                     "Optuna's fANOVA importances (seeded) of each tuned "
                                     "option, per study; they sum to 1.")}
    for png in section.figures:
        title, caption = titles.get(png.stem, (png.stem, ""))
        for path in (png, png.with_suffix(".pdf")):
            if path.exists():
                shutil.copy2(path, figures / path.name)
        number += 1
        blocks.append(doc_.FigureBlock(number, title, caption, f"figures/{png.name}",
                                       f"figures/{png.with_suffix('.pdf').name}"))
    return blocks
