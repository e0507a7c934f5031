"""The stability guard's cache: one report per (network parameters, clamp set), re-checked on any change.

Re-exported by :mod:`analogsim.inference.stability` (``cached_guard``, ``clear_cache``, ``GUARDS_PER_NET``).
"""

from __future__ import annotations

import numpy as np

from .continuation import same_array
from .langevin_run import net_entry

#: guard reports remembered per network (different clamp sets)
GUARDS_PER_NET = 8


def clear_cache() -> None:
    """Forget every cached guard result (and the cached kernel views of the networks).

    Examples
    --------
    >>> clear_cache()            # the next relax() of any network computes its guard afresh
    """
    from . import langevin_run

    langevin_run._NETS.clear()


def _sig_equal(a, b) -> bool:
    if a is None or b is None or len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            x, y = np.asarray(x), np.asarray(y)
            if x.shape != y.shape or not (same_array(x, y) or (x.dtype != y.dtype and np.array_equal(x, y))):
                return False
        elif x != y:
            return False
    return True


def _freeze(sig):
    return None if sig is None else tuple(np.array(v, copy=True) if isinstance(v, np.ndarray) else v for v in sig)


def cached_guard(net, inp, tprot, clamp, B, n_steps, dt, entry=None):
    """:func:`guard` over :func:`clamp_points`, cached per (network parameters, clamp set).

    The network's entry (:func:`analogsim.inference.langevin_run.net_entry`) is valid only while its parameters are exactly
    the cached copies; within it, a report is reused only for an equal clamp set: the same protocols' values
    (:meth:`analogsim.inference.protocols.Protocol.signature`, compared exactly), the same clamp kind and stiffness. A
    changed weight, kappa, input or target is therefore re-checked.

    Returns
    -------
    (GuardReport, bool)
        The report and whether it came from the cache.

    Examples
    --------
    >>> import numpy as np
    >>> from analogsim import Network
    >>> from analogsim.inference.protocols import Constant
    >>> net = Network.create([2, 4, 1], seed=0)
    >>> cached_guard(net, Constant(np.zeros(2)), None, None, 1, 10, 0.01)[1]
    False
    >>> cached_guard(net, Constant(np.zeros(2)), None, None, 1, 10, 0.01)[1]
    True
    """
    hard = clamp is not None and clamp.hard
    stiff = None if (clamp is None or hard) else clamp.stiffness
    e = net_entry(net) if entry is None else entry
    s_in = inp.signature(n_steps, dt)
    s_t = tprot.signature(n_steps, dt) if tprot is not None else ("none",)
    if s_in is not None and s_t is not None:
        for g in e["guards"]:
            if g["hard"] == hard and g["stiff"] == stiff and _sig_equal(g["in"], s_in) and _sig_equal(g["t"], s_t):
                return g["report"], True
    from .stability import clamp_points, guard  # (a cache miss only)

    X, T, rep, st = clamp_points(inp, tprot, B, n_steps, dt)
    report = guard(net, X, T, stiffness=stiff, hard=hard, replica=rep, step=st, threshold=np.inf)
    if s_in is not None and s_t is not None:
        if len(e["guards"]) >= GUARDS_PER_NET:
            e["guards"].pop(0)
        e["guards"].append({"hard": hard, "stiff": stiff, "in": _freeze(s_in), "t": _freeze(s_t), "report": report})
    return report, False
