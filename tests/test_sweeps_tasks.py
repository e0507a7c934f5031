"""Test-only sweep task kinds (controllable: sleep, count, fail, crash) and a check of them.

They live in this importable module so that worker processes (local pool, Dask, a CLI subprocess with
PYTHONPATH=tests) can resolve them by reference: ``kind = "test_sweeps_tasks:counting"``.
Nothing here is part of the package.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np


def _log(params, event: str) -> None:
    path = params.get("log")
    if path:
        coords = {k: params[k] for k in params.get("log_axes", []) if k in params}
        line = json.dumps({"event": event, "coords": coords, "pid": os.getpid(), "t": time.time()}) + "\n"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, line.encode())  # one write with O_APPEND: lines from several processes do not mix
        finally:
            os.close(fd)


def counting(params: dict, seed: int) -> dict:
    """Sleep ``sleep`` seconds, log the computation to ``log``, return numbers that depend on the seed."""
    _log(params, "start")
    time.sleep(float(params.get("sleep", 0.0)))
    rng = np.random.default_rng(seed)
    out = {"value": float(rng.standard_normal()), "scaled": float(params.get("kT", 1.0)) * rng.random(),
           "trace": rng.standard_normal(3).tolist()}
    _log(params, "done")
    return out


def flaky(params: dict, seed: int) -> dict:
    """Fail (raise) on the first attempt of points with ``flaky_at`` == their width; succeed after."""
    if params.get("width") == params.get("flaky_at"):
        marker = Path(params["marker_dir"]) / f"flaky-{params['width']}-{params.get('seed', 0)}"
        if not marker.exists():
            marker.write_text("x")
            raise RuntimeError("transient failure (first attempt)")
    if params.get("width") == params.get("broken_at"):
        raise ValueError(f"width {params['width']} is broken for good")
    return {"value": float(np.random.default_rng(seed).random())}


def crashing(params: dict, seed: int) -> dict:
    """Kill the worker process (os._exit) on the first attempt at ``crash_at``; always at ``always_crash_at``."""
    w = params.get("width")
    if w == params.get("always_crash_at"):
        os._exit(7)
    if w == params.get("crash_at"):
        marker = Path(params["marker_dir"]) / f"crash-{w}-{params.get('seed', 0)}"
        if not marker.exists():
            marker.write_text("x")
            os._exit(7)
    time.sleep(float(params.get("sleep", 0.0)))
    return {"value": float(np.random.default_rng(seed).random())}


def trivial(params: dict, seed: int) -> dict:
    """Return at once (for overhead measurements)."""
    return {"one": 1.0}


def test_helper_tasks_are_deterministic(tmp_path):
    p = {"sleep": 0.0, "log": str(tmp_path / "log"), "log_axes": ["kT"], "kT": 2.0}
    assert counting(p, 5) == counting(p, 5)
    assert counting(p, 5) != counting(p, 6)
    lines = (tmp_path / "log").read_text().splitlines()
    assert [json.loads(x)["event"] for x in lines] == ["start", "done"] * 4
    q = {"width": 3, "flaky_at": 3, "marker_dir": str(tmp_path)}
    try:
        flaky(q, 0)
        raise AssertionError("first attempt must fail")
    except RuntimeError:
        pass
    assert flaky(q, 0) == flaky(q, 0)
