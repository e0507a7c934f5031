"""Benchmark of exact equilibrium sampling (analogsim.sample_equilibrium), as ratios measured in one process.

1. Large net [784, 1024, 1024, 10], batch 512, float32 and float64: the sampler's time over numpy's time for
   the same forward products alone (``x @ W.T`` per layer). Target: <= 1.3.
2. Small net [4, 16, 16, 1], batch 32: the sampler's per-call time against a plain numpy implementation of the
   same algorithm (draw N(0, kT/kappa), multiply, add bias, activation, add), with a Generator shared by both,
   and against the original numpy ``sample_equilibrium`` (argument checks; with an int seed it builds a Generator
   per call) with int seeds for both. Target: >= 5x faster. Wall time and CPU time of the process are both
   reported (CPU time does not count waiting for a core on a shared machine).

Timings on a shared machine are noisy, so the candidates are timed in interleaved rounds (the order rotates
every round) and medians are reported. BLAS and numba threading are recorded (threadpoolctl).

Run with the OpenBLAS core type left to auto-detection:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/equilibrium.py [--quick] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np


def numpy_sampler(net, x, kT, rng):
    """The plain numpy implementation: per layer draw, scale, product, bias, activation, add."""
    xs, ds = [x], []
    for l in range(net.depth):
        d = rng.standard_normal((x.shape[0], net.sizes[l + 1]), dtype=net.dtype)
        d *= np.sqrt(kT / net.kappa[l]).astype(net.dtype)
        y = x @ net.weights[l].T
        y += net.biases[l]
        x = net.activations[l].f(y)
        x += d
        xs.append(x)
        ds.append(d)
    return xs, ds


def numpy_sampler_validated(net, x0, kT, seed):
    """The numpy implementation behind the original ``sample_equilibrium`` API (argument checks included)."""
    from analogsim._checks import as_generator, check_kT

    kT = check_kT(kT)
    x = net.check_input(x0)
    return numpy_sampler(net, x, kT, as_generator(seed))


def gemms_only(net, x):
    for W in net.weights:
        x = x @ W.T
    return x


def interleaved(cands: dict, rounds: int, reps: dict, clock=time.perf_counter):
    """Median seconds per call of each candidate; each round times every candidate once, in rotating order.

    ``clock``: wall time (perf_counter) by default; time.process_time gives the CPU time of this process, which on a
    shared machine does not count the time the process waits for a core (single-threaded candidates only).
    """
    names = list(cands)
    times = {k: [] for k in names}
    for k in names:  # warm-up (compilation, caches, allocator)
        for _ in range(2):
            cands[k]()
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for k in order:
            n = reps.get(k, 1)
            t0 = clock()
            for _ in range(n):
                cands[k]()
            times[k].append((clock() - t0) / n)
    return {k: float(np.median(v)) for k, v in times.items()}, times


def ratio_stats(times, num, den):
    r = np.asarray(times[num]) / np.asarray(times[den])
    return {"median": float(np.median(r)), "q25": float(np.quantile(r, 0.25)), "q75": float(np.quantile(r, 0.75))}


def bench_large(dtype, activation, rounds):
    from analogsim import Network, sample_equilibrium

    net = Network.create([784, 1024, 1024, 10], activations=activation, kappa=1.0, seed=0, dtype=dtype)
    x = np.random.default_rng(1).standard_normal((512, 784)).astype(dtype)
    g = np.random.default_rng(2)
    cands = {"gemm": lambda: gemms_only(net, x),
             "sampler": lambda: sample_equilibrium(net, x, 0.1, seed=g),
             "numpy_sampler": lambda: numpy_sampler(net, x, 0.1, g)}
    from analogsim.model.equilibrium import _spare_cores

    par = [_spare_cores()]
    med, times = interleaved(cands, rounds, {})
    par.append(_spare_cores())
    return {"net": [784, 1024, 1024, 10], "batch": 512, "dtype": dtype, "activation": activation,
            "per_layer_pass": "parallel" if all(par) else "serial" if not any(par) else "mixed",
            "seconds": med, "ratio_sampler_over_gemm": med["sampler"] / med["gemm"],
            "ratio_sampler_over_gemm_per_round": ratio_stats(times, "sampler", "gemm"),
            "ratio_numpy_sampler_over_gemm": med["numpy_sampler"] / med["gemm"], "target": "<= 1.3"}


def bench_small(dtype, activation, rounds):
    from analogsim import Network, sample_equilibrium

    net = Network.create([4, 16, 16, 1], activations=activation, kappa=1.0, seed=0, dtype=dtype)
    x = np.random.default_rng(1).standard_normal((32, 4)).astype(dtype)
    g = np.random.default_rng(2)
    seeds = iter(range(10 ** 9))
    cands = {"numpy_sampler": lambda: numpy_sampler(net, x, 0.1, g),
             "numpy_sampler_validated": lambda: numpy_sampler_validated(net, x, 0.1, g),
             "sampler_generator_seed": lambda: sample_equilibrium(net, x, 0.1, seed=g),
             "sampler_int_seed": lambda: sample_equilibrium(net, x, 0.1, seed=next(seeds))}
    cands["numpy_sampler_validated_int_seed"] = lambda: numpy_sampler_validated(net, x, 0.1, 12345)
    reps = {k: 200 for k in cands}
    out = {"net": [4, 16, 16, 1], "batch": 32, "dtype": dtype, "activation": activation, "target": ">= 5"}
    for clock_name, clock in (("wall", time.perf_counter), ("cpu", time.process_time)):
        med, times = interleaved(cands, rounds, reps, clock)
        out[clock_name] = {
            "seconds_per_call": med,
            # same seed object for both: a Generator shared across calls
            "speedup_vs_numpy": med["numpy_sampler"] / med["sampler_generator_seed"],
            "speedup_vs_numpy_per_round": {k: 1.0 / v for k, v in
                                           ratio_stats(times, "sampler_generator_seed", "numpy_sampler").items()},
            # the original numpy sample_equilibrium (argument checks; an int seed makes a Generator per call)
            "speedup_vs_numpy_validated": med["numpy_sampler_validated"] / med["sampler_generator_seed"],
            "speedup_int_seed_vs_numpy_validated_int_seed":
                med["numpy_sampler_validated_int_seed"] / med["sampler_int_seed"]}
    return out


def environment() -> dict:
    import numba
    from threadpoolctl import threadpool_info

    return {"python": platform.python_version(), "numpy": np.__version__, "numba": numba.__version__,
            "numba_threads": numba.get_num_threads(), "numba_threading_layer": _threading_layer(),
            "cpu_count": os.cpu_count(), "load_average": list(os.getloadavg()),
            "blas": [{**{k: d.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}, "filepath": os.path.basename(d.get("filepath") or "")}
                     for d in threadpool_info()],
            "env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS",
                                                   "NUMBA_NUM_THREADS")}}


def _threading_layer():
    import numba

    try:
        return numba.threading_layer()
    except ValueError:
        return None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer rounds")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--activations", default="tanh,relu")
    ap.add_argument("--out", default=None, help="also write the JSON here")
    args = ap.parse_args(argv)
    rounds = args.rounds or (5 if args.quick else 15)
    acts = [a for a in args.activations.split(",") if a]
    res = {"benchmark": "equilibrium sampling", "rounds": rounds, "large": [], "small": []}
    for act in acts:
        for dt in ("float32", "float64"):
            r = bench_large(dt, act, rounds)
            res["large"].append(r)
            print(f"large {dt} {act} ({r['per_layer_pass']} pass): sampler/gemm = {r['ratio_sampler_over_gemm']:.3f} "
                  f"(numpy sampler/gemm = {r['ratio_numpy_sampler_over_gemm']:.3f}; "
                  f"gemm {r['seconds']['gemm'] * 1e3:.1f} ms)", file=sys.stderr)
    for act in acts:
        for dt in ("float64", "float32"):
            r = bench_small(dt, act, rounds)
            res["small"].append(r)
            for ck in ("wall", "cpu"):
                q = r[ck]
                s = q["seconds_per_call"]
                print(f"small {dt} {act} [{ck}]: {s['sampler_generator_seed'] * 1e6:.1f} us vs numpy "
                      f"{s['numpy_sampler'] * 1e6:.1f} us -> {q['speedup_vs_numpy']:.2f}x "
                      f"(vs validated numpy: {q['speedup_vs_numpy_validated']:.2f}x; int seeds: "
                      f"{q['speedup_int_seed_vs_numpy_validated_int_seed']:.2f}x)", file=sys.stderr)
    res["environment"] = environment()
    text = json.dumps(res, indent=2)
    print(text)
    if args.out:
        from analogsim._io import atomic_write_text

        atomic_write_text(args.out, text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
