"""The parts of a graph network: a neuron :class:`Layer` and an :class:`Edge` that couples two layers.

Kept apart from :mod:`.model` so that the torch tracer (:mod:`.torch_fx`) can build the parts without importing
the network class. Both are re-exported by :mod:`.model` and :mod:`analogsim.graph`.

Examples
--------
>>> Layer("h1", (8,), "tanh").size
8
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .operators import Operator, shape_size

__all__ = ["Layer", "Edge"]

_BIAS_MODES = ("neuron", "channel", None)


@dataclass
class Layer:
    """A layer of neurons.

    Parameters
    ----------
    name : str
    shape : tuple of int
        Per-sample shape, e.g. (64,) or (8, 8, 8) for (channels, height, width).
    activation : str
        Name in :mod:`analogsim.model.activations` (ignored for the input layer).
    bias : {'neuron', 'channel', None}
        One bias per neuron, one per channel (shape[0]) shared over positions (a convolution's bias), or none.

    Examples
    --------
    >>> Layer("h", (8, 4, 4), activation="relu", bias="channel").size
    128
    """

    name: str
    shape: tuple
    activation: str = "identity"
    bias: str | None = "neuron"

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"layer name must be a non-empty str, got {self.name!r}")
        from .operators import _check_shape

        self.shape = _check_shape(self.shape, f"layer {self.name!r}: shape")
        if self.bias not in _BIAS_MODES:
            raise ValueError(f"layer {self.name!r}: bias must be 'neuron', 'channel' or None, got {self.bias!r}")

    @property
    def size(self) -> int:
        return shape_size(self.shape)


@dataclass
class Edge:
    """A coupling ``dst <- op(src)``: the operator's output is added to layer ``dst``'s pre-activation.

    Examples
    --------
    >>> from analogsim.model.graph.operators import Dense
    >>> Edge("h", "x0", Dense((3,), 2)).op.kind
    'dense'
    """

    dst: str
    src: str
    op: Operator = field(repr=True)
