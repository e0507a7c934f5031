"""Figures from sweep results: an xarray Dataset in, matplotlib figures out (PNG and SVG).

Each figure function takes the consolidated dataset of a sweep (:func:`analogsim.sweeps.open_results`)
and returns a list of ``(suffix, Figure)``: one figure per combination of the sweep axes it does not
draw (x axis, one line per value of a "hue" axis, mean and standard error over ``seed``).
:func:`standard_figures` makes every figure whose variables the dataset holds and writes the files.

No pyplot and no global matplotlib state: figures are ``matplotlib.figure.Figure`` objects drawn with
the Agg canvas, so plotting works headless and never changes the caller's backend.

Standard figures (made when their variables are present):

- ``loss_vs_kT``: held-out (excess) loss against kT, with the threshold temperature T* marked
  (the ``kT_star`` variable if present, else E(T*) = 2 E(0) interpolated in log kT; docs/training.md).
- ``energy_vs_S`` / ``energy_vs_n_train`` / ``energy_vs_N``: training work W against presentations S,
  data-set size and parameter count N on log-log axes, with the Eq. 16 bound 2 N S kT and fitted slopes.
- ``stress_error``: relative stress-vs-backprop error against r = kappa_out/kappa_hidden (slope ~1).
- ``work_vs_tau``: quasi-static work against protocol duration tau (slope -1, Eq. 7).
- ``equipartition``: <kappa delta^2>/kT against the first swept setting (exactly 1 in equilibrium).
- ``bounds``: :func:`analogsim.bounds.figures.plot_training_energy` (analog and digital bounds per training
  sample vs N, in kT) with the sweep's measured W / (S kT) per N; a joule axis at the run's temperature.
- ``curve``: any variable against any sweep axis, when one is asked for (``y=``, ``x=``).

What every figure does (see ``docs/sweeps.md``): units in brackets on every axis (energies in the
simulator's energy units, k_B = 1; a right axis in joules only where all points share one physical
temperature and energy unit); error bars are +-1 standard error over seeds and the legend says so;
legends sit outside the data; reference lines that coincide are drawn once with a note; tick labels of
short log axes do not overlap; the Eq. 16 line 2 N S kT is labelled a bound at kT* only; points flagged
by :mod:`analogsim.report.health` are marked with red crosses and left out of means and fits unless
``include_flagged``, with a note. Classification results (``test_accuracy``) are drawn beside the loss.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ._figdata import (_ENERGY_NATURAL, _PRETTY, _errorbar, _flag_note, _healthy, _hue_values, _joule_axis,  # noqa: F401
                       _label, _mark_flagged, _mean_se, _panels, _pick, _se_note, _setting, _with_flags)
from ._figfit import fit_slope, threshold_from_curve
from .figures_energy import (EQ16, EQ16_RHO, _training, energy_vs_N, energy_vs_n_train,  # noqa: F401  (EQ16*: API)
                             energy_vs_S)
from ..report._figstyle import Merger, thin_overlaps
from ..report._figstyle import finish as _finish
from ..report._figstyle import new_figure as _figure

__all__ = ["standard_figures", "loss_vs_kT", "energy_vs_S", "energy_vs_N", "stress_error", "work_vs_tau",
           "equipartition", "curve", "fit_slope", "threshold_from_curve", "FIGURES"]

log = logging.getLogger("analogsim.sweeps.figures")
_LOSSES = ("excess_loss", "test_loss", "loss", "train_loss")


# ----------------------------------------------------------------------------- figures
_ACCURACY = ("test_accuracy", "train_accuracy")


def loss_vs_kT(ds, var=None):
    """Held-out (excess) loss (or ``var``) against kT with T* marked; one line per hue value, mean ± SE over
    seeds. With classification results (``test_accuracy``) the accuracy is drawn beside the loss.

    T* is the threshold temperature of the training bound (Eq. 16 holds at kT*): the ``kT_star`` variable if the
    runs stored it, else where the loss first reaches twice its value at the lowest kT
    (:func:`threshold_from_curve`). kT is in the simulator's energy units (k_B = 1).

    Parameters
    ----------
    ds : xarray.Dataset
        Sweep results with a ``kT`` axis (and usually ``seed``).
    var : str, optional
        The variable to draw (default: the first of excess_loss, test_loss, loss, train_loss present).

    Returns
    -------
    list of (str, matplotlib.figure.Figure)
        One (file-name suffix, figure) per panel; empty when the dataset lacks the variables.

    Examples
    --------
    >>> import xarray as xr
    >>> ds = xr.Dataset({"excess_loss": (("kT", "seed"), [[0.01, 0.012], [0.011, 0.013], [0.05, 0.06]])},
    ...                 coords={"kT": [1e-6, 1e-5, 1e-4], "seed": [0, 1]})
    >>> (suffix, fig), = loss_vs_kT(ds)
    >>> fig.axes[0].get_xlabel(), fig.axes[0].get_xscale()
    ('kT [energy units]', 'log')
    >>> [l.get_label() for l in fig.axes[0].get_lines() if l.get_label().startswith("kT*")]
    ['kT*: E = 2 E(lowest kT) = 1.7e-05']
    """
    var = var or next((v for v in _LOSSES if v in ds), None)
    if var is None or var not in ds or "kT" not in ds[var].dims:
        return []
    ds = _with_flags(ds, ds.attrs.get("_include_flagged"))
    acc = next((a for a in _ACCURACY if a in ds and a != var and "kT" in ds[a].dims), None)
    is_loss = var in _LOSSES
    out = []
    for suffix, title, sub, hue in _panels(ds, var, "kT"):
        fig, axes = _figure(ncols=2 if acc and is_loss else 1)
        ax = axes[0]
        kT = sub["kT"].values.astype(float)
        pos = kT > 0
        n_flag = 0
        for j in _hue_values(sub, hue):
            s, label = _pick(sub, hue, j)
            m, se = _mean_se(_healthy(s, var))
            line = _errorbar(ax, kT[pos], m.values[pos], se.values[pos], label, j)
            if (~pos).any():
                ax.axhline(float(m.values[~pos][0]), ls=":", color=line[0].get_color(), lw=1, label="kT = 0")
            n_flag += _mark_flagged(ax, s, var, "kT")
            if not is_loss:
                continue
            if "kT_star" in s:
                ts = float(np.nanmean(s["kT_star"].values))
                how = "kT* (from the runs)"
            else:
                ts = threshold_from_curve(kT, m.values)
                how = "kT*: E = 2 E(lowest kT)"
            if np.isfinite(ts) and ts > 0:
                ax.axvline(ts, ls="--", color=line[0].get_color(), lw=1, label=f"{how} = {ts:.2g}")
            if acc:
                ma, sa = _mean_se(_healthy(s, acc))
                _errorbar(axes[1], kT[pos], ma.values[pos], sa.values[pos], None, j, color=line[0].get_color())
        vals = _healthy(sub, var).values
        ylog = bool(np.nanmin(vals, initial=np.inf) > 0) if np.isfinite(vals).any() else False
        xl = _label(ds, "kT", "kT")
        if len(axes) == 2:
            _finish(fig, axes, [xl, xl], [_label(ds, var), _label(ds, acc)],
                    [title or f"{_PRETTY.get(var, var)} vs temperature", f"{_PRETTY[acc]}"],
                    yscale=["log" if ylog else "linear", "linear"],
                    notes=[_se_note(sub), _flag_note(ds, n_flag)])
        else:
            _finish(fig, ax, xl, _label(ds, var), title or f"{_PRETTY.get(var, var)} vs temperature",
                    yscale="log" if ylog else "linear", notes=[_se_note(sub), _flag_note(ds, n_flag)])
        out.append((suffix, fig))
    return out



def stress_error(ds, var=None):
    """Relative stress-vs-backprop error against r = kappa_out/kappa_hidden (log-log, fitted slope).

    Eq. 8-10: the stress of the clamped network equals the backprop gradient as r -> 0, with an error linear
    in r (slope ~1, fitted over r <= 1e-3). Both axes are dimensionless. Returns a list of (suffix, Figure).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> r = np.array([1e-5, 1e-4, 1e-3])
    >>> ds = xr.Dataset({"rel_error": (("kappa_ratio", "seed"), np.outer(3 * r, [1.0, 1.0]))},
    ...                 coords={"kappa_ratio": r, "seed": [0, 1]})
    >>> (_, fig), = stress_error(ds)
    >>> fig.axes[0].get_xlabel(), fig.axes[0].get_xscale()
    ('r = kappa_out / kappa_hidden [dimensionless]', 'log')
    """
    var = var or "rel_error"
    if var not in ds or "kappa_ratio" not in ds[var].dims:
        return []
    ds = _with_flags(ds, ds.attrs.get("_include_flagged"))
    out = []
    for suffix, title, sub, hue in _panels(ds, var, "kappa_ratio", prefer_hue=("depth", "activation")):
        fig, (ax,) = _figure()
        r = sub["kappa_ratio"].values.astype(float)
        for j in _hue_values(sub, hue):
            s, label = _pick(sub, hue, j)
            m, se = _mean_se(_healthy(s, var))
            sel = r <= 1e-3 if (r <= 1e-3).sum() >= 2 else np.ones_like(r, bool)
            slope, _ = fit_slope(r[sel], m.values[sel])
            exact = bool(np.nanmax(np.abs(m.values), initial=0.0) < 1e-13)  # e.g. no hidden layer: no error
            what = "error 0 at every r (exact)" if exact else f"slope {slope:.3f}"
            _errorbar(ax, r, m.values, se.values, f"{label + ': ' if label else ''}{what}", j)
        _finish(fig, ax, "r = kappa_out / kappa_hidden [dimensionless]", _label(ds, var),
                title or "stress equals backprop as r -> 0 (Eq. 8-10)", notes=[_se_note(sub)])
        out.append((suffix, fig))
    return out


def work_vs_tau(ds, var=None):
    """Mean quasi-static work against protocol duration tau (log-log; -> L^2/tau, Eq. 7).

    The slope is fitted over the slow half (tau >= its median); the dotted line is L^2/tau through the slowest
    point. Work in energy units, tau in the simulator's time units. Returns a list of (suffix, Figure).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> tau = np.array([10.0, 100.0, 1000.0])
    >>> ds = xr.Dataset({"work": (("tau", "seed"), np.outer(4.0 / tau, [1.0, 1.05]))},
    ...                 coords={"tau": tau, "seed": [0, 1]})
    >>> (_, fig), = work_vs_tau(ds)
    >>> fig.axes[0].get_xlabel()
    'protocol duration tau [time units]'
    >>> [l.get_label() for l in fig.axes[0].get_lines() if not l.get_label().startswith("_")]
    ['L^2 / tau through the slowest point']
    """
    var = var or "work"
    if var not in ds or "tau" not in ds[var].dims:
        return []
    ds = _with_flags(ds, ds.attrs.get("_include_flagged"))
    out = []
    for suffix, title, sub, hue in _panels(ds, var, "tau", prefer_hue=("kT", "integrator")):
        fig, (ax,) = _figure()
        merge = Merger(ax)
        tau = sub["tau"].values.astype(float)
        n_flag, rep_se = 0, False
        for j in _hue_values(sub, hue):
            s, label = _pick(sub, hue, j)
            m, se = _mean_se(_healthy(s, var))
            if f"{var}_se" in s and "seed" not in s.dims:
                se, rep_se = s[f"{var}_se"], True
            tail = tau >= np.median(tau)  # the slow end, where <W> -> L^2/tau
            slope, _ = fit_slope(tau[tail], m.values[tail])
            line = _errorbar(ax, tau, m.values, se.values,
                             f"{label + ': ' if label else ''}slope {slope:.2f} (tau >= {np.median(tau):.3g})", j)
            n_flag += _mark_flagged(ax, s, var, "tau")
            last = np.flatnonzero(np.isfinite(m.values) & (m.values > 0))
            if last.size:  # the quasi-static law through the slowest point
                k = last[-1]
                merge.plot(tau, m.values[k] * tau[k] / tau, "L^2 / tau through the slowest point", label,
                           ls=":", lw=1, color=line[0].get_color())
        merge.finalize()
        jn = _joule_axis(ax, sub, var)
        _finish(fig, ax, "protocol duration tau [time units]", _label(ds, var, "mean work <W>"),
                title or "quasi-static inference: work vs tau",
                notes=[_se_note(sub, replicas_se=rep_se), _flag_note(ds, n_flag), jn])
        out.append((suffix, fig))
    return out


def equipartition(ds, var=None):
    """Equipartition ratio <kappa delta^2>/kT (all neurons) against the first swept setting; 1 is exact.

    In equilibrium each neuron's deviation has <delta^2> = kT / kappa (the finite-temperature Eq. 6 model), so
    the ratio is dimensionless and 1. Returns a list of (suffix, Figure).

    Examples
    --------
    >>> import xarray as xr
    >>> ds = xr.Dataset({"equipartition_all": (("kT", "seed"), [[1.01, 0.99], [1.0, 1.02]])},
    ...                 coords={"kT": [1e-3, 1e-2], "seed": [0, 1]})
    >>> (_, fig), = equipartition(ds)
    >>> fig.axes[0].get_ylabel()
    '<kappa delta^2> / kT [dimensionless]'
    """
    var = var or "equipartition_all"
    if var not in ds:
        return []
    dims = [d for d in ds[var].dims if d != "seed" and d in ds.coords]
    if not dims:
        return []
    x = dims[0]
    ds = _with_flags(ds, ds.attrs.get("_include_flagged"))
    out = []
    for suffix, title, sub, hue in _panels(ds, var, x):
        fig, (ax,) = _figure()
        xv = sub[x].values
        numeric = np.issubdtype(xv.dtype, np.number)
        xs = xv.astype(float) if numeric else np.arange(xv.size)
        rep_se = False
        for j in _hue_values(sub, hue):
            s, label = _pick(sub, hue, j)
            m, se = _mean_se(_healthy(s, var))
            if "seed" not in s.dims and f"{var}_se" in s:
                se, rep_se = s[f"{var}_se"], True
            _errorbar(ax, xs, m.values, se.values, label, j)
        ax.axhline(1.0, color="k", lw=0.8, ls=":", label="exact: 1")
        log = numeric and np.all(xs > 0) and xs.size > 1 and xs.max() / xs.min() > 20
        if not numeric:
            ax.set_xticks(xs, [str(v) for v in xv])
        _finish(fig, ax, _label(ds, x, x), _label(ds, var), title or "equipartition",
                xscale="log" if log else "linear", yscale="linear", notes=[_se_note(sub, replicas_se=rep_se)])
        out.append((suffix, fig))
    return out


def bounds(ds, var=None):
    """The bounds figure of :func:`analogsim.bounds.figures.plot_training_energy` (energy per training sample
    vs N, analog and digital bounds, in kT) with this sweep's measured training work per presentation,
    W / (S kT), one point per parameter count N (mean ± SE over all other coordinates, flagged points left
    out; one set of points per value of a swept kT). The joule axis is drawn only when every point shares one physical temperature (the run's,
    from its results), and is labelled with it.

    Returns a list with one ("", Figure), empty without ``work`` and ``n_params``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> w = np.array([4, 8, 16])
    >>> N = (3 * w + 1).astype(float)
    >>> ds = xr.Dataset({"work": (("width", "seed"), np.outer(N, [1.0, 1.1])), "n_params": (("width",), N)},
    ...                 coords={"width": w, "seed": [0, 1], "kT": 1e-3, "presentations": 1000.0})
    >>> (_, fig), = bounds(ds)
    >>> fig.axes[0].get_ylabel()
    'energy per training sample [kT]'
    >>> [l.get_label() for l in fig.axes[0].get_lines() if "Eq. 16" in l.get_label()]
    ['analog 2NkT per presentation (Eq. 16; a bound only at kT*)']
    """
    if "work" not in ds or "n_params" not in ds or not _training(ds):
        return []
    try:
        from ..bounds.figures import plot_training_energy
    except ImportError:
        return []
    ds = _with_flags(ds, ds.attrs.get("_include_flagged"))
    W = _healthy(ds, "work")
    S = ds["presentations"] if "presentations" in ds.coords else _setting(ds, "presentations")
    kT = ds["kT_mean"] if "kT_mean" in ds else (ds["kT"] if "kT" in ds.coords else _setting(ds, "kT"))
    if S is None or kT is None:
        return []
    per = (W / (S * kT)).broadcast_like(W)
    N = ds["n_params"].broadcast_like(W)
    # one set of points per swept kT: W/(S kT) at 1e-9 and at 1e-4 are different measurements, not replicates
    groups = [(None, np.ones(W.shape, bool))]
    if "kT" in W.dims and W.sizes["kT"] > 1:
        kv = ds["kT"].values
        groups = [(k, (ds["kT"] == k).broadcast_like(W).values) for k in kv[:12]]
    sets, allN = [], []
    for k, sel in groups:
        n, v = N.values[sel], per.values[sel]
        ok = np.isfinite(n) & np.isfinite(v) & (v > 0)
        if not ok.any():
            continue
        Ns = np.unique(n[ok])
        mean = np.array([v[ok & (n == x)].mean() for x in Ns])
        se = np.array([v[ok & (n == x)].std(ddof=1) / np.sqrt((ok & (n == x)).sum())
                       if (ok & (n == x)).sum() > 1 else 0.0 for x in Ns])
        lab = "this sweep: measured W / (S kT) [kT]" if k is None or not sets else ""
        lab += "" if k is None else (" at kT = " if lab else "kT = ") + f"{k:.3g}"
        sets.append({"N": Ns, "W": mean, "se": se, "label": lab})
        allN.extend(Ns.tolist())
    if not sets:
        return []
    Ns = np.asarray(allN, float)
    T = None
    if "temperature_K" in ds:
        t = np.unique(ds["temperature_K"].values[np.isfinite(ds["temperature_K"].values)])
        T = float(t[0]) if t.size == 1 else None
    else:
        from ..bounds.units import T_ROOM

        T = T_ROOM
    n_flag = int(ds["_flagged"].sum()) if "_flagged" in ds else 0
    notes = ["error bars: +-1 standard error over the points at each N"]
    if n_flag:
        notes.append(_flag_note(ds, n_flag, marked=False))
    if T is None:
        notes.append("no joule axis: the points are at different physical temperatures")
    fig, _ = plot_training_energy(N=np.logspace(np.log10(Ns.min()) - 1, np.log10(Ns.max()) + 1, 40), T=T or 300.0,
                                  joule_axis=T is not None, notes=notes, measured=sets)
    return [("", fig)]


def curve(ds, var=None, x=None):
    """Any result ``var`` against any sweep axis ``x`` (default: the first numeric one); one line per hue
    value, mean ± SE over seeds, flagged points marked. Made only when a variable is asked for
    (``analogsim plot --y VAR [--x AXIS]``).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> ds = xr.Dataset({"test_accuracy": (("kT", "seed"), [[0.9, 0.8], [0.5, 0.6]])},
    ...                 coords={"kT": [1e-6, 1e-4], "seed": [0, 1]})
    >>> (suffix, fig), = curve(ds, "test_accuracy")
    >>> fig.axes[0].get_ylabel()
    'held-out accuracy [fraction]'
    """
    if var is None or var not in ds:
        return []
    dims = [d for d in ds[var].dims if d in ds.coords and d != "seed"]
    if x is None:
        x = next((d for d in dims if np.issubdtype(ds[d].dtype, np.number)), None)
    if x is None or x not in dims:
        return []
    ds = _with_flags(ds, ds.attrs.get("_include_flagged"))
    out = []
    for suffix, title, sub, hue in _panels(ds, var, x):
        fig, (ax,) = _figure()
        xs = sub[x].values.astype(float)
        n_flag = 0
        for j in _hue_values(sub, hue):
            s, label = _pick(sub, hue, j)
            m, se = _mean_se(_healthy(s, var))
            _errorbar(ax, xs, m.values, se.values, label, j)
            n_flag += _mark_flagged(ax, s, var, x)
        vals = _healthy(sub, var).values
        ylog = bool(np.isfinite(vals).any() and np.nanmin(vals) > 0 and np.nanmax(vals) / np.nanmin(vals) > 20)
        xlog = bool(np.all(xs > 0) and xs.size > 1 and xs.max() / xs.min() > 20)
        jn = _joule_axis(ax, sub, var)
        _finish(fig, ax, _label(ds, x, x), _label(ds, var), title or f"{var} vs {x}",
                xscale="log" if xlog else "linear", yscale="log" if ylog else "linear",
                notes=[_se_note(sub), _flag_note(ds, n_flag), jn])
        out.append((suffix, fig))
    return out


#: name -> figure function; each returns [] when the dataset lacks its variables.
FIGURES = {"loss_vs_kT": loss_vs_kT, "energy_vs_S": energy_vs_S, "energy_vs_n_train": energy_vs_n_train,
           "energy_vs_N": energy_vs_N, "stress_error": stress_error, "work_vs_tau": work_vs_tau,
           "equipartition": equipartition, "bounds": bounds, "curve": curve}


def standard_figures(ds, out_dir, formats=("png", "svg"), dpi: int = 150, only=None, *, y: str | None = None,
                     x: str | None = None, include_flagged: bool = False) -> list[Path]:
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
    y : str, optional
        The variable to plot: the standard figures that can show it do (e.g. ``train_loss`` in
        ``loss_vs_kT``, ``work_J`` in the energy figures), and the ``curve`` figure draws it against ``x``.
    x : str, optional
        The sweep axis of the ``curve`` figure (default: the first numeric axis).
    include_flagged : bool
        Keep flagged points (:mod:`analogsim.report.health`) in means and fits; they are marked either way.

    Raises
    ------
    ValueError
        An unknown format, figure name, variable or axis (before any figure is made).

    Examples
    --------
    >>> files = standard_figures("results/stress_vs_kappa", "results/stress_vs_kappa/figures")  # doctest: +SKIP
    """
    from .._io import atomic_write_bytes

    if not hasattr(ds, "data_vars"):
        from .store import open_results

        ds = open_results(ds)
    formats = [formats] if isinstance(formats, str) else list(formats)
    for f in formats:
        if f not in ("png", "svg", "pdf"):
            raise ValueError(f"formats must be among 'png', 'svg', 'pdf', got {f!r}")
    names = [n for n in FIGURES if n != "curve" or y is not None] if only is None else \
        ([only] if isinstance(only, str) else list(only))
    for n in names:
        if n not in FIGURES:
            raise ValueError(f"only: unknown figure {n!r}; figures are {list(FIGURES)}")
    plottable = sorted(v for v in ds.data_vars if not v.startswith("_") and ds[v].dtype.kind in "fiub")
    if y is not None and y not in plottable:
        raise ValueError(f"y: no numeric variable {y!r} in the results; variables are {plottable}")
    axes = [d for d in ds.dims if d in ds.coords]
    if x is not None and x not in axes:
        raise ValueError(f"x: {x!r} is not a sweep axis of the results; axes are {axes}")
    ds = _with_flags(ds, include_flagged)
    out_dir = Path(out_dir)
    written = []
    for name in names:
        make = FIGURES[name]
        try:
            if name == "curve":
                figs = make(ds, y, x)
            elif y is not None and name in _TAKES_VAR.get(y, ()):
                figs = make(ds, y)
            else:
                figs = make(ds)
        except Exception as exc:  # one figure's trouble must not cost the others
            log.warning("figure %s failed: %s: %s", name, type(exc).__name__, exc)
            continue
        for suffix, fig in figs:
            thin_overlaps(fig)
            for f in formats:
                import io

                buf = io.BytesIO()
                fig.savefig(buf, format=f, dpi=dpi)
                path = out_dir / f"{name}{suffix}.{f}"
                atomic_write_bytes(path, buf.getvalue())
                written.append(path)
    return written


_WORKS = ("work", "work_J", "work_bits")
#: variable -> standard figures that can draw it instead of their default
_TAKES_VAR = {**{v: ("loss_vs_kT",) for v in _LOSSES + _ACCURACY},
              **{v: ("energy_vs_S", "energy_vs_n_train", "energy_vs_N", "work_vs_tau") for v in _WORKS}}
