"""Energy figures of a training sweep: W against presentations S, data-set size and parameter count N, with
the Eq. 16 bound 2 N S kT and fitted slopes (see :mod:`analogsim.sweeps.figures`).
"""

from __future__ import annotations

import numpy as np

from ._figdata import (_errorbar, _flag_note, _healthy, _hue_values, _joule_axis,  # noqa: F401
                       _label, _mark_flagged, _mean_se, _panels, _pick, _se_note, _setting, _with_flags)
from ._figfit import fit_slope
from ..report._figstyle import Merger
from ..report._figstyle import finish as _finish
from ..report._figstyle import new_figure as _figure

EQ16 = "2 N S kT (Eq. 16; a bound only at kT = kT*)"
EQ16_RHO = "2 N S rho kT, measured rho (Eq. 16 at kT* only)"


def _training(ds) -> bool:
    """Training results (kind 'train', or no kind recorded): only these have a training work W."""
    return ds.attrs.get("kind", "train") == "train"


def _energy_vs(ds, x, xlabel, var=None):
    var = var or "work"
    if var not in ds or x not in ds[var].dims or not _training(ds):
        return []
    ds = _with_flags(ds, ds.attrs.get("_include_flagged"))
    out = []
    for suffix, title, sub, hue in _panels(ds, var, x, prefer_hue=("n_train", "width", "kT")):
        fig, (ax,) = _figure()
        merge = Merger(ax)
        xs = sub[x].values.astype(float)
        n_flag, devs = 0, []
        for j in _hue_values(sub, hue):
            s, label = _pick(sub, hue, j)
            m, se = _mean_se(_healthy(s, var))
            slope, _ = fit_slope(xs, m.values)
            line = _errorbar(ax, xs, m.values, se.values, f"{label + ': ' if label else ''}W, slope {slope:.2f}", j)
            n_flag += _mark_flagged(ax, s, var, x)
            if var == "work":
                devs.append(_draw_bounds(merge, s, x, xs, line[0].get_color(), label))
        merge.finalize()
        jn = _joule_axis(ax, sub, var)
        _finish(fig, ax, xlabel, _label(ds, var), title or f"training energy vs {x}",
                notes=[_se_note(sub), _flag_note(ds, n_flag), jn, _rho_note(devs)])
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


def _draw_bounds(merge, s, x, xs, color, who):
    """Draw 2 N S kT and 2 N S rho kT. When the two lie within 5 % of each other everywhere (rho ~ 1) only the
    first is drawn (two lines on top of each other cannot be told apart); returns that largest relative
    deviation then (for the figure's note), else None."""
    bound = _bound(s, x)
    if bound is not None:
        merge.plot(xs, bound, EQ16, who, ls="--", color=color, lw=1)
    if "bound" not in s:  # with the measured rho = <|g|^2>/var(g)
        return None
    b_rho = _mean_se(_healthy(s, "bound"))[0].values
    if bound is not None:
        with np.errstate(invalid="ignore", divide="ignore"):
            dev = np.abs(np.asarray(b_rho, float) / np.asarray(bound, float) - 1.0)
        if np.isfinite(dev).any() and np.nanmax(dev) < 0.05:
            return float(np.nanmax(dev))
    merge.plot(xs, b_rho, EQ16_RHO, who, ls=":", color=color, lw=1.6)
    return None


def _rho_note(devs) -> str | None:
    devs = [d for d in devs if d is not None]
    if not devs:
        return None
    return f"2 N S rho kT (measured rho) within {100 * max(devs):.1f} % of 2 N S kT: drawn as one line"


