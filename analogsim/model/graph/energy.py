r"""The Hamiltonian of Eq. 6 on a graph network and its derivatives (numpy, batched).

.. math::  H = \sum_{l=1}^{L} \frac{\kappa_l}{2}|\delta_l|^2,\quad \delta_l = x_l - f_l(y_l),\quad
           y_l = \sum_{m<l} A_{l,m} x_m + b_l

Conventions (as for the dense chain): the stress :math:`\sigma_l = \partial H/\partial b_l` per neuron is
:math:`-\kappa_l\delta_l f'(y_l)` (Eq. 8); :math:`\partial H/\partial w = \sum_{l} \partial(\sigma_l\cdot A_{l,m}x_m)/
\partial w` (Eq. 9; a convolution's kernel gradient sums over positions, a channel bias's over its channel);
:math:`\partial H/\partial x_m = \kappa_m\delta_m + \sum_{l>m} A_{l,m}^T\sigma_l` and, for the clamped input,
:math:`\partial H/\partial x_0 = \sum_l A_{l,0}^T\sigma_l` (the force that does work when the input moves).

A state is ``xs = [x_0, ..., x_L]``, arrays (B, n_l) with each layer flattened in C order. An optional
:class:`analogsim.model.hamiltonian.OutputClamp` with a stiffness adds a spring ``k/2 |x_L - t|^2``.

Examples
--------
>>> from analogsim.graph import GraphBuilder
>>> from analogsim.model.graph.energy import energy
>>> b = GraphBuilder((1, 4, 4)); _ = b.conv(b.input, 2, 3, padding=1, activation="tanh")
>>> net = b.build(seed=0)
>>> xs = net.forward([[0.1] * 16])
>>> float(energy(net, xs)[0])
0.0
"""

from __future__ import annotations

import numpy as np

from ..._checks import check_layer_states
from ..hamiltonian import OutputClamp, energy_of_residuals

__all__ = ["OutputClamp", "energy_and_grad", "layer_terms", "residuals", "energy", "stress", "grad_x", "grad_params",
           "params_from_stress", "hvp_x", "hvp_theta", "power_lambda_max", "check_state", "ColumnPlan"]


def check_state(net, xs, name: str = "xs") -> list:
    """Shapes only (cheap; used inside solver loops): a list of L+1 numeric arrays (B, n_l).

    Examples
    --------
    >>> import numpy as np
    >>> from analogsim.graph import GraphBuilder
    >>> b = GraphBuilder((1, 4, 4)); _ = b.conv(b.input, 2, 3, padding=1, activation="tanh")
    >>> net = b.build(seed=0)
    >>> xs = net.forward([[0.1] * 16]); xs[1] = xs[1] + 0.1        # a state off the forward pass
    >>> [x.shape for x in check_state(net, xs)]
    [(1, 16), (1, 32)]
    """
    return check_layer_states(xs, net.sizes, name, labels=net.names)


def f_and_df(act, y):
    """f(y) and f'(y) together (tanh and sigmoid reuse f: f' = 1 - f^2, f' = f (1 - f)).

    Examples
    --------
    >>> import numpy as np
    >>> from analogsim.graph import GraphBuilder
    >>> b = GraphBuilder((1, 4, 4)); _ = b.conv(b.input, 2, 3, padding=1, activation="tanh")
    >>> net = b.build(seed=0)
    >>> xs = net.forward([[0.1] * 16]); xs[1] = xs[1] + 0.1        # a state off the forward pass
    >>> from analogsim.model.activations import get_activation
    >>> f, df = f_and_df(get_activation("tanh"), np.array([0.0]))
    >>> float(f[0]), float(df[0])
    (0.0, 1.0)
    """
    if act.name == "tanh":
        f = np.tanh(y)
        return f, 1.0 - f * f
    if act.name == "sigmoid":
        f = act.f(y)
        return f, f * (1.0 - f)
    return act.f(y), act.df(y)


