"""DeepXDE's training driven through the one training loop (``solvers.training``).

DeepXDE evaluates the loss terms only at its display steps (every ``log_every`` Adam
iterations and the last, and after every L-BFGS chunk): those are handed to the loop, which
checks them for finiteness (DeepXDE stops on NaN but not on inf, and names no term), logs
them and raises ``TrainingDiverged`` naming the term and the iteration. Between display
steps the loop still sees every iteration, for the time budget and the monitor. DeepXDE's
L-BFGS can also break off ("converged") after a step that made no progress, before it
evaluates the losses, so NaN weights from that step reach no logged loss: at the end of each
phase the callback checks the weights themselves.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from solvers.pinn.backend import import_deepxde
from solvers.training import TrainingDiverged, TrainingLoop

__all__ = ["loop_callback"]


def loop_callback(loop: TrainingLoop, terms: list[str]) -> Any:
    """A ``dde.callbacks.Callback`` reporting each step to ``loop`` and stopping DeepXDE's
    training when the loop says so. Use the same instance for the Adam and L-BFGS phases:
    L-BFGS begins by re-evaluating the losses at the step where Adam ended, logged once."""
    dde = import_deepxde()

    class LoopCallback(dde.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.logged_step: int | None = None

        def on_train_begin(self) -> None:
            self.report()

        def on_batch_end(self) -> None:
            self.report()

        def on_train_end(self) -> None:
            import torch

            bad = sum(int(not torch.isfinite(p).all()) for p in self.model.net.parameters())
            if bad:
                loop.finish_clock()
                raise TrainingDiverged(
                    f"pinn: {self.model.opt_name} left {bad} of the network's weight tensors "
                    f"non-finite at iteration {loop.iteration}, without a logged loss (the last "
                    "logged one was finite)", iteration=loop.iteration)

        def report(self) -> None:
            step = int(self.model.train_state.step)
            history = self.model.losshistory
            losses = None
            if history.steps and history.steps[-1] == step and step != self.logged_step:
                self.logged_step = step
                values = np.asarray(history.loss_train[-1], dtype=float)
                losses = {f"loss_{name}": float(v) for name, v in zip(terms, values, strict=True)}
            loop.step_done(step, losses)  # raises TrainingDiverged on a non-finite term
            if loop.should_stop:
                self.model.stop_training = True

    return LoopCallback()
