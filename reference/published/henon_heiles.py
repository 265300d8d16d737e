"""The published autocorrelation of the Henon-Heiles chain (``henon_heiles``), and how its
recurrence peaks are read.

Source: S. E. Schrader, T. B. Pedersen and S. Kvaal, arXiv:2411.05459, and its public data,
repository ``schraderSimon/Rothe-Henon_Heiles``, files
``code/calculate_expecation_values/reference_data/hehe_split_step_fourier_acorr_dim_{d}_xmax_25_ng_{n}_dt_0.01.npz``:
split-step Fourier on [-25, 25)^d with n = 512, 128, 64 points an axis for d = 2, 3, 4 and
dt = 0.01, lambda = 0.111803, psi_0 the harmonic ground state displaced to q_i = 2. Their
``acorr`` is C(t) = <psi(0)|psi(t)> at t = 0, 0.01, ..., 100. The peaks below are its local
maxima of |C| above 0.1 for t <= 20 (T of the problem), located by ``recurrence_peaks``: the
files' ``acorr2`` (C(2t) from psi(t), half the propagation) gives the same peaks to 3e-4 in
time and 1e-5 in height.
"""

from __future__ import annotations

import numpy as np

__all__ = ["CITATION", "PEAKS", "recurrence_peaks"]

CITATION = ("S. E. Schrader, T. B. Pedersen, S. Kvaal, arXiv:2411.05459; data: github.com/"
            "schraderSimon/Rothe-Henon_Heiles, code/calculate_expecation_values/reference_data")

# d -> ((t, |C(t)|), ...): the recurrence peaks of the published split-step C(t), t <= 20
PEAKS: dict[int, tuple[tuple[float, float], ...]] = {
    2: ((6.6805, 0.85628), (13.2727, 0.68557), (19.8328, 0.56053)),
    3: ((6.8464, 0.59466), (13.5118, 0.36276), (18.9349, 0.12074), (19.7601, 0.23739)),
    4: ((6.8698, 0.45057), (13.4521, 0.23572), (20.1232, 0.13425)),
}


def recurrence_peaks(times: np.ndarray, magnitude: np.ndarray,
                     min_height: float = 0.1) -> list[tuple[float, float]]:
    """(t, |C|) of every interior local maximum of ``magnitude`` (|C| on evenly spaced
    ``times``) above ``min_height``, each refined by the parabola through its sample and
    the two neighbours (exact for a quadratic peak; on a 0.05 spacing it moves the
    Henon-Heiles peaks by under 1e-4)."""
    t, a = np.asarray(times, dtype=float), np.asarray(magnitude, dtype=float)
    h = t[1] - t[0]
    out = []
    for i in range(1, len(a) - 1):
        if not (a[i] > a[i - 1] and a[i] >= a[i + 1] and a[i] >= min_height):
            continue
        curvature = a[i - 1] - 2 * a[i] + a[i + 1]
        shift = 0.5 * (a[i - 1] - a[i + 1]) / curvature if curvature < 0 else 0.0
        out.append((float(t[i] + shift * h), float(a[i] - 0.25 * (a[i - 1] - a[i + 1]) * shift)))
    return out
