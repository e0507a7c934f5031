"""Measurements on the bistable element: quasi-static limits, error vs tilt, Kramers lifetimes, the digits budget,
and the ``dynamic`` sweep task.

Every function runs the simulated process (:func:`~analogsim.dynamic.cycle.run_segments`) and returns plain
dicts of numbers (energies in units of kT) with their standard errors, ready for JSON.
"""

from __future__ import annotations

import math

import numpy as np

from .._checks import as_seedsequence, check_scalar
from .cycle import InferenceMachine, fit_quasistatic, prior_tilts, run_segments
from .digits import activation_patterns, binary_entropy, trained_relu_net
from .element import DoubleWell
from .protocols import RESET_PROTOCOLS, hold

__all__ = ["reset_work", "quasistatic_series", "excess_slope", "error_vs_depth", "lifetimes", "digits_budget",
           "paired_quasistatic_fit", "dynamic_task"]

#: local equilibration inside the starting wells before a reset (units of tau_r)
T_EQUILIBRATE = 10.0


def _bits(p, M, rng):
    """Exactly round(p M) elements in s = 1, in random order (so the sample's occupation is p to 1/M)."""
    s = np.zeros(M, dtype=np.int8)
    s[:int(round(p * M))] = 1
    return rng.permutation(s)


def reset_work(element: DoubleWell, protocol: str, tau: float, *, p: float = 0.5, n_elements: int = 2000,
               depth: float = 10.0, seed=0, dt: float = 0.2, threads=None) -> dict:
    """Mean reset work (kT) of ``n_elements`` bits with occupation ``p`` of s = 1, reset by ``protocol`` in ``tau``.

    ``protocol``: 'standard', 'prior-adapted' (prior tilt for ``p``) or 'uncompute' (signal +-depth from each
    bit's own state). Returns work, se, error (fraction not in s = 0 after the reset), first_law (max |residual|),
    and the quasi-static prediction ``bound`` (kT ln 2, kT H(p), 0).

    Examples
    --------
    >>> r = reset_work(DoubleWell(), "uncompute", 3000.0, p=0.5, n_elements=256)
    >>> r["bound"], r["error"] < 0.05
    (0.0, True)
    """
    if protocol not in RESET_PROTOCOLS:
        raise ValueError(f"protocol must be one of {sorted(RESET_PROTOCOLS)}, got {protocol!r}")
    tau = check_scalar(tau, "tau", low=0.0, low_open=True)
    p = check_scalar(p, "p", low=0.0, high=1.0)
    ss = as_seedsequence(seed)
    rng = np.random.default_rng(ss.spawn(1)[0])
    M = check_scalar(n_elements, "n_elements", low=2, integer=True)
    s0 = _bits(p, M, rng)
    proto = RESET_PROTOCOLS[protocol](depth)
    kw = {}
    if protocol == "prior-adapted":
        kw["prior"] = prior_tilts(element, np.full(M, p), depth)
        bound = float(binary_entropy(p))
    elif protocol == "uncompute":
        kw["signal"] = np.where(s0 == 1, depth, -depth).astype(np.float64)
        bound = 0.0
    else:
        bound = math.log(2.0)
    b = run_segments(element, [(hold(), T_EQUILIBRATE), (proto, tau)], n_elements=M, s0=s0, seed=ss, dt=dt,
                     threads=threads, **kw)
    w, se = b.mean_work(proto.name)
    return {"protocol": protocol, "p": p, "tau": float(tau), "work": w, "se": se, "bound": bound,
            "error": float(np.mean(b.bits[:, :, 1] != 0)), "first_law": float(np.max(np.abs(b.first_law_residual))),
            "n_elements": M, "dt": dt, "E_b": element.E_b, "kT": element.kT, "depth": depth}


