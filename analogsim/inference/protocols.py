r"""Time-dependent clamps: the clamped input and the output target as functions of time.

A protocol gives lambda(t) on the step grid t_k = k dt, k = 0..n_steps; step k moves the clamp from
lambda_k to lambda_{k+1} before the neurons move (docs/theory/quasistatic.md), so the work of step k is
``H(x_k; lambda_{k+1}) - H(x_k; lambda_k)``. Moving the input slowly is quasi-static inference (Eq. 7).

* :class:`Constant` (value): a fixed clamp (what a plain array means).
* :class:`Ramp` (a, b, tau, t0=0): linear from a to b over t0 <= t <= t0 + tau, constant outside.
* :class:`Sampled` (values): any user sequence on the step grid, shape (n_steps+1, P) or
  (n_steps+1, B, P); :meth:`Sampled.from_function` samples a function of t.

Values may be one row (shared by every replica) or one row per replica/sample.

Examples
--------
>>> import numpy as np
>>> from analogsim.inference.protocols import Ramp
>>> p = Ramp([0.0], [1.0], tau=2.0)
>>> p.value(np.array([0.0, 1.0, 2.0, 3.0]))[:, 0].tolist()
[0.0, 0.5, 1.0, 1.0]
"""

from __future__ import annotations

import numpy as np

from .._checks import check_array, check_scalar
from ..kernels.langevin import KProto

__all__ = ["Protocol", "Constant", "Ramp", "Sampled", "as_protocol", "thermodynamic_length"]


class Protocol:
    """Base class: a clamp value lambda(t) of P numbers per replica.

    Subclasses implement :meth:`value` (vectorised over times) and may override :meth:`tables`.
    A moving clamp does work on the system: W = sum_k [H(x_k; lambda_{k+1}) - H(x_k; lambda_k)] (Eq. 7).

    Examples
    --------
    >>> import numpy as np
    >>> from analogsim.inference.protocols import Protocol, Ramp
    >>> p = Ramp([0.0], [1.0], tau=2.0)
    >>> isinstance(p, Protocol), p.moving, p.value(np.array([0.0, 1.0, 2.0])).ravel().tolist()
    (True, True, [0.0, 0.5, 1.0])
    """

    #: whether lambda changes in time at all
    moving = True

    def value(self, t):
        """lambda at times ``t`` (1-D array): shape (len(t), P) or (len(t), B, P)."""
        raise NotImplementedError

    def rows(self) -> int:
        """1 if the protocol is shared by all replicas, else its number of rows B."""
        raise NotImplementedError

    def width(self) -> int:
        raise NotImplementedError

    def check(self, n_steps: int, batch: int, width: int, name: str) -> None:
        """Validate against the run (P = ``width`` values per row, ``batch`` replicas)."""
        if self.width() != width:
            raise ValueError(f"{name} must give {width} values per row (the layer size), got {self.width()}")
        if self.rows() not in (1, batch):
            raise ValueError(f"{name} must have 1 row or {batch} (one per replica), got {self.rows()}")

    def signature(self, n_steps: int, dt: float):
        """A tuple that determines every value a run of ``n_steps`` steps of ``dt`` reads (None: unknown).

        Used to cache the stability guard per clamp set; equal signatures mean equal clamp values."""
        return None

    def tables(self, k0: int, n: int, dt: float, batch: int, dtype):
        """Kernel tables for local steps 0..n (global k0..k0+n) and the move flags of the n steps."""
        t = (k0 + np.arange(n + 1)) * dt
        v = np.asarray(self.value(t), dtype=np.float64)
        if v.ndim == 2:
            v = v[:, None, :]
        return _table_from_values(v, batch, dtype)


def _c64(a):
    """A fresh, writable, C-ordered float64 copy (one kernel signature for every protocol)."""
    return np.array(a, dtype=np.float64, order="C", copy=True)


def _table_from_values(v, batch, dtype):
    P = v.shape[-1]
    move = np.any(v[1:] != v[:-1], axis=tuple(range(1, v.ndim))).astype(np.int64)
    if move.size == 0:
        move = np.zeros(1, dtype=np.int64)
    zeros = np.zeros((batch, P), dtype=np.float64)
    return KProto(zeros, zeros.copy(), np.zeros(1), _c64(v)), move


class Constant(Protocol):
    """A clamp held at ``value`` (shape (P,) or (B, P)).

    Examples
    --------
    >>> import numpy as np
    >>> c = Constant([0.3, -0.2])
    >>> c.moving, c.rows(), c.width(), c.value(np.array([0.0, 5.0])).shape
    (False, 1, 2, (2, 2))
    """

    moving = False

    def __init__(self, value):
        self.values = check_array(value, "value", ndim=(1, 2)).astype(np.float64)
        if self.values.ndim == 1:
            self.values = self.values[None, :]

    def rows(self):
        return self.values.shape[0]

    def width(self):
        return self.values.shape[1]

    def value(self, t):
        t = np.atleast_1d(np.asarray(t, dtype=float))
        v = self.values if self.rows() > 1 else self.values[0]
        return np.broadcast_to(v, (t.size,) + v.shape).copy()

    def signature(self, n_steps, dt):
        return ("constant", self.values)

    def tables(self, k0, n, dt, batch, dtype):
        tab = getattr(self, "_tab", None)  # the same for every segment: built once per batch size
        if tab is None or tab[0] != batch:
            A = _c64(np.broadcast_to(self.values, (batch, self.width())))
            tab = self._tab = (batch, KProto(A, np.zeros_like(A), np.zeros(1), np.zeros((1, 1, self.width()))),
                               np.zeros(1, np.int64))
        return tab[1], tab[2]

    def __repr__(self):
        return f"Constant(shape={self.values.shape})"