def layer_terms(net, xs):
    """Pre-activations y_l, residuals delta_l and f'(y_l) for l = 1..L (lists of length L).

    Examples
    --------
    >>> import numpy as np
    >>> from analogsim.graph import GraphBuilder
    >>> b = GraphBuilder((1, 4, 4)); _ = b.conv(b.input, 2, 3, padding=1, activation="tanh")
    >>> net = b.build(seed=0)
    >>> xs = net.forward([[0.1] * 16]); xs[1] = xs[1] + 0.1        # a state off the forward pass
    >>> ys, deltas, fps = layer_terms(net, xs)
    >>> round(float(deltas[0].mean()), 6)
    0.1
    """
    xs = check_state(net, xs)
    ys, deltas, fps = [], [], []
    for l in range(1, net.n_layers):
        y = net.preactivation(l, xs)
        f, fp = f_and_df(net.activations[l - 1], y)
        ys.append(y)
        deltas.append(xs[l] - f)
        fps.append(fp)
    return ys, deltas, fps


def residuals(net, xs):
    """delta_l = x_l - f_l(y_l) for l = 1..L; list of (B, n_l).

    Examples
    --------
    >>> import numpy as np
    >>> from analogsim.graph import GraphBuilder
    >>> b = GraphBuilder((1, 4, 4)); _ = b.conv(b.input, 2, 3, padding=1, activation="tanh")
    >>> net = b.build(seed=0)
    >>> xs = net.forward([[0.1] * 16]); xs[1] = xs[1] + 0.1        # a state off the forward pass
    >>> round(float(residuals(net, xs)[0].max()), 6)
    0.1
    """
    return layer_terms(net, xs)[1]


def energy(net, xs, clamp: OutputClamp | None = None, per_layer: bool = False):
    """H per sample (B,) (Eq. 6); with ``per_layer`` the (B, L) terms kappa_l/2 |delta_l|^2 (no clamp spring).

    Examples
    --------
    >>> import numpy as np
    >>> from analogsim.graph import GraphBuilder
    >>> b = GraphBuilder((1, 4, 4)); _ = b.conv(b.input, 2, 3, padding=1, activation="tanh")
    >>> net = b.build(seed=0)
    >>> xs = net.forward([[0.1] * 16]); xs[1] = xs[1] + 0.1        # a state off the forward pass
    >>> round(float(energy(net, xs)[0]), 6)                    # 32 neurons x kappa/2 x 0.1^2
    0.16
    """
    return energy_of_residuals(net.kappa, residuals(net, xs), xs[-1], clamp, per_layer)


def stress(net, xs):
    """sigma_l = dH/db_l per neuron = -kappa_l delta_l f'(y_l) (Eq. 8), l = 1..L; list of (B, n_l).

    Examples
    --------
    >>> import numpy as np
    >>> from analogsim.graph import GraphBuilder
    >>> b = GraphBuilder((1, 4, 4)); _ = b.conv(b.input, 2, 3, padding=1, activation="tanh")
    >>> net = b.build(seed=0)
    >>> xs = net.forward([[0.1] * 16]); xs[1] = xs[1] + 0.1        # a state off the forward pass
    >>> [s.shape for s in stress(net, xs)]
    [(1, 32)]
    """
    _, deltas, fps = layer_terms(net, xs)
    return [-k * d * fp for k, d, fp in zip(net.kappa, deltas, fps)]


def _backward(net, sig, first=0):
    """sum_{l>m} A_{l,m}^T sigma_l for every layer m (index 0 = input); list of arrays or None."""
    out = [None] * net.n_layers
    for k, e in enumerate(net.edges):
        m = net.src[k]
        if m < first:
            continue
        c = e.op.adjoint(sig[net.dst[k] - 1])
        out[m] = c if out[m] is None else out[m] + c
    return out


