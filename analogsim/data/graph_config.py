'''A TOML way to write a graph network: layers, what feeds each of them, and through which operator.

Example (a residual block on the digits):

.. code-block:: toml

    [graph]
    input = {name = "x0", shape = [1, 8, 8]}
    kappa = 1.0          # or a table {layer = value}
    init = "he"          # trainable weights drawn with this seed
    seed = 0

    [[graph.layers]]
    name = "h"
    activation = "tanh"
    inputs = [{from = "x0", op = "conv", out_channels = 1, kernel_size = 3, padding = 1}]

    [[graph.layers]]
    name = "res"                      # y = x + f(W x + b): an identity-activation layer, no bias
    bias = "none"
    inputs = [{from = "x0", op = "identity"}, {from = "h", op = "identity"}]

    [[graph.layers]]
    name = "out"
    inputs = [{from = "res", op = "dense", n_out = 10}]

A layer's shape is its first operator's output shape (give ``shape`` for a concatenation); ``bias`` is
``"neuron"`` (default for dense), ``"channel"`` (default for conv), or ``"none"`` (default for pooling and
identities). Operators: ``dense`` (n_out), ``conv`` (out_channels, kernel_size, stride, padding, dilation, groups,
trainable), ``avg_pool`` (kernel_size, stride, padding), ``identity`` (offset). Errors are
:class:`analogsim.errors.ConfigError` naming the entry (e.g. ``graph.layers[2].inputs[0].op``).

Examples
--------
>>> net = graph_from_toml(EXAMPLE)
>>> net.names, net.n_params
(('x0', 'h', 'res', 'out'), 660)
'''

from __future__ import annotations

import tomllib
from pathlib import Path

from ..errors import ConfigError
from ..model.graph.builder import GraphBuilder
from ..model.graph.operators import AvgPool, Conv, Dense, Identity

__all__ = ["graph_from_toml", "graph_from_dict", "graph_to_toml", "check_graph_section", "graph_from_settings",
           "EXAMPLE"]

EXAMPLE = """
[graph]
input = {name = "x0", shape = [1, 8, 8]}
kappa = 1.0
seed = 0

[[graph.layers]]
name = "h"
activation = "tanh"
inputs = [{from = "x0", op = "conv", out_channels = 1, kernel_size = 3, padding = 1}]

[[graph.layers]]
name = "res"
bias = "none"
inputs = [{from = "x0", op = "identity"}, {from = "h", op = "identity"}]

[[graph.layers]]
name = "out"
inputs = [{from = "res", op = "dense", n_out = 10}]
"""

