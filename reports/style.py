"""One visual style for every report figure: the seaborn theme, and each solver's label, short
label, colour and place in legends and tables, read from the results rows.

Every row carries its solver's declared facts (``dsm_bench.schema.SOLVER_FACTS``:
solver_label, solver_short_label, solver_color, solver_floor, ...), so a plugin solver is
drawn with its own label and colour even where it is not installed. ``SolverStyles.from_table``
turns them into one lookup per report.

The palette is Okabe & Ito's (2008), distinguishable under the common colour-vision
deficiencies; a solver that declares no colour gets the next one not declared by another.
The reference (exact or grid) is always black and dashed, so no solver is black.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import matplotlib

# Reports are built headless (CI, ssh): never let matplotlib pick an interactive backend.
matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

__all__ = [
    "COLUMN_WIDTH",
    "DPI",
    "FIG_WIDTH",
    "MARKERS",
    "PAGE_WIDTH",
    "FLOOR_WORDS",
    "PALETTE",
    "REFERENCE_STYLE",
    "SolverStyle",
    "SolverStyles",
    "apply_style",
    "dimension_label",
    "dimension_symbol",
    "remember_problem_facts",
    "panel_grid",
    "variant_linestyle",
]

# Okabe & Ito's colours without black (black is the reference), then a neutral grey
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442",
           "#7F7F7F")

# Data for reading results written before rows carried the solver facts (old tables only):
# the four built-in solvers' labels, colours and floor flag as they were then drawn. Rows
# with facts never consult it; a solver missing here falls back to its name.
_LEGACY_FACTS: dict[str, dict[str, Any]] = {
    "dsm": {"label": "DSM", "short_label": "DSM", "color": "#0072B2", "floor": False},
    "pinn": {"label": "PINN (DeepXDE)", "short_label": "PINN", "color": "#D55E00",
             "floor": False},
    "grid": {"label": "Crank-Nicolson grid", "short_label": "CN grid", "color": "#009E73",
             "floor": False},
    "oracle": {"label": "oracle (exact drift; sampling floor)", "short_label": "oracle",
               "color": "#CC79A7", "floor": True},
}

# what the report says of an excess over the floor whose interval contains 0
FLOOR_WORDS = "not distinguishable from the sampling floor at this sample count"

REFERENCE_STYLE = {"color": "black", "linestyle": "--", "linewidth": 1.4}

# one figure column in a two-column paper is ~3.4 in; full width ~7 in. Every figure is drawn
# at both (``reports.figures.build_all``); FIG_WIDTH is the width being drawn
PAGE_WIDTH = 7.0
COLUMN_WIDTH = 3.4
FIG_WIDTH = PAGE_WIDTH
DPI = 150
# one marker per solver, in the solvers' order (with its colour, the same in every figure)
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "h")

_VARIANT_STYLES = ["-", "--", ":", "-."]


def apply_style() -> None:
    """The seaborn theme every report figure is drawn with."""
    sns.set_theme(context="paper", style="whitegrid", font_scale=1.0)
    plt.rcParams.update(
        {
            "figure.dpi": DPI,
            "savefig.dpi": DPI,
            "savefig.bbox": "tight",
            "axes.titlesize": 9,
            "axes.labelsize": 8.5,
            "legend.fontsize": 7,
            "legend.frameon": True,
            "legend.framealpha": 0.85,
            "xtick.labelsize": 7.5,
            "ytick.labelsize": 7.5,
            # embed TrueType fonts in the PDFs (journals reject Type 3)
            "pdf.fonttype": 42,
            "ps.fonttype": 42,
        }
    )


def panel_grid(n: int, height: float = 2.5) -> tuple[int, int, tuple[float, float]]:
    """(rows, columns, figsize) of n panels (at most 3) at the width being drawn: side by
    side at page width, stacked at column width."""
    ncols = 1 if FIG_WIDTH < 5 else max(1, min(3, n))
    nrows = -(-n // ncols)
    row_height = height * (0.85 if ncols == 1 else 1.0)
    return nrows, ncols, (FIG_WIDTH, row_height * nrows + 0.3)


def variant_linestyle(index: int) -> str:
    """Line style of the index-th configuration variant of one solver (colour = solver)."""
    return _VARIANT_STYLES[index % len(_VARIANT_STYLES)]


# problem -> the symbol of its size, as results tables record it (``remember_problem_facts``)
_DIMENSION_SYMBOLS: dict[str, str] = {}


def remember_problem_facts(table: pd.DataFrame) -> None:
    """Keep the problems' declared facts that a results table records (``problem_*``)."""
    if "problem_dimension_symbol" not in table.columns:
        return
    for problem, symbol in zip(table["problem"], table["problem_dimension_symbol"], strict=True):
        if _text(symbol):
            _DIMENSION_SYMBOLS[str(problem)] = _text(symbol)