class Ramp(Protocol):
    r"""Linear ramp :math:`\lambda(t) = a + (b - a)\,\mathrm{clip}((t - t_0)/\tau, 0, 1)`.

    Parameters
    ----------
    a, b : array (P,) or (B, P)
        Start and end values (same shape, or one of them a single row).
    tau : float
        Duration (time units of dt); > 0.
    t0 : float
        Start time (>= 0).

    Examples
    --------
    >>> r = Ramp([0.0, 1.0], [1.0, 1.0], tau=4.0)
    >>> r.value([2.0]).tolist()
    [[0.5, 1.0]]
    """

    def __init__(self, a, b, tau, t0=0.0):
        a = check_array(a, "a", ndim=(1, 2)).astype(np.float64)
        b = check_array(b, "b", ndim=(1, 2)).astype(np.float64)
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[None, :] if b.ndim == 1 else b
        if a2.shape[1] != b2.shape[1] or (a2.shape[0] != b2.shape[0] and 1 not in (a2.shape[0], b2.shape[0])):
            raise ValueError(f"a and b must have the same shape (or one a single row), got {a.shape} and {b.shape}")
        self.tau = check_scalar(tau, "tau", low=0.0, low_open=True)
        self.t0 = check_scalar(t0, "t0", low=0.0)
        rows = max(a2.shape[0], b2.shape[0])
        self.a = np.broadcast_to(a2, (rows, a2.shape[1])).copy()
        self.b = np.broadcast_to(b2, (rows, b2.shape[1])).copy()

    def rows(self):
        return self.a.shape[0]

    def width(self):
        return self.a.shape[1]

    def schedule(self, t):
        """s(t) = clip((t - t0)/tau, 0, 1)."""
        return np.clip((np.asarray(t, dtype=float) - self.t0) / self.tau, 0.0, 1.0)

    def value(self, t):
        s = self.schedule(np.atleast_1d(np.asarray(t, dtype=float)))
        a = self.a if self.rows() > 1 else self.a[0]
        b = self.b if self.rows() > 1 else self.b[0]
        return a[None] + s.reshape((-1,) + (1,) * a.ndim) * (b - a)[None]

    def signature(self, n_steps, dt):
        return ("ramp", self.a, self.b, self.tau, self.t0, int(n_steps), float(dt))

    def tables(self, k0, n, dt, batch, dtype):
        t = (k0 + np.arange(n + 1)) * dt
        s = self.schedule(t)
        A = _c64(np.broadcast_to(self.a, (batch, self.width())))
        D = _c64(np.broadcast_to(self.b - self.a, (batch, self.width())))
        move = (s[1:] != s[:-1]).astype(np.int64) if np.any(D != 0) else np.zeros(max(n, 1), np.int64)
        if move.size == 0:
            move = np.zeros(1, dtype=np.int64)
        return KProto(A, D, _c64(s), np.zeros((1, 1, self.width()))), move

    def __repr__(self):
        return f"Ramp(shape={self.a.shape}, tau={self.tau}, t0={self.t0})"


class Sampled(Protocol):
    """User values on the step grid: ``values[k]`` is lambda at t = k dt, k = 0..n_steps.

    Parameters
    ----------
    values : array (n_steps+1, P) or (n_steps+1, B, P)

    Examples
    --------
    >>> import numpy as np
    >>> p = Sampled(np.linspace(0, 1, 11)[:, None])   # for a run of 10 steps, P = 1
    >>> p.width(), p.rows()
    (1, 1)
    """

    def __init__(self, values):
        v = check_array(values, "values", ndim=(2, 3)).astype(np.float64)
        self.values = v[:, None, :] if v.ndim == 2 else v

    @classmethod
    def from_function(cls, fn, n_steps: int, dt: float) -> "Sampled":
        """Sample ``fn(t)`` (returning (P,) or (B, P)) at t = k dt, k = 0..n_steps."""
        n_steps = check_scalar(n_steps, "n_steps", low=0, integer=True)
        dt = check_scalar(dt, "dt", low=0.0, low_open=True)
        vals = [np.asarray(fn(k * dt), dtype=np.float64) for k in range(n_steps + 1)]
        return cls(np.stack(vals))

    def rows(self):
        return self.values.shape[1]

    def width(self):
        return self.values.shape[2]

    def check(self, n_steps, batch, width, name):
        if self.values.shape[0] != n_steps + 1:
            raise ValueError(f"{name} must have n_steps + 1 = {n_steps + 1} time points (one per step edge), "
                             f"got {self.values.shape[0]}")
        super().check(n_steps, batch, width, name)

    def value(self, t):
        raise TypeError("Sampled protocols are defined on the step grid only; use tables()")

    def signature(self, n_steps, dt):
        return ("sampled", self.values[:int(n_steps) + 1])

    def tables(self, k0, n, dt, batch, dtype):
        return _table_from_values(self.values[k0:k0 + n + 1], batch, dtype)

    def __repr__(self):
        return f"Sampled(shape={self.values.shape})"


