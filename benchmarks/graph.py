"""Speed of graph networks against torch eager on the same conv net and batch (ratios measured in one process).

The net is the one of the digits example: 1x8x8 input, conv 1->8 3x3 (padding 1) tanh, conv 8->16 3x3 stride 2
(padding 1) tanh, dense -> 10 identity (3818 trainable parameters, 778 neurons). One thread everywhere
(threadpoolctl limits BLAS; torch.set_num_threads(1)). Rows:

* ``em_step``: one Euler-Maruyama step of 256 replicas (free output, kT = 0.1), measured through
  ``analogsim.inference.graph.relax`` (books included: heat per step, no moments) against torch eager doing the
  same step (forward, gradient of H in the neurons, noisy update): with autograd and with a hand-written gradient
  (conv_transpose2d); the faster torch variant is the reference.
* ``train_presentation``: one presentation of a minibatch (batch 16 and 64) in
  ``analogsim.training.graph.train`` (fixed-point clamped minimum at r = kappa_out/kappa_hidden = 1e-3, 6
  sweeps, and at r = 1e-8, the backprop limit the dense-chain benchmark uses, ~2 sweeps; stress update with
  noise at kT > 0; books) against two torch eager references, learning rate 0.05 in all: (1) torch doing the
  same presentation (``_torch_presentation``: the switch's energy, as many sweeps as analogsim took, the
  acceptance test, the stress gradient with hand-written adjoints and ``torch.nn.grad.conv2d_weight``, whose
  weight gradients are ~2x faster than autograd's on these shapes, the noisy step, the energy after it), checked
  against analogsim (``torch_presentation_vs_analogsim``: stress gradient and minimum energy on one minibatch);
  (2) one torch SGD step (forward, MSE, autograd backward, update), backprop without the physics' second sweep,
  books and noise. ``--rounds`` interleaved rounds (analogsim S presentations, torch S of each); the analogsim
  time per presentation is taken between the hook's stamps at presentations 1 and S - 1, so the setup and the
  loss records at the start and end of ``train`` are outside it. Reported: medians, the ratio per round
  (``ratio_vs_torch_presentation``, ``ratio`` against SGD), and the run's sweeps per presentation, the largest
  relative gradient norm reached at a clamped minimum, Newton fallbacks and the first-law residual (the
  presentations timed are exact ones).
* ``dense_chain_check`` (``--dense-check``): the dense chain's rows re-run in subprocesses
  (``benchmarks/train.py --quick --no-memory --batch64-only`` and ``benchmarks/relax.py --quick --cases 0``)
  and their ratios against torch compared with the committed figures (``DENSE_REFERENCE``); a row whose ratio
  fell by more than 5 % is marked ``slowed``. Ratios against torch measured in one process are what is
  comparable between a run now and a committed run on a differently loaded machine; absolute times are not.

Ratios > 1 mean analogsim is faster. The EM row takes the best of 5 repeats (2 with ``--quick``). Run with

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/graph.py --json

(the variables are unset for the benchmark only, so that OpenBLAS picks its kernel for this CPU; the kernel in
use is reported from threadpoolctl).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np
from _machine import cpu_name


def build(dtype="float64"):
    from analogsim.graph import GraphBuilder

    b = GraphBuilder((1, 8, 8))
    c1 = b.conv(b.input, 8, 3, padding=1, activation="tanh")
    c2 = b.conv(c1, 16, 3, stride=2, padding=1, activation="tanh")
    b.dense(c2, 10)
    return b.build(seed=0, kappa=1.0, dtype=dtype)


def _digits(dtype):
    from analogsim.data.images import digits_images

    return digits_images(seed=0, dtype=dtype)[0]


def time_em_analogsim(net, x0, steps, repeats):
    from analogsim.inference.graph import relax

    kw = dict(kT=0.1, dt=0.01, n_steps=steps, n_replicas=256, check_stability=False, moments=False)
    relax(net, x0, seed=0, **{**kw, "n_steps": 2})
    best = np.inf
    for r in range(repeats):
        t0 = time.perf_counter()
        relax(net, x0, seed=r, **kw)
        best = min(best, (time.perf_counter() - t0) / steps)
    return best


def _torch_params(torch, net):
    t = lambda a: torch.tensor(np.array(a), dtype=torch.float64 if net.dtype == np.float64 else torch.float32)  # noqa
    W1, W2, W3 = (t(e.op.weight) for e in net.edges)
    b1, b2, b3 = (t(b) for b in net.biases)
    return W1, W2, W3, b1, b2, b3


def time_em_torch(net, x0, steps, repeats, hand):
    import torch
    import torch.nn.functional as F

    W1, W2, W3, b1, b2, b3 = _torch_params(torch, net)
    dt_, kT = 0.01, 0.1
    noise = float(np.sqrt(2 * kT * dt_))
    tdt = W1.dtype
    B = 256
    xin = torch.tensor(np.broadcast_to(x0, (B, 64)).reshape(B, 1, 8, 8).copy(), dtype=tdt)

    def init():
        x1 = torch.tanh(F.conv2d(xin, W1, b1, padding=1))
        x2 = torch.tanh(F.conv2d(x1, W2, b2, stride=2, padding=1))
        x3 = x2.flatten(1) @ W3.T + b3
        return [x1.clone(), x2.clone(), x3.clone()]

    def step_autograd(xs):
        xs = [x.detach().requires_grad_(True) for x in xs]
        x1, x2, x3 = xs
        d1 = x1 - torch.tanh(F.conv2d(xin, W1, b1, padding=1))
        d2 = x2 - torch.tanh(F.conv2d(x1, W2, b2, stride=2, padding=1))
        d3 = x3 - (x2.flatten(1) @ W3.T + b3)
        H = 0.5 * ((d1 * d1).sum() + (d2 * d2).sum() + (d3 * d3).sum())
        gs = torch.autograd.grad(H, xs)
        with torch.no_grad():
            return [x - dt_ * g + noise * torch.randn_like(x) for x, g in zip(xs, gs)]

    def step_hand(xs):
        x1, x2, x3 = xs
        t1 = torch.tanh(F.conv2d(xin, W1, b1, padding=1))
        d1 = x1 - t1
        t2 = torch.tanh(F.conv2d(x1, W2, b2, stride=2, padding=1))
        d2 = x2 - t2
        d3 = x3 - (x2.flatten(1) @ W3.T + b3)
        s2 = -d2 * (1 - t2 * t2)
        g1 = d1 + F.conv_transpose2d(s2, W2, stride=2, padding=1, output_padding=1)
        g2 = d2 + (-d3 @ W3).reshape(d2.shape)
        H = 0.5 * ((d1 * d1).sum(dim=(1, 2, 3)) + (d2 * d2).sum(dim=(1, 2, 3)) + (d3 * d3).sum(1))  # the books
        del H
        return [x1 - dt_ * g1 + noise * torch.randn_like(x1), x2 - dt_ * g2 + noise * torch.randn_like(x2),
                x3 - dt_ * d3 + noise * torch.randn_like(x3)]

    step = step_hand if hand else step_autograd
    torch.manual_seed(0)
    xs = init()
    for _ in range(3):
        xs = step(xs)
    best = np.inf
    with torch.no_grad() if hand else _null():
        for _ in range(repeats):
            t0 = time.perf_counter()
            for _ in range(steps):
                xs = step(xs)
            best = min(best, (time.perf_counter() - t0) / steps)
    return best


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def check_hand_gradient(net, x0):
    """Max difference between the hand-written torch gradient and autograd (the two references must agree)."""
    import torch
    import torch.nn.functional as F

    W1, W2, W3, b1, b2, b3 = _torch_params(torch, net)
    rng = np.random.default_rng(0)
    xin = torch.tensor(np.broadcast_to(x0, (4, 64)).reshape(4, 1, 8, 8).copy())
    x1 = torch.tensor(rng.standard_normal((4, 8, 8, 8)), requires_grad=True)
    x2 = torch.tensor(rng.standard_normal((4, 16, 4, 4)), requires_grad=True)
    x3 = torch.tensor(rng.standard_normal((4, 10)), requires_grad=True)
    t1 = torch.tanh(F.conv2d(xin, W1, b1, padding=1))
    t2 = torch.tanh(F.conv2d(x1, W2, b2, stride=2, padding=1))
    d1, d2, d3 = x1 - t1, x2 - t2, x3 - (x2.flatten(1) @ W3.T + b3)
    H = 0.5 * ((d1 * d1).sum() + (d2 * d2).sum() + (d3 * d3).sum())
    ga = torch.autograd.grad(H, [x1, x2])
    s2 = -d2 * (1 - t2 * t2)
    g1 = d1 + F.conv_transpose2d(s2, W2, stride=2, padding=1, output_padding=1)
    g2 = d2 + (-d3 @ W3).reshape(d2.shape)
    return float(max((ga[0] - g1).abs().max().item(), (ga[1] - g2).abs().max().item()))


def train_analogsim_run(net, ds, batch, S, r):
    """A callable timing S presentations of ``train`` (seconds per presentation, its fixed cost excluded: the
    hook stamps presentations 1 and S - 1, so the setup and the loss records at the start and end are outside),
    and the last run's result (sweeps, gradient norm reached, fallbacks, books)."""
    from analogsim.training.graph import train

    # learning rate mu tau_inf kappa_out = 0.05 (torch's); kT sets a thermal excess N kT / kappa_out ~ 4e-4
    kw = dict(mu=0.05 / r, kT=1e-4 * r / net.n_params, kappa_out=r, batch_size=batch, n_records=1)
    stamps, last = {}, {}

    def hook(s, _net):
        stamps[s] = time.perf_counter()

    def run(seed):
        last["res"] = train(net, ds.x_train, ds.t_train, ds.x_test[:1], ds.t_test[:1], presentations=S, seed=seed,
                            hook=hook, **kw)
        return (stamps[S - 1] - stamps[1]) / (S - 2)

    run(0)
    return run, last


