"""Dataset side of the standard figures: panels and hues over the sweep axes, mean and standard error over
seeds, axis labels with units, flagged points (:mod:`analogsim.report.health`) marked and left out, notes, the
joule axis. Private to :mod:`analogsim.sweeps.figures`.

Examples
--------
>>> import numpy as np, xarray as xr
>>> ds = xr.Dataset({"work": (("width", "seed"), np.array([[1.0, 3.0], [2.0, 2.0]]))},
...                 coords={"width": [2, 4], "seed": [0, 1]})
>>> m, se = _mean_se(ds["work"])
>>> m.values.tolist(), se.values.tolist()
([2.0, 2.0], [1.0, 0.0])
>>> _label(ds, "work")
'training work W [energy units, k_B = 1]'
"""

from __future__ import annotations

import itertools
import logging

import numpy as np

from ..report._figstyle import FLAG_STYLE, MARKERS

log = logging.getLogger("analogsim.sweeps.figures")
MAX_PANELS = 12


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


# ----------------------------------------------------------------------------- units, flags, notes
_PRETTY = {"work": "training work W", "work_J": "training work W", "work_bits": "training work W",
           "test_loss": "held-out loss", "train_loss": "training loss", "excess_loss": "held-out excess loss",
           "test_accuracy": "held-out accuracy", "train_accuracy": "training accuracy",
           "rel_error": "|stress - backprop| / |backprop|", "equipartition_all": "<kappa delta^2> / kT"}
_UNITS = {"work": "energy units", "heat": "energy units", "bound": "energy units", "bound_2NSkT": "energy units",
          "free_energy": "energy units", "work_J": "J", "heat_J": "J", "work_bits": "bit", "heat_bits": "bit",
          "test_loss": "target units$^2$", "train_loss": "target units$^2$", "excess_loss": "target units$^2$",
          "loss": "target units$^2$", "test_accuracy": "fraction", "train_accuracy": "fraction",
          "rel_error": "dimensionless", "equipartition_all": "dimensionless", "kT": "energy units",
          "tau": "time units", "presentations": "count", "n_train": "entries", "width": "neurons",
          "depth": "layers", "n_params": "count", "kappa_ratio": "dimensionless", "kappa": "energy units",
          "dt": "time units", "mu": "1/(energy units x time units)", "seed": "index"}
_ENERGY_NATURAL = ("work", "heat", "bound", "bound_2NSkT", "free_energy")


def _unit(ds, var) -> str:
    u = ds[var].attrs.get("units") if var in ds else None
    return u or _UNITS.get(var) or "as stored"


def _label(ds, var, name=None) -> str:
    """Axis label with its unit in brackets, e.g. 'training work W [energy units (k_B = 1)]'."""
    unit = _unit(ds, var)
    if var in _ENERGY_NATURAL:
        unit = "energy units, k_B = 1"
    return f"{name or _PRETTY.get(var, var.replace('_', ' '))} [{unit}]"


def _flag_mask(ds):
    """The flagged-point mask of a dataset (see :func:`analogsim.report.health.dataset_flags`), cached as ``_flagged``."""
    if "_flagged" in ds:
        return ds["_flagged"]
    from ..report.health import dataset_flags

    return dataset_flags(ds) if "status" in ds else None


def _with_flags(ds, include_flagged=False):
    if "status" in ds and "health_flags" not in ds and "_flagged" not in ds:
        from ..report.health import judge_dataset

        ds = judge_dataset(ds)  # results made before health checks: judged now, with their flag codes
    m = _flag_mask(ds)
    if m is None:
        return ds
    out = ds.assign(_flagged=m)
    out.attrs["_include_flagged"] = int(bool(include_flagged))
    return out


def _healthy(s, var):
    """``s[var]`` with flagged points set to NaN (unless the dataset asks to include them)."""
    da = s[var]
    if "_flagged" not in s or s.attrs.get("_include_flagged"):
        return da
    return da.where(~s["_flagged"].broadcast_like(da).astype(bool))


def _mark_flagged(ax, s, var, xcoord, xvalues=None) -> int:
    """Red crosses at the flagged points' own values; returns how many were flagged."""
    if "_flagged" not in s:
        return 0
    da = s[var]
    fl = s["_flagged"].broadcast_like(da).astype(bool)
    n = int(fl.sum())
    if not n:
        return 0
    bad = da.where(fl)
    xs, ys = [], []
    order = [d for d in da.dims]
    arr = bad.transpose(*order).values
    xi = order.index(xcoord) if xcoord in order else None
    for idx in np.ndindex(arr.shape):
        v = arr[idx]
        if np.isfinite(v) and xi is not None:
            xs.append(float(xvalues[idx[xi]]) if xvalues is not None else float(s[xcoord].values[idx[xi]]))
            ys.append(float(v))
    if xs:
        ax.plot(xs, ys, label="flagged point (its own value)", **FLAG_STYLE)
    return n


def _flag_note(ds, n: int, marked: bool = True) -> str | None:
    if not n:
        return None
    mark = "x: " if marked else ""
    codes = sorted({c for t in np.ravel(ds["health_flags"].values) for c in str(t).split(";") if c}) \
        if "health_flags" in ds else []
    what = f" ({', '.join(codes)})" if codes else ""
    if ds.attrs.get("_include_flagged"):
        return f"{mark}{n} flagged point(s){what}, INCLUDED in means and fits"
    return f"{mark}{n} flagged point(s){what}, left out of means and fits"


def _se_note(s, var=None, replicas_se=False) -> str:
    if replicas_se:
        return "error bars: +-1 standard error over replicas"
    if "seed" in s.dims:
        return f"error bars: +-1 standard error of the mean over {s.sizes['seed']} seeds"
    return "no error bars (one run per point)"


def _joule_axis(ax, s, var):
    """A right axis in joules when every point of the figure shares one energy unit; else a note."""
    if var not in _ENERGY_NATURAL or "energy_unit_J" not in s:
        return None
    e = np.unique(np.round(s["energy_unit_J"].values[np.isfinite(s["energy_unit_J"].values)], 300))
    if e.size != 1:
        return f"joules differ between points (see {var}_J, {var}_bits in the results)"
    T = np.unique(s["temperature_K"].values[np.isfinite(s["temperature_K"].values)]) \
        if "temperature_K" in s else np.array([])
    f = float(e[0])
    sec = ax.secondary_yaxis("right", functions=(lambda v: v * f, lambda j: j / f))
    t = f"T = {float(T[0]):.4g} K" if T.size == 1 else "the run's T"
    sec.set_ylabel(f"[J] at {t}", fontsize=8)
    return None


def _style(j):
    """Data lines: solid (dashed and dotted lines are reference lines), one marker per hue value, so that
    two data lines on top of each other can still be told apart."""
    j = 0 if j is None else j
    return dict(marker=MARKERS[j % len(MARKERS)], ls="-")


def _errorbar(ax, x, mean, se, label, j=None, **kw):
    se = np.where(np.isfinite(se), se, 0.0) if se is not None else None
    kw = {**_style(j), **kw}
    return ax.errorbar(x, mean, yerr=se, ms=4, capsize=2, lw=1.2, label=label, **kw)


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
