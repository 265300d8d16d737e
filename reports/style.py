"""One visual style for every report figure: seaborn theme, a colour-blind safe palette with a
fixed colour per solver, and the labels (with units) used on axes, tables and legends.

The palette is Okabe & Ito's (2008), distinguishable under the common colour-vision
deficiencies. The reference (exact or grid) is always black and dashed, so no solver is black.
"""

from __future__ import annotations

import matplotlib

# Reports are built headless (CI, ssh): never let matplotlib pick an interactive backend.
matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

__all__ = [
    "SOLVER_ORDER",
    "SOLVER_LABELS",
    "SOLVER_SHORT",
    "METRIC_LABELS",
    "REFERENCE_STYLE",
    "apply_style",
    "solver_color",
    "solver_label",
    "solver_sort_key",
    "variant_linestyle",
    "FIG_WIDTH",
    "DPI",
]

# fixed order in legends and tables: the methods first, then the sampling floor
SOLVER_ORDER = ("grid", "dsm", "pinn", "oracle")

_OKABE_ITO = {
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "bluish_green": "#009E73",
    "reddish_purple": "#CC79A7",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "yellow": "#F0E442",
}

SOLVER_COLORS = {
    "dsm": _OKABE_ITO["blue"],
    "pinn": _OKABE_ITO["vermillion"],
    "grid": _OKABE_ITO["bluish_green"],
    "oracle": _OKABE_ITO["reddish_purple"],
}
# colours for solvers registered later, handed out in name order (stable across figures)
_SPARE_COLORS = [_OKABE_ITO["orange"], _OKABE_ITO["sky_blue"], _OKABE_ITO["yellow"], "#7F7F7F"]

SOLVER_LABELS = {
    "dsm": "DSM",
    "pinn": "PINN (DeepXDE)",
    "grid": "Crank-Nicolson grid",
    "oracle": "oracle (exact drift; sampling floor)",
}

# short names for narrow panel titles (density maps)
SOLVER_SHORT = {"dsm": "DSM", "pinn": "PINN", "grid": "CN grid", "oracle": "oracle"}

METRIC_LABELS = {
    "mean_err": "mean error (rel. L2 over t)",
    "var_err": "variance error (rel. L2 over t)",
    "w1_err": "W1 distance of marginals (length)",
    "u_err": "osmotic velocity u error (rel. L2)",
    "v_err": "current velocity v error (rel. L2)",
    "energy_drift": "energy drift max|E(t)-E(0)|/|E(0)|",
    "com_mean_err": "centre-of-mass mean error",
    "com_var_err": "centre-of-mass variance error (rel. L2)",
    "train_s": "training wall time (s)",
    "s_per_iter": "time per iteration (s)",
    "peak_rss_mb": "peak host memory RSS (MiB)",
    "peak_gpu_mb": "peak GPU memory (MiB)",
}

REFERENCE_STYLE = {"color": "black", "linestyle": "--", "linewidth": 1.4}

# one figure column in a two-column paper is ~3.4 in; full width ~7 in
FIG_WIDTH = 7.0
DPI = 150

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


def solver_sort_key(name: str) -> tuple[int, str]:
    """Known solvers in SOLVER_ORDER, then any other in name order."""
    return (SOLVER_ORDER.index(name) if name in SOLVER_ORDER else len(SOLVER_ORDER), name)


def solver_color(name: str, known: list[str] | None = None) -> str:
    """The solver's colour, the same in every figure."""
    if name in SOLVER_COLORS:
        return SOLVER_COLORS[name]
    # hash-free and stable: index of the name among all unknown names seen in this report
    others = sorted({n for n in (known or [name]) if n not in SOLVER_COLORS} | {name})
    return _SPARE_COLORS[others.index(name) % len(_SPARE_COLORS)]


def solver_label(name: str, variant: str = "") -> str:
    label = SOLVER_LABELS.get(name, name)
    return f"{label} [{variant}]" if variant else label


def variant_linestyle(index: int) -> str:
    """Line style of the index-th configuration variant of one solver (colour = solver)."""
    return _VARIANT_STYLES[index % len(_VARIANT_STYLES)]
