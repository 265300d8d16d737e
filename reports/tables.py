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

import html
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dsm_bench.pooled import Excess
from dsm_bench.schema import LOST_FLAG, Status
from reports.data import power_law_exponent, select_dims
from reports.published import published_for
from reports.style import FLOOR_WORDS, SolverStyles, dimension_symbol

__all__ = ["Table", "build_tables", "excess_of", "format_excess", "format_pm", "format_number",
           "latex_table", "lost_path_lines", "summary_table"]


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


def excess_of(row: dict[str, Any], moment: str, name: str = "excess") -> Excess | None:
    """The row's ``moment``_``name`` against the floor (``reports.excess``: "excess" or
    "model_err") with its interval, or None where none was computed. A missing interval
    (one trial) is NaN."""
    value = row.get(f"{moment}_{name}")
    if value is None or not np.isfinite(float(value)):
        return None
    bounds = [row.get(f"{moment}_{name}_{end}") for end in ("lo", "hi")]
    lo, hi = (math.nan if b is None else float(b) for b in bounds)
    return Excess(float(value), lo, hi)


def format_excess(row: dict[str, Any], moment: str, name: str = "excess") -> str:
    """ "value [lo, hi]", a dagger where the interval contains 0 (not distinguishable from
    the floor); the value alone without an interval (one trial); "–" where none."""
    excess = excess_of(row, moment, name)
    if excess is None:
        return "–"
    if not np.isfinite(excess.lo) or not np.isfinite(excess.hi):
        return format_number(excess.value, 2)
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
    # HTML fragments of the display cells, where a cell is laid out in lines (the summary)
    display_html: pd.DataFrame | None = None


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


# the columns against the floor, each with its interval columns (<name>_lo, <name>_hi):
# the model error first (the headline), then the pooled errors and their excess
_FLOOR_COLUMNS = ("mean_model_err", "var_model_err", "mean_err_pooled", "var_err_pooled",
                  "w1_err_pooled", "mean_excess", "var_excess")
# shown in the report, after "w1_err", where any row has them; the rest are in the CSV
_MODEL_DISPLAY = {"mean_model_err": "mean model error [95% CI]",
                  "var_model_err": "var model error [95% CI]"}


def main_table(agg: pd.DataFrame, styles: SolverStyles) -> Table:
    numbers_cols = ["problem", "d", "solver", "variant", "mean_err", "mean_err_spread",
                    "mean_err_kind", "var_err", "var_err_spread", "var_err_kind", "w1_err",
                    "w1_err_spread", "train_s", "iters", "s_per_iter", "peak_rss_mb",
                    "peak_gpu_mb", "n_samples", "n_trials", "reference", "n_ok", "seeds",
                    "status", "message"]
    pooled_cols = [c for base in _FLOOR_COLUMNS if base in agg and agg[base].notna().any()
                   for c in (base, f"{base}_lo", f"{base}_hi") if c in agg]
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
            "mean model error [95% CI]": format_excess(row, "mean", "model_err"),
            "var model error [95% CI]": format_excess(row, "var", "model_err"),
            "train time (s)": format_number(row["train_s"]),
            "s / iter": format_number(row["s_per_iter"]),
            "peak RSS (MiB)": format_number(row["peak_rss_mb"]),
            "runs": status,
            "published mean_err": _published_display(row["problem"], row["d"], row["solver"],
                                                      "mean_err"),
            "published var_err": _published_display(row["problem"], row["d"], row["solver"],
                                                     "var_err"),
        })
    shown = [label for column, label in _MODEL_DISPLAY.items() if column in pooled_cols]
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
            "Model error: the distance between a sampler's moments and the floor's on the "
            "same noise draw, pooled over trials, relative to the reference's norm like the "
            "errors; never negative; 95% paired bootstrap interval over trials "
            f"(docs/metrics.md); †: the interval reaches 0, {FLOOR_WORDS}. tables/main.csv "
            "also has the pooled errors and their excess over the floor's. ")
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


# the errors the headline compares with the floor; a problem without a floor shows the
# first of _ABSOLUTE that its rows have
_RATIO_METRICS = ("var_err", "mean_err")
_ABSOLUTE = ("var_err", "mean_err", "com_var_err", "energy_drift")


def _ratio_text(ratio: float) -> str:
    if not np.isfinite(ratio):
        return "–"
    return f"{ratio:.1f}×" if ratio >= 1 else f"{format_number(ratio, 2)}×"


