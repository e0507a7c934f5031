"""Has the dense chain become slower? Interleaved A/B of a reference commit ("old") against the working tree ("new").

The dense chain (``analogsim.Network``, ``analogsim.relax``, ``analogsim.training.train``) must not slow down by
more than 5 % (in particular through the graph networks added from commit fa63a12 on). Absolute times on a shared
machine drift by far more than 5 % between minutes, so this script compares the two versions *in one run*: it
checks the reference out into a temporary ``git worktree`` (``--ref``, default ``fa63a12^``, the commit before the
graph networks; removed at the end, also on errors and on SIGTERM), and in ``--rounds`` interleaved rounds runs
every case once with the old and once with the new ``analogsim`` (which goes first alternates from round to
round), each in a fresh subprocess of the same Python that imports ``analogsim`` from that checkout (the worker
checks ``analogsim.__file__``). Before the rounds one warm-up subprocess per side runs every case once, so that
numba compiles and caches its kernels (the first run of a fresh worktree compiles them all: one to a few minutes);
each timed worker warms up again in its own process, then takes the best of 3 repeats of the case
(``time.perf_counter``; the thread's CPU time ``time.thread_time`` alongside). One thread everywhere: threadpoolctl
limits BLAS (after loading the BLAS the numba kernels call), ``NUMBA_NUM_THREADS=1``, ``relax(threads=1)``.

Cases (tanh hidden layers, identity output, kappa = 1, ``Network.create(..., seed=1)``; nets tiny [4,16,16,1],
small [16,64,64,4], medium [64,256,256,10]):

* ``train_<net>_<dtype>``: ``train()`` of a teacher-student data set (512 entries, teacher hidden (8,), label
  noise 0.1, seed 0) for 200 presentations of a minibatch of 64 entries (tiny 2000, small 1000, so that every
  timed call does 0.1-1 s of work), separated fidelity, kT = 0,
  kappa_out = 1e-8 (the clamped minimum at r = 1e-8 by the fixed-point kernel), mu = 1e-3/1e-8, the loss records
  at the start and end only (``eval_every`` = presentations), seed 0. Both sides run with the same settings: the
  reference has the variance books (``books=True``, the default in both) but no measured energy books
  (``energetics``, added in 47a90bc, after fa63a12), so the new side runs with ``energetics=False``. Where the
  reference has ``energetics`` too (a later ``--ref``) both sides get the same value.
* ``train_medium_f64_energetics`` (only with ``--cases``): the same with each side's defaults, i.e. the new side
  with its energy books (``energetics=True``) against the reference without them: what a default call costs now,
  not a like-for-like comparison.
* ``relax_<net>_<dtype>``: ``relax()``, Euler-Maruyama, free output, one input row (N(0, 1), seed 0) with 32
  replicas for 20000 steps (tiny) or 256 replicas for 100 steps (medium), kT = 0.01, dt = 0.005, seed 0, the
  default records (books and energy moments) and the stability guard at its default (``stability='auto'`` in
  both; note the guards differ: the reference estimates the x-Hessian's largest eigenvalue on every call, the
  new version caches its guard per network parameters and clamp set, so after the warm-up the new side skips it);
  ``relax_<net>_<dtype>_nocheck``: the same with ``stability='off'`` (the stepping alone).

Per case (``cases`` in the JSON): ``median_ratio`` = median over the rounds of new time / old time (> 1: the new
version is slower), ``min_ratio``, ``max_ratio``, ``best_ratio`` (best new time / best old time over all rounds),
the same from the CPU time (``cpu_median_ratio``, ``cpu_best_ratio``), the per-round ratios, the best times, a
check value from each side (train: final training loss; relax: mean final energy; equal or close when the two
versions compute the same thing) and ``verdict``: ``slowed`` where ``median_ratio`` > 1.05, else ``ok``; a case
that failed is an ``error`` row with the message. Also reported: the two commits, the CPU model, the BLAS kernel
(threadpoolctl ``architecture``) and the load average at the start and end. Run with

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/ab_dense.py --json > out.json

(the variables are unset for the benchmark only, so that OpenBLAS picks its kernel for this CPU); ``--quick`` runs
3 rounds instead of 7, ``--cases train_tiny_f64,relax_medium_f64`` a subset, ``--ref`` another reference.
Progress goes to stderr; without ``--json`` a summary line per case goes to stdout. The exit status is 1 where a
case failed. ``--worker DIR --case NAME`` is the internal worker mode.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from _machine import blas_kernels, cpu_name

TINY, SMALL, MEDIUM = [4, 16, 16, 1], [16, 64, 64, 4], [64, 256, 256, 10]
R = 1e-8
LR = 1e-3
SLOWED = 1.05
REPEATS = 3


def _train(sizes, dtype, presentations, **kw):
    return dict(kind="train", sizes=sizes, dtype=dtype, presentations=presentations, **kw)


def _relax(sizes, dtype, replicas, n_steps, stability="auto"):
    return dict(kind="relax", sizes=sizes, dtype=dtype, replicas=replicas, n_steps=n_steps, stability=stability)


CASES = {
    "train_tiny_f64": _train(TINY, "float64", 2000),
    "train_small_f64": _train(SMALL, "float64", 1000),
    "train_medium_f64": _train(MEDIUM, "float64", 200),
    "train_small_f32": _train(SMALL, "float32", 1000),
    "train_medium_f32": _train(MEDIUM, "float32", 200),
    "relax_tiny_f64": _relax(TINY, "float64", 32, 20000),
    "relax_medium_f64": _relax(MEDIUM, "float64", 256, 100),
    "relax_tiny_f64_nocheck": _relax(TINY, "float64", 32, 20000, "off"),
    "relax_medium_f64_nocheck": _relax(MEDIUM, "float64", 256, 100, "off"),
    "relax_medium_f32_nocheck": _relax(MEDIUM, "float32", 256, 100, "off"),
    # not like for like (each side's defaults): only when named in --cases
    "train_medium_f64_energetics": _train(MEDIUM, "float64", 200, energetics=True, defaults=True),
}
DEFAULT_CASES = [k for k, c in CASES.items() if not c.get("defaults")]


# ----------------------------------------------------------------------------- worker (runs inside one checkout)
def _setup(case):
    """(run, settings): run() does the case's work once and returns a check value."""
    import numpy as np

    from analogsim import Network

    sizes, dtype = case["sizes"], case["dtype"]
    L = len(sizes) - 1
    net = Network.create(sizes, activations=["tanh"] * (L - 1) + ["identity"], kappa=1.0, seed=1, dtype=dtype)
    if case["kind"] == "train":
        import dataclasses

        from analogsim.data import teacher_student
        from analogsim.training import TrainConfig, train

        ds = teacher_student(n_in=sizes[0], n_out=sizes[-1], n_train=512, n_test=0, teacher_hidden=(8,),
                             label_noise=0.1, seed=0, dtype=dtype)
        S = case["presentations"]
        kw = dict(mu=LR / R, kappa_out=R, kT=0.0, batch_size=64, fidelity="separated", seed=0)
        has_energetics = "energetics" in {f.name for f in dataclasses.fields(TrainConfig)}
        if has_energetics:
            kw["energetics"] = bool(case.get("energetics", False))

        def run():
            return float(train(net, ds, presentations=S, eval_every=S, **kw).final_train_loss)

        settings = {k: v for k, v in kw.items() if k != "seed"}
        settings.update(presentations=S, energetics=kw.get("energetics", "not in this version"))
        return run, settings
    from analogsim import relax

    x0 = np.random.default_rng(0).standard_normal(sizes[0]).astype(dtype)
    kw = dict(kT=0.01, dt=0.005, n_steps=case["n_steps"], n_replicas=case["replicas"], stability=case["stability"],
              threads=1, seed=0)

    def run():
        return float(np.mean(relax(net, x0, **kw).energy_end))

    return run, {k: v for k, v in kw.items() if k != "seed"}


