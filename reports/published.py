"""Published figures shown beside this benchmark's numbers: the authors' (Orlova et al. 2024)
errors, and the Henon-Heiles recurrences of Schrader, Pedersen & Kvaal (reference.published).

Data about their paper, kept in this one place: keyed by (problem, d, solver registry name),
taken from their notebooks (10 trials x 10^4 samples, relative L2 over time; docs/results.md
sets them beside this benchmark's). They were not rerun here.
"""

from __future__ import annotations

from typing import Any

from reference.published.henon_heiles import CITATION as HENON_HEILES_CITATION
from reference.published.henon_heiles import PEAKS as HENON_HEILES_PEAKS

__all__ = ["PUBLISHED", "PUBLISHED_AUTOCORRELATION", "published_for"]

# "<metric>_spread": their ± where published; "approx": metrics published as "about"
PUBLISHED: dict[tuple[str, int, str], dict[str, Any]] = {
    ("harmonic_1d", 1, "dsm"): {"mean_err": 0.108, "mean_err_spread": 0.092,
                                "var_err": 0.022, "var_err_spread": 0.010},
    ("harmonic_1d", 1, "pinn"): {"mean_err": 0.699, "var_err": 0.701},
    ("harmonic_1d_phase", 1, "dsm"): {"mean_err": 0.156, "mean_err_spread": 0.077,
                                      "var_err": 0.018, "var_err_spread": 0.009},
    ("harmonic_1d_phase", 1, "pinn"): {"mean_err": 2.81, "var_err": 0.673},
    ("harmonic", 3, "dsm"): {"mean_err": 0.087, "mean_err_spread": 0.061,
                             "var_err": 0.013, "approx": ("var_err",)},
}


def published_for(problem: str, d: int, solver: str) -> dict[str, Any] | None:
    """The authors' published figures for this case, or None (also for a size that is not a
    number)."""
    try:
        return PUBLISHED.get((problem, int(d), solver))
    except (TypeError, ValueError):
        return None


# problem -> (d -> ((t, |C(t)|) recurrence peaks), citation): published autocorrelations
PUBLISHED_AUTOCORRELATION: dict[str, tuple[dict[int, tuple[tuple[float, float], ...]], str]] = {
    "henon_heiles": (HENON_HEILES_PEAKS, HENON_HEILES_CITATION),
}
