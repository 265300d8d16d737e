"""``harmonic_1d``: the seed paper's 1-D harmonic oscillator, trap centre 0.1, started from
the wide Gaussian N(0, 0.1) at rest."""

from reference.problems.harmonic import Harmonic


class Harmonic1D(Harmonic):
    name = "harmonic_1d"
    label = "harmonic oscillator, 1-D"
    description = "1-D harmonic oscillator, trap centre 0.1, wide Gaussian start"
    d_range = (1, 1)
