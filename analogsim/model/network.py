"""The layered feed-forward network as a physical system (Tkachenko Eq. 6).

Layer l = 1..L maps x_{l-1} (n_{l-1}) to x_l (n_l) through
``y_l = W_l x_{l-1} + b_l``, ``x_l = f_l(y_l)`` at zero temperature; at temperature
kT each neuron i of layer l is a spring of stiffness ``kappa_i`` around ``f_l(y_l)_i``.
"""

from __future__ import annotations

import json
from typing import Sequence

import numpy as np

from .._checks import as_dtype, as_generator, check_array
from .activations import Activation, get_activation

_INITS = ("he", "xavier")


class Network:
    """A layered feed-forward network with per-neuron stiffness.

    Parameters
    ----------
    weights : sequence of arrays
        ``weights[l-1]`` is W_l with shape (n_l, n_{l-1}).
    biases : sequence of arrays, optional
        ``biases[l-1]`` is b_l with shape (n_l,). Zeros if omitted.
    activations : str or sequence of str
        One name for every layer, or one per layer (identity, relu, tanh, sigmoid, softplus).
    kappa : float or sequence
        Stiffness (energy per squared unit of x): one number for every neuron, or one entry per
        layer, each a number or an array of shape (n_l,).
    dtype : {'float32', 'float64'}, optional
        Defaults to the weights' dtype if float32/float64, else float64.

    Notes
    -----
    All parameters live in one flat vector :attr:`theta` (for l = 1..L: W_l in C order, then b_l);
    :attr:`weights` and :attr:`biases` are views into it, so updating ``theta`` in place updates them.

    Examples
    --------
    >>> from analogsim import Network
    >>> net = Network.create([4, 16, 1], activations=["tanh", "identity"], kappa=1.0, seed=0)
    >>> net.sizes, net.n_params
    ((4, 16, 1), 97)
    """

    def __init__(self, weights: Sequence, biases: Sequence | None = None, activations="tanh",
                 kappa=1.0, dtype=None):
        if isinstance(weights, np.ndarray) or not isinstance(weights, Sequence) or len(weights) == 0:
            raise TypeError("weights must be a non-empty list of 2-D arrays, one per layer")
        ws = [check_array(w, f"weights[{i}]", ndim=2) for i, w in enumerate(weights)]
        if dtype is None:
            dtype = ws[0].dtype if ws[0].dtype in (np.float32, np.float64) else np.float64
        self.dtype = as_dtype(dtype)
        sizes = [ws[0].shape[1]]
        for i, w in enumerate(ws):
            if w.shape[1] != sizes[-1]:
                raise ValueError(f"weights[{i}] must have shape (n, {sizes[-1]}) to follow the previous layer, "
                                 f"got {w.shape}")
            if w.shape[0] == 0 or w.shape[1] == 0:
                raise ValueError(f"weights[{i}] must have non-zero dimensions, got {w.shape}")
            sizes.append(w.shape[0])
        self.sizes = tuple(int(s) for s in sizes)
        L = len(ws)
        if biases is None:
            bs = [np.zeros(n) for n in self.sizes[1:]]
        else:
            if isinstance(biases, np.ndarray) or len(biases) != L:
                raise ValueError(f"biases must be a list of {L} arrays (one per layer), got {_describe(biases)}")
            bs = [check_array(b, f"biases[{i}]", shape=(self.sizes[i + 1],)) for i, b in enumerate(biases)]
        self.activations = _parse_activations(activations, L)
        self.kappa = _parse_kappa(kappa, self.sizes, self.dtype)

        self.w_offsets = np.zeros(L, dtype=np.int64)
        self.b_offsets = np.zeros(L, dtype=np.int64)
        off = 0
        for l in range(L):
            self.w_offsets[l] = off
            off += self.sizes[l + 1] * self.sizes[l]
            self.b_offsets[l] = off
            off += self.sizes[l + 1]
        self.theta = np.empty(off, dtype=self.dtype)
        self._bind_views()
        for l in range(L):
            self.weights[l][...] = ws[l]
            self.biases[l][...] = bs[l]

    # ---------------------------------------------------------------- construction
    @classmethod
    def create(cls, sizes: Sequence[int], activations="tanh", kappa=1.0, init: str = "he", seed=None,
               dtype="float64", bias_scale: float = 0.0) -> "Network":
        """A network with seeded random weights.

        Parameters
        ----------
        sizes : sequence of int
            Layer sizes (n_0, ..., n_L), input first; at least two entries.
        activations, kappa
            As in :class:`Network`.
        init : {'he', 'xavier'}
            He: W ~ N(0, 2/n_in); Xavier (Glorot normal): W ~ N(0, 2/(n_in + n_out)).
        seed : int, SeedSequence or Generator, optional
        dtype : {'float32', 'float64'}
        bias_scale : float
            Biases ~ N(0, bias_scale^2); 0 gives zero biases.

        Examples
        --------
        >>> net = Network.create([2, 3, 1], activations="relu", init="xavier", seed=1)
        >>> [w.shape for w in net.weights]
        [(3, 2), (1, 3)]
        """
        if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence):
            raise TypeError(f"sizes must be a list of layer sizes like [4, 16, 1], got {sizes!r}")
        if len(sizes) < 2:
            raise ValueError(f"sizes must list at least an input and an output layer, got {list(sizes)}")
        for i, s in enumerate(sizes):
            if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1:
                raise ValueError(f"sizes[{i}] must be a positive integer, got {s!r}")
        if init not in _INITS:
            raise ValueError(f"init must be one of {_INITS}, got {init!r}")
        rng = as_generator(seed)
        dt = as_dtype(dtype)
        ws, bs = [], []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            var = 2.0 / n_in if init == "he" else 2.0 / (n_in + n_out)
            ws.append(rng.standard_normal((n_out, n_in)) * np.sqrt(var))
            bs.append(rng.standard_normal(n_out) * bias_scale if bias_scale else np.zeros(n_out))
        return cls(ws, bs, activations=activations, kappa=kappa, dtype=dt)

    def _bind_views(self) -> None:
        self.weights = []
        self.biases = []
        for l in range(self.depth):
            n_out, n_in = self.sizes[l + 1], self.sizes[l]
            w0 = self.w_offsets[l]
            self.weights.append(self.theta[w0:w0 + n_out * n_in].reshape(n_out, n_in))
            b0 = self.b_offsets[l]
            self.biases.append(self.theta[b0:b0 + n_out])

    # ---------------------------------------------------------------- properties
    @property
    def depth(self) -> int:
        """Number of layers L (weight matrices)."""
        return len(self.sizes) - 1

    @property
    def n_params(self) -> int:
        """Number of parameters N (weights and biases)."""
        return int(self.theta.size)

    @property
    def n_neurons(self) -> int:
        """Number of non-input neurons (those with a spring): n_1 + ... + n_L."""
        return int(sum(self.sizes[1:]))

    @property
    def x_offsets(self) -> np.ndarray:
        """Offsets of each layer (0..L) in the flat state; length L+2."""
        return np.concatenate([[0], np.cumsum(self.sizes)]).astype(np.int64)

    @property
    def kappa_flat(self) -> np.ndarray:
        """Stiffness of layers 1..L concatenated (length n_neurons)."""
        return np.concatenate(self.kappa)

    @property
    def act_codes(self) -> np.ndarray:
        return np.array([a.code for a in self.activations], dtype=np.int64)

    @property
    def activation_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.activations)

    def kernel_args(self):
        """Arrays for the numba kernels: (theta, sizes, w_offsets, b_offsets, act_codes, kappa_flat, k_offsets)."""
        k_off = np.concatenate([[0], np.cumsum(self.sizes[1:])]).astype(np.int64)
        return (self.theta, np.asarray(self.sizes, dtype=np.int64), self.w_offsets, self.b_offsets,
                self.act_codes, self.kappa_flat, k_off)

    # ---------------------------------------------------------------- copies
    def copy(self) -> "Network":
        """A deep copy (own parameter and stiffness arrays)."""
        return Network(self.weights, self.biases, self.activations, [k.copy() for k in self.kappa], self.dtype)

    def astype(self, dtype) -> "Network":
        """A copy in another float dtype."""
        dt = as_dtype(dtype)
        return Network([w.astype(dt) for w in self.weights], [b.astype(dt) for b in self.biases],
                       self.activations, [k.astype(dt) for k in self.kappa], dt)

    def with_theta(self, theta) -> "Network":
        """A copy with parameters replaced by the flat vector ``theta`` (length n_params)."""
        th = check_array(theta, "theta", shape=(self.n_params,))
        new = self.copy()
        new.theta[...] = th
        return new

    def with_kappa(self, kappa) -> "Network":
        """A copy with new stiffness (same forms as the constructor's ``kappa``)."""
        return Network(self.weights, self.biases, self.activations, kappa, self.dtype)

    # ---------------------------------------------------------------- state helpers
    def check_input(self, x0, name: str = "x0") -> np.ndarray:
        """Validate a clamped input: shape (n_0,) or (B, n_0); returns (B, n_0) in the net's dtype."""
        a = check_array(x0, name, ndim=(1, 2))
        if a.ndim == 1:
            a = a[None, :]
        if a.shape[1] != self.sizes[0]:
            raise ValueError(f"{name} must have shape (batch, {self.sizes[0]}) to match the input layer, "
                             f"got {np.shape(x0)}")
        return np.ascontiguousarray(a, dtype=self.dtype)

    def check_output(self, target, batch: int | None = None, name: str = "target") -> np.ndarray:
        """Validate an output target: (n_L,) or (B, n_L); returns (B, n_L) (broadcast to ``batch``)."""
        a = check_array(target, name, ndim=(1, 2))
        if a.ndim == 1:
            a = a[None, :]
        if a.shape[1] != self.sizes[-1]:
            raise ValueError(f"{name} must have shape (batch, {self.sizes[-1]}) to match the output layer, "
                             f"got {np.shape(target)}")
        if batch is not None and a.shape[0] not in (1, batch):
            raise ValueError(f"{name} must have {batch} rows (one per sample) or 1, got {a.shape[0]}")
        if batch is not None and a.shape[0] == 1 and batch != 1:
            a = np.broadcast_to(a, (batch, a.shape[1]))
        return np.ascontiguousarray(a, dtype=self.dtype)

    def check_state(self, xs, name: str = "xs") -> list[np.ndarray]:
        """Validate a layered state [x_0, ..., x_L], each (B, n_l)."""
        if isinstance(xs, np.ndarray) or not isinstance(xs, Sequence) or len(xs) != self.depth + 1:
            raise ValueError(f"{name} must be a list of {self.depth + 1} arrays [x_0, ..., x_L], got {_describe(xs)}")
        out = []
        B = None
        for l, x in enumerate(xs):
            a = check_array(x, f"{name}[{l}]", ndim=2)
            if B is None:
                B = a.shape[0]
            if a.shape != (B, self.sizes[l]):
                raise ValueError(f"{name}[{l}] must have shape ({B}, {self.sizes[l]}), got {a.shape}")
            out.append(np.asarray(a, dtype=self.dtype))
        return out

    def concat(self, xs) -> np.ndarray:
        """Flatten a layered state to (B, n_total)."""
        return np.ascontiguousarray(np.concatenate(xs, axis=1))

    def split(self, X) -> list[np.ndarray]:
        """Split a flat state (B, n_total) into layer views [x_0, ..., x_L]."""
        off = self.x_offsets
        return [X[:, off[l]:off[l + 1]] for l in range(self.depth + 1)]

    def preactivation(self, l: int, x_prev: np.ndarray) -> np.ndarray:
        """y_l = x_{l-1} W_l^T + b_l for a batch (rows are samples); l is 1-based."""
        return x_prev @ self.weights[l - 1].T + self.biases[l - 1]

    def forward(self, x0) -> list[np.ndarray]:
        """Zero-temperature propagation (the minimum H = 0): [x_0, f(y_1), ..., f(y_L)].

        Examples
        --------
        >>> net = Network.create([2, 3, 1], seed=0)
        >>> xs = net.forward([[0.5, -1.0]])
        >>> [x.shape for x in xs]
        [(1, 2), (1, 3), (1, 1)]
        """
        x = self.check_input(x0)
        xs = [x]
        for l in range(1, self.depth + 1):
            x = self.activations[l - 1].f(self.preactivation(l, x))
            xs.append(x)
        return xs

    def predict(self, x0) -> np.ndarray:
        """The network's zero-temperature output f(x_0), shape (B, n_L)."""
        return self.forward(x0)[-1]

    # ---------------------------------------------------------------- torch
    def to_torch(self):
        """Export as a ``torch.nn.Sequential`` of Linear and activation modules (same dtype)."""
        from .torch_io import network_to_torch

        return network_to_torch(self)

    @classmethod
    def from_torch(cls, model, kappa=1.0, dtype=None) -> "Network":
        """Import a ``torch.nn.Sequential`` of ``Linear`` layers, each optionally followed by one activation.

        Supported activations: ReLU, Tanh, Sigmoid, Softplus (beta=1, default threshold), Identity.
        """
        from .torch_io import network_from_torch

        return network_from_torch(cls, model, kappa=kappa, dtype=dtype)

    # ---------------------------------------------------------------- persistence (no pickle)
    def to_arrays(self) -> dict[str, np.ndarray]:
        """Arrays and a JSON header describing the net, for ``np.savez`` (read back with :meth:`from_arrays`)."""
        meta = {"format": "analogsim.model.network/1", "sizes": list(self.sizes),
                "activations": list(self.activation_names), "dtype": self.dtype.name}
        return {"net_meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
                "net_theta": self.theta, "net_kappa": self.kappa_flat}

    @classmethod
    def from_arrays(cls, arrays) -> "Network":
        """Rebuild a net from :meth:`to_arrays` output (e.g. read back with ``np.load(allow_pickle=False)``).

        Every part of the record is checked before use; a malformed or foreign record raises ValueError
        ("not an analogsim network record: ...").
        """
        try:
            meta = json.loads(bytes(np.asarray(arrays["net_meta"], dtype=np.uint8)).decode())
            if not isinstance(meta, dict) or meta.get("format") != "analogsim.model.network/1":
                raise ValueError(f"unknown network format {meta.get('format') if isinstance(meta, dict) else meta!r}")
            sizes, acts, dt = meta["sizes"], meta["activations"], meta["dtype"]
            if not isinstance(sizes, list) or len(sizes) < 2 or any(
                    isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in sizes):
                raise ValueError(f"sizes must be a list of at least two positive integers, got {sizes!r}")
            theta = check_array(arrays["net_theta"], "net_theta", ndim=1)
            n_params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
            if theta.size != n_params:  # checked before anything of that size is allocated
                raise ValueError(f"net_theta has {theta.size} entries, sizes {sizes} need {n_params}")
            net = cls([np.zeros((b, a)) for a, b in zip(sizes[:-1], sizes[1:])], activations=acts, dtype=dt)
            net.theta[...] = theta
            kf = check_array(arrays["net_kappa"], "net_kappa", shape=(net.n_neurons,))
            off = np.concatenate([[0], np.cumsum(sizes[1:])])
            return net.with_kappa([kf[off[l]:off[l + 1]] for l in range(net.depth)])
        except KeyError as exc:
            raise ValueError(f"not an analogsim network record: no array {exc}") from None
        except (ValueError, TypeError) as exc:
            raise ValueError(f"not an analogsim network record: {exc}") from None

    def __repr__(self) -> str:
        acts = ",".join(self.activation_names)
        return f"Network(sizes={list(self.sizes)}, activations=[{acts}], dtype={self.dtype.name}, N={self.n_params})"