def _per_step_timer(steps, S):
    """Warm ``steps`` up (5 steps) and return a callable timing S of them: seconds per step."""
    def run(_seed):
        t0 = time.perf_counter()
        steps(S)
        return (time.perf_counter() - t0) / S

    steps(5)
    return run


def train_torch_run(net, ds, batch, S):
    """A callable timing S torch SGD steps (forward, MSE, autograd backward, update); seconds per step."""
    import torch
    import torch.nn.functional as F

    params = [p.requires_grad_(True) for p in _torch_params(torch, net)]
    W1, W2, W3, b1, b2, b3 = params
    X = torch.tensor(ds.x_train.reshape(-1, 1, 8, 8), dtype=W1.dtype)
    T = torch.tensor(ds.t_train, dtype=W1.dtype)
    rng = np.random.default_rng(0)
    idx = [torch.as_tensor(rng.integers(0, X.shape[0], size=batch)) for _ in range(S)]
    lr = 0.05

    def steps(k):
        for i in range(k):
            rows = idx[i % S]
            h = torch.tanh(F.conv2d(X[rows], W1, b1, padding=1))
            h = torch.tanh(F.conv2d(h, W2, b2, stride=2, padding=1))
            out = h.flatten(1) @ W3.T + b3
            loss = 0.5 * ((out - T[rows]) ** 2).sum(1).mean()
            loss.backward()
            with torch.no_grad():
                for p in params:
                    p -= lr * p.grad
                    p.grad = None

    return _per_step_timer(steps, S)


