"""Speed of the Nelson sampler with DSM's drift against a plain torch loop, in one process.

Variants, all on the same networks (harmonic problem, depth 2, tanh), float32, no gradients:

* ``plain``: ``x = x + dt * (u(z) + v(z)) + noise * xi`` with ``nn.Sequential`` + ``nn.Tanh``,
  z = [x, t], the whole batch at once (the loop one would write first);
* ``sampler``: ``solvers.nelson.euler_maruyama`` with ``DSMNetworks.drift_function`` (fused,
  folded, buffered, chunked by ``CPU_CHUNK``);
* ``sampler_chunk=<c>``: the same with other chunk sizes (``--chunks``).

Variants are interleaved (A B C A B C ...) ``--repeats`` times and the medians reported, so a
shared machine's load hits them alike; each row carries the load average at the time. Both wall
and CPU seconds per path-step are printed: on a loaded machine the CPU time is the steadier.

    python -m speed.sampler_speed --width 64 --paths 8192 --steps 200 --threads 1
    python -m speed.sampler_speed --width 64 --threads 2 --chunks 1024 4096 65536
    python -m speed.sampler_speed --width 400 --paths 100 --steps 1000  # training rollout
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from reference.problems import get_problem  # noqa: E402
from solvers import get_solver  # noqa: E402
from solvers.dsm.networks import MLP, DSMNetworks  # noqa: E402
from solvers.nelson import euler_maruyama, sample_initial  # noqa: E402


def sequential(net: MLP) -> nn.Sequential:
    """The same MLP as nn.Sequential with nn.Tanh, reading z = [x, t]."""
    mods: list[nn.Module] = []
    for layer in net.layers:
        mods += [layer, nn.Tanh()]
    return nn.Sequential(*mods, net.out)


def plain_loop(nets: DSMNetworks, x0: torch.Tensor, nu: float, generator: torch.Generator
               ) -> torch.Tensor:
    """The naive simulation: nn.Sequential nets, a new tensor per op, IC built in."""
    problem = nets.problem
    u_net, v_net = sequential(nets.net_u), sequential(nets.net_v)
    dt, noise = problem.dt, (nu * problem.diffusion * problem.dt) ** 0.5
    x = x0
    with torch.no_grad():
        for i in range(problem.n_steps):
            t = i * dt
            z = torch.cat([x, torch.full_like(x[:, :1], t)], 1)
            u = problem.u0(x) + t * u_net(z)
            v = problem.v0(x) + t * v_net(z)
            x = x + dt * (v + nu * u) + noise * torch.randn(x.shape, generator=generator)
    return x


def variants(nets: DSMNetworks, chunks: list[int], nu: float
             ) -> dict[str, Callable[[torch.Tensor, torch.Generator], object]]:
    problem = nets.problem
    out: dict[str, Callable[[torch.Tensor, torch.Generator], object]] = {
        "plain": lambda x0, g: plain_loop(nets, x0, nu, g),
        "sampler": lambda x0, g: euler_maruyama(nets.drift_function(nu), x0, problem, nu=nu,
                                                generator=g, record=torch.tensor([problem.n_steps])),
    }
    for c in chunks:
        out[f"sampler_chunk={c}"] = (
            lambda x0, g, c=c: euler_maruyama(nets.drift_function(nu), x0, problem, nu=nu,
                                              generator=g, record=torch.tensor([problem.n_steps]),
                                              chunk=c))
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--d", type=int, default=1)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--paths", type=int, default=8192)
    ap.add_argument("--steps", type=int, default=200, help="time steps (the problem's dt kept)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--chunks", type=int, nargs="*", default=[])
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    problem = get_problem("harmonic", d=args.d)
    problem = dataclasses.replace(problem, T=args.steps * problem.dt, n_steps=args.steps)
    nets = get_solver("dsm", width=args.width).build(problem)
    nets.eval()
    runs = variants(nets, args.chunks, 1.0)
    wall: dict[str, list[float]] = {k: [] for k in runs}
    cpu: dict[str, list[float]] = {k: [] for k in runs}
    loads: list[str] = []
    path_steps = args.paths * args.steps
    for _ in range(args.repeats):
        loads.append(Path("/proc/loadavg").read_text().split()[0])
        for name, run in runs.items():
            g = torch.Generator().manual_seed(0)
            x0 = sample_initial(problem, args.paths, g, torch.float32, torch.device("cpu"))
            w0, c0 = time.perf_counter(), time.process_time()
            run(x0, g)
            wall[name].append((time.perf_counter() - w0) / path_steps * 1e6)
            cpu[name].append((time.process_time() - c0) / path_steps * 1e6)
    print(f"d={args.d} width={args.width} paths={args.paths} steps={args.steps} "
          f"threads={args.threads} repeats={args.repeats} load(1 min)={','.join(loads)}")
    print(f"{'variant':24s} {'wall us/path-step':>18s} {'cpu us/path-step':>17s} "
          f"{'plain/this (wall)':>18s} {'plain/this (cpu)':>17s}")
    base_w, base_c = statistics.median(wall["plain"]), statistics.median(cpu["plain"])
    for name in runs:
        w, c = statistics.median(wall[name]), statistics.median(cpu[name])
        print(f"{name:24s} {w:18.3f} {c:17.3f} {base_w / w:18.2f} {base_c / c:17.2f}")


if __name__ == "__main__":
    main()
