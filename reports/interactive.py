"""interactive.html: the summary table and one interactive figure, in a single file that opens
from disk with no network (Plotly's JavaScript is inlined).

Hover shows each point's values, clicking a legend entry hides or shows a solver, and two
menus switch the problem family and the metric. Plotly (MIT, maintained by Plotly Inc.) is
already a dependency; its bundle is ~4.8 MB, inlined once. The static PNG / PDF figures stay
the ones for papers.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dsm_bench.schema import metric_label
from reports.figures.common import variant_index
from reports.style import SolverStyles, dimension_label, variant_linestyle
from reports.tables import Table

__all__ = ["INTERACTIVE_METRICS", "write_interactive"]

# what the metric menu offers, where any row has it; model errors on a linear axis
INTERACTIVE_METRICS = ("var_err", "mean_err", "w1_err", "var_model_err", "mean_model_err",
                       "u_err", "v_err", "com_var_err", "energy_drift", "train_s",
                       "peak_rss_mb")
_LINEAR = {"var_model_err", "mean_model_err"}
FIXED = "problems at one size"  # the family of problems run at a single dimension


def _number(value: Any) -> float | None:
    value = float(value) if value is not None else math.nan
    return value if math.isfinite(value) else None


def _traces(agg: pd.DataFrame, styles: SolverStyles, metric: str, x_of) -> list[dict]:
    """One trace per (solver, variant): the floor as a band, methods as points with bars."""
    traces = []
    keys = sorted(dict.fromkeys(zip(agg["solver"], agg["variant"], strict=True)),
                  key=lambda k: (styles.sort_key(k[0]), k[1]))
    spread = f"{metric}_spread" if f"{metric}_spread" in agg else None
    for solver, variant in keys:
        line = agg[(agg["solver"] == solver) & (agg["variant"] == variant)
                   & agg[metric].notna()]
        if line.empty:
            continue
        x = [x_of(r) for r in line.to_dict("records")]
        y = [_number(v) for v in line[metric]]
        err = [_number(v) or 0.0 for v in line[spread]] if spread else None
        if metric in _LINEAR and f"{metric}_lo" in line:
            lo, hi = line[f"{metric}_lo"].to_numpy(float), line[f"{metric}_hi"].to_numpy(float)
            values = line[metric].to_numpy(float)
            err = {"type": "data", "symmetric": False,
                   "array": [_number(v) or 0.0 for v in np.maximum(hi - values, 0)],
                   "arrayminus": [_number(v) or 0.0 for v in np.maximum(values - lo, 0)]}
        elif err is not None:
            err = {"type": "data", "array": err}
        label = styles.label(solver, variant)
        color = styles.color(solver)
        if styles.is_floor(solver):
            upper = [a + (b or 0) for a, b in zip(y, err["array"] if err else [0] * len(y),
                                                  strict=True)]
            traces.append({"x": x, "y": upper, "mode": "lines", "line": {"width": 0},
                           "legendgroup": label, "showlegend": False, "hoverinfo": "skip"})
            lower = [max(a - (b or 0), 0.05 * a) for a, b in
                     zip(y, err["array"] if err else [0] * len(y), strict=True)]
            traces.append({"x": x, "y": lower, "mode": "lines", "line": {"width": 0},
                           "fill": "tonexty", "fillcolor": _rgba(color, 0.2),
                           "legendgroup": label, "showlegend": False, "hoverinfo": "skip"})
            traces.append({"x": x, "y": y, "mode": "lines", "name": label,
                           "legendgroup": label, "line": {"color": color, "width": 1.5}})
            continue
        traces.append({"x": x, "y": y, "mode": "lines+markers", "name": label,
                       "line": {"color": color, "dash": _DASHES[variant_linestyle(
                           variant_index(agg, solver, variant))]},
                       "marker": {"symbol": _SYMBOLS.get(styles.marker(solver), "circle"),
                                  "size": 8},
                       **({"error_y": err} if err else {})})
    return traces


_DASHES = {"-": "solid", "--": "dash", ":": "dot", "-.": "dashdot"}
_SYMBOLS = {"o": "circle", "s": "square", "^": "triangle-up", "D": "diamond",
            "v": "triangle-down", "P": "cross", "X": "x", "h": "hexagon"}


def _rgba(color: str, alpha: float) -> str:
    color = color.lstrip("#")
    if len(color) != 6:
        return f"rgba(127,127,127,{alpha})"
    r, g, b = (int(color[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _figures(agg: pd.DataFrame, styles: SolverStyles) -> dict[str, dict[str, Any]]:
    """family -> {"x_title", "log_x", "metrics": {metric: {"traces", "y_title", "log_y"}}}."""
    ok = agg[agg["n_ok"] > 0]
    dims = ok.groupby("problem", sort=False)["d"].nunique()
    families: dict[str, tuple[pd.DataFrame, Any, str, bool]] = {}
    for problem in dims.index:
        if dims[problem] >= 2:
            sub = ok[ok["problem"] == problem]
            span = sub["d"].max() / max(sub["d"].min(), 1)
            families[problem] = (sub, lambda r: int(r["d"]), dimension_label(problem),
                                 bool(span >= 8))
    single = ok[ok["problem"].map(lambda p: dims[p] < 2)]
    if not single.empty:
        families[FIXED] = (single, lambda r: f"{r['problem']} (d = {int(r['d'])})", "problem",
                           False)
    out = {}
    for family, (sub, x_of, x_title, log_x) in families.items():
        metrics = {}
        for metric in INTERACTIVE_METRICS:
            if metric in sub and sub[metric].notna().any():
                metrics[metric] = {"traces": _traces(sub, styles, metric, x_of),
                                   "y_title": metric_label(metric),
                                   "log_y": metric not in _LINEAR}
        if metrics:
            out[family] = {"x_title": x_title, "log_x": log_x, "metrics": metrics}
    return out


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 1em 2em;
       color: #222; }}
h1 {{ font-size: 1.3em; margin: 0 0 0.4em; }}
table {{ border-collapse: collapse; font-size: 0.78em; margin: 0.3em 0 0.6em; }}
th, td {{ padding: 0.15em 0.5em; border-bottom: 1px solid #e3e3e3; text-align: left;
         white-space: nowrap; vertical-align: top; line-height: 1.2; }}
td .c {{ font-size: 0.85em; color: #555; }} td .x + .c + .x {{ margin-top: 0.25em; }}
th {{ border-bottom: 2px solid #444; }}
.controls {{ font-size: 0.9em; margin: 0.4em 0; }} .controls select {{ margin-right: 1.2em; }}
.caption {{ font-size: 0.8em; color: #444; max-width: 70em; }}
</style>
<script>{plotly}</script>
</head><body>
<h1>{title}</h1>
{table}
<div class="controls"><label>Problem <select id="family"></select></label>
<label>Metric <select id="metric"></select></label>
<span class="caption">Hover a point for its values; click a legend entry to hide or show a
solver. Error bars: spread over seeds and trials (model errors: their 95% interval); shaded:
the sampling floor.</span></div>
<div id="plot" style="width: 100%; height: 520px;"></div>
<script>
const FIGURES = {data};
const family = document.getElementById("family"), metric = document.getElementById("metric");
// the plot fills what the first screen has left under the table (never under 360 px)
const plot = document.getElementById("plot");
function fit() {{
  const top = plot.getBoundingClientRect().top + scrollY;
  plot.style.height = Math.max(360, innerHeight - top - 24) + "px";
}}
window.addEventListener("load", () => {{ fit(); Plotly.Plots.resize(plot); }});
for (const name of Object.keys(FIGURES)) family.add(new Option(name, name));
function fillMetrics() {{
  const keep = metric.value; metric.innerHTML = "";
  for (const [name, m] of Object.entries(FIGURES[family.value].metrics))
    metric.add(new Option(m.y_title, name));
  if ([...metric.options].some(o => o.value === keep)) metric.value = keep;
}}
function draw() {{
  fit();
  const f = FIGURES[family.value], m = f.metrics[metric.value];
  Plotly.react("plot", m.traces, {{
    margin: {{t: 20, r: 20}}, hovermode: "closest",
    xaxis: {{title: {{text: f.x_title}}, type: f.log_x ? "log" : "-"}},
    yaxis: {{title: {{text: m.y_title}}, type: m.log_y ? "log" : "linear",
            rangemode: m.log_y ? "normal" : "tozero"}},
    legend: {{orientation: "v", x: 1.02, y: 1}}}}, {{responsive: true, displaylogo: false}});
}}
family.onchange = () => {{ fillMetrics(); draw(); }};
metric.onchange = draw;
fillMetrics(); draw();
</script>
</body></html>
"""


def _table_html(table: Table | None) -> str:
    if table is None or table.display.empty:
        return ""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.display.columns)
    cells = table.display_html if table.display_html is not None else table.display.map(
        lambda v: html.escape(str(v)))
    rows = "".join("<tr>" + "".join(f"<td>{v}</td>" for v in row) + "</tr>"
                   for row in cells.itertuples(index=False))
    return (f'<p class="caption"><b>{html.escape(table.title)}.</b> '
            f"{html.escape(table.caption)}</p><table><thead><tr>{head}</tr></thead>"
            f"<tbody>{rows}</tbody></table>")


def write_interactive(path: Path, title: str, agg: pd.DataFrame, styles: SolverStyles,
                      summary: Table | None) -> bool:
    """Write the page; False (nothing written) where no family has a metric to show."""
    import plotly.offline

    figures = _figures(agg, styles) if not agg.empty else {}
    if not figures:
        return False
    page = _PAGE.format(title=html.escape(title), table=_table_html(summary),
                        plotly=plotly.offline.get_plotlyjs(),
                        data=json.dumps(figures).replace("</", "<\\/"))
    path.write_text(page, encoding="utf-8")
    return True
