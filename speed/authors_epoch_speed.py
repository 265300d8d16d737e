"""Time per DSM training epoch: the authors' own code beside dsm-bench's DSM, in one run.

The setting is the authors' ``non-interacting-system/run_dsm.sh`` (harmonic trap, T = 1,
N = 1000 steps, B = 100 paths, M = 150 times, ``dim_hid`` 400, ``nn_architecture`` 5 =
``NN_non_interact``: two hidden tanh layers, ``sampling_scheme`` "interpolated", lr 1e-4,
Adam) at d = 1 and 3. dsm-bench's DSM runs the same widths, B, M and N
(``speed/dsm_epoch_speed.py``'s ``AUTHORS`` and ``measure``).

The authors' code (github elena-orlova/deep-stochastic-mechanics) is run unmodified: their
``src/utils.py`` and ``src/nn.py`` are written, as read from ``--authors-repo`` (a git
directory, bare or not, read at HEAD; or a checkout), into a temporary package ``src`` and
their ``train_dsm_non_interact`` is called with the arguments their ``train-DSM.py`` passes.
``src/utils.py`` imports ``qmsolve`` at module level for their numerical reference solution
only (never in training); when ``qmsolve`` cannot be imported here that one import line is
dropped from the temporary copy, and the output says so (``qmsolve: stripped``).

How an epoch is timed:

* authors: inside their loop, from the start of their rollout (``sample_trajectory_M``,
  wrapped with a timer) to the end of ``optimizer.step()`` (an Adam post-step hook). That
  window is one whole epoch of theirs (rollout, loss with its Jacobians, backward, Adam step,
  their tqdm postfix) and leaves out their checkpoint block: with ``save_freq`` larger than
  the run their loop still saves (``torch.save`` and a loss plot) at the start of the last
  epoch, ``tau == n_iter - 1``, into a temporary directory, before that epoch's rollout;
* dsm-bench: one ``fit`` iteration, from the training history (``dsm_epoch_speed.measure``).

Each run trains ``--epochs`` + 1 epochs; the first (warm-up: TorchScript's profiling runs,
allocator growth) is dropped and the median of the others is the run's epoch time. Rollout
seconds: authors, the median of their timed ``sample_trajectory_M`` calls; dsm-bench, one
``training_points`` call after training. Every run is its own subprocess with
``torch.set_num_threads(--threads)``; authors and dsm-bench runs alternate, repeat after
repeat, and the table gives medians over the repeats and the ratio authors / dsm-bench.

The two epochs do the same work in kind (B paths simulated, B (M + 1) training points of
which B at t = 0, M of the N steps picked without replacement, each moved on by a random
fraction of a step, one Adam step on the same two residuals with the same time weights), with
these differences in how:

* authors' rollout: u and v evaluated separately at every step, the loop stops at the last
  picked step (on average about N M / (M + 1), 994 of the 1000 steps) and each picked step
  costs two extra evaluations of both nets on B paths; dsm-bench: one fused v + nu u pass per
  step over all N steps, then one batched pass over the M B picked states;
* authors' loss: all B (M + 1) points at once, Jacobians and grad(div) by d (and d x d)
  reverse passes with ``create_graph``, each net evaluated several times; dsm-bench: forward
  tangents and VJPs in chunks of ``chunk_points`` ("auto": 2048 points on a CPU);
* lr: authors 1e-4; dsm-bench's ``measure`` keeps the solver's lr (1e-3, constant), which does
  not change the work of an epoch;
* the authors' nets are TorchScript modules; dsm-bench's are eager PyTorch.

    python -m speed.authors_epoch_speed --csv /tmp/authors_epoch_speed.csv
    python -m speed.authors_epoch_speed --d-list 1 --epochs 1 --repeats 1   # smoke check
    python -m speed.authors_epoch_speed --authors-repo ~/deep-stochastic-mechanics
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from speed.dsm_epoch_speed import AUTHORS, measure  # noqa: E402

SUBDIR = "non-interacting-system"
SOURCES = ("src/utils.py", "src/nn.py")
QMSOLVE_IMPORT = "from qmsolve import Hamiltonian, TwoBosons, TimeSimulation"
# run_dsm.sh and train-DSM.py: the physics (hbar = h, m, omega, initial std sig2) and loss weights
AUTHORS_RUN = {"T": 1.0, "N": 1000, "omega2": 1.0, "g": 1.0, "init_phase": 0.0, "lr": 1e-4,
               "h": 1e-2, "m": 1.0, "mu": 0.0, "sig2": float(np.sqrt(0.1)), "alpha": 1.0,
               "beta": 1.0, "gamma": 1.0, "seed": 1234}


class AuthorsRepoError(RuntimeError):
    """The authors' repository or one of its files cannot be read."""


