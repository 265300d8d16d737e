"""Dispatch between numpy and torch so that the physics is written once.

The potential, its gradient and the exact drifts are evaluated by the grid solver on numpy
arrays and by the neural solvers on torch tensors (with autograd); both namespaces share the
array-API names used here (``exp``, ``cos``, ``atan2``, ``sqrt`` ...; numpy >= 2 has the aliases).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np


def is_torch(x: Any) -> bool:
    """True when ``x`` is a torch tensor (torch is only imported if it is already loaded)."""
    torch = _loaded_torch()
    return torch is not None and isinstance(x, torch.Tensor)


def array_namespace(*arrays: Any) -> ModuleType:
    """``torch`` if any argument is a tensor, else ``numpy``."""
    if any(is_torch(a) for a in arrays):
        return _loaded_torch()
    return np


def _loaded_torch() -> ModuleType | None:
    import sys

    return sys.modules.get("torch")


def like(value: Any, reference: Any) -> Any:
    """``value`` (a number or numpy array) as an array of ``reference``'s kind: a tensor of its
    dtype and device when it is a torch tensor, else unchanged."""
    if not is_torch(reference):
        return value
    return _loaded_torch().as_tensor(value, dtype=reference.dtype, device=reference.device)
