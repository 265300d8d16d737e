"""DSM's training points: taken along its own paths, and only while a path is in the box."""

from __future__ import annotations

import torch

from reference.problems import get_problem
from solvers import get_solver
from solvers.dsm.points import training_points

torch.set_num_threads(1)


def _points(problem, nets, n_paths: int, n_times: int):
    return training_points(nets, problem, n_paths=n_paths, n_times=n_times, nu=1.0,
                           scheme="interpolated", generator=torch.Generator().manual_seed(0),
                           dtype=torch.float32, device=torch.device("cpu"))


def test_points_of_a_path_that_left_the_box_are_dropped():
    """v = 50 t in every coordinate carries every Henon-Heiles path (from q = 2) past the
    box's face at 11 by t ~ 0.6 of T = 20: only the points before that remain."""
    problem = get_problem("henon_heiles", d=2)
    nets = get_solver("dsm", width=8, seed=0).build(problem)
    with torch.no_grad():
        nets.net_v.out.bias.fill_(50.0)  # v = v_0 + t N_v: N_v = 50 everywhere
    x, t = _points(problem, nets, n_paths=4, n_times=problem.n_steps)
    lo, hi = problem.box
    assert ((x >= lo) & (x <= hi)).all() and torch.isfinite(x).all()
    later = t > 0
    # 2 + 25 t^2 = 11 at t = 0.6: some 60 of each path's 2,000 steps (dt = 0.01) remain;
    # none after t = 1, by when every path is far outside
    assert 4 * 10 < int(later.sum()) < 4 * 200
    assert float(t.max()) < 1.0
    # the start points stay, all B of them first, for the initial-condition term
    assert int((t == 0).sum()) >= 4 and bool((t[:4] == 0).all())


def test_nothing_is_dropped_while_the_paths_stay_in_the_box():
    problem = get_problem("harmonic_1d")
    nets = get_solver("dsm", width=8, seed=0).build(problem)
    x, t = _points(problem, nets, n_paths=16, n_times=50)
    assert x.shape == (16 * 51, 1) and t.shape == (16 * 51,)
