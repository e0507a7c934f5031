"""Run bistable elements through protocols and inference cycles, with Sekimoto books per element and cycle.

:func:`run_segments` is the engine: M elements, ``n_cycles`` cycles, each cycle a sequence of segments
(a :class:`~analogsim.dynamic.protocols.Protocol` and a duration in units of the element's relaxation
time tau_r). Books (:class:`CycleBooks`): work done on each element (control parameters moving at fixed
q), heat released (q moving at fixed control parameters), the well at the end of each segment, and the
energy change of each cycle booked independently, so that the first law ``dU = W - Q`` is checked.

:class:`InferenceMachine` is the dynamic analog machine of Eq. 3-5: per inference, *set* (the signal
y_i writes s_i = Theta(y_i)), *read* (hold), *reset* (to s = 0 with one of the reset protocols). The
linear parts (Eq. 1, 3) are lossless, as the paper assumes; ``linear_cost`` adds a dissipation per
linear operation if a user wants one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .._checks import as_seedsequence, check_array, check_scalar
from .element import DoubleWell
from .protocols import Protocol, hold, set_protocol

__all__ = ["CycleBooks", "run_segments", "InferenceMachine", "MachineResult", "fit_quasistatic", "SCHEMES",
           "DEFAULT_DT"]

#: noise schemes: (alpha, beta) of the kernel's noise alpha z_k + beta z_{k-1}
SCHEMES = {"em": (1.0, 0.0), "lm": (0.5, 0.5)}
#: default time step in units of tau_r (mu U''(+-1) dt = 0.2; Leimkuhler-Matthews: stationary law exact to O(dt^2))
DEFAULT_DT = 0.2
#: elements per chunk (one RNG stream each; fixed, so results do not depend on the thread count)
CHUNK = 1024


@dataclass
class CycleBooks:
    """Energy books of M elements over ``n_cycles`` cycles of ``n_seg`` segments (energies in kT units
    of the element, i.e. divided by kT).

    Attributes
    ----------
    names : tuple of str
        Segment names.
    work : ndarray (n_cycles, M, n_seg)
        Work done on each element (Sekimoto: sum of U changes when the control parameters move), / kT.
    heat : ndarray (n_cycles, M, n_seg)
        Heat released to the bath (minus the U changes when q moves), / kT.
    bits : ndarray int8 (n_cycles, M, n_seg)
        s = [q > 0] at the end of each segment.
    dU : ndarray (n_cycles, M)
        U(end) - U(start) of each cycle, booked directly, / kT.
    q : ndarray (M,)
        Final coordinates.
    dt : float
        Time step in units of tau_r.
    n_steps : tuple of int
        Grid steps per segment.

    Examples
    --------
    Books of 64 elements (all starting in s = 0) held, then put through the standard erasure: the first law
    dU = W - Q closes per element and cycle, and the erasure's mean work (kT units) is positive:

    >>> from analogsim.dynamic import DoubleWell, standard_erasure, hold, run_segments
    >>> b = run_segments(DoubleWell(), [(hold(), 5.0), (standard_erasure(), 40.0)], n_elements=64, seed=1)
    >>> b.names, b.work.shape, b.segment("standard")
    (('hold', 'standard'), (1, 64, 2), 1)
    >>> bool(abs(b.first_law_residual).max() < 1e-9)
    True
    >>> w, se = b.mean_work("standard")
    >>> bool(w > 0.0 and se > 0.0)
    True
    """

    names: tuple
    work: np.ndarray
    heat: np.ndarray
    bits: np.ndarray
    dU: np.ndarray
    q: np.ndarray
    dt: float
    n_steps: tuple
    element: DoubleWell = None

    def segment(self, name: str) -> int:
        """Index of the segment called ``name``."""
        if name not in self.names:
            raise ValueError(f"name must be one of the segments {list(self.names)}, got {name!r}")
        return self.names.index(name)

    @property
    def first_law_residual(self) -> np.ndarray:
        """dU - (W - Q) per element and cycle, / kT (floating-point round-off when the books are right)."""
        return self.dU - self.work.sum(axis=2) + self.heat.sum(axis=2)

    def mean_work(self, name: str):
        """(mean, SE) of the work per element and cycle in segment ``name``, / kT."""
        w = self.work[:, :, self.segment(name)].ravel()
        return float(w.mean()), float(w.std(ddof=1) / math.sqrt(w.size)) if w.size > 1 else float("nan")


def _grid(element, segments, dt):
    """Concatenate the segments' grids; returns barrier, a, b, c (N + 1,), segment starts, steps per segment."""
    parts, starts, steps = [], [0], []
    for i, (proto, dur) in enumerate(segments):
        if not isinstance(proto, Protocol):
            raise TypeError(f"segments[{i}] must be (Protocol, duration), got {type(proto).__name__}")
        dur = check_scalar(dur, f"segments[{i}] duration", low=0.0, low_open=True)
        n = max(1, int(round(dur / dt)))
        g = proto.grid(n, element.E_b, element.E_low)
        if parts:
            prev = parts[-1]
            if any(abs(p[-1] - q[0]) > 1e-12 for p, q in zip(prev, g)):
                raise ValueError(f"segments[{i}] ({proto.name}) must start where segments[{i - 1}] ends "
                                 "(barrier and tilt coefficients)")
            g = tuple(x[1:] for x in g)
        parts.append(g)
        steps.append(n)
        starts.append(starts[-1] + n)
    cat = [np.concatenate([p[k] for p in parts]) for k in range(4)]
    return cat, np.asarray(starts, dtype=np.int64), tuple(steps)