_OP_KEYS = {"dense": {"n_out", "trainable"},
            "conv": {"out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "trainable"},
            "avg_pool": {"kernel_size", "stride", "padding"}, "identity": {"offset"}}
_GRAPH_KEYS = {"input", "layers", "kappa", "init", "seed", "dtype", "bias_scale"}
_DEFAULT_BIAS = {"dense": "neuron", "conv": "channel", "avg_pool": "none", "identity": "none"}


def graph_from_toml(source):
    """A :class:`GraphNetwork` from TOML text, or from a path to a ``.toml`` file.

    Examples
    --------
    >>> graph_from_toml(EXAMPLE).n_params
    660
    """
    if isinstance(source, Path) or (isinstance(source, str) and source.endswith(".toml") and "\n" not in source):
        try:
            text = Path(source).read_text()
        except OSError as exc:
            raise ConfigError("", f"cannot read {source}: {exc}") from None
    elif isinstance(source, str):
        text = source
    else:
        raise TypeError(f"source must be TOML text or a path, got {type(source).__name__}")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("", f"not valid TOML: {exc}") from None
    return graph_from_dict(doc)


def _tuple(v, path):
    if isinstance(v, list):
        if not all(isinstance(a, int) and not isinstance(a, bool) for a in v):
            raise ConfigError(path, f"must be an integer or a list of integers, got {v!r}")
        return tuple(v)
    if isinstance(v, bool) or not isinstance(v, int):
        raise ConfigError(path, f"must be an integer or a list of integers, got {v!r}")
    return v


def _operator(spec, in_shape, path):
    if not isinstance(spec, dict):
        raise ConfigError(path, f"must be a table like {{from = 'x0', op = 'dense', n_out = 10}}, got {spec!r}")
    kind = spec.get("op")
    if kind not in _OP_KEYS:
        raise ConfigError(f"{path}.op", f"must be one of {sorted(_OP_KEYS)}, got {kind!r}")
    extra = set(spec) - _OP_KEYS[kind] - {"op", "from"}
    if extra:
        raise ConfigError(path, f"unknown key(s) {sorted(extra)} for op {kind!r}; allowed: {sorted(_OP_KEYS[kind])}")
    k = {key: _tuple(v, f"{path}.{key}") if key not in ("trainable",) else v for key, v in spec.items()
         if key not in ("op", "from")}
    try:
        if kind == "dense":
            if "n_out" not in k:
                raise ConfigError(path, "op 'dense' needs n_out")
            return Dense(in_shape, k["n_out"], trainable=bool(k.get("trainable", True)))
        if kind == "conv":
            for need in ("out_channels", "kernel_size"):
                if need not in k:
                    raise ConfigError(path, f"op 'conv' needs {need}")
            return Conv(in_shape, k["out_channels"], k["kernel_size"], k.get("stride", 1), k.get("padding", 0),
                        k.get("dilation", 1), k.get("groups", 1), trainable=bool(k.get("trainable", True)))
        if kind == "avg_pool":
            if "kernel_size" not in k:
                raise ConfigError(path, "op 'avg_pool' needs kernel_size")
            return AvgPool(in_shape, k["kernel_size"], k.get("stride"), k.get("padding", 0))
        return in_shape, k.get("offset")   # identity: built once the target's shape is known
    except (ValueError, TypeError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(path, str(exc)) from None


def _layer_order(layers: list, input_name: str) -> list:
    """Indices of ``layers`` in an order where every layer comes after the layers it reads (file order where
    possible); a cycle, a duplicate or unknown name is a ConfigError naming the entry."""
    names = {}
    for i, lay in enumerate(layers):
        path = f"graph.layers[{i}]"
        if not isinstance(lay, dict) or not isinstance(lay.get("name"), str):
            raise ConfigError(f"{path}.name", "every layer needs a name (a string)")
        if lay["name"] in names or lay["name"] == input_name:
            raise ConfigError(f"{path}.name", f"layer name {lay['name']!r} is used twice")
        names[lay["name"]] = i
        inputs = lay.get("inputs")
        if not isinstance(inputs, list) or not inputs:
            raise ConfigError(f"{path}.inputs", "must list at least one {from = ..., op = ...} table")
    deps = []
    for i, lay in enumerate(layers):
        d = set()
        for j, spec in enumerate(lay["inputs"]):
            src = spec.get("from") if isinstance(spec, dict) else None
            if src != input_name and src not in names:
                raise ConfigError(f"graph.layers[{i}].inputs[{j}].from", f"unknown layer {src!r}; layers are "
                                  f"{[input_name] + list(names)}")
            if src != input_name:
                d.add(names[src])
        deps.append(d)
    order, done = [], set()
    while len(order) < len(layers):
        ready = [i for i in range(len(layers)) if i not in done and deps[i] <= done]
        if not ready:
            left = [i for i in range(len(layers)) if i not in done]
            cyc, i = [], left[0]
            while i not in cyc:  # walk back along unresolved inputs until a layer repeats
                cyc.append(i)
                i = min(deps[i] - done)
            cyc = cyc[cyc.index(i):][::-1]
            names_c = [layers[k]["name"] for k in cyc + [cyc[0]]]
            raise ConfigError("graph.layers", f"the graph has a cycle {' -> '.join(names_c)}; a feed-forward "
                                              "network (Eq. 6) needs a directed acyclic graph")
        order.append(ready[0])
        done.add(ready[0])
    return order


def graph_from_dict(doc: dict):
    """A :class:`GraphNetwork` from the parsed TOML document (see the module docstring).

    Examples
    --------
    >>> import tomllib
    >>> graph_from_dict(tomllib.loads(EXAMPLE)).names
    ('x0', 'h', 'res', 'out')
    """
    g = doc.get("graph") if isinstance(doc, dict) else None
    if not isinstance(g, dict):
        raise ConfigError("graph", "missing [graph] table")
    extra = set(g) - _GRAPH_KEYS
    if extra:
        raise ConfigError(f"graph.{sorted(extra)[0]}", f"unknown key; [graph] accepts {sorted(_GRAPH_KEYS)}")
    inp = g.get("input")
    if not isinstance(inp, dict) or "shape" not in inp:
        raise ConfigError("graph.input", "must be a table {name = 'x0', shape = [1, 8, 8]}")
    try:
        b = GraphBuilder(tuple(inp["shape"]), inp.get("name", "x0"))
    except (ValueError, TypeError) as exc:
        raise ConfigError("graph.input.shape", str(exc)) from None
    layers = g.get("layers")
    if not isinstance(layers, list) or not layers:
        raise ConfigError("graph.layers", "must list at least one [[graph.layers]] table")
    for i in _layer_order(layers, b.input):
        lay = layers[i]
        path = f"graph.layers[{i}]"
        inputs = lay["inputs"]
        built = []
        for j, spec in enumerate(inputs):
            p = f"{path}.inputs[{j}]"
            src = spec.get("from") if isinstance(spec, dict) else None
            try:
                in_shape = b.shape(src)
            except ValueError as exc:
                raise ConfigError(f"{p}.from", str(exc)) from None
            built.append((src, _operator(spec, in_shape, p), spec.get("op")))
        shape = lay.get("shape")
        if shape is None:
            first = built[0][1]
            shape = first[0] if isinstance(first, tuple) else first.out_shape
        terms = []
        for j, (src, op, kind) in enumerate(built):
            if isinstance(op, tuple):
                if op[1] is None and tuple(op[0]) != tuple(shape):
                    raise ConfigError(f"{path}.inputs[{j}]", f"identity from {src!r} (shape {tuple(op[0])}) into "
                                      f"layer {lay['name']!r} (shape {tuple(shape)}) needs equal shapes, or an "
                                      f"explicit offset for a concatenation")
                try:
                    op = Identity(op[0], tuple(shape), op[1] or 0)
                except ValueError as exc:
                    raise ConfigError(f"{path}.inputs[{j}]", str(exc)) from None
            terms.append((src, op))
        bias = lay.get("bias", _DEFAULT_BIAS[built[0][2]])
        if bias not in ("neuron", "channel", "none"):
            raise ConfigError(f"{path}.bias", f"must be 'neuron', 'channel' or 'none', got {bias!r}")
        try:
            b.layer(lay["name"], terms, lay.get("activation", "identity"), None if bias == "none" else bias,
                    shape=tuple(shape))
        except (ValueError, TypeError) as exc:
            raise ConfigError(path, str(exc)) from None
    try:
        return b.build(kappa=g.get("kappa", 1.0), init=g.get("init", "he"), seed=g.get("seed", 0),
                       dtype=g.get("dtype", "float64"), bias_scale=g.get("bias_scale", 0.0))
    except (ValueError, TypeError) as exc:
        raise ConfigError("graph", str(exc)) from None


def _value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(a) for a in v) + "]"
    return repr(v)


def graph_to_toml(net) -> str:
    """The structure of ``net`` as TOML text that :func:`graph_from_toml` reads back (weights are not written:
    they come from ``init``/``seed``, or from a parameter file).

    Examples
    --------
    >>> net = graph_from_toml(EXAMPLE)
    >>> graph_from_toml(graph_to_toml(net)).describe() == net.describe()
    True
    """
    d = net.describe()
    lay0 = d["layers"][0]
    lines = ["[graph]", f"input = {{name = {_value(lay0['name'])}, shape = {_value(lay0['shape'])}}}",
             f"dtype = {_value(d['dtype'])}", ""]
    for lay in d["layers"][1:]:
        lines += ["[[graph.layers]]", f"name = {_value(lay['name'])}", f"shape = {_value(lay['shape'])}",
                  f"activation = {_value(lay['activation'])}", f"bias = {_value(lay['bias'])}"]
        ins = []
        for e in d["edges"]:
            if e["dst"] != lay["name"]:
                continue
            keys = {"from": e["src"], "op": e["kind"]}
            keys.update({k: v for k, v in e.items() if k in _OP_KEYS[e["kind"]]})
            ins.append("{" + ", ".join(f"{k} = {_value(v)}" for k, v in keys.items()) + "}")
        lines += ["inputs = [" + ", ".join(ins) + "]", ""]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- a [graph] in an experiment config
#: [network] and [sweep] settings that a [graph] section replaces (its own input, layers, kappa, init, dtype)
NETWORK_KEYS = ("sizes", "n_in", "width", "depth", "n_out", "activation", "output_activation", "kappa",
                "kappa_ratio", "init", "bias_scale", "dtype")


def check_graph_section(g, explicit=(), axes=()) -> dict:
    """Validate the [graph] section of an experiment config (:mod:`analogsim.data.config`); return it as plain data.

    The network is built once, so a cycle, a shape mismatch or an unknown operator is refused before anything
    runs (:class:`~analogsim.errors.ConfigError` naming the entry). [network] settings that the graph replaces
    (``NETWORK_KEYS``), given in the file or swept, are refused too: they would be silently ignored.

    Examples
    --------
    >>> import tomllib
    >>> g = check_graph_section(tomllib.loads(EXAMPLE)["graph"])
    >>> [lay["name"] for lay in g["layers"]]
    ['h', 'res', 'out']
    >>> check_graph_section(g, explicit={"width"})
    Traceback (most recent call last):
    ...
    analogsim.errors.ConfigError: network.width: does not apply to a [graph] network (the [graph] section gives its layers, kappa, init, seed and dtype); remove it
    """
    import json

    if not isinstance(g, dict):
        raise ConfigError("graph", "must be a table [graph] with input and [[graph.layers]]")
    for key in NETWORK_KEYS:
        where = f"sweep.{key}" if key in axes else f"network.{key}" if key in explicit else None
        if where:
            raise ConfigError(where, "does not apply to a [graph] network (the [graph] section gives its layers, "
                                     "kappa, init, seed and dtype); remove it")
    graph_from_dict({"graph": g})
    return json.loads(json.dumps(g))


def graph_from_settings(g: dict, seed=None):
    """The network of a validated [graph] section; ``seed`` (int, SeedSequence or Generator), when given,
    replaces the section's ``seed`` for the initial weights (a sweep point draws its own).

    Examples
    --------
    >>> import tomllib
    >>> g = tomllib.loads(EXAMPLE)["graph"]
    >>> bool((graph_from_settings(g).theta == graph_from_dict({"graph": g}).theta).all())
    True
    >>> bool((graph_from_settings(g, 5).theta == graph_from_settings(g, 6).theta).all())
    False
    """
    from ..model.graph.builder import initialise

    net = graph_from_dict({"graph": g})
    if seed is None:
        return net
    return initialise(net, init=g.get("init", "he"), seed=seed, bias_scale=g.get("bias_scale", 0.0))