def grad_x(net, xs, clamp: OutputClamp | None = None):
    """dH/dx_l for l = 0..L (index 0: the force on the clamped input, sum_l A_{l,0}^T sigma_l).

    Examples
    --------
    >>> import numpy as np
    >>> from analogsim.graph import GraphBuilder
    >>> b = GraphBuilder((1, 4, 4)); _ = b.conv(b.input, 2, 3, padding=1, activation="tanh")
    >>> net = b.build(seed=0)
    >>> xs = net.forward([[0.1] * 16]); xs[1] = xs[1] + 0.1        # a state off the forward pass
    >>> g = grad_x(net, xs)                  # g[0]: the force on the clamped input
    >>> [a.shape for a in g]
    [(1, 16), (1, 32)]
    """
    xs = check_state(net, xs)
    _, deltas, fps = layer_terms(net, xs)
    sig = [-k * d * fp for k, d, fp in zip(net.kappa, deltas, fps)]
    back = _backward(net, sig)
    g = [back[0] if back[0] is not None else np.zeros_like(xs[0])]
    for l in range(1, net.n_layers):
        gl = net.kappa[l - 1] * deltas[l - 1]
        g.append(gl if back[l] is None else gl + back[l])
    if clamp is not None and not clamp.hard:
        g[-1] = g[-1] + clamp.stiffness * (xs[-1] - clamp.target)
    return g


def energy_and_grad(net, xs, clamp: OutputClamp | None = None, input_force: bool = True):
    """(H per sample, dH/dx list) from one forward and one backward pass (what a Langevin step needs).

    With ``input_force=False`` the force on the clamped input is not computed (``g[0]`` is None).

    Examples
    --------
    >>> import numpy as np
    >>> from analogsim.graph import GraphBuilder
    >>> b = GraphBuilder((1, 4, 4)); _ = b.conv(b.input, 2, 3, padding=1, activation="tanh")
    >>> net = b.build(seed=0)
    >>> xs = net.forward([[0.1] * 16]); xs[1] = xs[1] + 0.1        # a state off the forward pass
    >>> H, g = energy_and_grad(net, xs)
    >>> bool(np.allclose(H, energy(net, xs))), bool(np.allclose(g[1], grad_x(net, xs)[1]))
    (True, True)
    """
    _, deltas, fps = layer_terms(net, xs)
    H = 0.0
    sig = []
    g = [None] * net.n_layers
    for l, (k, d, fp) in enumerate(zip(net.kappa, deltas, fps), start=1):
        kd = k * d
        H = H + 0.5 * np.sum(kd * d, axis=1)
        sig.append(-kd * fp)
        g[l] = kd
    back = _backward(net, sig, first=0 if input_force else 1)
    if input_force:
        g[0] = back[0] if back[0] is not None else np.zeros_like(xs[0])
    for l in range(1, net.n_layers):
        if back[l] is not None:
            g[l] = g[l] + back[l]
    if clamp is not None and not clamp.hard:
        e = xs[-1] - clamp.target
        H = H + 0.5 * clamp.stiffness * np.sum(e * e, axis=1)
        g[-1] = g[-1] + clamp.stiffness * e
    return H, g


