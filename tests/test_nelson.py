"""The fast Nelson sampler against the plain one: same law, same seeding, same numbers.

The reference is the loop one writes first: x <- x + dt (v + nu u)(x, t_i) + sqrt(nu hbar dt/m)
xi_i with u, v from ``DSMNetworks.velocities`` and xi_i ~ N(0, I) drawn for the whole batch
per step. The sampler (``solvers.nelson.euler_maruyama`` with ``DSMNetworks.drift_function``:
folded activations, fused networks, reused buffers, chunks of paths) must give the same paths.
"""

from __future__ import annotations

import math

import pytest
import torch

from reference.problems import get_problem
from solvers.dsm.activations import SECOND_ORDER
from solvers.dsm.networks import DSMNetworks
from solvers.nelson import euler_maruyama, sample_initial, uses_cuda_graph

NU = 0.7


def _problem(d: int, n_steps: int = 40):
    # a short horizon keeps the test fast; dt stays the problem's
    dt = get_problem("harmonic", d=d).dt
    return get_problem("harmonic", d=d, phase=1.0, n_steps=n_steps, T=n_steps * dt)


def _nets(problem, activation="tanh", ic_built_in=True, width=16, dtype=torch.float32):
    torch.manual_seed(0)
    return DSMNetworks(problem, width, 2, activation, ic_built_in).to(dtype)


def _plain_paths(nets, problem, x0, seed):
    """The reference loop, with the sampler's random stream: one draw per step of shape x."""
    g = torch.Generator().manual_seed(seed)
    dt, noise = problem.dt, math.sqrt(NU * problem.diffusion * problem.dt)
    x, states = x0, [x0]
    with torch.no_grad():
        for i in range(problem.n_steps):
            xi = torch.randn(x.shape, generator=g, dtype=x.dtype)
            u, v = nets.velocities(x, torch.tensor(i * dt, dtype=x.dtype))
            x = x + dt * (v + NU * u) + noise * xi
            states.append(x)
    return torch.stack(states)


