"""The report's tables: tables/<name>.csv (numbers, full precision) and tables/<name>.tex
(booktabs, hand-written so that no template engine is needed), plus the display frames that
report.md / report.html show.

Main table: one row per (problem, d, solver, configuration variant), mean_err and var_err as
"mean ± spread" (spread pooled over seeds and sampling trials, ``reports.data.pooled_spread``),
training time, time per iteration and peak memory; a sampling floor (a solver declared
``is_floor``) is its own row; beside them, the authors' published figures
(``reports.published``), which were not rerun here. Solver labels are the rows' declared facts
(``reports.style.SolverStyles``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dsm_bench.pooled import Excess
from reports.data import power_law_exponent
from reports.published import published_for
from reports.style import FLOOR_WORDS, SolverStyles

__all__ = ["Table", "build_tables", "excess_of", "format_excess", "format_pm", "format_number",
           "latex_table"]


def format_number(value: Any, digits: int = 3) -> str:
    """Three significant digits; "–" for missing (NaN / None)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    value = float(value)
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        return f"{value:.{digits - 1}e}"
    return f"{value:.{digits}g}"


def format_pm(value: Any, spread: Any, digits: int = 3) -> str:
    """ "value ± spread" (the spread omitted where none was measured, or where it is 0)."""
    text = format_number(value, digits)
    # a deterministic method's spread over sampling trials is exactly 0: nothing to show
    if text == "–" or spread is None or not np.isfinite(float(spread)) or float(spread) == 0:
        return text
    return f"{text} ± {format_number(spread, 2)}"


def excess_of(row: dict[str, Any], moment: str) -> Excess | None:
    """The row's excess of ``moment``_err_pooled over the floor (``reports.excess``), or None
    where none was computed."""
    value = row.get(f"{moment}_excess")
    if value is None or not np.isfinite(float(value)):
        return None
    return Excess(float(value), float(row[f"{moment}_excess_lo"]),
                  float(row[f"{moment}_excess_hi"]))


def format_excess(row: dict[str, Any], moment: str) -> str:
    """ "value [lo, hi]", a dagger where the interval contains 0 (not distinguishable from
    the floor); the value alone without an interval (one trial); "–" without an excess."""
    excess = excess_of(row, moment)
    if excess is None:
        return "–"
    if not np.isfinite(excess.lo):
        return format_number(excess.value)
    text = (f"{format_number(excess.value, 2)} "
            f"[{format_number(excess.lo, 2)}, {format_number(excess.hi, 2)}]")
    return text if excess.resolved else f"{text} †"


@dataclass
class Table:
    name: str
    title: str
    caption: str
    numbers: pd.DataFrame   # written to CSV
    display: pd.DataFrame   # formatted strings, shown in the report and in the .tex
    group_header: list[tuple[str, int]] | None = None  # (label, span) over display columns


def _published_display(problem: str, d: int, solver: str, metric: str) -> str:
    pub = published_for(problem, d, solver)
    if not pub or metric not in pub:
        return ""
    text = format_pm(pub[metric], pub.get(f"{metric}_spread"))
    return f"≈ {text}" if metric in pub.get("approx", ()) else text


