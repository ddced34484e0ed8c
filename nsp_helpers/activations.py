"""Activation functions shared by the theory (numpy) and the simulator (torch).

An activation is given as a string (``"relu"``, ``"tanh"``, ``"linear"``, ``"hard_tanh"``), an
:class:`Activation`, or any elementwise callable that works on numpy arrays *and* torch tensors
(for example ``lambda x: x * (x > 0)``); the derivative of a plain callable is taken by central
finite differences.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .errors import InvalidParameterError

__all__ = ["Activation", "get_activation", "ACTIVATIONS"]


@dataclass(frozen=True)
class Activation:
    """An elementwise activation with its derivative.

    Parameters
    ----------
    name : str
        Short name (``"relu"``...), used to select closed forms in :mod:`nsp_helpers.theory`.
    fn : callable
        The activation, applicable to numpy arrays and torch tensors.
    derivative : callable, optional
        Its derivative; central finite differences of ``fn`` when omitted.
    """

    name: str
    fn: Callable
    derivative: Callable | None = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise InvalidParameterError(f"name must be a non-empty string, got {self.name!r}")
        if not callable(self.fn):
            raise InvalidParameterError(f"fn must be a callable (the activation), got {self.fn!r}")
        if self.derivative is not None and not callable(self.derivative):
            raise InvalidParameterError(f"derivative must be None or a callable, got {self.derivative!r}")

    def __call__(self, x):
        return self.fn(x)

    def grad(self, x):
        """The derivative of the activation at ``x``."""
        if self.derivative is not None:
            return self.derivative(x)
        h = 1e-5
        return (self.fn(x + h) - self.fn(x - h)) / (2 * h)


def _is_torch(x) -> bool:
    return type(x).__module__.startswith("torch")


def _relu(x):
    # torch.relu: derivative 0 at 0 (as relu_grad), where clamp_min would pass the gradient through
    return x.relu() if _is_torch(x) else np.maximum(x, 0.0)


def _relu_grad(x):
    return (x > 0).to(x.dtype) if _is_torch(x) else (x > 0).astype(float)


def _tanh(x):
    return x.tanh() if _is_torch(x) else np.tanh(x)


def _tanh_grad(x):
    return 1 - _tanh(x) ** 2


def _hard_tanh(x):
    return x.clamp(-1, 1) if _is_torch(x) else np.clip(x, -1.0, 1.0)


def _hard_tanh_grad(x):
    return (x.abs() < 1).to(x.dtype) if _is_torch(x) else (np.abs(x) < 1).astype(float)


ACTIVATIONS = {
    "relu": Activation("relu", _relu, _relu_grad),
    "tanh": Activation("tanh", _tanh, _tanh_grad),
    "linear": Activation("linear", lambda x: x, lambda x: x * 0 + 1),
    "hard_tanh": Activation("hard_tanh", _hard_tanh, _hard_tanh_grad),
}


def get_activation(activation) -> Activation:
    """Resolve a name, :class:`Activation` or callable into an :class:`Activation`.

    Examples
    --------
    >>> get_activation("relu")(np.array([-1.0, 2.0]))
    array([0., 2.])
    >>> get_activation("sigmoid")
    Traceback (most recent call last):
    ...
    nsp_helpers.errors.InvalidParameterError: activation must be one of 'relu', 'tanh', 'linear', 'hard_tanh' or a callable, got 'sigmoid'
    """
    if isinstance(activation, Activation):
        return activation
    if isinstance(activation, str):
        try:
            return ACTIVATIONS[activation]
        except KeyError:
            pass
    elif callable(activation):
        return Activation(getattr(activation, "__name__", "custom"), activation)
    names = ", ".join(repr(n) for n in ACTIVATIONS)
    raise InvalidParameterError(f"activation must be one of {names} or a callable, got {activation!r}")
