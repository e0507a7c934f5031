"""Speed of the compiled Langevin step (Euler–Maruyama, one thread) against its baselines.

One step = one update of all replicas. For each case the script times, in interleaved rounds
(median of the rounds; every ratio is measured in this process):

* ours        — :class:`analogsim.inference.simulate.LangevinRun` (no observers), ``threads=1``;
* gemm        — the step's matrix products alone in numpy (``np.matmul(..., out=)``, whole batch):
                layers 2..L forward and L..2 backward (the input is fixed, so layer 1's
                pre-activation is computed once: every implementation here caches it);
* numpy       — the same step vectorised in numpy (in-place ops, ``Generator.standard_normal(out=)``);
* torch       — the same step in torch eager mode, hand-written gradient, ``torch.no_grad``;
* torchsde    — ``torchsde.sdeint(method='euler')`` with the torch drift above and diagonal noise;
* reference   — a hand-tuned numba EM step of the same model (``benchmarks/reference_em.py``: vectorised
                Box-Muller over 256 xoshiro256++ lanes with polynomial log/sin/cos (~1e-16 in float64; float32
                polynomials, one 64-bit word per pair of normals in float32), its own tanh, BLAS products, one
                chunk of rows per thread), in the case's dtype; checked before it is timed: its noise-free step
                against numpy (1e-12 in float64, 1e-5 in float32) and its normals' first four moments (2^20
                draws, within 5 standard errors of N(0, 1)). ``vs_reference`` = its time / ours (>= 1: ours is at
                least as fast); ``vs_reference_rounds``: min, median and max of that ratio within each round.

BLAS and torch are limited to one thread. Also reported: tanh/relu step-time ratios, ns per
normal of the kernel generator, the 2-thread speed-ups (ours and the reference's) on the medium and
large cases, and the time of a first ``relax`` call in a fresh process with a warm numba cache.

Run with the OpenBLAS core-type overrides removed for this command only:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/relax.py --quick --json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
from _machine import cpu_name

CASES = [((4, 16, 16, 1), 32), ((16, 64, 64, 4), 64), ((64, 256, 256, 10), 256), ((784, 1024, 1024, 10), 512)]
TARGETS = {  # (vs_gemm f64, f32), vs_numpy, vs_torch, vs_torchsde
    (4, 16, 16, 1): ((1.0, 1.0), 8, 15, 50),
    (16, 64, 64, 4): ((2.0, 2.4), 3, 4, 10),
    (64, 256, 256, 10): ((1.5, 1.8), 1.7, 1.5, 2.5),
    (784, 1024, 1024, 10): ((1.25, 1.25), 1.1, 1.1, 1.5),
}
KT, KAPPA = 0.1, 1.0


# ----------------------------------------------------------------------------- implementations
def make_net(sizes, act, dtype, seed=0):
    from analogsim import Network

    return Network.create(list(sizes), activations=act, kappa=KAPPA, seed=seed, dtype=dtype, bias_scale=0.1)


def step_dt(net):
    from analogsim.model.hamiltonian import stability_bound

    return 0.05 / stability_bound(net)


def ours(net, x0, dt, threads=1):
    from analogsim.inference.integrators import EulerMaruyama
    from analogsim.inference.protocols import Constant
    from analogsim.inference.simulate import LangevinRun

    xs = net.forward(x0)
    run = LangevinRun(net, net.concat(xs), kT=KT, dt=dt, integrator=EulerMaruyama(), input_protocol=Constant(x0),
                      observers={}, seed=1, threads=threads)
    return run.run


def _np_act(name):
    if name == "relu":
        def f(y, fp):
            np.greater(y, 0, out=fp)
            np.maximum(y, 0, out=y)
    else:
        def f(y, fp):
            np.tanh(y, out=y)
            np.multiply(y, y, out=fp)
            np.subtract(1, fp, out=fp)
    return f


def numpy_step(net, x0, dt, act):
    """Vectorised numpy EM step with preallocated buffers (layer 1 cached)."""
    L = net.depth
    xs = [x.copy() for x in net.forward(x0)]
    B = x0.shape[0]
    Ws = net.weights
    WT = [np.ascontiguousarray(W.T) for W in Ws]
    bs = net.biases
    ks = net.kappa
    f = _np_act(act)
    fy1 = (x0 @ WT[0] + bs[0]).astype(net.dtype)
    fp1 = np.empty_like(fy1)
    f(fy1, fp1)
    y = [np.empty((B, n), net.dtype) for n in net.sizes[1:]]
    fp = [np.empty((B, n), net.dtype) for n in net.sizes[1:]]
    g = [np.empty((B, n), net.dtype) for n in net.sizes[1:]]
    tmp = [np.empty((B, n), net.dtype) for n in net.sizes[1:]]
    z = [np.empty((B, n), net.dtype) for n in net.sizes[1:]]
    rng = np.random.default_rng(0)
    a = net.dtype.type(dt)
    c = net.dtype.type(np.sqrt(2 * KT * dt))

    def run(n):
        for _ in range(n):
            for l in range(1, L + 1):
                if l == 1:
                    np.subtract(xs[1], fy1, out=g[0])
                    np.multiply(fp1, 1, out=fp[0])
                else:
                    np.matmul(xs[l - 1], WT[l - 1], out=y[l - 1])
                    y[l - 1] += bs[l - 1]
                    f(y[l - 1], fp[l - 1])
                    np.subtract(xs[l], y[l - 1], out=g[l - 1])
                g[l - 1] *= ks[l - 1]                 # kappa delta
                np.multiply(g[l - 1], fp[l - 1], out=fp[l - 1])  # -sigma
            for l in range(L, 1, -1):
                np.matmul(fp[l - 1], Ws[l - 1], out=tmp[l - 2])
                g[l - 2] -= tmp[l - 2]
            for l in range(1, L + 1):
                rng.standard_normal(out=z[l - 1], dtype=net.dtype)
                z[l - 1] *= c
                g[l - 1] *= a
                xs[l] -= g[l - 1]
                xs[l] += z[l - 1]
    return run


def gemm_only(net, x0):
    L = net.depth
    xs = net.forward(x0)
    WT = [np.ascontiguousarray(W.T) for W in net.weights]
    B = x0.shape[0]
    y = [np.empty((B, n), net.dtype) for n in net.sizes[1:]]
    s = [np.ones((B, n), net.dtype) for n in net.sizes[1:]]
    t = [np.empty((B, n), net.dtype) for n in net.sizes[1:]]

    def run(n):
        for _ in range(n):
            for l in range(2, L + 1):
                np.matmul(xs[l - 1], WT[l - 1], out=y[l - 1])
            for l in range(L, 1, -1):
                np.matmul(s[l - 1], net.weights[l - 1], out=t[l - 2])
    return run


def _torch_parts(net, x0, act):
    import torch

    tdt = torch.float64 if net.dtype == np.float64 else torch.float32
    W = [torch.from_numpy(np.ascontiguousarray(w)) for w in net.weights]
    WT = [w.t().contiguous() for w in W]
    b = [torch.from_numpy(np.ascontiguousarray(v)) for v in net.biases]
    k = [torch.from_numpy(np.ascontiguousarray(v)) for v in net.kappa]
    x0t = torch.from_numpy(np.ascontiguousarray(x0, dtype=net.dtype))
    fn = torch.relu if act == "relu" else torch.tanh

    def dfn(y, fy):
        return (y > 0).to(tdt) if act == "relu" else 1 - fy * fy

    y1 = torch.addmm(b[0], x0t, WT[0])
    fy1 = fn(y1)
    fp1 = dfn(y1, fy1)
    sizes = net.sizes

    def grad(xl):  # xl: list of tensors x_1..x_L
        L = len(W)
        gs, sg = [], []
        for l in range(1, L + 1):
            if l == 1:
                fy, fp = fy1, fp1
            else:
                y = torch.addmm(b[l - 1], xl[l - 2], WT[l - 1])
                fy = fn(y)
                fp = dfn(y, fy)
            kd = k[l - 1] * (xl[l - 1] - fy)
            gs.append(kd)
            sg.append(kd * fp)  # -sigma
        for l in range(L, 1, -1):
            gs[l - 2] = gs[l - 2].sub_(sg[l - 1] @ W[l - 1])
        return gs
    return torch, tdt, grad, sizes


def torch_step(net, x0, dt, act):
    torch, tdt, grad, sizes = _torch_parts(net, x0, act)
    xs = [torch.from_numpy(x.copy()) for x in net.forward(x0)[1:]]
    c = float(np.sqrt(2 * KT * dt))

    def run(n):
        with torch.no_grad():
            for _ in range(n):
                gs = grad(xs)
                for x, g in zip(xs, gs):
                    x.add_(g, alpha=-dt).add_(torch.randn_like(x), alpha=c)
    return run


def torchsde_step(net, x0, dt, act):
    import torchsde

    torch, tdt, grad, sizes = _torch_parts(net, x0, act)
    xs0 = net.forward(x0)[1:]
    offs = np.concatenate([[0], np.cumsum(sizes[1:])])
    y0 = torch.from_numpy(np.ascontiguousarray(np.concatenate(xs0, axis=1)))
    c = float(np.sqrt(2 * KT))

    class SDE(torch.nn.Module):
        noise_type = "diagonal"
        sde_type = "ito"

        def f(self, t, y):
            gs = grad([y[:, offs[i]:offs[i + 1]] for i in range(len(offs) - 1)])
            return -torch.cat(gs, dim=1)

        def g(self, t, y):
            return torch.full_like(y, c)

    sde = SDE()

    def run(n):
        with torch.no_grad():
            torchsde.sdeint(sde, y0, torch.tensor([0.0, n * dt], dtype=tdt), dt=dt, method="euler")
    return run


def reference_step(net, x0, dt, threads=1):
    """The hand-tuned numba reference (benchmarks/reference_em.py) on ``threads`` numba threads."""
    import numba

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import reference_em

    tol = 1e-12 if net.dtype == np.float64 else 1e-5
    err, mom = reference_em.check(net, x0, dt)
    if not err < tol:
        raise RuntimeError(f"the {net.dtype} reference EM step differs from numpy by {err:g} (tolerance {tol:g})")
    se = np.sqrt(np.array([1.0, 2.0, 15.0, 96.0]) / (1 << 20))  # SEs of the first four moments of N(0, 1)
    zs = (np.array(mom) - [0.0, 1.0, 0.0, 3.0]) / se
    if not np.all(np.abs(zs) < 5):
        raise RuntimeError(f"the {net.dtype} reference's normals: moments {mom}, {zs.round(1)} standard errors off")
    run = reference_em.make(net, np.ascontiguousarray(x0, dtype=net.dtype), dt, KT)

    def go(n):
        old = numba.get_num_threads()
        numba.set_num_threads(threads)
        try:
            run(n)
        finally:
            numba.set_num_threads(old)
    return go


# ----------------------------------------------------------------------------- timing
def calibrate(fn, target_s):
    n = 1
    while True:
        t = time.perf_counter()
        fn(n)
        el = time.perf_counter() - t
        if el >= target_s / 4 or n >= 1 << 20:
            return max(1, int(n * target_s / max(el, 1e-9)))
        n *= 4


CLOCK = "cpu"  # "cpu": CPU time of the calling thread (robust on a shared machine); "wall": perf_counter


def interleaved(fns, rounds, target_s, clock=None, raw=None):
    """Median seconds per step of each callable run(n), rounds interleaved (``raw``: a dict given the per-round
    times when passed).

    Single-threaded work is timed with the calling thread's CPU time by default (every implementation here
    runs in the calling thread when limited to one thread), which other processes on a shared machine
    disturb far less than wall time; multi-threaded comparisons must use ``clock='wall'``.
    """
    clock = clock or CLOCK
    now = time.thread_time if clock == "cpu" else time.perf_counter
    ns = {k: calibrate(f, target_s) for k, f in fns.items()}
    times = {k: [] for k in fns}
    for _ in range(rounds):
        for k, f in fns.items():
            t = now()
            f(ns[k])
            times[k].append((now() - t) / ns[k])
    if raw is not None:
        raw.update(times)
    return {k: float(np.median(v)) for k, v in times.items()}


def bench_case(sizes, B, dtype, act, rounds, target_s, baselines=True):
    net = make_net(sizes, act, dtype)
    rng = np.random.default_rng(0)
    x0 = rng.normal(size=(B, sizes[0])).astype(dtype)
    dt = step_dt(net)
    fns = {"ours": ours(net, x0, dt)}
    if baselines:
        fns["reference"] = reference_step(net, x0, dt)
    if baselines:
        fns["gemm"] = gemm_only(net, x0)
        fns["numpy"] = numpy_step(net, x0, dt, act)
        fns["torch"] = torch_step(net, x0, dt, act)
        fns["torchsde"] = torchsde_step(net, x0, dt, act)
    for f in fns.values():  # warm up (compile, allocate)
        f(2)
    per_round = {}
    t = interleaved(fns, rounds, target_s, raw=per_round)
    row = {"net": list(sizes), "replicas": B, "dtype": dtype, "activation": act, "threads": 1,
           "step_s": t["ours"], "steps_per_s": 1.0 / t["ours"]}
    if "reference" in t:
        r = np.array(per_round["reference"]) / np.array(per_round["ours"])  # the ratio within each round
        row.update({"vs_reference": t["reference"] / t["ours"], "reference_s": t["reference"],
                    "vs_reference_rounds": [float(r.min()), float(np.median(r)), float(r.max())]})
    if baselines:
        row.update({"vs_gemm": t["ours"] / t["gemm"], "vs_numpy": t["numpy"] / t["ours"],
                    "vs_torch": t["torch"] / t["ours"], "vs_torchsde": t["torchsde"] / t["ours"],
                    "gemm_s": t["gemm"], "numpy_s": t["numpy"], "torch_s": t["torch"], "torchsde_s": t["torchsde"]})
    return row


def bench_tanh(sizes, B, rounds, target_s):
    """tanh step time over relu step time (same net shape and weights, float64), interleaved rounds."""
    x0 = np.random.default_rng(0).normal(size=(B, sizes[0]))
    fns = {}
    for act in ("relu", "tanh"):
        net = make_net(sizes, act, "float64")
        fns[act] = ours(net, x0, step_dt(net))
    for f in fns.values():
        f(2)
    t = interleaved(fns, rounds, target_s)
    return {"net": list(sizes), "replicas": B, "tanh_over_relu": t["tanh"] / t["relu"], "relu_s": t["relu"],
            "tanh_s": t["tanh"]}


def bench_threads(sizes, B, rounds, target_s):
    net = make_net(sizes, "relu", "float64")
    x0 = np.random.default_rng(0).normal(size=(B, sizes[0]))
    dt = step_dt(net)
    fns = {"t1": ours(net, x0, dt, threads=1), "t2": ours(net, x0, dt, threads=2),
           "ref1": reference_step(net, x0, dt, 1), "ref2": reference_step(net, x0, dt, 2)}
    for f in fns.values():
        f(2)
    t = interleaved(fns, rounds, target_s, clock="wall")
    # concurrency check that a busy machine cannot fake: process CPU time over wall time of the 2-thread
    # run (about 2 when both threads compute at once; about 1 if anything serialised them)
    n = max(1, int(0.5 / t["t2"]))
    w0, c0 = time.perf_counter(), time.process_time()
    fns["t2"](n)
    cpu_over_wall = (time.process_time() - c0) / (time.perf_counter() - w0)
    return {"net": list(sizes), "replicas": B, "t1_s": t["t1"], "t2_s": t["t2"], "speedup": t["t1"] / t["t2"],
            "reference_speedup": t["ref1"] / t["ref2"], "vs_reference_2threads": t["ref2"] / t["t2"],
            "clock": "wall", "cpu_over_wall_2threads": cpu_over_wall, "load_avg": os.getloadavg()[0]}


def bench_noise(rounds):
    """ns per normal (median of rounds, 2^17 normals per call) of the generators the EM kernel uses:
    float64 (vectorised ziggurat), float32 (vectorised Box-Muller), and the scalar ziggurat."""
    from analogsim.kernels.rng import fill_normal, fill_noise_w, noise_work_rows, seed_streams

    st = seed_streams(0, 1)[0]
    w = noise_work_rows(1)[0]
    now = time.thread_time if CLOCK == "cpu" else time.perf_counter
    fns = {"float64": (lambda o: fill_noise_w(st, o, w), np.float64),
           "float32": (lambda o: fill_noise_w(st, o, w), np.float32),
           "scalar_ziggurat": (lambda o: fill_normal(st, o), np.float64)}
    out = {}
    for name, (fn, dt) in fns.items():
        buf = np.empty(1 << 17, dtype=dt)  # a chunk-sized request (L2-resident, like the kernel's)
        fn(buf[:1000])
        ts = []
        for _ in range(rounds):
            t = now()
            fn(buf)
            ts.append((now() - t) / buf.size * 1e9)
        out[name] = float(np.median(ts))
    return out


def bench_first_call(repeats=3):
    """Fresh processes, warm numba cache (median of ``repeats``): import time and the first ``relax`` call;
    and, in other processes, numba's one-time initialisation (its first compiled call of any kind, which
    imports its registries and scipy.linalg) measured apart from the rest of the first ``relax`` call."""
    common = ("import time; t0 = time.perf_counter(); import numpy as np; from analogsim import Network; "
              "from analogsim.inference.simulate import relax; t1 = time.perf_counter(); {pre}"
              "net = Network.create([4, 16, 16, 1], activations='relu', seed=0); t2 = time.perf_counter(); "
              "r = relax(net, np.zeros(4), kT=0.1, dt=0.01, n_steps=10, n_replicas=8, seed=0); "
              "t3 = time.perf_counter(); print(t1 - t0, t2 - t1, t3 - t2)")
    pre = ("from analogsim.kernels.rng import fill_uniform; "
           "fill_uniform(np.ones(4, np.uint64), np.zeros(2)); ")  # a tiny cached kernel: numba's init alone
    env = dict(os.environ)
    rows = {"plain": [], "split": []}
    for _ in range(repeats):
        for key, p in (("plain", ""), ("split", pre)):
            out = subprocess.run([sys.executable, "-c", common.format(pre=p)], capture_output=True, text=True,
                                 env=env, check=True)
            rows[key].append([float(v) for v in out.stdout.split()])
    plain = np.median(np.array(rows["plain"]), axis=0)
    split = np.median(np.array(rows["split"]), axis=0)
    return {"import_s": float(plain[0]), "first_relax_s": float(plain[1] + plain[2]),
            "numba_init_s": float(split[1]), "first_relax_after_numba_init_s": float(split[2]),
            "repeats": repeats}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer, shorter rounds")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--cases", default="0,1,2,3", help="indices of the cases to run (0..3)")
    ap.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                    help="single-thread timings by thread CPU time (default) or wall time")
    args = ap.parse_args(argv)
    rounds, target = (5, 0.03) if args.quick else (11, 0.1)
    global CLOCK
    CLOCK = args.clock
    import torch
    from threadpoolctl import threadpool_info, threadpool_limits

    import scipy.linalg.cython_blas  # noqa: F401

    torch.set_num_threads(1)
    idx = [int(i) for i in args.cases.split(",") if i]
    cases, tanh = [], []
    with threadpool_limits(limits=1, user_api="blas"):
        for i in idx:
            sizes, B = CASES[i]
            for dtype in ("float64", "float32"):
                cases.append(bench_case(sizes, B, dtype, "relu", rounds, target))
                _log(cases[-1])
            tanh.append(bench_tanh(sizes, B, rounds, target))
            _log(tanh[-1])
        thr = [bench_threads(*CASES[i], rounds, target) for i in idx if i >= 2]
        noise = bench_noise(rounds)
        # the library's file name, not its path on this machine
        blas = [{**d, "filepath": os.path.basename(d.get("filepath") or "")} for d in threadpool_info()]
    first = bench_first_call()
    out = {"cases": cases, "tanh_vs_relu": tanh, "two_threads": thr, "noise_ns_per_normal": noise["float64"],
           "noise_ns_per_normal_by_generator": noise,
           "first_call": first, "blas": blas, "targets": {str(k): v for k, v in TARGETS.items()},
           "machine": {"cpu": cpu_name(), "cores": os.cpu_count(),
                       "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
                       "OPENBLAS_L2_SIZE": os.environ.get("OPENBLAS_L2_SIZE")},
           "rounds": rounds, "clock": CLOCK}
    if args.json:
        print(json.dumps(out))
    else:
        for r in cases:
            print(f"{str(r['net']):22s} B={r['replicas']:4d} {r['dtype']:8s} {r['steps_per_s']:10.0f} steps/s  "
                  f"vs_gemm {r['vs_gemm']:.2f}  vs_numpy {r['vs_numpy']:.1f}x  vs_torch {r['vs_torch']:.1f}x  "
                  f"vs_torchsde {r['vs_torchsde']:.1f}x  vs_reference {r.get('vs_reference', float('nan')):.2f}")
        for r in tanh:
            print(f"tanh/relu {str(r['net']):22s} {r['tanh_over_relu']:.2f}")
        print("2 threads:", thr, "\nnoise ns/normal:", noise, "\nfirst call:", first)
    return 0


def _log(obj):
    print(json.dumps(obj), file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