def _torch_presentation(torch, F, params, kout, sweeps, lr, noise, with_check=False):
    """One physical presentation in torch eager, the same work as ``analogsim.training.graph.train``'s
    (separated fidelity, hard output clamp of stiffness ``kout``, hidden kappa = 1): the switch's energy at the
    old hidden state, ``sweeps`` fixed-point sweeps in residual coordinates (x_l = f(y_l) + delta_l, delta_m =
    -(A^T sigma)_m, Gauss-Seidel from the top), the acceptance test at the last sweep's forward pass (dH/dx of
    the hidden layers relative to the output stress), the stress gradient dH/dtheta (hand-written: weight
    gradients by ``torch.nn.grad.conv2d_weight`` and a product, adjoints by ``conv_transpose2d``), the noisy
    parameter step and the energy after it at fixed neurons (the books). Returns a function of (x0, t, state)
    giving the state the next switch needs (x1, x2, f2', f3') and, with ``with_check``, also the gradient and
    the minimum's energy per row."""
    W1, W2, W3, b1, b2, b3 = params
    cw = torch.nn.grad.conv2d_weight

    def present(x0, t, state):
        B = x0.shape[0]
        f1 = torch.tanh(F.conv2d(x0, W1, b1, padding=1))
        fp1 = 1 - f1 * f1
        if state is not None:  # the switch: new clamps, old hidden state, current theta (books)
            x1o, x2o, f2o, f3o = state
            H_sw = 0.5 * (((x1o - f1) ** 2).sum() + ((x2o - f2o) ** 2).sum() + kout * ((t - f3o) ** 2).sum()) / B
            del H_sw
        d1 = torch.zeros_like(f1)
        d2 = None
        for sw in range(sweeps):
            x1 = f1 + d1
            f2 = torch.tanh(F.conv2d(x1, W2, b2, stride=2, padding=1))
            fp2 = 1 - f2 * f2
            x2 = f2 if d2 is None else f2 + d2
            f3 = x2.flatten(1) @ W3.T + b3
            dL = t - f3
            scale = (kout * dL).abs().amax(1)
            s3 = -kout * dL
            back2 = (s3 @ W3).reshape(f2.shape)
            if sw == sweeps - 1:  # the acceptance test at this forward pass (and the minimum's energy)
                r1, r2 = x1 - f1, x2 - f2
                s2 = -r2 * fp2
                g1 = r1 + F.conv_transpose2d(s2, W2, stride=2, padding=1, output_padding=1)
                g2 = r2 + back2
                gn = torch.sqrt((g1 * g1).sum((1, 2, 3)) + (g2 * g2).sum((1, 2, 3))) / scale
                H = 0.5 * ((r1 * r1).sum((1, 2, 3)) + (r2 * r2).sum((1, 2, 3)) + kout * (dL * dL).sum(1))
                del gn
                break
            d2 = -back2
            s2 = -d2 * fp2
            d1 = -F.conv_transpose2d(s2, W2, stride=2, padding=1, output_padding=1)
        s1 = -(x1 - f1) * fp1
        grads = [cw(x0, W1.shape, s1, padding=1), cw(x1, W2.shape, s2, stride=2, padding=1), s3.T @ x2.flatten(1),
                 s1.sum((0, 2, 3)), s2.sum((0, 2, 3)), s3.sum(0)]
        for p, g in zip(params, grads):
            g /= B
            p -= lr * g
            if noise:
                p += noise * torch.randn_like(p)
        # the books: the energy after the step at fixed neurons
        f1n = torch.tanh(F.conv2d(x0, W1, b1, padding=1))
        f2n = torch.tanh(F.conv2d(x1, W2, b2, stride=2, padding=1))
        f3n = x2.flatten(1) @ W3.T + b3
        H_new = 0.5 * (((x1 - f1n) ** 2).sum() + ((x2 - f2n) ** 2).sum() + kout * ((t - f3n) ** 2).sum()) / B
        del H_new
        out = (x1, x2, f2n, f3n)
        return (out, grads, H) if with_check else out

    return present


