r"""torch in and out for graph networks: trace an ``nn.Module`` with torch.fx, export an equivalent module.

:meth:`GraphNetwork.from_torch` (via :func:`trace`) accepts what has the form x = f(sum w x + b) of Eq. 6:
``Linear``, ``Conv1d``/``Conv2d`` (zero padding), ``AvgPool1d``/``AvgPool2d`` (``count_include_pad=True``), ``AdaptiveAvgPool`` with an output size that
divides the input, ``Flatten``, the activations (ReLU, Tanh, Sigmoid, Softplus with beta 1, Identity, and their
functional forms), additions of tensors (residual joins), ``torch.cat`` along the channel axis, Dropout in eval mode
(the identity), and ``BatchNorm1d``/``BatchNorm2d`` in eval mode, folded into the directly preceding Linear or
Conv. Every activation becomes a neuron layer; a linear result that is used by another linear map (e.g. a pool
after an activation feeding a convolution, or a residual sum) becomes an identity-activation neuron layer.
Anything else is refused with a ValueError naming the node, its op and why it cannot map (max-pooling is a
selection, attention and gates multiply activities, BatchNorm in training mode depends on the batch).

:func:`to_torch` returns a module that evaluates the graph with torch's own ``linear``/``conv``/``avg_pool``
(in the net's dtype): same outputs to rounding. :func:`torch_energy` is H written with torch operations, the
autograd reference the numpy derivatives are tested against.

torch's ``Softplus`` module switches to the identity above 20; analogsim (and the exported module) evaluate
log(1 + e^y) everywhere: they differ by less than e^-20 there.
"""

from __future__ import annotations

import operator

import numpy as np

from ..torch_io import _import_torch
from .layers import Edge, Layer
from .operators import AvgPool, Conv, Dense, Identity

__all__ = ["trace", "to_torch", "torch_energy", "torch_preactivations"]

_ACT_MODULES = {"ReLU": "relu", "Tanh": "tanh", "Sigmoid": "sigmoid", "Softplus": "softplus"}
_REFUSE_MODULES = {
    "MaxPool1d": "max-pooling selects one input instead of summing weighted inputs (not x = f(sum w x + b))",
    "MaxPool2d": "max-pooling selects one input instead of summing weighted inputs (not x = f(sum w x + b))",
    "AdaptiveMaxPool2d": "max-pooling selects one input instead of summing weighted inputs",
    "MultiheadAttention": "attention multiplies activities with each other (softmax(QK^T)V), not x = f(sum w x + b)",
    "LSTM": "recurrent gates multiply activities, and the graph must be feed-forward",
    "GRU": "recurrent gates multiply activities, and the graph must be feed-forward",
    "LayerNorm": "normalisation divides by a statistic of the activities, not a fixed weighted sum",
    "Softmax": "softmax divides by a sum over neurons, not one activation per neuron",
}


class _Pending:
    """A linear expression sum_i op_i(layer_i) + bias not yet held by neurons."""

    def __init__(self, terms, shape, bias=None):
        self.terms, self.shape, self.bias = terms, tuple(shape), bias   # bias: None, ('channel', a), ('neuron', a)


class _Ref:
    """A neuron layer, possibly viewed with another shape (Flatten)."""

    def __init__(self, name, shape):
        self.name, self.shape = name, tuple(shape)


