"""DeepXDE, imported lazily with the PyTorch backend forced.

Neither the registry nor the user's ``~/.deepxde`` config decides the backend, and importing
the package does not import DeepXDE (heavy, and it changes torch's process-wide defaults).
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from typing import Any

__all__ = ["import_deepxde"]


def import_deepxde() -> Any:
    """Import DeepXDE with the PyTorch backend, whatever ~/.deepxde/config.json says."""
    if "deepxde" in sys.modules:
        dde = sys.modules["deepxde"]
        if dde.backend.backend_name != "pytorch":
            raise RuntimeError(
                f"DeepXDE is already loaded with the {dde.backend.backend_name} backend; the PINN "
                "solver needs pytorch (set DDE_BACKEND=pytorch before importing deepxde)"
            )
        return dde
    os.environ["DDE_BACKEND"] = "pytorch"
    import torch

    device, dtype = torch.get_default_device(), torch.get_default_dtype()
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        import deepxde as dde  # noqa: PLC0415 (lazy on purpose: heavy, and sets torch defaults)
    # DeepXDE makes cuda the default device on CUDA machines; the solver chooses it per fit
    torch.set_default_device(device)
    torch.set_default_dtype(dtype)
    return dde