def quasistatic_series(element, protocol, taus, *, p=0.5, n_elements=2000, depth=10.0, seed=0, dt=0.2,
                       threads=None) -> dict:
    """:func:`reset_work` at each tau and the fit work = a + b / tau (a: the quasi-static limit, in kT).

    Returns ``points`` (one dict per tau), ``fit`` (a, a_se, b, b_se, chi2, dof), ``bound`` and
    ``max_error`` (the largest reset error over the taus).

    The extrapolation a is the measured quasi-static reset work, compared (never replaced) with the bound of
    Eq. 5 per element: kT ln 2 (standard), kT H(p) (prior-adapted), 0 (uncompute). Durations in tau_r.

    Examples
    --------
    The standard erasure at two durations: slower resets cost less, and the fit's a approaches kT ln 2:

    >>> r = quasistatic_series(DoubleWell(), "standard", [1000.0, 4000.0], n_elements=200, seed=0)
    >>> round(r["bound"], 4), len(r["points"])
    (0.6931, 2)
    >>> bool(r["points"][0]["work"] > r["points"][1]["work"] and r["fit"]["b"] > 0)
    True
    """
    ss = as_seedsequence(seed).spawn(len(taus))
    pts = [reset_work(element, protocol, t, p=p, n_elements=n_elements, depth=depth, seed=s, dt=dt, threads=threads)
           for t, s in zip(taus, ss)]
    fit = fit_quasistatic([q["tau"] for q in pts], [q["work"] for q in pts], [q["se"] for q in pts])
    return {"protocol": protocol, "p": p, "points": pts, "fit": fit, "bound": pts[0]["bound"],
            "max_error": max(q["error"] for q in pts)}


def excess_slope(points, bound) -> dict:
    """Weighted log-log fit of the excess work (work - bound) against tau: slope and its SE (-1 expected).

    ``points``: dicts with tau, work and se (as in :func:`quasistatic_series`); ``bound``: the quasi-static work
    (kT). Returns NaNs when an excess is not positive (no log).

    Examples
    --------
    >>> import math
    >>> pts = [{"tau": t, "work": math.log(2) + 3.0 / t, "se": 0.01} for t in (100.0, 200.0, 400.0)]
    >>> round(excess_slope(pts, math.log(2))["slope"], 6)
    -1.0
    """
    t = np.array([q["tau"] for q in points])
    ex = np.array([q["work"] for q in points]) - bound
    se = np.array([q["se"] for q in points])
    if np.any(ex <= 0):
        return {"slope": float("nan"), "slope_se": float("nan")}
    x, y, s = np.log(t), np.log(ex), se / ex
    wts = 1.0 / s ** 2
    xm = np.sum(wts * x) / wts.sum()
    ym = np.sum(wts * y) / wts.sum()
    sxx = np.sum(wts * (x - xm) ** 2)
    slope = np.sum(wts * (x - xm) * (y - ym)) / sxx
    return {"slope": float(slope), "slope_se": float(1.0 / math.sqrt(sxx))}


def error_vs_depth(element, depths, *, tau=1600.0, n_elements=20000, seed=0, dt=0.2, threads=None) -> dict:
    """Reset error of the standard erasure against the tilt depth D: the measured errors, the Boltzmann occupation
    of the wrong well at the holding barrier, and the fitted log-slope of the error in D/kT (-1 expected).

    Examples
    --------
    >>> r = error_vs_depth(DoubleWell(), [2.0, 3.0], tau=200.0, n_elements=2000)
    >>> r["errors"][0] > r["errors"][1]
    True
    """
    ss = as_seedsequence(seed).spawn(len(depths))
    err, se, boltz, work = [], [], [], []
    for d, s in zip(depths, ss):
        r = reset_work(element, "standard", tau, p=0.5, n_elements=n_elements, depth=d, seed=s, dt=dt,
                       threads=threads)
        e = r["error"]
        err.append(e)
        se.append(math.sqrt(max(e, 1.0 / n_elements) * (1 - e) / n_elements))
        boltz.append(element.wrong_well_occupation(d))
        work.append((r["work"], r["se"]))
    x = np.asarray(depths, dtype=float) / element.kT
    e = np.asarray(err)
    ok = e > 0
    out = {"depths": list(map(float, depths)), "errors": err, "errors_se": se, "boltzmann": boltz,
           "work": [w for w, _ in work], "work_se": [s for _, s in work], "tau": tau, "n_elements": n_elements}
    if ok.sum() >= 2:
        w = e[ok] * n_elements  # Poisson weights: var(ln e) = 1/count
        xm = np.sum(w * x[ok]) / w.sum()
        ym = np.sum(w * np.log(e[ok])) / w.sum()
        sxx = np.sum(w * (x[ok] - xm) ** 2)
        out["slope"] = float(np.sum(w * (x[ok] - xm) * (np.log(e[ok]) - ym)) / sxx)
        out["slope_se"] = float(1.0 / math.sqrt(sxx))
    else:
        out["slope"] = out["slope_se"] = float("nan")
    return out