def as_protocol(obj, name: str) -> Protocol:
    """A Protocol from a Protocol or an array (a constant clamp).

    Examples
    --------
    >>> type(as_protocol([0.5], "x0")).__name__
    'Constant'
    >>> r = Ramp([0.0], [1.0], tau=1.0)
    >>> as_protocol(r, "input_protocol") is r
    True
    """
    if isinstance(obj, Protocol):
        return obj
    try:
        return Constant(obj)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a Protocol (Ramp, Sampled, Constant) or an array, got {obj!r}: {exc}") \
            from None


def thermodynamic_length(net, a, b, *, gamma: float = 1.0, n_panels: int = 256) -> np.ndarray:
    r"""Squared thermodynamic length L^2 of a linear input ramp a -> b (free output), from the T = 0 path.

    For overdamped dynamics with mobility Gamma (friction 1/Gamma), driving the clamp slowly along
    lambda(s) = a + s (b - a), s = t/tau in [0, 1], lags the state behind the T = 0 minimum x*(lambda) by
    (Gamma Hess)^{-1} dx*/dt, and the mean excess work is, to leading order in 1/tau,

    .. math:: \langle W\rangle \simeq \frac{1}{\tau}\,\frac{1}{\Gamma}\int_0^1 \Big|\frac{dx^*}{ds}\Big|^2 ds
              = \frac{L^2}{\tau},\qquad
              L^2 = \frac{(b-a)}{\Gamma}\int_a^b \Big|\frac{dx^*}{d\lambda}\Big|^2 d\lambda\ \text{(scalar input)}

    (docs/theory/quasistatic.md). Here x* is net.forward(lambda) over the non-input neurons (H = 0 there, whatever
    lambda); its tangent dx_l/ds = f'(y_l) * (W_l dx_{l-1}/ds), dx_0/ds = b - a, is exact (forward mode),
    and the s-integral uses composite 4-point Gauss–Legendre on ``n_panels`` panels. L^2 does not depend
    on T; it is the limit of tau <W> for tau much longer than the relaxation times.

    Parameters
    ----------
    net : Network
    a, b : array (n_0,) or (B, n_0)
        Start and end of the ramp (as in :class:`Ramp`).
    gamma : float
        Neuron mobility Gamma.
    n_panels : int

    Returns
    -------
    array (B,)
        L^2 per row (energy x time).

    Examples
    --------
    >>> import numpy as np
    >>> from analogsim import Network
    >>> net = Network([np.array([[2.0]])], activations="identity")   # x1* = 2 lambda
    >>> float(thermodynamic_length(net, [0.0], [1.0])[0])               # (dx*/ds)^2 = 4
    4.0
    """
    gamma = check_scalar(gamma, "gamma", low=0.0, low_open=True)
    n_panels = check_scalar(n_panels, "n_panels", low=1, integer=True)
    A = net.check_input(a, "a").astype(np.float64)
    Bv = net.check_input(b, "b").astype(np.float64)
    rows = max(A.shape[0], Bv.shape[0])
    if A.shape[0] not in (1, rows) or Bv.shape[0] not in (1, rows):
        raise ValueError(f"a and b must have the same number of rows (or one), got {A.shape[0]} and {Bv.shape[0]}")
    A = np.broadcast_to(A, (rows, A.shape[1]))
    D = np.broadcast_to(Bv, (rows, Bv.shape[1])) - A
    net64 = net if net.dtype == np.float64 else net.astype(np.float64)
    xg, wg = np.polynomial.legendre.leggauss(4)
    edges = np.linspace(0.0, 1.0, n_panels + 1)
    h = np.diff(edges)
    s = (edges[:-1, None] + 0.5 * h[:, None] * (xg[None, :] + 1.0)).ravel()   # nodes in [0, 1]
    w = (0.5 * h[:, None] * wg[None, :]).ravel()
    total = np.zeros(rows)
    for start in range(0, s.size, 256):
        ss = s[start:start + 256]
        ww = w[start:start + 256]
        x = (A[None, :, :] + ss[:, None, None] * D[None, :, :]).reshape(-1, A.shape[1])
        dx = np.broadcast_to(D[None], (ss.size,) + D.shape).reshape(-1, A.shape[1])
        sq = np.zeros(x.shape[0])
        for l in range(1, net64.depth + 1):
            act = net64.activations[l - 1]
            y = net64.preactivation(l, x)
            dx = act.df(y) * (dx @ net64.weights[l - 1].T)
            x = act.f(y)
            sq += np.sum(dx * dx, axis=1)
        total += (ww[:, None] * sq.reshape(ss.size, rows)).sum(axis=0)
    return total / gamma
