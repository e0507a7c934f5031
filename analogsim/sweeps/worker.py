"""What runs on a worker: one point, timed, its exception caught and recorded.

:func:`run_point` is the only function the backends send to workers. It returns plain JSON-ready data
(the results and the bookkeeping of the attempt); the driver writes it to the results folder, so the
workers need no access to that folder (a Dask cluster on several machines needs no shared disk).
"""

from __future__ import annotations

import math
import numbers
import os
import socket
import time
import traceback
import uuid

__all__ = ["run_point", "clean_results"]

_MAX_ARRAY = 4096  # longest 1-D result kept per point


def run_point(func, params: dict, seed: int) -> dict:
    """Run ``func(params, seed)`` and return a record of the attempt.

    Returns
    -------
    dict
        ``status`` ('ok' or 'failed'), ``results`` (name -> scalar or list), ``error`` and
        ``traceback`` (for failures), ``started`` (Unix time), ``duration_s``, ``host``, ``pid``,
        ``compute_id`` (a fresh random id per attempt: proof of which computation produced a point).

    Examples
    --------
    >>> run_point(lambda p, s: {"y": p["x"] + 1}, {"x": 1}, 0)["results"]
    {'y': 2}
    >>> rec = run_point(lambda p, s: 1 / 0, {}, 0)
    >>> rec["status"], rec["error"]
    ('failed', 'ZeroDivisionError: division by zero')
    """
    _single_threaded_blas()
    rec = {"started": time.time(), "host": socket.gethostname(), "pid": os.getpid(),
           "compute_id": uuid.uuid4().hex, "results": {}, "error": None, "traceback": None}
    t0 = time.perf_counter()
    try:
        out = func(dict(params), int(seed))
        rec["results"] = clean_results(out)
        rec["status"] = "ok"
    except Exception as exc:  # a failing point is recorded; the sweep goes on
        rec["status"] = "failed"
        msg = f"{type(exc).__name__}: {exc}"
        cause = str(getattr(exc, "cause", "") or "")  # DivergenceError carries the suggested fix here
        rec["error"] = msg if not cause or cause in msg else f"{msg} ({cause})"
        rec["traceback"] = traceback.format_exc(limit=20)
    rec["duration_s"] = time.perf_counter() - t0
    return rec


def clean_results(out) -> dict:
    """Check a task's return value and convert it to JSON-ready data.

    Accepts a dict mapping str -> number, bool, str, None, or a 1-D list/array of numbers.
    Non-finite floats become None (stored as NaN in the dataset).

    Raises
    ------
    TypeError
        Anything else (the point is then recorded as failed with this message).

    Examples
    --------
    >>> import numpy as np
    >>> clean_results({"a": np.float32(0.5), "b": np.arange(3), "c": float("nan"), "ok": True})
    {'a': 0.5, 'b': [0.0, 1.0, 2.0], 'c': None, 'ok': True}
    """
    import numpy as np

    if not isinstance(out, dict):
        raise TypeError(f"a task must return a dict of named results, got {type(out).__name__}")
    clean = {}
    for name, v in out.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise TypeError(f"result names must be identifiers, got {name!r}")
        if isinstance(v, np.ndarray) or isinstance(v, (list, tuple)):
            a = np.asarray(v)
            if a.ndim == 0:
                clean[name] = _scalar(a.item(), name)
                continue
            if a.ndim != 1 or a.dtype.kind not in "biuf":
                raise TypeError(f"result {name!r} must be a scalar or a 1-D numeric array, got shape {a.shape} "
                                f"dtype {a.dtype}")
            if a.size > _MAX_ARRAY:
                raise TypeError(f"result {name!r} has {a.size} entries; keep per-point arrays <= {_MAX_ARRAY}")
            clean[name] = [_scalar(x, name) for x in a.astype(np.float64).tolist()]
        else:
            clean[name] = _scalar(v, name)
    return clean


def _scalar(v, name):
    import numpy as np

    if isinstance(v, np.generic):
        v = v.item()
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, numbers.Integral):
        return int(v)
    if isinstance(v, numbers.Real):
        v = float(v)
        return v if math.isfinite(v) else None
    raise TypeError(f"result {name!r} must be a number, bool, str or 1-D array, got {type(v).__name__}")


_BLAS_LIMITED = False


def _single_threaded_blas() -> None:
    """One BLAS thread per worker: no oversubscription, and no thread-count-dependent rounding."""
    global _BLAS_LIMITED
    if _BLAS_LIMITED:
        return
    _BLAS_LIMITED = True
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1, user_api="blas")
    except Exception:  # pragma: no cover - threadpoolctl missing or unusable: keep going
        pass
