"""Claim 7: the IEM objective and EIT-P regularised training, measured with the physical energy books."""

from __future__ import annotations

import numpy as np

from .eitp import best_ratios, eitp_run, scan_items, summarise
from .framework import ClaimResult, at_most
from ._plot import figure, save

NAME = "iem"
TITLE = "7. The IEM objective (papers 000/001)"
STATEMENT = ("Chen & Chen: IEM = alpha H T C; training with the EIT-P loss L_task + l1 |E - E_min| + l2 L_coherence "
             "(E_min = kT ln2 H(theta)) reduces training energy by 40 % (paper 000; 25 % in paper 001) with minimal "
             "accuracy loss, and converges to a global optimum with probability 1.")
Q_001 = ("Our framework demonstrates 4-11x inference speedup, 25% energy reduction, 4.2x model compression ratio with "
         "only 3% accuracy loss, and 42% improvement in long-range dependency handling.")
Q_000 = "**Result:** 40% energy reduction compared to baseline."
TARGET = 0.9          # held-out accuracy of the equal-accuracy comparison (--full)
TARGET_QUICK = 0.85   # quick mode: one epoch
LAMBDAS = (1e-3, 1e-2, 1e-1)


def judge(ratios, target=TARGET):
    """Paper criteria from :func:`analogsim.validation.eitp.best_ratios` (one-sided: ratio <= 1 - reduction).

    The ratios are of Eq. 15 training works (energy units) of EIT-P against plain SGD; paper 001 claims 0.75,
    paper 000 0.6.

    Examples
    --------
    Hand-made runs (two seeds): EIT-P costing 20 % more fails all three criteria, costing half passes them:

    >>> from analogsim.validation.eitp import best_ratios, summarise
    >>> runs = []
    >>> for s in (0, 1):
    ...     runs.append({"seed": s, "lambda1": None, "lambda2": None, "lr": 0.1, "W": 10.0 + s,
    ...                  "W_to_acc": 5.0 + s, "accuracy": 0.90})
    ...     runs.append({"seed": s, "lambda1": 1e-2, "lambda2": 1e-2, "lr": 0.1, "W": 12.0 + s,
    ...                  "W_to_acc": 6.0 + s, "accuracy": 0.89})
    >>> [c.passed for c in judge(best_ratios(summarise(runs)))]
    [False, False, False]
    >>> cheap = [dict(r, W=r["W"] / 2, W_to_acc=r["W_to_acc"] / 2) if r["lambda1"] else r for r in runs]
    >>> [c.passed for c in judge(best_ratios(summarise(cheap)))]
    [True, True, True]
    """
    crit = []
    eq, fx = ratios["equal_accuracy"], ratios["fixed_schedule"]
    if eq is not None:
        e = eq["eitp"]
        crit.append(at_most(f"best W(EIT-P)/W(plain) to reach held-out accuracy {target:g} (paper 001: 25 % less)",
                            eq["ratio"], eq["se"], 0.75, kind="paper", quote=Q_001, form="≲",
                            note=f"EIT-P at lambda_1 = {e['lambda1']:g}, lambda_2 = {e['lambda2']:g}, lr = {e['lr']:g} "
                                 f"against plain SGD at lr = {eq['plain']['lr']:g}; the cheapest of each"))
        crit.append(at_most(f"the same ratio against paper 000's 40 % reduction", eq["ratio"], eq["se"], 0.6,
                            kind="paper", quote=Q_000, form="≲"))
    if fx is not None:
        e = fx["eitp"]
        crit.append(at_most("best W(EIT-P)/W(plain) at a fixed schedule, accuracy loss <= 3 %", fx["ratio"], fx["se"],
                            0.75, kind="paper", quote=Q_001, form="≲",
                            note=f"EIT-P at lambda_1 = {e['lambda1']:g}, lambda_2 = {e['lambda2']:g}, lr = {e['lr']:g}; "
                                 f"accuracy {e['accuracy']:.3f} vs {fx['plain']['accuracy']:.3f}"))
    return crit