def worker(root, names, warmup_only):
    root = os.path.realpath(root)
    sys.path.insert(0, root)
    import warnings

    warnings.simplefilter("ignore")  # stability/EM-bias warnings: the same settings on both sides
    import scipy.linalg.cython_blas  # noqa: F401 - load the BLAS the numba kernels call before limiting threads
    from threadpoolctl import threadpool_limits

    import analogsim

    where = os.path.realpath(analogsim.__file__)
    if not where.startswith(root + os.sep):
        raise SystemExit(f"analogsim was imported from {where}, not from the checkout {root}")
    with threadpool_limits(limits=1):
        for name in names:
            run, settings = _setup(CASES[name])
            t0, c0 = time.perf_counter(), time.thread_time()
            check = run()  # compiles the kernels (or loads them from numba's cache)
            out = {"case": name, "first_call_seconds": time.perf_counter() - t0,
                   "first_call_cpu_seconds": time.thread_time() - c0, "check": check}
            if not warmup_only:
                best, best_cpu = float("inf"), float("inf")
                for _ in range(REPEATS):
                    t0, c0 = time.perf_counter(), time.thread_time()
                    check = run()
                    best, best_cpu = min(best, time.perf_counter() - t0), min(best_cpu, time.thread_time() - c0)
                out.update(seconds=best, cpu_seconds=best_cpu, check=check)
            out.update(analogsim_file=where, analogsim_version=getattr(analogsim, "__version__", None),
                       settings=settings)
            print(json.dumps(out), flush=True)
    return 0