def lifetimes(E_b, kTs, *, n_elements=400, dt=0.2, seed=0, max_tau=2e6) -> dict:
    """Mean first-passage time of a stored bit (q = -1 to q = +1, zero tilt) at barrier ``E_b`` and each kT,
    in units of tau_r; the exact 1-D mean first-passage time, Kramers' law, and the slope of ln(lifetime) in
    E_b/kT (1 expected).

    ``E_b`` and ``kTs`` are energies (same units); walks still in the starting well after ``max_tau`` (units of
    tau_r) are censored and reported in ``status``.

    Examples
    --------
    A low barrier (4 and 5 kT) and 50 walks: the measured lifetimes grow with E_b/kT like the exact mean
    first-passage time:

    >>> r = lifetimes(4.0, [1.0, 0.8], n_elements=50)
    >>> r["x"], r["status"], r["censored"]
    ([4.0, 5.0], 'ok', [0, 0])
    >>> bool(r["lifetime"][1] > r["lifetime"][0] and r["exact_mfpt"][1] > r["exact_mfpt"][0])
    True
    """
    from ..kernels import bistable as kb
    from ..kernels.rng import seed_streams

    E_b = check_scalar(E_b, "E_b", low=0.0, low_open=True)
    max_tau = check_scalar(max_tau, "max_tau", low=0.0, low_open=True)
    if not kTs:
        raise ValueError(f"kTs must hold at least one temperature, got {kTs!r}")
    ss = as_seedsequence(seed)
    x, life, life_se, exact, kram, censored = [], [], [], [], [], []
    streams = seed_streams(ss, len(kTs))
    for i, kT in enumerate(kTs):
        el = DoubleWell(E_b=E_b, kT=kT)
        tr = el.relax_time
        fpar = np.array([dt * tr * el.mobility, math.sqrt(2 * el.mobility * kT * dt * tr), el.E_b, 0.5, 0.5,
                         1.0 / el.tilt_width])
        out = np.empty(n_elements, dtype=np.int64)
        kb.first_passage(-np.ones(n_elements), streams[i], el.E_b, el.E_b, 0.0, fpar, 1.0, int(max_tau / dt), out)
        cens = int(np.sum(out < 0))
        t = np.where(out < 0, max_tau / dt, out) * dt
        x.append(E_b / kT)
        life.append(float(t.mean()))
        life_se.append(float(t.std(ddof=1) / math.sqrt(n_elements)))
        exact.append(el.mean_first_passage() / tr)
        kram.append(el.kramers_time() / tr)
        censored.append(cens)
    ok = np.array(censored) == 0
    out = {"x": x, "lifetime": life, "lifetime_se": life_se, "exact_mfpt": exact, "kramers": kram,
           "censored": censored, "slope": float("nan"), "slope_se": float("nan"), "E_b": E_b, "n_elements": n_elements,
           "status": "ok"}
    if not ok.all():
        out["status"] = (f"{int(sum(censored))} elements did not escape within max_tau = {max_tau:g} tau_r: those "
                         "lifetimes are lower bounds and are left out of the slope; raise max_tau or kT")
    if ok.sum() >= 2:
        xa, ya = np.array(x)[ok], np.log(np.array(life)[ok])
        sa = (np.array(life_se) / np.array(life))[ok]
        w = 1.0 / sa ** 2
        xm, ym = np.sum(w * xa) / w.sum(), np.sum(w * ya) / w.sum()
        sxx = np.sum(w * (xa - xm) ** 2)
        out["slope"] = float(np.sum(w * (xa - xm) * (ya - ym)) / sxx)
        out["slope_se"] = float(1.0 / math.sqrt(sxx))
    return out