def train_torch_physical_run(net, ds, batch, S, r, sweeps):
    """A callable timing S physical presentations in torch eager (:func:`_torch_presentation`: as many sweeps
    as analogsim took, the same noise and books); seconds per presentation."""
    import torch
    import torch.nn.functional as F

    params = list(_torch_params(torch, net))
    X = torch.tensor(ds.x_train.reshape(-1, 1, 8, 8), dtype=params[0].dtype)
    T = torch.tensor(ds.t_train, dtype=params[0].dtype)
    rng = np.random.default_rng(0)
    idx = [torch.as_tensor(rng.integers(0, X.shape[0], size=batch)) for _ in range(S)]
    mu = 0.05 / r
    kT = 1e-4 * r / net.n_params
    present = _torch_presentation(torch, F, params, r, sweeps, mu, float(np.sqrt(2 * kT * mu)))

    def steps(k):
        state = None
        with torch.no_grad():
            for i in range(k):
                rows = idx[i % S]
                state = present(X[rows], T[rows], state)

    return _per_step_timer(steps, S)


def check_torch_presentation(r):
    """The torch presentation against analogsim's on one minibatch of 16 (float64, no step): the largest
    relative difference of the stress gradient at the clamped minimum and of the minimum's energy per row."""
    import torch
    import torch.nn.functional as F

    from analogsim.model.graph import energy as E
    from analogsim.training.graph import _minimum_cols

    net = build("float64")
    net.kappa[-1][...] = r  # the output clamp's stiffness, as train(kappa_out=r) sets it
    ds = _digits("float64")
    x0, t = ds.x_train[:16], ds.t_train[:16]
    plan = E.ColumnPlan(net)
    x0c, tc = np.ascontiguousarray(x0.T), np.ascontiguousarray(t.T)
    xs, Hm, sig = _minimum_cols(plan, x0c, tc, plan.inputs(x0c), 1e-10, {"fallbacks": 0, "max_gn": 0.0, "sweeps": 0})
    g_a = plan.param_grad(xs, sig) / x0.shape[0]
    params = list(_torch_params(torch, net))
    present = _torch_presentation(torch, F, params, r, 8, 0.0, 0.0, with_check=True)
    with torch.no_grad():
        _, grads, H = present(torch.tensor(x0.reshape(-1, 1, 8, 8)), torch.tensor(t), None)
    g_t = np.zeros_like(g_a)
    for k in range(3):
        g_t[net.w_offsets[k]:net.w_offsets[k] + grads[k].numel()] = grads[k].numpy().ravel()
        g_t[net.b_offsets[k]:net.b_offsets[k] + grads[3 + k].numel()] = grads[3 + k].numpy().ravel()
    return {"gradient": float(np.max(np.abs(g_t - g_a)) / np.max(np.abs(g_a))),
            "energy": float(np.max(np.abs(H.numpy() - Hm) / np.abs(Hm)))}