def _map(fn, items, threads):
    items = list(items)
    if threads is None:
        from ..inference.simulate import default_threads

        threads = default_threads()
    threads = min(int(threads), len(items))
    if threads <= 1:
        for it in items:
            fn(it)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=threads) as pool:
        for f in [pool.submit(fn, it) for it in items]:
            f.result()


def run_segments(element: DoubleWell, segments, *, n_elements: int, n_cycles: int = 1, signal=None, prior=None,
                 s0=None, seed=None, dt: float = DEFAULT_DT, scheme: str = "lm", threads=None) -> CycleBooks:
    """Run ``n_elements`` elements through ``n_cycles`` cycles of ``segments`` (numba, chunked).

    Parameters
    ----------
    element : DoubleWell
    segments : list of (Protocol, float)
        Each protocol with its duration in units of tau_r = 1/(8 mu E_b); consecutive protocols must join.
    n_elements, n_cycles : int
    signal : array (M,) or (n_cycles, M), optional
        Signal channel gs (energy units): +-D from the sign of y for set/uncompute. Default 0.
    prior : array (M,), optional
        Prior channel gp (energy units): the tilt whose occupation equals p_j. Default 0.
    s0 : array of {0, 1} (M,), optional
        Starting well of each element (q = -1 or +1). Default: all s = 0.
    seed : int or SeedSequence
        Seeds the chunks' streams; the numbers do not depend on ``threads``.
    dt : float
        Time step in units of tau_r (> 0, <= 0.2).
    scheme : {'lm', 'em'}
        Leimkuhler-Matthews (stationary law exact to O(dt^2), default) or Euler-Maruyama.
    threads : int, optional
        Threads for the chunks (default: numba's setting).

    Examples
    --------
    >>> from analogsim.dynamic import DoubleWell, standard_erasure, hold
    >>> b = run_segments(DoubleWell(), [(hold(), 5.0), (standard_erasure(), 40.0)], n_elements=64, seed=1)
    >>> b.work.shape, float(abs(b.first_law_residual).max()) < 1e-9
    ((1, 64, 2), True)
    """
    from ..kernels import bistable as kb
    from ..kernels.rng import fill_noise, noise_work_rows, seed_streams

    if not isinstance(element, DoubleWell):
        raise TypeError(f"element must be a DoubleWell, got {type(element).__name__}")
    M = check_scalar(n_elements, "n_elements", low=1, integer=True)
    C = check_scalar(n_cycles, "n_cycles", low=1, integer=True)
    dt = check_scalar(dt, "dt", low=0.0, low_open=True, high=0.2)
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {sorted(SCHEMES)}, got {scheme!r}")
    if not isinstance(segments, (list, tuple)) or not segments:
        raise ValueError(f"segments must be a non-empty list of (Protocol, duration), got {segments!r}")
    names = tuple(p.name if isinstance(p, Protocol) else "?" for p, _ in segments)
    (Eb, A, B, Cc), starts, steps = _grid(element, segments, dt)
    if signal is None:
        gs = np.zeros((1, M))
    else:
        gs = check_array(signal, "signal", dtype=np.float64)
        gs = gs.reshape(1, -1) if gs.ndim == 1 else gs
        if gs.shape[1] != M or gs.shape[0] not in (1, C):
            raise ValueError(f"signal must have shape ({M},) or ({C}, {M}), got {np.shape(signal)}")
    gp = np.zeros(M) if prior is None else check_array(prior, "prior", shape=(M,), dtype=np.float64)
    tmax = float(np.max(np.abs(A) + np.abs(B) * np.max(np.abs(gs)) + np.abs(Cc) * np.max(np.abs(gp))))
    stiff = element.stiffness(tmax) * element.mobility * dt * element.relax_time
    if stiff >= 1.0:
        raise ValueError(f"dt = {dt:g} tau_r is too large for tilts up to {tmax:g} (mu dt |U''| up to {stiff:.3g}, "
                         f"must stay below 1): use dt <= {dt / stiff:.3g} or smaller tilts")
    q = -np.ones(M)
    if s0 is not None:
        s = np.asarray(s0)
        if s.shape != (M,) or not np.all((s == 0) | (s == 1)):
            raise ValueError(f"s0 must be an array of 0/1 of shape ({M},), got shape {s.shape}")
        q = np.where(s == 1, 1.0, -1.0)
    kT, mu = element.kT, element.mobility
    mudt = dt * element.relax_time * mu
    alpha, beta = SCHEMES[scheme]
    fpar = np.array([mudt, math.sqrt(2.0 * mu * kT * dt * element.relax_time), element.E_b, alpha, beta,
                     1.0 / element.tilt_width])
    n_seg = len(segments)
    W = np.empty((C, M, n_seg))
    Q = np.empty((C, M, n_seg))
    S = np.empty((C, M, n_seg), dtype=np.int8)
    dU = np.empty((C, M))
    xi = np.empty(M)
    bounds = list(range(0, M, CHUNK)) + [M]
    n_chunks = len(bounds) - 1
    states = seed_streams(as_seedsequence(seed), n_chunks)
    works = noise_work_rows(n_chunks)

    def one(ci):
        j0, j1 = bounds[ci], bounds[ci + 1]
        fill_noise(states[ci], xi[j0:j1])  # the Leimkuhler-Matthews memory starts stationary
        m = j1 - j0
        w, h, s, u = np.empty((C, m, n_seg)), np.empty((C, m, n_seg)), np.empty((C, m, n_seg), np.int8), \
            np.empty((C, m))
        kb.run_chunk(q[j0:j1], xi[j0:j1], states[ci], works[ci], np.empty(m), Eb, A, B, Cc,
                     np.ascontiguousarray(gs[:, j0:j1]), np.ascontiguousarray(gp[j0:j1]), starts, fpar, w, h, s, u)
        W[:, j0:j1, :], Q[:, j0:j1, :], S[:, j0:j1, :], dU[:, j0:j1] = w, h, s, u

    _map(one, range(n_chunks), threads)
    return CycleBooks(names, W / kT, Q / kT, S, dU / kT, q, dt, steps, element)