def energy_vs_S(ds, var=None):
    """Training work against the number of presentations S (log-log), with 2 N S kT and fitted slopes.

    The dashed line is Eq. 16's 2 N S kT (a bound only at kT = kT*), from ``bound_2NSkT`` or from
    ``n_params``, S and kT; work in the simulator's energy units (a joule axis where the run's temperature
    is known). Returns a list of (suffix, Figure), empty when the dataset has no ``work`` along
    ``presentations``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> S = np.array([100.0, 1000.0, 10000.0])
    >>> ds = xr.Dataset({"work": (("presentations", "seed"), np.outer(0.01 * S, [1.0, 1.1])),
    ...                  "n_params": ((), 10.0)}, coords={"presentations": S, "seed": [0, 1], "kT": 1e-3})
    >>> (_, fig), = energy_vs_S(ds)
    >>> ax = fig.axes[0]
    >>> ax.get_xlabel(), ax.get_xscale(), ax.get_yscale()
    ('presentations S [count]', 'log', 'log')
    >>> [l.get_label() for l in ax.get_lines() if not l.get_label().startswith("_")]
    ['2 N S kT (Eq. 16; a bound only at kT = kT*)']
    """
    return _energy_vs(ds, "presentations", "presentations S [count]", var)


def energy_vs_n_train(ds, var=None):
    """Training work against the data-set size (log-log); at fixed S it should not depend on it.

    Eq. 16's D counts presentations S (epochs x data-set size; Eq. 14's exposure time per entry), so at fixed
    S the work should not depend on the number of distinct entries. The dashed line is 2 N S kT (Eq. 16).
    Returns a list of (suffix, Figure), empty without ``work`` along ``n_train``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> D = np.array([100, 1000, 10000])
    >>> ds = xr.Dataset({"work": (("n_train", "seed"), [[10.0, 11.0], [10.5, 10.0], [9.8, 10.2]]),
    ...                  "n_params": ((), 10.0)},
    ...                 coords={"n_train": D, "seed": [0, 1], "kT": 1e-3, "presentations": 1000.0})
    >>> (_, fig), = energy_vs_n_train(ds)
    >>> fig.axes[0].get_xlabel()
    'data-set size D [entries]'
    """
    return _energy_vs(ds, "n_train", "data-set size D [entries]", var)


def energy_vs_N(ds, var=None):
    """Training work against the parameter count N (log-log), with 2 N S kT and the fitted slope.

    The x axis is ``n_params`` along a swept ``width`` or ``depth``; the dashed line is Eq. 16's 2 N S kT
    (energy units; a bound only at kT*). Returns a list of (suffix, Figure).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> w = np.array([4, 8, 16])
    >>> N = (3 * w + 1).astype(float)                       # a 2-w-1 net
    >>> ds = xr.Dataset({"work": (("width", "seed"), np.outer(N, [1.0, 1.1])), "n_params": (("width",), N)},
    ...                 coords={"width": w, "seed": [0, 1], "kT": 1e-3, "presentations": 1000.0})
    >>> (_, fig), = energy_vs_N(ds)
    >>> fig.axes[0].get_xlabel(), fig.axes[0].get_ylabel()
    ('parameters N [count]', 'training work W [energy units, k_B = 1]')
    """
    var = var or "work"
    if var not in ds or "n_params" not in ds or not _training(ds):
        return []
    xdim = next((d for d in ("width", "depth") if d in ds[var].dims), None)
    if xdim is None:
        return []
    ds = _with_flags(ds, ds.attrs.get("_include_flagged"))
    out = []
    for suffix, title, sub, hue in _panels(ds, var, xdim, prefer_hue=("kT", "presentations")):
        fig, (ax,) = _figure()
        merge = Merger(ax)
        n_flag, devs = 0, []
        for j in _hue_values(sub, hue):
            s, label = _pick(sub, hue, j)
            N = _mean_se(s["n_params"])[0].values
            m, se = _mean_se(_healthy(s, var))
            slope, _ = fit_slope(N, m.values)
            line = _errorbar(ax, N, m.values, se.values, f"{label + ': ' if label else ''}W, slope {slope:.2f}", j)
            n_flag += _mark_flagged(ax, s, var, xdim, xvalues=N)
            if var == "work":
                devs.append(_draw_bounds(merge, s, xdim, N, line[0].get_color(), label))
        merge.finalize()
        jn = _joule_axis(ax, sub, var)
        _finish(fig, ax, "parameters N [count]", _label(ds, var), title or "training energy vs N",
                notes=[_se_note(sub), _flag_note(ds, n_flag), jn, _rho_note(devs)])
        out.append((suffix, fig))
    return out
