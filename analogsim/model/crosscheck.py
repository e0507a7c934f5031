r"""Cross-checks against independent answers: torch autograd, and backprop of the MSE loss.

Two families of checks (docs/theory/model.md, stress-backprop.md):

* :func:`autograd_check` - H, dH/dx (every layer, including the force on the clamped input x_0),
  dH/dtheta (Eq. 8-9) and the x-Hessian (Hessian-vector products, and optionally the full matrix) of
  :mod:`analogsim.model.hamiltonian`, compared with torch autograd on an independent float64 torch
  implementation of Eq. 6.
* :func:`stress_backprop_check` - the stress gradient dH/dtheta at the clamped minimum (input and output
  clamped, hidden neurons relaxed to the minimum of H, Eq. 10) against the backprop gradient of
  ``(kappa_out/2) |f(x_0) - t|^2`` over stiffness ratios ``r = kappa_out/kappa_hidden``. The two agree only
  in the limit r -> 0: the relative error is ``C r`` (slope 1 in log-log), so a single comparison at r = 1
  cannot tell a limit from an identity. With one layer (depth 1, no hidden neurons) the stress *is* the
  backprop gradient, identically.

The backprop reference is torch autograd on the exported model (:meth:`Network.to_torch`, float64), which is
independent of :func:`analogsim.model.equilibrium.backprop_gradient`. Without torch the numpy backprop is used and
the report says so (``reference: numpy backprop (torch not installed)``). torch is imported lazily. The report's
table, JSON and figure are in :mod:`analogsim.model.crosscheck_report`.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from .._checks import check_array, check_scalar
from .activations import get_activation

DEFAULT_RATIOS = tuple(float(r) for r in np.logspace(-6, 0, 13))
DEFAULT_DEPTHS = (1, 2, 3, 4)
DEFAULT_ACTIVATIONS = ("tanh", "relu", "sigmoid", "softplus")
REF_TORCH = "torch autograd (float64, exported nn.Sequential)"
REF_NUMPY = "numpy backprop"
REF_NUMPY_NO_TORCH = "numpy backprop (torch not installed)"

# criteria (docs/theory/stress-backprop.md): slope 1 within 0.02 over the fit range, a clear difference at r = 1,
# Eq. 10 at solver precision, and identity (to rounding) for depth 1
SLOPE_TOL = 0.02
MIN_ERROR_AT_ONE = 0.3
MAX_RECURSION = 1e-10
MAX_EXACT_ERROR = 1e-12


def _torch():
    try:
        import torch
    except ImportError:
        from ..errors import torch_required

        raise torch_required("analogsim.model.crosscheck (torch autograd)") from None
    return torch


def torch_available() -> bool:
    """True when torch can be imported (the autograd reference is then used).

    Examples
    --------
    >>> isinstance(torch_available(), bool)
    True
    """
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


# ----------------------------------------------------------------------------- torch model of Eq. 6
def _torch_act(torch, name):
    if name == "identity":
        return lambda y: y
    if name == "relu":
        return torch.relu
    if name == "tanh":
        return torch.tanh
    if name == "sigmoid":
        return torch.sigmoid
    if name == "softplus":  # log(1 + e^y) everywhere (torch's Softplus module switches to y above 20)
        return lambda y: torch.logaddexp(y, torch.zeros((), dtype=y.dtype))
    raise ValueError(f"no torch counterpart for activation {name!r}")


def _torch_energy(torch, net, theta, X, clamp=None):
    """Total H (summed over the batch) as a torch scalar, from flat theta (N,) and flat state X (B, n_total)."""
    off = net.x_offsets
    H = X.new_zeros(())
    for l in range(net.depth):
        n_out, n_in = net.sizes[l + 1], net.sizes[l]
        w0, b0 = int(net.w_offsets[l]), int(net.b_offsets[l])
        W = theta[w0:w0 + n_out * n_in].reshape(n_out, n_in)
        b = theta[b0:b0 + n_out]
        x_prev = X[:, off[l]:off[l + 1]]
        x = X[:, off[l + 1]:off[l + 2]]
        f = _torch_act(torch, net.activations[l].name)
        delta = x - f(x_prev @ W.T + b)
        k = torch.as_tensor(np.asarray(net.kappa[l], dtype=np.float64))
        H = H + 0.5 * torch.sum(k * delta * delta)
    if clamp is not None and not clamp.hard:
        t = torch.as_tensor(np.broadcast_to(np.asarray(clamp.target, np.float64), (X.shape[0], net.sizes[-1])).copy())
        H = H + 0.5 * clamp.stiffness * torch.sum((X[:, off[-2]:off[-1]] - t) ** 2)
    return H


def _rel(a, b) -> float:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    den = max(float(np.linalg.norm(b)), np.finfo(np.float64).tiny)
    return float(np.linalg.norm(a - b) / den)


def autograd_check(net, xs, v=None, clamp=None, *, hessian: bool = False, per_sample: bool = True) -> dict:
    r"""Compare analogsim's H and derivatives with torch autograd (float64) at the state ``xs``.

    The torch side evaluates Eq. 6 directly from the flat parameters and the state (independent code), and
    differentiates it: dH/dx for x_0..x_L (x_0's entry is the force on the clamped input, W_1^T sigma_1),
    dH/dtheta (Eq. 8-9, batch sum and, with ``per_sample``, per sample), and the Hessian-vector product in x
    (``torch.autograd.functional.hvp``). A float32 net is compared in float64 on its own (cast) values, so
    the errors then measure float32 rounding.

    Parameters
    ----------
    net : Network
    xs : list of arrays
        State [x_0, ..., x_L], each (B, n_l).
    v : list of arrays, optional
        Direction for the Hessian-vector product (like ``xs``); seeded random if omitted.
    clamp : OutputClamp, optional
        A soft output clamp adds its spring to H (and to dH/dx_L and the Hessian).
    hessian : bool
        Also build the full x-Hessian of the first sample from ``n_total`` Hessian-vector products and compare
        it with ``torch.autograd.functional.hessian``.
    per_sample : bool
        Also compare the per-sample dH/dtheta (``grad_params(..., reduce='none')``).

    Returns
    -------
    dict
        Relative errors ``||a - b|| / ||b||``: ``energy``, ``grad_x`` (all layers), ``grad_x0`` (input force),
        ``grad_theta``, ``grad_theta_per_sample``, ``hvp_x``, ``hessian`` (NaN unless requested), and ``max``.

    Examples
    --------
    >>> from analogsim import Network
    >>> from analogsim.model.crosscheck import autograd_check
    >>> net = Network.create([3, 5, 2], activations="tanh", seed=0)
    >>> xs = [x + 0.1 for x in net.forward([[0.1, 0.2, 0.3]])]
    >>> autograd_check(net, xs)["max"] < 1e-12                      # doctest: +SKIP
    True
    """
    torch = _torch()
    from . import hamiltonian as ham

    xs = net.check_state(xs)
    B = xs[0].shape[0]
    if v is None:
        rng = np.random.default_rng(12345)
        v = [rng.standard_normal(x.shape).astype(net.dtype) for x in xs]
    else:
        v = net.check_state(v, "v")
    X64 = torch.from_numpy(np.concatenate([np.asarray(x, np.float64) for x in xs], axis=1))
    V64 = torch.from_numpy(np.concatenate([np.asarray(a, np.float64) for a in v], axis=1))
    th64 = torch.from_numpy(np.asarray(net.theta, np.float64).copy())

    out = {}
    # energy and first derivatives
    Xr = X64.clone().requires_grad_(True)
    thr = th64.clone().requires_grad_(True)
    Ht = _torch_energy(torch, net, thr, Xr, clamp)
    gX, gth = torch.autograd.grad(Ht, (Xr, thr))
    out["energy"] = _rel(float(np.sum(ham.energy(net, xs, clamp).astype(np.float64))), float(Ht.detach()))
    gx = np.concatenate(ham.grad_x(net, xs, clamp), axis=1)
    out["grad_x"] = _rel(gx, gX.numpy())
    n0 = net.sizes[0]
    out["grad_x0"] = _rel(gx[:, :n0], gX.numpy()[:, :n0])
    out["grad_theta"] = _rel(ham.grad_params(net, xs, reduce="sum"), gth.numpy())
    if per_sample:
        per = np.empty((B, net.n_params))
        for b in range(B):
            Xb = X64[b:b + 1]
            thb = th64.clone().requires_grad_(True)
            cb = None
            if clamp is not None and not clamp.hard:
                from .hamiltonian import OutputClamp

                tgt = np.atleast_2d(clamp.target)
                cb = OutputClamp(tgt[b if tgt.shape[0] > 1 else 0], clamp.stiffness)
            (g,) = torch.autograd.grad(_torch_energy(torch, net, thb, Xb, cb), (thb,))
            per[b] = g.numpy()
        out["grad_theta_per_sample"] = _rel(ham.grad_params(net, xs, reduce="none"), per)
    else:
        out["grad_theta_per_sample"] = float("nan")
    # Hessian-vector product in x (x_0 included as a variable, like hamiltonian.hvp_x)
    _, hv_t = torch.autograd.functional.hvp(lambda X: _torch_energy(torch, net, th64, X, clamp), X64, V64)
    hv = np.concatenate(ham.hvp_x(net, xs, v, clamp), axis=1)
    out["hvp_x"] = _rel(hv, hv_t.numpy())
    if hessian:
        n = int(net.x_offsets[-1])
        x1 = [x[:1] for x in xs]
        c1 = clamp
        if clamp is not None and not clamp.hard:
            from .hamiltonian import OutputClamp

            c1 = OutputClamp(np.atleast_2d(clamp.target)[:1], clamp.stiffness)
        Hfull = torch.autograd.functional.hessian(
            lambda X: _torch_energy(torch, net, th64, X.reshape(1, n), c1), X64[:1].reshape(n)).numpy()
        mine = np.empty((n, n))
        off = net.x_offsets
        for j in range(n):
            e = np.zeros((1, n), dtype=net.dtype)
            e[0, j] = 1
            cols = ham.hvp_x(net, x1, [e[:, off[l]:off[l + 1]] for l in range(net.depth + 1)], c1)
            mine[:, j] = np.concatenate(cols, axis=1)[0]
        out["hessian"] = _rel(mine, Hfull)
    else:
        out["hessian"] = float("nan")
    out["max"] = float(np.nanmax([out[k] for k in ("energy", "grad_x", "grad_x0", "grad_theta",
                                                   "grad_theta_per_sample", "hvp_x", "hessian")]))
    return out


# ----------------------------------------------------------------------------- backprop references
def torch_backprop_gradient(net, x0, target, kappa_out: float) -> np.ndarray:
    r"""Batch-summed gradient of ``(kappa_out/2) sum_b |f(x_0b) - t_b|^2`` by torch autograd, in theta's layout.

    Uses the exported model ``net.astype('float64').to_torch()`` (independent of analogsim's numpy backprop).

    Examples
    --------
    >>> from analogsim import Network
    >>> net = Network.create([2, 3, 1], seed=0)
    >>> torch_backprop_gradient(net, [[1.0, 2.0]], [[0.5]], kappa_out=1.0).shape   # doctest: +SKIP
    (13,)
    """
    torch = _torch()
    kappa_out = check_scalar(kappa_out, "kappa_out", low=0.0, low_open=True)
    x = net.check_input(x0)
    t = net.check_output(target, batch=x.shape[0])
    model = net.astype("float64").to_torch()
    out = model(torch.from_numpy(np.asarray(x, np.float64)))
    loss = 0.5 * kappa_out * torch.sum((out - torch.from_numpy(np.asarray(t, np.float64))) ** 2)
    model.zero_grad()
    loss.backward()
    lins = [m for m in model if isinstance(m, torch.nn.Linear)]
    g = np.empty(net.n_params)
    for l, lin in enumerate(lins):
        n_out, n_in = net.sizes[l + 1], net.sizes[l]
        w0, b0 = int(net.w_offsets[l]), int(net.b_offsets[l])
        g[w0:w0 + n_out * n_in] = lin.weight.grad.numpy().ravel()
        g[b0:b0 + n_out] = lin.bias.grad.numpy()
    return g


def _resolve_reference(reference: str) -> str:
    if reference not in ("auto", "torch", "numpy"):
        raise ValueError(f"reference must be 'auto', 'torch' or 'numpy', got {reference!r}")
    if reference == "torch":
        _torch()
        return REF_TORCH
    if reference == "numpy":
        return REF_NUMPY
    return REF_TORCH if torch_available() else REF_NUMPY_NO_TORCH


def _backprop(net, x0, target, kappa_out, ref):
    if ref == REF_TORCH:
        return torch_backprop_gradient(net, x0, target, kappa_out)
    from .equilibrium import backprop_gradient

    return backprop_gradient(net, x0, target, kappa_out=kappa_out).astype(np.float64).sum(axis=0)


def stress_gradient(net, x0, target):
    """Batch-summed dH/dtheta at the clamped minimum (hard output clamp) and the solver's report.

    Returns ``(gradient (N,), ClampedMinimum)``. This is the default ``stress_fn`` of
    :func:`stress_backprop_case`.

    Examples
    --------
    >>> from analogsim import Network
    >>> net = Network.create([3, 8, 2], activations=["tanh", "identity"], seed=0)
    >>> g, m = stress_gradient(net, [[0.1, 0.2, 0.3]], [[0.3, -0.1]])
    >>> g.shape, m.converged
    ((50,), True)
    """
    from .equilibrium import clamped_minimum

    m = clamped_minimum(net, x0, target)
    return m.grad_theta.astype(np.float64).sum(axis=0), m


def fit_slope(ratios, errors, fit_range=(1e-6, 1e-3)):
    """Least-squares slope of log(error) vs log(r) and the median of error/r over ``fit_range``.

    Returns ``(slope, constant)``; NaN when fewer than two positive errors lie in the range.

    Examples
    --------
    >>> r = [1e-6, 1e-5, 1e-4, 1e-3, 1.0]
    >>> slope, C = fit_slope(r, [3 * x for x in r])           # error = 3 r exactly
    >>> round(slope, 6), round(C, 6)
    (1.0, 3.0)
    """
    r = np.asarray(ratios, np.float64)
    e = np.asarray(errors, np.float64)
    sel = (r >= fit_range[0] * (1 - 1e-9)) & (r <= fit_range[1] * (1 + 1e-9)) & (e > 0) & np.isfinite(e)
    if sel.sum() < 2:
        return float("nan"), float("nan")
    slope = float(np.polyfit(np.log(r[sel]), np.log(e[sel]), 1)[0])
    return slope, float(np.median(e[sel] / r[sel]))


def stress_backprop_case(net, x0, target, ratios: Sequence[float] = DEFAULT_RATIOS, *, kappa_hidden: float = 1.0,
                         fit_range=(1e-6, 1e-3), reference: str = "auto",
                         stress_fn: Callable | None = None) -> dict:
    r"""Relative error of the stress gradient against backprop for one net, at each stiffness ratio r.

    For each r the hidden layers get stiffness ``kappa_hidden`` and the output layer ``r * kappa_hidden``; the
    output is hard-clamped to ``target`` and the hidden neurons relax to the minimum of H (Newton, Eq. 10).
    The batch-summed dH/dtheta there (Eq. 9) is compared with the backprop gradient of
    ``(kappa_out/2) |f(x_0) - t|^2``, kappa_out = r kappa_hidden: ``rel_error = ||g_stress - g_bp|| / ||g_bp||``.

    Parameters
    ----------
    net : Network
    x0, target : arrays (B, n_0), (B, n_L)
    ratios : sequence of float
        Positive stiffness ratios r.
    kappa_hidden : float
    fit_range : (float, float)
        Ratios used for the log-log slope and the constant C = error/r (median).
    reference : {'auto', 'torch', 'numpy'}
        'auto': torch autograd when torch is installed, else numpy backprop.
    stress_fn : callable, optional
        ``stress_fn(net_r, x0, target) -> (gradient (N,), ClampedMinimum or None)``; the default is
        :func:`stress_gradient`. Tests pass deliberately wrong stresses here (negative controls).

    Returns
    -------
    dict
        ``depth``, ``activation``, ``ratios``, ``rel_error``, ``slope``, ``constant`` (NaN for depth 1, where the
        errors are rounding), ``recursion_residual``
        (max over r), ``grad_norm`` (max over r), ``converged`` (all r), ``n_kinks`` (max over r, neurons held
        on a relu kink), ``exact`` (depth 1), ``reference``.

    Examples
    --------
    >>> from analogsim import Network
    >>> from analogsim.model.crosscheck import stress_backprop_case
    >>> net = Network.create([3, 8, 2], activations=["tanh", "identity"], seed=0)
    >>> rep = stress_backprop_case(net, [[0.1, 0.2, 0.3]], [[0.3, -0.1]], ratios=[1e-6, 1e-5, 1e-4, 1e-3])
    >>> abs(rep["slope"] - 1) < 0.02
    True
    """
    ratios = check_array(ratios, "ratios", ndim=1).astype(np.float64)
    if ratios.size == 0 or np.any(ratios <= 0):
        raise ValueError(f"ratios must be positive stiffness ratios r = kappa_out/kappa_hidden, got {ratios.tolist()}")
    kh = check_scalar(kappa_hidden, "kappa_hidden", low=0.0, low_open=True)
    if len(fit_range) != 2 or not (0 < fit_range[0] < fit_range[1]):
        raise ValueError(f"fit_range must be (low, high) with 0 < low < high, got {fit_range!r}")
    ref = _resolve_reference(reference)
    x = net.check_input(x0)
    t = net.check_output(target, batch=x.shape[0])
    fn = stress_gradient if stress_fn is None else stress_fn
    net1 = net.with_kappa([kh] * (net.depth - 1) + [kh])
    g_bp1 = _backprop(net1, x, t, 1.0, ref)  # the MSE gradient is linear in kappa_out
    errs, rres, gns, conv, kinks = [], [], [], [], []
    for r in ratios:
        net_r = net.with_kappa([kh] * (net.depth - 1) + [r * kh])
        g_s, m = fn(net_r, x, t)
        g_bp = (r * kh) * g_bp1
        errs.append(_rel(g_s, g_bp))
        if m is not None:
            rres.append(float(m.recursion_residual))
            gns.append(float(m.grad_norm))
            conv.append(bool(m.converged))
            kinks.append(int(getattr(m, "n_kinks", 0)))
    exact = net.depth == 1
    # depth 1: the errors are rounding noise, a slope fitted to them means nothing (reported as NaN / null)
    slope, const = (float("nan"), float("nan")) if exact else fit_slope(ratios, errs, fit_range)
    return {
        "depth": net.depth, "activation": _hidden_activation_name(net),
        "ratios": ratios.tolist(), "rel_error": errs, "slope": slope, "constant": const,
        "recursion_residual": max(rres) if rres else float("nan"),
        "grad_norm": max(gns) if gns else float("nan"),
        "converged": all(conv) if conv else None, "n_kinks": max(kinks) if kinks else 0,
        "exact": exact, "reference": ref, "fit_range": list(fit_range),
    }


def _hidden_activation_name(net) -> str:
    names = net.activation_names
    hidden = names[:-1] if net.depth > 1 else names
    return hidden[0] if len(set(hidden)) == 1 else ",".join(names)


def assess_case(case: dict, *, slope_tol: float = SLOPE_TOL, min_error_at_one: float = MIN_ERROR_AT_ONE,
                max_recursion: float = MAX_RECURSION) -> dict:
    """Verdict for one case of :func:`stress_backprop_check`.

    Depth 1: the stress must equal backprop to rounding (max error < 1e-12). Depth >= 2: the error must
    vanish linearly (|slope - 1| <= ``slope_tol`` over the fit range), be large at r = 1 (>= ``min_error_at_one``,
    when r = 1 is among the ratios) so that the check tells a limit from an identity, and Eq. 10 must hold at
    the minimum (recursion residual <= ``max_recursion``).

    Returns a dict of booleans ``slope_ok``, ``limit_ok``, ``recursion_ok``, ``exact_ok`` and ``passed``.

    Examples
    --------
    >>> r = [1e-6, 1e-5, 1e-4, 1e-3, 1.0]
    >>> case = {"depth": 2, "ratios": r, "rel_error": [2 * x for x in r[:-1]] + [0.6], "slope": 1.0,
    ...         "recursion_residual": 1e-14}
    >>> assess_case(case)["passed"]
    True
    """
    errs = np.asarray(case["rel_error"], np.float64)
    rr = case.get("recursion_residual", float("nan"))
    rec_ok = bool(np.isnan(rr) or rr <= max_recursion)
    if case.get("exact"):
        ok = bool(np.all(errs < MAX_EXACT_ERROR))
        return {"slope_ok": None, "limit_ok": None, "recursion_ok": rec_ok, "exact_ok": ok, "passed": ok and rec_ok}
    slope = case["slope"]
    slope_ok = bool(np.isfinite(slope) and abs(slope - 1.0) <= slope_tol)
    ratios = np.asarray(case["ratios"], np.float64)
    at_one = np.isclose(ratios, 1.0)
    limit_ok = bool(errs[at_one][0] >= min_error_at_one) if at_one.any() else None
    passed = slope_ok and rec_ok and (limit_ok is not False)
    return {"slope_ok": slope_ok, "limit_ok": limit_ok, "recursion_ok": rec_ok, "exact_ok": None, "passed": passed}


def make_case_data(depth: int, activation: str, *, width: int = 16, n_in: int = 4, n_out: int = 2, batch: int = 16,
                   seed: int = 0, output_activation: str | None = "identity", bias_scale: float = 0.5,
                   target_scale: float = 1.0):
    """The fixed, seeded random net and data of the default stress check.

    Sizes ``[n_in] + [width] * (depth - 1) + [n_out]``, He-initialised weights, biases ~ N(0, bias_scale^2);
    the hidden layers use ``activation`` and the output layer ``output_activation`` (None: ``activation``);
    inputs ~ N(0, 1), targets ~ N(0, target_scale^2). The weights and data depend on (seed, depth) only, so
    the activations of one depth are compared on the same net. Returns ``(net, x0, target)``.

    Examples
    --------
    >>> net, x0, target = make_case_data(2, "tanh", width=8, batch=4)
    >>> net.sizes, x0.shape, target.shape
    ((4, 8, 2), (4, 4), (4, 2))
    """
    from .network import Network

    depth = check_scalar(depth, "depth", low=1, integer=True)
    act = get_activation(activation).name
    out_act = act if output_activation is None else get_activation(output_activation, "output_activation").name
    sizes = [n_in] + [width] * (depth - 1) + [n_out]
    acts = [act] * (depth - 1) + [out_act]
    ss = np.random.SeedSequence([int(seed), int(depth)])  # same weights and data for every activation
    net_seed, data_seed = ss.spawn(2)
    net = Network.create(sizes, activations=acts, seed=np.random.default_rng(net_seed), bias_scale=bias_scale)
    rng = np.random.default_rng(data_seed)
    x0 = rng.standard_normal((batch, n_in))
    t = target_scale * rng.standard_normal((batch, n_out))
    return net, x0, t


def stress_backprop_check(depths: Sequence[int] = DEFAULT_DEPTHS, activations: Sequence[str] = DEFAULT_ACTIVATIONS,
                          ratios: Sequence[float] = DEFAULT_RATIOS, *, width: int = 16, n_in: int = 4, n_out: int = 2,
                          batch: int = 16, seed: int = 0, output_activation: str | None = "identity",
                          kappa_hidden: float = 1.0, fit_range=(1e-6, 1e-3), reference: str = "auto",
                          progress: Callable | None = None) -> dict:
    r"""Stress at the clamped minimum vs backprop, per depth and activation, over stiffness ratios (docs/theory/stress-backprop.md).

    For every (depth, activation) a fixed seeded random net and data (:func:`make_case_data`) is checked with
    :func:`stress_backprop_case` and judged with :func:`assess_case`. The error is ``C r`` with slope 1 as
    r -> 0: "stress = backprop" (Eq. 8-10) is a limit statement. Depth 1 has no hidden layer, and there the
    stress equals the backprop gradient exactly (to rounding).

    Parameters
    ----------
    depths : sequence of int
        Numbers of weight layers L (1 = no hidden layer).
    activations : sequence of str
        Hidden-layer activations.
    ratios : sequence of float
        Stiffness ratios r = kappa_out/kappa_hidden.
    width, n_in, n_out, batch, seed
        Net and data (hidden width, input and output sizes, samples, seed).
    output_activation : str or None
        Activation of the output layer ('identity': a linear read-out, the default; None: the hidden one).
    kappa_hidden, fit_range, reference
        As in :func:`stress_backprop_case`.
    progress : callable, optional
        Called with each finished case.

    Returns
    -------
    dict
        ``{"reference", "fit_range", "net": {...}, "cases": [case, ...], "passed"}``; each case holds the fields of
        :func:`stress_backprop_case` plus ``verdict`` (:func:`assess_case`).

    Examples
    --------
    >>> from analogsim.model.crosscheck import stress_backprop_check
    >>> rep = stress_backprop_check(depths=[2], activations=["tanh"], ratios=[1e-6, 1e-4, 1e-3, 1.0])
    >>> rep["cases"][0]["verdict"]["passed"]
    True
    """
    if isinstance(depths, (int, np.integer)) or isinstance(activations, str):
        raise TypeError("depths and activations must be lists, e.g. depths=[1, 2], activations=['tanh']")
    depths = [check_scalar(d, f"depths[{i}]", low=1, integer=True) for i, d in enumerate(depths)]
    acts = [get_activation(a, f"activations[{i}]").name for i, a in enumerate(activations)]
    for name, val in (("width", width), ("n_in", n_in), ("n_out", n_out), ("batch", batch)):
        check_scalar(val, name, low=1, integer=True)
    ref = _resolve_reference(reference)
    cases = []
    for act in acts:
        for d in depths:
            net, x0, t = make_case_data(d, act, width=width, n_in=n_in, n_out=n_out, batch=batch, seed=seed,
                                        output_activation=output_activation)
            case = stress_backprop_case(net, x0, t, ratios, kappa_hidden=kappa_hidden, fit_range=fit_range,
                                        reference="torch" if ref == REF_TORCH else "numpy")
            case["reference"] = ref
            case["activation"] = act
            case["verdict"] = assess_case(case)
            cases.append(case)
            if progress is not None:
                progress(case)
    return {"reference": ref, "fit_range": list(fit_range),
            "net": {"width": width, "n_in": n_in, "n_out": n_out, "batch": batch, "seed": seed,
                    "output_activation": output_activation or "same as hidden", "kappa_hidden": kappa_hidden},
            "cases": cases, "passed": all(c["verdict"]["passed"] for c in cases)}