def _floor_row(here: pd.DataFrame, row: pd.Series, styles: SolverStyles) -> pd.Series | None:
    """The floor configuration a method at (problem, d) is compared with: the one at the
    method's own sample count where measured, else the first (fewest samples)."""
    floors = here[[styles.is_floor(s) for s in here["solver"]]]
    floors = floors[floors["n_ok"] > 0]
    if floors.empty:
        return None
    if pd.notna(row["n_samples"]):
        same = floors[floors["n_samples"].astype(float) == float(row["n_samples"])]
        if len(same):
            return same.iloc[0]
    return floors.iloc[0]


def _summary_cell(row: pd.Series, floor: pd.Series | None, record: dict[str, Any]
                  ) -> tuple[str, str]:
    """("var 5.6×, mean 1.4×", "12 s · 410 MiB"): the errors as multiples of the floor's and
    the cost (numbers into ``record``)."""
    if row["n_ok"] == 0:
        return f"no result ({row['status'].split(' ', 1)[-1]})", ""
    parts = []
    for metric in _RATIO_METRICS:
        base = math.nan if floor is None else floor[metric]
        ratio = row[metric] / base if np.isfinite(base) and base > 0 else math.nan
        record[f"{metric}_x_floor"], record[f"floor_{metric}"] = ratio, base
        if np.isfinite(ratio):
            parts.append(f"{metric.split('_')[0]} {_ratio_text(ratio)}")
    if not parts:  # no floor here: the first headline error, as a number
        metric = next((m for m in _ABSOLUTE if np.isfinite(row.get(m, math.nan))), None)
        if metric is not None:
            parts.append(f"{metric} {format_number(row[metric], 2)}")
            record[metric] = row[metric]
    cost = ([f"{format_number(row['train_s'], 2)} s"] if np.isfinite(row["train_s"]) else []) \
        + ([f"{row['peak_rss_mb']:.0f} MiB"] if np.isfinite(row["peak_rss_mb"]) else [])
    return ", ".join(parts) or "–", " · ".join(cost)


def _summary_html(lines: list[tuple[str, str, str]]) -> str:
    """A summary cell laid out for the first screen: per configuration, the multiples of the
    floor on one line, then its variant, wall time and memory smaller on a second."""
    out = []
    for variant, errors, cost in lines:
        second = " · ".join(html.escape(p) for p in (variant, cost) if p)
        out.append(f'<div class="x">{html.escape(errors)}</div>'
                   + (f'<div class="c">{second}</div>' if second else ""))
    return "".join(out)


def summary_table(agg: pd.DataFrame, styles: SolverStyles) -> Table | None:
    """The headline: problems (at each size) as rows, methods as columns (headed by their
    short labels), each cell the method's errors as multiples of the sampling floor's, its
    training time and peak memory. A method with several configurations on a problem gives
    one line per configuration."""
    if agg.empty:
        return None
    methods = sorted({s for s in agg["solver"] if not styles.is_floor(s)}, key=styles.sort_key)
    if not methods:
        return None
    numbers, display, fragments = [], [], []
    # a problem run at many sizes: its smallest, a middle and its largest (all in main.csv)
    shown = {p: set(select_dims(g["d"])) for p, g in agg.groupby("problem", sort=False)}
    for (problem, d), here in agg.groupby(["problem", "d"], sort=False, dropna=False):
        if np.isfinite(d) and int(d) not in shown[problem]:
            continue
        cells = {"problem": problem,
                 "size": f"{dimension_symbol(problem)} = {int(d)}" if np.isfinite(d) else "–"}
        html_cells = dict(cells)
        floor_text = "–"
        for solver in methods:
            named = agg.loc[(agg["problem"] == problem) & (agg["solver"] == solver),
                            "variant"].nunique() > 1
            lines = []
            for _, row in here[here["solver"] == solver].iterrows():
                floor = _floor_row(here, row, styles)
                record = {"problem": problem, "d": d, "solver": solver,
                          "variant": row["variant"], "train_s": row["train_s"],
                          "peak_rss_mb": row["peak_rss_mb"]}
                errors, cost = _summary_cell(row, floor, record)
                lines.append((row["variant"] if named else "", errors, cost))
                numbers.append(record)
                if floor is not None and floor_text == "–":
                    floor_text = ", ".join(f"{m} {format_number(floor[m], 2)}"
                                           for m in _RATIO_METRICS if np.isfinite(floor[m]))
            column = styles.short_label(solver)
            cells[column] = "\n".join(
                (f"{v}: " if v else "") + " · ".join(p for p in (e, c) if p) for v, e, c in lines)
            html_cells[column] = _summary_html(lines)
        cells["floor"] = html_cells["floor"] = floor_text
        display.append(cells)
        fragments.append(html_cells)
    columns = ["problem", "size", *[styles.short_label(s) for s in methods], "floor"]
    floors = " and ".join(styles.label(s) for s in styles.floors
                          if s in set(agg["solver"])) or "none in this table"
    named = [f"{styles.short_label(s)}: {styles.label(s)}" for s in methods
             if styles.short_label(s) != styles.label(s)]
    return Table(
        "summary", "Summary",
        f"Errors as multiples of the sampling floor's ({floors}, same samples × trials, same "
        "problem and size; 1×: as good as sampling with the exact drift), then training wall "
        "time (mean over seeds) and peak memory. "
        + (f"Columns: {'; '.join(named)}. " if named else "")
        + "floor: the floor's own errors (without one, a cell gives the error itself). "
        "Problems run at more than 3 sizes: the smallest, a middle and the largest.",
        pd.DataFrame(numbers), pd.DataFrame(display, columns=columns),
        display_html=pd.DataFrame(fragments, columns=columns))