def train_row(net, ds, batch, S, rounds, r):
    """Interleaved rounds (analogsim, torch SGD, torch doing the same physical presentation) on one net and batch;
    medians and the spread of the ratios."""
    a_run, last = train_analogsim_run(net, ds, batch, S, r)
    sweeps = int(round(last["res"].sweeps_mean))
    t_run = train_torch_run(net, ds, batch, S)
    p_run = train_torch_physical_run(net, ds, batch, S, r, sweeps)
    a, t, p = [], [], []
    for k in range(rounds):
        a.append(a_run(k + 1))
        t.append(t_run(k))
        p.append(p_run(k))
    ratios = [tt / aa for aa, tt in zip(a, t)]
    ratios_p = [pp / aa for aa, pp in zip(a, p)]
    res = last["res"]
    return {"analogsim_s": float(np.median(a)), "torch_sgd_s": float(np.median(t)),
            "torch_presentation_s": float(np.median(p)), "torch_presentation_sweeps": sweeps,
            "ratio_vs_torch_presentation": float(np.median(ratios_p)),
            "ratio_vs_torch_presentation_per_round": [round(x, 3) for x in ratios_p],
            "ratio": float(np.median(ratios)),
            "ratio_per_round": [round(x, 3) for x in ratios], "sweeps_mean": res.sweeps_mean,
            "max_grad_norm": res.max_grad_norm, "fallbacks": res.fallbacks,
            "first_law_residual_max": res.first_law_residual_max}


DENSE_REFERENCE = {"train": "docs/benchmarks/train-2026-12-05-run2.json",
                   "relax": "docs/benchmarks/relax-2026-12-05-quick-run2.json"}