def fit_quasistatic(tau, work, se):
    """Weighted least-squares fit work = a + b / tau; returns dict a, a_se, b, b_se, chi2, dof.

    Examples
    --------
    >>> r = fit_quasistatic([1, 2, 4, 8], [3.0, 2.0, 1.5, 1.25], [0.1] * 4)
    >>> round(r["a"], 9), round(r["b"], 9)
    (1.0, 2.0)
    """
    tau = np.asarray(tau, dtype=float)
    y = np.asarray(work, dtype=float)
    s = np.asarray(se, dtype=float)
    if tau.shape != y.shape or y.shape != s.shape or tau.size < 2:
        raise ValueError(f"tau, work and se must be 1-D of equal length >= 2, got {tau.shape}, {y.shape}, {s.shape}")
    X = np.stack([np.ones_like(tau), 1.0 / tau], axis=1) / s[:, None]
    cov = np.linalg.inv(X.T @ X)
    coef = cov @ (X.T @ (y / s))
    res = (y - coef[0] - coef[1] / tau) / s
    return {"a": float(coef[0]), "a_se": float(math.sqrt(cov[0, 0])), "b": float(coef[1]),
            "b_se": float(math.sqrt(cov[1, 1])), "chi2": float(res @ res), "dof": int(tau.size - 2)}