def params_from_stress(net, xs, sig, per_sample: bool = True) -> np.ndarray:
    """dH/dtheta from the per-neuron stresses: (B, N) per sample or (N,) summed over the batch (Eq. 9).

    Examples
    --------
    >>> import numpy as np
    >>> from analogsim.graph import GraphBuilder
    >>> b = GraphBuilder((1, 4, 4)); _ = b.conv(b.input, 2, 3, padding=1, activation="tanh")
    >>> net = b.build(seed=0)
    >>> xs = net.forward([[0.1] * 16]); xs[1] = xs[1] + 0.1        # a state off the forward pass
    >>> g = params_from_stress(net, xs, stress(net, xs), per_sample=False)
    >>> bool(np.allclose(g, grad_params(net, xs)))
    True
    """
    B = xs[0].shape[0]
    out = np.empty((B, net.n_params) if per_sample else (net.n_params,), dtype=net.dtype)
    for l in range(1, net.n_layers):
        s = sig[l - 1]
        for k in net.edges_in[l]:
            op = net.edges[k].op
            if op.trainable:
                w0 = net.w_offsets[k]
                gw = op.param_grad(xs[net.src[k]], s, per_sample=per_sample)
                if per_sample:
                    out[:, w0:w0 + op.n_params] = gw.reshape(B, -1)
                else:
                    out[w0:w0 + op.n_params] = gw.reshape(-1)
        b = net.biases[l - 1]
        if b is not None:
            b0 = net.b_offsets[l - 1]
            gb = s if net.layers[l].bias == "neuron" else s.reshape(B, b.size, -1).sum(axis=2)
            if per_sample:
                out[:, b0:b0 + b.size] = gb
            else:
                out[b0:b0 + b.size] = gb.sum(axis=0)
    return out


def grad_params(net, xs, reduce: str = "sum") -> np.ndarray:
    """dH/dtheta in the layout of ``net.theta``: summed or averaged over the batch (N,), or per sample (B, N).

    Examples
    --------
    >>> import numpy as np
    >>> from analogsim.graph import GraphBuilder
    >>> b = GraphBuilder((1, 4, 4)); _ = b.conv(b.input, 2, 3, padding=1, activation="tanh")
    >>> net = b.build(seed=0)
    >>> xs = net.forward([[0.1] * 16]); xs[1] = xs[1] + 0.1        # a state off the forward pass
    >>> grad_params(net, xs).shape, grad_params(net, xs, reduce="none").shape
    ((20,), (1, 20))
    """
    if reduce not in ("sum", "mean", "none"):
        raise ValueError(f"reduce must be 'sum', 'mean' or 'none', got {reduce!r}")
    xs = check_state(net, xs)
    sig = stress(net, xs)
    if reduce == "none":
        return params_from_stress(net, xs, sig, per_sample=True)
    g = params_from_stress(net, xs, sig, per_sample=False)
    return g / xs[0].shape[0] if reduce == "mean" else g


def hvp_x(net, xs, v, clamp: OutputClamp | None = None):
    """The x-Hessian of H applied to ``v`` (a list like ``xs``), per sample, including the f'' curvature term.

    x_0 is treated as a variable too (zero ``v[0]`` for a clamped input and ignore ``out[0]``).

    Examples
    --------
    >>> import numpy as np
    >>> from analogsim.graph import GraphBuilder
    >>> b = GraphBuilder((1, 4, 4)); _ = b.conv(b.input, 2, 3, padding=1, activation="tanh")
    >>> net = b.build(seed=0)
    >>> xs = net.forward([[0.1] * 16]); xs[1] = xs[1] + 0.1        # a state off the forward pass
    >>> v = [np.zeros_like(xs[0]), np.ones_like(xs[1])]
    >>> [a.shape for a in hvp_x(net, xs, v)]
    [(1, 16), (1, 32)]
    """
    xs = check_state(net, xs)
    v = check_state(net, v, "v")
    ys, deltas, fps = layer_terms(net, xs)
    out = [np.zeros_like(x, dtype=net.dtype) for x in xs]
    for l in range(1, net.n_layers):
        k = net.kappa[l - 1]
        act = net.activations[l - 1]
        av = None
        for e in net.edges_in[l]:
            c = net.edges[e].op.forward(v[net.src[e]])
            av = c if av is None else av + c
        u = k * (v[l] - fps[l - 1] * av)
        out[l] += u
        w = -k * deltas[l - 1] * act.d2f(ys[l - 1]) * av - fps[l - 1] * u
        for e in net.edges_in[l]:
            out[net.src[e]] += net.edges[e].op.adjoint(w)
    if clamp is not None and not clamp.hard:
        out[-1] += clamp.stiffness * v[-1]
    return out


