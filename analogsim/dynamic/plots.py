"""Figures of the dynamic machine from saved results (dicts of :mod:`.experiments`): work vs tau for the reset
protocols, reset error vs work, and the digits budget. Each function returns a matplotlib Figure."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["work_vs_tau_figure", "error_vs_work_figure", "digits_budget_figure"]


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def work_vs_tau_figure(series: list):
    """Mean reset work per element (kT) against tau (units of tau_r) for each series of
    :func:`~.experiments.quasistatic_series`, with the fit a + b/tau and the quasi-static prediction.

    The dotted lines are the quasi-static bounds of the reset (Eq. 5 per element: kT ln 2 for the standard
    erasure, kT H(p) for the prior-adapted reset, 0 for the uncompute).

    Parameters
    ----------
    series : list of dict
        Results of :func:`~.experiments.quasistatic_series` (keys protocol, p, points, fit, bound).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    A series made by hand (work = ln 2 + 50/tau, in kT), drawn with the Agg backend:

    >>> import math
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> pts = [{"tau": t, "work": math.log(2) + 50.0 / t, "se": 0.02} for t in (100.0, 200.0, 400.0)]
    >>> s = {"protocol": "standard", "p": 0.5, "points": pts, "bound": math.log(2),
    ...      "fit": {"a": math.log(2), "a_se": 0.01, "b": 50.0, "b_se": 1.0}}
    >>> fig = work_vs_tau_figure([s])
    >>> fig.axes[0].get_xscale()
    'log'
    >>> plt.close(fig)
    """
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.2, 4.0))
    for k, r in enumerate(series):
        col = f"C{k}"
        t = np.array([q["tau"] for q in r["points"]])
        w = np.array([q["work"] for q in r["points"]])
        se = np.array([q["se"] for q in r["points"]])
        lab = f"{r['protocol']} p={r['p']:g}: a = {r['fit']['a']:.3f} ± {r['fit']['a_se']:.3f} kT"
        ax.errorbar(t, w, yerr=se, fmt="o", color=col, ms=4, label=lab)
        tt = np.geomspace(t.min() / 1.5, t.max() * 4, 100)
        ax.plot(tt, r["fit"]["a"] + r["fit"]["b"] / tt, "-", color=col, lw=1)
        ax.axhline(r["bound"], color=col, ls=":", lw=1)
    ax.set_xscale("log")
    from matplotlib.ticker import NullFormatter

    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("reset duration tau [element relaxation times tau_r]")
    ax.set_ylabel("mean reset work per element [kT]")
    ax.set_title("reset work vs tau (dotted: kT ln 2, kT H(p), 0)", fontsize=9)
    ax.legend(fontsize=6.5, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return fig


def error_vs_work_figure(err: dict, series: list = ()):
    """Reset error against the mean work per reset: the depth scan of :func:`~.experiments.error_vs_depth`
    (labelled by depth), the Boltzmann occupation of the wrong well, and the tau scans of ``series``.

    Parameters
    ----------
    err : dict
        Result of :func:`~.experiments.error_vs_depth` (tilt depths and works in kT, errors as fractions).
    series : list of dict, optional
        Results of :func:`~.experiments.quasistatic_series`, drawn as error against work.

    Returns
    -------
    matplotlib.figure.Figure
        Two panels: error against tilt depth (log scale), error against mean work per reset (the vertical line
        is kT ln 2).

    Examples
    --------
    >>> import math
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> err = {"depths": [2.0, 3.0], "errors": [0.1, 0.04], "errors_se": [0.01, 0.005],
    ...        "boltzmann": [math.exp(-2), math.exp(-3)], "work": [1.0, 1.3], "work_se": [0.05, 0.05],
    ...        "tau": 200.0, "slope": -0.9, "slope_se": 0.1}
    >>> fig = error_vs_work_figure(err)
    >>> len(fig.axes)
    2
    >>> plt.close(fig)
    """
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(9.0, 3.6))
    ax = axes[0]
    d = np.array(err["depths"])
    e = np.array(err["errors"])
    ax.errorbar(d, e, yerr=err["errors_se"], fmt="o", label=f"measured (tau = {err['tau']:g} tau_r)")
    ax.plot(d, err["boltzmann"], "k--", lw=1, label="Boltzmann occupation of the wrong well")
    ax.set_yscale("log")
    ax.set_xlabel("tilt depth when the barrier closes [kT]")
    ax.set_ylabel("reset error")
    ax.set_title(f"log-slope {err.get('slope', math.nan):.3f} ± {err.get('slope_se', math.nan):.3f} (Boltzmann: -1)",
                 fontsize=9)
    ax.legend(fontsize=7)
    ax = axes[1]
    ax.errorbar(err["work"], np.maximum(e, 1e-6), xerr=err["work_se"], fmt="o-", label="depth scan")
    for k, r in enumerate(series):
        w = [q["work"] for q in r["points"]]
        ee = [max(q["error"], 1.0 / q["n_elements"]) for q in r["points"]]
        ax.plot(w, ee, "s:", color=f"C{k + 1}", ms=4, label=f"tau scan: {r['protocol']} p={r['p']:g}")
    ax.axvline(math.log(2), color="gray", lw=0.8, ls=":")
    ax.set_yscale("log")
    ax.set_xlabel("mean work per reset [kT]")
    ax.set_ylabel("reset error (no error seen: plotted at 1/N)")
    ax.legend(fontsize=6.5)
    fig.tight_layout()
    return fig


def digits_budget_figure(budget: dict):
    """Bars: measured reset work per inference (quasi-static fits and the shortest tau) against the bounds
    kT sum H(p_i), kT nu H(p_mean), kT nu ln 2 and the plug-in pattern entropy (with its ceiling ln n).

    The dashed line is Eq. 5 with the mean activation probability, kT nu H(p_mean). All bars are in kT per
    inference.

    Parameters
    ----------
    budget : dict
        Result of :func:`~.experiments.digits_budget` (keys budget, runs, nu, and optionally fits).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import math
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> b = {"pattern_entropy_plugin": 1.7, "sum_H_p_i": 2.8, "cross_entropy": 3.1, "nu_H_pbar": 4.8,
    ...      "nu_ln2": 8 * math.log(2), "ln_n": math.log(10), "p_mean": 0.71, "n": 10}
    >>> runs = [{"protocol": "standard", "tau": 400.0, "reset_work_kT": 22.0, "reset_work_se": 2.0}]
    >>> fig = digits_budget_figure({"budget": b, "runs": runs, "nu": 8})
    >>> len(fig.axes[0].patches)                 # five bounds and one measured bar
    6
    >>> plt.close(fig)
    """
    plt = _plt()
    fig, ax = plt.subplots(figsize=(10.0, 5.0))
    b = budget["budget"]
    names = ["plug-in pattern\nentropy", "sum_i H(p_i)", "cross-entropy\n(train priors)", "nu H(p_mean)\n(Eq. 5)",
             "nu ln 2"]
    vals = [b["pattern_entropy_plugin"], b["sum_H_p_i"], b.get("cross_entropy", math.nan), b["nu_H_pbar"], b["nu_ln2"]]
    x = list(range(len(names)))
    ax.bar(x, vals, color="0.75", label="bounds")
    ax.axhline(b["ln_n"], color="0.5", ls=":", lw=1)
    tmax = {}  # the longest tau of each protocol (protocols may run at different taus)
    for r in budget["runs"]:
        tmax[r["protocol"]] = max(tmax.get(r["protocol"], r["tau"]), r["tau"])
    for r in (q for q in budget["runs"] if q["tau"] == tmax[q["protocol"]]):
        j = ("standard", "prior-adapted", "uncompute").index(r["protocol"])
        ax.bar(len(names), r["reset_work_kT"], yerr=r["reset_work_se"], color=f"C{j}", alpha=0.45, hatch="//",
               label=f"measured {r['protocol']} at tau = {r['tau']:g} tau_r")
        names.append(f"{r['protocol']}\n(tau = {r['tau']:g})")
    order = ("standard", "prior-adapted", "uncompute")
    for proto, fit in sorted(budget.get("fits", {}).items(), key=lambda kv: order.index(kv[0])):
        ax.bar(len(names), fit["a"], yerr=fit["a_se"], color=f"C{order.index(proto)}",
               label=f"measured {proto} (fit tau -> inf)")
        names.append(f"{proto}\n(tau -> inf)")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, fontsize=6.5)
    ax.set_ylabel("reset energy per inference [kT]")
    ax.set_title(f"digits relu net, nu = {budget['nu']}, p_mean = {b['p_mean']:.3f}; dotted: ln n "
                 f"(ceiling of the plug-in estimate, n = {b['n']})", fontsize=8)
    ax.axhline(b["nu_H_pbar"], color="k", ls="--", lw=0.8, label="Eq. 5 with the mean p")
    ax.legend(fontsize=6.5, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=4)
    fig.tight_layout()
    return fig
