"""DSM's files: the solution file and the training checkpoint (one format, torch.save).

A solution file holds the model, its options, the problem, the history and the cost; a
training checkpoint adds the Adam state, the random generator's state, the iteration and the
training seconds so far, so that an interrupted run resumes bitwise where it stopped.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Any

import pandas as pd
import torch

from reference.problems import Problem, problem_class
from solvers.base import Cost, SolverConfigError
from solvers.dsm.networks import DSMNetworks

__all__ = ["FORMAT", "MODEL_KEYS", "atomic_save", "history_records", "problem_from_config",
           "resume_training", "save_training"]

FORMAT = "dsm-bench/dsm-v1"

# options that change the trained model: a checkpoint resumes only when these match
MODEL_KEYS = ("width", "depth", "activation", "batch", "M", "lr", "lr_schedule", "lr_decay",
              "weight_u", "weight_v", "weight_ic", "time_weighting", "ic", "nu", "dtype",
              "seed", "scheme", "grad_div", "hutchinson_probes", "full_jacobian")


def problem_from_config(config: dict[str, Any]) -> Problem:
    """The saved problem, rebuilt from the registry; ValueError where the registered problem
    of that name no longer has the recorded parameters (another version, or a plugin that is
    not loaded)."""
    problem = problem_class(config["name"]).from_config(config)
    if problem.config() != config:
        raise ValueError(f"the saved problem {config['name']!r} differs from the registered one "
                         f"with its parameters: saved {config}, now {problem.config()}")
    return problem


def history_records(history: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
            for row in history.to_dict("records")]


def atomic_save(state: dict[str, Any], path: str | os.PathLike) -> None:
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    # an unpredictable name beside the target, then an atomic rename: a crash mid-write
    # leaves the previous checkpoint intact
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(state, tmp)
        os.chmod(tmp, 0o644)  # the results directory's one mode (dsm_bench.harness.store)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def save_training(path: str, *, problem: Problem, options: dict[str, Any], nets: DSMNetworks,
                  optimizer: torch.optim.Optimizer, generator: torch.Generator, iteration: int,
                  train_s: float, rows: list[dict[str, Any]], cost: Cost) -> None:
    """Write a training checkpoint (also readable by ``DSMSolution.load``)."""
    cost_now = Cost(**{**cost.as_dict(), "train_s": train_s, "iters": iteration})
    state = {
        "format": FORMAT,
        "problem": problem.config(),
        "options": dict(options),
        "model": nets.state_dict(),
        "history": history_records(pd.DataFrame(rows)),
        "cost": cost_now.as_dict(),
        "optimizer": optimizer.state_dict(),
        "generator": generator.get_state(),
        "iteration": iteration,
        "train_s": train_s,
    }
    atomic_save(state, path)


def resume_training(path: str, *, problem: Problem, options: dict[str, Any], nets: DSMNetworks,
                    optimizer: torch.optim.Optimizer, generator: torch.Generator,
                    device: torch.device) -> tuple[int, float, list[dict[str, Any]]]:
    """Restore model, Adam and generator state from ``path``; (iteration, train_s, history
    rows). Refuses a checkpoint of another problem or of options that change the model."""
    state = torch.load(path, map_location=device, weights_only=True)
    if state.get("format") != FORMAT or "optimizer" not in state:
        raise SolverConfigError(f"dsm: {path} is not a DSM training checkpoint")
    if state["problem"] != problem.config():
        raise SolverConfigError(
            f"dsm: checkpoint {path} was trained on another problem "
            f"({state['problem']['name']}, d={state['problem']['d']}); remove it or "
            "choose another checkpoint path")
    changed = [k for k in MODEL_KEYS if state["options"].get(k) != options[k]]
    if changed:
        raise SolverConfigError(
            f"dsm: checkpoint {path} has different options ({', '.join(changed)}); "
            "remove it or choose another checkpoint path")
    nets.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    generator.set_state(state["generator"].cpu())  # generator states live on the host
    return int(state["iteration"]), float(state["train_s"]), list(state["history"])