def _forward_with(op, x, w):
    """op(x) with the weight replaced by ``w`` (a direction in parameter space)."""
    saved = op.weight
    op.weight = w
    try:
        return op.forward(x)
    finally:
        op.weight = saved


def hvp_theta(net, xs, v, reduce: str = "sum"):
    r"""The Hessian of H in the trainable parameters at fixed neurons, applied to ``v`` (N,).

    y is linear in theta at fixed x, so with :math:`\dot y_l = \partial y_l/\partial\theta\cdot v` (the graph's
    pre-activations with the weights replaced by v, plus v's bias) the directional derivative of the stress is
    :math:`\dot\sigma_l = \kappa_l (f'^2 - \delta_l f'')\,\dot y_l` and :math:`Hv = \sum (\partial y/\partial\theta)^T
    \dot\sigma` (Eq. 9 with sigma-dot). Returns (N,) summed or averaged over the batch, or (B, N) with 'none'.

    Examples
    --------
    >>> import numpy as np
    >>> from analogsim.graph import GraphBuilder
    >>> b = GraphBuilder((1, 4, 4)); _ = b.conv(b.input, 2, 3, padding=1, activation="tanh")
    >>> net = b.build(seed=0)
    >>> xs = net.forward([[0.1] * 16]); xs[1] = xs[1] + 0.1        # a state off the forward pass
    >>> hvp_theta(net, xs, np.ones(net.n_params)).shape
    (20,)
    """
    if reduce not in ("sum", "mean", "none"):
        raise ValueError(f"reduce must be 'sum', 'mean' or 'none', got {reduce!r}")
    xs = check_state(net, xs)
    v = np.asarray(v, dtype=net.dtype)
    if v.shape != (net.n_params,):
        raise ValueError(f"v must have shape ({net.n_params},) (one entry per trainable parameter), got {v.shape}")
    ys, deltas, fps = layer_terms(net, xs)
    B = xs[0].shape[0]
    sdot = []
    for l in range(1, net.n_layers):
        yd = np.zeros((B, net.sizes[l]), dtype=net.dtype)
        for k in net.edges_in[l]:
            op = net.edges[k].op
            if op.trainable:
                w0 = net.w_offsets[k]
                yd += _forward_with(op, xs[net.src[k]], v[w0:w0 + op.n_params].reshape(op.weight_shape))
        b = net.biases[l - 1]
        if b is not None:
            b0 = net.b_offsets[l - 1]
            vb = v[b0:b0 + b.size]
            yd += np.repeat(vb, net.sizes[l] // b.size) if net.layers[l].bias == "channel" else vb
        act = net.activations[l - 1]
        fp = fps[l - 1]
        sdot.append(net.kappa[l - 1] * (fp * fp - deltas[l - 1] * act.d2f(ys[l - 1])) * yd)
    if reduce == "none":
        return params_from_stress(net, xs, sdot, per_sample=True)
    out = params_from_stress(net, xs, sdot, per_sample=False)
    return out / B if reduce == "mean" else out


def power_lambda_max(net, xs, n_iter: int = 50, seed=0, clamp: OutputClamp | None = None) -> float:
    """Largest eigenvalue of the x-Hessian with the input clamped (power iteration, max over the batch).

    Examples
    --------
    >>> import numpy as np
    >>> from analogsim.graph import GraphBuilder
    >>> b = GraphBuilder((1, 4, 4)); _ = b.conv(b.input, 2, 3, padding=1, activation="tanh")
    >>> net = b.build(seed=0)
    >>> xs = net.forward([[0.1] * 16]); xs[1] = xs[1] + 0.1        # a state off the forward pass
    >>> bool(power_lambda_max(net, xs) >= 1.0)              # at least kappa = 1
    True
    """
    rng = np.random.default_rng(seed)
    v = [np.zeros_like(xs[0])] + [rng.standard_normal(x.shape).astype(net.dtype) for x in xs[1:]]
    lam = np.zeros(xs[0].shape[0])
    for _ in range(n_iter):
        nrm = np.sqrt(sum(np.sum(a * a, axis=1) for a in v[1:]))
        v = [a / nrm[:, None] for a in v]
        v[0] = np.zeros_like(v[0])
        hv = hvp_x(net, xs, v, clamp)
        lam = sum(np.sum(a * b, axis=1) for a, b in zip(v[1:], hv[1:]))
        hv[0] = np.zeros_like(hv[0])
        v = hv
    return float(np.max(lam))


class ColumnPlan:
    """A graph network prepared for repeated evaluation with states in column layout (what training loops use).

    A state is a list of arrays (n_l, B), one row per neuron (``x.T`` of the usual layout), so that every operator
    is one BLAS product (a convolution after a numba gather over its index table, :mod:`analogsim.kernels.graph`)
    whose result is already the next layer's state. Pre-activations are summed in one fixed order,
    y_l = (sum of the input layer's contributions ``I_l`` + sum of the other contributions ``R_l``) + b_l, so that
    ``I`` (fixed while the input is clamped and theta fixed) and ``R`` can be kept and reused. The plan reads the
    network's weights and kappa at call time (views into theta), so it stays valid while theta changes in place.
    The output is hard-clamped: ``xs[-1]`` is the target.

    Examples
    --------
    >>> import numpy as np
    >>> from analogsim.graph import GraphBuilder
    >>> b = GraphBuilder((1, 4, 4)); _ = b.dense(b.conv(b.input, 2, 3, padding=1, activation="tanh"), 2)
    >>> net = b.build(seed=0)
    >>> xs = net.forward(np.full((3, 16), 0.1)); xs[1] = xs[1] + 0.1
    >>> plan = ColumnPlan(net); cols = [np.ascontiguousarray(x.T) for x in xs]
    >>> H, sig, R = plan.evaluate(cols, plan.inputs(cols[0]))
    >>> bool(np.allclose(H, energy(net, xs)))
    True
    """

    def __init__(self, net, keep_gathers: bool = False):
        self.net = net
        # keep_gathers: a convolution's im2col of the last state array seen per edge is kept and reused when the
        # same array object comes again (the caller promises never to modify a state array in place)
        self.keep_gathers = keep_gathers
        self._gathered = {}
        n = net.n_layers
        self.in_edges = [[(k, int(net.src[k]), net.edges[k].op) for k in net.edges_in[l]] for l in range(n)]
        self.out_edges = [[(k, int(net.dst[k]), net.edges[k].op) for k in net.edges_out[m]] for m in range(n)]
        self.channel = [False] + [net.layers[l].bias == "channel" for l in range(1, n)]
        self.sizes = net.sizes
        self.has_rest = [any(m != 0 for _, m, _ in self.in_edges[l]) for l in range(n)]

    def _cols(self, k, op, x):
        """Edge k's im2col of x where kept (``keep_gathers``, a convolution): reused for the same array object."""
        if not self.keep_gathers or not hasattr(op, "_gather_cols"):
            return None
        hit = self._gathered.get(k)
        if hit is not None and hit[0] is x:
            return hit[1]
        cols = op._gather_cols(x)
        self._gathered[k] = (x, cols)
        return cols

    def _forward(self, k, op, x):
        c = self._cols(k, op, x)
        return op.forward_cols(x) if c is None else op.forward_cols(x, cols=c)

    def kappa(self, l):
        """Layer l's stiffness as a column (n_l, 1)."""
        return self.net.kappa[l - 1][:, None]

    def inputs(self, x0):
        """I_l: the sum of the clamped input's contributions to each layer (None where there are none)."""
        out = [None] * self.net.n_layers
        for l in range(1, self.net.n_layers):
            for k, m, op in self.in_edges[l]:
                if m == 0:
                    c = self._forward(k, op, x0)
                    out[l] = c if out[l] is None else out[l] + c
        return out

    def rest(self, l, xs, probe=False):
        """R_l: the sum of the contributions of the layers other than the input (None where there are none);
        with ``probe``, only whether there are any."""
        if probe:
            return any(m != 0 for _, m, _ in self.in_edges[l])
        r = None
        for k, m, op in self.in_edges[l]:
            if m != 0:
                c = self._forward(k, op, xs[m])
                r = c if r is None else r + c
        return r

    def preactivation(self, l, I, R, fresh=False):
        """y_l = (I_l + R_l) + b_l as a new array (n_l, B) (``fresh``: R is a temporary that may become y)."""
        if I[l] is not None and R is not None:
            y, fresh = I[l] + R, True
        else:
            y = R if I[l] is None else I[l]
            fresh = fresh and I[l] is None
        b = self.net.biases[l - 1]
        if b is None:
            return y if fresh else y.copy()
        if self.channel[l]:
            yc = y.reshape(b.size, -1)
            if fresh:
                yc += b[:, None]
                return y
            return (yc + b[:, None]).reshape(y.shape)
        if fresh:
            y += b[:, None]
            return y
        return y + b[:, None]

    def activate(self, l, y):
        """[y, f(y), f'(y) or None] of layer l (f' left for :meth:`derivative` where it follows from f)."""
        act = self.net.activations[l - 1]
        if act.name == "tanh":
            return [y, np.tanh(y), None]
        if act.name == "sigmoid":
            return [y, act.f(y), None]
        return [y, act.f(y), act.df(y)]

    def derivative(self, l, entry):
        """f'(y) of an :meth:`activate` entry (computed once, kept in the entry)."""
        if entry[2] is None:
            f = entry[1]
            entry[2] = 1.0 - f * f if self.net.activations[l - 1].name == "tanh" else f * (1.0 - f)
        return entry[2]

    def evaluate(self, xs, I, cache=None, with_sig=True):
        """H per sample (B,), the stresses sigma_l (n_l, B) (index 0 unused; None without ``with_sig``) and a
        cache: the hidden layers' contributions R_l and every layer's :meth:`activate` entry.

        ``cache`` (from an earlier call at the same hidden state and theta; the input and the target may differ)
        skips recomputing R and the entries of the layers the input does not feed; every residual is
        ``x_l - f(y_l)``, the output's with ``xs[-1]`` the target.
        """
        from ...kernels.graph import energy_terms

        n = self.net.n_layers
        if cache is None:
            R, F = [None] + [self.rest(l, xs) for l in range(1, n)], [None] * n
        else:
            R, F = cache[0], [e if I[l] is None else None for l, e in enumerate(cache[1])]
        H = np.zeros(xs[0].shape[1])
        sig = [None] * n
        for l in range(1, n):
            if F[l] is None:
                F[l] = self.activate(l, self.preactivation(l, I, R[l]))
            f = F[l][1]
            fp = self.derivative(l, F[l]) if with_sig else f
            sig[l] = np.empty_like(f) if with_sig else f
            energy_terms(xs[l], f, fp, self.net.kappa[l - 1], np.empty_like(f), sig[l], H, with_sig)
        return H, (sig if with_sig else None), (R, F)

    def param_grad(self, xs, sig):
        """dH/dtheta summed over the batch (N,) in the layout of theta (Eq. 9)."""
        net = self.net
        out = np.empty(net.n_params, dtype=net.dtype)
        for l in range(1, net.n_layers):
            s = sig[l]
            for k, m, op in self.in_edges[l]:
                if op.trainable:
                    w0 = net.w_offsets[k]
                    c = self._cols(k, op, xs[m])
                    g = op.param_grad_cols(xs[m], s) if c is None else op.param_grad_cols(xs[m], s, cols=c)
                    out[w0:w0 + op.n_params] = g.reshape(-1)
            b = net.biases[l - 1]
            if b is not None:
                b0 = net.b_offsets[l - 1]
                out[b0:b0 + b.size] = s.reshape(b.size, -1).sum(axis=1)
        return out