def _describe(x) -> str:
    if isinstance(x, np.ndarray):
        return f"an array of shape {x.shape}"
    if isinstance(x, Sequence) and not isinstance(x, str):
        return f"a {type(x).__name__} of length {len(x)}"
    return repr(x)


def _parse_activations(spec, L: int) -> tuple[Activation, ...]:
    if isinstance(spec, (str, Activation)):
        return (get_activation(spec),) * L
    if not isinstance(spec, Sequence) or len(spec) != L:
        raise ValueError(f"activations must be one name or a list of {L} names (one per layer), got {spec!r}")
    return tuple(get_activation(s, f"activations[{i}]") for i, s in enumerate(spec))


def _parse_kappa(spec, sizes, dtype) -> list[np.ndarray]:
    L = len(sizes) - 1
    scalar = not isinstance(spec, (list, tuple)) and np.ndim(spec) == 0
    if scalar:
        entries = [spec] * L
    else:
        if isinstance(spec, np.ndarray) or len(spec) != L:
            raise ValueError(f"kappa must be a number or a list of {L} entries (one per layer), got {_describe(spec)}")
        entries = list(spec)
    out = []
    for l, k in enumerate(entries):
        name = "kappa" if scalar else f"kappa[{l}]"
        a = check_array(k, name, ndim=(0, 1))
        if a.ndim == 1 and a.shape != (sizes[l + 1],):
            raise ValueError(f"{name} must be a number or have shape ({sizes[l + 1]},), got {a.shape}")
        if np.any(a <= 0):
            raise ValueError(f"{name} must be > 0 (a stiffness), got min {float(np.min(a))!r}")
        out.append(np.ascontiguousarray(np.broadcast_to(a, (sizes[l + 1],)), dtype=dtype).copy())
    return out
