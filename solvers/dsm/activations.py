"""Smooth activations and the derivatives the fast derivative passes need.

The loss involves third derivatives of the networks (grad div of a velocity), so only smooth
activations are offered. Three tables, one per use:

* ``ACTIVATIONS``: z -> (act(z), act'(z)), for first-order forward mode (tangents);
* ``SECOND_ORDER``: z -> (act, act', act''), for second-order forward mode (Taylor jets);
* ``PLAIN``: z -> act(z), for the plain forward pass.

``folded_form`` writes act(z) = alpha g(beta z) + gamma with a cheaper g, which the path
simulation folds into the weights (``DSMNetworks.drift_function``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

__all__ = ["ACTIVATIONS", "PLAIN", "SECOND_ORDER", "folded_form", "in_place"]


def _tanh_pair(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    a = torch.tanh(z)
    return a, 1.0 - a * a


def _sin_pair(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.sin(z), torch.cos(z)


def _softplus_pair(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return nn.functional.softplus(z), torch.sigmoid(z)


def _silu_pair(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    s = torch.sigmoid(z)
    return z * s, s * (1.0 + z * (1.0 - s))


# activation name -> z -> (act(z), act'(z)); smooth ones only: the loss needs third derivatives
ACTIVATIONS: dict[str, Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]] = {
    "tanh": _tanh_pair,
    "sin": _sin_pair,
    "softplus": _softplus_pair,
    "silu": _silu_pair,
}


def _tanh_triple(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    a = torch.tanh(z)
    s = 1.0 - a * a
    return a, s, -2.0 * a * s


def _sin_triple(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    a = torch.sin(z)
    return a, torch.cos(z), -a


def _softplus_triple(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    s = torch.sigmoid(z)
    return nn.functional.softplus(z), s, s * (1.0 - s)


def _silu_triple(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    s = torch.sigmoid(z)
    # (z s)' = s (1 + z (1 - s)), (z s)'' = s (1 - s) (2 + z (1 - 2 s))
    return z * s, s * (1.0 + z * (1.0 - s)), s * (1.0 - s) * (2.0 + z * (1.0 - 2.0 * s))


# activation name -> z -> (act, act', act''): second-order forward mode (Taylor jets)
SECOND_ORDER: dict[str, Callable[[torch.Tensor], tuple[torch.Tensor, ...]]] = {
    "tanh": _tanh_triple,
    "sin": _sin_triple,
    "softplus": _softplus_triple,
    "silu": _silu_triple,
}

# activation name -> act(z) alone, for the plain forward pass (sampling, rollouts)
PLAIN: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "tanh": torch.tanh,
    "sin": torch.sin,
    "softplus": nn.functional.softplus,
    "silu": nn.functional.silu,
}

# activation name -> (alpha, beta, gamma, g) with act(z) = alpha g(beta z) + gamma, g cheaper
# than act. tanh = 2 sigmoid(2 z) - 1: sigmoid is several times cheaper than tanh on a CPU,
# and tanh dominated the path simulation. The loss keeps torch.tanh: under autograd (double
# backward for grad div) the three-op form is slower.
_CHEAPER_FORM: dict[str, tuple[float, float, float, Callable[[torch.Tensor], torch.Tensor]]] = {
    "tanh": (2.0, 2.0, -1.0, torch.sigmoid),
}


def folded_form(activation: str
                ) -> tuple[float, float, float, Callable[[torch.Tensor], torch.Tensor]]:
    """(alpha, beta, gamma, g) with act(z) = alpha g(beta z) + gamma; (1, 1, 0, act) when no
    cheaper form is known."""
    return _CHEAPER_FORM.get(activation, (1.0, 1.0, 0.0, PLAIN[activation]))


# g -> its in-place form, for the buffered drift (``solvers.dsm.drift``): no allocation per layer
_IN_PLACE: dict[Callable[[torch.Tensor], torch.Tensor], Callable[[torch.Tensor], torch.Tensor]] = {
    torch.sigmoid: torch.Tensor.sigmoid_,
    torch.tanh: torch.Tensor.tanh_,
    torch.sin: torch.Tensor.sin_,
    nn.functional.silu: lambda h: nn.functional.silu(h, inplace=True),
}


def in_place(g: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
    """h -> g(h) written into h (a copy through a temporary where torch has no in-place form)."""
    return _IN_PLACE.get(g, lambda h: h.copy_(g(h)))
