"""Activation functions f with their first and second derivatives.

Each activation has a name, an integer code (used by the numba kernels, see
``analogsim.kernels``) and numpy implementations of f, f' and f''.  relu uses
f'(0) = 0 (the convention of torch's autograd), so its stress vanishes on the kink.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

IDENTITY, RELU, TANH, SIGMOID, SOFTPLUS = 0, 1, 2, 3, 4


def _sigmoid(y):
    # split by sign so exp never overflows
    out = np.empty_like(y)
    pos = y >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-y[pos]))
    e = np.exp(y[~pos])
    out[~pos] = e / (1.0 + e)
    return out


@dataclass(frozen=True)
class Activation:
    """An activation: ``f``, ``df`` (f') and ``d2f`` (f'') act elementwise on numpy arrays.

    Attributes
    ----------
    name : str
        identity, relu, tanh, sigmoid or softplus.
    code : int
        The integer the numba kernels dispatch on.
    f, df, d2f : callable
        f, f' and f'' (f'' enters the x-Hessian; relu's is 0 away from its kink).
    torch_name : str or None
        The torch module it corresponds to (None for identity).

    Examples
    --------
    >>> import numpy as np
    >>> from analogsim.model.activations import get_activation
    >>> act = get_activation("tanh")
    >>> float(act.f(np.array(0.0))), float(act.df(np.array(0.0))), act.torch_name
    (0.0, 1.0, 'Tanh')
    """

    name: str
    code: int
    f: Callable[[np.ndarray], np.ndarray]
    df: Callable[[np.ndarray], np.ndarray]
    d2f: Callable[[np.ndarray], np.ndarray]
    torch_name: str | None

    def __repr__(self) -> str:
        return f"Activation({self.name!r})"


def _tanh_d(y):
    t = np.tanh(y)
    return 1.0 - t * t


def _tanh_d2(y):
    t = np.tanh(y)
    return -2.0 * t * (1.0 - t * t)


def _sig_d(y):
    s = _sigmoid(y)
    return s * (1.0 - s)


def _sig_d2(y):
    s = _sigmoid(y)
    return s * (1.0 - s) * (1.0 - 2.0 * s)


ACTIVATIONS: dict[str, Activation] = {
    "identity": Activation("identity", IDENTITY, lambda y: y.copy(), np.ones_like, np.zeros_like, "Identity"),
    "relu": Activation("relu", RELU, lambda y: np.maximum(y, 0), lambda y: (y > 0).astype(y.dtype),
                       np.zeros_like, "ReLU"),
    "tanh": Activation("tanh", TANH, np.tanh, _tanh_d, _tanh_d2, "Tanh"),
    "sigmoid": Activation("sigmoid", SIGMOID, _sigmoid, _sig_d, _sig_d2, "Sigmoid"),
    "softplus": Activation("softplus", SOFTPLUS, lambda y: np.logaddexp(np.zeros((), y.dtype), y), _sigmoid, _sig_d,
                           "Softplus"),
}
_ALIASES = {"linear": "identity", "none": "identity"}
BY_CODE = {a.code: a for a in ACTIVATIONS.values()}


def get_activation(name, argname: str = "activation") -> Activation:
    """Look up an activation by name (case-insensitive); raise ValueError listing the known names.

    Parameters
    ----------
    name : str or Activation
        identity, relu, tanh, sigmoid, softplus (an :class:`Activation` is returned as it is).
    argname : str
        The argument name used in error messages.

    Examples
    --------
    >>> get_activation("ReLU").name
    'relu'
    >>> get_activation("swish")
    Traceback (most recent call last):
    ...
    ValueError: activation: unknown activation 'swish'; expected one of ['identity', 'relu', 'sigmoid', 'softplus', 'tanh']
    """
    if isinstance(name, Activation):
        return name
    if not isinstance(name, str):
        raise TypeError(f"{argname} must be an activation name (str), got {name!r}")
    key = _ALIASES.get(name.lower(), name.lower())
    if key not in ACTIVATIONS:
        raise ValueError(f"{argname}: unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[key]
