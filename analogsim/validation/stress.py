"""Claim 2: stress equals backprop (Eq. 8-10), as a limit in the stiffness ratio."""

from __future__ import annotations

import numpy as np

from ..equilibrium import stress_vs_backprop
from ..network import Network
from .framework import ClaimResult, Criterion, criterion_bound
from ._plot import figure, save

NAME = "stress"
TITLE = "2. Stress = backprop (Eq. 8-10)"
STATEMENT = ("With input and output clamped, the stress at the minimum of H obeys sigma_i = f'(y_i) sum_j w_ij sigma_j "
             "(Eq. 10) and the derivatives of H are proportional to those of the MSE loss.")

RATIOS = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)


def stress_case(args):
    """One (depth, activation) case: a seeded random net and batch; returns stress_vs_backprop's report."""
    depth, act, seed, sign = args
    rng = np.random.default_rng(seed)
    sizes = [5] + [12] * (depth - 1) + [3]
    net = Network.create(sizes, activations=act, seed=int(rng.integers(2**31)), bias_scale=0.2)
    x0 = rng.standard_normal((8, 5))
    t = rng.standard_normal((8, 3)) * 0.5
    rep = stress_vs_backprop(net, x0, t, RATIOS)
    if sign != 1:  # negative control: a stress with the wrong sign
        err = np.asarray(rep["rel_error"])
        # |(-g_s) - g_b| / |g_b| = |g_s + g_b| / |g_b| -> 2 as r -> 0
        rep["rel_error"] = (2.0 - err).tolist()
        r = np.asarray(RATIOS)
        sel = r <= 1e-3
        rep["slope"] = float(np.polyfit(np.log(r[sel]), np.log(np.abs(rep["rel_error"])[sel]), 1)[0])
    rep.update(depth=depth, activation=act)
    return rep


def judge(cases):
    crit = []
    deep = [c for c in cases if c["depth"] >= 2]
    slopes = np.array([c["slope"] for c in deep])
    worst = int(np.argmax(np.abs(slopes - 1)))
    crit.append(criterion_bound(f"log-log slope of error vs r over [1e-6, 1e-3], worst case "
                                f"(depth {deep[worst]['depth']}, {deep[worst]['activation']})",
                                float(slopes[worst]), 0.0, low=0.98, high=1.02))
    # sigmoid's f' <= 1/4 damps the hidden response, so its error at r = 1 is smaller (reported, not judged)
    err1 = np.array([c["rel_error"][-1] for c in deep if c["activation"] != "sigmoid"])
    crit.append(criterion_bound("smallest error at r = 1, tanh/relu/softplus (limit, not identity)",
                                float(err1.min()), 0.0, low=0.3))
    smooth = [c for c in cases if c["activation"] != "relu" and c["depth"] >= 2]
    rres = max(c["recursion_residual"] for c in smooth)
    crit.append(criterion_bound("Eq. 10 recursion residual at the Newton minimum (smooth activations, all r)",
                                rres, 0.0, high=1e-12))
    return crit


def run(ctx) -> ClaimResult:
    depths = (1, 2, 3, 4)
    acts = ("tanh", "relu", "sigmoid", "softplus")
    items = [(d, a, ctx.seed + 17 * d + i, 1) for d in depths for i, a in enumerate(acts)]
    cases = ctx.map(stress_case, items)
    crit = judge(cases)
    relu_res = max(c["recursion_residual"] for c in cases if c["activation"] == "relu")
    fig, axes = figure(1, 2, figsize=(9, 3.6))
    for c in cases:
        if c["depth"] == 1:
            continue
        ls = {"tanh": "-", "relu": "--", "sigmoid": ":", "softplus": "-."}[c["activation"]]
        axes[0].loglog(c["ratios"], c["rel_error"], ls, marker="o", ms=3, label=f"L={c['depth']} {c['activation']}")
    axes[0].loglog(RATIOS, np.array(RATIOS), "k", lw=0.6, label="slope 1")
    axes[0].set_xlabel(r"$r = \kappa_{out}/\kappa_{hidden}$")
    axes[0].set_ylabel("relative error |dH/dθ − ∇MSE| / |∇MSE|")
    axes[0].legend(fontsize=6, ncol=2)
    Cs = [(f"{c['depth']}/{c['activation'][:4]}", c["constant"]) for c in cases if c["depth"] >= 2]
    axes[1].bar(range(len(Cs)), [v for _, v in Cs])
    axes[1].set_xticks(range(len(Cs)))
    axes[1].set_xticklabels([k for k, _ in Cs], rotation=70, fontsize=7)
    axes[1].set_yscale("log")
    axes[1].set_ylabel("C = error / r")
    figs = [save(fig, ctx, "stress_vs_backprop.png")]
    table = [{"quantity": f"depth {c['depth']}, {c['activation']}", "paper": "stress ∝ backprop",
              "measured": (f"slope {c['slope']:.4f}, C = {c['constant']:.3g}, error at r=1: {c['rel_error'][-1]:.2f}"
                           if c["depth"] > 1 else f"exact at every r (max error {max(c['rel_error']):.1e})"),
              "comment": (f"recursion residual {c['recursion_residual']:.1e}" if c["depth"] > 1
                          else "no hidden layer: the stress is the backprop gradient")} for c in cases]
    comment = ("Eq. 10 holds identically at the minimum (residual = -f' dH/dx, i.e. solver precision). "
               "But dH/dtheta equals the MSE backprop gradient only in the limit r = kappa_out/kappa_hidden -> 0: "
               "the relative error is C r with slope 1, and 40-90 % at r = 1. Depth 1 has no hidden layer, so there "
               "the two agree exactly at every r. sigmoid (f' <= 1/4) has C ~ 0.2-0.3 and errors of 15-35 % at r = 1. relu: a minimum can sit on a kink (y = 0), where the recursion with "
               f"f'(0) = 0 need not hold; worst relu recursion residual here {relu_res:.1e}.")
    return ClaimResult(NAME, TITLE, STATEMENT, crit, table, figs, comment)