# ----------------------------------------------------------------------------- driver
class CaseError(RuntimeError):
    pass


def _call_worker(side, root, names, warmup_only, timeout):
    """Run a worker subprocess on checkout ``root``; one dict per case name, or CaseError naming case and side."""
    env = dict(os.environ, NUMBA_NUM_THREADS="1")
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", root, "--case", ",".join(names)]
    if warmup_only:
        cmd.append("--warmup-only")
    what = f"{'warm-up' if warmup_only else 'case'} {','.join(names)} on the {side} side ({root})"
    try:
        p = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise CaseError(f"{what}: no result within {timeout:.0f} s") from None
    rows = {}
    for line in p.stdout.splitlines():
        if line.startswith("{"):
            try:
                d = json.loads(line)
            except ValueError:
                continue
            rows[d.get("case")] = d
    if p.returncode != 0 or any(n not in rows for n in names):
        tail = (p.stderr or "").strip().splitlines()[-12:]
        raise CaseError(f"{what}: exit status {p.returncode}, no result for "
                        f"{[n for n in names if n not in rows]}:\n    " + "\n    ".join(tail))
    return rows


def _git(root, *args, check=True):
    p = subprocess.run(["git", "-C", root, *args], capture_output=True, text=True)
    if check and p.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {p.stderr.strip()}")
    return p.stdout.strip()


def _median(a):
    s = sorted(a)
    n = len(s)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


def _summary(name, per_round):
    old = [r["old"]["seconds"] for r in per_round]
    new = [r["new"]["seconds"] for r in per_round]
    ratios = [b / a for a, b in zip(old, new)]
    cpu = [r["new"]["cpu_seconds"] / r["old"]["cpu_seconds"] for r in per_round]
    med = _median(ratios)
    last = per_round[-1]
    return {"case": name, "rounds": len(per_round), "median_ratio": med, "min_ratio": min(ratios),
            "max_ratio": max(ratios), "best_ratio": min(new) / min(old), "cpu_median_ratio": _median(cpu),
            "cpu_best_ratio": min(r["new"]["cpu_seconds"] for r in per_round)
            / min(r["old"]["cpu_seconds"] for r in per_round),
            "ratios_per_round": [round(x, 4) for x in ratios], "cpu_ratios_per_round": [round(x, 4) for x in cpu],
            "old_best_seconds": min(old), "new_best_seconds": min(new),
            "check_old": last["old"]["check"], "check_new": last["new"]["check"],
            "settings_old": last["old"]["settings"], "settings_new": last["new"]["settings"],
            "verdict": "slowed" if med > SLOWED else "ok"}