# ============================================================================ the inference machine
@dataclass
class MachineResult:
    """What a run of :class:`InferenceMachine` measured (energies / kT).

    Attributes
    ----------
    books : CycleBooks
        Segments "set", "read", "reset".
    target : ndarray int8 (n_cycles, M)
        s = Theta(y) the set should write.
    set_error, reset_error : float
        Fraction of element-cycles that ended the set in the wrong well / the reset not in s = 0.
    reset_work : ndarray (n_cycles,)
        Total reset work per inference (sum over elements), / kT.
    set_work : ndarray (n_cycles,)
        Total set work per inference, / kT.
    linear_work : float
        Dissipation of the linear parts per inference (``linear_cost`` times the operation count), / kT.

    Examples
    --------
    Four inferences of three relu neurons (pre-activations y). The reset work per inference (kT units) is
    what Eq. 5 bounds from below, by nu times the binary entropy of the activation probability p:

    >>> import numpy as np
    >>> from analogsim.dynamic import DoubleWell, InferenceMachine, standard_erasure
    >>> m = InferenceMachine(DoubleWell(), standard_erasure(), tau=4000.0, t_set=4000.0)
    >>> r = m.run(np.array([[1.0, -1.0, 2.0]] * 4), seed=0)
    >>> r.target[0].tolist(), r.reset_work.shape
    ([1, 0, 1], (4,))
    >>> s = r.summary()
    >>> s["n_cycles"], s["n_elements"], s["set_error"], bool(s["first_law_max_abs"] < 1e-9)
    (4, 3, 0.0, True)
    """

    books: CycleBooks
    target: np.ndarray
    set_error: float
    reset_error: float
    reset_work: np.ndarray
    set_work: np.ndarray
    linear_work: float = 0.0
    info: dict = field(default_factory=dict)

    def summary(self) -> dict:
        n = self.reset_work.size
        se = lambda x: float(x.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan")  # noqa: E731
        return {"reset_work_kT": float(self.reset_work.mean()), "reset_work_se": se(self.reset_work),
                "set_work_kT": float(self.set_work.mean()), "set_work_se": se(self.set_work),
                "linear_work_kT": self.linear_work, "set_error": self.set_error, "reset_error": self.reset_error,
                "first_law_max_abs": float(np.max(np.abs(self.books.first_law_residual))),
                "n_cycles": int(n), "n_elements": int(self.target.shape[1]), **self.info}


@dataclass(frozen=True)
class InferenceMachine:
    """The dynamic analog machine: one bistable element per relu neuron, set/read/reset per inference.

    Parameters
    ----------
    element : DoubleWell
    reset : Protocol
        The reset protocol (standard, prior-adapted or uncompute, see :mod:`.protocols`).
    tau : float
        Reset duration in units of tau_r.
    depth : float
        Tilt of the set and signal channel (energy units): the set tilts by +-depth according to sign(y).
    t_set, t_read : float
        Set and read durations in units of tau_r. A set that ends in the wrong well (more often for a short
        ``t_set``: 5 % at 1000 tau_r, 0.05 % at 6400 with depth 10) costs about ``depth`` in a later uncompute.
    dt : float
        Time step in units of tau_r.
    scheme : {'lm', 'em'}
    linear_cost : float
        Energy (units of kT) dissipated per linear operation (multiply-add of Eq. 1, 3); default 0: lossless
        as the paper assumes.

    Examples
    --------
    >>> from analogsim.dynamic import DoubleWell, standard_erasure
    >>> m = InferenceMachine(DoubleWell(), standard_erasure(), tau=4000.0, t_set=4000.0)
    >>> r = m.run(np.array([[1.0, -1.0, 2.0]] * 4), seed=0)
    >>> r.reset_error, r.set_error
    (0.0, 0.0)
    """

    element: DoubleWell
    reset: Protocol
    tau: float = 1000.0
    depth: float = 10.0
    t_set: float = 6400.0
    t_read: float = 10.0
    dt: float = DEFAULT_DT
    scheme: str = "lm"
    linear_cost: float = 0.0
    sequential: bool = False

    def run(self, y, *, prior=None, n_linear_ops: int = 0, seed=None, threads=None) -> MachineResult:
        """Run one inference cycle per row of the pre-activations ``y`` (n_cycles, M).

        ``prior``: the per-element activation probabilities p_j (for the prior-adapted reset; clipped so that
        the prior tilt stays within +-depth). ``n_linear_ops``: linear operations per inference, each costing
        ``linear_cost`` kT.

        With ``sequential=False`` (default) the cycles run side by side, each element of each cycle starting in
        the reset state s = 0 at local equilibrium (what a successful reset leaves; the reset error says how often
        it did not); ``sequential=True`` runs the M elements cycle after cycle, carrying their state over
        (same physics, one chunk per M elements, slower for small M).
        """
        y = check_array(y, "y", ndim=2, dtype=np.float64)
        C, M = y.shape
        el = self.element
        d = check_scalar(self.depth, "depth", low=0.0, low_open=True)
        gs = np.where(y > 0, d, -d)
        gp = None
        if prior is not None:
            gp = prior_tilts(el, prior, d)
            if gp.shape != (M,):
                raise ValueError(f"prior must have shape ({M},), got {gp.shape}")
        segs = [(set_protocol(d), self.t_set), (_named(hold(), "read"), self.t_read), (self.reset, self.tau)]
        if self.sequential:
            b = run_segments(el, segs, n_elements=M, n_cycles=C, signal=gs, prior=gp, seed=seed, dt=self.dt,
                             scheme=self.scheme, threads=threads)
        else:
            b = run_segments(el, [(_named(hold(), "start"), 2.0)] + segs, n_elements=C * M, n_cycles=1,
                             signal=gs.ravel(), prior=None if gp is None else np.tile(gp, C), seed=seed, dt=self.dt,
                             scheme=self.scheme, threads=threads)
            du = (b.dU[0] - b.work[0, :, 0] + b.heat[0, :, 0]).reshape(C, M)  # the start hold taken out
            b = CycleBooks(b.names[1:], b.work[0, :, 1:].reshape(C, M, 3), b.heat[0, :, 1:].reshape(C, M, 3),
                           b.bits[0, :, 1:].reshape(C, M, 3), du, b.q.reshape(C, M)[-1], b.dt, b.n_steps[1:], el)
        b.names = ("set", "read", "reset")
        target = (y > 0).astype(np.int8)
        set_err = float(np.mean(b.bits[:, :, 0] != target))
        reset_err = float(np.mean(b.bits[:, :, 2] != 0))
        lin = check_scalar(self.linear_cost, "linear_cost", low=0.0) * check_scalar(n_linear_ops, "n_linear_ops",
                                                                                   low=0, integer=True)
        return MachineResult(b, target, set_err, reset_err, b.work[:, :, 2].sum(axis=1),
                             b.work[:, :, 0].sum(axis=1), lin, {"reset": self.reset.name, "tau": self.tau})


def _named(p: Protocol, name: str) -> Protocol:
    return Protocol(name, p.s, p.level, p.a, p.b, p.c)


def prior_tilts(element: DoubleWell, p, depth: float) -> np.ndarray:
    """Per-element prior tilts: the tilt whose equilibrium occupation of s = 1 at the holding barrier is p_j
    (p in [0, 1]; p = 0 or 1 and tilts beyond +-depth are clipped to +-depth).

    Examples
    --------
    >>> prior_tilts(DoubleWell(), [0.5, 0.0], 10.0).round(6).tolist()
    [0.0, -10.0]
    """
    p = check_array(p, "prior", ndim=1, dtype=np.float64)
    if np.any((p < 0) | (p > 1)):
        raise ValueError(f"prior must hold probabilities in [0, 1], got min {p.min()!r}, max {p.max()!r}")
    out = np.empty(p.size)
    cache = {}
    for i, pi in enumerate(p):
        if pi <= 0.0 or pi >= 1.0:
            out[i] = depth if pi >= 1.0 else -depth
            continue
        key = round(float(pi), 12)
        if key not in cache:
            cache[key] = element.tilt_for_occupation(pi)
        out[i] = cache[key]
    return np.clip(out, -depth, depth) + 0.0