def dimension_symbol(problem: str) -> str:
    """The symbol of a problem's size as the problem declares it ("n" for particles, each in
    1-D): from the results table, else the problem registry (tables written before problems
    declared it), else d."""
    if problem in _DIMENSION_SYMBOLS:
        return _DIMENSION_SYMBOLS[problem]
    from reference.problems import problem_class

    try:
        return problem_class(problem).dimension_symbol
    except ValueError:
        return "d"


def dimension_label(problem: str) -> str:
    """The axis label of a problem's size."""
    return "particles n" if dimension_symbol(problem) == "n" else "dimension d"


# ------------------------------------------------------------------------ solver styles
@dataclass(frozen=True)
class SolverStyle:
    """How one solver is drawn and listed."""

    name: str
    label: str
    short_label: str
    color: str
    floor: bool  # a sampling floor: drawn as a band, compared against, listed last
    marker: str = "o"


def _text(value: Any) -> str:
    """A fact's text; "" for a missing value (None, NaN, pd.NA)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    return str(value).strip()


def _flag(value: Any) -> bool | None:
    """A fact's truth value as written by parquet (bool), CSV ("True") or JSON; None if absent."""
    if isinstance(value, str):
        text = value.strip().lower()
        return {"true": True, "1": True, "1.0": True, "false": False, "0": False,
                "0.0": False}.get(text)
    if _text(value) == "":
        return None
    return bool(value)


def _first(values: Iterable[Any], read) -> Any:
    """The first value of a column that is present (facts repeat on every row of a solver)."""
    for value in values:
        parsed = read(value)
        if parsed not in ("", None):
            return parsed
    return None


class SolverStyles:
    """Label, short label, colour and order of every solver of one results table."""

    def __init__(self, styles: Iterable[SolverStyle]):
        self._styles = {s.name: s for s in styles}

    @classmethod
    def from_table(cls, table: pd.DataFrame) -> SolverStyles:
        """Read each solver's facts from its rows (solver_label, solver_short_label,
        solver_color, solver_floor); a solver without them (a table written before rows
        carried facts) takes the legacy built-in entry or its name. Undeclared colours are
        handed out from ``PALETTE`` in the solvers' order, skipping declared ones."""
        if table is None or "solver" not in table or table.empty:
            return cls([])
        facts: dict[str, dict[str, Any]] = {}
        for name, rows in table.groupby("solver", sort=False):
            name = str(name)
            legacy = _LEGACY_FACTS.get(name, {})

            def column(key: str, read, rows=rows) -> Any:
                return _first(rows[key], read) if key in rows else None

            label = column("solver_label", _text)
            declared = label is not None  # a row with facts: legacy data is not consulted
            base = {} if declared else legacy
            floor = column("solver_floor", _flag)
            facts[name] = {
                "label": label or base.get("label", name),
                "short_label": (column("solver_short_label", _text) or
                                (label if declared else base.get("short_label", name))),
                "color": column("solver_color", _text) or base.get("color", ""),
                "floor": bool(floor) if floor is not None else bool(base.get("floor", False)),
            }
        # methods first, floors last, each in name order (stable across reports)
        order = sorted(facts, key=lambda n: (facts[n]["floor"], n))
        taken = {f["color"].lower() for f in facts.values() if f["color"]}
        spare = [c for c in PALETTE if c.lower() not in taken] or list(PALETTE)
        styles, handed_out = [], 0
        for name in order:
            color = facts[name]["color"]
            if not color:
                color = spare[handed_out % len(spare)]
                handed_out += 1
            styles.append(SolverStyle(name, facts[name]["label"], facts[name]["short_label"],
                                      color, facts[name]["floor"],
                                      MARKERS[len(styles) % len(MARKERS)]))
        return cls(styles)

    def get(self, name: str) -> SolverStyle:
        """The solver's style; a name the table did not hold is drawn as its name in grey."""
        return self._styles.get(name) or SolverStyle(name, name, name, PALETTE[-1], False)

    @property
    def order(self) -> list[str]:
        """Every solver of the table: methods first, then the floors."""
        return list(self._styles)

    def sort_key(self, name: str) -> tuple[int, str]:
        """Position in ``order``; an unknown name after them, by name."""
        order = self.order
        return (order.index(name) if name in order else len(order), name)

    def label(self, name: str, variant: str = "") -> str:
        label = self.get(name).label
        return f"{label}, {variant}" if variant else label

    def short_label(self, name: str) -> str:
        return self.get(name).short_label

    def color(self, name: str) -> str:
        return self.get(name).color

    def marker(self, name: str) -> str:
        return self.get(name).marker

    def is_floor(self, name: str) -> bool:
        return self.get(name).floor

    @property
    def floors(self) -> list[str]:
        return [n for n in self.order if self.is_floor(n)]
