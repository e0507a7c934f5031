r"""Exact equilibrium with the input clamped, the free energy, and the clamped minimum.

With x_0 clamped the map x -> delta is unit block-lower-triangular (Jacobian 1), so
``exp(-H/kT) dx = prod_i N(delta_i; 0, kT/kappa_i) d delta`` exactly, for any weights and activations
(PHYSICS.md §2). Sampling is forward propagation of Gaussian residuals; no Markov chain is involved.

With the output clamped too (training), the equilibrium is no longer a product of Gaussians; at kT = 0 the
state is the clamped minimum of H over the hidden neurons, where the stress obeys Eq. 10.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._checks import as_generator, check_array, check_kT, check_scalar
from .hamiltonian import OutputClamp, grad_params, hvp_x, layer_terms


# ----------------------------------------------------------------------------- exact sampling
@dataclass
class EquilibriumSample:
    """Samples of the clamped-input Gibbs measure.

    Attributes
    ----------
    xs : list of arrays
        [x_0, ..., x_L], each (B, n_l): one independent exact sample per row.
    deltas : list of arrays
        The residuals delta_l = x_l - f(y_l) drawn from N(0, kT/kappa).
    kT : float
    """

    xs: list
    deltas: list
    kT: float

    def equipartition(self, kappa):
        """Per layer: mean of kappa delta^2 / kT and its standard error (see :func:`equipartition`)."""
        return equipartition(kappa, self.deltas, self.kT)


def sample_equilibrium(net, x0, kT: float, n_replicas: int | None = None, seed=None) -> EquilibriumSample:
    r"""Exact samples of the neurons at temperature kT with the input clamped (PHYSICS.md §2).

    Draws delta_i ~ N(0, kT/kappa_i) and propagates forward, x_l = f(W_l x_{l-1} + b_l) + delta_l.

    Parameters
    ----------
    net : Network
    x0 : array (n_0,) or (B, n_0)
        Clamped input; each row gives one sample.
    kT : float
        Temperature in energy units (>= 0; 0 gives the deterministic forward pass).
    n_replicas : int, optional
        With a single input row, the number of independent replicas to draw.
    seed : int, SeedSequence or Generator, optional

    Returns
    -------
    EquilibriumSample

    Examples
    --------
    >>> from analogsim import Network, sample_equilibrium
    >>> net = Network.create([3, 8, 2], activations="tanh", kappa=4.0, seed=0)
    >>> s = sample_equilibrium(net, [0.1, 0.2, 0.3], kT=0.5, n_replicas=1000, seed=1)
    >>> ratio, se = s.equipartition(net.kappa)
    >>> bool(abs(ratio[0] - 1) < 4 * se[0])
    True
    """
    kT = check_kT(kT)
    x = net.check_input(x0)
    if n_replicas is not None:
        n_replicas = check_scalar(n_replicas, "n_replicas", low=1, integer=True)
        if x.shape[0] != 1:
            raise ValueError(f"n_replicas needs a single input row, got x0 with {x.shape[0]} rows")
        x = np.ascontiguousarray(np.broadcast_to(x, (n_replicas, x.shape[1])))
    rng = as_generator(seed)
    xs, deltas = [x], []
    for l in range(1, net.depth + 1):
        d = rng.standard_normal((x.shape[0], net.sizes[l]), dtype=net.dtype)
        d *= np.sqrt(kT / net.kappa[l - 1]).astype(net.dtype)
        y = x @ net.weights[l - 1].T
        y += net.biases[l - 1]
        x = net.activations[l - 1].f(y)
        x += d
        xs.append(x)
        deltas.append(d)
    return EquilibriumSample(xs, deltas, kT)


def free_energy(net, kT: float) -> float:
    r"""Free energy with the input clamped, :math:`F = (kT/2) \sum_i \ln(\kappa_i / (2\pi kT))`.

    Exact for any weights, biases and input (PHYSICS.md §2). The paper drops the 2 pi (a constant);
    we keep it, so ``F = -kT ln Z`` with ``Z = \int exp(-H/kT) dx`` over the non-input neurons.

    Examples
    --------
    >>> from analogsim import Network, free_energy
    >>> net = Network.create([2, 1], activations="identity", kappa=1.0, seed=0)
    >>> round(free_energy(net, 1.0 / (2 * 3.141592653589793)), 12)
    0.0
    """
    kT = check_scalar(kT, "kT", low=0.0, low_open=True)
    k = net.kappa_flat.astype(np.float64)
    return float(0.5 * kT * np.sum(np.log(k / (2 * np.pi * kT))))


def equipartition(kappa, deltas, kT: float):
    """Per-layer equipartition ratio <kappa delta^2>/kT with its standard error.

    Returns (ratio, se), arrays of length L. The SE is that of the mean over samples of the per-sample
    layer average; for exact samples each kappa delta^2/kT is chi^2_1, so ratio = 1 within a few SE.
    """
    kT = check_scalar(kT, "kT", low=0.0, low_open=True)
    ratio, se = [], []
    for k, d in zip(kappa, deltas):
        e = np.mean(k * d.astype(np.float64) ** 2, axis=1) / kT  # per sample, averaged over the layer
        ratio.append(float(e.mean()))
        se.append(float(e.std(ddof=1) / np.sqrt(e.size)) if e.size > 1 else float("nan"))
    return np.array(ratio), np.array(se)


# ----------------------------------------------------------------------------- clamped minimum
@dataclass
class ClampedMinimum:
    """The minimum of H over the hidden neurons with input and output clamped.

    Attributes
    ----------
    xs, deltas : lists of arrays
        State and residuals at the minimum (deltas are the solver's variables, exact to rounding).
    stress : list of arrays
        sigma_l = dH/db_l for l = 1..L (Eq. 8), each (B, n_l).
    grad_theta : array (B, N)
        dH/dtheta per sample (Eq. 9) in the layout of ``net.theta``.
    energy : array (B,)
    grad_norm : float
        Largest relative gradient norm |dH/dx_hidden| / scale over the batch at the end.
    recursion_residual : float
        max over layers of ||sigma_l - f'(y_l) W_{l+1}^T sigma_{l+1}|| / ||sigma_l|| (Eq. 10).
    n_iter : int
    converged : bool
    """

    xs: list
    deltas: list
    stress: list
    grad_theta: np.ndarray
    energy: np.ndarray
    grad_norm: float
    recursion_residual: float
    n_iter: int
    converged: bool
    method: str = ""
    history: list = field(default_factory=list)


def _propagate(net, x0, dh, clamp):
    """State from the hidden residual variables: x_l = f(y_l) + delta_l; output per the clamp."""
    L = net.depth
    xs, ys, fps, deltas = [x0], [], [], []
    x = x0
    for l in range(1, L + 1):
        act = net.activations[l - 1]
        y = net.preactivation(l, x)
        fy = act.f(y)
        if l < L or not clamp.hard:
            d = dh[l - 1]
            x = fy + d
        else:
            x = clamp.target
            d = clamp.target - fy
        xs.append(x)
        ys.append(y)
        fps.append(act.df(y))
        deltas.append(d)
    return xs, ys, fps, deltas


def _grad_from_deltas(net, xs, fps, deltas, clamp):
    """dH/dx_l of the variable layers computed from the residuals (no cancellation); plus stresses."""
    L = net.depth
    sig = [-k * d * fp for k, d, fp in zip(net.kappa, deltas, fps)]
    n_var = L if not clamp.hard else L - 1
    g, scale = [], []
    for l in range(1, n_var + 1):
        a = net.kappa[l - 1] * deltas[l - 1]
        bterm = sig[l] @ net.weights[l] if l < L else clamp.stiffness * (xs[L] - clamp.target)
        g.append(a + bterm)
        scale.append(np.abs(a) + np.abs(bterm))
    return g, scale, sig


def _energy_from_deltas(net, xs, deltas, clamp):
    H = sum(0.5 * np.sum(k * d * d, axis=1) for k, d in zip(net.kappa, deltas))
    if not clamp.hard:
        H = H + 0.5 * clamp.stiffness * np.sum((xs[-1] - clamp.target) ** 2, axis=1)
    return H


def _rel_norm(g, scale):
    num = np.sqrt(sum(np.sum(a * a, axis=1) for a in g))
    den = np.sqrt(sum(np.sum(s * s, axis=1) for s in scale))
    tiny = np.finfo(num.dtype).tiny
    return num / np.maximum(den, tiny)


def recursion_residual(net, xs, sig) -> float:
    """Relative residual of Eq. 10, max over hidden layers of ||sigma_l - f'(y_l) * W_{l+1}^T sigma_{l+1}|| / ||sigma_l||."""
    _, _, fps = layer_terms(net, xs)
    worst = 0.0
    for l in range(1, net.depth):
        rhs = fps[l - 1] * (sig[l] @ net.weights[l])
        num = np.linalg.norm(sig[l - 1] - rhs)
        den = max(np.linalg.norm(sig[l - 1]), np.linalg.norm(rhs), np.finfo(float).tiny)
        worst = max(worst, float(num / den))
    return worst


def clamped_minimum(net, x0, target, output_stiffness: float | None = None, *, method: str = "auto",
                    tol: float | None = None, max_iter: int = 100, cg_max_iter: int = 200) -> ClampedMinimum:
    r"""Minimise H over the hidden neurons with the input clamped to ``x0`` and the output to ``target``.

    The solver works in the residual coordinates delta (x_l = f(y_l) + delta_l), so the stress
    sigma = -kappa delta f' is computed without cancellation even when it is tiny (kappa_out << kappa).
    Each step is a Newton step with the exact x-Hessian (dense per sample for small nets, ``'newton'``;
    conjugate gradients on Hessian-vector products for large ones, ``'newton-cg'``), mapped to delta
    coordinates; the line search accepts a step that lowers H *or* the gradient norm, because near the
    minimum the change in H falls below rounding (PHYSICS.md §4). For relu the Hessian is that of the
    current active set (a semismooth Newton step); the residual reached is always reported.

    Parameters
    ----------
    net : Network
    x0 : array (n_0,) or (B, n_0)
    target : array (n_L,) or (B, n_L)
    output_stiffness : float or None
        None: hard clamp, x_L = target. A number k: soft clamp, spring k/2 |x_L - target|^2 on a free output.
    method : {'auto', 'newton', 'newton-cg'}
        'auto' uses dense Newton when the number of free neurons is <= 400.
    tol : float, optional
        Stop when the relative gradient norm is below tol (default: 8 machine epsilons).
    max_iter : int

    Returns
    -------
    ClampedMinimum

    Examples
    --------
    >>> from analogsim import Network, clamped_minimum
    >>> net = Network.create([3, 6, 6, 2], activations="tanh", kappa=[1.0, 1.0, 1e-3], seed=0)
    >>> m = clamped_minimum(net, [0.1, -0.2, 0.3], [0.5, -0.5])
    >>> m.converged and m.recursion_residual < 1e-12
    True
    """
    if method not in ("auto", "newton", "newton-cg"):
        raise ValueError(f"method must be 'auto', 'newton' or 'newton-cg', got {method!r}")
    max_iter = check_scalar(max_iter, "max_iter", low=1, integer=True)
    x = net.check_input(x0)
    B = x.shape[0]
    t = net.check_output(target, batch=B)
    clamp = OutputClamp(t, output_stiffness)
    eps = np.finfo(net.dtype).eps
    tol = 8 * eps if tol is None else check_scalar(tol, "tol", low=0.0)
    L = net.depth
    n_var_layers = L - 1 if clamp.hard else L
    n_free = sum(net.sizes[1:n_var_layers + 1])
    if method == "auto":
        method = "newton" if n_free <= 400 else "newton-cg"

    dh = [np.zeros((B, net.sizes[l]), dtype=net.dtype) for l in range(1, n_var_layers + 1)]
    xs, ys, fps, deltas = _propagate(net, x, dh, clamp)
    if n_free == 0:  # nothing to minimise (L = 1 with a hard clamp)
        g, scale, sig = _grad_from_deltas(net, xs, fps, deltas, clamp)
        return _finish(net, xs, deltas, sig, clamp, 0.0, 0, True, method, [])

    H = _energy_from_deltas(net, xs, deltas, clamp)
    g, scale, sig = _grad_from_deltas(net, xs, fps, deltas, clamp)
    gn = _rel_norm(g, scale)
    history = [float(gn.max())]
    converged = bool(gn.max() <= tol)
    it = 0
    stall = 0
    while not converged and it < max_iter:
        it += 1
        active = gn > tol
        step = _newton_direction(net, xs, g, clamp, n_var_layers, method, cg_max_iter)
        # map the x-step to delta coordinates: d(delta_l) = dx_l - f'(y_l) W_l dx_{l-1}
        ddel = []
        prev = np.zeros_like(x)
        for l in range(1, n_var_layers + 1):
            ddel.append(step[l - 1] - fps[l - 1] * (prev @ net.weights[l - 1].T))
            prev = step[l - 1]
        # per-sample backtracking: accept if H decreases (Armijo) or the gradient norm decreases
        tstep = np.where(active, 1.0, 0.0)
        best = None
        for _ in range(40):
            cand = [d + tstep[:, None] * dd for d, dd in zip(dh, ddel)]
            cx, cy, cf, cdel = _propagate(net, x, cand, clamp)
            cH = _energy_from_deltas(net, cx, cdel, clamp)
            cg, cs, csig = _grad_from_deltas(net, cx, cf, cdel, clamp)
            cgn = _rel_norm(cg, cs)
            ok = (cH < H - 1e-4 * tstep * np.abs(H) * 0) & (cH <= H) | (cgn < gn)
            ok |= ~active
            ok &= np.isfinite(cH)
            best = (cand, cx, cf, cdel, cH, cg, cgn)
            if np.all(ok):
                break
            tstep = np.where(ok, tstep, 0.5 * tstep)
        cand, xs, fps, deltas, Hn, g, gn_new = best
        improved = np.any(gn_new < gn * (1 - 1e-3)) or np.any(Hn < H)
        dh, H, gn = cand, Hn, gn_new
        g, scale, sig = _grad_from_deltas(net, xs, fps, deltas, clamp)
        gn = _rel_norm(g, scale)
        history.append(float(gn.max()))
        converged = bool(gn.max() <= tol)
        stall = 0 if improved else stall + 1
        if stall >= 3:
            break
    return _finish(net, xs, deltas, sig, clamp, float(gn.max()), it, converged, method, history)


def _finish(net, xs, deltas, sig, clamp, gnorm, it, converged, method, history):
    # per-sample dH/dtheta from the stresses (Eq. 9)
    B = xs[0].shape[0]
    gt = np.empty((B, net.n_params), dtype=net.dtype)
    for l in range(net.depth):
        n_out, n_in = net.sizes[l + 1], net.sizes[l]
        w0, b0 = net.w_offsets[l], net.b_offsets[l]
        gt[:, w0:w0 + n_out * n_in] = (sig[l][:, :, None] * xs[l][:, None, :]).reshape(B, -1)
        gt[:, b0:b0 + n_out] = sig[l]
    H = _energy_from_deltas(net, xs, deltas, clamp)
    return ClampedMinimum(xs=xs, deltas=deltas, stress=sig, grad_theta=gt, energy=H, grad_norm=gnorm,
                          recursion_residual=recursion_residual(net, xs, sig), n_iter=it,
                          converged=converged, method=method, history=history)


def _hvp_free(net, xs, v_free, clamp, n_var_layers):
    v = [np.zeros_like(xs[0])] + list(v_free)
    if clamp.hard:
        v = v + [np.zeros_like(xs[-1])]
    hv = hvp_x(net, xs, v, clamp)
    return hv[1:n_var_layers + 1]


def _newton_direction(net, xs, g, clamp, n_var_layers, method, cg_max_iter):
    B = xs[0].shape[0]
    sizes = net.sizes[1:n_var_layers + 1]
    n = sum(sizes)
    off = np.concatenate([[0], np.cumsum(sizes)])
    gflat = np.concatenate(g, axis=1)
    if method == "newton":
        Hm = np.empty((B, n, n), dtype=net.dtype)
        eye = np.zeros((B, n), dtype=net.dtype)
        for j in range(n):
            eye[:] = 0
            eye[:, j] = 1
            hv = _hvp_free(net, xs, [eye[:, off[i]:off[i + 1]] for i in range(len(sizes))], clamp, n_var_layers)
            Hm[:, :, j] = np.concatenate(hv, axis=1)
        Hm = 0.5 * (Hm + np.swapaxes(Hm, 1, 2))
        try:
            w, V = np.linalg.eigh(Hm)
        except np.linalg.LinAlgError:
            w, V = np.ones((B, n)), np.broadcast_to(np.eye(n), (B, n, n))
        # modified Newton: keep the curvature positive away from the minimum
        floor = np.maximum(np.abs(w).max(axis=1, keepdims=True) * 1e-10, np.finfo(net.dtype).tiny)
        w = np.where(w > floor, w, np.maximum(np.abs(w), floor))
        coef = np.einsum("bij,bi->bj", V, gflat) / w
        d = -np.einsum("bij,bj->bi", V, coef)
    else:
        d = _cg(lambda v: np.concatenate(_hvp_free(net, xs, [v[:, off[i]:off[i + 1]] for i in range(len(sizes))],
                                                    clamp, n_var_layers), axis=1), gflat, cg_max_iter)
    return [d[:, off[i]:off[i + 1]] for i in range(len(sizes))]


def _cg(hv, g, max_iter):
    """Batched truncated CG for H d = -g (stops a sample's iteration on negative curvature)."""
    d = np.zeros_like(g)
    r = -g.copy()
    p = r.copy()
    rr = np.sum(r * r, axis=1)
    rr0 = rr.copy()
    live = rr > 0
    eps = np.finfo(g.dtype).eps
    for _ in range(max_iter):
        if not np.any(live):
            break
        Hp = hv(p)
        pHp = np.sum(p * Hp, axis=1)
        neg = live & (pHp <= 0)
        if np.any(neg):
            first = neg & ~np.any(d != 0, axis=1)
            d[first] = -g[first]
            live &= ~neg
        alpha = np.where(live, rr / np.where(pHp > 0, pHp, 1.0), 0.0)
        d += alpha[:, None] * p
        r -= alpha[:, None] * Hp
        rr_new = np.sum(r * r, axis=1)
        live &= rr_new > (eps * eps) * rr0
        beta = np.where(live, rr_new / np.where(rr > 0, rr, 1.0), 0.0)
        p = r + beta[:, None] * p
        rr = rr_new
    return d


# ----------------------------------------------------------------------------- stress vs backprop
def backprop_gradient(net, x0, target, kappa_out: float | None = None) -> np.ndarray:
    """Per-sample backprop gradient of the MSE loss (kappa_out/2) |f(x_0) - t|^2 in the layout of ``theta``.

    ``kappa_out`` defaults to the output layer's stiffness (the first neuron's, if it varies).
    Returns shape (B, N).
    """
    xs = net.forward(x0)
    B = xs[0].shape[0]
    t = net.check_output(target, batch=B)
    k = float(net.kappa[-1][0]) if kappa_out is None else check_scalar(kappa_out, "kappa_out", low=0.0,
                                                                           low_open=True)
    ys, _, fps = layer_terms(net, xs)
    sig = [None] * net.depth
    sig[-1] = k * (xs[-1] - t) * fps[-1]
    for l in range(net.depth - 1, 0, -1):
        sig[l - 1] = fps[l - 1] * (sig[l] @ net.weights[l])
    out = np.empty((B, net.n_params), dtype=net.dtype)
    for l in range(net.depth):
        n_out, n_in = net.sizes[l + 1], net.sizes[l]
        w0, b0 = net.w_offsets[l], net.b_offsets[l]
        out[:, w0:w0 + n_out * n_in] = (sig[l][:, :, None] * xs[l][:, None, :]).reshape(B, -1)
        out[:, b0:b0 + n_out] = sig[l]
    return out


def stress_vs_backprop(net, x0, target, ratios=(1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0), *,
                       kappa_hidden: float = 1.0, fit_range=(1e-6, 1e-3)) -> dict:
    r"""Compare dH/dtheta at the clamped minimum with backprop of the MSE loss, across stiffness ratios.

    For each r = kappa_out/kappa_hidden the hidden layers get stiffness ``kappa_hidden``, the output layer
    ``r * kappa_hidden``, the output is hard-clamped to the target, and the batch-summed stress gradient
    (Eq. 9 at the minimum) is compared with the backprop gradient of (kappa_out/2)|f(x_0) - t|^2.
    The relative error vanishes linearly in r (PHYSICS.md §4): "stress = backprop" is a limit statement.

    Returns
    -------
    dict with ``ratios``, ``rel_error``, ``slope`` and ``constant`` (fitted log-log over ``fit_range``:
    error ≈ C r^slope; ``constant`` is the median of error/r there), ``recursion_residual`` (max over r),
    ``grad_norm`` (max over r).

    Examples
    --------
    >>> from analogsim import Network, stress_vs_backprop
    >>> net = Network.create([3, 8, 8, 2], activations="tanh", seed=0)
    >>> rep = stress_vs_backprop(net, [[0.1, 0.2, 0.3]], [[0.3, -0.1]])
    >>> abs(rep["slope"] - 1) < 0.02
    True
    """
    ratios = np.asarray(check_array(ratios, "ratios", ndim=1), dtype=np.float64)
    if ratios.size == 0 or np.any(ratios <= 0):
        raise ValueError(f"ratios must be positive stiffness ratios, got {ratios.tolist()}")
    kh = check_scalar(kappa_hidden, "kappa_hidden", low=0.0, low_open=True)
    errs, rres, gns = [], [], []
    for r in ratios:
        kap = [kh] * (net.depth - 1) + [r * kh]
        n2 = net.with_kappa(kap)
        m = clamped_minimum(n2, x0, target)
        gs = m.grad_theta.astype(np.float64).sum(axis=0)
        gb = backprop_gradient(n2, x0, target, kappa_out=r * kh).astype(np.float64).sum(axis=0)
        errs.append(float(np.linalg.norm(gs - gb) / np.linalg.norm(gb)))
        rres.append(m.recursion_residual)
        gns.append(m.grad_norm)
    errs = np.array(errs)
    sel = (ratios >= fit_range[0]) & (ratios <= fit_range[1]) & (errs > 0)
    if sel.sum() >= 2:
        slope = float(np.polyfit(np.log(ratios[sel]), np.log(errs[sel]), 1)[0])
        const = float(np.median(errs[sel] / ratios[sel]))
    else:
        slope, const = float("nan"), float("nan")
    return {"ratios": ratios.tolist(), "rel_error": errs.tolist(), "slope": slope, "constant": const,
            "recursion_residual": float(max(rres)), "grad_norm": float(max(gns))}
