"""Construction helpers for graph networks: a builder that tracks shapes, and seeded initialisation.

Examples
--------
A residual block y = x + f(W x + b) is two neuron layers: h = f(W x + b), then an identity-activation layer
summing x and h through fixed identities:

>>> from analogsim.graph import GraphBuilder
>>> b = GraphBuilder((16,))
>>> h = b.dense(b.input, 16, activation="tanh")
>>> y = b.add([b.input, h])
>>> net = b.build(seed=0)
>>> [(e.src, e.dst, e.op.kind, e.op.trainable) for e in net.edges]
[('x0', 'dense1', 'dense', True), ('x0', 'add2', 'identity', False), ('dense1', 'add2', 'identity', False)]
"""

from __future__ import annotations

import numpy as np

from ..._checks import as_generator
from .model import Edge, GraphNetwork, Layer
from .operators import AvgPool, Conv, Dense, Identity, Operator, _check_shape

__all__ = ["GraphBuilder", "initialise"]

_INITS = ("he", "xavier")


class GraphBuilder:
    """Build a :class:`GraphNetwork` layer by layer; every method returns the new layer's name.

    Parameters
    ----------
    input_shape : tuple of int
        Per-sample shape of the clamped input, e.g. (64,) or (1, 8, 8).
    input_name : str

    Examples
    --------
    >>> b = GraphBuilder((1, 8, 8))
    >>> c1 = b.conv(b.input, 8, 3, padding=1, activation="relu")
    >>> c2 = b.conv(c1, 16, 3, stride=2, padding=1, activation="relu")
    >>> out = b.dense(c2, 10)
    >>> b.shape(c2), b.build(seed=0).n_params
    ((16, 4, 4), 3818)
    """

    def __init__(self, input_shape, input_name: str = "x0"):
        self.input = input_name
        self._layers = [Layer(input_name, _check_shape(input_shape, "input_shape"))]
        self._edges: list[Edge] = []
        self._count = 0

    def shape(self, name: str) -> tuple:
        """Per-sample shape of layer ``name``."""
        for lay in self._layers:
            if lay.name == name:
                return lay.shape
        raise ValueError(f"unknown layer {name!r}; layers so far: {[lay.name for lay in self._layers]}")

    def _name(self, kind, name):
        self._count += 1
        return f"{kind}{self._count}" if name is None else name

    def layer(self, name: str, terms, activation: str = "identity", bias="neuron", shape=None) -> str:
        """A layer whose pre-activation is the sum of ``op(src)`` over ``terms`` = [(src, op), ...] plus a bias.

        ``shape`` defaults to the first operator's output shape.
        """
        if not terms:
            raise ValueError(f"layer {name!r}: terms must list at least one (source, operator) pair")
        for src, op in terms:
            self.shape(src)
            if not isinstance(op, Operator):
                raise TypeError(f"layer {name!r}: the term from {src!r} must carry an Operator, got {op!r}")
        shape = terms[0][1].out_shape if shape is None else shape
        self._layers.append(Layer(name, shape, activation, bias))
        self._edges.extend(Edge(name, src, op) for src, op in terms)
        return name

    def dense(self, src: str, n_out: int, activation: str = "identity", bias: bool = True, name=None,
              trainable: bool = True) -> str:
        """A dense layer f(W x_src + b) on the flattened source (torch ``Flatten`` + ``Linear``)."""
        op = Dense(self.shape(src), n_out, trainable=trainable)
        return self.layer(self._name("dense", name), [(src, op)], activation, "neuron" if bias else None)

    def conv(self, src: str, out_channels: int, kernel_size, stride=1, padding=0, dilation=1, groups: int = 1,
             activation: str = "identity", bias: bool = True, name=None, trainable: bool = True) -> str:
        """A convolutional layer f(conv(x_src) + b) with one bias per output channel."""
        op = Conv(self.shape(src), out_channels, kernel_size, stride, padding, dilation, groups, trainable=trainable)
        return self.layer(self._name("conv", name), [(src, op)], activation, "channel" if bias else None)

    def avg_pool(self, src: str, kernel_size, stride=None, padding=0, name=None) -> str:
        """An identity-activation layer holding the average pool of ``src`` (no bias, nothing trainable)."""
        op = AvgPool(self.shape(src), kernel_size, stride, padding)
        return self.layer(self._name("pool", name), [(src, op)], "identity", None)

    def add(self, srcs, activation: str = "identity", name=None) -> str:
        """A layer summing equally shaped layers through fixed identities (a residual join), no bias."""
        shapes = [self.shape(s) for s in srcs]
        if len(srcs) < 2 or any(s != shapes[0] for s in shapes):
            raise ValueError(f"add needs at least two layers of one shape, got {dict(zip(srcs, shapes))}")
        return self.layer(self._name("add", name), [(s, Identity(shapes[0])) for s in srcs], activation, None)

    def concat(self, srcs, activation: str = "identity", name=None) -> str:
        """A layer concatenating layers along their first (channel) axis through fixed identities."""
        shapes = [self.shape(s) for s in srcs]
        if len(srcs) < 2 or any(len(s) != len(shapes[0]) or s[1:] != shapes[0][1:] for s in shapes):
            raise ValueError(f"concat needs layers whose shapes agree except in the first axis, got "
                             f"{dict(zip(srcs, shapes))}")
        out = (sum(s[0] for s in shapes),) + shapes[0][1:]
        terms, off = [], 0
        for s, sh in zip(srcs, shapes):
            terms.append((s, Identity(sh, out, off)))
            off += int(np.prod(sh))
        return self.layer(self._name("cat", name), terms, activation, None, shape=out)

    def build(self, kappa=1.0, *, init: str = "he", seed=None, dtype="float64", bias_scale: float = 0.0,
              output_activation: str | None = None) -> GraphNetwork:
        """The network, with trainable weights drawn by :func:`initialise` (``seed`` as everywhere in analogsim).

        ``output_activation`` overrides the last layer's activation.
        """
        layers = [Layer(lay.name, lay.shape, lay.activation, lay.bias) for lay in self._layers]
        if output_activation is not None:
            layers[-1].activation = output_activation
        net = GraphNetwork(layers, self._edges, kappa=kappa, dtype=dtype)
        initialise(net, init=init, seed=seed, bias_scale=bias_scale)
        return net


def initialise(net: GraphNetwork, init: str = "he", seed=None, bias_scale: float = 0.0) -> GraphNetwork:
    """Draw the trainable weights in place: He N(0, 2/fan_in) or Xavier N(0, 2/(fan_in + fan_out)); biases
    N(0, bias_scale^2). Edges are drawn in the order of theta, so a seed gives the same network every time.
    Returns ``net``.

    Examples
    --------
    >>> b = GraphBuilder((3,)); _ = b.dense(b.input, 2)
    >>> net = initialise(b.build(), init="xavier", seed=0)
    >>> net.n_params
    8
    """
    if init not in _INITS:
        raise ValueError(f"init must be one of {_INITS}, got {init!r}")
    rng = as_generator(seed)
    for l in range(1, net.n_layers):
        for k in net.edges_in[l]:
            op = net.edges[k].op
            if op.trainable:
                fi = op.fan_in()
                fo = op.n_out if isinstance(op, Dense) else op.out_shape[0] * op.fan_in() // max(op.in_shape[0], 1)
                var = 2.0 / fi if init == "he" else 2.0 / (fi + fo)
                op.weight[...] = rng.standard_normal(op.weight_shape) * np.sqrt(var)
        b = net.biases[l - 1]
        if b is not None:
            b[...] = rng.standard_normal(b.shape) * bias_scale if bias_scale else 0.0
    return net