def read_authors_sources(repo: str) -> tuple[dict[str, str], str]:
    """The authors' ``src`` files (name -> text) and the commit they came from.

    ``repo`` is a checkout (the files are read from disk) or a git directory, bare or not
    (the files are read at HEAD)."""
    path = Path(repo).expanduser()
    if not path.exists():
        raise AuthorsRepoError(f"authors' repository not found: {path}")
    checkout = path / SUBDIR
    if all((checkout / name).is_file() for name in SOURCES):
        texts = {name: (checkout / name).read_text() for name in SOURCES}
    else:
        texts = {}
        for name in SOURCES:
            proc = subprocess.run(["git", "-C", str(path), "show", f"HEAD:{SUBDIR}/{name}"],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                raise AuthorsRepoError(f"cannot read {SUBDIR}/{name} from {path}: "
                                       f"{proc.stderr.strip()}")
            texts[name] = proc.stdout
    proc = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True,
                          text=True)
    commit = proc.stdout.strip() if proc.returncode == 0 else "unknown"
    return texts, commit


def qmsolve_importable() -> bool:
    """Whether the authors' module-level ``qmsolve`` import works in this interpreter."""
    try:
        importlib.import_module("qmsolve")
    except Exception:  # any failure (missing package or a broken dependency) means strip
        return False
    return True


def write_authors_package(texts: dict[str, str], directory: str, strip_qmsolve: bool) -> None:
    """Write the authors' files as the package ``directory/src``, unchanged except, when
    ``strip_qmsolve``, for the one ``qmsolve`` import line of ``src/utils.py``."""
    package = Path(directory) / "src"
    package.mkdir(parents=True, exist_ok=True)
    # a regular package, so that no other ``src`` on sys.path can take its place
    (package / "__init__.py").write_text("")
    for name, text in texts.items():
        if strip_qmsolve and name == "src/utils.py":
            lines = text.splitlines(keepends=True)
            kept = [line for line in lines if line.strip() != QMSOLVE_IMPORT]
            if len(kept) != len(lines) - 1:
                raise AuthorsRepoError(f"expected one line {QMSOLVE_IMPORT!r} in src/utils.py")
            text = "".join(kept)
        (Path(directory) / name).write_text(text)