def physics_table(agg: pd.DataFrame, styles: SolverStyles) -> Table | None:
    """Drift, energy and centre-of-mass metrics, where any run computed them."""
    columns = [c for c in ("u_err", "v_err", "energy_err", "energy_drift", "ehrenfest_err",
                           "mean_vec_err", "cov_err", "lost_frac", "com_mean_err", "com_var_err",
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
        "drift_energy", "Drift, energy, dynamics and centre-of-mass errors",
        "u_err, v_err: relative L2 of the osmotic and current velocities against the exact "
        "ones under the reference density; energy_err: max_t |E(t) - E| / |E| against the "
        "exact conserved energy; energy_drift: max_t |E(t) - E(0)| / |E(0)| (reference-free); "
        "ehrenfest_err: the residual of Ehrenfest's theorem on the solution's own mean motion "
        "(reference-free); mean_vec_err: the mean vector's relative Euclidean error; cov_err: "
        "the covariance matrix's relative Frobenius error; "
        "lost_frac: the largest fraction of sampled paths lost at a time; com_*: centre of "
        "mass against its exact law (bosons); "
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


def lost_path_lines(table: pd.DataFrame) -> list[str]:
    """A flag, in words, for every ok run that lost more than ``LOST_FLAG`` of its sampled
    paths (outside the box or non-finite): its moments rest on the paths that remain."""
    if "lost_frac" not in table:
        return []
    lost = table[(table["status"] == Status.OK) & (table["lost_frac"] > LOST_FLAG)]
    return [f"{row['solver']} on {row['problem']}, {dimension_symbol(row['problem'])} = "
            f"{int(row['d'])}, seed {int(row['seed'])}: lost {row['lost_frac']:.1%} of its "
            "sampled paths (outside the box or non-finite), more than "
            f"{LOST_FLAG:.0%}; its moments use the paths that remain"
            for row in lost.to_dict("records")]


def runs_table(table: pd.DataFrame) -> Table:
    """Every run, failed and infeasible included (without the config blob)."""
    columns = ["suite", "solver", "problem", "d", "seed", "variant", "status", "message",
               "mean_err", "var_err", "w1_err", "train_s", "peak_rss_mb", "config_hash",
               "artifact"]
    numbers = table[columns].copy()
    display = numbers[["solver", "problem", "d", "seed", "status", "message"]].copy()
    display = display[display["status"] != Status.OK]
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
    align = "".join("l" if c in ("problem", "size", "solver", "runs", "message", "status") else "r"
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
    for extra in (summary_table(agg, styles), physics_table(agg, styles),
                  scaling_table(agg, styles)):
        if extra is not None:
            tables.append(extra)
    tables.append(runs_table(results_table))
    for table in tables:
        table.numbers.to_csv(directory / f"{table.name}.csv", index=False)
        (directory / f"{table.name}.tex").write_text(latex_table(table), encoding="utf-8")
    return tables
