r"""Reports of the stress-backprop check (:func:`analogsim.model.crosscheck.stress_backprop_check`): a table,
JSON and a figure.

Examples
--------
>>> from analogsim.model.crosscheck import stress_backprop_check
>>> rep = stress_backprop_check(depths=[2], activations=["tanh"], ratios=[1e-6, 1e-4, 1e-3, 1.0])
>>> "tanh" in format_table(rep)
True
"""

from __future__ import annotations

import math

import numpy as np

from .crosscheck import MAX_RECURSION, MIN_ERROR_AT_ONE, SLOPE_TOL


def _fmt(x, spec=".2e"):
    if x is None:
        return "-"
    if isinstance(x, float) and not math.isfinite(x):
        return "nan"
    return format(x, spec)


def format_table(report: dict) -> str:
    """A human-readable table of :func:`stress_backprop_check`'s report.

    Examples
    --------
    >>> from analogsim.model.crosscheck import stress_backprop_check
    >>> rep = stress_backprop_check(depths=[2], activations=["tanh"], ratios=[1e-6, 1e-4, 1e-3, 1.0])
    >>> print(format_table(rep).splitlines()[0])
    stress at the clamped minimum vs backprop of (kappa_out/2)|f(x0) - t|^2, r = kappa_out/kappa_hidden
    """
    ratios = np.asarray(report["cases"][0]["ratios"]) if report["cases"] else np.array([])
    show = [r for r in (1e-6, 1e-3, 1e-1, 1.0) if np.any(np.isclose(ratios, r))]
    fr = report["fit_range"]
    lines = [f"stress at the clamped minimum vs backprop of (kappa_out/2)|f(x0) - t|^2, r = kappa_out/kappa_hidden",
             f"reference: {report['reference']}",
             f"fit: log-log slope and C = median(error/r) over r in [{fr[0]:g}, {fr[1]:g}]; "
             f"pass: |slope - 1| <= {SLOPE_TOL}, error(r=1) >= {MIN_ERROR_AT_ONE}, Eq. 10 residual <= {MAX_RECURSION:g}",
             ""]
    head = f"{'depth':>5}  {'activation':<10}" + "".join(f"  {'err@' + format(r, 'g'):>9}" for r in show) + \
        f"  {'slope':>7}  {'C':>8}  {'Eq.10 res':>9}  {'kinks':>5}  verdict"
    lines += [head, "-" * len(head)]
    for c in report["cases"]:
        errs = np.asarray(c["rel_error"])
        cols = "".join(f"  {_fmt(float(errs[np.isclose(ratios, r)][0])):>9}" for r in show)
        v = c["verdict"]
        if c["exact"]:
            tail = f"  {'-':>7}  {'-':>8}  {_fmt(c['recursion_residual']):>9}  {c['n_kinks']:>5}  " + \
                ("exact: no hidden layer, stress = backprop identically" if v["passed"] else "FAIL (not exact)")
        else:
            bad = [k for k in ("slope_ok", "limit_ok", "recursion_ok") if v[k] is False]
            tail = f"  {_fmt(c['slope'], '.4f'):>7}  {_fmt(c['constant'], '.3g'):>8}  " \
                   f"{_fmt(c['recursion_residual']):>9}  {c['n_kinks']:>5}  " + \
                   ("ok (limit r -> 0)" if v["passed"] else "FAIL: " + ", ".join(b[:-3] for b in bad))
        lines.append(f"{c['depth']:>5}  {c['activation']:<10}{cols}{tail}")
    lines.append("")
    lines.append("all cases passed" if report["passed"] else "some cases FAILED")
    return "\n".join(lines)


def report_to_json(report: dict) -> dict:
    """The report with NaN replaced by None (strict JSON).

    Examples
    --------
    >>> import json
    >>> json.dumps(report_to_json({"slope": float("nan"), "cases": [1.5]}))
    '{"slope": null, "cases": [1.5]}'
    """
    def clean(o):
        if isinstance(o, float) and not math.isfinite(o):
            return None
        if isinstance(o, dict):
            return {k: clean(v) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [clean(v) for v in o]
        if isinstance(o, np.generic):
            return clean(o.item())
        return o

    return clean(report)


def plot_report(report: dict, path) -> None:
    """Figure of the relative error vs r on log axes, one panel per activation and one line per depth.

    Depth-1 errors (zero to rounding) are drawn at the floor 1e-17. A dotted line shows error = r.
    The file is written atomically; the format follows the suffix (png, svg, pdf).

    Examples
    --------
    >>> import os, tempfile
    >>> from analogsim.model.crosscheck import stress_backprop_check
    >>> rep = stress_backprop_check(depths=[2], activations=["tanh"], ratios=[1e-6, 1e-4, 1e-3, 1.0])
    >>> path = os.path.join(tempfile.mkdtemp(), "stress.png")
    >>> plot_report(rep, path)
    >>> os.path.getsize(path) > 0
    True
    """
    import io
    from pathlib import Path

    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from .._io import atomic_write_bytes

    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"
    acts = list(dict.fromkeys(c["activation"] for c in report["cases"]))
    fig, axes = plt.subplots(1, max(len(acts), 1), figsize=(3.6 * max(len(acts), 1), 3.4), sharey=True,
                             squeeze=False)
    floor = 1e-17
    for ax, act in zip(axes[0], acts):
        for c in (c for c in report["cases"] if c["activation"] == act):
            r = np.asarray(c["ratios"])
            e = np.maximum(np.asarray(c["rel_error"], np.float64), floor)
            lab = f"depth {c['depth']}" + (" (exact)" if c["exact"] else f": C={c['constant']:.3g}, slope {c['slope']:.3f}")
            ax.loglog(r, e, "o-", ms=3, label=lab)
        r_all = np.asarray(report["cases"][0]["ratios"])
        ax.loglog(r_all, r_all, "k:", lw=1, label="error = r")
        ax.axvspan(*report["fit_range"], color="0.9", zorder=0)
        ax.set_title(act)
        ax.set_xlabel("r = kappa_out / kappa_hidden")
        ax.legend(fontsize=6, loc="upper left")
    axes[0][0].set_ylabel("relative error of stress vs backprop")
    fig.suptitle(f"stress at the clamped minimum vs backprop (reference: {report['reference']})", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=120)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
