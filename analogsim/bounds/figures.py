"""Figure: energy per training sample against the number of parameters N, on log axes.

Lines: the analog bound 2 N rho kT (Eq. 16 per presentation) and the digital Landauer bound
flops_per_param x N x bits_per_flop x kT ln 2 (Eq. 17 per token). Points: the IEM "energy"
E_min^IEM = kT ln 2 H(theta) of given parameter vectors or histograms (one number per network state, not
per sample: it does not grow with N beyond log2(bins) bits), and measured training work per sample.
Left axis in kT, right axis in joules at T (omitted with ``joule_axis=False``). matplotlib's Agg canvas is
used directly (no pyplot, no global backend change); files are PNG and SVG, written atomically.

Examples
--------
>>> import numpy as np
>>> from analogsim.bounds.figures import plot_training_energy
>>> fig, paths = plot_training_energy(iem=[np.random.default_rng(0).normal(size=1000)],
...                                   measured={"N": [100, 1000], "W": [800.0, 9000.0]})
>>> paths
[]
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from .._checks import check_array, check_scalar
from ..report._figstyle import MARKERS, finish
from .._io import atomic_write_bytes
from .formulas import LN2, T_ROOM, K_B, check_temperature
from .iem import DEFAULT_BINS, histogram_entropy, parameter_entropy

_FORMATS = ("png", "svg")


def training_energy_curves(N, *, bits_per_flop: float = 16.0, flops_per_param: float = 6.0,
                           rho: float = 1.0) -> dict:
    """Per-sample bounds in units of kT for an array of N: ``{"N", "analog", "digital"}``.

    Examples
    --------
    >>> c = training_energy_curves([1e6])
    >>> float(c["analog"][0]), round(float(c["digital"][0]) / 1e6, 2)
    (2000000.0, 66.54)
    """
    N = check_array(N, "N", ndim=1).astype(np.float64)
    if N.size == 0 or np.any(N <= 0):
        raise ValueError(f"N must be a non-empty array of positive parameter counts, got {N.tolist()[:5]}")
    bpf = check_scalar(bits_per_flop, "bits_per_flop", low=0.0, low_open=True)
    fpp = check_scalar(flops_per_param, "flops_per_param", low=0.0, low_open=True)
    rho = check_scalar(rho, "rho", low=0.0, low_open=True)
    return {"N": N, "analog": 2.0 * rho * N, "digital": fpp * N * bpf * LN2}


def _iem_points(iem, bins, range):
    if iem is None:
        return []
    items = list(iem.items()) if isinstance(iem, dict) else [(None, v) for v in iem]
    pts = []
    for i, (label, item) in enumerate(items):
        if isinstance(item, dict):
            label = item.get("label", label)
            if "counts" in item:
                counts = check_array(item["counts"], f"iem[{i}]['counts']", ndim=1)
                H = histogram_entropy(counts, "bits")
                N = check_scalar(item.get("N", counts.sum()), f"iem[{i}]['N']", low=0.0, low_open=True)
            elif "theta" in item:
                th = np.ravel(item["theta"])
                H, N = parameter_entropy(th, bins, range).bits, float(th.size)
            else:
                raise ValueError(f"iem[{i}] must be a parameter array or a dict with 'theta' or 'counts' (and 'N')")
        else:
            th = np.ravel(check_array(item, f"iem[{i}]"))
            H, N = parameter_entropy(th, bins, range).bits, float(th.size)
        pts.append({"label": label or f"IEM E_min (H = {H:.2f} bit)", "N": N, "H_bits": H, "E_kT": LN2 * H})
    return pts


def _measured_sets(measured):
    if measured is None:
        return []
    sets = [measured] if isinstance(measured, dict) else list(measured)
    out = []
    for i, m in enumerate(sets):
        if not isinstance(m, dict) or "N" not in m or "W" not in m:
            raise ValueError(f"measured[{i}] must be a dict with 'N' and 'W' (work per sample in kT), got {m!r}")
        N = np.atleast_1d(check_array(m["N"], f"measured[{i}]['N']")).astype(float)
        W = np.atleast_1d(check_array(m["W"], f"measured[{i}]['W']")).astype(float)
        if N.shape != W.shape:
            raise ValueError(f"measured[{i}]: N and W must have the same length, got {N.shape} and {W.shape}")
        se = None if m.get("se") is None else np.atleast_1d(check_array(m["se"], f"measured[{i}]['se']"))
        out.append({"N": N, "W": W, "se": se, "label": m.get("label", "measured W per sample")})
    return out


def plot_training_energy(N=None, *, T=T_ROOM, bits_per_flop: float = 16.0, flops_per_param: float = 6.0,
                         rho: float = 1.0, iem=None, bins=DEFAULT_BINS, range=None, measured=None, out=None,
                         formats=_FORMATS, title: str | None = None, joule_axis: bool = True, notes=()):
    """Energy per training sample vs N with the analog, digital and IEM bounds and measured points.

    Parameters
    ----------
    N : array, optional
        Parameter counts for the bound lines (default 10 .. 1e12, log-spaced).
    T : float
        Kelvin, for the joule axis.
    bits_per_flop, flops_per_param, rho : float
        Digital bound 6 N x 16 bit x kT ln 2 by default; analog bound 2 N rho kT.
    iem : list or dict, optional
        Parameter vectors (1-D arrays: N = their size, H from a histogram with ``bins``/``range``) or dicts
        ``{"counts": ..., "N": ..., "label": ...}`` / ``{"theta": ..., "label": ...}``; dict keys are labels.
    measured : dict or list of dict, optional
        ``{"N": [...], "W": [...], "se": [...] (optional), "label": ...}`` with W the training work per
        presentation in units of kT.
    out : path, optional
        File stem (a .png/.svg suffix is replaced); one file per entry of ``formats``.
    formats : sequence of {'png', 'svg'}
    joule_axis : bool
        Draw the right axis in joules at ``T`` (every point must then be at that temperature: measured
        points in kT convert to joules only at their own run's temperature).
    notes : sequence of str
        Extra lines for the legend box (e.g. what the error bars are).

    Returns
    -------
    (matplotlib.figure.Figure, list of Path)

    Examples
    --------
    >>> fig, paths = plot_training_energy(T=300)                   # bounds only, no file written
    >>> fig.axes[0].get_xscale(), paths
    ('log', [])
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    T = check_temperature(T)
    if N is None:
        N = np.logspace(1, 12, 56)
    cur = training_energy_curves(N, bits_per_flop=bits_per_flop, flops_per_param=flops_per_param, rho=rho)
    pts = _iem_points(iem, bins, range)
    sets = _measured_sets(measured)
    fmts = _check_formats(formats) if out is not None else ()

    fig = Figure(figsize=(8.6, 4.6), dpi=120, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.loglog(cur["N"], cur["analog"], "-", color="C0",
              label=f"analog 2N{'' if rho == 1 else ' rho'}kT per presentation (Eq. 16; a bound only at kT*)")
    ax.loglog(cur["N"], cur["digital"], "--", color="C3",
              label=f"digital Landauer {flops_per_param:g}N x {bits_per_flop:g} bit x kT ln2 (Eq. 17)")
    for j, p in enumerate(pts):
        ax.loglog([p["N"]], [p["E_kT"]], "D", color=f"C{(4 + j) % 10}", label=p["label"] + " (per state)")
    for j, s in enumerate(sets):
        if len(sets) > 4:  # many sets (e.g. one per swept kT): an ordered colour map, never a repeated colour
            from matplotlib import colormaps

            color = colormaps["viridis"](j / (len(sets) - 1))
        else:
            color = f"C{(2 + 2 * j) % 10}"
        kw = dict(fmt=MARKERS[j % len(MARKERS)], color=color, label=s["label"], capsize=2)
        ax.errorbar(s["N"], s["W"], yerr=s["se"], **kw)
    if joule_axis:
        kTJ = K_B * T
        sec = ax.secondary_yaxis("right", functions=(lambda e: e * kTJ, lambda j: j / kTJ))
        sec.set_ylabel(f"[J] at T = {T:g} K")
    finish(fig, ax, "number of parameters N [count]", "energy per training sample [kT]",
           title or "Energy per training sample vs N", notes=tuple(notes))
    paths = save_figure(fig, out, fmts) if out is not None else []
    return fig, paths


def _check_formats(formats):
    fmts = (formats,) if isinstance(formats, str) else tuple(formats)
    bad = [f for f in fmts if f not in _FORMATS]
    if bad or not fmts:
        raise ValueError(f"formats must be a non-empty subset of {list(_FORMATS)}, got {list(fmts)}")
    return fmts


def save_figure(fig, out, formats=_FORMATS) -> list:
    """Write ``fig`` to ``out`` + '.png' / '.svg' atomically; returns the paths.

    Examples
    --------
    >>> import tempfile, os
    >>> fig, _ = plot_training_energy()
    >>> d = tempfile.mkdtemp()
    >>> [p.name for p in save_figure(fig, os.path.join(d, "bounds.png"))]
    ['bounds.png', 'bounds.svg']
    """
    fmts = _check_formats(formats)
    stem = Path(out)
    if stem.suffix.lower() in (".png", ".svg"):
        stem = stem.with_suffix("")
    paths = []
    for f in fmts:
        buf = io.BytesIO()
        fig.savefig(buf, format=f)
        p = stem.with_name(stem.name + "." + f)
        atomic_write_bytes(p, buf.getvalue())
        paths.append(p)
    return paths
