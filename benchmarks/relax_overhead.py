"""Per-call cost of ``relax()``, the stability guard's cost, and two threads against one.

Rows (each a ratio of times measured in this process, rounds interleaved, median of the rounds):

* ``overhead``: for n_steps = 1 and 10, a call of ``relax(net, x0, n_steps=n)`` (guard cached: same net, same
  inputs) against n steps of a prepared run (``LangevinRun.run``), on the four benchmark nets (float64, relu,
  one thread, one distinct input per replica). ``relax`` also computes the start state's gradient (one pass
  the prepared run already has) and draws the equilibrium start (a forward pass), which is why n_steps = 1
  costs more than one step even with no overhead at all; ``relax1_init`` continues from a given state (no
  equilibrium start) and ``relax1_init_minus_two_passes_ms`` is what is left after its two gradient passes;
  ``relax1_continue`` is ``relax`` in a loop, each call from the last one's end (``init=res.xs``), which starts
  from the gradient its kept buffers hold (one step per call), against a step without books (``step``) and a step
  with relax's default observers, the work/heat books and energy moments (``step_books``).
  Repeated calls on the same input reuse layer 1's f(y_1), f'(y_1) (kept with the net's buffers);
  ``relax1_new_input`` alternates between two inputs, so it pays that product every call.
* ``guard``: the stability guard on every distinct input (cache cleared: :func:`analogsim.inference.guard_cache.cached_guard`)
  against a 1000-step ``relax`` with the guard cached (for the largest net the 1000 steps are 1000 x the
  measured step time, stated in the row).
* ``two_threads``: ``LangevinRun.run`` with threads=2 against threads=1, wall clock, on the medium and large nets,
  with the process's CPU time over wall time of the 2-thread run (about 2 when both threads compute at once),
  and the CPU critical-path speed-up (one thread's kernel CPU time over the busiest thread's while two run at
  once): what two free cores would give, measurable on an oversubscribed machine where wall time is not.

Times are process CPU time (``time.process_time``: every thread of this process, so nothing done in a helper
thread is missed) except the thread rows (wall clock). BLAS is limited to one thread; the BLAS kernel is named in
the output (threadpoolctl). Run with the OpenBLAS core-type overrides removed for this command only:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/relax_overhead.py --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings

import numpy as np
from _machine import cpu_name

CASES = [((4, 16, 16, 1), 32), ((16, 64, 64, 4), 64), ((64, 256, 256, 10), 256), ((784, 1024, 1024, 10), 512)]
KT = 0.1
TARGETS = {"tiny_relax1_ms": 0.2, "large_relax1_minus_step_ms": 5.0, "guard_over_relax1000": 0.10,
           "two_threads_speedup": 1.8}


def make(sizes, B, seed=0):
    from analogsim import Network
    from analogsim.model.hamiltonian import stability_bound

    net = Network.create(list(sizes), activations="relu", kappa=1.0, seed=seed, dtype="float64", bias_scale=0.1)
    x0 = np.random.default_rng(seed).normal(size=(B, sizes[0]))
    return net, x0, 0.05 / stability_bound(net)


def prepared(net, x0, dt, threads=1, observers=()):
    from analogsim.inference.integrators import EulerMaruyama
    from analogsim.inference.observers import parse_record
    from analogsim.inference.protocols import Constant
    from analogsim.inference.simulate import LangevinRun

    run = LangevinRun(net, net.concat(net.forward(x0)), kT=KT, dt=dt, integrator=EulerMaruyama(),
                      input_protocol=Constant(x0), observers=parse_record(observers) if observers else {}, seed=1,
                      threads=threads)
    return run


def interleaved(fns, rounds, clock):
    """Median seconds per call of each zero-argument callable (run ``reps[k]`` times per round), interleaved."""
    times = {k: [] for k in fns}
    for _ in range(rounds):
        for k, (f, reps) in fns.items():
            t = clock()
            for _ in range(reps):
                f()
            times[k].append((clock() - t) / reps)
    return {k: float(np.median(v)) for k, v in times.items()}


def reps_for(fn, target_s, clock):
    t = clock()
    fn()
    el = max(clock() - t, 1e-6)
    return max(1, int(target_s / el))


def bench_overhead(sizes, B, rounds, target_s):
    from analogsim.inference.simulate import relax

    net, x0, dt = make(sizes, B)
    run = prepared(net, x0, dt)
    run.run(2)
    clock = time.process_time
    fns = {}
    for n in (1, 10):
        f = (lambda n=n: relax(net, x0, kT=KT, dt=dt, n_steps=n, seed=1, threads=1))
        f()
        fns[f"relax{n}"] = (f, reps_for(f, target_s, clock))
    # alternating between two inputs: the guard stays cached (it keeps several clamp sets per net) but layer 1's
    # kept f(y_1), f'(y_1) never match, so every call pays that product (what a new input costs)
    x0b = x0[::-1].copy()
    flip = [x0, x0b]

    def alt():
        flip.reverse()
        return relax(net, flip[0], kT=KT, dt=dt, n_steps=1, seed=1, threads=1)

    alt(), alt()
    fns["relax1_new_input"] = (alt, reps_for(alt, target_s, clock))
    st = relax(net, x0, kT=KT, dt=dt, n_steps=1, seed=1, threads=1).state
    f = (lambda: relax(net, x0, kT=KT, dt=dt, n_steps=1, seed=1, threads=1, init=st))
    fns["relax1_init"] = (f, reps_for(f, target_s, clock))   # a continuation: no equilibrium start
    # relax in a loop, each call from the last one's end (init=res.xs): the start's gradient comes from the kept
    # buffers (res.extra['continued'])
    # (on a copy of the net: its own cache entry, so the other rows' calls in between do not take its buffers)
    net_c = net.with_theta(net.theta)
    last = [relax(net_c, x0, kT=KT, dt=dt, n_steps=1, seed=1, threads=1)]

    def chain():
        last[0] = relax(net_c, x0, kT=KT, dt=dt, n_steps=1, seed=1, threads=1, init=last[0].xs)
        return last[0]

    assert chain().extra["continued"]
    fns["relax1_continue"] = (chain, reps_for(chain, target_s, clock))
    fns["step"] = (lambda: run.run(1), reps_for(lambda: run.run(1), target_s, clock))
    # a step with relax's default observers (work/heat books, energy moments): what relax's own step costs
    booked = prepared(net, x0, dt, observers=("books", "energy"))
    booked.run(2)
    fns["step_books"] = (lambda: booked.run(1), reps_for(lambda: booked.run(1), target_s, clock))
    t = interleaved(fns, rounds, clock)
    assert chain().extra["continued"]
    row = {"net": list(sizes), "replicas": B, "step_ms": 1e3 * t["step"],
           "relax1_init_ms": 1e3 * t["relax1_init"],
           # a continued relax(n_steps=1) does two gradient passes (the start state's and the new state's):
           "relax1_init_minus_two_passes_ms": 1e3 * (t["relax1_init"] - 2 * t["step"]),
           "step_books_ms": 1e3 * t["step_books"], "relax1_continue_ms": 1e3 * t["relax1_continue"],
           # the yardstick (a step without books), and the same step with relax's default books
           "relax1_continue_minus_step_ms": 1e3 * (t["relax1_continue"] - t["step"]),
           "relax1_continue_minus_step_books_ms": 1e3 * (t["relax1_continue"] - t["step_books"]),
           "relax1_continue_over_step": t["relax1_continue"] / t["step"]}
    row["relax1_new_input_ms"] = 1e3 * t["relax1_new_input"]
    row["relax1_new_input_over_steps"] = t["relax1_new_input"] / t["step"]
    for n in (1, 10):
        row[f"relax{n}_ms"] = 1e3 * t[f"relax{n}"]
        row[f"relax{n}_minus_steps_ms"] = 1e3 * (t[f"relax{n}"] - n * t["step"])
        row[f"relax{n}_over_steps"] = t[f"relax{n}"] / (n * t["step"])
    return row


def bench_guard(sizes, B, rounds, target_s, relax_steps=1000):
    from analogsim.inference import guard_cache, stability
    from analogsim.inference.protocols import Constant
    from analogsim.inference.simulate import relax

    net, x0, dt = make(sizes, B)
    clock = time.process_time
    inp = Constant(x0)

    def fresh_guard():  # what relax() pays on a new (net, clamp set): bounds, then eigenvalues where EM needs them
        guard_cache.clear_cache()
        return guard_cache.cached_guard(net, inp, None, None, B, relax_steps, dt)[0].resolve(
            stability.EM_BIAS_WARN_DTL / dt)

    def exact_guard():  # the exact lambda_max over every point (what a large dt needs)
        guard_cache.clear_cache()
        return guard_cache.cached_guard(net, inp, None, None, B, relax_steps, dt)[0].resolve(0.0)

    rep = fresh_guard()
    rep_x = exact_guard()
    big = sizes[0] >= 512
    fns = {"guard": (fresh_guard, reps_for(fresh_guard, target_s, clock)), "exact": (exact_guard, 1)}
    if big:
        run = prepared(net, x0, dt)
        run.run(2)
        fns["step"] = (lambda: run.run(1), reps_for(lambda: run.run(1), target_s, clock))
    else:
        f = (lambda: relax(net, x0, kT=KT, dt=dt, n_steps=relax_steps, seed=1, threads=1))
        f()
        fns["relax"] = (f, 1)
    t = interleaved(fns, max(3, rounds // 2), clock)
    relax_s = t["relax"] if not big else relax_steps * t["step"]
    return {"net": list(sizes), "replicas": B, "guard_ms": 1e3 * t["guard"], "relax1000_ms": 1e3 * relax_s,
            "relax1000_estimated_from_steps": big, "guard_over_relax1000": t["guard"] / relax_s,
            "distinct_points": rep.n_points, "points_evaluated": rep.n_evaluated, "lambda_exact": rep.exact,
            "lambda_max": rep.lambda_max, "bound_max": rep.bound_max, "dt_lambda": dt * rep_x.lambda_max,
            "exact_guard_ms": 1e3 * t["exact"], "exact_guard_over_relax1000": t["exact"] / relax_s,
            "exact_points_evaluated": rep_x.n_evaluated, "exact_lambda_max": rep_x.lambda_max}


def bench_threads(sizes, B, rounds, target_s):
    net, x0, dt = make(sizes, B)
    r1, r2 = prepared(net, x0, dt, 1), prepared(net, x0, dt, 2)
    r1.timing = r2.timing = True  # per-chunk thread CPU clocks (the critical-path column)
    r1.run(2)
    r2.run(2)
    clock = time.perf_counter
    n = max(1, reps_for(lambda: r1.run(1), target_s, clock))
    t = interleaved({"t1": (lambda: r1.run(n), 1), "t2": (lambda: r2.run(n), 1)}, rounds, clock)
    w0, c0 = time.perf_counter(), time.process_time()
    r2.run(n)
    cpu_over_wall = (time.process_time() - c0) / (time.perf_counter() - w0)
    # CPU critical path: each thread's kernel CPU time while both ran at once, against one thread's total. On
    # an oversubscribed machine (cpu_over_wall well below 2) wall time cannot show scaling; this shows what two
    # free cores would give, including any slow-down the threads cause each other (caches, memory bandwidth).
    cp = []
    for _ in range(max(3, rounds // 2)):
        r1.chunk_cpu_s[:] = 0
        r2.chunk_cpu_s[:] = 0
        r1.run(n)
        r2.run(n)
        per_thread = {}
        for ch, tid in enumerate(r2.chunk_thread):
            per_thread[tid] = per_thread.get(tid, 0.0) + r2.chunk_cpu_s[ch]
        cp.append(r1.chunk_cpu_s.sum() / max(per_thread.values()))
    return {"net": list(sizes), "replicas": B, "chunks": r2.n_chunks, "t1_step_ms": 1e3 * t["t1"] / n,
            "t2_step_ms": 1e3 * t["t2"] / n, "speedup": t["t1"] / t["t2"], "clock": "wall",
            "cpu_over_wall_2threads": cpu_over_wall, "load_avg": os.getloadavg()[0],
            "speedup_cpu_critical_path": float(np.median(cp)), "threads_used": len(set(r2.chunk_thread))}


def blas_kernel():
    from threadpoolctl import threadpool_info

    return [{**{k: d.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}, "filepath": os.path.basename(d.get("filepath") or "")}
            for d in threadpool_info() if d.get("user_api") == "blas"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--cases", default="0,1,2,3")
    ap.add_argument("--json", default=None, help="write the results here (atomically)")
    args = ap.parse_args(argv)
    rounds, target = (5, 0.05) if args.quick else (9, 0.2)
    warnings.simplefilter("ignore", RuntimeWarning)
    from threadpoolctl import threadpool_limits

    import scipy.linalg.cython_blas  # noqa: F401  (the BLAS the kernels call)

    idx = [int(i) for i in args.cases.split(",") if i]
    out = {"overhead": [], "guard": [], "two_threads": []}
    with threadpool_limits(limits=1, user_api="blas"):
        for i in idx:
            out["overhead"].append(bench_overhead(*CASES[i], rounds, target))
            _log(out["overhead"][-1])
            out["guard"].append(bench_guard(*CASES[i], rounds, target))
            _log(out["guard"][-1])
        for i in idx:
            if i >= 2:
                out["two_threads"].append(bench_threads(*CASES[i], rounds, target))
                _log(out["two_threads"][-1])
        out["blas"] = blas_kernel()
    out.update({"targets": TARGETS, "rounds": rounds, "clock": "process CPU time (thread rows: wall)",
                "machine": {"cpu": cpu_name(), "cores": os.cpu_count(), "platform": platform.platform(),
                            "load_avg_end": os.getloadavg()[0],
                            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE")},
                "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())})
    text = json.dumps(out, indent=1)
    if args.json:
        from analogsim._io import atomic_write_text

        atomic_write_text(args.json, text)
    print(text)
    return 0




def _log(obj):
    print(json.dumps(obj), file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
