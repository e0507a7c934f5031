"""Figures from sweep results: an xarray Dataset in, matplotlib figures out (PNG and SVG).

Each figure function takes the consolidated dataset of a sweep (:func:`analogsim.sweeps.open_results`)
and returns a list of ``(suffix, Figure)``: one figure per combination of the sweep axes it does not
draw (x axis, one line per value of a "hue" axis, mean and standard error over ``seed``).
:func:`standard_figures` makes every figure whose variables the dataset holds and writes the files.

No pyplot and no global matplotlib state: figures are ``matplotlib.figure.Figure`` objects drawn with
the Agg canvas, so plotting works headless and never changes the caller's backend.

Standard figures (made when their variables are present):

- ``loss_vs_kT``: held-out (excess) loss against kT, with the threshold temperature T* marked
  (the ``kT_star`` variable if present, else E(T*) = 2 E(0) interpolated in log kT; PHYSICS.md §7).
- ``energy_vs_S`` / ``energy_vs_n_train`` / ``energy_vs_N``: training work W against presentations S,
  data-set size and parameter count N on log-log axes, with the Eq. 16 bound 2 N S kT and fitted slopes.
- ``stress_error``: relative stress-vs-backprop error against r = kappa_out/kappa_hidden (slope ~1, §4).
- ``work_vs_tau``: quasi-static work against protocol duration tau (slope -1, Eq. 7, §5).
- ``equipartition``: <kappa delta^2>/kT against the first swept setting (exactly 1 in equilibrium, §2).
- ``bounds``: :func:`analogsim.bounds.bounds_figure` (analog and digital bounds per training sample vs N)
  with the sweep's measured W / (S kT) per N.
"""

from __future__ import annotations

import itertools
import logging
import math
from pathlib import Path

import numpy as np

__all__ = ["standard_figures", "loss_vs_kT", "energy_vs_S", "energy_vs_N", "stress_error", "work_vs_tau",
           "equipartition", "fit_slope", "threshold_from_curve", "FIGURES"]

log = logging.getLogger("analogsim.plotting")
MAX_PANELS = 12
_LOSSES = ("excess_loss", "test_loss", "loss", "train_loss")


# ----------------------------------------------------------------------------- small helpers
def _figure(w=5.0, h=3.6):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot(1, 1, 1)


def _finish_axes(ax, xlabel, ylabel, title, yscale="log"):
    """The standard figures' axes: log x, the given y scale, labels, a small title and legend."""
    ax.set_xscale("log")
    ax.set_yscale(yscale)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)


