"""Speed of physical training against a hand-written torch SGD loop (ratios measured in one process).

For each net ([4,16,16,1], [16,64,64,4], [64,256,256,10]; tanh hidden, identity output) and dtype
(float64, float32), on one thread (threadpoolctl limits BLAS, torch.set_num_threads(1), numba kernels
are single-threaded):

* ``vs_torch_sgd_single``: time of one torch SGD step on one sample (forward, MSE 0.5|f - t|^2,
  backward, parameter update in a Python loop over the parameter tensors) divided by the time of one
  analogsim presentation (separated time scales, kT = 0: the clamped minimum solved to machine
  precision by the fixed-point kernel at r = kappa_out/kappa_hidden = 1e-8, the stress update, and the
  energy books), measured end to end through ``analogsim.training.train``.
* ``vs_torch_sgd_batch64``: the same with a minibatch of 64 entries per step in both (analogsim:
  ``batch_size=64``, one presentation of 64 clamped entries whose stresses are averaged).

Ratios > 1 mean analogsim is faster. Each time is the best of ``--repeats`` runs.

* ``books_overhead_single`` / ``books_overhead_batch64``: time of a presentation with the measured energy
  books (switching work, neuron heat, parameter heat, first law; ``energetics=True``, the default) over
  the same run without them (``energetics=False``), measured alternately in one process (the target is
  <= 1.15). ``--books-only`` runs just these rows. A memory check runs a
10^6-presentation training of the small net (kT > 0, noise drawn in the kernel) and reports the peak
traced memory against a 10^5 run. Run with

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/train.py --quick --json

(the variables are unset for the benchmark only, so that OpenBLAS picks its kernel for this CPU; the
kernel in use is reported from threadpoolctl).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import tracemalloc

import numpy as np

NETS = [[4, 16, 16, 1], [16, 64, 64, 4], [64, 256, 256, 10]]
R = 1e-8
LR = 1e-3


def _data(sizes, dtype, n=512):
    from analogsim.data import teacher_student

    return teacher_student(n_in=sizes[0], n_out=sizes[-1], n_train=n, n_test=0, teacher_hidden=(8,),
                           label_noise=0.1, seed=0, dtype=dtype)


def _net(sizes, dtype):
    from analogsim import Network

    L = len(sizes) - 1
    return Network.create(sizes, activations=["tanh"] * (L - 1) + ["identity"], kappa=1.0, seed=1, dtype=dtype)


def time_analogsim(sizes, dtype, S, batch, repeats, energetics=True):
    from analogsim.training import train

    net, ds = _net(sizes, dtype), _data(sizes, dtype)
    kw = dict(mu=LR / R, kappa_out=R, kT=0.0, batch_size=batch, seed=0, energetics=energetics)
    train(net, ds, presentations=min(S, 50), eval_every=min(S, 50), **kw)  # compile / load the kernels
    best, info = np.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        res = train(net, ds, presentations=S, eval_every=S, **kw)
        dt = (time.perf_counter() - t0) / S
        if dt < best:
            best, info = dt, res.books
    return best, {"sweeps_mean": info.sweeps_mean, "fallbacks": 0}


def books_overhead(sizes, dtype, S, batch, repeats):
    """(time with the energy books) / (time without), each the best of ``repeats`` alternating runs."""
    on, off = np.inf, np.inf
    for _ in range(repeats):
        off = min(off, time_analogsim(sizes, dtype, S, batch, 1, energetics=False)[0])
        on = min(on, time_analogsim(sizes, dtype, S, batch, 1, energetics=True)[0])
    return on / off, on, off


def time_torch(sizes, dtype, steps, batch, repeats):
    import torch

    tdt = torch.float64 if dtype == "float64" else torch.float32
    net, ds = _net(sizes, dtype), _data(sizes, dtype)
    Ws = [torch.tensor(w.copy(), dtype=tdt, requires_grad=True) for w in net.weights]
    bs = [torch.tensor(b.copy(), dtype=tdt, requires_grad=True) for b in net.biases]
    params = Ws + bs
    X = torch.tensor(ds.x_train, dtype=tdt)
    T = torch.tensor(ds.t_train, dtype=tdt)
    n = X.shape[0]
    rng = np.random.default_rng(0)
    idx = [torch.as_tensor(rng.integers(0, n, size=batch)) for _ in range(steps)]
    L = len(Ws)

    def run(k):
        for i in range(k):
            rows = idx[i % steps]
            h = X[rows]
            for li in range(L):
                h = h @ Ws[li].T + bs[li]
                if li < L - 1:
                    h = torch.tanh(h)
            loss = 0.5 * ((h - T[rows]) ** 2).sum(1).mean()
            loss.backward()
            with torch.no_grad():
                for p in params:
                    p -= LR * p.grad
                    p.grad = None

    run(20)
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        run(steps)
        best = min(best, (time.perf_counter() - t0) / steps)
    return best


def memory_check(S_short, S_long):
    from analogsim.training import train

    net, ds = _net(NETS[0], "float64"), _data(NETS[0], "float64")
    kw = dict(mu=LR / 1e-3, kappa_out=1e-3, kT=1e-9, seed=0)
    train(net, ds, presentations=S_short, **kw)
    out = {}
    for S in (S_short, S_long):
        tracemalloc.start()
        t0 = time.perf_counter()
        train(net, ds, presentations=S, **kw)
        out[str(S)] = {"peak_traced_bytes": tracemalloc.get_traced_memory()[1],
                       "seconds": round(time.perf_counter() - t0, 2)}
        tracemalloc.stop()
    a, b = (out[str(S)]["peak_traced_bytes"] for S in (S_short, S_long))
    out["flat"] = bool(b < a + 500_000)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer presentations and repeats")
    ap.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--no-memory", action="store_true", help="skip the 10^6-presentation memory check")
    ap.add_argument("--books-only", action="store_true", help="only the energy books' overhead rows")
    args = ap.parse_args(argv)
    import scipy.linalg.cython_blas  # noqa: F401 - load the BLAS the numba kernels call before limiting threads
    import torch
    from threadpoolctl import threadpool_info, threadpool_limits

    torch.set_num_threads(1)
    repeats = args.repeats or (3 if args.quick else 5)
    scale = 0.25 if args.quick else 1.0
    cases = []
    with threadpool_limits(limits=1):
        for sizes in NETS:
            big = sizes[1] >= 256
            S1 = int((2000 if big else 20000) * scale)
            S64 = int((200 if big else 2000) * scale)
            for dtype in ("float64", "float32"):
                o1, a1b, a1n = books_overhead(sizes, dtype, S1, 1, repeats)
                o64, a64b, a64n = books_overhead(sizes, dtype, S64, 64, repeats)
                books = {"net": "-".join(map(str, sizes)), "dtype": dtype, "books_overhead_single": o1,
                         "books_overhead_batch64": o64, "us_per_presentation_books": a1b * 1e6,
                         "us_per_presentation_no_books": a1n * 1e6, "us_per_batch64_books": a64b * 1e6,
                         "us_per_batch64_no_books": a64n * 1e6}
                if not args.json:
                    print(f"{books['net']:>14} {dtype}: books overhead single x{o1:.3f} ({a1b * 1e6:.1f} vs "
                          f"{a1n * 1e6:.1f} us), batch64 x{o64:.3f} ({a64b * 1e6:.1f} vs {a64n * 1e6:.1f} us)",
                          file=sys.stderr, flush=True)
                if args.books_only:
                    cases.append(books)
                    continue
                a1, info = time_analogsim(sizes, dtype, S1, 1, repeats)
                t1 = time_torch(sizes, dtype, max(50, int(S1 / (4 if big else 20))), 1, repeats)
                a64, _ = time_analogsim(sizes, dtype, S64, 64, repeats)
                t64 = time_torch(sizes, dtype, max(20, S64 // 4), 64, repeats)
                case = {"net": "-".join(map(str, sizes)), "dtype": dtype,
                        "vs_torch_sgd_single": t1 / a1, "vs_torch_sgd_batch64": t64 / a64,
                        "analogsim_us_per_presentation": a1 * 1e6, "torch_us_per_step": t1 * 1e6,
                        "analogsim_us_per_batch64": a64 * 1e6, "torch_us_per_batch64_step": t64 * 1e6,
                        "sweeps_mean": info["sweeps_mean"], **{k: v for k, v in books.items() if k.startswith("b")
                                                                   or k.startswith("us_")}}
                cases.append(case)
                if not args.json:
                    print(f"{case['net']:>14} {dtype}: single x{case['vs_torch_sgd_single']:.2f} "
                          f"({a1 * 1e6:.1f} us vs torch {t1 * 1e6:.1f} us), "
                          f"batch64 x{case['vs_torch_sgd_batch64']:.2f} "
                          f"({a64 * 1e6:.1f} us vs {t64 * 1e6:.1f} us), sweeps {info['sweeps_mean']:.2f}",
                          file=sys.stderr, flush=True)
        blas = [{k: d.get(k) for k in ("user_api", "internal_api", "version", "architecture", "num_threads",
                                        "filepath")} for d in threadpool_info()]
        memory = None if (args.no_memory or args.books_only) else memory_check(100_000, 1_000_000)
    out = {"cases": cases, "blas": blas, "memory": memory,
           "settings": {"r": R, "lr": LR, "kT": 0.0, "repeats": repeats, "quick": args.quick,
                        "threads": 1, "torch": torch.__version__, "numpy": np.__version__,
                        "python": platform.python_version(), "machine": platform.machine(),
                        "cpu_count": os.cpu_count(), "load_avg": os.getloadavg(),
                        "openblas_env_unset": "OPENBLAS_CORETYPE" not in os.environ}}
    if args.json:
        print(json.dumps(out))
    else:
        print(json.dumps({"blas": blas, "memory": memory}, indent=1), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