def measure_authors(config: dict[str, Any]) -> dict[str, Any]:
    """Run in the subprocess: ``epochs + 1`` epochs of the authors' ``train_dsm_non_interact``,
    timed from the start of each rollout to the end of its Adam step."""
    import torch

    if config["threads"]:
        torch.set_num_threads(config["threads"])
    sys.path.insert(0, config["package_dir"])
    authors = importlib.import_module("src.nn")
    device = torch.device(config["device"] if config["device"] != "auto"
                          else ("cuda" if torch.cuda.is_available() else "cpu"))

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    starts: list[float] = []
    rollouts: list[float] = []
    ends: list[float] = []
    cpu_starts: list[float] = []
    cpu_ends: list[float] = []
    rollout = authors.sample_trajectory_M

    def timed_rollout(*args: Any, **kwargs: Any) -> Any:
        sync()
        start = time.perf_counter()
        starts.append(start)
        cpu_starts.append(time.process_time())
        out = rollout(*args, **kwargs)
        sync()
        rollouts.append(time.perf_counter() - start)
        return out

    # the loop looks the function up in its module at each epoch: the wrapper only times it
    authors.sample_trajectory_M = timed_rollout

    run, d = AUTHORS_RUN, config["d"]
    omega = float(np.sqrt(run["omega2"]))
    torch.manual_seed(run["seed"])
    net_u = authors.NN_non_interact(d + 1, config["width"], d, run["h"], run["m"], omega,
                                    run["sig2"], run["init_phase"], 1.0, 0.0).to(device)
    net_v = authors.NN_non_interact(d + 1, config["width"], d, run["h"], run["m"], omega,
                                    run["sig2"], run["init_phase"], 0.0, 1.0).to(device)
    optimizer = torch.optim.Adam([*net_u.parameters(), *net_v.parameters()], lr=run["lr"],
                                 weight_decay=0)

    def step_done(*_: Any) -> None:
        sync()
        ends.append(time.perf_counter())
        cpu_ends.append(time.process_time())

    optimizer.register_step_post_hook(step_done)
    time_splits = torch.Tensor(np.linspace(0, run["T"], run["N"] + 1))
    n_iter = config["epochs"] + 1
    with tempfile.TemporaryDirectory() as checkpoints, contextlib.redirect_stdout(sys.stderr):
        # stdout carries this process's JSON result: their prints go to stderr
        authors.train_dsm_non_interact(
            net_u, net_v, device, optimizer, torch.nn.MSELoss(), run["alpha"], run["beta"],
            run["gamma"], run["N"], time_splits, path=checkpoints, save_freq=10 * n_iter + 1,
            n_iter=n_iter, batch_size=config["batch"], omega2=omega, mu=run["mu"],
            sig2=run["sig2"], m=run["m"], h=run["h"], T=run["T"], g=run["g"], d=d,
            scheduler=None, epoch_start=0, sampling_scheme="interpolated", M=config["M"],
            x0_phase=run["init_phase"])
    if not (len(starts) == len(ends) == n_iter):
        raise RuntimeError(f"expected {n_iter} rollouts and Adam steps, timed "
                           f"{len(starts)} and {len(ends)}")
    epoch_s = (np.array(ends) - np.array(starts))[1:]  # drop the warm-up epoch
    cpu_epoch_s = (np.array(cpu_ends) - np.array(cpu_starts))[1:]
    return {
        **config,
        "epoch_s": float(np.median(epoch_s)),
        "epoch_s_min": float(epoch_s.min()),
        "cpu_epoch_s": float(np.median(cpu_epoch_s)),
        "rollout_s": float(np.median(rollouts[1:])),
        "device": str(device),
        "threads": torch.get_num_threads(),
    }


def measure_ours(config: dict[str, Any]) -> dict[str, Any]:
    """Run in the subprocess: dsm-bench's DSM at the same setting (``dsm_epoch_speed``)."""
    keys = ("d", "threads", "epochs", "device", "width", "depth", "batch", "M")
    mine = {k: config[k] for k in keys}
    mine.update(grad_div="exact", hutchinson_probes=1, full_jacobian=False, dtype="float32",
                chunk_points=config["chunk_points"])
    return {**config, **measure(mine)}