def fit_slope(x, y) -> tuple[float, float]:
    """Least-squares slope and intercept of log y against log x over the finite, positive pairs.

    Returns (nan, nan) with fewer than two usable points.

    Examples
    --------
    >>> fit_slope([1, 10, 100], [2, 20, 200])[0]
    1.0
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    if ok.sum() < 2 or np.unique(x[ok]).size < 2:
        return float("nan"), float("nan")
    s, c = np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)
    return round(float(s), 12), float(c)


def threshold_from_curve(kT, loss, factor: float = 2.0) -> float:
    """kT* where ``loss`` first reaches ``factor`` x its value at the lowest kT (log-linear interpolation).

    This is the E(T*) = 2 E(0) definition of PHYSICS.md §7 read off a measured curve whose lowest kT
    stands in for T = 0 (the losses should be excess losses). Returns nan if the curve never gets there.

    Examples
    --------
    >>> round(threshold_from_curve([1e-4, 1e-3, 1e-2], [1.0, 1.5, 3.0]), 6)   # 10^(-3 + 1/3)
    0.002154
    """
    kT, loss = np.asarray(kT, float), np.asarray(loss, float)
    ok = np.isfinite(kT) & np.isfinite(loss)
    kT, loss = kT[ok], loss[ok]
    if kT.size < 2:
        return float("nan")
    order = np.argsort(kT)
    kT, loss = kT[order], loss[order]
    target = factor * loss[0]
    for i in range(1, kT.size):
        if loss[i] >= target:
            a, b = loss[i - 1], loss[i]
            t = (target - a) / (b - a) if b != a else 0.0
            if kT[i - 1] > 0:
                return float(math.exp(math.log(kT[i - 1]) + t * (math.log(kT[i]) - math.log(kT[i - 1]))))
            return float(kT[i - 1] + t * (kT[i] - kT[i - 1]))
    return float("nan")


def _mean_se(da, seed_dim="seed"):
    """Mean and standard error over ``seed`` (NaN-aware); SE is NaN without replicates."""
    if seed_dim in da.dims:
        n = da.notnull().sum(seed_dim)
        mean = da.mean(seed_dim, skipna=True)
        se = da.std(seed_dim, ddof=1, skipna=True) / np.sqrt(n.where(n > 0))
        return mean, se.where(n > 1)
    return da, da * np.nan


def _panels(ds, var, x, prefer_hue=()):
    """Split the sweep axes of ``var`` other than x and seed into (hue, panel axes); yield panels.

    Yields (suffix, title, sub-dataset, hue) where the sub-dataset keeps x, seed and hue.
    """
    axes = [d for d in ds[var].dims if d in ds.coords and d not in (x, "seed")]
    hue = next((d for d in prefer_hue if d in axes and ds.sizes[d] <= 8), None)
    if hue is None:
        hue = next((d for d in axes if ds.sizes[d] <= 8), None)
    rest = [d for d in axes if d != hue]
    combos = list(itertools.product(*[range(ds.sizes[d]) for d in rest]))
    if len(combos) > MAX_PANELS:
        log.warning("%s: %d panels over %s; drawing the first %d", var, len(combos), rest, MAX_PANELS)
        combos = combos[:MAX_PANELS]
    for combo in combos:
        sel = dict(zip(rest, combo))
        sub = ds.isel(sel) if sel else ds
        vals = {d: sub[d].values.item() for d in rest}
        suffix = "".join(f"__{d}-{_fmt(v)}" for d, v in vals.items())
        title = ", ".join(f"{d} = {_fmt(v)}" for d, v in vals.items())
        yield suffix, title, sub, hue


def _fmt(v) -> str:
    if isinstance(v, (float, np.floating)):
        return f"{v:.3g}"
    return str(v)


def _hue_values(sub, hue):
    return [None] if hue is None else list(range(sub.sizes[hue]))


def _pick(sub, hue, j):
    if hue is None:
        return sub, None
    return sub.isel({hue: j}), f"{hue} = {_fmt(sub[hue].values[j])}"


def _errorbar(ax, x, mean, se, label, **kw):
    se = np.where(np.isfinite(se), se, 0.0) if se is not None else None
    return ax.errorbar(x, mean, yerr=se, marker="o", ms=4, capsize=2, lw=1.2, label=label, **kw)


def _setting(ds, key):
    """A base setting of the run from the stored config (None if absent)."""
    import json

    try:
        cfg = json.loads(ds.attrs.get("config_json", "{}"))
    except ValueError:
        return None
    for sec in cfg.values():
        if isinstance(sec, dict) and key in sec:
            return sec[key]
    return None


# ----------------------------------------------------------------------------- figures
def loss_vs_kT(ds):
    """Held-out (excess) loss against kT with T* marked; one line per hue value, mean ± SE over seeds."""
    var = next((v for v in _LOSSES if v in ds), None)
    if var is None or "kT" not in ds[var].dims:
        return []
    out = []
    for suffix, title, sub, hue in _panels(ds, var, "kT"):
        fig, ax = _figure()
        kT = sub["kT"].values.astype(float)
        pos = kT > 0
        for j in _hue_values(sub, hue):
            s, label = _pick(sub, hue, j)
            m, se = _mean_se(s[var])
            line = _errorbar(ax, kT[pos], m.values[pos], se.values[pos], label)
            if (~pos).any():
                ax.axhline(float(m.values[~pos][0]), ls=":", color=line[0].get_color(), lw=1, label=None)
            if "kT_star" in s:
                ts = float(np.nanmean(s["kT_star"].values))
                how = "kT* (from the runs)"
            else:
                ts = threshold_from_curve(kT, m.values)
                how = "kT*: E = 2 E(lowest kT)"
            if np.isfinite(ts) and ts > 0:
                ax.axvline(ts, ls="--", color=line[0].get_color(), lw=1, label=f"{how} = {ts:.2g}")
        _finish_axes(ax, "kT (energy units)", var.replace("_", " "), title or "loss vs temperature",
                     yscale="log" if np.nanmin(sub[var].values) > 0 else "linear")
        out.append((suffix, fig))
    return out


def _energy_vs(ds, x, xlabel):
    if "work" not in ds or x not in ds["work"].dims:
        return []
    out = []
    for suffix, title, sub, hue in _panels(ds, "work", x, prefer_hue=("n_train", "width", "kT")):
        fig, ax = _figure()
        xs = sub[x].values.astype(float)
        for j in _hue_values(sub, hue):
            s, label = _pick(sub, hue, j)
            m, se = _mean_se(s["work"])
            slope, _ = fit_slope(xs, m.values)
            line = _errorbar(ax, xs, m.values, se.values, f"{label + ': ' if label else ''}W, slope {slope:.2f}")
            _draw_bounds(ax, s, x, xs, line[0].get_color(), first=j in (None, 0))
        _finish_axes(ax, xlabel, "training work W (energy units)", title or f"training energy vs {x}")
        out.append((suffix, fig))
    return out


def _bound(s, x):
    """2 N S kT along x (the ``bound_2NSkT`` variable if stored, else from n_params, presentations, kT)."""
    if "bound_2NSkT" in s:
        b, _ = _mean_se(s["bound_2NSkT"])
        return b.values
    try:
        n = _mean_se(s["n_params"])[0] if "n_params" in s else None
        S = s["presentations"] if "presentations" in s.coords else _setting(s, "presentations")
        kT = s["kT"] if "kT" in s.coords else _setting(s, "kT")
        if n is None or S is None or kT is None:
            return None
        b = 2.0 * n * S * kT
        return np.broadcast_to(np.asarray(b.values if hasattr(b, "values") else b, float), s[x].shape)
    except (KeyError, TypeError, ValueError):
        return None


def _draw_bounds(ax, s, x, xs, color, first):
    bound = _bound(s, x)
    if bound is not None:
        ax.plot(xs, bound, ls="--", color=color, lw=1, label="2 N S kT (Eq. 16)" if first else None)
    if "bound" in s:  # with the measured rho = <|g|^2>/var(g)
        ax.plot(xs, _mean_se(s["bound"])[0].values, ls=":", color=color, lw=1,
                label="2 N S rho kT (measured rho)" if first else None)


def energy_vs_S(ds):
    """Training work against the number of presentations S (log-log), with 2 N S kT and fitted slopes."""
    return _energy_vs(ds, "presentations", "presentations S")


def energy_vs_n_train(ds):
    """Training work against the data-set size (log-log); at fixed S it should not depend on it (§7)."""
    return _energy_vs(ds, "n_train", "data-set size")


def energy_vs_N(ds):
    """Training work against the parameter count N (log-log), with 2 N S kT and the fitted slope."""
    if "work" not in ds or "n_params" not in ds:
        return []
    xdim = next((d for d in ("width", "depth") if d in ds["work"].dims), None)
    if xdim is None:
        return []
    out = []
    for suffix, title, sub, hue in _panels(ds, "work", xdim, prefer_hue=("kT", "presentations")):
        fig, ax = _figure()
        for j in _hue_values(sub, hue):
            s, label = _pick(sub, hue, j)
            N = _mean_se(s["n_params"])[0].values
            m, se = _mean_se(s["work"])
            slope, _ = fit_slope(N, m.values)
            line = _errorbar(ax, N, m.values, se.values, f"{label + ': ' if label else ''}W, slope {slope:.2f}")
            _draw_bounds(ax, s, xdim, N, line[0].get_color(), first=j in (None, 0))
        _finish_axes(ax, "parameters N", "training work W (energy units)", title or "training energy vs N")
        out.append((suffix, fig))
    return out


def stress_error(ds):
    """Relative stress-vs-backprop error against r = kappa_out/kappa_hidden (log-log, fitted slope)."""
    if "rel_error" not in ds or "kappa_ratio" not in ds["rel_error"].dims:
        return []
    out = []
    for suffix, title, sub, hue in _panels(ds, "rel_error", "kappa_ratio", prefer_hue=("depth", "activation")):
        fig, ax = _figure()
        r = sub["kappa_ratio"].values.astype(float)
        for j in _hue_values(sub, hue):
            s, label = _pick(sub, hue, j)
            m, se = _mean_se(s["rel_error"])
            sel = r <= 1e-3 if (r <= 1e-3).sum() >= 2 else np.ones_like(r, bool)
            slope, _ = fit_slope(r[sel], m.values[sel])
            exact = bool(np.nanmax(np.abs(m.values), initial=0.0) < 1e-13)  # e.g. no hidden layer: no error
            what = "error 0 at every r (exact)" if exact else f"slope {slope:.3f}"
            _errorbar(ax, r, m.values, se.values, f"{label + ': ' if label else ''}{what}")
        _finish_axes(ax, "r = kappa_out / kappa_hidden", "|stress - backprop| / |backprop|",
                     title or "stress equals backprop as r -> 0 (Eq. 8-10)")
        out.append((suffix, fig))
    return out


def work_vs_tau(ds):
    """Mean quasi-static work against protocol duration tau (log-log; -> L^2/tau, Eq. 7)."""
    if "work" not in ds or "tau" not in ds["work"].dims:
        return []
    out = []
    for suffix, title, sub, hue in _panels(ds, "work", "tau", prefer_hue=("kT", "integrator")):
        fig, ax = _figure()
        tau = sub["tau"].values.astype(float)
        for j in _hue_values(sub, hue):
            s, label = _pick(sub, hue, j)
            m, se = _mean_se(s["work"])
            if "work_se" in s and "seed" not in s.dims:
                se = s["work_se"]
            tail = tau >= np.median(tau)  # the slow end, where <W> -> L^2/tau
            slope, _ = fit_slope(tau[tail], m.values[tail])
            line = _errorbar(ax, tau, m.values, se.values,
                             f"{label + ': ' if label else ''}slope {slope:.2f} (tau >= {np.median(tau):.3g})")
            last = np.flatnonzero(np.isfinite(m.values) & (m.values > 0))
            if last.size:  # the quasi-static law through the slowest point
                k = last[-1]
                ax.plot(tau, m.values[k] * tau[k] / tau, ls=":", lw=1, color=line[0].get_color(),
                        label="L^2 / tau" if j in (None, 0) else None)
        _finish_axes(ax, "protocol duration tau", "<W> (energy units)", title or "quasi-static inference: work vs tau")
        out.append((suffix, fig))
    return out


def equipartition(ds):
    """Equipartition ratio <kappa delta^2>/kT (all neurons) against the first swept setting; 1 is exact."""
    if "equipartition_all" not in ds:
        return []
    dims = [d for d in ds["equipartition_all"].dims if d != "seed"]
    if not dims:
        return []
    x = dims[0]
    out = []
    for suffix, title, sub, hue in _panels(ds, "equipartition_all", x):
        fig, ax = _figure()
        xv = sub[x].values
        numeric = np.issubdtype(xv.dtype, np.number)
        xs = xv.astype(float) if numeric else np.arange(xv.size)
        for j in _hue_values(sub, hue):
            s, label = _pick(sub, hue, j)
            m, se = _mean_se(s["equipartition_all"])
            if "seed" not in s.dims and "equipartition_all_se" in s:
                se = s["equipartition_all_se"]
            _errorbar(ax, xs, m.values, se.values, label)
        ax.axhline(1.0, color="k", lw=0.8, ls=":")
        if numeric and np.all(xs > 0) and xs.size > 1 and xs.max() / xs.min() > 20:
            ax.set_xscale("log")
        if not numeric:
            ax.set_xticks(xs, [str(v) for v in xv])
        ax.set_xlabel(x)
        ax.set_ylabel("<kappa delta^2> / kT")
        ax.set_title(title or "equipartition", fontsize=9)
        if hue is not None:
            ax.legend(fontsize=7)
        out.append((suffix, fig))
    return out


def bounds(ds):
    """The bounds figure of :func:`analogsim.bounds.bounds_figure` (energy per training sample vs N, analog
    and digital bounds) with this sweep's measured training work per presentation, W / (S kT), one point
    per parameter count N (mean ± SE over all other coordinates)."""
    if "work" not in ds or "n_params" not in ds:
        return []
    try:
        from .bounds import bounds_figure
    except ImportError:
        return []
    W = ds["work"]
    S = ds["presentations"] if "presentations" in ds.coords else _setting(ds, "presentations")
    kT = ds["kT_mean"] if "kT_mean" in ds else (ds["kT"] if "kT" in ds.coords else _setting(ds, "kT"))
    if S is None or kT is None:
        return []
    per = (W / (S * kT)).broadcast_like(W)
    N = ds["n_params"].broadcast_like(W)
    n, v = N.values.ravel(), per.values.ravel()
    ok = np.isfinite(n) & np.isfinite(v) & (v > 0)
    if not ok.any():
        return []
    Ns = np.unique(n[ok])
    mean = np.array([v[ok & (n == x)].mean() for x in Ns])
    se = np.array([v[ok & (n == x)].std(ddof=1) / np.sqrt((ok & (n == x)).sum()) if (ok & (n == x)).sum() > 1
                   else 0.0 for x in Ns])
    fig = bounds_figure(N=np.logspace(np.log10(Ns.min()) - 1, np.log10(Ns.max()) + 1, 40),
                        measured={"N": Ns, "W": mean, "se": se, "label": "this sweep: W / (S kT)"})
    return [("", fig)]


#: name -> figure function; each returns [] when the dataset lacks its variables.
FIGURES = {"loss_vs_kT": loss_vs_kT, "energy_vs_S": energy_vs_S, "energy_vs_n_train": energy_vs_n_train,
           "energy_vs_N": energy_vs_N, "stress_error": stress_error, "work_vs_tau": work_vs_tau,
           "equipartition": equipartition, "bounds": bounds}


def standard_figures(ds, out_dir, formats=("png", "svg"), dpi: int = 150, only=None) -> list[Path]:
    """Write every standard figure the dataset supports; return the files written.

    Parameters
    ----------
    ds : xarray.Dataset or path
        Consolidated sweep results (or a run folder / results.nc path).
    out_dir : path
        Folder for the figures (created if needed).
    formats : sequence of {'png', 'svg', 'pdf'}
    dpi : int
        Resolution of raster formats.
    only : sequence of str, optional
        Names from :data:`FIGURES` to make (default: all that apply).

    Examples
    --------
    >>> files = standard_figures("results/stress_vs_kappa", "results/stress_vs_kappa/figures")  # doctest: +SKIP
    """
    from ._io import atomic_write_bytes

    if not hasattr(ds, "data_vars"):
        from .sweeps.store import open_results

        ds = open_results(ds)
    formats = [formats] if isinstance(formats, str) else list(formats)
    for f in formats:
        if f not in ("png", "svg", "pdf"):
            raise ValueError(f"formats must be among 'png', 'svg', 'pdf', got {f!r}")
    names = list(FIGURES) if only is None else ([only] if isinstance(only, str) else list(only))
    for n in names:
        if n not in FIGURES:
            raise ValueError(f"only: unknown figure {n!r}; figures are {list(FIGURES)}")
    out_dir = Path(out_dir)
    written = []
    for name in names:
        make = FIGURES[name]
        try:
            figs = make(ds)
        except Exception as exc:  # one figure's trouble must not cost the others
            log.warning("figure %s failed: %s: %s", name, type(exc).__name__, exc)
            continue
        for suffix, fig in figs:
            for f in formats:
                import io

                buf = io.BytesIO()
                fig.savefig(buf, format=f, dpi=dpi)
                path = out_dir / f"{name}{suffix}.{f}"
                atomic_write_bytes(path, buf.getvalue())
                written.append(path)
    return written