@pytest.mark.parametrize("activation", list(SECOND_ORDER))
@pytest.mark.parametrize("ic_built_in", [True, False])
def test_buffered_drift_at_one_time_equals_v_plus_nu_u(activation, ic_built_in):
    """The buffered call (one time, a 0-d tensor) is v + nu u to float64 roundoff, and a
    second call with another chunk size does not disturb the first size's buffers."""
    problem = _problem(3)
    nets = _nets(problem, activation, ic_built_in, dtype=torch.float64)
    drift = nets.drift_function(NU)
    t = torch.tensor(0.3, dtype=torch.float64)
    for n in (9, 4, 9):
        x = sample_initial(problem, n, torch.Generator().manual_seed(n), torch.float64,
                           torch.device("cpu"))
        u, v = nets.velocities(x, t)
        assert torch.allclose(drift(x, t), v + NU * u, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("d", [1, 3])
@pytest.mark.parametrize("chunk", [None, 7])
@pytest.mark.parametrize("ic_built_in", [True, False])
def test_sampler_gives_the_plain_loops_paths(d, chunk, ic_built_in):
    """Same seed, same paths: shape, dtype, and values to float32 rounding. The folded tanh and
    the fused matmuls round differently from the plain nets (a few ulp per step); over 40
    contracting steps those stay within 40 * 4 eps |x| < 1e-5 for |x| <= 2."""
    problem = _problem(d)
    nets = _nets(problem, ic_built_in=ic_built_in)
    g = torch.Generator().manual_seed(3)
    x0 = sample_initial(problem, 50, g, torch.float32, torch.device("cpu"))
    expected = _plain_paths(nets, problem, x0, seed=11)
    got = euler_maruyama(nets.drift_function(NU), x0, problem, nu=NU,
                         generator=torch.Generator().manual_seed(11), chunk=chunk)
    assert got.shape == (problem.n_steps + 1, 50, d) and got.dtype == torch.float32
    assert torch.allclose(got, expected, rtol=0, atol=1e-5)
    assert torch.equal(got[0], x0)  # x0 itself is not advanced in place


def test_paths_do_not_depend_on_the_chunk_size_or_the_workers():
    """The increments are drawn per step for the whole batch, so chunking the drift evaluation
    or sharing the chunks among threads leaves every path bit-identical (pointwise drift)."""
    problem = _problem(2)

    def drift(x, t):
        return -x * (1.0 + t)

    x0 = sample_initial(problem, 23, torch.Generator().manual_seed(0), torch.float32,
                        torch.device("cpu"))
    runs = [euler_maruyama(drift, x0, problem, nu=NU, generator=torch.Generator().manual_seed(5),
                           chunk=c, workers=w) for c in (None, 1, 5, 23, 1000) for w in (1, 3)]
    for other in runs[1:]:
        assert torch.equal(runs[0], other)


def test_threaded_chunks_give_the_single_threads_dsm_paths():
    """The fused drift keeps its buffers per thread: three workers on chunks of 4 give the
    one-thread paths exactly (each chunk's arithmetic is the same, one intra-op thread)."""
    problem = _problem(3)
    nets = _nets(problem)
    x0 = sample_initial(problem, 30, torch.Generator().manual_seed(0), torch.float32,
                        torch.device("cpu"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        runs = [euler_maruyama(nets.drift_function(NU), x0, problem, nu=NU, chunk=4, workers=w,
                               generator=torch.Generator().manual_seed(4)) for w in (1, 3)]
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(runs[0], runs[1])
    assert torch.get_num_threads() == threads


def test_cpu_path_keeps_dtype_and_shape_and_records_the_requested_steps():
    """float64 networks give float64 states; ``record`` picks (and orders) the rows."""
    problem = _problem(3)
    nets = _nets(problem, dtype=torch.float64)
    x0 = sample_initial(problem, 6, torch.Generator().manual_seed(0), torch.float64,
                        torch.device("cpu"))
    record = torch.tensor([0, 5, problem.n_steps])
    drift = nets.drift_function(NU)
    part = euler_maruyama(drift, x0, problem, nu=NU, generator=torch.Generator().manual_seed(1),
                          record=record, chunk=4)
    full = euler_maruyama(drift, x0, problem, nu=NU, generator=torch.Generator().manual_seed(1))
    assert part.shape == (3, 6, 3) and part.dtype == torch.float64
    assert torch.allclose(part, full[record], rtol=0, atol=1e-13)  # float64 roundoff


def test_cuda_graph_is_chosen_only_on_cuda_for_a_graph_safe_drift():
    """The captured step needs CUDA and a drift that promises fixed shapes and no host sync
    (the fused DSM drift does; an arbitrary callable does not)."""
    problem = _problem(1)
    fused = _nets(problem).drift_function(NU)
    assert uses_cuda_graph(fused, torch.device("cuda"))
    assert not uses_cuda_graph(fused, torch.device("cpu"))
    assert not uses_cuda_graph(lambda x, t: -x, torch.device("cuda"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_graph_sampler_matches_the_cpu_sampler():
    """On CUDA the captured step gives the CPU paths' shape and dtype, and a seed fixes the
    paths there too (CPU and CUDA generators draw different streams, so values are not
    compared across devices)."""
    problem = _problem(1)
    nets = _nets(problem)
    x0 = sample_initial(problem, 64, torch.Generator().manual_seed(0), torch.float32,
                        torch.device("cpu"))
    cpu = euler_maruyama(nets.drift_function(NU), x0, problem, nu=NU,
                         generator=torch.Generator().manual_seed(2))
    cuda_nets = nets.to("cuda")
    gen = torch.Generator(device="cuda").manual_seed(2)
    gpu = euler_maruyama(cuda_nets.drift_function(NU), x0.cuda(), problem, nu=NU, generator=gen)
    assert gpu.shape == cpu.shape and gpu.dtype == cpu.dtype and gpu.device.type == "cuda"
    replay = euler_maruyama(cuda_nets.drift_function(NU), x0.cuda(), problem, nu=NU,
                            generator=torch.Generator(device="cuda").manual_seed(2))
    assert torch.equal(gpu, replay)  # same seed, same paths on the device
