"""Benchmark of the dynamic analog machine (analogsim.dynamic), measured in one process.

1. Element update: nanoseconds per element-step of the bistable kernel on one thread, normals included
   (standard erasure, 4096 elements, float64, the Leimkuhler-Matthews scheme). Target: <= 5 ns. The normals
   alone (``fill_noise_w`` over the same count) are timed too, so the update's own share is visible; both in
   interleaved rounds, medians reported, with CPU time (waiting for a core on a shared machine is not counted).
2. Digits: the held-out set (397 inputs x 128 relu neurons of a 64-64 digits net) through set, read and a
   standard reset at tau = 10^3 element relaxation times, one thread. Target: < 60 s.

BLAS and numba threading are recorded (threadpoolctl). Run with the OpenBLAS core type left to auto-detection:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/dynamic.py [--quick] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np


def _timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


def element_update(rounds: int, M: int = 4096, tau: float = 400.0):
    from analogsim.dynamic import DoubleWell, run_segments, standard_erasure
    from analogsim.kernels.rng import fill_noise_w, noise_work, seed_streams

    el = DoubleWell()
    segs = [(standard_erasure(), tau)]
    n_steps = int(round(tau / 0.2))
    run_segments(el, segs, n_elements=M, seed=0, dt=0.2, threads=1)  # compile
    st = seed_streams(1, 1)[0]
    z = np.empty(M)
    w = noise_work()
    fill_noise_w(st, z, w)

    def normals():
        for _ in range(n_steps):
            fill_noise_w(st, z, w)

    res = {"update": [], "normals": []}
    for r in range(rounds):
        order = [("update", lambda: run_segments(el, segs, n_elements=M, seed=r, dt=0.2, threads=1)),
                 ("normals", normals)]
        for name, fn in (order if r % 2 == 0 else order[::-1]):
            res[name].append(_timed(fn))
    out = {}
    for name, v in res.items():
        wall = np.median([a for a, _ in v]) / (M * n_steps) * 1e9
        cpu = np.median([b for _, b in v]) / (M * n_steps) * 1e9
        out[name] = {"ns_per_element_step_wall": float(wall), "ns_per_element_step_cpu": float(cpu)}
    out["elements"], out["steps"] = M, n_steps
    out["target_ns"] = 5.0
    out["meets_target"] = out["update"]["ns_per_element_step_cpu"] <= 5.0
    return out


def digits(tau: float = 1000.0, n_test=None):
    from analogsim.dynamic import DoubleWell, InferenceMachine, standard_erasure
    from analogsim.dynamic.digits import activation_patterns, trained_relu_net

    net, Xtr, Xte, acc = trained_relu_net(0, hidden=(64, 64), max_iter=200)
    if n_test:
        Xte = Xte[:n_test]
    st = activation_patterns(net, Xte)
    m = InferenceMachine(DoubleWell(), standard_erasure(), tau=tau, t_set=tau, dt=0.2)
    m.run(st.y[:2], seed=0, threads=1)  # compile
    w0, c0 = time.perf_counter(), time.process_time()
    r = m.run(st.y, seed=1, threads=1)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    n_steps = sum(r.books.n_steps)
    return {"inputs": int(st.y.shape[0]), "neurons": int(st.y.shape[1]), "tau": tau, "steps_per_cycle": n_steps,
            "wall_s": wall, "cpu_s": cpu, "ns_per_element_step_cpu": cpu / (st.y.size * n_steps) * 1e9,
            "reset_work_kT": float(r.reset_work.mean()), "reset_error": r.reset_error, "set_error": r.set_error,
            "target_s": 60.0, "meets_target": cpu < 60.0, "accuracy": acc}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="3 rounds and 100 digits inputs")
    ap.add_argument("--out", default=None, help="write the JSON here")
    a = ap.parse_args(argv)
    from threadpoolctl import threadpool_info

    info = {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": os.cpu_count(),
            "blas": [{k: d.get(k) for k in ("internal_api", "version", "num_threads", "architecture")}
                     for d in threadpool_info()],
            "env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "NUMBA_NUM_THREADS")}}
    res = {"info": info, "element_update": element_update(3 if a.quick else 7),
           "digits": digits(n_test=100 if a.quick else None)}
    text = json.dumps(res, indent=1)
    print(text)
    if a.out:
        from analogsim._io import atomic_write_text

        atomic_write_text(a.out, text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
