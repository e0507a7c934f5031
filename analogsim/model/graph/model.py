r"""A feed-forward network as a directed acyclic graph of neuron layers (Tkachenko Eq. 6 in full generality).

Layer l (l = 1..L, in topological order; layer 0 is the clamped input) has the pre-activation

.. math::  y_l = \sum_{m<l} A_{l,m} x_m + b_l ,\qquad x_l = f_l(y_l) \ \text{at } T = 0,

where every edge carries a linear operator A_{l,m} (:mod:`analogsim.model.graph.operators`: dense, convolution,
average pooling, identity) and each neuron i of layer l is a spring of stiffness kappa_i around f_l(y_l)_i, so
:math:`H = \sum_l \kappa_l/2\,|x_l - f_l(y_l)|^2`. Couplings only run from earlier to later layers (w_ji = 0 for
j >= i), so the map x -> delta stays unit-triangular and everything of the dense chain carries over.

Only trainable parameters live in the flat vector ``theta`` (length N): for each non-input layer in topological
order, the weights of its trainable incoming edges (in edge order, C order, torch's shapes), then its bias.
Fixed operators (identity skips, pooling, frozen convolutions) keep their own arrays. For a dense chain this is
exactly :class:`analogsim.Network`'s layout (W_l then b_l), so ``GraphNetwork.from_network(net).theta`` equals
``net.theta`` bit for bit.

States are lists ``xs = [x_0, ..., x_L]`` of arrays (B, n_l): each layer flattened in C order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..._checks import as_dtype, check_array
from ..activations import Activation, get_activation
from .layers import _BIAS_MODES, Edge, Layer  # noqa: F401  (Layer and Edge are part of this module's API)
from .operators import Conv, Dense, Identity, Operator, shape_size

__all__ = ["Layer", "Edge", "GraphNetwork"]


class GraphNetwork:
    """A feed-forward network on a directed acyclic graph of neuron layers (Eq. 6).

    Parameters
    ----------
    layers : sequence of Layer
        Exactly one layer has no incoming edge: the clamped input. Any order; the network sorts them
        topologically (ties keep the given order).
    edges : sequence of Edge
        Each names an existing source and target layer; shapes must match the operator.
    kappa : float, sequence or dict
        Stiffness: one number for every neuron; a list with one entry per non-input layer (in topological order);
        or a dict layer name -> entry. An entry is a number or an array of the layer's size or shape.
    biases : dict, optional
        Layer name -> initial bias (shape (n_l,) for 'neuron', (C,) for 'channel'); zeros otherwise.
    dtype : {'float32', 'float64'}, optional
        Defaults to float64.

    Raises
    ------
    ValueError
        A cycle (naming the layers on it), an edge naming an unknown layer, a shape mismatch between an operator
        and its layers (naming the edge), several or no input layers, a layer without incoming edges.

    Examples
    --------
    >>> from analogsim.graph import GraphBuilder
    >>> b = GraphBuilder((1, 8, 8))
    >>> h = b.conv(b.input, 4, 3, padding=1, activation="relu")
    >>> r = b.add([h, b.conv(h, 4, 3, padding=1, activation="tanh")])
    >>> out = b.dense(r, 10)
    >>> net = b.build(kappa=1.0, seed=0)
    >>> net.n_layers, net.n_params
    (5, 2758)
    """

    def __init__(self, layers: Sequence[Layer], edges: Sequence[Edge], kappa=1.0, biases=None, dtype=None):
        if isinstance(layers, (str, bytes)) or not isinstance(layers, Sequence) or len(layers) < 2:
            raise TypeError("layers must be a list of at least two Layer objects (an input and one more)")
        for i, lay in enumerate(layers):
            if not isinstance(lay, Layer):
                raise TypeError(f"layers[{i}] must be a Layer, got {type(lay).__name__}")
        if not isinstance(edges, Sequence) or len(edges) == 0:
            raise TypeError("edges must be a non-empty list of Edge objects")
        for i, e in enumerate(edges):
            if not isinstance(e, Edge) or not isinstance(e.op, Operator):
                raise TypeError(f"edges[{i}] must be an Edge(dst, src, op) with an Operator, got {e!r}")
        self.dtype = as_dtype("float64" if dtype is None else dtype)
        layers = [Layer(lay.name, lay.shape, lay.activation, lay.bias) for lay in layers]  # the net owns its own
        names = [lay.name for lay in layers]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"layer names must be unique, got duplicates {dup}")
        by_name = {lay.name: lay for lay in layers}
        for i, e in enumerate(edges):
            for end in ("src", "dst"):
                if getattr(e, end) not in by_name:
                    raise ValueError(f"edge {i} ({e.src} -> {e.dst}): unknown {end} layer {getattr(e, end)!r}; "
                                     f"layers are {names}")
            if e.src == e.dst:
                raise ValueError(f"edge {i} ({e.src} -> {e.dst}) is a self-loop: a feed-forward network has w_ii = 0")
        order = _toposort(names, [(e.src, e.dst) for e in edges])
        self.layers = [by_name[n] for n in order]
        self.index = {n: i for i, n in enumerate(order)}
        incoming = {n: [] for n in names}
        for e in edges:
            incoming[e.dst].append(e)
        roots = [n for n in order if not incoming[n]]
        if len(roots) != 1:
            raise ValueError(f"exactly one layer (the clamped input) may have no incoming edge, got {roots}")
        # edges grouped by target (topological order), each with its operator copied to the net's dtype
        self.edges = []
        self.edges_in = [[] for _ in order]
        self.edges_out = [[] for _ in order]
        for n in order:
            for e in incoming[n]:
                op = e.op.copy()
                if op.weight is not None:
                    op.weight = op.weight.astype(self.dtype)
                _check_edge(len(self.edges), e, op, by_name[e.src], by_name[e.dst])
                k = len(self.edges)
                self.edges.append(Edge(e.dst, e.src, op))
                self.edges_in[self.index[e.dst]].append(k)
                self.edges_out[self.index[e.src]].append(k)
        self.src = np.array([self.index[e.src] for e in self.edges], dtype=np.int64)
        self.dst = np.array([self.index[e.dst] for e in self.edges], dtype=np.int64)
        self.activations: tuple[Activation, ...] = tuple(
            get_activation(lay.activation, f"layer {lay.name!r}: activation") for lay in self.layers[1:])
        for lay in self.layers[1:]:
            if lay.bias == "channel" and len(lay.shape) < 2:
                lay.bias = "neuron"  # a 1-D layer's channels are its neurons
        self.kappa = _parse_kappa(kappa, self.layers, self.dtype)
        self._layout()
        init = {k: e.op.weight for k, e in enumerate(self.edges) if e.op.trainable}
        self._bind()
        for k, w in init.items():
            self._w_views[k][...] = w
        if biases is not None:
            if not isinstance(biases, dict):
                raise TypeError(f"biases must be a dict layer name -> array, got {type(biases).__name__}")
            for name, val in biases.items():
                l = self.index.get(name)
                if l is None or l == 0 or self.biases[l - 1] is None:
                    known = [x.name for i, x in enumerate(self.layers[1:]) if self.biases[i] is not None]
                    raise ValueError(f"biases: layer {name!r} has no bias (known biased layers: {known})")
                self.biases[l - 1][...] = check_array(val, f"biases[{name!r}]", shape=self.biases[l - 1].shape)

    # ------------------------------------------------------------------ layout
    def _layout(self):
        off = 0
        self.w_offsets = np.full(len(self.edges), -1, dtype=np.int64)
        self.b_offsets = np.full(self.depth, -1, dtype=np.int64)
        for l in range(1, self.n_layers):
            for k in self.edges_in[l]:
                op = self.edges[k].op
                if op.trainable:
                    self.w_offsets[k] = off
                    off += op.n_params
            lay = self.layers[l]
            if lay.bias is not None:
                self.b_offsets[l - 1] = off
                off += lay.size if lay.bias == "neuron" else lay.shape[0]
        self.theta = np.zeros(off, dtype=self.dtype)

    def _bind(self):
        self._w_views = {}
        for k, e in enumerate(self.edges):
            if e.op.trainable:
                w0 = self.w_offsets[k]
                self._w_views[k] = self.theta[w0:w0 + e.op.n_params].reshape(e.op.weight_shape)
                e.op.weight = self._w_views[k]
        self.biases = []
        for l in range(1, self.n_layers):
            lay, b0 = self.layers[l], self.b_offsets[l - 1]
            if lay.bias is None:
                self.biases.append(None)
            else:
                n = lay.size if lay.bias == "neuron" else lay.shape[0]
                self.biases.append(self.theta[b0:b0 + n])

    # ------------------------------------------------------------------ properties
    @property
    def n_layers(self) -> int:
        """Number of layers including the input (L + 1)."""
        return len(self.layers)

    @property
    def depth(self) -> int:
        """Number of non-input layers L."""
        return len(self.layers) - 1

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(lay.name for lay in self.layers)

    @property
    def shapes(self) -> tuple[tuple, ...]:
        return tuple(lay.shape for lay in self.layers)

    @property
    def sizes(self) -> tuple[int, ...]:
        # cached (it is read in every loop); keyed on the layers' shapes, so a changed shape recomputes it
        key = tuple(lay.shape for lay in self.layers)
        c = self.__dict__.get("_sizes_cache")
        if c is None or c[0] != key:
            c = self._sizes_cache = (key, tuple(lay.size for lay in self.layers))
        return c[1]

    @property
    def n_params(self) -> int:
        """Number of trainable parameters N (the length of theta; fixed operators are not counted)."""
        return int(self.theta.size)

    @property
    def n_neurons(self) -> int:
        """Number of non-input neurons (those with a spring)."""
        return int(sum(self.sizes[1:]))

    @property
    def x_offsets(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.sizes)]).astype(np.int64)

    @property
    def kappa_flat(self) -> np.ndarray:
        return np.concatenate(self.kappa)

    @property
    def activation_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.activations)

    def bias_full(self, l: int) -> np.ndarray | None:
        """Layer l's bias broadcast to its neurons (n_l,), or None (l is 1-based)."""
        b = self.biases[l - 1]
        if b is None:
            return None
        if self.layers[l].bias == "channel":
            return np.repeat(b, self.layers[l].size // self.layers[l].shape[0])
        return b

    def param_table(self) -> list[dict]:
        """Where each trainable parameter block lives in theta: dicts with 'what', 'offset', 'size', 'shape'."""
        rows = []
        for l in range(1, self.n_layers):
            for k in self.edges_in[l]:
                e = self.edges[k]
                if e.op.trainable:
                    rows.append({"what": f"{e.src}->{e.dst} {e.op.kind}", "offset": int(self.w_offsets[k]),
                                 "size": e.op.n_params, "shape": e.op.weight_shape})
            if self.biases[l - 1] is not None:
                rows.append({"what": f"{self.layers[l].name} bias ({self.layers[l].bias})",
                             "offset": int(self.b_offsets[l - 1]), "size": int(self.biases[l - 1].size),
                             "shape": self.biases[l - 1].shape})
        return rows

    # ------------------------------------------------------------------ copies
    def _spec(self):
        layers = [Layer(l.name, l.shape, l.activation, l.bias) for l in self.layers]
        for lay, act in zip(layers[1:], self.activations):
            lay.activation = act.name
        return layers, [Edge(e.dst, e.src, e.op) for e in self.edges]

    def copy(self) -> "GraphNetwork":
        """A deep copy (own parameter, operator and stiffness arrays)."""
        layers, edges = self._spec()
        new = GraphNetwork(layers, edges, kappa=[k.copy() for k in self.kappa], dtype=self.dtype)
        new.theta[...] = self.theta
        return new

    def astype(self, dtype) -> "GraphNetwork":
        """A copy in another float dtype."""
        dt = as_dtype(dtype)
        layers, edges = self._spec()
        new = GraphNetwork(layers, edges, kappa=[k.astype(dt) for k in self.kappa], dtype=dt)
        new.theta[...] = self.theta
        return new

    def with_theta(self, theta) -> "GraphNetwork":
        """A copy with the trainable parameters replaced by ``theta`` (length n_params)."""
        th = check_array(theta, "theta", shape=(self.n_params,))
        new = self.copy()
        new.theta[...] = th
        return new

    def with_kappa(self, kappa) -> "GraphNetwork":
        """A copy with new stiffness (same forms as the constructor's ``kappa``)."""
        layers, edges = self._spec()
        new = GraphNetwork(layers, edges, kappa=kappa, dtype=self.dtype)
        new.theta[...] = self.theta
        return new

    # ------------------------------------------------------------------ states
    def check_input(self, x0, name: str = "x0") -> np.ndarray:
        """A clamped input as (B, n_0): accepts (n_0,), (B, n_0), the input shape, or (B,) + input shape."""
        a = check_array(x0, name)
        s0, n0 = self.layers[0].shape, self.sizes[0]
        if a.shape == s0 or (a.ndim == 1 and a.size == n0):
            a = a.reshape(1, n0)
        elif a.ndim >= 2 and (a.shape[1:] == s0 or (a.ndim == 2 and a.shape[1] == n0)):
            a = a.reshape(a.shape[0], n0)
        else:
            raise ValueError(f"{name} must have shape (batch, {n0}) or (batch,) + {s0} to match input layer "
                             f"{self.layers[0].name!r}, got {a.shape}")
        return np.ascontiguousarray(a, dtype=self.dtype)

    def check_output(self, target, batch: int | None = None, name: str = "target") -> np.ndarray:
        """An output target as (B, n_L) (a single row is broadcast to ``batch``)."""
        a = check_array(target, name)
        nL = self.sizes[-1]
        if a.ndim == 1 and a.size == nL:
            a = a.reshape(1, nL)
        elif a.ndim >= 2:
            a = a.reshape(a.shape[0], -1)
        if a.ndim != 2 or a.shape[1] != nL:
            raise ValueError(f"{name} must have shape (batch, {nL}) to match output layer "
                             f"{self.layers[-1].name!r}, got {np.shape(target)}")
        if batch is not None and a.shape[0] not in (1, batch):
            raise ValueError(f"{name} must have {batch} rows (one per sample) or 1, got {a.shape[0]}")
        if batch is not None and a.shape[0] == 1 and batch != 1:
            a = np.broadcast_to(a, (batch, nL))
        return np.ascontiguousarray(a, dtype=self.dtype)

    def preactivation(self, l: int, xs) -> np.ndarray:
        """y_l = sum over incoming edges of A x_src, plus b_l; (B, n_l). ``l`` is 1-based."""
        y = None
        for k in self.edges_in[l]:
            c = self.edges[k].op.forward(xs[self.src[k]])
            if y is None:
                y = c
            else:
                y += c  # every forward returns a fresh array
        b = self.biases[l - 1]
        if b is None:
            return y
        if self.layers[l].bias == "channel":
            B = y.shape[0]
            y = y.reshape(B, b.size, -1)
            y += b[:, None]
            y = y.reshape(B, -1)
        else:
            y += b
        return y

    def forward(self, x0) -> list[np.ndarray]:
        """Zero-temperature propagation (the minimum H = 0): [x_0, f(y_1), ..., f(y_L)].

        Examples
        --------
        >>> from analogsim.graph import GraphBuilder
        >>> b = GraphBuilder((3,)); _ = b.dense(b.input, 2, activation="tanh")
        >>> [x.shape for x in b.build(seed=0).forward([[0.1, 0.2, 0.3]])]
        [(1, 3), (1, 2)]
        """
        xs = [self.check_input(x0)]
        for l in range(1, self.n_layers):
            xs.append(self.activations[l - 1].f(self.preactivation(l, xs)))
        return xs

    def predict(self, x0) -> np.ndarray:
        """The zero-temperature output f(x_0), shape (B, n_L)."""
        return self.forward(x0)[-1]

    def concat(self, xs) -> np.ndarray:
        return np.ascontiguousarray(np.concatenate(xs, axis=1))

    def split(self, X) -> list[np.ndarray]:
        off = self.x_offsets
        return [X[:, off[l]:off[l + 1]] for l in range(self.n_layers)]

    # ------------------------------------------------------------------ conversions
    @classmethod
    def from_network(cls, net) -> "GraphNetwork":
        """The dense chain :class:`analogsim.Network` as a graph (same theta layout, bit for bit).

        Examples
        --------
        >>> from analogsim import Network
        >>> net = Network.create([3, 5, 2], seed=0)
        >>> g = GraphNetwork.from_network(net)
        >>> bool((g.theta == net.theta).all())
        True
        """
        layers = [Layer("x0", (net.sizes[0],))]
        edges = []
        for l in range(1, net.depth + 1):
            layers.append(Layer(f"h{l}", (net.sizes[l],), net.activations[l - 1].name, "neuron"))
            edges.append(Edge(f"h{l}", f"x{0}" if l == 1 else f"h{l - 1}",
                              Dense((net.sizes[l - 1],), net.sizes[l], net.weights[l - 1])))
        g = cls(layers, edges, kappa=[k.copy() for k in net.kappa], dtype=net.dtype)
        g.theta[...] = net.theta
        return g

    @classmethod
    def from_torch(cls, module, input_shape, kappa=1.0, dtype=None) -> "GraphNetwork":
        """Trace a ``torch.nn.Module`` with torch.fx and build the equivalent graph network.

        Accepts Linear, Conv1d/Conv2d, AvgPool, Flatten, the activations, additions (residual) and concatenation;
        BatchNorm in eval mode is folded into the preceding affine map. Anything not of the form
        x = f(sum w x + b) is refused naming the node, its op and why (see :func:`analogsim.model.graph.torch_fx.trace`).

        Parameters
        ----------
        module : torch.nn.Module
        input_shape : tuple of int
            Per-sample shape of the input, e.g. (1, 8, 8) (torch.fx does not know shapes).
        kappa : float, list or dict
            Stiffness (a dict uses the layer names of the traced graph).
        dtype : {'float32', 'float64'}, optional
            Defaults to the module's parameter dtype when float32/float64, else float64.
        """
        from .torch_fx import trace

        layers, edges, biases, dtype = trace(module, input_shape, dtype=dtype)
        return cls(layers, edges, kappa=kappa, dtype=dtype, biases=biases)

    def to_torch(self):
        """An equivalent ``torch.nn.Module`` (see :func:`analogsim.model.graph.torch_fx.to_torch`)."""
        from .torch_fx import to_torch

        return to_torch(self)

    def describe(self) -> dict:
        """JSON/TOML-serialisable structure (layers, edges with operator hyper-parameters; no arrays)."""
        return {"layers": [{"name": lay.name, "shape": list(lay.shape), "activation": lay.activation,
                            "bias": lay.bias if lay.bias is not None else "none"} for lay in self._spec()[0]],
                "edges": [{"dst": e.dst, "src": e.src, **e.op.describe()} for e in self.edges],
                "dtype": self.dtype.name}

    def __repr__(self) -> str:
        kinds = {}
        for e in self.edges:
            kinds[e.op.kind] = kinds.get(e.op.kind, 0) + 1
        return (f"GraphNetwork(layers={self.n_layers}, edges={dict(sorted(kinds.items()))}, "
                f"neurons={self.n_neurons}, N={self.n_params}, dtype={self.dtype.name})")


def _toposort(names, pairs):
    """Kahn's algorithm keeping the given order among ready layers; a cycle raises naming its layers."""
    indeg = {n: 0 for n in names}
    succ = {n: [] for n in names}
    for s, d in pairs:
        succ[s].append(d)
        indeg[d] += 1
    pos = {n: i for i, n in enumerate(names)}
    import heapq

    ready = [(pos[n], n) for n in names if indeg[n] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        _, n = heapq.heappop(ready)
        order.append(n)
        for d in succ[n]:
            indeg[d] -= 1
            if indeg[d] == 0:
                heapq.heappush(ready, (pos[d], d))
    if len(order) < len(names):
        left = [n for n in names if indeg[n] > 0]
        cycle = _find_cycle(left, succ)
        raise ValueError(f"the graph has a cycle {' -> '.join(cycle)}: a feed-forward network (Eq. 6) needs "
                         f"w_ji = 0 for j >= i; remove one of these edges")
    return order


def _find_cycle(left, succ):
    left_set = set(left)
    start = left[0]
    path, seen = [start], {start: 0}
    n = start
    while True:
        nxt = next(d for d in succ[n] if d in left_set and _reaches(d, n, succ, left_set))
        if nxt in seen:
            return path[seen[nxt]:] + [nxt]
        seen[nxt] = len(path)
        path.append(nxt)
        n = nxt


def _reaches(a, b, succ, allowed):
    stack, seen = [a], set()
    while stack:
        n = stack.pop()
        if n == b:
            return True
        if n in seen:
            continue
        seen.add(n)
        stack.extend(d for d in succ[n] if d in allowed)
    return False


def _check_edge(k, e, op, src: Layer, dst: Layer):
    where = f"edge {k} ({e.src} -> {e.dst}, {op.kind})"
    if isinstance(op, Dense):
        if op.n_in != src.size:
            raise ValueError(f"{where}: the dense operator takes {op.n_in} inputs but layer {e.src!r} has "
                             f"{src.size} neurons (shape {src.shape})")
    elif op.in_shape != src.shape:
        raise ValueError(f"{where}: the operator expects input shape {op.in_shape} but layer {e.src!r} has "
                         f"shape {src.shape}")
    if isinstance(op, Conv) and op.out_shape != dst.shape:
        raise ValueError(f"{where}: the operator produces shape {op.out_shape} but layer {e.dst!r} has shape "
                         f"{dst.shape}")
    if op.n_out != dst.size:
        raise ValueError(f"{where}: the operator produces {op.n_out} values but layer {e.dst!r} has {dst.size} "
                         f"neurons (shape {dst.shape})")
    if isinstance(op, Identity) and op.offset + op.n_in > dst.size:
        raise ValueError(f"{where}: identity at offset {op.offset} does not fit layer {e.dst!r}")


def _parse_kappa(spec, layers, dtype) -> list[np.ndarray]:
    hidden = layers[1:]
    if isinstance(spec, dict):
        unknown = sorted(set(spec) - {lay.name for lay in hidden})
        if unknown:
            raise ValueError(f"kappa: unknown or input layer(s) {unknown}; non-input layers are "
                             f"{[lay.name for lay in hidden]}")
        missing = [lay.name for lay in hidden if lay.name not in spec]
        if missing:
            raise ValueError(f"kappa: a dict must give every non-input layer, missing {missing}")
        entries = [(spec[lay.name], f"kappa[{lay.name!r}]") for lay in hidden]
    elif not isinstance(spec, (list, tuple)) and np.ndim(spec) == 0:
        entries = [(spec, "kappa")] * len(hidden)
    else:
        if isinstance(spec, np.ndarray) or len(spec) != len(hidden):
            raise ValueError(f"kappa must be a number, a dict, or a list of {len(hidden)} entries (one per "
                             f"non-input layer), got {type(spec).__name__}")
        entries = [(k, f"kappa[{i}]") for i, k in enumerate(spec)]
    out = []
    for lay, (k, name) in zip(hidden, entries):
        a = check_array(k, name)
        if a.ndim > 0:
            if a.size != lay.size or (a.ndim > 1 and a.shape != lay.shape):
                raise ValueError(f"{name} must be a number or have {lay.size} entries (layer {lay.name!r}, shape "
                                 f"{lay.shape}), got shape {a.shape}")
            a = a.reshape(-1)
        if np.any(a <= 0):
            raise ValueError(f"{name} must be > 0 (a stiffness), got min {float(np.min(a))!r}")
        out.append(np.ascontiguousarray(np.broadcast_to(a, (lay.size,)), dtype=dtype).copy())
    return out