def paired_quasistatic_fit(taus, work) -> dict:
    """Fit W = a + b / tau per inference, for inferences that ran at every tau (the same inputs), and average.

    ``work``: shape (n_taus, n) -- the reset work (kT) of inference k at duration ``taus[j]``. Each inference's
    a_k, b_k is the same linear combination of its works (weighted least squares with the weights 1/var_j of
    the works at each tau), so a = mean a_k is the weighted fit of the mean works, and its SE is the spread of
    the a_k over the n inferences: the input-to-input variation enters once, not once per tau as it would in a
    fit of independent means. Returns a, a_se, b, b_se, chi2 (of the mean works against the fit, with the
    per-tau SEs), dof, n and ``paired`` True.

    Examples
    --------
    Ten inferences whose works follow a_k + 2/tau exactly, with different a_k: the fit finds their mean and
    the SE their spread:

    >>> import numpy as np
    >>> a_k = np.linspace(1.0, 2.0, 10)
    >>> W = [a_k + 2.0 / t + 0.01 * np.cos(7 * a_k * t) for t in (1.0, 2.0, 4.0)]
    >>> r = paired_quasistatic_fit([1.0, 2.0, 4.0], W)
    >>> round(r["a"], 1), round(r["b"], 1), r["n"], bool(abs(r["a_se"] - a_k.std(ddof=1) / 10 ** 0.5) < 0.02)
    (1.5, 2.0, 10, True)
    """
    tau = np.asarray(taus, dtype=np.float64)
    W = np.asarray(work, dtype=np.float64)
    if W.ndim != 2 or W.shape[0] != tau.size or tau.size < 2 or W.shape[1] < 2:
        raise ValueError(f"work must have shape (len(taus) >= 2, n >= 2), got {W.shape} for {tau.size} taus")
    if np.any(tau <= 0) or np.unique(tau).size != tau.size:
        raise ValueError(f"taus must be distinct and > 0, got {tau.tolist()}")
    n = W.shape[1]
    var = W.var(axis=1, ddof=1)
    var = np.where(var > 0, var, 1.0)
    X = np.stack([np.ones_like(tau), 1.0 / tau], axis=1)
    Xw = X / var[:, None]
    coef_rows = np.linalg.solve(X.T @ Xw, Xw.T)      # (2, n_taus): a_k = coef_rows[0] @ W[:, k]
    ab = coef_rows @ W                                # (2, n)
    a, b = ab.mean(axis=1)
    a_se, b_se = ab.std(axis=1, ddof=1) / math.sqrt(n)
    mean, se = W.mean(axis=1), np.sqrt(var / n)
    res = (mean - a - b / tau) / se
    return {"a": float(a), "a_se": float(a_se), "b": float(b), "b_se": float(b_se), "chi2": float(res @ res),
            "dof": int(tau.size - 2), "n": int(n), "paired": True}


def digits_budget(*, taus=(1000.0,), protocols=("standard", "prior-adapted", "uncompute"), element=None,
                  net_seed=0, hidden=(64, 64), max_iter=200, n_test=None, depth=10.0, dt=0.2, seed=0,
                  threads=None, T=300.0, t_set=6400.0) -> dict:
    """The dynamic machine on a relu net trained on digits: measured reset work per inference (kT) for each
    protocol and tau, against kT sum_i H(p_i), kT nu H(p_mean), kT nu ln 2 and the plug-in pattern entropy.

    The priors p_i are measured on the training inputs; the held-out inputs run through the machine (one cycle
    each, side by side from the reset state), set in ``t_set`` (units of tau_r). ``taus``: the reset durations
    (units of tau_r), one sequence for every protocol or a mapping protocol -> sequence. Energies come back in
    kT, with joules at ``T`` kelvin and bits in ``units``; each run keeps the reset work of every inference
    (``reset_work_per_inference``). A protocol run at two taus or more gets a fit a + b/tau in ``fits``
    (:func:`paired_quasistatic_fit`: the same inputs run at every tau, so the fit is made per inference and
    its SE is the spread of the per-inference limits).

    Examples
    --------
    A tiny net (one hidden layer of 8 relu neurons, 20 iterations), 10 test inputs, the standard reset only; the
    bounds of Eq. 5 come in kT per inference, and as joules at 300 K:

    >>> r = digits_budget(taus=(400.0,), protocols=("standard",), hidden=(8,), max_iter=20, n_test=10,
    ...                   t_set=400.0)
    >>> r["nu"], r["n_test"], len(r["runs"]), len(r["runs"][0]["reset_work_per_inference"])
    (8, 10, 1, 10)
    >>> b = r["budget"]
    >>> bool(b["sum_H_p_i"] <= b["nu_H_pbar"] <= b["nu_ln2"])
    True
    >>> bool(abs(r["units"]["nu_ln2"]["J"] - b["nu_ln2"] * r["kT_J"]) < 1e-30)
    True
    """
    from .. import bounds

    element = element or DoubleWell()
    net, Xtr, Xte, acc = trained_relu_net(net_seed, hidden=hidden, max_iter=max_iter)
    if n_test is not None:
        Xte = Xte[:int(n_test)]
    train = activation_patterns(net, Xtr)
    test = activation_patterns(net, Xte)
    tilts = prior_tilts(element, train.p, depth)
    p_eff = np.array([element.occupation(t) for t in tilts])  # the priors the elements are adapted to
    budget = test.budget(p_prior=p_eff)
    if isinstance(taus, dict):
        unknown = sorted(set(taus) - set(protocols))
        if unknown:
            raise ValueError(f"taus names protocols that are not run: {unknown} (protocols {list(protocols)})")
        per = {proto: tuple(taus.get(proto, ())) for proto in protocols}
    else:
        per = {proto: tuple(taus) for proto in protocols}
    for proto, tt in per.items():
        if not tt:
            raise ValueError(f"taus must give at least one reset duration for {proto!r}, got {taus!r}")
    runs = []
    ss = as_seedsequence(seed).spawn(sum(len(tt) for tt in per.values()))
    k = 0
    for proto in protocols:
        for tau in per[proto]:
            m = InferenceMachine(element, RESET_PROTOCOLS[proto](depth), tau=tau, depth=depth, t_set=t_set, dt=dt)
            r = m.run(test.y, prior=train.p if proto == "prior-adapted" else None, seed=ss[k], threads=threads)
            if proto == "prior-adapted":
                r.info["prior_tilt_range"] = [float(tilts.min()), float(tilts.max())]
            k += 1
            runs.append({"protocol": proto, **r.summary(), "reset_work_per_inference": r.reset_work.tolist()})
    fits = {}
    for proto in protocols:
        rr = [r for r in runs if r["protocol"] == proto]
        if len(rr) >= 2:
            fits[proto] = paired_quasistatic_fit([r["tau"] for r in rr],
                                                 [r["reset_work_per_inference"] for r in rr])
    kTj = bounds.kT_joules(T)
    units = {key: {"kT": v, "J": v * kTj, "bits": v / math.log(2)} for key, v in budget.items()
             if key in ("sum_H_p_i", "nu_H_pbar", "nu_ln2", "pattern_entropy_plugin", "ln_n", "cross_entropy")}
    return {"accuracy": acc, "sizes": list(net.sizes), "nu": test.nu, "n_test": int(Xte.shape[0]), "budget": budget,
            "units": units, "runs": runs, "fits": fits, "T_K": T, "kT_J": kTj, "p_train": train.p.tolist(),
            "p_test": test.p.tolist(), "nu_a": test.record.nu_a, "nu_a_se": test.record.nu_a_se}