def run_isolated(config: dict[str, Any], timeout: float) -> dict[str, Any]:
    """One configuration in its own Python process; its last stdout line is the JSON row."""
    cmd = [sys.executable, __file__, "--one", json.dumps(config)]
    env = {**os.environ, "MPLBACKEND": "Agg"}  # their loop draws a loss plot at its last epoch
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=timeout,
                              env=env)
    except subprocess.TimeoutExpired:
        return {**config, "error": f"timeout after {timeout:.0f} s"}
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
        return {**config, "error": tail[0]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def summarise(rows: list[dict[str, Any]], ds: list[int]) -> list[dict[str, Any]]:
    """Medians over the repeats per (d, code), and the ratio authors / dsm-bench."""
    table = []
    for d in ds:
        medians: dict[str, dict[str, float]] = {}
        for code in ("authors", "dsm-bench"):
            done = [r for r in rows if r["d"] == d and r["code"] == code and "epoch_s" in r]
            if done:
                medians[code] = {k: float(np.median([r[k] for r in done]))
                                 for k in ("epoch_s", "rollout_s", "cpu_epoch_s")}
                medians[code]["runs"] = len(done)
        for code, values in medians.items():
            row = {"table": "summary", "d": d, "code": code, **values}
            if len(medians) == 2:
                row["ratio_epoch"] = medians["authors"]["epoch_s"] / medians["dsm-bench"]["epoch_s"]
                row["ratio_rollout"] = (medians["authors"]["rollout_s"]
                                        / medians["dsm-bench"]["rollout_s"])
            table.append(row)
    return table


def print_table(table: list[dict[str, Any]]) -> None:
    print(f"{'d':>3}  {'code':<10} {'epoch s':>9} {'rollout s':>10} {'runs':>5} "
          f"{'authors/ours epoch':>19} {'rollout':>8}")
    for row in table:
        ratio = (f"{row['ratio_epoch']:>19.2f} {row['ratio_rollout']:>8.2f}"
                 if "ratio_epoch" in row else f"{'-':>19} {'-':>8}")
        print(f"{row['d']:>3}  {row['code']:<10} {row['epoch_s']:>9.3f} {row['rollout_s']:>10.3f} "
              f"{row['runs']:>5} {ratio}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--d-list", default="1,3", help="dimensions, comma-separated")
    parser.add_argument("--epochs", type=int, default=3,
                        help="timed epochs per run (after one warm-up epoch)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per (d, code), interleaved")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--chunk-points", default="auto",
                        help="dsm-bench's chunk_points option ('auto' or an integer)")
    parser.add_argument("--authors-repo", required=True,
                        help="the authors' repository (github elena-orlova/deep-stochastic-"
                             "mechanics): a git directory (read at HEAD) or a checkout")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per run")
    parser.add_argument("--csv", help="also write every run and the summary to this CSV file")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.repeats < 1:
        parser.error("--epochs and --repeats must be >= 1")

    if args.one:
        config = json.loads(args.one)
        result = measure_authors(config) if config["code"] == "authors" else measure_ours(config)
        print(json.dumps(result))
        return 0

    try:
        texts, commit = read_authors_sources(args.authors_repo)
    except AuthorsRepoError as exc:
        print(f"error: {exc} (pass --authors-repo PATH: a clone of github "
              f"elena-orlova/deep-stochastic-mechanics)", file=sys.stderr)
        return 2
    chunk = args.chunk_points if args.chunk_points == "auto" else int(args.chunk_points)
    ds = [int(v) for v in args.d_list.split(",")]
    strip = not qmsolve_importable()
    print(f"# authors' code: {args.authors_repo} at {commit}, {SUBDIR}/src; qmsolve: "
          f"{'stripped (its import line dropped from the temporary copy)' if strip else 'installed'}")
    print(f"# setting: harmonic, T 1, N 1000, B {AUTHORS['batch']}, M {AUTHORS['M']}, width "
          f"{AUTHORS['width']}, depth {AUTHORS['depth']}, interpolated; {args.epochs} timed "
          f"epochs + 1 warm-up per run, {args.repeats} repeats, threads {args.threads}, "
          f"device {args.device}")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as package_dir:
        write_authors_package(texts, package_dir, strip)
        base = {"threads": args.threads, "epochs": args.epochs, "device": args.device,
                "chunk_points": chunk, "package_dir": package_dir, **AUTHORS}
        for repeat in range(args.repeats):
            for d in ds:
                for code in ("authors", "dsm-bench"):
                    row = run_isolated({**base, "code": code, "d": d, "repeat": repeat},
                                       args.timeout)
                    row.pop("package_dir", None)
                    rows.append({"table": "run", "authors_commit": commit,
                                 "qmsolve": "stripped" if strip else "installed", **row})
                    keys = ("code", "d", "repeat", "epoch_s", "cpu_epoch_s", "rollout_s", "error")
                    print(json.dumps({k: row[k] for k in keys if k in row}), flush=True)
    table = summarise(rows, ds)
    print_table(table)
    if args.csv:
        import pandas as pd

        pd.DataFrame(rows + table).to_csv(args.csv, index=False)
        print(f"wrote {args.csv}")
    return 0 if table and all("error" not in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
