"""``harmonic_1d_phase``: ``harmonic_1d`` with the initial phase S_0 = -5 x, so the packet
starts moving."""

from reference.problems.harmonic import Harmonic
from reference.problems.trap import trap_options


class Harmonic1DPhase(Harmonic):
    name = "harmonic_1d_phase"
    label = "harmonic oscillator, 1-D, initial phase"
    description = "harmonic_1d with initial phase S_0 = -5 x"
    d_range = (1, 1)
    option_specs = trap_options(d=1, hbar=1e-2, phase=-5.0)
