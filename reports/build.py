"""``dsm-bench report DIR [--out OUT]``: results table + run artifacts -> a report.

Writes, under OUT (default ``reports/<suite>-<YYYY-MM-DD>/`` relative to the current
directory): report.md, a self-contained report.html (figures embedded), interactive.html
(Plotly, inlined: works offline), figures/<name>.png, .pdf and .tex at page width and the same
under figures/column/ at one-column width, tables/*.csv and tables/*.tex. Works on whatever rows
exist: missing solvers or dimensions and failed / infeasible runs are gaps, and a figure without
data is skipped with a note in the report.

The report is built in a temporary folder next to OUT and renamed onto it when complete, so a
failure leaves no partial folder (and a previous report stays until the new one replaces it).
A table file that is broken or behind the journal is named on stderr and in the report's notes
(the report reads the journal instead).

Also runnable as ``python -m reports.build DIR [--out OUT]``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from dsm_bench.schema import Status
from reports import document as doc_
from reports import figures as figures_
from reports import tables as tables_
from reports.data import Results, ResultsRefused, aggregate, load_results, short_value
from reports.excess import add_excess, model_error_lines
from reports.interactive import write_interactive
from reports.style import SolverStyles, dimension_symbol
from reports.tuning import tuning_blocks

__all__ = ["build_report", "configure_parser", "main", "default_out_dir"]

# figure name prefix -> (section heading, order)
_SECTIONS = [
    ("error_vs_dimension", "Error vs dimension"),
    ("model_error_vs_dimension", "Model error vs dimension"),
    ("drift_errors_vs_dimension", "Learned velocity errors vs dimension"),
    ("errors_fixed_dimension", "Errors on fixed-dimension problems"),
    ("cost_vs_dimension", "Training cost vs dimension"),
    ("memory_vs_dimension", "Peak memory vs dimension"),
    ("moments", "Mean and variance over time"),
    ("drift_errors", "Learned velocities over time"),
    ("density", "Densities over space and time"),
    ("marginals", "Marginal densities at t = 0, T/2 and T"),
    ("gallery", "The problems at t = 0, T/2 and T"),
    ("autocorrelation", "Autocorrelation and published recurrences"),
    ("dynamics_vs_dimension", "Energy and Ehrenfest errors vs dimension"),
    ("training", "Time to accuracy during training"),
    ("bosons", "Interacting bosons"),
]


def configure_parser(p: argparse.ArgumentParser) -> None:
    """Arguments of ``dsm-bench report``."""
    p.add_argument("results_dir", type=Path, metavar="DIR",
                   help="results directory holding results.parquet (or results.csv) and runs/")
    p.add_argument("--out", type=Path, default=None, metavar="OUT",
                   help="output directory (default: reports/<suite>-<YYYY-MM-DD>/ under the "
                        "current directory)")


def main(args: argparse.Namespace) -> int:
    """Build the report; print where it is. Exit status 2 when DIR has no usable results
    table or names an artifact outside itself."""
    try:
        out = build_report(Path(args.results_dir), getattr(args, "out", None))
    except (FileNotFoundError, ResultsRefused) as exc:
        print(f"dsm-bench report: error: {exc}", file=sys.stderr)
        return 2
    print(f"report written to {out}/report.html (and report.md, figures/, tables/)")
    return 0


# a suite name as the suite parser admits it; anything else in a table's suite column is
# replaced, so that the default folder stays one component under reports/
_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.-]")


def default_out_dir(suite: str, today: _dt.date | None = None) -> Path:
    today = today or _dt.datetime.now(_dt.timezone.utc).date()
    name = _NAME_CHARS.sub("_", suite or "adhoc")
    return Path("reports") / f"{name}-{today.isoformat()}"


def build_report(results_dir: Path, out_dir: Path | None = None) -> Path:
    """Build the report of ``results_dir`` into ``out_dir`` and return ``out_dir``."""
    results = load_results(Path(results_dir))
    for note in results.notes:
        if "instead (the next" in note:  # a broken table file: say so now, not only inside
            print(f"note: {note}", file=sys.stderr)
    out_dir = Path(out_dir) if out_dir is not None else default_out_dir(results.suite)
    if out_dir.exists() and not out_dir.is_dir():
        raise FileNotFoundError(f"--out {out_dir} exists and is not a directory")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.building-"))
    try:
        _build_into(results, building)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(building, 0o777 & ~mask)  # mkdtemp's 0700 -> a folder's usual mode
        _replace_dir(building, out_dir)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return out_dir


def _build_into(results: Results, out_dir: Path) -> None:
    agg = add_excess(aggregate(results.table, results.styles), results)
    tables = tables_.build_tables(results.table, agg, out_dir / "tables", results.styles)
    writer = figures_.build_all(results, agg, out_dir / "figures")
    summary = next((t for t in tables if t.name == "summary"), None)
    interactive = write_interactive(out_dir / "interactive.html",
                                    f"dsm-bench: suite “{results.suite}”", agg, results.styles,
                                    summary)
    document = _compose(results, agg, tables, writer, out_dir, interactive)
    (out_dir / "report.md").write_text(doc_.render_markdown(document), encoding="utf-8")
    (out_dir / "report.html").write_text(doc_.render_html(document, out_dir), encoding="utf-8")


def _replace_dir(new: Path, target: Path) -> None:
    """Put the complete folder ``new`` at ``target``; an old report there goes only after."""
    if not target.exists():
        os.rename(new, target)
        return
    old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.old-"))
    os.rename(target, old / "report")
    os.rename(new, target)
    shutil.rmtree(old, ignore_errors=True)


# ------------------------------------------------------------------------ composition
# figures of the headline: one per problem family (each multi-d problem, the 1-D problems)
HEADLINE_FIGURES = ("error_vs_dimension", "errors_fixed_dimension")


def _figure_block(record: figures_.FigureRecord, number: int, out_dir: Path,
                  headline: bool = False) -> doc_.FigureBlock:
    return doc_.FigureBlock(number, record.title, record.caption,
                            record.png.relative_to(out_dir).as_posix(),
                            record.pdf.relative_to(out_dir).as_posix(), headline)


def _table_block(table: tables_.Table, group_header: bool = False) -> doc_.TableBlock:
    return doc_.TableBlock(table.title, table.caption, table.display,
                           [f"tables/{table.name}.csv", f"tables/{table.name}.tex"],
                           table.group_header if group_header else None, table.name,
                           table.display_html)


def _compose(results: Results, agg: pd.DataFrame, tables: list[tables_.Table],
             writer: figures_.FigureWriter, out_dir: Path,
             interactive: bool = False) -> doc_.Document:
    """The report in the order a reader wants it: the summary table and one figure per
    problem family, then the details, every metric, the protocol and the runs."""
    table, styles = results.table, results.styles
    by_name = {t.name: t for t in tables}
    doc = doc_.Document(f"dsm-bench report: suite “{results.suite}”")
    doc.paragraph(_opening_text(results, interactive))

    doc.heading("Summary")
    if "summary" in by_name:
        doc.table(_table_block(by_name["summary"]))
    headline = [f for f in writer.figures if f.name.startswith(HEADLINE_FIGURES)]
    number = 0
    for record in headline:
        number += 1
        doc.figure(_figure_block(record, number, out_dir, headline=True))

    doc.heading("Details")
    model = model_error_lines(agg, styles)
    if model:
        doc.heading("Model error against the floor", 3)
        doc.paragraph("The distance between each sampler's moments and the floor's on the same "
                      "noise draw, pooled over trials (never negative; 95% paired bootstrap "
                      "interval over trials; docs/metrics.md):")
        doc.bullets(model)
    lost = tables_.lost_path_lines(table)
    if lost:
        doc.heading("Flag: runs that lost sampled paths", 3)
        doc.bullets(lost)
    rest = [f for f in writer.figures if f not in headline]

    def section(record: figures_.FigureRecord) -> str:  # the longest prefix that matches
        prefixes = [prefix for prefix, _ in _SECTIONS if record.name.startswith(prefix)]
        return max(prefixes, key=len) if prefixes else ""

    sections = [(heading, [f for f in rest if section(f) == prefix])
                for prefix, heading in _SECTIONS]
    for heading, records in [*sections, ("Other figures", [f for f in rest if not section(f)])]:
        if not records:
            continue
        doc.heading(heading, 3)
        for record in records:
            number += 1
            doc.figure(_figure_block(record, number, out_dir))
    if writer.skipped:
        doc.paragraph("Figures not drawn (no data):")
        doc.bullets(writer.skipped)
    doc.blocks.extend(_tuning_section(results, out_dir, number))

    doc.heading("Every metric")
    doc.table(_table_block(tables[0], group_header=True))
    for extra in tables[1:]:
        if extra.name not in ("runs", "summary"):
            doc.table(_table_block(extra))

    doc.heading("Protocol")
    doc.heading("Problems", 3)
    doc.bullets(_problem_lines(table))
    doc.heading("Solvers and their configurations", 3)
    doc.bullets(_solver_lines(table, styles))
    doc.heading("Evaluation protocol", 3)
    doc.paragraph(_protocol_text(table))

    doc.heading("Runs")
    runs = by_name["runs"]
    if len(runs.display):
        doc.table(_table_block(runs))
    else:
        doc.paragraph("Every run finished with status ok (tables/runs.csv lists them all).")

    doc.heading("Provenance")
    doc.bullets(_provenance_lines(table))
    if results.notes:
        doc.heading("Notes", 3)
        doc.bullets(results.notes)
    return doc


def _tuning_section(results: Results, out_dir: Path, number: int) -> list:
    """The Tuning heading and its blocks (none without a tuning in the results)."""
    blocks = tuning_blocks(results.directory, out_dir, number)
    return [doc_.Heading("Tuning", 3), *blocks] if blocks else []


def _opening_text(results: Results, interactive: bool) -> str:
    """The first paragraph: who is compared with the floor, on what, and where the rest is."""
    table, styles = results.table, results.styles
    counts = table["status"].value_counts()
    floors = " and ".join(styles.label(s) for s in styles.floors)
    return (", ".join(styles.label(s) for s in styles.order if not styles.is_floor(s))
            + (f" against the sampling floor ({floors})" if floors else "")
            + f" on {table['problem'].nunique()} problem(s): {len(table)} runs ("
            + ", ".join(f"{n} {s}" for s, n in counts.items()) + ")."
            + (" Interactive figures: `interactive.html`." if interactive else "")
            + " Every figure as PNG and PDF at page width (`figures/`) and column width "
            "(`figures/column/`), each with a LaTeX snippet (`.tex`).")


def _unique(values) -> list[str]:
    return [str(v) for v in dict.fromkeys(v for v in values if isinstance(v, str) and v or
                                          (not isinstance(v, str) and pd.notna(v)))]


def _problem_lines(table: pd.DataFrame) -> list[str]:
    from reference.problems import get_problem, problem_class, problem_names

    lines = []
    for name, group in table.groupby("problem", sort=False):
        dims = sorted(int(d) for d in group["d"].dropna().unique())
        spec = problem_class(name) if name in problem_names() else None
        overrides: dict[str, Any] = {}
        for config in group["_config"]:
            for key, value in (config.get("problem_overrides") or {}).items():
                if key != "d":
                    overrides.setdefault(key, value)
        # the label the table records (also for a plugin not installed here), with the
        # registry's description and parameters where the problem is known
        labels = _unique(group.get("problem_label", pd.Series(dtype=object)))
        text = f"`{name}`" + (f" ({labels[0]})" if labels else "")
        if spec is not None:
            text += f": {spec.description or spec.label}"
            try:
                p = get_problem(name, **{"d": dims[0] if dims else None, **overrides})
                own = [f"{key} = {value:g}" for key, value in p.options.items()
                       if key not in ("d", "hbar", "m", "T", "n_steps")
                       and isinstance(value, (int, float)) and value]
                text += (f"; ħ = {p.hbar:g}, m = {p.m:g}, T = {p.T:g}, N = {p.n_steps} steps"
                         + "".join(f", {item}" for item in own))
            except (ValueError, TypeError):
                pass
        text += f"; {dimension_symbol(name)} = {', '.join(str(d) for d in dims) or '–'}"
        if overrides:
            text += f"; overrides: {json.dumps(overrides, sort_keys=True)}"
        refs = _unique(group["reference"])
        if refs:
            text += f"; reference: {', '.join(refs)}"
        lines.append(text)
    return lines


def _solver_lines(table: pd.DataFrame, styles: SolverStyles) -> list[str]:
    lines = []
    for solver in sorted(set(table["solver"]), key=styles.sort_key):
        group = table[table["solver"] == solver]
        configs = {}
        for config in group["_config"]:
            options = config.get("solver_options") or {}
            budget = config.get("budget") or {}
            key = json.dumps({"options": options, "budget": budget}, sort_keys=True, default=str)
            configs.setdefault(key, (options, budget))
        parts = []
        for options, budget in configs.values():
            opts = ", ".join(f"{k}={short_value(v)}" for k, v in sorted(options.items())
                             ) or "defaults"
            bud = ", ".join(f"{k}={short_value(v)}" for k, v in sorted(budget.items())) or "none"
            parts.append(f"options: {opts}; budget: {bud}")
        if len(parts) > 4:  # one per dimension, say; keep the report readable
            parts = parts[:4] + [f"... {len(parts) - 4} more configurations in tables/runs.csv"]
        devices = _unique(group["device"])
        text = f"{styles.label(solver)} (`{solver}`)" + (
            ", the sampling floor" if styles.is_floor(solver) else "")
        if devices:
            text += f", device {', '.join(devices)}"
        lines.append(text + " — " + " | ".join(parts) if parts else text)
    return lines


def _protocol_text(table: pd.DataFrame) -> str:
    ok = table[table["status"] == Status.OK]
    protocols = []
    for (samples, trials), group in ok.groupby(["n_samples", "n_trials"], dropna=False):
        solvers = ", ".join(sorted(set(group["solver"])))
        if pd.notna(samples) and samples > 0:
            protocols.append(f"{int(trials) if pd.notna(trials) else '?'} trials x "
                             f"{int(samples):,} samples ({solvers})")
        else:
            protocols.append(f"deterministic, no sampling ({solvers})")
    times = sorted({int(n) for n in ok["n_eval_times"].dropna()})
    seeds = sorted({int(s) for s in ok["seed"].dropna()})
    return (
        "Every solver is scored by the same code (dsm_bench/metrics.py) on the same "
        f"evaluation times ({', '.join(map(str, times)) or '?'} evenly spaced points of the "
        "problem's time grid): relative L2 over time of the per-coordinate mean and variance, "
        "averaged over coordinates (mean_err, var_err), and the 1-Wasserstein distance of the "
        "1-D marginals averaged over time and coordinates (w1_err). Sample-based solvers are "
        "evaluated over independent sampling trials: "
        + ("; ".join(protocols) if protocols else "no successful run")
        + f". Training seeds: {', '.join(map(str, seeds)) or '–'}; the spread in tables and "
        "figures pools seeds and sampling trials."
    )


def _provenance_lines(table: pd.DataFrame) -> list[str]:
    lines = []
    commits = []
    for commit, dirty in dict.fromkeys(zip(table["git_commit"], table["git_dirty"],
                                           strict=True)):
        if isinstance(commit, str) and commit:
            flag = " (uncommitted changes)" if str(dirty).lower() in ("true", "1") else ""
            commits.append(f"`{commit[:12]}`{flag}")
    lines.append("Commit: " + (", ".join(commits) or "unknown"))
    versions: dict[str, set[str]] = {}
    for value in table["versions"]:
        parsed = value if isinstance(value, dict) else _json_or_none(value)
        if isinstance(parsed, dict):
            for package, version in parsed.items():
                versions.setdefault(package, set()).add(str(version))
        elif isinstance(value, str) and value:
            versions.setdefault("versions", set()).add(value)
    if versions:
        lines.append("Versions: " + ", ".join(f"{k} {'/'.join(sorted(v))}"
                                              for k, v in sorted(versions.items())))
    for column, label in (("python", "Python"), ("host", "Machine"), ("device", "Device"),
                          ("dtype", "dtype"), ("threads", "Threads")):
        values = _unique(table[column])
        if column == "threads":
            values = sorted({str(int(float(v))) for v in values})
        if values:
            lines.append(f"{label}: {', '.join(values)}")
    started = pd.to_datetime(table["started_at"], errors="coerce", utc=True).dropna()
    finished = pd.to_datetime(table["finished_at"], errors="coerce", utc=True).dropna()
    if len(started):
        end = finished.max() if len(finished) else started.max()
        lines.append(f"Runs between {started.min():%Y-%m-%d %H:%M} and {end:%Y-%m-%d %H:%M} UTC")
    lines.append("Report built "
                 f"{_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M} UTC by reports/build.py")
    return lines


def _json_or_none(value: Any) -> Any:
    if not isinstance(value, str):
        return None
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return None


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m reports.build", description=__doc__)
    configure_parser(parser)
    sys.exit(main(parser.parse_args()))