def _shorten(text: str, limit: int = 90) -> str:
    """A one-line excerpt for table cells (tables/runs.csv keeps the full message)."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _solver_cells(styles: SolverStyles, solvers, variants) -> list[str]:
    return [styles.label(s, v) for s, v in zip(solvers, variants, strict=True)]


_EXCESS_COLUMNS = tuple(f"{moment}_excess{suffix}" for moment in ("mean", "var")
                        for suffix in ("", "_lo", "_hi"))
# the pooled and excess display columns, after "w1_err", where any row has them
_POOLED_DISPLAY = {"var_err_pooled": "pooled var_err", "var_excess": "var_err excess [95% CI]",
                   "mean_excess": "mean_err excess [95% CI]"}


def main_table(agg: pd.DataFrame, styles: SolverStyles) -> Table:
    numbers_cols = ["problem", "d", "solver", "variant", "mean_err", "mean_err_spread",
                    "mean_err_kind", "var_err", "var_err_spread", "var_err_kind", "w1_err",
                    "w1_err_spread", "train_s", "iters", "s_per_iter", "peak_rss_mb",
                    "peak_gpu_mb", "n_samples", "n_trials", "reference", "n_ok", "seeds",
                    "status", "message"]
    pooled_cols = [c for c in ("mean_err_pooled", "var_err_pooled", "w1_err_pooled", *_EXCESS_COLUMNS)
                   if c in agg and agg[c].notna().any()]
    numbers_cols[12:12] = pooled_cols  # after w1_err and its spread
    numbers = agg[numbers_cols].copy() if not agg.empty else pd.DataFrame(columns=numbers_cols)
    for metric in ("mean_err", "var_err"):
        for suffix in ("", "_spread"):
            numbers[f"published_{metric}{suffix}"] = [
                (published_for(p, d, s) or {}).get(f"{metric}{suffix}", math.nan)
                for p, d, s in zip(numbers["problem"], numbers["d"], numbers["solver"],
                                   strict=True)]
    numbers.insert(3, "solver_label", [styles.label(s) for s in numbers["solver"]])
    display_rows = []
    for row in numbers.to_dict("records"):
        solver = styles.label(row["solver"], row["variant"])
        if row["n_ok"] == 0:
            reason = _shorten(row["message"] or row["status"])
            status = f"no result: {row['status']}" + (f" ({reason})" if reason != row["status"]
                                                      else "")
        else:
            status = f"{row['n_ok']} ok" + ("" if row["status"] == f"{row['n_ok']} ok"
                                            else f" of {row['status']}")
        absolute = " (abs.)"
        display_rows.append({
            "problem": row["problem"],
            "d": str(int(row["d"])) if np.isfinite(row["d"]) else "–",
            "solver": solver,
            "mean_err": format_pm(row["mean_err"], row["mean_err_spread"])
            + (absolute if row["mean_err_kind"] == "absolute" else ""),
            "var_err": format_pm(row["var_err"], row["var_err_spread"])
            + (absolute if row["var_err_kind"] == "absolute" else ""),
            "w1_err": format_pm(row["w1_err"], row["w1_err_spread"]),
            "pooled var_err": format_number(row.get("var_err_pooled")),
            "var_err excess [95% CI]": format_excess(row, "var"),
            "mean_err excess [95% CI]": format_excess(row, "mean"),
            "train time (s)": format_number(row["train_s"]),
            "s / iter": format_number(row["s_per_iter"]),
            "peak RSS (MiB)": format_number(row["peak_rss_mb"]),
            "runs": status,
            "published mean_err": _published_display(row["problem"], row["d"], row["solver"],
                                                      "mean_err"),
            "published var_err": _published_display(row["problem"], row["d"], row["solver"],
                                                     "var_err"),
        })
    shown = [label for column, label in _POOLED_DISPLAY.items() if column in pooled_cols]
    display = pd.DataFrame(display_rows, columns=[
        "problem", "d", "solver", "mean_err", "var_err", "w1_err", *shown, "train time (s)",
        "s / iter", "peak RSS (MiB)", "runs", "published mean_err", "published var_err"])
    if not display.empty and (numbers["peak_gpu_mb"].notna()).any():
        display.insert(display.columns.get_loc("runs"), "peak GPU (MiB)",
                       [format_number(v) for v in numbers["peak_gpu_mb"]])
    n_ours = len(display.columns) - 2
    floors = [styles.label(s) for s in styles.floors if s in set(numbers["solver"])]
    floor_text = (f"The row of {' and '.join(floors)} is the floor of sample-based errors. "
                  if floors else "")
    if shown:
        floor_text += (
            "pooled var_err: the variance error of the moments averaged over all trials (and "
            "exchangeable coordinates) before the norm, which resolves errors below one "
            "trial's noise; excess: a sampler's pooled error minus the floor's on the same "
            "evaluation settings, with its 95% bootstrap interval over trials (docs/metrics.md); "
            f"†: the interval contains 0, {FLOOR_WORDS}. ")
    return Table(
        "main", "Main results",
        "Errors against the reference per problem, dimension and solver: mean over seeds ± "
        "spread (standard deviation pooled over seeds and sampling trials; a single run shows "
        "its spread over sampling trials). \"(abs.)\": absolute L2 over time / sqrt(#times), "
        "used where the reference moment is identically 0. " + floor_text
        + "Times: training wall time, mean over seeds; memory: maximum over seeds. The last "
        "two columns are the "
        "authors' published figures (not rerun; their protocol: 10 trials x 10^4 samples); "
        "≈: published as approximate, without spread.",
        numbers, display,
        group_header=[("this benchmark", n_ours), ("authors' published (not rerun)", 2)],
    )


def physics_table(agg: pd.DataFrame, styles: SolverStyles) -> Table | None:
    """Drift, energy and centre-of-mass metrics, where any run computed them."""
    columns = [c for c in ("u_err", "v_err", "energy_drift", "com_mean_err", "com_var_err",
                           "var_err_brownian") if c in agg and agg[c].notna().any()]
    if agg.empty or not columns:
        return None
    rows = agg[agg[columns].notna().any(axis=1)]
    numbers = rows[["problem", "d", "solver", "variant", *columns,
                    *[f"{c}_spread" for c in columns]]].copy()
    display = pd.DataFrame({
        "problem": rows["problem"],
        "d": [str(int(d)) for d in rows["d"]],
        "solver": _solver_cells(styles, rows["solver"], rows["variant"]),
        **{c: [format_pm(v, s) for v, s in zip(rows[c], rows[f"{c}_spread"], strict=True)]
           for c in columns},
    })
    return Table(
        "drift_energy", "Drift, energy and centre-of-mass errors",
        "u_err, v_err: relative L2 of the osmotic and current velocities against the exact "
        "ones under the reference density; energy_drift: max_t |E(t) - E(0)| / |E(0)| "
        "(reference-free); com_*: centre of mass against its exact law (bosons); "
        "var_err_brownian: free_singular's variance error against the Brownian law the authors "
        "compared with (not the Schrodinger solution; for comparison only). Mean over seeds ± "
        "spread where measured.",
        numbers.reset_index(drop=True), display.reset_index(drop=True))


def scaling_table(agg: pd.DataFrame, styles: SolverStyles) -> Table | None:
    """Fitted power-law exponents p (cost ~ d^p) per problem and solver, where a solver has
    successful runs at two or more dimensions."""
    rows = []
    if agg.empty:
        return None
    for (problem, solver, variant), group in agg.groupby(["problem", "solver", "variant"],
                                                         sort=False):
        dims = group.loc[group["n_ok"] > 0, "d"]
        if dims.nunique() < 2:
            continue
        row = {"problem": problem, "solver": solver, "variant": variant,
               "d_min": int(dims.min()), "d_max": int(dims.max())}
        for cost in ("train_s", "s_per_iter", "peak_rss_mb", "peak_gpu_mb"):
            row[f"p_{cost}"] = power_law_exponent(group["d"], group[cost])
        rows.append(row)
    if not rows:
        return None
    numbers = pd.DataFrame(rows)
    display = pd.DataFrame({
        "problem": numbers["problem"],
        "solver": _solver_cells(styles, numbers["solver"], numbers["variant"]),
        "dimensions": [f"{a}–{b}" for a, b in zip(numbers["d_min"], numbers["d_max"],
                                                   strict=True)],
        **{label: [f"{v:.2f}" if np.isfinite(v) else "–" for v in numbers[f"p_{c}"]]
           for c, label in (("train_s", "p (train time)"), ("s_per_iter", "p (s / iter)"),
                            ("peak_rss_mb", "p (peak RSS)"), ("peak_gpu_mb", "p (peak GPU)"))
           if numbers[f"p_{c}"].notna().any()},
    })
    return Table(
        "scaling", "Cost scaling with dimension",
        "Fitted exponent p of cost ∝ d^p (least squares in log-log over the dimensions with a "
        "successful run; mean over seeds, memory the maximum). Wall times were measured on "
        "shared machines: exponents are more robust than absolute values.",
        numbers, display)


def runs_table(table: pd.DataFrame) -> Table:
    """Every run, failed and infeasible included (without the config blob)."""
    columns = ["suite", "solver", "problem", "d", "seed", "variant", "status", "message",
               "mean_err", "var_err", "w1_err", "train_s", "peak_rss_mb", "config_hash",
               "artifact"]
    numbers = table[columns].copy()
    display = numbers[["solver", "problem", "d", "seed", "status", "message"]].copy()
    display = display[display["status"] != "ok"]
    display["d"] = [str(int(d)) if np.isfinite(d) else "–" for d in display["d"]]
    display["seed"] = [str(int(s)) if np.isfinite(s) else "–" for s in display["seed"]]
    return Table("runs", "Runs without a result",
                 "Every failed, timed-out or infeasible run with its message (tables/runs.csv "
                 "lists all runs).", numbers, display.reset_index(drop=True))


# ------------------------------------------------------------------------- LaTeX
_LATEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}"}
_LATEX_SYMBOLS = {"±": r"$\pm$", "≈": r"$\approx$", "–": "--", "ħ": r"$\hbar$", "²": r"$^2$",
                  "∝": r"$\propto$", "−": "-", "…": r"\ldots{}",
                  "×": r"$\times$"}


def latex_escape(text: Any) -> str:
    out = "".join(_LATEX_ESCAPES.get(ch, ch) for ch in str(text))
    for symbol, latex in _LATEX_SYMBOLS.items():
        out = out.replace(symbol, latex)
    return out


def latex_table(table: Table) -> str:
    """A booktabs table scaled to the text width (needs booktabs and graphicx); text columns
    left, numbers right."""
    display = table.display
    align = "".join("l" if c in ("problem", "solver", "runs", "message", "status") else "r"
                    for c in display.columns)
    lines = [r"% generated by reports/build.py; needs \usepackage{booktabs,graphicx}",
             r"\begin{table*}[t]", r"\centering", r"\small",
             rf"\caption{{{latex_escape(table.caption)}}}",
             rf"\label{{tab:{table.name}}}",
             r"\resizebox{\textwidth}{!}{%",
             rf"\begin{{tabular}}{{{align}}}", r"\toprule"]
    if table.group_header:
        cells, rules, start = [], [], 1
        for label, span in table.group_header:
            cells.append(rf"\multicolumn{{{span}}}{{c}}{{{latex_escape(label)}}}")
            rules.append(rf"\cmidrule(lr){{{start}-{start + span - 1}}}")
            start += span
        lines += [" & ".join(cells) + r" \\", " ".join(rules)]
    lines.append(" & ".join(latex_escape(c) for c in display.columns) + r" \\")
    lines.append(r"\midrule")
    previous = None
    # a little space between (problem, d) blocks
    group_columns = [display.columns.get_loc(c) for c in ("problem", "d") if c in display.columns]
    for record in display.itertuples(index=False):
        group = tuple(record[i] for i in group_columns)
        if previous is not None and group != previous:
            lines.append(r"\addlinespace")
        previous = group
        lines.append(" & ".join(latex_escape(v) for v in record) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}}", r"\end{table*}", ""]
    return "\n".join(lines)


def build_tables(results_table: pd.DataFrame, agg: pd.DataFrame, directory: Path,
                 styles: SolverStyles | None = None) -> list[Table]:
    """Write every table as CSV and .tex under ``directory``; return them for the report.
    ``styles``: the solvers' labels (default: read from ``results_table``)."""
    styles = styles or SolverStyles.from_table(results_table)
    directory.mkdir(parents=True, exist_ok=True)
    tables = [main_table(agg, styles)]
    for extra in (physics_table(agg, styles), scaling_table(agg, styles)):
        if extra is not None:
            tables.append(extra)
    tables.append(runs_table(results_table))
    for table in tables:
        table.numbers.to_csv(directory / f"{table.name}.csv", index=False)
        (directory / f"{table.name}.tex").write_text(latex_table(table), encoding="utf-8")
    return tables
