"""A trained DSM model: samples Nelson's process with the learned drift v + nu u."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd
import torch

from reference.problems import Problem
from solvers.base import Cost, SamplerSolution
from solvers.dsm.checkpoint import FORMAT, atomic_save, history_records, problem_from_config
from solvers.dsm.networks import DTYPES, DSMNetworks, build_networks
from solvers.nelson import sample_paths

__all__ = ["DSMSolution"]


class DSMSolution(SamplerSolution):
    """A trained DSM model: samples Nelson's process with the learned drift v + nu u."""

    def __init__(self, problem: Problem, cost: Cost, history: pd.DataFrame | None,
                 nets: DSMNetworks, options: dict[str, Any]):
        super().__init__(problem, cost, history)
        self.nets = nets
        self.options = dict(options)

    @property
    def _device(self) -> torch.device:
        return next(self.nets.parameters()).device

    @property
    def _dtype(self) -> torch.dtype:
        return next(self.nets.parameters()).dtype

    def sample(self, n: int, seed: int, times: np.ndarray) -> np.ndarray:
        self.nets.eval()
        drift = self.nets.drift_function(float(self.options["nu"]))
        paths = sample_paths(drift, self.problem, n, seed, times,
                             nu=float(self.options["nu"]), dtype=self._dtype,
                             device=self._device, batch_size=int(self.options["sample_batch"]))
        return paths

    def drift(self, x: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(x, dtype=float)
        t = np.broadcast_to(np.asarray(t, dtype=float), x.shape[:-1])
        xt = torch.as_tensor(x, dtype=self._dtype, device=self._device)
        tt = torch.as_tensor(np.array(t), dtype=self._dtype, device=self._device)
        with torch.no_grad():
            u, v = self.nets.velocities(xt, tt)
        return u.to("cpu", torch.float64).numpy(), v.to("cpu", torch.float64).numpy()

    # -------------------------------------------------------------- persistence
    def _state(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "problem": self.problem.config(),
            "options": dict(self.options),
            "model": self.nets.state_dict(),
            "history": history_records(self.history),
            "cost": self.cost.as_dict(),
        }

    def save(self, path: str | os.PathLike) -> None:
        """Write the model, its options, problem, history and cost (torch.save, atomic)."""
        atomic_save(self._state(), path)

    @classmethod
    def load(cls, path: str | os.PathLike, device: str = "cpu") -> DSMSolution:
        """Read a file written by ``save`` (or a training checkpoint)."""
        state = torch.load(path, map_location=device, weights_only=True)
        if state.get("format") != FORMAT:
            raise ValueError(f"{path}: not a DSM solution file (format {state.get('format')!r})")
        problem = problem_from_config(state["problem"])
        options = state["options"]
        nets = build_networks(problem, options).to(device=device, dtype=DTYPES[options["dtype"]])
        nets.load_state_dict(state["model"])
        cost = Cost(**state["cost"])
        history = pd.DataFrame(state["history"]) if state["history"] else None
        return cls(problem, cost, history, nets, options)

