"""One place that judges whether a run's physics went wrong, and says so with the cause and the fix.

A run can finish, return numbers and still be wrong: a training whose loss exploded (its learning rate
too large for the network's width), a training that mostly ran on the slow fallback solver because its
state left the regime of the fast one, a Langevin run past its stability limit, a Jarzynski average with
an effective sample size of one. Such runs are *flagged*: their result, their sweep point's status
(``'flagged'`` rather than ``'ok'``), their summary and their plots say so, and fits leave them out
unless asked.

Every check reads numbers the run already has (names as in a sweep point's results or a training
result's summary) and returns :class:`Flag` records. Two severities:

* ``'bad'``: the physics went wrong; the point is not 'ok' and is excluded from fits;
* ``'warn'``: the numbers stand, but qualify them (slow path, an unreliable estimator).

Checks (thresholds in :data:`THRESHOLDS`):

=====================  ========  ====================================================================
code                   severity  when
=====================  ========  ====================================================================
loss_nonfinite         bad       a final training/held-out loss is NaN or infinite
loss_exploded          bad       final training loss > ``loss_growth`` x max(initial loss, thermal
                                 level N kT / (2 kappa_out))
fallbacks_high         bad/warn  fallback solves / parameter steps > ``fallback_fraction``: bad with a
                                 soft output clamp (the fast solver should converge there), warn with
                                 the hard clamp (it always falls back: slow, not wrong)
run_status             bad       a relaxation's status is not 'ok' (diverged, stalled, oscillating replicas)
unstable_step          bad       dt lambda_max >= 2 (Langevin stability limit, docs/theory/langevin.md)
em_bias                warn      Euler-Maruyama with dt lambda_max > ``em_bias_dt_lambda`` (bias > ~1 %)
low_acceptance         warn      MALA acceptance < ``min_acceptance``
jarzynski_low_ess      warn      Jarzynski effective sample size < ``min_ess`` (estimator unusable)
reset_error            bad       a bistable element's reset error (the fraction left in the wrong well)
                                 > ``max_reset_error`` (the dynamic machine, ``reset_error``)
first_law_open         bad       the training books' first law closes only to ``first_law_relative`` >
                                 ``max_first_law_relative`` of the budget (joint step too coarse)
=====================  ========  ====================================================================

Examples
--------
>>> flags = judge({"train_loss": 365.0, "initial_train_loss": 0.9, "fallbacks": 9980,
...                "presentations": 10000, "kappa_out": 1e-3})
>>> [f.code for f in flags]
['loss_exploded', 'fallbacks_high']
>>> is_flagged(flags)
True
>>> print(format_flags(flags).splitlines()[0])
FLAGGED: loss_exploded: the final training loss 365 is 406x its initial value 0.9
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Mapping

__all__ = ["Flag", "THRESHOLDS", "judge", "judge_train", "is_flagged", "format_flags", "encode", "decode",
           "dataset_flags", "judge_dataset", "CODES"]

#: Thresholds of the checks (change them with ``judge(..., thresholds={...})``).
THRESHOLDS = {
    "loss_growth": 10.0,  # final loss over max(initial, thermal level) that counts as exploded
    "fallback_fraction": 0.5,  # "mostly fell back"
    # EM's worst-layer bias is 0.22 dt lambda (analogsim.inference.stability.EM_BIAS_WORST_LAYER): 0.2 means ~4 % and a
    # spurious mean force; the stability guard already warns from 1 % (docs/theory/langevin.md)
    "em_bias_dt_lambda": 0.2,
    "min_acceptance": 0.5,
    "min_ess": 10.0,
    "max_reset_error": 1e-3,  # a reset that leaves more than this fraction in the wrong well failed to erase
    "max_first_law_relative": 1e-3,  # summed |first-law residual| over the budget |W_sw| + |Q_x| + |Q_theta|
}

CODES = ("loss_nonfinite", "loss_exploded", "fallbacks_high", "run_status", "unstable_step", "em_bias",
         "low_acceptance", "jarzynski_low_ess", "reset_error", "first_law_open")


@dataclass(frozen=True)
class Flag:
    """One finding about a run's health.

    Attributes
    ----------
    code : str
        A short identifier from :data:`CODES`.
    severity : {'bad', 'warn'}
        'bad': the physics went wrong (point not ok, left out of fits); 'warn': qualifies the numbers.
    message : str
        What was seen, with the numbers.
    cause : str
        The likely cause.
    fix : str
        What to change.
    value, threshold : float or None
        The number judged and the limit it crossed.

    Examples
    --------
    >>> f = Flag("em_bias", "warn", "dt lambda = 0.5", "EM step too large", "reduce dt")
    >>> str(f)
    'em_bias: dt lambda = 0.5 (cause: EM step too large; fix: reduce dt)'
    """

    code: str
    severity: str
    message: str
    cause: str
    fix: str
    value: float | None = None
    threshold: float | None = None

    def __str__(self) -> str:
        return f"{self.code}: {self.message} (cause: {self.cause}; fix: {self.fix})"

    def to_dict(self) -> dict:
        """Plain data (JSON-ready)."""
        return asdict(self)


def _num(results: Mapping, key: str):
    """results[key] as a float, None if absent or not a number (non-finite floats stay: NaN, inf)."""
    v = results.get(key)
    if v is None or isinstance(v, (bool, str)):
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def judge(results: Mapping, params: Mapping | None = None, thresholds: Mapping | None = None) -> list:
    """Judge a run from its named numbers; return the :class:`Flag` list (empty: healthy).

    Parameters
    ----------
    results : mapping
        Named results (a sweep point's results, a training summary). Recognised names:
        ``train_loss``, ``test_loss``, ``initial_train_loss`` (or ``initial_test_loss``), ``fallbacks``,
        ``presentations``, ``n_substeps``, ``kappa_out``, ``n_params``, ``kT`` / ``kT_mean``,
        ``learning_rate``, ``run_status``, ``dt_lambda``, ``integrator``, ``acceptance``, ``jarzynski_ess``,
        ``reset_error`` (the dynamic machine), ``first_law_relative`` (the training books).
        A training point's results hold ``train_loss``; a point that lacks a loss is not judged on it.
    params : mapping, optional
        The run's settings (a sweep point's parameters); consulted for names ``results`` lacks.
    thresholds : mapping, optional
        Overrides of :data:`THRESHOLDS`.

    Examples
    --------
    >>> judge({"train_loss": 0.02, "initial_train_loss": 0.9, "fallbacks": 0, "presentations": 100})
    []
    >>> [f.code for f in judge({"train_loss": float("nan")})]
    ['loss_nonfinite']
    """
    th = dict(THRESHOLDS)
    th.update(thresholds or {})
    r = dict(params or {})
    r.update({k: v for k, v in results.items() if v is not None or k not in r})
    flags: list = []
    _check_loss(r, th, flags, "train_loss" in results or "test_loss" in results)
    _check_fallbacks(r, th, flags)
    _check_langevin(r, th, flags)
    _check_reset(r, th, flags)
    _check_first_law(r, th, flags)
    return flags


def _lr_fix(r) -> str:
    lr = _num(r, "learning_rate")
    now = f" (now {lr:.3g})" if lr is not None else ""
    return (f"lower the learning rate mu*tau_inf*kappa_out{now}: the stable step shrinks like 1/width, since the "
            f"loss curvature of the output layer grows like |x_hidden|^2 ~ width")


def _check_loss(r, th, flags, has_loss):
    if not has_loss:
        return
    # the training loss decides; the held-out loss only when there is no training loss (it is NaN by
    # design when there are no held-out entries)
    key = "train_loss" if "train_loss" in r else "test_loss"
    final = _num(r, key)
    if final is None or not math.isfinite(final):
        flags.append(Flag("loss_nonfinite", "bad", f"the final {key.replace('_', ' ')} is not finite",
                          "the training diverged", _lr_fix(r)))
        return
    init = _num(r, "initial_" + key)
    if init is None:  # results made before the initial training loss was recorded
        init = _num(r, "initial_test_loss")
    if init is None or not math.isfinite(init) or init <= 0:
        return
    level = init
    n, kT, kout = _num(r, "n_params"), _num(r, "kT_mean"), _num(r, "kappa_out")
    if kT is None:
        kT = _num(r, "kT")
    if n and kT and kout:  # equipartition: each parameter's fluctuation costs kT/2 of kappa_out * loss
        level = max(level, n * kT / (2.0 * kout))
    if final > th["loss_growth"] * level:
        flags.append(Flag("loss_exploded", "bad", f"the final training loss {final:.3g} is "
                          f"{final / init:.0f}x its initial value {init:.3g}",
                          "the parameter updates are unstable (step too large for the network)", _lr_fix(r),
                          value=final / level, threshold=th["loss_growth"]))


def _check_fallbacks(r, th, flags):
    fb, S = _num(r, "fallbacks"), _num(r, "presentations")
    if fb is None or not S:
        return
    steps = S * (_num(r, "n_substeps") or 1.0)
    frac = fb / steps
    if frac <= th["fallback_fraction"]:
        return
    soft = _num(r, "kappa_out") is not None
    msg = f"{fb:.0f} of {steps:.0f} parameter steps ({100 * frac:.0f} %) needed the slow Newton fallback solver"
    if soft:
        flags.append(Flag("fallbacks_high", "bad", msg,
                          "the clamped minimum left the fast solver's regime (parameters grown too large, "
                          "or an output clamp too stiff)", _lr_fix(r) + "; or lower kappa_out",
                          value=frac, threshold=th["fallback_fraction"]))
    else:
        flags.append(Flag("fallbacks_high", "warn", msg + " (hard output clamp)",
                          "the hard output clamp is solved by Newton on every step (correct but ~1000x slower)",
                          "give a soft output clamp kappa_out (e.g. 1e-3 x kappa) for the fast path",
                          value=frac, threshold=th["fallback_fraction"]))


def _check_langevin(r, th, flags):
    st = r.get("run_status")
    if isinstance(st, str) and st not in ("ok", "") and not st.startswith("reset error"):  # see _check_reset
        flags.append(Flag("run_status", "bad", f"the relaxation ended with status {st!r}",
                          "non-finite or unstable replicas", "reduce dt (or use integrator 'mala')"))
    dl = _num(r, "dt_lambda")
    integ = str(r.get("integrator") or "em")
    if dl is not None and math.isfinite(dl):
        if dl >= 2.0:
            flags.append(Flag("unstable_step", "bad", f"dt lambda_max = {dl:.3g} >= 2",
                              "the Langevin step is past its linear stability limit",
                              f"reduce dt below {2.0 / dl:.3g} x its value", value=dl, threshold=2.0))
        elif integ in ("em", "euler_maruyama", "euler") and dl > th["em_bias_dt_lambda"]:
            flags.append(Flag("em_bias", "warn", f"Euler-Maruyama at dt lambda_max = {dl:.3g}",
                              "EM's stationary law is biased by ~0.06 dt lambda (more in the worst layer)",
                              "reduce dt or use integrator 'mala' (exact stationary law)", value=dl,
                              threshold=th["em_bias_dt_lambda"]))
    acc = _num(r, "acceptance")
    if acc is not None and math.isfinite(acc) and acc < th["min_acceptance"]:
        flags.append(Flag("low_acceptance", "warn", f"MALA acceptance {acc:.2f}",
                          "the step is large for the local curvature", "reduce dt", value=acc,
                          threshold=th["min_acceptance"]))
    ess = _num(r, "jarzynski_ess")
    if ess is not None and math.isfinite(ess) and ess < th["min_ess"]:
        n = _num(r, "n_replicas")
        of = f" of {n:.0f} replicas" if n else ""
        flags.append(Flag("jarzynski_low_ess", "warn", f"Jarzynski effective sample size {ess:.3g}{of}",
                          "the protocol is fast: <exp(-W/kT)> is dominated by rare replicas and biased "
                          "(not a violation)", "use more replicas or a slower protocol (larger tau)",
                          value=ess, threshold=th["min_ess"]))


_RESET_CAUSE = "the reset did not drive every element into its target well within the protocol"
_RESET_FIX = "raise the holding barrier E_b, deepen the reset tilt, or slow the protocol (larger tau)"


def _check_reset(r, th, flags):
    err = _num(r, "reset_error")
    st = r.get("run_status")
    if err is None and isinstance(st, str) and st.startswith("reset error"):  # results without the number
        try:
            err = float(st.split()[2])
        except (IndexError, ValueError):
            err = float("inf")
    if err is None or not (err > th["max_reset_error"]):
        return
    shown = f"{err:.3g}" if math.isfinite(err) else "unknown"
    flags.append(Flag("reset_error", "bad", f"reset error {shown} > {th['max_reset_error']:g} (fraction of "
                      "elements left in the wrong well)", _RESET_CAUSE, _RESET_FIX, value=err,
                      threshold=th["max_reset_error"]))


def _check_first_law(r, th, flags):
    rel = _num(r, "first_law_relative")
    if rel is None or not math.isfinite(rel) or rel <= th["max_first_law_relative"]:
        return
    flags.append(Flag("first_law_open", "bad", f"the training books' first law closes only to {rel:.2g} of the "
                      "energy budget |W_sw| + |Q_x| + |Q_theta|",
                      "the joint step dt is too coarse: the heats are integrated to O(dt)",
                      "give more substeps per presentation (a smaller joint dt)", value=rel,
                      threshold=th["max_first_law_relative"]))


def judge_train(result, thresholds: Mapping | None = None) -> list:
    """Judge a :class:`analogsim.training.TrainResult` from its loss curves, fallbacks and settings.

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> import numpy as np
    >>> res = NS(records={"train_loss": np.array([1.0, 500.0]), "test_loss": np.array([1.0, 400.0])},
    ...          fallbacks=0, n_substeps=1, config=NS(kappa_out=1e-3, learning_rate=0.1, presentations=100),
    ...          books=NS(presentations=100, n_params=10, kT_mean=1e-6))
    >>> [f.code for f in judge_train(res)]
    ['loss_exploded']
    """
    rec = result.records
    tl = list(rec.get("train_loss", []))
    vl = list(rec.get("test_loss", []))
    cfg, books = result.config, result.books
    r = {"fallbacks": result.fallbacks, "presentations": books.presentations or getattr(cfg, "presentations", 0),
         "n_substeps": result.n_substeps, "kappa_out": getattr(cfg, "kappa_out", None),
         "learning_rate": getattr(cfg, "learning_rate", None), "n_params": books.n_params,
         "kT_mean": books.kT_mean}
    if getattr(books, "energetics", False):
        r["first_law_relative"] = books.first_law_relative
    for name, curve in (("train_loss", tl), ("test_loss", vl)):
        if curve:
            r[name] = float(curve[-1])
            r["initial_" + name] = float(curve[0])
    return judge(r, thresholds=thresholds)


def is_flagged(flags) -> bool:
    """True if any flag is 'bad' (the run's physics went wrong).

    Examples
    --------
    >>> is_flagged([Flag("em_bias", "warn", "", "", "")])
    False
    """
    return any(f.severity == "bad" for f in flags)


def format_flags(flags, indent: str = "") -> str:
    """Human-readable lines, one per flag: ``FLAGGED: code: message`` / ``warning: ...`` then cause and fix.

    Returns '' for no flags, so ``print(format_flags(flags))`` is safe to call after every run only when
    non-empty; callers usually write ``if flags: print(format_flags(flags))``.

    Examples
    --------
    >>> print(format_flags([Flag("em_bias", "warn", "dt lambda 0.5", "EM bias", "reduce dt")], indent="  "))
      warning: em_bias: dt lambda 0.5
        cause: EM bias; fix: reduce dt
    """
    lines = []
    for f in flags:
        head = "FLAGGED" if f.severity == "bad" else "warning"
        lines.append(f"{indent}{head}: {f.code}: {f.message}")
        lines.append(f"{indent}  cause: {f.cause}; fix: {f.fix}")
    return "\n".join(lines)


def encode(flags) -> str:
    """Flags as one string for a results file: ``'code1;code2'`` ('bad' ones first), '' if none.

    Examples
    --------
    >>> encode([Flag("em_bias", "warn", "", "", ""), Flag("loss_exploded", "bad", "", "", "")])
    'loss_exploded;em_bias'
    """
    order = sorted(flags, key=lambda f: (f.severity != "bad", CODES.index(f.code) if f.code in CODES else 99))
    return ";".join(f.code for f in order)


def decode(text: str) -> list:
    """The codes in an :func:`encode` string.

    Examples
    --------
    >>> decode("loss_exploded;em_bias"), decode("")
    (['loss_exploded', 'em_bias'], [])
    """
    return [c for c in str(text or "").split(";") if c]


def dataset_flags(ds):
    """Boolean mask (same dims as ``status``) of a sweep dataset's flagged points.

    Uses the ``status`` variable ('flagged') when the results were consolidated by a version that judges
    health; otherwise judges every point first (:func:`judge_dataset`).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> ds = xr.Dataset({"status": ("w", np.array(["ok", "flagged"])), "work": ("w", [1.0, 2.0])})
    >>> dataset_flags(ds).values.tolist()
    [False, True]
    """
    if "health_flags" not in ds and not (ds["status"] == "flagged").any():
        ds = judge_dataset(ds)
    return ds["status"] == "flagged"


def _base_settings(ds) -> dict:
    import json

    try:
        cfg = json.loads(ds.attrs.get("config_json", "{}"))
    except ValueError:
        return {}
    out = {}
    for sec in cfg.values() if isinstance(cfg, dict) else ():
        if isinstance(sec, dict):
            out.update(sec)
    return out


def judge_dataset(ds):
    """Results consolidated before health checks existed, judged now: a copy whose ``status`` says
    'flagged' where a finished point's physics went wrong, with ``health_flags`` and the message in
    ``error``; ``n_ok``/``n_flagged`` updated. Results that already carry ``health_flags`` come back as
    they are. Each point is judged from its variables, its coordinates and the stored config.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> ds = xr.Dataset({"status": ("w", np.array(["ok", "ok"])), "train_loss": ("w", [0.02, 900.0]),
    ...                  "initial_test_loss": ("w", [1.0, 1.6])}, coords={"w": [2, 64]})
    >>> judge_dataset(ds)["status"].values.tolist()
    ['ok', 'flagged']
    """
    import numpy as np

    if "health_flags" in ds or "status" not in ds:
        return ds
    ref = ds["status"]
    base = _base_settings(ds)
    names = [v for v in ds.data_vars if set(ds[v].dims) <= set(ref.dims) and v not in ("error",)]
    arrays = {n: ds[n].broadcast_like(ref).transpose(*ref.dims).values for n in names}
    coords = {d: ds[d].values for d in ref.dims if d in ds.coords}
    status = ref.values.astype(object).copy()
    codes = np.full(ref.shape, "", dtype=object)
    error = ds["error"].values.astype(object).copy() if "error" in ds and ds["error"].shape == ref.shape \
        else np.full(ref.shape, "", dtype=object)
    for idx in np.ndindex(ref.shape):
        if status[idx] != "ok":
            continue
        params = dict(base)
        params.update({d: coords[d][idx[k]].item() for k, d in enumerate(ref.dims) if d in coords})
        point = {}
        for n, a in arrays.items():
            v = a[idx].item() if hasattr(a[idx], "item") else a[idx]
            point[n] = None if isinstance(v, float) and math.isnan(v) and n != "train_loss" else v
        found = judge(point, params)
        codes[idx] = encode(found)
        if is_flagged(found):
            status[idx] = "flagged"
            error[idx] = "; ".join(str(f) for f in found if f.severity == "bad")
    out = ds.copy()
    out["status"] = (ref.dims, status.astype(str))
    out["health_flags"] = (ref.dims, codes.astype(str))
    out["error"] = (ref.dims, error.astype(str))
    out.attrs["n_ok"] = int(np.sum(status == "ok"))
    out.attrs["n_flagged"] = int(np.sum(status == "flagged"))
    return out