def run(ctx) -> ClaimResult:
    """Claim 7: the EIT-P scan (torch training runs on digits, paired seeds) judged against the papers' 25-40 %
    energy reduction, and the IEM terms logged along a physical training run; two figures.

    Examples
    --------
    The quick scan trains dozens of torch models (minutes), so the call is not run here:

    >>> import tempfile
    >>> from pathlib import Path
    >>> from analogsim.validation.framework import Context
    >>> with tempfile.TemporaryDirectory() as d:                          # doctest: +SKIP
    ...     r = run(Context(mode="quick", out=Path(d)))
    ...     r.figures
    ['figures/iem_eitp_energy.png', 'figures/iem_along_training.png']
    """
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        raise ImportError("claim 7 trains torch models with the EIT-P loss: pip install 'analogsim-pnn[torch]'") from exc

    if ctx.full:  # the full grid at every learning rate
        seeds, lrs, grid_lrs, epochs, target = range(4), (0.001, 0.03, 0.1, 0.3), None, 4, TARGET
    else:         # the full grid at the learning rate that reaches the accuracy first; lambda = 1e-2 at the other
        seeds, lrs, grid_lrs, epochs, target = range(3), (0.1, 0.3), (0.3,), 1, TARGET_QUICK
    seeds = [ctx.seed % 100_000 + s for s in seeds]
    runs = ctx.map(eitp_run, scan_items(seeds, LAMBDAS, lrs, epochs, target, 5, grid_lrs))
    summ = summarise(runs)
    ratios = best_ratios(summ)
    crit = judge(ratios, target)
    hook_rows, hook_fig = _iem_along_physical_training(ctx)
    plain = [s for s in summ if not s["eitp"]]
    eitp = [s for s in summ if s["eitp"]]
    fig, axes = figure(1, 2, figsize=(10, 3.6))
    ax = axes[0]
    for lr, mk in zip(lrs, "osd^v"):
        p = next(s for s in plain if s["lr"] == lr)
        ee = [s for s in eitp if s["lr"] == lr]
        ax.scatter([s["W"] / p["W"] for s in ee], [s["accuracy"] for s in ee], marker=mk, label=f"EIT-P, lr {lr:g}")
    ax.axvline(1.0, color="k", lw=0.8)
    ax.axvline(0.75, color="r", lw=0.8, ls="--", label="001: 25 % less")
    ax.set_xscale("log")
    ax.set_xlabel("W(EIT-P) / W(plain), same lr and schedule")
    ax.set_ylabel("held-out accuracy")
    ax.legend(fontsize=6)
    ax = axes[1]
    for lr, mk in zip(lrs, "osd^v"):
        ee = [s for s in eitp if s["lr"] == lr and np.isfinite(s["W_to_acc"])]
        p = next(s for s in plain if s["lr"] == lr)
        ax.scatter(range(len(ee)), [s["W_to_acc"] for s in ee], marker=mk, label=f"EIT-P lr {lr:g}")
        if np.isfinite(p["W_to_acc"]):
            ax.axhline(p["W_to_acc"], lw=0.8, ls=":", label=f"plain lr {lr:g}")
    ax.set_yscale("log")
    ax.set_xlabel("(lambda_1, lambda_2) setting")
    ax.set_ylabel(f"W to reach accuracy {target:g}")
    ax.legend(fontsize=6)
    figs = [save(fig, ctx, "iem_eitp_energy.png")] + hook_fig
    n_seeds = len(seeds)
    table = [{"quantity": f"plain SGD, lr {s['lr']:g}", "paper": "baseline",
              "measured": f"W {s['W']:.4g} ± {s['W_se']:.2g}; to accuracy {target:g}: "
                          + (f"{s['W_to_acc']:.4g} ± {s['W_to_acc_se']:.2g}" if np.isfinite(s["W_to_acc"]) else
                             f"not reached by {s['n'] - s['reached']} of {s['n']} seeds"),
              "comment": f"held-out accuracy {s['accuracy']:.3f} ± {s['accuracy_se']:.3f}"} for s in plain]
    table += [{"quantity": f"EIT-P l1 {s['lambda1']:g}, l2 {s['lambda2']:g}, lr {s['lr']:g}",
               "paper": "25-40 % less energy",
               "measured": f"W {s['W']:.4g} ± {s['W_se']:.2g}; to accuracy {target:g}: "
                           + (f"{s['W_to_acc']:.4g} ± {s['W_to_acc_se']:.2g}" if np.isfinite(s["W_to_acc"]) else
                              f"not reached by {s['n'] - s['reached']} of {s['n']} seeds"),
               "comment": f"held-out accuracy {s['accuracy']:.3f} ± {s['accuracy_se']:.3f}"} for s in eitp]
    losses = np.array([r["train_loss"] for r in runs])
    table.append({"quantity": "final training loss, relative spread over seeds and settings",
                  "paper": "global optimum w.p. 1", "measured": f"{losses.std(ddof=1) / losses.mean():.1%}",
                  "comment": "not testable here: SGD ends at seed-dependent losses, and no global optimum is known at "
                             "these sizes; what would test it is an exhaustively minimised small net"})
    table += hook_rows
    parts = []
    for key, lab in (("equal_accuracy", f"to reach held-out accuracy {target:g}"),
                     ("fixed_schedule", "at a fixed schedule (accuracy within 3 %)")):
        r = ratios[key]
        parts.append(f"{lab}: best ratio {r['ratio']:.3f} ± {r['se']:.3f}" if r else f"{lab}: no setting qualified")
    grid_txt = ("every lr" if grid_lrs is None else
                f"lr = {', '.join(format(x, 'g') for x in grid_lrs)} (lambda = 1e-2 at the others)")
    comment = (f"Scan: lambda_1 x lambda_2 in {LAMBDAS} (the papers print no values) at {grid_txt}, lr in {tuple(lrs)} "
               f"(paper 001 uses 0.001), {n_seeds} seeds paired with plain SGD "
               f"(same initial weights and data order), {epochs} epoch(s) of digits in batches of 16, 64-32-10 tanh. "
               "The energy "
               "is the physical machine's Eq. 15 book of the full parameter energy. " + "; ".join(parts) +
               ". The cheapest EIT-P setting is selected from all settings, which biases the ratio in EIT-P's "
               "favour. E_min^IEM = kT ln 2 H(theta) counts histogram bits (set by the binning, not by "
               "the dynamics); it is not a bound on the measured work.")
    return ClaimResult(NAME, TITLE, STATEMENT, crit, table, figs, comment)