def _full_bias(bias, shape):
    if bias is None:
        return np.zeros(int(np.prod(shape)))
    kind, a = bias
    return np.repeat(a, int(np.prod(shape)) // shape[0]) if kind == "channel" else a


def _add_bias(b1, b2, shape):
    if b1 is None:
        return b2
    if b2 is None:
        return b1
    if b1[0] == b2[0] == "channel":
        return ("channel", b1[1] + b2[1])
    return ("neuron", _full_bias(b1, shape) + _full_bias(b2, shape))


class _Tracer:
    def __init__(self, torch, input_shape):
        self.torch = torch
        self.layers = [Layer("x0", tuple(input_shape))]
        self.edges = []
        self.biases = {}
        self.names = {"x0"}

    def fresh(self, base):
        name, i = base, 1
        while name in self.names:
            i += 1
            name = f"{base}_{i}"
        self.names.add(name)
        return name

    def as_pending(self, v):
        if isinstance(v, _Pending):
            return v
        lay = next(l for l in self.layers if l.name == v.name)
        return _Pending([(v.name, Identity(lay.shape, v.shape) if lay.shape != v.shape else Identity(lay.shape))],
                        v.shape)

    def materialize(self, v, activation, base):
        """A new neuron layer x = f(v); a _Ref with the identity activation is returned as is."""
        if isinstance(v, _Ref) and activation == "identity":
            return v
        p = self.as_pending(v)
        name = self.fresh(base)
        bias_mode = None if p.bias is None else p.bias[0]
        if bias_mode == "channel" and len(p.shape) < 2:
            bias_mode = "neuron"
        self.layers.append(Layer(name, p.shape, activation, bias_mode))
        for src, op in p.terms:
            self.edges.append(Edge(name, src, op))
        if p.bias is not None:
            self.biases[name] = p.bias[1] if bias_mode == p.bias[0] else _full_bias(p.bias, p.shape)
        return _Ref(name, p.shape)

    def source(self, v, base):
        """A layer to apply a new operator to (a pending expression is first held by identity neurons, named
        after the node that made it)."""
        return v if isinstance(v, _Ref) else self.materialize(v, "identity", getattr(v, "origin", None) or base)


def _refuse(node, why):
    raise ValueError(f"from_torch: node {node.name!r} (op {node.op}, target {_target_name(node)}) cannot map onto "
                     f"Eq. 6: {why}")


def _target_name(node):
    t = node.target
    if isinstance(t, str):
        return t
    return getattr(t, "__name__", repr(t))


def trace(module, input_shape, dtype=None):
    """Trace ``module`` with ``torch.fx``: the layers, edges and biases of the equivalent graph network.

    :meth:`analogsim.graph.GraphNetwork.from_torch` builds the network from them.

    Parameters
    ----------
    module : torch.nn.Module
        Built from the parts listed in the module docstring; one tensor input, one tensor output.
    input_shape : tuple of int
        Per-sample shape of the input, e.g. (1, 8, 8) (torch.fx does not know shapes).
    dtype : {'float32', 'float64'}, optional
        Defaults to the module's parameter dtype when float32/float64, else float64.

    Returns
    -------
    layers : list of Layer
    edges : list of Edge
    biases : dict
        Layer name -> bias array.
    dtype : str

    Raises
    ------
    ValueError
        A node that cannot map, naming the node, its op and the reason.

    Examples
    --------
    >>> import torch                                              # doctest: +SKIP
    >>> m = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
    ...                         torch.nn.Linear(144, 10))         # doctest: +SKIP
    >>> [l.name for l in trace(m, (1, 8, 8))[0]]                  # doctest: +SKIP
    ['x0', '1', 'output']
    """
    torch = _import_torch("GraphNetwork.from_torch")
    import torch.fx as fx

    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    try:
        gm = fx.symbolic_trace(module)
    except Exception as exc:  # torch.fx raises many types for data-dependent control flow
        raise ValueError(f"from_torch: torch.fx could not trace {type(module).__name__}: {exc}") from None
    params = [p for p in module.parameters()]
    if dtype is None:
        dtype = str(params[0].dtype).replace("torch.", "") if params and params[0].dtype in (
            torch.float32, torch.float64) else "float64"
    from .operators import _check_shape

    tr = _Tracer(torch, _check_shape(input_shape, "input_shape"))
    mods = dict(gm.named_modules())
    vals = {}
    out_val = None
    n_inputs = 0
    seen_params = {}
    for node in gm.graph.nodes:
        if node.op == "call_module" and any(True for _ in mods[node.target].parameters(recurse=False)):
            if node.target in seen_params:
                _refuse(node, f"module {node.target!r} is called a second time (first at node "
                              f"{seen_params[node.target]!r}): shared weights would be two independent couplings "
                              f"in Eq. 6 (each w_ji is its own element); duplicate the module to untie them")
            seen_params[node.target] = node.name
        if node.op == "placeholder":
            n_inputs += 1
            if n_inputs > 1:
                _refuse(node, "only one input (the clamped layer x_0) is supported")
            vals[node] = _Ref("x0", tr.layers[0].shape)
        elif node.op == "call_module":
            vals[node] = _module_node(tr, node, mods[node.target], vals)
        elif node.op in ("call_function", "call_method"):
            vals[node] = _function_node(tr, node, vals)
        if isinstance(vals.get(node), _Pending) and not getattr(vals[node], "origin", None):
            vals[node].origin = node.name
        elif node.op == "get_attr":
            _refuse(node, "a tensor used directly in the computation (only modules' weights are supported)")
        elif node.op == "output":
            arg = node.args[0]
            if not isinstance(arg, fx.Node):
                _refuse(node, "the model must return one tensor")
            out_val = vals[arg]
    if out_val is None:
        raise ValueError("from_torch: the traced graph has no output")
    if isinstance(out_val, _Ref) and out_val.name == "x0":
        raise ValueError("from_torch: the model returns its input unchanged; there is no neuron layer")
    ref = out_val if isinstance(out_val, _Ref) and out_val.name == tr.layers[-1].name else \
        tr.materialize(tr.as_pending(out_val), "identity", "output")
    layers, edges = _prune(tr.layers, tr.edges, ref.name)
    return layers, edges, {k: v for k, v in tr.biases.items() if k in {l.name for l in layers}}, dtype


def _prune(layers, edges, out):
    """Keep the layers the output depends on (torch never sees the others)."""
    need, stack = {out}, [out]
    while stack:
        n = stack.pop()
        for e in edges:
            if e.dst == n and e.src not in need:
                need.add(e.src)
                stack.append(e.src)
    return [l for l in layers if l.name in need], [e for e in edges if e.dst in need]


def _np(t):
    return t.detach().cpu().double().numpy().copy()


def _arg(vals, node, i=0):
    import torch.fx as fx

    a = node.args[i] if i < len(node.args) else None
    if not isinstance(a, fx.Node) or a not in vals:
        _refuse(node, f"argument {i} must be a tensor computed by the traced model, got {a!r}")
    return vals[a]


def _module_node(tr, node, m, vals):
    cls = type(m).__name__
    torch = tr.torch
    nn = torch.nn
    if cls in _REFUSE_MODULES:
        _refuse(node, _REFUSE_MODULES[cls])
    v = _arg(vals, node)
    if isinstance(m, nn.Linear):
        src = tr.source(v, node.name + "_in")
        if len(src.shape) != 1:
            _refuse(node, f"Linear acts on the last axis of a {src.shape} layer; insert Flatten first")
        op = Dense(src.shape, m.out_features, _np(m.weight))
        bias = None if m.bias is None else ("neuron", _np(m.bias))
        return _Pending([(src.name, op)], (m.out_features,), bias)
    if isinstance(m, (nn.Conv1d, nn.Conv2d)):
        if m.padding_mode != "zeros":
            _refuse(node, f"padding_mode={m.padding_mode!r}; only zero padding is a fixed linear map here")
        src = tr.source(v, node.name + "_in")
        pad = m.padding
        if isinstance(pad, str):
            if pad == "valid":
                pad = 0
            else:
                tot = [d * (k - 1) for d, k in zip(m.dilation, m.kernel_size)]
                if any(t % 2 for t in tot):
                    _refuse(node, "padding='same' with an asymmetric pad is not supported")
                pad = tuple(t // 2 for t in tot)
        try:
            op = Conv(src.shape, m.out_channels, tuple(m.kernel_size), tuple(m.stride), pad, tuple(m.dilation),
                      m.groups, _np(m.weight))
        except ValueError as exc:
            _refuse(node, str(exc))
        bias = None if m.bias is None else ("channel", _np(m.bias))
        return _Pending([(src.name, op)], op.out_shape, bias)
    if isinstance(m, (nn.AvgPool1d, nn.AvgPool2d)):
        if m.ceil_mode:
            _refuse(node, "ceil_mode=True averages partial windows with a position-dependent divisor")
        pads = np.atleast_1d(m.padding)
        if not m.count_include_pad and np.any(pads > 0):
            _refuse(node, "count_include_pad=False with padding gives a position-dependent divisor")
        if getattr(m, "divisor_override", None):
            _refuse(node, "divisor_override is not supported")
        src = tr.source(v, node.name + "_in")
        d = len(src.shape) - 1
        return _pool(node, src, _tup(m.kernel_size, d), _tup(m.stride, d), _tup(m.padding, d))
    if isinstance(m, (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d)):
        src = tr.source(v, node.name + "_in")
        d = len(src.shape) - 1
        outs = _tup(m.output_size, d)
        if any(o is None or n % o for n, o in zip(src.shape[1:], outs)):
            _refuse(node, f"adaptive pooling of {src.shape[1:]} to {outs} has unequal windows")
        ks = tuple(n // o for n, o in zip(src.shape[1:], outs))
        return _pool(node, src, ks, ks, (0,) * d)
    if isinstance(m, nn.Flatten):
        if m.start_dim != 1 or m.end_dim != -1:
            _refuse(node, f"Flatten(start_dim={m.start_dim}, end_dim={m.end_dim}); only start_dim=1, end_dim=-1")
        return _flatten(tr, v, node)
    if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
        if m.training:
            _refuse(node, "BatchNorm in training mode normalises by statistics of the batch, so a neuron's input "
                          "depends on the other samples; call model.eval() to fold its running statistics")
        if not m.track_running_stats or m.running_mean is None:
            _refuse(node, "BatchNorm without running statistics cannot be folded")
        return _fold_bn(node, v, m)
    if cls in _ACT_MODULES:
        if cls == "Softplus" and (m.beta != 1 or m.threshold != 20):
            _refuse(node, f"Softplus(beta={m.beta}, threshold={m.threshold}); only beta=1, threshold=20")
        return tr.materialize(v, _ACT_MODULES[cls], node.name)
    if isinstance(m, nn.Identity):
        return v
    if isinstance(m, nn.Dropout):
        if m.training and m.p > 0:
            _refuse(node, "Dropout in training mode multiplies activities by a random mask; call model.eval()")
        return v
    _refuse(node, f"module type {cls} is not one of Linear, Conv1d, Conv2d, AvgPool, AdaptiveAvgPool, Flatten, "
                  f"BatchNorm (eval), ReLU, Tanh, Sigmoid, Softplus, Identity, Dropout (eval)")


def _tup(v, d):
    if isinstance(v, (tuple, list)):
        return tuple(int(a) if a is not None else None for a in v)
    return (int(v),) * d


def _pool(node, src, ks, st, pad):
    try:
        op = AvgPool(src.shape, ks, st, pad)
    except ValueError as exc:
        _refuse(node, str(exc))
    return _Pending([(src.name, op)], op.out_shape)


def _flatten(tr, v, node):
    src = tr.source(v, node.name + "_in")
    return _Ref(src.name, (int(np.prod(src.shape)),))


def _fold_bn(node, v, m):
    if not isinstance(v, _Pending) or len(v.terms) != 1 or not isinstance(v.terms[0][1], (Dense, Conv)) \
            or isinstance(v.terms[0][1], AvgPool):
        _refuse(node, "BatchNorm in eval mode is folded into a directly preceding Linear or Conv; here it follows "
                      "something else")
    src, op = v.terms[0]
    C = v.shape[0]
    if m.num_features != C:
        _refuse(node, f"BatchNorm over {m.num_features} features after a layer with {C} channels")
    mean, var = _np(m.running_mean), _np(m.running_var)
    g = _np(m.weight) if m.affine else np.ones(C)
    beta = _np(m.bias) if m.affine else np.zeros(C)
    s = g / np.sqrt(var + m.eps)
    op2 = op.copy()
    op2.weight = op.weight * s.reshape((C,) + (1,) * (op.weight.ndim - 1))
    kind = "channel" if isinstance(op, Conv) else "neuron"
    b = np.zeros(C) if v.bias is None else v.bias[1]
    return _Pending([(src, op2)], v.shape, (kind, s * (b - mean) + beta))


def _function_node(tr, node, vals):
    torch = tr.torch
    F = torch.nn.functional
    t = node.target
    name = _target_name(node)
    acts = {torch.relu: "relu", F.relu: "relu", torch.tanh: "tanh", F.tanh: "tanh", torch.sigmoid: "sigmoid",
            F.sigmoid: "sigmoid", F.softplus: "softplus"}
    meth_acts = {"relu": "relu", "tanh": "tanh", "sigmoid": "sigmoid"}
    if node.op == "call_function" and t in acts:
        if t is F.softplus and (node.kwargs.get("beta", 1) != 1 or node.kwargs.get("threshold", 20) != 20):
            _refuse(node, "softplus with beta != 1 or threshold != 20")
        return tr.materialize(_arg(vals, node), acts[t], node.name)
    if node.op == "call_method" and name in meth_acts:
        return tr.materialize(_arg(vals, node), meth_acts[name], node.name)
    if (node.op == "call_function" and t in (operator.add, operator.iadd, torch.add)) or \
            (node.op == "call_method" and name in ("add", "add_")):
        if len(node.args) != 2 or node.kwargs.get("alpha", 1) != 1:
            _refuse(node, "only a + b of two tensors (alpha = 1)")
        a, b = _arg(vals, node, 0), _arg(vals, node, 1)
        if a.shape != b.shape:
            _refuse(node, f"adding shapes {a.shape} and {b.shape} (broadcasting is not a fixed identity map)")
        pa, pb = tr.as_pending(a), tr.as_pending(b)
        return _Pending(pa.terms + [(s, op.copy()) for s, op in pb.terms], a.shape, _add_bias(pa.bias, pb.bias,
                                                                                                a.shape))
    if node.op == "call_function" and t in (torch.cat, torch.concat):
        seq = node.args[0]
        dim = node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else 0)
        if dim != 1:
            _refuse(node, f"concatenation along dim={dim}; only the channel/feature axis dim=1 is a block identity")
        srcs = [tr.source(vals[s], node.name + "_in") for s in seq]
        sh = [s.shape for s in srcs]
        if any(len(x) != len(sh[0]) or x[1:] != sh[0][1:] for x in sh):
            _refuse(node, f"concatenating shapes {sh}")
        out = (sum(x[0] for x in sh),) + sh[0][1:]
        terms, off = [], 0
        for s in srcs:
            real = next(lay.shape for lay in tr.layers if lay.name == s.name)  # a Flatten view keeps its layer
            terms.append((s.name, Identity(real, out, off)))
            off += int(np.prod(s.shape))
        return _Pending(terms, out)
    if (node.op == "call_function" and t is torch.flatten) or (node.op == "call_method" and name == "flatten"):
        start = node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim", 0 if node.op ==
                                                                         "call_function" else 0)
        end = node.args[2] if len(node.args) > 2 else node.kwargs.get("end_dim", -1)
        if start != 1 or end != -1:
            _refuse(node, f"flatten(start_dim={start}, end_dim={end}); only start_dim=1, end_dim=-1")
        return _flatten(tr, _arg(vals, node), node)
    if node.op == "call_function" and t in (F.avg_pool1d, F.avg_pool2d):
        v = _arg(vals, node)
        src = tr.source(v, node.name + "_in")
        d = len(src.shape) - 1
        ks = _tup(node.args[1] if len(node.args) > 1 else node.kwargs["kernel_size"], d)
        st = node.args[2] if len(node.args) > 2 else node.kwargs.get("stride", None)
        pad = node.args[3] if len(node.args) > 3 else node.kwargs.get("padding", 0)
        return _pool(node, src, ks, ks if st is None else _tup(st, d), _tup(pad, d))
    why = {operator.mul: "multiplying two activities is a gate, not a weighted sum",
           torch.mul: "multiplying two activities is a gate, not a weighted sum",
           operator.matmul: "a product of activities (attention) is not a weighted sum",
           torch.matmul: "a product of activities (attention) is not a weighted sum",
           torch.bmm: "a product of activities (attention) is not a weighted sum",
           F.max_pool1d: "max-pooling selects one input instead of summing weighted inputs",
           F.max_pool2d: "max-pooling selects one input instead of summing weighted inputs",
           F.softmax: "softmax divides by a sum over neurons",
           F.scaled_dot_product_attention: "attention multiplies activities with each other",
           F.batch_norm: "functional batch_norm cannot be folded (use the module in eval mode)"}
    if node.op == "call_function" and t in why:
        _refuse(node, why[t])
    if node.op == "call_method" and name in ("mul", "mul_", "matmul", "bmm", "softmax"):
        _refuse(node, "a product of activities (gate or attention) is not a weighted sum x = f(sum w x + b)")
    _refuse(node, "not a supported operation (supported: Linear, Conv, AvgPool, Flatten, activations, "
                  "a + b, torch.cat(dim=1), eval-mode BatchNorm and Dropout)")


# ----------------------------------------------------------------------------- torch side of a graph
def _apply_op(torch, op, x, weight):
    """op(x) in torch on a flat (B, n_in) tensor with the given weight tensor (or None)."""
    F = torch.nn.functional
    B = x.shape[0]
    if isinstance(op, Identity):
        return F.pad(x, (op.offset, op.n_out - op.offset - op.n_in))
    if isinstance(op, Dense):
        return x @ weight.T
    xr = x.reshape((B,) + op.in_shape)
    if isinstance(op, AvgPool):
        pool = F.avg_pool1d if op.ndim == 1 else F.avg_pool2d
        y = pool(xr, op.kernel_size, op.stride, op.padding, count_include_pad=True)
    else:
        conv = F.conv1d if op.ndim == 1 else F.conv2d
        y = conv(xr, weight, None, op.stride, op.padding, op.dilation, op.groups)
    return y.reshape(B, -1)


def _act(torch, name, y):
    if name == "identity":
        return y
    if name == "softplus":
        return torch.logaddexp(y, torch.zeros((), dtype=y.dtype))
    return getattr(torch, name)(y)


def _weights_from_theta(torch, net, theta):
    ws, bs = {}, []
    for k, e in enumerate(net.edges):
        if e.op.trainable:
            w0 = int(net.w_offsets[k])
            ws[k] = theta[w0:w0 + e.op.n_params].reshape(e.op.weight_shape)
        elif e.op.weight is not None:
            ws[k] = torch.from_numpy(np.array(e.op.weight, copy=True))
        else:
            ws[k] = None
    for l in range(1, net.n_layers):
        b = net.biases[l - 1]
        if b is None:
            bs.append(None)
            continue
        b0 = int(net.b_offsets[l - 1])
        bt = theta[b0:b0 + b.size]
        lay = net.layers[l]
        bs.append(bt.repeat_interleave(lay.size // lay.shape[0]) if lay.bias == "channel" else bt)
    return ws, bs


def torch_preactivations(net, xs, theta):
    """y_l (l = 1..L) computed with torch from the torch tensors ``xs`` (B, n_l) and ``theta`` (N,).

    Examples
    --------
    >>> import numpy as np
    >>> from analogsim.graph import GraphBuilder
    >>> b = GraphBuilder((1, 4, 4)); _ = b.dense(b.conv(b.input, 2, 3, activation="tanh"), 2)
    >>> net = b.build(seed=0)
    >>> xs = net.forward(np.ones((3, 16)))
    >>> import torch
    >>> ys = torch_preactivations(net, [torch.tensor(x) for x in xs], torch.tensor(net.theta))
    >>> [tuple(y.shape) for y in ys]
    [(3, 8), (3, 2)]
    """
    torch = _import_torch("torch_preactivations")
    ws, bs = _weights_from_theta(torch, net, theta)
    ys = []
    for l in range(1, net.n_layers):
        y = None
        for k in net.edges_in[l]:
            c = _apply_op(torch, net.edges[k].op, xs[net.src[k]], ws[k])
            y = c if y is None else y + c
        ys.append(y if bs[l - 1] is None else y + bs[l - 1])
    return ys


def torch_energy(net, xs, theta, clamp_target=None, clamp_stiffness=None):
    """H per sample computed with torch (differentiable in ``xs`` and ``theta``): the autograd reference.

    Examples
    --------
    >>> import numpy as np
    >>> from analogsim.graph import GraphBuilder
    >>> b = GraphBuilder((1, 4, 4)); _ = b.dense(b.conv(b.input, 2, 3, activation="tanh"), 2)
    >>> net = b.build(seed=0)
    >>> xs = net.forward(np.ones((3, 16)))
    >>> import torch
    >>> H = torch_energy(net, [torch.tensor(x) for x in xs], torch.tensor(net.theta))
    >>> bool(H.abs().max() < 1e-20)
    True
    """
    torch = _import_torch("torch_energy")
    ys = torch_preactivations(net, xs, theta)
    H = 0
    for l in range(1, net.n_layers):
        k = torch.from_numpy(np.array(net.kappa[l - 1], copy=True))
        d = xs[l] - _act(torch, net.activations[l - 1].name, ys[l - 1])
        H = H + 0.5 * (k * d * d).sum(dim=1)
    if clamp_stiffness is not None:
        H = H + 0.5 * clamp_stiffness * ((xs[-1] - clamp_target) ** 2).sum(dim=1)
    return H


def to_torch(net):
    """An ``nn.Module`` computing the network's zero-temperature output f(x_0) with torch's own operations.

    The module holds ``theta`` as one Parameter (the net's layout, see :meth:`GraphNetwork.param_table`) and
    the fixed operators as buffers; its input is (B, n_0) or (B,) + input shape, its output (B,) + output shape.
    kappa has no torch counterpart.

    Examples
    --------
    >>> from analogsim.graph import GraphBuilder
    >>> b = GraphBuilder((1, 4, 4)); _ = b.conv(b.input, 2, 3, activation="tanh")
    >>> m = b.build(seed=0).to_torch()                 # doctest: +SKIP
    >>> tuple(m(__import__("torch").zeros(3, 1, 4, 4, dtype=__import__("torch").float64)).shape)  # doctest: +SKIP
    (3, 2, 2, 2)
    """
    torch = _import_torch("GraphNetwork.to_torch")
    g = net.copy()

    class GraphModule(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.theta = torch.nn.Parameter(torch.from_numpy(np.array(g.theta, copy=True)))

        def forward(self, x):
            B = x.shape[0]
            xs = [x.reshape(B, -1)]
            ws, bs = _weights_from_theta(torch, g, self.theta)
            for l in range(1, g.n_layers):
                y = None
                for k in g.edges_in[l]:
                    c = _apply_op(torch, g.edges[k].op, xs[g.src[k]], ws[k])
                    y = c if y is None else y + c
                if bs[l - 1] is not None:
                    y = y + bs[l - 1]
                xs.append(_act(torch, g.activations[l - 1].name, y))
            return xs[-1].reshape((B,) + g.layers[-1].shape)

    mod = GraphModule()
    mod.graph_network = g.describe()
    return mod
