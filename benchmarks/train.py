"""Speed of physical training against a hand-written torch SGD loop (ratios measured in one process).

For each net ([4,16,16,1], [16,64,64,4], [64,256,256,10]; tanh hidden, identity output), dtype (float64,
float32) and batch (a minibatch of 64 entries per presentation, and 1), on one thread (threadpoolctl limits
BLAS, torch.set_num_threads(1), numba kernels are single-threaded), ``--rounds`` interleaved rounds of

1. ``train()`` for S presentations with the measured energy books (``energetics=True``, the default:
   separated time scales, kT = 0, the clamped minimum solved to solver precision by the fixed-point
   kernel at r = kappa_out/kappa_hidden = 1e-8, the stress update, the books), end to end;
2. the same without the books (``energetics=False``);
3. S_torch torch SGD steps on the same net and batch (forward, MSE 0.5|f - t|^2 averaged over the batch,
   backward, the parameter update in a Python loop over the parameter tensors);
4. ``train()`` of one presentation.

Per case (medians over the rounds of the per-round ratios):

* ``vs_torch_sgd``: torch time per step / analogsim time per presentation through ``train()`` (S
  presentations, its fixed cost included); ``vs_torch_sgd_without_fixed_cost``: the same with the
  marginal presentation time (T(S) - T(1)) / (S - 1). Ratios > 1 mean analogsim is faster.
* ``books_overhead``: (1) / (2), the cost of the energy books (target <= 1.15).
* ``train_fixed_cost_ms``: T(1) minus the marginal presentation time: what one ``train()`` call costs
  besides its presentations (setup, the loss record at its end on the training set; the record at its
  start is computed once per start (theta0, net, data) and kept, and every call here starts from the same
  network).
* ``cpu_time``: the same three figures from the thread's CPU time (``time.thread_time``) instead of the
  wall clock: on a shared machine the wall clock also counts the time other jobs hold the core.

A memory check (``--no-memory`` skips it) runs a 10^6-presentation training of the small net (kT > 0,
noise drawn in the kernel) and reports the peak traced memory against a 10^5 run. Run with

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/train.py --quick --json

(the variables are unset for the benchmark only, so that OpenBLAS picks its kernel for this CPU; the
kernel in use is reported from threadpoolctl, the CPU from /proc/cpuinfo, and the load average at the
start and end, since absolute times on a shared machine are noisy).
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
from _machine import cpu_name

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


def _setup_analogsim(sizes, dtype, batch, energetics):
    from analogsim.training import train

    net, ds = _net(sizes, dtype), _data(sizes, dtype)
    kw = dict(mu=LR / R, kappa_out=R, kT=0.0, batch_size=batch, seed=0, energetics=energetics)
    train(net, ds, presentations=10, eval_every=10, **kw)  # compile / load the kernels

    def run(S):
        t0, c0 = time.perf_counter(), time.thread_time()
        res = train(net, ds, presentations=S, eval_every=S, **kw)
        return time.perf_counter() - t0, time.thread_time() - c0, res

    return run


def _setup_torch(sizes, dtype, steps, batch):
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

    def steps_(k):
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

    steps_(20)

    def run(k):
        t0, c0 = time.perf_counter(), time.thread_time()
        steps_(k)
        return time.perf_counter() - t0, time.thread_time() - c0

    return run


def case_rows(sizes, dtype, S, batch, rounds, S_torch):
    """One net, dtype and batch: ``rounds`` interleaved rounds of [train() with books, without books, torch SGD,
    train() of one presentation]; per round the ratios; medians over rounds (and the best times) returned."""
    on = _setup_analogsim(sizes, dtype, batch, True)
    off = _setup_analogsim(sizes, dtype, batch, False)
    tt = _setup_torch(sizes, dtype, S_torch, batch)
    rows = {"t_on": [], "t_off": [], "t_torch": [], "t_one": [], "sweeps": None}
    cpu = {"t_on": [], "t_off": [], "t_torch": [], "t_one": []}
    for _ in range(rounds):
        a, ac, res = on(S)
        b, bc, _ = off(S)
        c, cc = tt(S_torch)
        d, dc, _ = on(1)
        for k, w, ct in (("t_on", a, ac), ("t_off", b, bc), ("t_torch", c / S_torch, cc / S_torch), ("t_one", d, dc)):
            rows[k].append(w)
            cpu[k].append(ct)
        rows["sweeps"] = res.books.sweeps_mean
    t_on, t_off, t_torch, t_one = (np.array(rows[k]) for k in ("t_on", "t_off", "t_torch", "t_one"))
    c_on, c_off, c_torch, c_one = (np.array(cpu[k]) for k in ("t_on", "t_off", "t_torch", "t_one"))
    c_marg = (c_on - c_one) / (S - 1)
    marg = (t_on - t_one) / (S - 1)  # per presentation without train()'s fixed cost
    fixed = t_one - marg
    med = np.median
    return {"net": "-".join(map(str, sizes)), "dtype": dtype, "batch": batch, "presentations": S, "rounds": rounds,
            "vs_torch_sgd": float(med(t_torch / (t_on / S))),
            "vs_torch_sgd_without_fixed_cost": float(med(t_torch / marg)),
            "books_overhead": float(med(t_on / t_off)),
            "train_fixed_cost_ms": float(med(fixed) * 1e3),
            "us_per_presentation_books": float(np.min(t_on) / S * 1e6),
            "us_per_presentation_no_books": float(np.min(t_off) / S * 1e6),
            "us_per_presentation_marginal": float(med(marg) * 1e6),
            "torch_us_per_step": float(np.min(t_torch) * 1e6),
            "ratios_per_round": {"vs_torch_sgd": (t_torch / (t_on / S)).round(3).tolist(),
                                 "books_overhead": (t_on / t_off).round(3).tolist()},
            # the same ratios from the thread's CPU time (time.thread_time): on a shared machine the wall
            # clock also counts the time other jobs hold the core; the CPU time counts the work done
            "cpu_time": {"vs_torch_sgd": float(med(c_torch / (c_on / S))),
                         "books_overhead": float(med(c_on / c_off)),
                         "train_fixed_cost_ms": float(med(c_one - c_marg) * 1e3),
                         "ratios_per_round": {"vs_torch_sgd": (c_torch / (c_on / S)).round(3).tolist(),
                                              "books_overhead": (c_on / c_off).round(3).tolist()}},
            "sweeps_mean": rows["sweeps"]}


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
    ap.add_argument("--quick", action="store_true", help="fewer presentations and rounds")
    ap.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    ap.add_argument("--rounds", type=int, default=None, help="interleaved rounds per case (5; --quick 3)")
    ap.add_argument("--no-memory", action="store_true", help="skip the 10^6-presentation memory check")
    ap.add_argument("--batch64-only", action="store_true", help="only the minibatch-64 rows")
    args = ap.parse_args(argv)
    import scipy.linalg.cython_blas  # noqa: F401 - load the BLAS the numba kernels call before limiting threads
    import torch
    from threadpoolctl import threadpool_info, threadpool_limits

    torch.set_num_threads(1)
    rounds = args.rounds or (3 if args.quick else 5)
    scale = 0.25 if args.quick else 1.0
    cases = []
    load0 = os.getloadavg()
    with threadpool_limits(limits=1):
        for sizes in NETS:
            big = sizes[1] >= 256
            S1 = int((2000 if big else 20000) * scale)
            S64 = int((200 if big else 2000) * scale)
            for dtype in ("float64", "float32"):
                for batch, S in ((64, S64), (1, S1)):
                    if batch == 1 and args.batch64_only:
                        continue
                    St = max(20, S // (4 if big else 10))
                    c = case_rows(sizes, dtype, S, batch, rounds, St)
                    cases.append(c)
                    # progress on stderr (the JSON goes to stdout)
                    print(f"{c['net']:>14} {dtype} batch {batch:>2}: vs torch SGD x{c['vs_torch_sgd']:.2f} "
                          f"(without train()'s fixed cost x{c['vs_torch_sgd_without_fixed_cost']:.2f}; "
                          f"{c['us_per_presentation_books']:.1f} us vs torch {c['torch_us_per_step']:.1f} us), "
                          f"books x{c['books_overhead']:.3f}, fixed {c['train_fixed_cost_ms']:.2f} ms, "
                          f"CPU time: vs torch x{c['cpu_time']['vs_torch_sgd']:.2f}, books "
                          f"x{c['cpu_time']['books_overhead']:.3f}, "
                          f"fixed {c['cpu_time']['train_fixed_cost_ms']:.2f} ms, "
                          f"sweeps {c['sweeps_mean']:.2f}", file=sys.stderr, flush=True)
        blas = [{**{k: d.get(k) for k in ("user_api", "internal_api", "version", "architecture", "num_threads")},
                 "library": os.path.basename(d.get("filepath") or "")} for d in threadpool_info()]
        memory = None if args.no_memory else memory_check(100_000, 1_000_000)
    out = {"cases": cases, "blas": blas, "memory": memory,
           "settings": {"r": R, "lr": LR, "kT": 0.0, "rounds": rounds, "quick": args.quick,
                        "threads": 1, "torch": torch.__version__, "numpy": np.__version__,
                        "python": platform.python_version(), "machine": platform.machine(),
                        "cpu": cpu_name(), "cpu_count": os.cpu_count(), "load_avg_start": load0,
                        "load_avg_end": os.getloadavg(),
                        "openblas_env_unset": "OPENBLAS_CORETYPE" not in os.environ}}
    if args.json:
        print(json.dumps(out))
    else:
        print(json.dumps({"blas": blas, "memory": memory}, indent=1), file=sys.stderr)
    return 0




if __name__ == "__main__":
    sys.exit(main())
