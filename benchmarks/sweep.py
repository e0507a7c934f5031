"""Sweep backends: parallel speed-up and per-point overhead. Prints one JSON object on stdout.

- speed-up: a sweep of ``--points`` equal CPU-bound points (each ``--seconds`` of pure-Python work) on
  1 worker and on 2 workers, on the embedded local pool and (unless ``--no-dask``) on a Dask
  LocalCluster; the cluster is started before the clock starts, the local pool is started by the sweep
  (its start-up is part of what a user waits for; one warm-up sweep first starts the forkserver). Target:
  >= 1.8x with 2 workers. ``utilisation`` = time in the points / (wall x workers) separates the backend's
  own cost from a machine shared with other work (which slows the points themselves).
- overhead: scheduling and I/O per point on the embedded backend, from a trivial task:
  (wall(M + 1 points) - wall(1 point)) / M, which cancels the pool start and the fixed part of the
  consolidation. It includes the atomic (fsync'd) write of every point file. Target: <= 50 ms.

Ratios only, measured in one process on one machine (timings of different machines do not compare).

    python benchmarks/sweep.py                 # full run (about a minute)
    python benchmarks/sweep.py --quick         # smaller sizes
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from analogsim.sweeps import DaskBackend, LocalPool, register_task, run_sweep


def busy(params: dict, seed: int) -> dict:
    """About ``seconds`` of single-threaded CPU work (calibrated iterations), same for every point."""
    n = int(params["iterations"])
    x = 0.0
    for i in range(n):
        x = (x * 1.0000001 + i) % 1000.0
    return {"x": x}


def trivial(params: dict, seed: int) -> dict:
    return {"one": 1.0}


register_task("bench-busy", busy)
register_task("bench-trivial", trivial)


def calibrate(seconds: float) -> int:
    n = 200_000
    while True:
        t = time.perf_counter()
        busy({"iterations": n}, 0)
        dt = time.perf_counter() - t
        if dt > 0.2:
            return max(1, int(n * seconds / dt))
        n *= 2


def config(kind: str, n: int, extra: str = "") -> str:
    return f'[experiment]\nkind = "{kind}"\n[task]\n{extra}\n[sweep]\nseed = {{start = 0, stop = {n}}}\n'


def timed_sweep(tmp: Path, name: str, text: str, **kw) -> float:
    cfg = tmp / f"{name}.toml"
    cfg.write_text(text)
    t = time.perf_counter()
    s = run_sweep(cfg, tmp / name, **kw)
    wall = time.perf_counter() - t
    assert s.n_ok == s.n_points, s
    return wall


def busy_seconds(tmp: Path, name: str) -> float:
    """Sum over points of the time each spent in its task (as timed on the worker)."""
    from analogsim.sweeps import open_results

    return float(open_results(tmp / name)["duration_s"].sum())


def speedup_entry(tmp: Path, t1: float, t2: float, n1: str, n2: str) -> dict:
    """Wall speed-up, plus utilisation = busy / (wall x workers): how much of the workers' time went to the
    points. On a machine shared with other work the points themselves slow down (busy grows), which
    lowers the speed-up but not the utilisation; a backend that serialised or idled would lower both."""
    b1, b2 = busy_seconds(tmp, n1), busy_seconds(tmp, n2)
    return {"wall_1_worker_s": t1, "wall_2_workers_s": t2, "speedup": t1 / t2,
            "busy_1_worker_s": b1, "busy_2_workers_s": b2,
            "utilisation_1_worker": b1 / t1, "utilisation_2_workers": b2 / (2 * t2)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, default=8, help="equal points for the speed-up (default 8)")
    ap.add_argument("--seconds", type=float, default=1.0, help="CPU seconds per point (default 1.0)")
    ap.add_argument("--trivial", type=int, default=200, help="trivial points for the overhead (default 200)")
    ap.add_argument("--no-dask", action="store_true", help="skip the Dask LocalCluster measurement")
    ap.add_argument("--quick", action="store_true", help="8 points of 0.4 s, 100 trivial points")
    args = ap.parse_args(argv)
    if args.quick:
        args.seconds, args.trivial = 0.4, 100
    iters = calibrate(args.seconds)
    busy_cfg = config("bench-busy", args.points, f"iterations = {iters}")
    out = {"benchmark": "sweep", "python": platform.python_version(), "platform": platform.platform(),
           "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
           "load_avg_start": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
           "points": args.points, "seconds_per_point": args.seconds}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        # warm-up: start the forkserver and import xarray & co. once, so that neither timed run pays for it
        timed_sweep(tmp, "warmup", config("bench-trivial", 2), backend=LocalPool(2))
        t1 = timed_sweep(tmp, "local1", busy_cfg, backend=LocalPool(1))
        t2 = timed_sweep(tmp, "local2", busy_cfg, backend=LocalPool(2))
        out["local"] = speedup_entry(tmp, t1, t2, "local1", "local2")
        if not args.no_dask:
            res = {}
            for n in (1, 2):
                be = DaskBackend(n_local=n).start()
                try:
                    res[n] = timed_sweep(tmp, f"dask{n}", busy_cfg, backend=be)
                finally:
                    be.close()
            out["dask"] = speedup_entry(tmp, res[1], res[2], "dask1", "dask2")

        overhead = {}
        for w in sorted({1, min(2, out["cpus"] or 1)}):
            one = min(timed_sweep(tmp, f"triv1_{w}_{k}", config("bench-trivial", 1, f"rep = {k}"),
                                  backend=LocalPool(w)) for k in range(2))
            many = timed_sweep(tmp, f"trivM_{w}", config("bench-trivial", args.trivial + 1),
                               backend=LocalPool(w))
            overhead[f"{w}_workers"] = {"wall_1_point_s": one, f"wall_{args.trivial + 1}_points_s": many,
                                        "per_point_ms": 1e3 * (many - one) / args.trivial}
        out["overhead"] = overhead
    out["load_avg_end"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    worst = max(v["per_point_ms"] for v in out["overhead"].values())
    out["targets"] = {"speedup_2_workers_min": 1.8, "overhead_per_point_ms_max": 50.0,
                      "local_speedup_ok": out["local"]["speedup"] >= 1.8,
                      "dask_speedup_ok": out["dask"]["speedup"] >= 1.8 if "dask" in out else None,
                      "overhead_ok": worst <= 50.0}
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    import logging

    logging.getLogger("distributed").setLevel(logging.ERROR)
    sys.exit(main())
