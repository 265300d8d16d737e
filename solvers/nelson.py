"""Nelson's diffusion, simulated by Euler-Maruyama: the sampler shared by DSM and the oracle.

With osmotic velocity u = (hbar/2m) grad log rho and current velocity v = (hbar/m) grad S,
the process

    dX = (v(X, t) + nu u(X, t)) dt + sqrt(nu hbar / m) dW,    X_0 ~ rho_0,

has the quantum density rho(., t) = |psi(., t)|^2 as its marginal for every nu > 0 (nu = 1 is
Nelson's choice). Euler-Maruyama on the problem's grid t_i = i dt:

    X_{i+1} = X_i + (v + nu u)(X_i, t_i) dt + sqrt(nu hbar dt / m) xi_i,   xi_i ~ N(0, I).

Where the problem's box is a box of infinite walls (``Problem.reflecting_box``), a step that
crosses a wall is reflected back into the box (``reflect_``): the exact u points away from a
wall and grows like hbar / (m distance), so the continuous process never reaches it, but an
Euler step of finite length can overshoot.

Everything here runs without gradients and in torch, on the caller's device and dtype; the
random numbers come from an explicit ``torch.Generator`` so that a seed fixes the paths.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from reference.problems import Problem

__all__ = ["CPU_CHUNK", "Drift", "euler_maruyama", "reflect_", "sample_initial", "sample_paths",
           "time_indices", "uses_cuda_graph"]

# drift(x, t) -> v + nu u at points x (b, d) and one time t (a 0-d tensor); the result may be
# a buffer the drift reuses at its next call
Drift = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

# paths per drift call on a CPU: a chunk's (paths, 2 width) activations stay in the core's
# cache between layers (measured choice: docs/results.md)
CPU_CHUNK = 2048
# fewest paths per chunk when splitting a small batch among workers: below this the Python
# overhead of a drift call (tens of us, under the GIL) outweighs the arithmetic
MIN_CHUNK = 32


def time_indices(problem: Problem, times: np.ndarray) -> np.ndarray:
    """Step indices i with t_i = i dt equal to ``times``; ValueError for times off the grid."""
    times = np.atleast_1d(np.asarray(times, dtype=float))
    steps = np.rint(times / problem.dt).astype(np.int64)
    off = np.abs(steps * problem.dt - times) > 1e-9 * max(1.0, problem.T)
    if off.any() or (steps < 0).any() or (steps > problem.n_steps).any():
        bad = times[off | (steps < 0) | (steps > problem.n_steps)]
        raise ValueError(
            f"{problem.name}: times {bad[:5].tolist()} are not on the problem's time grid "
            f"(t_i = i * {problem.dt:g}, 0 <= i <= {problem.n_steps})"
        )
    return steps


def sample_initial(
    problem: Problem, n: int, generator: torch.Generator, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """n samples of rho_0, (n, d), drawn from the torch ``generator``."""
    return problem.sample_initial_torch(n, generator, dtype, device)


def reflect_(x: torch.Tensor, problem: Problem) -> torch.Tensor:
    """Fold x into the problem's box by mirror reflection at its faces, in place, where the box
    is reflecting (any overshoot, also one of several box widths); x unchanged otherwise."""
    if problem.reflecting_box:
        lo, hi = problem.box
        width = hi - lo
        # y = (x - lo) mod 2L lies in [0, 2L); L - |y - L| mirrors [L, 2L) back onto [0, L]
        x.sub_(lo).remainder_(2 * width).sub_(width).abs_().neg_().add_(hi)
    return x


def euler_maruyama(
    drift: Drift,
    x0: torch.Tensor,
    problem: Problem,
    *,
    nu: float,
    generator: torch.Generator,
    record: torch.Tensor | None = None,
    chunk: int | None = None,
    workers: int | None = None,
) -> torch.Tensor:
    """Roll Nelson's process over the problem's N steps from x0 (b, d).

    Returns the states at the step indices ``record`` (a sorted int64 tensor, default all
    N + 1), shape (len(record), b, d). Each step draws its Gaussian increments for the whole
    batch in one call (so the paths depend on the seed and b only, not on ``chunk``), then
    evaluates the drift on chunks of ``chunk`` paths (default ``CPU_CHUNK`` on a CPU, or less
    so that every worker gets one; all b on CUDA) so that a CPU keeps a chunk's activations in
    cache. The drift may return a buffer that it reuses (``solvers.dsm.drift``): it is consumed
    before the next call. No host-device synchronisation happens inside the loop; on CUDA a
    drift marked ``graph_safe`` runs as one captured CUDA graph per step.

    On a CPU the chunks of a step are shared among ``workers`` threads (default: torch's
    thread count), each running torch with one intra-op thread: a thread per chunk needs one
    join per step instead of a thread barrier inside every op, which matters most on a busy
    machine. For a given ``chunk`` the numbers do not depend on ``workers``; the default chunk
    does, and a matmul's rounding may depend on its row count (float32 rounding, no more).
    """
    n_steps, dt = problem.n_steps, problem.dt
    noise = math.sqrt(nu * problem.diffusion * dt)
    device, dtype = x0.device, x0.dtype
    times = torch.arange(n_steps + 1, device=device, dtype=dtype) * dt
    if record is None:
        record_list = list(range(n_steps + 1))
    else:
        record_list = [int(i) for i in record]
    slot = {step: k for k, step in enumerate(record_list)}
    out = torch.empty((len(record_list), *x0.shape), dtype=dtype, device=device)
    with torch.no_grad():
        x = x0.clone(memory_format=torch.contiguous_format)  # advanced in place
        xi = torch.empty_like(x)
        if 0 in slot:
            out[slot[0]] = x
        last = max(record_list) if record_list else 0
        if workers is None:
            workers = torch.get_num_threads() if device.type == "cpu" else 1
        with _stepper(drift, x, xi, dt, chunk, workers, problem) as step:
            for i in range(last):
                torch.randn(x.shape, generator=generator, out=xi)
                xi.mul_(noise)
                step(times[i])
                if i + 1 in slot:
                    out[slot[i + 1]] = x
    return out


@contextlib.contextmanager
def _stepper(drift: Drift, x: torch.Tensor, xi: torch.Tensor, dt: float, chunk: int | None,
             workers: int, problem: Problem) -> Iterator[Callable[[torch.Tensor], None]]:
    """t -> one Euler-Maruyama step x <- x + dt b(x, t) + xi, in place (xi already scaled),
    reflected into the problem's box where its faces are walls.

    The arithmetic is the plain step's, (x + dt b) + xi, in its order, so that a chunked,
    threaded or captured step gives the same float32 numbers. CUDA with a ``graph_safe``
    drift: the step is captured once as a CUDA graph and replayed (the random draw stays
    outside the graph: the generator's stream is the eager one)."""
    n = x.shape[0]
    if chunk is None:  # on a CPU, a chunk per worker (B = 100 training paths: 2 x 50)
        chunk = (min(CPU_CHUNK, max(MIN_CHUNK, -(-n // max(1, workers))))
                 if x.device.type == "cpu" else n)
    chunk = max(1, min(chunk, n))
    scaled = torch.empty_like(x)
    parts = [(x[lo:lo + chunk], xi[lo:lo + chunk], scaled[lo:lo + chunk])
             for lo in range(0, n, chunk)]

    def advance(group: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]], t: torch.Tensor
                ) -> None:
        for xc, xic, sc in group:
            torch.mul(drift(xc, t), dt, out=sc)
            reflect_(xc.add_(sc).add_(xic), problem)

    if uses_cuda_graph(drift, x.device):
        yield _cuda_graph(lambda t: advance(parts, t), x)
        return
    workers = max(1, min(workers, len(parts)))
    if workers == 1:
        yield lambda t: advance(parts, t)
        return
    # contiguous groups of chunks, one per thread; the calling thread takes the first
    groups = [parts[k * len(parts) // workers:(k + 1) * len(parts) // workers]
              for k in range(workers)]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(workers - 1, initializer=torch.set_num_threads,
                                initargs=(1,)) as pool:
            def step(t: torch.Tensor) -> None:
                pending = [pool.submit(advance, group, t) for group in groups[1:]]
                advance(groups[0], t)
                for job in pending:
                    job.result()

            yield step
    finally:
        torch.set_num_threads(threads)


def uses_cuda_graph(drift: Drift, device: torch.device) -> bool:
    """Whether the sampler captures its step as a CUDA graph: on CUDA, for a drift that
    declares ``graph_safe`` (fixed-shape kernels, no host synchronisation)."""
    return device.type == "cuda" and bool(getattr(drift, "graph_safe", False))


def _cuda_graph(eager: Callable[[torch.Tensor], None], x: torch.Tensor
                ) -> Callable[[torch.Tensor], None]:
    """``eager`` captured as a CUDA graph reading its time from a static 0-d tensor."""
    t_static = torch.zeros((), dtype=x.dtype, device=x.device)
    saved = x.clone()
    stream = torch.cuda.Stream(device=x.device)
    stream.wait_stream(torch.cuda.current_stream(x.device))
    with torch.cuda.stream(stream):  # warm-up off the capture: allocates the drift's buffers
        for _ in range(2):
            eager(t_static)
    torch.cuda.current_stream(x.device).wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        eager(t_static)
    x.copy_(saved)  # the warm-up advanced x (a capture records without running)

    def replay(t: torch.Tensor) -> None:
        t_static.copy_(t)
        graph.replay()

    return replay


def sample_paths(
    drift: Drift,
    problem: Problem,
    n: int,
    seed: int,
    times: np.ndarray,
    *,
    nu: float,
    dtype: torch.dtype,
    device: torch.device,
    batch_size: int,
) -> np.ndarray:
    """n paths of Nelson's process observed at ``times`` (on the problem's grid), as a float64
    numpy array (n, len(times), d). Simulated in batches of ``batch_size`` paths so that the
    working memory is bounded; one generator seeded with ``seed`` draws every batch in turn,
    so the result depends on (seed, batch_size) only."""
    if n < 1:
        raise ValueError(f"n={n} must be >= 1")
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size} must be >= 1")
    steps = time_indices(problem, times)
    order = np.argsort(steps, kind="stable")
    unique_steps, inverse = np.unique(steps[order], return_inverse=True)
    record = torch.as_tensor(unique_steps)
    generator = torch.Generator(device=device)
    generator.manual_seed(int(seed))
    result = np.empty((n, len(steps), problem.d), dtype=np.float64)
    for start in range(0, n, batch_size):
        b = min(batch_size, n - start)
        x0 = sample_initial(problem, b, generator, dtype, device)
        states = euler_maruyama(drift, x0, problem, nu=nu, generator=generator, record=record)
        states = states.to("cpu", torch.float64).numpy()  # (n_unique, b, d)
        result[start : start + b][:, order] = states[inverse].transpose(1, 0, 2)
    return result
