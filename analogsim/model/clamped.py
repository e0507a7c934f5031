r"""The clamped minimum of H (input and output clamped), the stress there, and stress vs backprop.

With the output clamped too (training), the equilibrium is no longer a product of Gaussians; at kT = 0 the
state is the minimum of H over the hidden neurons, where the stress obeys Eq. 10. Solvers work in residual
coordinates (x_l = f(y_l) + delta_l) so that tiny stresses (kappa_out << kappa_hidden) carry no cancellation
error; relu kinks are held as equality constraints (docs/theory/stress-backprop.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._checks import check_array, check_scalar
from ._newton import (_accept, _cg, _dense_hessian, _energy_from_deltas, _energy_slack, _face_measure,  # noqa: F401
                      _Face, _grad_from_deltas, _kink_layers, _positive_hessian, _propagate, _rel_norm)
from .hamiltonian import OutputClamp, hvp_x, layer_terms, params_from_stress

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
        Largest relative gradient norm |dH/dx_hidden| / scale over the batch at the end (with relu neurons
        held on a kink: the relative KKT residual, stationarity with the kink multipliers and |y| on the kink).
    recursion_residual : float
        max over layers of ||sigma_l - f'(y_l) W_{l+1}^T sigma_{l+1}|| / ||sigma_l|| (Eq. 10); for a neuron held on
        a relu kink f'(y) is its effective slope lam/(-kappa delta) in [0, 1].
    n_iter : int
    converged : bool
    n_kinks : int
        Number of relu neurons (summed over the batch) whose minimum sits on the kink y = 0. The dense solver
        holds them there as equality constraints; their stress is the constraint multiplier, which is
        d(min H)/db_i (H is not differentiable in b_i there, but its minimum over x is).

    Examples
    --------
    >>> from analogsim import Network, clamped_minimum
    >>> net = Network.create([3, 8, 8, 2], activations="tanh", seed=0)
    >>> m = clamped_minimum(net, [[0.1, 0.2, 0.3]], [[0.3, -0.1]])
    >>> m.converged, m.grad_theta.shape, m.recursion_residual < 1e-10      # Eq. 10 holds at the minimum
    (True, (1, 122), True)
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
    n_kinks: int = 0


def recursion_residual(net, xs, sig, fps=None) -> float:
    """Relative residual of Eq. 10, max over hidden layers of ||sigma_l - f'(y_l) * W_{l+1}^T sigma_{l+1}|| / ||sigma_l||.

    ``fps`` (f'(y_l) per layer) defaults to the activations' derivatives at the state.

    Examples
    --------
    >>> from analogsim import Network, clamped_minimum
    >>> from analogsim.model.hamiltonian import stress
    >>> net = Network.create([3, 8, 8, 2], activations="tanh", seed=0)
    >>> m = clamped_minimum(net, [[0.1, 0.2, 0.3]], [[0.3, -0.1]])
    >>> recursion_residual(net, m.xs, m.stress) < 1e-10          # at the minimum (Eq. 10)
    True
    >>> xs = [x.copy() for x in m.xs]
    >>> xs[1] += 0.1                                             # away from it the recursion fails
    >>> recursion_residual(net, xs, stress(net, xs)) > 1e-3
    True
    """
    if fps is None:
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
    coordinates; the line search accepts a step that lowers H, or one that lowers the gradient norm while H
    stays level to a rounding allowance (sqrt(eps) times H's scale), because near the minimum the change in H
    falls below rounding (docs/theory/stress-backprop.md). Far from the minimum, where H is not convex (an
    indefinite Hessian at r = 1 with large weights), the Hessian's eigenvalues are made positive and only
    H-lowering steps are taken. For relu the Hessian is that of the current active set (a semismooth Newton
    step); the residual reached is always reported (``grad_norm``, ``history``, ``converged``).

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
    if B == 0:
        raise ValueError(f"x0 must hold at least one input row, got shape {x.shape}")
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
    if method == "newton":
        xs, deltas, sig, fps_eff, gnorm, it, converged, history, n_held = _solve_dense(
            net, x, clamp, n_var_layers, tol, max_iter)
        return _finish(net, xs, deltas, sig, clamp, gnorm, it, converged, method, history, fps_eff, n_held)

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
        step = _newton_direction(net, xs, g, clamp, n_var_layers, cg_max_iter)
        # map the x-step to delta coordinates: d(delta_l) = dx_l - f'(y_l) W_l dx_{l-1}
        ddel = []
        prev = np.zeros_like(x)
        for l in range(1, n_var_layers + 1):
            # (the soft clamp's output variable is e = x_L - t: d(e) = dx_L)
            ddel.append(step[l - 1] if l == L else step[l - 1] - fps[l - 1] * (prev @ net.weights[l - 1].T))
            prev = step[l - 1]
        # per-sample backtracking: accept if H decreases, or the gradient norm decreases with H level to rounding
        tstep = np.where(active, 1.0, 0.0)
        slack = _energy_slack(net, xs, deltas, clamp)
        best = None
        for _ in range(40):
            cand = [d + tstep[:, None] * dd for d, dd in zip(dh, ddel)]
            cx, cy, cf, cdel = _propagate(net, x, cand, clamp)
            cH = _energy_from_deltas(net, cx, cdel, clamp)
            cg, cs, csig = _grad_from_deltas(net, cx, cf, cdel, clamp)
            cgn = _rel_norm(cg, cs)
            ok = _accept(H, cH, slack, gn, cgn, active)
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
    return _finish(net, xs, deltas, sig, clamp, float(gn.max()), it, converged, method, history, None,
                   _count_on_kinks(net, xs))


def _count_on_kinks(net, xs) -> int:
    """relu neurons of layers >= 2 whose pre-activation is zero to rounding (left there by the CG path)."""
    n = 0
    for l in _kink_layers(net):
        W, b = net.weights[l - 1], net.biases[l - 1]
        y = net.preactivation(l, xs[l - 1])
        scale = np.abs(xs[l - 1]) @ np.abs(W).T + np.abs(b)
        n += int(np.count_nonzero(np.abs(y) <= 64 * np.finfo(net.dtype).eps * scale))
    return n


def _finish(net, xs, deltas, sig, clamp, gnorm, it, converged, method, history, fps=None, n_kinks=0):
    gt = params_from_stress(net, xs, sig)
    H = _energy_from_deltas(net, xs, deltas, clamp)
    return ClampedMinimum(xs=xs, deltas=deltas[:net.depth], stress=sig, grad_theta=gt, energy=H, grad_norm=gnorm,
                          recursion_residual=recursion_residual(net, xs, sig, fps), n_iter=it,
                          converged=converged, method=method, history=history, n_kinks=int(n_kinks))


def _hvp_free(net, xs, v_free, clamp, n_var_layers):
    v = [np.zeros_like(xs[0])] + list(v_free)
    if clamp.hard:
        v = v + [np.zeros_like(xs[-1])]
    hv = hvp_x(net, xs, v, clamp)
    return hv[1:n_var_layers + 1]


def _newton_direction(net, xs, g, clamp, n_var_layers, cg_max_iter):
    """Truncated-CG Newton step on Hessian-vector products (the ``'newton-cg'`` path)."""
    sizes = net.sizes[1:n_var_layers + 1]
    off = np.concatenate([[0], np.cumsum(sizes)])
    gflat = np.concatenate(g, axis=1)
    d = _cg(lambda v: np.concatenate(_hvp_free(net, xs, [v[:, off[i]:off[i + 1]] for i in range(len(sizes))],
                                                clamp, n_var_layers), axis=1), gflat, cg_max_iter)
    return [d[:, off[i]:off[i + 1]] for i in range(len(sizes))]


# ----------------------------------------------------------------------------- dense Newton with relu kinks
def _solve_dense(net, x, clamp, n_var_layers, tol, max_iter):
    """Dense Newton in residual coordinates; relu neurons that cross a kink are held on it (KKT step).

    Returns (xs, deltas, sig, fps_eff, gnorm, it, converged, history, n_held).
    """
    B = x.shape[0]
    L = net.depth
    dh = [np.zeros((B, net.sizes[l]), dtype=net.dtype) for l in range(1, n_var_layers + 1)]
    xs, ys, fps0, deltas = _propagate(net, x, dh, clamp)
    face = _Face(net, ys)
    fps = face.fps(fps0, net.dtype)
    H = _energy_from_deltas(net, xs, deltas, clamp)
    g, sig, gflat, A, c, lam, slots, gn = _face_measure(net, xs, ys, fps, deltas, clamp, face, n_var_layers)
    history = [float(gn.max())]
    release_tol = max(tol, 1e-9)
    it, stall = 0, 0
    best = gn.copy()  # per-sample best residual, for the stall test
    done = np.zeros(B, dtype=bool)
    while it < max_iter:
        # release held neurons whose multiplier leaves [0, -kappa delta] (the subgradient of the kink)
        released = np.zeros(B, dtype=bool)
        for b in np.flatnonzero(gn <= release_tol):
            for k, (l, i) in enumerate(slots[b]):
                hi = -net.kappa[l - 1][i] * deltas[l - 1][b, i]
                lt = 1e-9 * max(abs(hi), abs(lam[b, k]), np.finfo(net.dtype).tiny)
                if lam[b, k] < -lt or lam[b, k] > hi + lt:
                    face.side[l][b, i] = -1 if lam[b, k] < -lt else 1
                    released[b] = True
        if released.any():
            fps = face.fps(fps0, net.dtype)
            g, sig, gflat, A, c, lam, slots, gn = _face_measure(net, xs, ys, fps, deltas, clamp, face, n_var_layers)
            gn[released] = np.maximum(gn[released], 2 * tol)  # a released sample is not done yet
        done = gn <= tol
        if done.all():
            break
        it += 1
        active = ~done
        # Newton step on the face: min g.d + d.Hm.d/2 s.t. A d = -c (Schur complement; pinv for dependent rows)
        Hm = _positive_hessian(_dense_hessian(net, ys, fps, deltas, clamp, n_var_layers))

        def hinv(M):  # Hm^{-1} M for M (B, n, m)
            return np.linalg.solve(Hm, M)

        hg = hinv(gflat[:, :, None])[:, :, 0]
        if A.shape[1]:
            hat = hinv(np.swapaxes(A, 1, 2))
            S = A @ hat
            rhs = c - np.einsum("bkn,bn->bk", A, hg)
            mu = np.einsum("bkj,bj->bk", np.linalg.pinv(S, rcond=1e-13, hermitian=True), rhs)
            dx = -(hg + np.einsum("bnk,bk->bn", hat, mu))
        else:
            dx = -hg
        sizes = net.sizes[1:n_var_layers + 1]
        off = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        step = [dx[:, off[i]:off[i + 1]] for i in range(n_var_layers)]
        ddel, prev = [], np.zeros_like(x)
        for l in range(1, n_var_layers + 1):  # d(delta_l) = dx_l - f'(y_l) W_l dx_{l-1}; soft output: d(e) = dx_L
            ddel.append(step[l - 1] if l == L else step[l - 1] - fps[l - 1] * (prev @ net.weights[l - 1].T))
            prev = step[l - 1]
        # truncate at the first kink crossed by a free relu neuron (linear estimate along the step)
        tmax = np.where(active, 1.0, 0.0)
        cross_at = [None] * B
        if face.layers:
            _, ys1, _, _ = _propagate(net, x, [d + dd for d, dd in zip(dh, ddel)], clamp)
            for l in face.layers:
                s, y0, y1 = face.side[l], ys[l - 1], ys1[l - 1]
                crossed = active[:, None] & (s != 0) & (s * y1 < 0) & (s * y0 > 0)
                for b, i in zip(*np.nonzero(crossed)):
                    tc = float(y0[b, i] / (y0[b, i] - y1[b, i]))
                    if tc < tmax[b]:
                        tmax[b] = tc
                        cross_at[b] = (l, int(i))
        tstep = tmax.copy()
        slack = _energy_slack(net, xs, deltas, clamp, lam, c)
        trial = None
        for _ in range(40):
            cand = [d + tstep[:, None] * dd for d, dd in zip(dh, ddel)]
            cx, cy, cf0, cdel = _propagate(net, x, cand, clamp)
            cH = _energy_from_deltas(net, cx, cdel, clamp)
            cfps = face.fps(cf0, net.dtype)
            cm = _face_measure(net, cx, cy, cfps, cdel, clamp, face, n_var_layers)
            ok = _accept(H, cH, slack, gn, cm[-1], active)
            trial = (cand, cx, cy, cf0, cdel, cH, cm[-1])
            if np.all(ok):
                break
            tstep = np.where(ok, tstep, 0.5 * tstep)
        cand, xs, ys, fps0, deltas, Hn, gn_new = trial
        # progress: a residual halved, or H lowered by more than rounding
        eps = np.finfo(net.dtype).eps
        improved = bool(np.any(active & ((gn_new < 0.5 * best) | (Hn < H - 64 * eps * np.abs(H)))))
        best = np.minimum(best, gn_new)
        held_new = False
        for b in range(B):  # reached the kink it was heading for: hold it there
            if cross_at[b] is not None and tstep[b] == tmax[b]:
                l, i = cross_at[b]
                face.side[l][b, i] = 0
                held_new = True
        face.sync(ys, active)
        dh, H = cand, Hn
        fps = face.fps(fps0, net.dtype)
        g, sig, gflat, A, c, lam, slots, gn = _face_measure(net, xs, ys, fps, deltas, clamp, face, n_var_layers)
        history.append(float(gn.max()))
        stall = 0 if (improved or held_new or released.any()) else stall + 1
        if stall >= 3:
            break
    done = gn <= tol
    # the stress of a held neuron is its multiplier: d(min H)/db_i = lam_i (envelope theorem on the face);
    # its effective slope lam_i / (-kappa_i delta_i) lies in [0, 1], the subgradient of relu at 0
    fps_eff = [f.copy() for f in fps]
    sig = [s.copy() for s in sig]
    for b, sl in enumerate(slots):
        for k, (l, i) in enumerate(sl):
            sig[l - 1][b, i] = lam[b, k]
            den = -net.kappa[l - 1][i] * deltas[l - 1][b, i]
            fps_eff[l - 1][b, i] = lam[b, k] / den if den != 0 else 0.0
    return xs, deltas, sig, fps_eff, float(gn.max()), it, bool(done.all()), history, face.n_held()


# ----------------------------------------------------------------------------- stress vs backprop
def backprop_gradient(net, x0, target, kappa_out: float | None = None) -> np.ndarray:
    """Per-sample backprop gradient of the MSE loss (kappa_out/2) |f(x_0) - t|^2 in the layout of ``theta``.

    ``kappa_out`` defaults to the output layer's stiffness (the first neuron's, if it varies).
    Returns shape (B, N).

    Examples
    --------
    >>> import numpy as np
    >>> from analogsim import Network, clamped_minimum
    >>> net = Network.create([3, 8, 1], activations=["tanh", "identity"], kappa=[1.0, 1e-6], seed=0)
    >>> x0, t = [[0.1, 0.2, 0.3]], [[0.5]]
    >>> gb = backprop_gradient(net, x0, t)
    >>> gs = clamped_minimum(net, x0, t).grad_theta           # the stress gradient, for r = 1e-6
    >>> gb.shape, bool(np.linalg.norm(gs - gb) < 1e-4 * np.linalg.norm(gb))
    ((1, 41), True)
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
    return params_from_stress(net, xs, sig)