def _iem_along_physical_training(ctx):
    """IEM terms logged by the training hook next to the dissipated work and the 2 N S kT bound."""
    from ..network import Network
    from ..training import train
    from ..iem import network_iem_terms
    from ..data import teacher_student

    ds = teacher_student(n_in=4, n_out=1, n_train=128, n_test=64, seed=1)
    net = Network.create([4, 12, 1], activations=["tanh", "identity"], kappa=1.0, seed=2)
    X, Y = ds.x_train, ds.t_train

    def hook(s, theta, n):
        t = network_iem_terms(n, X, Y)
        return {k: float(t[k]) for k in ("H_bits", "IEM", "C") if k in t}

    kT = 1e-6
    S = 4000 if ctx.full else 1500
    res = train(net, ds, presentations=S, mu=100.0, tau_inf=1.0, kappa_out=1e-3, kT=kT, seed=3, hook=hook,
                hook_every=S // 10, weight_decay=1e-4)
    log = [(s, v) for s, v in res.hook_log if v]
    W = res.books.W
    fig, ax = figure(figsize=(5.5, 3.2))
    ax.plot([s for s, _ in log], [v["H_bits"] for _, v in log], "o-", label="H(theta) [bits]")
    ax.set_xlabel("presentations")
    ax.set_ylabel("H(theta) [bits]  (64 bins)")
    ax2 = ax.twinx()
    rec = res.records
    ax2.plot(rec["presentation"], np.asarray(rec["W"]) / (2 * net.n_params * kT), "r-")
    ax2.set_ylabel("W / (2 N kT) at this kT (not kT*)", color="r")
    fig_path = save(fig, ctx, "iem_along_training.png")
    last = log[-1][1]
    rows = [{"quantity": "physical training run (teacher-student, 4-12-1), logged by the training hook",
             "paper": "-",
             "measured": f"W = {W:.4g}; the Eq. 16 expression 2 N S kT rho at this kT (not kT*, so not the bound) = "
                         f"{res.books.bound:.4g}; final IEM {last.get('IEM', float('nan')):.4g},"
                         f" H {last.get('H_bits', float('nan')):.3g} bits, E_min^IEM = {np.log(2) * last.get('H_bits', 0) * kT:.3g}",
             "comment": f"kT = {kT:g}, S = {S}; IEM terms every {S // 10} presentations next to the books"}]
    return rows, [fig_path]