def dense_chain_check(root):
    """Re-run the dense chain's benchmark rows (short versions) in subprocesses and compare their ratios against
    torch with the committed figures (a ratio is comparable across loads where absolute times are not): a row
    counts as slowed where its ratio fell by more than 5 %."""
    import subprocess

    env = {k: v for k, v in os.environ.items()}
    out = {"limit": 0.05, "rows": []}
    cmds = {"train": [sys.executable, "benchmarks/train.py", "--quick", "--json", "--no-memory", "--batch64-only"],
            "relax": [sys.executable, "benchmarks/relax.py", "--quick", "--json", "--cases", "0"]}
    for name, cmd in cmds.items():
        ref = json.load(open(os.path.join(root, DENSE_REFERENCE[name])))
        p = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=900)
        if p.returncode != 0:
            out["rows"].append({"benchmark": name, "error": p.stderr[-500:]})
            continue
        new = json.loads(p.stdout)
        key = "vs_torch_sgd" if name == "train" else "vs_torch"
        ref_cases = {_case_key(c): c for c in ref["cases"]}
        for c in new["cases"]:
            k = _case_key(c)
            if k in ref_cases and key in c:
                change = c[key] / ref_cases[k][key] - 1
                out["rows"].append({"benchmark": name, "case": k, "ratio_now": c[key],
                                    "ratio_committed": ref_cases[k][key], "change": change,
                                    "slowed": bool(change < -out["limit"])})
    return out


def _case_key(c):
    net = c["net"] if isinstance(c["net"], str) else "-".join(str(n) for n in c["net"])
    return f"{net} {c['dtype']} batch={c.get('batch', c.get('replicas'))} {c.get('activation', '')}".strip()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer steps and repeats")
    ap.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    ap.add_argument("--rounds", type=int, default=None, help="interleaved rounds of the training rows (7; --quick 3)")
    ap.add_argument("--dense-check", action="store_true",
                    help="also re-run the dense chain's train/relax rows and compare with the committed figures")
    args = ap.parse_args(argv)
    import torch
    from threadpoolctl import threadpool_info, threadpool_limits

    torch.set_num_threads(1)
    steps, S, rep = (20, 20, 2) if args.quick else (100, 100, 5)
    rounds = args.rounds or (3 if args.quick else 7)
    out_load = [os.getloadavg()[0]]
    out = {"net": "1x8x8 -> conv 8 3x3 tanh -> conv 16 3x3 s2 tanh -> dense 10", "dtype": args.dtype, "rows": {}}
    net = build(args.dtype)          # load every BLAS (numpy, scipy via scikit-learn) before limiting threads
    ds = _digits(args.dtype)
    x0 = ds.x_train[0]
    with threadpool_limits(limits=1, user_api="blas"):
        out["hand_gradient_vs_autograd"] = check_hand_gradient(build("float64"), ds.x_train[0].astype(np.float64))
        out["torch_presentation_vs_analogsim"] = {f"r={r:g}": check_torch_presentation(r) for r in (1e-3, 1e-8)}
        a = time_em_analogsim(net, x0, steps, rep)
        ta = time_em_torch(net, x0, steps, rep, hand=False)
        th = time_em_torch(net, x0, steps, rep, hand=True)
        out["rows"]["em_step_256"] = {"analogsim_s": a, "torch_autograd_s": ta, "torch_hand_s": th,
                                      "ratio_vs_best_torch": min(ta, th) / a}
        for batch in (16, 64):
            for r in (1e-3, 1e-8):
                out["rows"][f"train_presentation_batch{batch}_r{r:g}"] = train_row(net, ds, batch, S, rounds, r)
        out["blas"] = [{k: i.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
                       for i in threadpool_info()]
    if args.dense_check:
        out["dense_chain_check"] = dense_chain_check(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out["load_average_start_end"] = out_load + [os.getloadavg()[0]]
    out["python"] = sys.version.split()[0]
    out["machine"] = platform.machine()
    out["cpu"] = cpu_name()
    out["torch"] = torch.__version__
    if args.json:
        print(json.dumps(out, indent=1))
    else:
        for k, v in out["rows"].items():
            print(k, {a: (f"{b * 1e3:.3f} ms" if a.endswith("_s") else (f"{b:.3g}" if isinstance(b, float) else b))
                      for a, b in v.items()})
        for row in out.get("dense_chain_check", {}).get("rows", []):
            print("dense chain:", row)
        print("BLAS:", out["blas"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