def stress_vs_backprop(net, x0, target, ratios=(1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0), *,
                       kappa_hidden: float = 1.0, fit_range=(1e-6, 1e-3)) -> dict:
    r"""Compare dH/dtheta at the clamped minimum with backprop of the MSE loss, across stiffness ratios.

    For each r = kappa_out/kappa_hidden the hidden layers get stiffness ``kappa_hidden``, the output layer
    ``r * kappa_hidden``, the output is hard-clamped to the target, and the batch-summed stress gradient
    (Eq. 9 at the minimum) is compared with the backprop gradient of (kappa_out/2)|f(x_0) - t|^2.
    The relative error vanishes linearly in r (docs/theory/stress-backprop.md): "stress = backprop" is a limit statement.

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
    rep = _stress_ratio_sweep(net, x0, target, ratios, kappa_hidden, fit_range, clamped_minimum, backprop_gradient,
                              dtype=np.float64)
    del rep["converged"]
    return rep


def _stress_ratio_sweep(net, x0, target, ratios, kappa_hidden, fit_range, minimum, backprop, dtype=None) -> dict:
    """The body of ``stress_vs_backprop`` shared by the chain network and the graph network.

    ``minimum(net, x0, target)`` gives the clamped minimum (``grad_theta``, ``recursion_residual``, ``grad_norm``,
    ``converged``), ``backprop(net, x0, target, kappa_out=...)`` the (B, N) backprop gradient; both are cast to
    ``dtype`` before the batch sum (None: summed in their own dtype). Returns the report dict with ``converged``.
    """
    ratios = np.asarray(check_array(ratios, "ratios", ndim=1), dtype=np.float64)
    if ratios.size == 0 or np.any(ratios <= 0):
        raise ValueError(f"ratios must be positive stiffness ratios, got {ratios.tolist()}")
    kh = check_scalar(kappa_hidden, "kappa_hidden", low=0.0, low_open=True)
    errs, rres, gns, conv = [], [], [], []
    for r in ratios:
        n2 = net.with_kappa([kh] * (net.depth - 1) + [r * kh])
        m = minimum(n2, x0, target)
        gs, gb = m.grad_theta, backprop(n2, x0, target, kappa_out=r * kh)
        if dtype is not None:
            gs, gb = gs.astype(dtype), gb.astype(dtype)
        gs, gb = gs.sum(axis=0), gb.sum(axis=0)
        errs.append(float(np.linalg.norm(gs - gb) / np.linalg.norm(gb)))
        rres.append(m.recursion_residual)
        gns.append(m.grad_norm)
        conv.append(m.converged)
    errs = np.array(errs)
    sel = (ratios >= fit_range[0]) & (ratios <= fit_range[1]) & (errs > 0)
    if sel.sum() >= 2:
        slope = float(np.polyfit(np.log(ratios[sel]), np.log(errs[sel]), 1)[0])
        const = float(np.median(errs[sel] / ratios[sel]))
    else:
        slope, const = float("nan"), float("nan")
    return {"ratios": ratios.tolist(), "rel_error": errs.tolist(), "slope": slope, "constant": const,
            "recursion_residual": float(max(rres)), "grad_norm": float(max(gns)), "converged": bool(all(conv))}