def _register():
    from ..sweeps.tasks import register_task

    register_task("dynamic", dynamic_task, requires=("tau",),
                  description="reset work and error of a bistable element at (tau, E_b, kT)")


def dynamic_task(params: dict, seed: int) -> dict:
    """Sweep task ``dynamic``: the mean reset work and error of one protocol at (tau, E_b, kT).

    Settings: ``tau`` (reset duration in units of tau_r, [dynamics]), ``kT`` ([dynamics]); in [task]: ``E_b``
    (holding barrier, default 16), ``protocol`` (default 'standard'), ``p`` (default 0.5), ``tilt`` (reset tilt
    depth in kT, default 10),
    ``n_elements`` (default 2000), ``step`` (time step in tau_r, default 0.2). Results: work, se, bound, excess,
    error and ``reset_error`` (the same number: the fraction of elements left in the wrong well; a sweep's
    health check flags it above 1e-3 with code 'reset_error'), first_law, run_status ('ok', or what went
    wrong: a reset error above 1e-3, books that do not close; a sweep flags such points).

    Examples
    --------
    >>> r = dynamic_task({"tau": 400.0, "kT": 1.0, "E_b": 16.0, "n_elements": 256}, seed=0)
    >>> r["work"] > r["bound"]
    True
    """
    el = DoubleWell(E_b=float(params.get("E_b", 16.0)), kT=float(params.get("kT") or 1.0))
    r = reset_work(el, str(params.get("protocol", "standard")), float(params["tau"]), p=float(params.get("p", 0.5)),
                   n_elements=int(params.get("n_elements", 2000)), depth=float(params.get("tilt", 10.0)) * el.kT,
                   seed=seed, dt=float(params.get("step", 0.2)), threads=1)
    status = "ok"
    if not math.isfinite(r["work"]) or r["first_law"] > 1e-9:
        status = f"books do not close (first-law residual {r['first_law']:.2e} kT): reduce step"
    elif r["error"] > 1e-3:
        status = f"reset error {r['error']:.2e} > 1e-3: raise tau, tilt or E_b"
    return {"work": r["work"], "se": r["se"], "bound": r["bound"], "excess": r["work"] - r["bound"],
            "error": r["error"], "reset_error": r["error"], "first_law": r["first_law"], "run_status": status}


_register()
