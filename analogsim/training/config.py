"""Settings of a physical training run, temperature schedules, and the data order.

Everything here is validated before any kernel runs: a bad value raises ValueError/TypeError naming
the argument, the value received and what is expected.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
from dataclasses import asdict, dataclass, field, replace
from typing import Callable

import numpy as np

from .._checks import check_scalar

__all__ = ["TrainConfig", "TemperatureSchedule", "presentation_order", "ORDERS", "FIDELITIES"]

ORDERS = ("iid", "shuffle", "cyclic")
_ORDER_ALIASES = {"random": "iid", "epoch": "shuffle", "shuffled": "shuffle", "sequential": "cyclic"}
FIDELITIES = ("separated", "joint")
_ORDER_KEY, _NOISE_KEY = 0, 1  # SeedSequence spawn keys of the two random streams of a run


# ----------------------------------------------------------------------------- temperature schedule
@dataclass(frozen=True)
class TemperatureSchedule:
    r"""Temperature kT as a function of the presentation index s = 0 .. S-1 (annealing, Eq. 11-12).

    Kinds
    -----
    ``constant``: kT(s) = start.
    ``linear``: straight line from ``start`` (s = 0) to ``end`` (s = S - 1).
    ``exponential``: geometric from ``start`` to ``end`` (both > 0), kT(s) = start (end/start)^{s/(S-1)}.
    ``piecewise``: linear interpolation through the points (``points_s[i]``, ``points_kT[i]``), held
    constant outside them.
    ``function``: ``func(t)`` of the physical time t = s tau_inf, evaluated on all presentations before the
    run starts (it must accept a numpy array and return one of the same shape).

    Every kind is checked on all S presentations before any work: values must be finite and >= 0.

    Examples
    --------
    >>> sch = TemperatureSchedule("exponential", start=1e-2, end=1e-4)
    >>> v = sch.values(5, tau_inf=1.0)
    >>> float(v[0]), float(v[-1])
    (0.01, 0.0001)
    """

    kind: str = "constant"
    start: float = 0.0
    end: float | None = None
    points_s: tuple = ()
    points_kT: tuple = ()
    func: Callable | None = field(default=None, compare=False)

    def __post_init__(self):
        kinds = ("constant", "linear", "exponential", "piecewise", "function")
        if self.kind not in kinds:
            raise ValueError(f"schedule kind must be one of {kinds}, got {self.kind!r}")
        if self.kind == "function":
            if not callable(self.func):
                raise TypeError(f"a 'function' schedule needs a callable func(t), got {self.func!r}")
            return
        if self.kind == "piecewise":
            if len(self.points_s) == 0 or len(self.points_s) != len(self.points_kT):
                raise ValueError("a piecewise schedule needs points_s and points_kT of the same non-zero length, "
                                 f"got {len(self.points_s)} and {len(self.points_kT)}")
            ps = [check_scalar(v, f"schedule.points_s[{i}]", low=0.0) for i, v in enumerate(self.points_s)]
            if any(b <= a for a, b in zip(ps, ps[1:])):
                raise ValueError(f"schedule.points_s must be strictly increasing, got {list(self.points_s)}")
            for i, v in enumerate(self.points_kT):
                _check_kT_value(v, f"schedule.points_kT[{i}]")
            object.__setattr__(self, "points_s", tuple(ps))
            object.__setattr__(self, "points_kT", tuple(float(v) for v in self.points_kT))
            return
        object.__setattr__(self, "start", _check_kT_value(self.start, "schedule.start"))
        if self.kind in ("linear", "exponential"):
            if self.end is None:
                raise ValueError(f"a {self.kind} schedule needs an end temperature, got end=None")
            object.__setattr__(self, "end", _check_kT_value(self.end, "schedule.end"))
            if self.kind == "exponential" and (self.start <= 0 or self.end <= 0):
                raise ValueError(f"an exponential schedule needs start > 0 and end > 0, got start={self.start}, "
                                 f"end={self.end}")

    @classmethod
    def constant(cls, kT: float) -> "TemperatureSchedule":
        return cls("constant", start=kT)

    @classmethod
    def coerce(cls, kT) -> "TemperatureSchedule":
        """A schedule from a number, a schedule, a dict ``{"kind": ..., ...}`` or a callable of t."""
        if isinstance(kT, TemperatureSchedule):
            return kT
        if isinstance(kT, dict):
            d = dict(kT)
            kind = d.pop("kind", "constant")
            unknown = set(d) - {"start", "end", "points_s", "points_kT"}
            if unknown:
                raise ValueError(f"unknown schedule keys {sorted(unknown)}; expected start, end, points_s, points_kT")
            return cls(kind, **{k: tuple(v) if k.startswith("points") else v for k, v in d.items()})
        if callable(kT):
            return cls("function", func=kT)
        if isinstance(kT, bool) or not isinstance(kT, (numbers.Real, np.generic)):
            raise TypeError(f"kT must be a number >= 0, a TemperatureSchedule, a dict or a callable of time, "
                            f"got {kT!r}")
        return cls("constant", start=_check_kT_value(kT, "kT"))

    def values(self, n_presentations: int, tau_inf: float = 1.0, start: int = 0, stop: int | None = None):
        """kT for presentations ``start .. stop-1`` of a run of ``n_presentations`` (float64 array)."""
        S = int(n_presentations)
        stop = S if stop is None else int(stop)
        s = np.arange(start, stop, dtype=np.float64)
        frac = s / (S - 1) if S > 1 else np.zeros_like(s)
        if self.kind == "constant":
            v = np.full(s.shape, self.start)
        elif self.kind == "linear":
            v = self.start + (self.end - self.start) * frac
        elif self.kind == "exponential":
            v = self.start * (self.end / self.start) ** frac
        elif self.kind == "piecewise":
            v = np.interp(s, np.asarray(self.points_s), np.asarray(self.points_kT))
        else:
            t = s * float(tau_inf)
            try:
                v = np.asarray(self.func(t), dtype=np.float64)
            except Exception as exc:  # noqa: BLE001 - report what the user's function did
                raise ValueError(f"schedule function failed on the presentation times: {exc!r}") from None
            if v.shape != t.shape:
                v = np.broadcast_to(v, t.shape).astype(np.float64) if v.ndim == 0 else v
            if v.shape != t.shape:
                raise ValueError(f"schedule function must return one kT per time (shape {t.shape}), got {v.shape}")
        return v

    def check(self, n_presentations: int, tau_inf: float) -> None:
        """Evaluate on the whole run (in blocks) and raise ValueError on a negative or non-finite kT."""
        S = int(n_presentations)
        if self.kind != "function":  # endpoints/points were checked at construction; values interpolate them
            return
        for a in range(0, S, 1 << 12):
            v = self.values(S, tau_inf, a, min(S, a + (1 << 12)))
            bad = ~np.isfinite(v) | (v < 0)
            if np.any(bad):
                i = int(np.argmax(bad))
                raise ValueError(f"temperature schedule must stay finite and >= 0, got kT = {float(v[i])!r} at "
                                 f"presentation {a + i} (t = {(a + i) * tau_inf:g}); fix the schedule's end points")

    @property
    def is_zero(self) -> bool:
        if self.kind == "constant":
            return self.start == 0.0
        if self.kind == "linear":
            return self.start == 0.0 and self.end == 0.0
        if self.kind == "piecewise":
            return all(v == 0.0 for v in self.points_kT)
        return False

    def to_json(self, n_presentations: int | None = None, tau_inf: float = 1.0) -> dict:
        """A JSON description; a function schedule is represented by the sha256 of its values."""
        if self.kind == "function":
            if n_presentations is None:
                return {"kind": "function"}
            v = self.values(n_presentations, tau_inf)
            return {"kind": "function", "values_sha256": hashlib.sha256(v.tobytes()).hexdigest()}
        d = {"kind": self.kind, "start": self.start, "end": self.end}
        if self.kind == "piecewise":
            d = {"kind": "piecewise", "points_s": list(self.points_s), "points_kT": list(self.points_kT)}
        return d


def _check_kT_value(v, name: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (numbers.Real, np.generic)):
        raise TypeError(f"{name} must be a number, got {v!r}")
    v = float(v)
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"{name} must be a finite temperature >= 0, got {v!r}")
    return v


# ----------------------------------------------------------------------------- run settings
@dataclass(frozen=True)
class TrainConfig:
    r"""Physics and protocol of a training run (Eq. 11-12).

    Parameters
    ----------
    presentations : int
        S = tau_train / tau_inf, the number of presentations (each of ``batch_size`` entries).
    mu : float
        Parameter mobility (Eq. 11), > 0.
    tau_inf : float
        Presentation time per entry, > 0. The learning rate of the equivalent SGD is
        ``mu * tau_inf * kappa_out`` (for small kappa_out/kappa_hidden).
    kT : float, TemperatureSchedule, dict or callable
        Temperature of the parameter bath in energy units (k_B = 1); a schedule anneals it.
    kappa_out : float or None
        Stiffness of the soft output clamp (a spring kappa_out/2 |x_L - t|^2 on a free output). None
        clamps the output hard, and the output layer's own stiffness kappa_L plays that role.
    weight_decay : float
        lambda of the energy term (lambda/2) |theta|^2 (keeps the MLP Gibbs measure normalisable).
    order : {'iid', 'shuffle', 'cyclic'}
        Entry order: independent uniform draws, a fresh permutation each epoch, or 0..D-1 repeated.
        ('random' is accepted for 'iid'.)
    batch_size : int
        Entries presented together in one presentation (their stresses are averaged); 1 is the paper's
        one-entry-at-a-time protocol.
    fidelity : {'separated', 'joint'}
        'separated': neurons at their clamped minimum for each entry (tau_inf >> neuron relaxation time);
        'joint': neurons and parameters evolve together by Langevin dynamics.
    substeps : int or None
        Parameter steps per presentation. Separated: default 1 (the exact SGD-equivalent step); k > 1
        re-solves the clamped minimum k times per presentation (k -> infinity: the continuous flow of
        Eq. 11 within a presentation). Joint: Euler-Maruyama steps per presentation; default from ``dt``.
    neuron_mobility : float
        Gamma, the neurons' mobility (joint dynamics only).
    dt : float or None
        Joint dynamics time step (default 0.1 / (Gamma * B), B the stability bound of docs/langevin.md).
    tol : float or None
        Relative gradient norm at which the clamped minimum is accepted (default 8 machine epsilons of
        the net's dtype).
    max_sweeps : int
        Fixed-point sweeps before a presentation falls back to the Newton reference.
    books : bool
        Keep the per-parameter Welford mean for var(grad F) (costs one extra pass over theta).
    energetics : bool
        Book the energy the machine spends, measured on the simulated process (Sekimoto): switching work,
        neuron heat, parameter heat (Stratonovich) and the first-law residual of every presentation
        (see :class:`analogsim.training.Books`). Never changes the dynamics.
    tau_switch : float
        Duration of the clamp switch from one entry to the next (joint fidelity): 0 switches abruptly;
        > 0 moves input and target linearly over tau_switch while the neurons follow their Langevin
        dynamics and the parameters are held (then the presentation's tau_inf follows). The separated
        fidelity has infinitely fast neurons (any ramp would be quasi-static) and needs 0.

    Examples
    --------
    >>> cfg = TrainConfig(presentations=1000, mu=100.0, tau_inf=1.0, kappa_out=1e-3, kT=1e-6)
    >>> round(cfg.learning_rate, 6)
    0.1
    """

    presentations: int = 1000
    mu: float = 1.0
    tau_inf: float = 1.0
    kT: object = 0.0
    kappa_out: float | None = None
    weight_decay: float = 0.0
    order: str = "iid"
    batch_size: int = 1
    fidelity: str = "separated"
    substeps: int | None = None
    neuron_mobility: float = 1.0
    dt: float | None = None
    tol: float | None = None
    max_sweeps: int = 60
    books: bool = True
    energetics: bool = True
    tau_switch: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "presentations",
                           check_scalar(self.presentations, "presentations", low=1, integer=True))
        object.__setattr__(self, "mu", check_scalar(self.mu, "mu", low=0.0, low_open=True))
        object.__setattr__(self, "tau_inf", check_scalar(self.tau_inf, "tau_inf", low=0.0, low_open=True))
        sched = TemperatureSchedule.coerce(self.kT)
        object.__setattr__(self, "kT", sched)
        if self.kappa_out is not None:
            object.__setattr__(self, "kappa_out", check_scalar(self.kappa_out, "kappa_out", low=0.0,
                                                               low_open=True))
        object.__setattr__(self, "weight_decay", check_scalar(self.weight_decay, "weight_decay", low=0.0))
        if not isinstance(self.order, str):
            raise TypeError(f"order must be one of {ORDERS}, got {self.order!r}")
        order = _ORDER_ALIASES.get(self.order, self.order)
        if order not in ORDERS:
            raise ValueError(f"order must be one of {ORDERS} (or 'random'), got {self.order!r}")
        object.__setattr__(self, "order", order)
        object.__setattr__(self, "batch_size", check_scalar(self.batch_size, "batch_size", low=1, integer=True))
        if self.fidelity not in FIDELITIES:
            raise ValueError(f"fidelity must be one of {FIDELITIES}, got {self.fidelity!r}")
        if self.substeps is not None:
            object.__setattr__(self, "substeps", check_scalar(self.substeps, "substeps", low=1, integer=True))
        object.__setattr__(self, "neuron_mobility",
                           check_scalar(self.neuron_mobility, "neuron_mobility", low=0.0, low_open=True))
        if self.dt is not None:
            object.__setattr__(self, "dt", check_scalar(self.dt, "dt", low=0.0, low_open=True))
        if self.tol is not None:
            object.__setattr__(self, "tol", check_scalar(self.tol, "tol", low=0.0, low_open=True))
        object.__setattr__(self, "max_sweeps", check_scalar(self.max_sweeps, "max_sweeps", low=2, integer=True))
        if not isinstance(self.books, bool):
            raise TypeError(f"books must be True or False, got {self.books!r}")
        if not isinstance(self.energetics, bool):
            raise TypeError(f"energetics must be True or False, got {self.energetics!r}")
        object.__setattr__(self, "tau_switch", check_scalar(self.tau_switch, "tau_switch", low=0.0))
        if self.tau_switch > 0 and self.fidelity != "joint":
            raise ValueError(f"tau_switch = {self.tau_switch} needs fidelity='joint' (neurons with their own "
                             "dynamics); the separated fidelity switches abruptly (tau_switch = 0)")
        if self.fidelity == "joint" and self.batch_size != 1:
            raise ValueError(f"joint dynamics presents one entry at a time: batch_size must be 1, got "
                             f"{self.batch_size}")
        # the whole schedule is checked now, before any work
        sched.check(self.presentations, self.tau_inf)

    @property
    def learning_rate(self) -> float | None:
        """mu * tau_inf * kappa_out: the torch-SGD learning rate this run corresponds to (soft clamp)."""
        return None if self.kappa_out is None else self.mu * self.tau_inf * self.kappa_out

    def kT_values(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        return self.kT.values(self.presentations, self.tau_inf, start, stop)

    def replace(self, **changes) -> "TrainConfig":
        return replace(self, **changes)

    def to_json(self) -> dict:
        d = asdict(self)
        d["kT"] = self.kT.to_json(self.presentations, self.tau_inf)
        return d

    @classmethod
    def fields(cls) -> tuple[str, ...]:
        return tuple(cls.__dataclass_fields__)


# ----------------------------------------------------------------------------- data order
def presentation_order(n_data: int, n_presentations: int, order: str = "iid", seed: int = 0, *,
                       batch_size: int = 1, start: int = 0) -> np.ndarray:
    """Indices of the entries presented at presentations ``start .. n_presentations-1``, shape (P, batch_size).

    The stream of entries is cut into epochs of ``n_data`` draws: 'cyclic' is 0..D-1, 'shuffle' a
    permutation and 'iid' D uniform draws with replacement, each epoch from its own seeded generator
    (``SeedSequence(seed, spawn_key=(0, epoch))``), so any position of the stream is computed without
    replaying the ones before (this is what makes a resumed run identical to an uninterrupted one).
    Presentation s uses stream positions s*batch_size .. (s+1)*batch_size - 1.

    Examples
    --------
    >>> presentation_order(4, 6, "cyclic").ravel().tolist()
    [0, 1, 2, 3, 0, 1]
    >>> full = presentation_order(5, 10, "shuffle", seed=3)
    >>> bool((presentation_order(5, 10, "shuffle", seed=3, start=4) == full[4:]).all())
    True
    """
    D = int(n_data)
    B = int(batch_size)
    order = _ORDER_ALIASES.get(order, order)
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    p0, p1 = int(start) * B, int(n_presentations) * B
    out = np.empty(max(p1 - p0, 0), dtype=np.int64)
    if order == "cyclic":
        out[:] = np.arange(p0, p1) % D
    else:
        e0, e1 = p0 // D, (p1 - 1) // D if p1 > p0 else p0 // D - 1
        pos = 0
        for e in range(e0, e1 + 1):
            rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(int(seed), spawn_key=(_ORDER_KEY, e))))
            ep = rng.permutation(D) if order == "shuffle" else rng.integers(0, D, size=D)
            a = max(p0 - e * D, 0)
            b = min(p1 - e * D, D)
            out[pos:pos + b - a] = ep[a:b]
            pos += b - a
    return out.reshape(-1, B)


def noise_state(seed: int) -> np.ndarray:
    """The thermal-noise stream of a run: a xoshiro256++ state (uint64[4], saved in checkpoints) seeded
    from ``SeedSequence(seed, spawn_key=(1,))``, independent of the data-order stream.

    Examples
    --------
    >>> s = noise_state(0)
    >>> s.shape, s.dtype.name, bool((s == noise_state(0)).all())
    ((4,), 'uint64', True)
    """
    from ..kernels.rng import seed_streams

    return seed_streams(np.random.SeedSequence(int(seed), spawn_key=(_NOISE_KEY,)), 1)[0].copy()


def config_digest(obj) -> str:
    """sha256 of the canonical JSON of ``obj`` (sorted keys, no whitespace).

    Examples
    --------
    >>> config_digest({"a": 1, "b": 2}) == config_digest({"b": 2, "a": 1})
    True
    """
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()
