"""``bosons``: n 1-D bosons in a harmonic trap with a Gaussian pair interaction (g = 1,
s2 = 0.1), started from the non-interacting ground state N(0, hbar / (2 m omega) I).

No closed form: the grid is the reference for n <= 3; the centre of mass has an exact law at
any n (Kohn's theorem, ``docs/problems.md``). The default grids and box are the authors'
(100 points at n = 2, 50 at n = 3 on [-1.5, 1.5]), narrower than the grid rule at late times.
"""

from reference.problems.trap import TrappedGaussian, trap_options


class Bosons(TrappedGaussian):
    name = "bosons"
    label = "interacting bosons"
    description = "n 1-D bosons in a harmonic trap with a Gaussian pair interaction"
    d_range = (2, 100)
    dimension_symbol = "n"
    box = (-1.5, 1.5)
    grid_points = (100, 100, 50, 24)
    option_specs = trap_options(d=2, hbar=1e-1, g=1.0)

    def derive(self) -> None:
        self.omega, self.center, self.s2 = 1.0, 0.0, 0.1
        # the non-interacting ground state, also when hbar or m are overridden
        self.mu0, self.s0_sq, self.k0 = 0.0, self.hbar / (2 * self.m), float(self.options["phase"])
