"""A tiny document model rendered twice: report.md (figures linked) and a self-contained
report.html (figures embedded as base64 PNG, inline CSS, no external requests)."""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

__all__ = ["Document", "render_markdown", "render_html"]


@dataclass
class Heading:
    text: str
    level: int = 2


@dataclass
class Paragraph:
    text: str


@dataclass
class Bullets:
    items: list[str]


@dataclass
class TableBlock:
    title: str
    caption: str
    frame: pd.DataFrame
    files: list[str] = field(default_factory=list)  # relative paths of the CSV / .tex
    group_header: list[tuple[str, int]] | None = None
    css_class: str = ""  # HTML: "summary" lays its cells out in lines
    html_cells: pd.DataFrame | None = None  # HTML fragments for the cells, where given


@dataclass
class FigureBlock:
    number: int
    title: str
    caption: str
    png: str   # relative to the report directory
    pdf: str
    headline: bool = False  # HTML: sized to fit the first screen with the summary table


@dataclass
class Document:
    title: str
    blocks: list = field(default_factory=list)

    def heading(self, text: str, level: int = 2) -> None:
        self.blocks.append(Heading(text, level))

    def paragraph(self, text: str) -> None:
        self.blocks.append(Paragraph(text))

    def bullets(self, items: list[str]) -> None:
        if items:
            self.blocks.append(Bullets(list(items)))

    def table(self, block: TableBlock) -> None:
        self.blocks.append(block)

    def figure(self, block: FigureBlock) -> None:
        self.blocks.append(block)


# ---------------------------------------------------------------------------- markdown
def _md_cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", "<br>")


def _md_table(frame: pd.DataFrame) -> str:
    header = "| " + " | ".join(_md_cell(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    rows = ["| " + " | ".join(_md_cell(v) for v in row) + " |"
            for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


def render_markdown(doc: Document) -> str:
    out = [f"# {doc.title}", ""]
    for block in doc.blocks:
        if isinstance(block, Heading):
            out += [f"{'#' * block.level} {block.text}", ""]
        elif isinstance(block, Paragraph):
            out += [block.text, ""]
        elif isinstance(block, Bullets):
            out += [f"- {item}" for item in block.items] + [""]
        elif isinstance(block, TableBlock):
            out += [f"**{block.title}.** {block.caption}", ""]
            if block.group_header:
                spans = ", ".join(f"{label}: {span} columns" for label, span in block.group_header)
                out += [f"*Column groups, left to right: {spans}.*", ""]
            out += [_md_table(block.frame) if len(block.frame) else "*(no rows)*", ""]
            if block.files:
                out += ["Files: " + ", ".join(f"[{f}]({f})" for f in block.files), ""]
        elif isinstance(block, FigureBlock):
            out += [f"![{block.title}]({block.png})", "",
                    f"*Figure {block.number}: {block.title}.* {block.caption} "
                    f"([PDF]({block.pdf}))", ""]
    return "\n".join(out).rstrip() + "\n"


# -------------------------------------------------------------------------------- html
_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; max-width: 1280px;
       margin: 0.8em auto; padding: 0 1em; line-height: 1.4; color: #222; }
h1 { font-size: 1.4em; margin: 0.2em 0 0.3em; }
h1 + p { margin-top: 0; font-size: 0.9em; }
table.summary { font-size: 0.78em; margin: 0.2em 0 0.3em; line-height: 1.2; }
table.summary td, table.summary th { white-space: nowrap; text-align: left;
                                     padding: 0.15em 0.6em; vertical-align: top; }
table.summary .c { font-size: 0.85em; color: #555; }
table.summary .x + .c + .x { margin-top: 0.25em; }
p.caption.summary { font-size: 0.8em; margin: 0.2em 0; }
figure.headline { margin: 0.3em 0 1.5em; } figure.headline img { max-height: 400px; }
h2 { font-size: 1.3em; margin-top: 1.8em; border-bottom: 1px solid #ddd; }
h1 + p + h2 { margin-top: 0.4em; margin-bottom: 0.2em; }
h3 { font-size: 1.1em; }
table { border-collapse: collapse; font-size: 0.82em; margin: 0.6em 0 1.2em; }
th, td { padding: 0.25em 0.6em; text-align: right; border-bottom: 1px solid #e3e3e3; }
th { border-bottom: 2px solid #444; } thead tr.group th { border-bottom: 1px solid #888; text-align: center; }
td.text, th.text { text-align: left; }
figure { margin: 1.2em 0 2em; } figure img { max-width: 100%; }
figcaption, .caption { font-size: 0.9em; color: #333; }
code { background: #f4f4f4; padding: 0 0.2em; }
"""

_TEXT_COLUMNS = {"problem", "size", "solver", "runs", "message", "status", "variant"}


def _inline(text: str) -> str:
    """Escape, then render `code` spans (the only inline markup the report uses)."""
    escaped = html.escape(text)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)


def _html_table(block: TableBlock) -> str:
    parts = [f'<table class="{block.css_class}">' if block.css_class else "<table>", "<thead>"]
    if block.group_header:
        parts.append('<tr class="group">' + "".join(
            f'<th colspan="{span}">{html.escape(label)}</th>' for label, span in block.group_header
        ) + "</tr>")
    parts.append("<tr>" + "".join(
        f'<th class="{"text" if c in _TEXT_COLUMNS else "num"}">{html.escape(str(c))}</th>'
        for c in block.frame.columns) + "</tr>")
    parts.append("</thead><tbody>")
    cells = block.html_cells if block.html_cells is not None else block.frame.map(
        lambda v: html.escape(str(v)))
    for row in cells.itertuples(index=False):
        parts.append("<tr>" + "".join(
            f'<td class="{"text" if c in _TEXT_COLUMNS else "num"}">{v}</td>'
            for c, v in zip(block.frame.columns, row, strict=True)) + "</tr>")
    parts.append("</tbody></table>")
    return "\n".join(parts)


def render_html(doc: Document, base: Path) -> str:
    """The HTML report; figures are read from ``base`` / png and embedded."""
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           f"<title>{html.escape(doc.title)}</title>", f"<style>{_CSS}</style>", "</head>",
           "<body>", f"<h1>{html.escape(doc.title)}</h1>"]
    for block in doc.blocks:
        if isinstance(block, Heading):
            out.append(f"<h{block.level}>{_inline(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            out.append(f"<p>{_inline(block.text)}</p>")
        elif isinstance(block, Bullets):
            out.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in block.items) + "</ul>")
        elif isinstance(block, TableBlock):
            out.append(f'<p class="caption {block.css_class}"><b>{html.escape(block.title)}.</b> '
                       f"{_inline(block.caption)}</p>")
            out.append(_html_table(block) if len(block.frame) else "<p><i>(no rows)</i></p>")
        elif isinstance(block, FigureBlock):
            data = base64.b64encode((base / block.png).read_bytes()).decode("ascii")
            out.append(
                f'<figure id="fig{block.number}"'
                + (' class="headline"' if block.headline else "")
                + f'><img alt="{html.escape(block.title)}" '
                f'src="data:image/png;base64,{data}"><figcaption><b>Figure {block.number}: '
                f"{html.escape(block.title)}.</b> {_inline(block.caption)}</figcaption></figure>"
            )
    out += ["</body>", "</html>", ""]
    return "\n".join(out)