def run_ab(args, names):
    root = os.path.realpath(_git(os.path.dirname(os.path.abspath(__file__)), "rev-parse", "--show-toplevel"))
    ref_commit = _git(root, "rev-parse", "--verify", f"{args.ref}^{{commit}}")
    head = _git(root, "rev-parse", "HEAD")
    dirty = _git(root, "--no-optional-locks", "status", "--porcelain", "--untracked-files=no", "--", "analogsim",
                 check=False).splitlines()
    rounds = args.rounds or (3 if args.quick else 7)
    load0 = [round(x, 2) for x in os.getloadavg()]
    log = lambda *a: print(*a, file=sys.stderr, flush=True)  # noqa: E731
    tmp = tempfile.mkdtemp(prefix="analogsim-ab-")
    old_root = os.path.join(tmp, "ref")
    errors, per_round = {}, {n: [] for n in names}
    warm = {}
    try:
        _git(root, "worktree", "add", "--detach", old_root, ref_commit)
        old_root = os.path.realpath(old_root)
        sides = {"old": old_root, "new": root}
        log(f"old: {args.ref} = {ref_commit[:12]} (worktree); new: the working tree (HEAD {head[:12]}"
            f"{', ' + str(len(dirty)) + ' changed files under analogsim/' if dirty else ''}); {rounds} rounds")
        for side, path in sides.items():  # compile (and cache) the kernels before any timing
            t0 = time.perf_counter()
            log(f"warm-up {side} ...")
            try:
                warm[side] = _call_worker(side, path, names, True, args.timeout)
            except CaseError as e:  # one case broken: warm up the others one by one, the broken one is an error row
                log(f"  {e}")
                warm[side] = {}
                for n in names:
                    if n in errors:
                        continue
                    try:
                        warm[side].update(_call_worker(side, path, [n], True, args.timeout))
                    except CaseError as e1:
                        errors[n] = str(e1)
            log(f"  done in {time.perf_counter() - t0:.0f} s")
        for r in range(rounds):
            order = ("old", "new") if r % 2 == 0 else ("new", "old")
            for n in names:
                if n in errors:
                    continue
                res = {}
                try:
                    for side in order:
                        res[side] = _call_worker(side, sides[side], [n], False, args.timeout)[n]
                except CaseError as e:
                    errors[n] = str(e)
                    log(f"round {r + 1}/{rounds} {n}: ERROR {e}")
                    continue
                per_round[n].append(res)
                log(f"round {r + 1}/{rounds} {n:>28}: old {res['old']['seconds']:.4f} s, new "
                    f"{res['new']['seconds']:.4f} s, new/old {res['new']['seconds'] / res['old']['seconds']:.3f} "
                    f"(CPU {res['new']['cpu_seconds'] / res['old']['cpu_seconds']:.3f}; {order[0]} first)")
    finally:
        p = subprocess.run(["git", "-C", root, "worktree", "remove", "--force", old_root], capture_output=True,
                           text=True)
        if p.returncode != 0 and os.path.exists(old_root):
            log(f"could not remove the worktree {old_root}: {p.stderr.strip()} (git worktree prune removes its "
                f"record once the folder is gone)")
        shutil.rmtree(tmp, ignore_errors=True)
        subprocess.run(["git", "-C", root, "worktree", "prune"], capture_output=True)
    cases = []
    for n in names:
        if n in errors:
            cases.append({"case": n, "verdict": "error", "error": errors[n]})
            continue
        c = _summary(n, per_round[n])
        c["first_call_seconds"] = {s: warm[s][n]["first_call_seconds"] for s in ("old", "new") if n in warm.get(s, {})}
        # where each side imported analogsim from, relative to its checkout (no paths of this machine in results)
        c["analogsim_file"] = {s: os.path.join("ref checkout" if s == "old" else "working tree",
                                               os.path.relpath(per_round[n][-1][s]["analogsim_file"],
                                                               old_root if s == "old" else root))
                               for s in ("old", "new")}
        cases.append(c)
    return {"cases": cases, "slowed": [c["case"] for c in cases if c["verdict"] == "slowed"],
            "errors": [c["case"] for c in cases if c["verdict"] == "error"],
            "settings": {"ref": args.ref, "ref_commit": ref_commit, "new": "working tree", "head": head,
                         "changed_files_under_analogsim": len(dirty), "rounds": rounds, "repeats": REPEATS,
                         "slowed_above": SLOWED, "quick": args.quick, "threads": 1, "cpu": cpu_name(),
                         "cpu_count": os.cpu_count(), "blas": blas_kernels(), "python": platform.python_version(),
                         "machine": platform.machine(), "load_avg_start": load0,
                         "load_avg_end": [round(x, 2) for x in os.getloadavg()],
                         "openblas_env_unset": "OPENBLAS_CORETYPE" not in os.environ}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ref", default="fa63a12^", help="reference commit (old side; default fa63a12^)")
    ap.add_argument("--quick", action="store_true", help="3 rounds instead of 7")
    ap.add_argument("--rounds", type=int, default=None, help="interleaved rounds (7; --quick 3)")
    ap.add_argument("--cases", default=None,
                    help=f"comma-separated case names (default: {','.join(DEFAULT_CASES)}; also "
                         f"{','.join(k for k in CASES if k not in DEFAULT_CASES)})")
    ap.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds allowed per worker subprocess (600)")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--case", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--warmup-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker(args.worker, args.case.split(","), args.warmup_only)
    names = DEFAULT_CASES if not args.cases else [n.strip() for n in args.cases.split(",") if n.strip()]
    unknown = [n for n in names if n not in CASES]
    if unknown:
        ap.error(f"unknown cases {unknown}; known: {', '.join(CASES)}")
    if args.rounds is not None and args.rounds < 1:
        ap.error("--rounds must be at least 1")
    # SIGTERM as an exception, so that the worktree is removed on the way out
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    out = run_ab(args, names)
    if args.json:
        print(json.dumps(out))
    else:
        for c in out["cases"]:
            if c["verdict"] == "error":
                print(f"{c['case']:>28}: ERROR {c['error']}")
                continue
            print(f"{c['case']:>28}: new/old median {c['median_ratio']:.3f} (min {c['min_ratio']:.3f}, max "
                  f"{c['max_ratio']:.3f}, best {c['best_ratio']:.3f}; CPU median {c['cpu_median_ratio']:.3f}) "
                  f"{c['verdict']}; check old {c['check_old']:.6g} new {c['check_new']:.6g}")
        s = out["settings"]
        print(f"ref {s['ref']} = {s['ref_commit'][:12]}; CPU {s['cpu']}; BLAS "
              f"{[b['architecture'] for b in s['blas']]}; load {s['load_avg_start']} -> {s['load_avg_end']}")
    return 1 if out["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
