r"""Linear operators A_{l,m} that couple neuron layers of a graph network (Tkachenko Eq. 6).

A graph network's pre-activation is :math:`y_l = \sum_{m<l} A_{l,m} x_m + b_l`. Each operator maps a source
layer of per-sample shape ``in_shape`` to a contribution of shape ``out_shape`` and provides

* ``forward(x)``: :math:`A x` for a batch, x of shape (B, n_in) (the layer flattened in C order), result (B, n_out);
* ``adjoint(g)``: :math:`A^T g`, (B, n_out) -> (B, n_in) (used by dH/dx and by the stress recursion, Eq. 10);
* ``param_grad(x, g, per_sample)``: :math:`\partial (g \cdot A x)/\partial w`, the parameter gradient (Eq. 9).
  A convolution shares its kernel over positions, so its gradient sums over them.

Operators hold their weights in ``weight`` (an array shaped like torch's). When an operator is ``trainable``
the network binds ``weight`` to a view into its flat parameter vector; a fixed operator (a residual skip's
identity, an average pool, a frozen convolution) keeps its own array and contributes no parameter.

Convolutions are computed as a gather (im2col) followed by one matrix product per group; the adjoint is the
matrix product followed by the transposed gather, so both directions are plain numpy over arrays.

Examples
--------
>>> import numpy as np
>>> from analogsim.model.graph.operators import Conv
>>> op = Conv((1, 4, 4), out_channels=2, kernel_size=3, padding=1, weight=np.ones((2, 1, 3, 3)))
>>> op.out_shape
(2, 4, 4)
>>> op.forward(np.ones((1, 16))).reshape(2, 4, 4)[0, 0].tolist()
[4.0, 6.0, 6.0, 4.0]
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["Operator", "Dense", "Conv", "AvgPool", "Identity", "shape_size"]


def shape_size(shape) -> int:
    """Number of neurons of a per-sample shape (product of its entries).

    Examples
    --------
    >>> shape_size((8, 4, 4))
    128
    """
    return int(math.prod(shape))


def _tuple(v, d: int, name: str, low: int) -> tuple:
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        v = (int(v),) * d
    if not isinstance(v, (tuple, list)) or len(v) != d or any(
            isinstance(a, bool) or not isinstance(a, (int, np.integer)) for a in v):
        raise ValueError(f"{name} must be an integer or a tuple of {d} integers, got {v!r}")
    v = tuple(int(a) for a in v)
    if any(a < low for a in v):
        raise ValueError(f"{name} must be >= {low} in every dimension, got {v}")
    return v


def _check_shape(shape, name: str) -> tuple:
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (int(shape),)
    if not isinstance(shape, (tuple, list)) or len(shape) == 0 or any(
            isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1 for s in shape):
        raise ValueError(f"{name} must be a tuple of positive integers (a per-sample shape), got {shape!r}")
    return tuple(int(s) for s in shape)


class Operator:
    """Base class of the linear operators (see the module docstring for the interface).

    Attributes
    ----------
    in_shape, out_shape : tuple of int
        Per-sample shapes of the source layer and of the contribution.
    weight : ndarray or None
        The operator's parameters (None for parameter-free operators).
    trainable : bool
        Whether ``weight`` is part of the network's parameter vector theta.

    Examples
    --------
    >>> from analogsim.model.graph.operators import Identity
    >>> op = Identity((2, 3))
    >>> op.n_in, op.n_out, op.n_params
    (6, 6, 0)
    """

    kind = "operator"
    in_shape: tuple = ()
    out_shape: tuple = ()
    weight = None
    trainable = False

    @property
    def n_in(self) -> int:
        n = self.__dict__.get("_n_in")
        if n is None or self.__dict__.get("_n_in_shape") is not self.in_shape:
            n = self.__dict__["_n_in"] = shape_size(self.in_shape)
            self.__dict__["_n_in_shape"] = self.in_shape
        return n

    @property
    def n_out(self) -> int:
        n = self.__dict__.get("_n_out")
        if n is None or self.__dict__.get("_n_out_shape") is not self.out_shape:
            n = self.__dict__["_n_out"] = shape_size(self.out_shape)
            self.__dict__["_n_out_shape"] = self.out_shape
        return n

    @property
    def weight_shape(self) -> tuple:
        return () if self.weight is None else tuple(self.weight.shape)

    @property
    def n_params(self) -> int:
        """Number of trainable parameters (0 for a fixed operator)."""
        return int(self.weight.size) if (self.trainable and self.weight is not None) else 0

    def fan_in(self) -> int:
        """Inputs per output (for He/Xavier initialisation)."""
        return self.n_in

    def forward(self, x):
        raise NotImplementedError

    def adjoint(self, g):
        raise NotImplementedError

    def param_grad(self, x, g, per_sample: bool = False):
        """d(sum_b g_b . A x_b)/dweight: shape weight_shape (summed) or (B,) + weight_shape."""
        raise NotImplementedError

    # column layout (states (n, B), one row per neuron): what the prepared training loop uses
    def forward_cols(self, x):
        """A x in column layout: x (n_in, B) -> a fresh array (n_out, B)."""
        return np.ascontiguousarray(self.forward(np.ascontiguousarray(x.T)).T)

    def adjoint_cols(self, g):
        """A^T g in column layout: g (n_out, B) -> a fresh array (n_in, B)."""
        return np.ascontiguousarray(self.adjoint(np.ascontiguousarray(g.T)).T)

    def param_grad_cols(self, x, g):
        """d(sum_b g_b . A x_b)/dweight (summed over the batch) from column-layout x (n_in, B), g (n_out, B)."""
        return self.param_grad(np.ascontiguousarray(x.T), np.ascontiguousarray(g.T))

    def copy(self) -> "Operator":
        """A copy with its own weight array (unbound from any parameter vector)."""
        raise NotImplementedError

    def describe(self) -> dict:
        """JSON-serialisable description (kind and hyper-parameters; no weights)."""
        raise NotImplementedError

    def _set_weight(self, weight, shape, name):
        if weight is None:
            self.weight = np.zeros(shape)
            return
        w = np.asarray(weight)
        if w.dtype.kind not in "fiu":
            raise TypeError(f"{name}: weight must be a numeric array, got dtype {w.dtype}")
        if w.shape != tuple(shape):
            raise ValueError(f"{name}: weight must have shape {tuple(shape)}, got {w.shape}")
        if not np.all(np.isfinite(w)):
            raise ValueError(f"{name}: weight must be finite")
        self.weight = np.array(w, dtype=np.float64 if w.dtype.kind != "f" else w.dtype)

    def __repr__(self) -> str:
        d = self.describe()
        args = ", ".join(f"{k}={v}" for k, v in d.items() if k != "kind")
        return f"{type(self).__name__}({args})"


class Dense(Operator):
    """A dense matrix W (n_out, n_in) acting on the flattened source layer: A x = W x.

    Parameters
    ----------
    in_shape : tuple of int
        Shape of the source layer (flattened in C order, as ``torch.nn.Flatten`` does).
    n_out : int
    weight : array (n_out, n_in), optional
        Zeros if omitted (the network's initialiser fills trainable weights).
    trainable : bool

    Examples
    --------
    >>> import numpy as np
    >>> op = Dense((2,), 3, weight=np.arange(6.0).reshape(3, 2))
    >>> op.forward(np.array([[1.0, 1.0]])).tolist()
    [[1.0, 5.0, 9.0]]
    """

    kind = "dense"

    def __init__(self, in_shape, n_out: int, weight=None, trainable: bool = True):
        self.in_shape = _check_shape(in_shape, "in_shape")
        self.out_shape = _check_shape(n_out, "n_out")
        self.trainable = bool(trainable)
        self._set_weight(weight, (self.n_out, self.n_in), "Dense")

    def forward(self, x):
        return x @ self.weight.T

    def adjoint(self, g):
        return g @ self.weight

    def param_grad(self, x, g, per_sample=False):
        if per_sample:
            return g[:, :, None] * x[:, None, :]
        return g.T @ x

    def forward_cols(self, x):
        return self.weight @ x

    def adjoint_cols(self, g):
        return self.weight.T @ g

    def param_grad_cols(self, x, g):
        return g @ x.T

    def copy(self):
        return Dense(self.in_shape, self.n_out, self.weight.copy(), self.trainable)

    def describe(self):
        return {"kind": "dense", "in_shape": list(self.in_shape), "n_out": self.n_out, "trainable": self.trainable}


class Conv(Operator):
    """A 1-D or 2-D convolution (cross-correlation, as torch's ``ConvNd``) without bias.

    The bias of a convolution is the target layer's per-channel bias (``bias='channel'`` on the layer).

    Parameters
    ----------
    in_shape : tuple (C_in, L) or (C_in, H, W)
    out_channels : int
    kernel_size, stride, padding, dilation : int or tuple
        As in torch (zero padding, ``padding`` an explicit number per side).
    groups : int
        C_in and out_channels must be divisible by it.
    weight : array (out_channels, C_in/groups, *kernel_size), optional
    trainable : bool

    Examples
    --------
    >>> op = Conv((3, 8, 8), 16, 3, stride=2, padding=1)
    >>> op.out_shape, op.weight_shape
    ((16, 4, 4), (16, 3, 3, 3))
    """

    kind = "conv"

    def __init__(self, in_shape, out_channels: int, kernel_size, stride=1, padding=0, dilation=1, groups: int = 1,
                 weight=None, trainable: bool = True):
        self.in_shape = _check_shape(in_shape, "in_shape")
        d = len(self.in_shape) - 1
        if d not in (1, 2):
            raise ValueError(f"Conv: in_shape must be (C, L) or (C, H, W), got {self.in_shape}")
        self.ndim = d
        self.kernel_size = _tuple(kernel_size, d, "kernel_size", 1)
        self.stride = _tuple(stride, d, "stride", 1)
        self.padding = _tuple(padding, d, "padding", 0)
        self.dilation = _tuple(dilation, d, "dilation", 1)
        if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
            raise ValueError(f"groups must be a positive integer, got {groups!r}")
        if isinstance(out_channels, bool) or not isinstance(out_channels, (int, np.integer)) or out_channels < 1:
            raise ValueError(f"out_channels must be a positive integer, got {out_channels!r}")
        cin = self.in_shape[0]
        self.groups = int(groups)
        if cin % self.groups or out_channels % self.groups:
            raise ValueError(f"groups={groups} must divide in_channels={cin} and out_channels={out_channels}")
        spatial = []
        for n, k, s, p, dl in zip(self.in_shape[1:], self.kernel_size, self.stride, self.padding, self.dilation):
            o = (n + 2 * p - dl * (k - 1) - 1) // s + 1
            if o < 1:
                raise ValueError(f"Conv: kernel {self.kernel_size} (dilation {self.dilation}) does not fit input "
                                 f"{self.in_shape} with padding {self.padding}")
            spatial.append(o)
        self.out_shape = (int(out_channels),) + tuple(spatial)
        self.trainable = bool(trainable)
        self._set_weight(weight, (int(out_channels), cin // self.groups) + self.kernel_size, "Conv")
        self._build_index()

    def fan_in(self):
        return (self.in_shape[0] // self.groups) * shape_size(self.kernel_size)

    def _build_index(self):
        G = self.groups
        cin_g = self.in_shape[0] // G
        S_in, S_out = self.in_shape[1:], self.out_shape[1:]
        K = shape_size(self.kernel_size)
        P = shape_size(S_out)
        kk = np.stack(np.unravel_index(np.arange(K), self.kernel_size), axis=0)      # (d, K)
        pp = np.stack(np.unravel_index(np.arange(P), S_out), axis=0)                 # (d, P)
        valid = np.ones((K, P), dtype=bool)
        flat = np.zeros((K, P), dtype=np.int64)
        for a in range(self.ndim):
            pos = pp[a][None, :] * self.stride[a] - self.padding[a] + kk[a][:, None] * self.dilation[a]
            valid &= (pos >= 0) & (pos < S_in[a])
            flat = flat * S_in[a] + np.clip(pos, 0, S_in[a] - 1)
        n_sp = shape_size(S_in)
        ch = np.arange(self.in_shape[0]).reshape(G, cin_g)                            # (G, cin_g)
        idx = ch[:, :, None, None] * n_sp + flat[None, None]                          # (G, cin_g, K, P)
        idx = np.where(valid[None, None], idx, self.n_in)                             # n_in: the zero slot
        self._gidx = np.ascontiguousarray(idx.reshape(G, cin_g * K, P))
        # transposed gather: for every input element the positions in the flattened cols that read it
        fl = self._gidx.ravel()
        M = fl.size
        keep = np.nonzero(fl < self.n_in)[0]
        order = keep[np.argsort(fl[keep], kind="stable")]
        counts = np.bincount(fl[keep], minlength=self.n_in)
        width = max(int(counts.max()) if counts.size else 0, 1)
        start = np.concatenate([[0], np.cumsum(counts)[:-1]])
        rows = np.repeat(np.arange(self.n_in), counts)
        cols = np.arange(order.size) - start[rows]
        tidx = np.full((self.n_in, width), M, dtype=np.int64)
        tidx[rows, cols] = order
        self._tidx = tidx
        # per kernel offset, the input index of every (group, channel, position): injective apart from the
        # zero slot, so the adjoint is K scatter-adds without collisions
        self._kidx = np.ascontiguousarray(self._gidx.reshape(G, cin_g, K, P).transpose(2, 0, 1, 3).reshape(K, -1))
        self._gflat = np.ascontiguousarray(self._gidx.reshape(-1))  # the gather table of the column layout

    def _cols(self, x):
        """im2col: (G, cin_g*K, P, B) from x (B, n_in)."""
        B = x.shape[0]
        xz = np.empty((self.n_in + 1, B), dtype=x.dtype)
        xz[:-1] = x.T
        xz[-1] = 0
        return xz[self._gidx]

    def _wmat(self):
        G = self.groups
        return self.weight.reshape(G, self.out_shape[0] // G, -1)

    def forward(self, x):
        B = x.shape[0]
        cols = self._cols(x)                                   # (G, CK, P, B)
        G, CK, P, _ = cols.shape
        y = np.matmul(self._wmat(), cols.reshape(G, CK, P * B))  # (G, Cout_g, P*B)
        return np.ascontiguousarray(y.reshape(self.out_shape[0], P, B).transpose(2, 0, 1)).reshape(B, self.n_out)

    def adjoint(self, g):
        B = g.shape[0]
        G = self.groups
        P = self._gidx.shape[2]
        gt = np.ascontiguousarray(g.reshape(B, self.out_shape[0], P).transpose(1, 2, 0))  # (Cout, P, B)
        cg = np.matmul(self._wmat().transpose(0, 2, 1), gt.reshape(G, -1, P * B))         # (G, CK, P*B)
        K = self._kidx.shape[0]
        cg = cg.reshape(G, -1, K, P, B)
        out = np.zeros((self.n_in + 1, B), dtype=cg.dtype)
        for k in range(K):
            out[self._kidx[k]] += cg[:, :, k].reshape(-1, B)
        return out[:-1].T.copy()

    # column layout: one numba gather (im2col) / scatter-add (col2im) over the index table and one BLAS product
    # per group (analogsim.kernels.graph)
    def _gather_cols(self, x):
        from ...kernels.graph import gather_rows

        out = np.empty((self._gflat.size, x.shape[1]), dtype=x.dtype)
        gather_rows(x, self._gflat, out)
        return out

    def forward_cols(self, x, cols=None):
        B = x.shape[1]
        G = self.groups
        if cols is None:  # cols: this x's im2col (_gather_cols), where the caller kept it
            cols = self._gather_cols(x)                        # (G * CK * P, B) = (G, CK, P*B)
        P = self._gidx.shape[2]
        if G == 1:
            y = self.weight.reshape(self.out_shape[0], -1) @ cols.reshape(-1, P * B)
        else:
            y = np.matmul(self._wmat(), cols.reshape(G, -1, P * B))
        return y.reshape(self.n_out, B)

    def adjoint_cols(self, g):
        from ...kernels.graph import scatter_add_rows

        B = g.shape[1]
        G = self.groups
        P = self._gidx.shape[2]
        if G == 1:
            cg = self.weight.reshape(self.out_shape[0], -1).T @ g.reshape(self.out_shape[0], P * B)
        else:
            cg = np.matmul(self._wmat().transpose(0, 2, 1), g.reshape(G, -1, P * B))
        out = np.zeros((self.n_in, B), dtype=cg.dtype)
        scatter_add_rows(np.ascontiguousarray(cg).reshape(-1, B), self._gflat, out)
        return out

    def param_grad_cols(self, x, g, cols=None):
        B = x.shape[1]
        G = self.groups
        P = self._gidx.shape[2]
        if cols is None:
            cols = self._gather_cols(x)
        if G == 1:
            # (cols g^T)^T: the long axis P*B as the inner dimension of a product with the small dimensions outer
            # (faster in OpenBLAS than g cols^T for these shapes; the same sums)
            gw = (cols.reshape(-1, P * B) @ g.reshape(self.out_shape[0], P * B).T).T
        else:
            gw = np.matmul(g.reshape(G, -1, P * B), cols.reshape(G, -1, P * B).transpose(0, 2, 1))
        return gw.reshape(self.weight.shape)

    def param_grad(self, x, g, per_sample=False):
        B = x.shape[0]
        G = self.groups
        cols = self._cols(x)                                   # (G, CK, P, B)
        P = cols.shape[2]
        gt = g.reshape(B, G, self.out_shape[0] // G, P)
        if per_sample:
            out = np.einsum("bgop,gkpb->bgok", gt, cols)
            return out.reshape((B,) + self.weight.shape)
        gm = np.ascontiguousarray(gt.transpose(1, 2, 3, 0)).reshape(G, -1, P * B)
        out = np.matmul(gm, cols.reshape(G, cols.shape[1], P * B).transpose(0, 2, 1))
        return out.reshape(self.weight.shape)

    def copy(self):
        return Conv(self.in_shape, self.out_shape[0], self.kernel_size, self.stride, self.padding, self.dilation,
                    self.groups, self.weight.copy(), self.trainable)

    def describe(self):
        return {"kind": "conv", "in_shape": list(self.in_shape), "out_channels": self.out_shape[0],
                "kernel_size": list(self.kernel_size), "stride": list(self.stride), "padding": list(self.padding),
                "dilation": list(self.dilation), "groups": self.groups, "trainable": self.trainable}


class AvgPool(Conv):
    """Average pooling (torch's ``AvgPoolNd`` with ``count_include_pad=True``): a fixed depthwise convolution
    whose kernel entries are 1/prod(kernel_size). Never trainable.

    Examples
    --------
    >>> import numpy as np
    >>> op = AvgPool((1, 4, 4), 2)
    >>> op.forward(np.arange(16.0)[None]).tolist()
    [[2.5, 4.5, 10.5, 12.5]]
    """

    kind = "avg_pool"

    def __init__(self, in_shape, kernel_size, stride=None, padding=0):
        in_shape = _check_shape(in_shape, "in_shape")
        d = len(in_shape) - 1
        ks = _tuple(kernel_size, max(d, 1), "kernel_size", 1)
        st = ks if stride is None else stride
        C = in_shape[0]
        w = np.full((C, 1) + ks, 1.0 / shape_size(ks))
        super().__init__(in_shape, C, ks, stride=st, padding=padding, groups=C, weight=w, trainable=False)

    def copy(self):
        return AvgPool(self.in_shape, self.kernel_size, self.stride, self.padding)

    def describe(self):
        return {"kind": "avg_pool", "in_shape": list(self.in_shape), "kernel_size": list(self.kernel_size),
                "stride": list(self.stride), "padding": list(self.padding)}


class Identity(Operator):
    """A fixed identity (a skip or residual connection), optionally embedded at ``offset`` in a larger layer.

    ``A x`` places the source layer (flattened) at positions ``offset .. offset + n_in`` of the target's
    pre-activation; with ``out_shape`` larger than the source this is one part of a concatenation.

    Parameters
    ----------
    in_shape : tuple
    out_shape : tuple, optional
        Defaults to ``in_shape``.
    offset : int
        Flat position of the first element in the target layer.

    Examples
    --------
    >>> import numpy as np
    >>> Identity((2,), (4,), offset=1).forward(np.array([[5.0, 6.0]])).tolist()
    [[0.0, 5.0, 6.0, 0.0]]
    """

    kind = "identity"

    def __init__(self, in_shape, out_shape=None, offset: int = 0):
        self.in_shape = _check_shape(in_shape, "in_shape")
        self.out_shape = self.in_shape if out_shape is None else _check_shape(out_shape, "out_shape")
        if isinstance(offset, bool) or not isinstance(offset, (int, np.integer)) or offset < 0 \
                or offset + self.n_in > self.n_out:
            raise ValueError(f"Identity: offset must place {self.n_in} values inside a layer of {self.n_out}, "
                             f"got offset={offset!r}")
        self.offset = int(offset)
        self.trainable = False
        self.weight = None

    @property
    def full(self) -> bool:
        return self.offset == 0 and self.n_in == self.n_out

    def forward(self, x):
        if self.full:
            return x.copy()
        out = np.zeros((x.shape[0], self.n_out), dtype=x.dtype)
        out[:, self.offset:self.offset + self.n_in] = x
        return out

    def adjoint(self, g):
        return g[:, self.offset:self.offset + self.n_in].copy()

    def forward_cols(self, x):
        if self.full:
            return x.copy()
        out = np.zeros((self.n_out, x.shape[1]), dtype=x.dtype)
        out[self.offset:self.offset + self.n_in] = x
        return out

    def adjoint_cols(self, g):
        return g[self.offset:self.offset + self.n_in].copy()

    def param_grad(self, x, g, per_sample=False):
        return np.zeros((x.shape[0], 0) if per_sample else (0,), dtype=x.dtype)

    def copy(self):
        return Identity(self.in_shape, self.out_shape, self.offset)

    def describe(self):
        return {"kind": "identity", "in_shape": list(self.in_shape), "out_shape": list(self.out_shape),
                "offset": self.offset}


def operator_from_description(d: dict) -> Operator:
    """Rebuild an operator from :meth:`Operator.describe` (weights zero; the network fills them).

    Examples
    --------
    >>> op = Conv((1, 5, 5), 2, 3, stride=2)
    >>> operator_from_description(op.describe()).out_shape
    (2, 2, 2)
    """
    if not isinstance(d, dict) or "kind" not in d:
        raise ValueError(f"an operator description must be a table with a 'kind', got {d!r}")
    kind = d["kind"]
    try:
        if kind == "dense":
            return Dense(tuple(d["in_shape"]), d["n_out"], trainable=d.get("trainable", True))
        if kind == "conv":
            return Conv(tuple(d["in_shape"]), d["out_channels"], _maybe_tuple(d["kernel_size"]),
                        _maybe_tuple(d.get("stride", 1)), _maybe_tuple(d.get("padding", 0)),
                        _maybe_tuple(d.get("dilation", 1)), d.get("groups", 1), trainable=d.get("trainable", True))
        if kind == "avg_pool":
            return AvgPool(tuple(d["in_shape"]), _maybe_tuple(d["kernel_size"]), _maybe_tuple(d.get("stride")),
                           _maybe_tuple(d.get("padding", 0)))
        if kind == "identity":
            return Identity(tuple(d["in_shape"]), tuple(d.get("out_shape", d["in_shape"])), d.get("offset", 0))
    except KeyError as exc:
        raise ValueError(f"operator {kind!r} description misses {exc}") from None
    raise ValueError(f"unknown operator kind {kind!r}; expected dense, conv, avg_pool or identity")


def _maybe_tuple(v):
    return tuple(v) if isinstance(v, list) else v
