r"""The clamped minimum of H (input and output clamped), the stress there, and stress vs backprop.

With the output clamped too (training), the equilibrium is no longer a product of Gaussians; at kT = 0 the
state is the minimum of H over the hidden neurons, where the stress obeys Eq. 10. Solvers work in residual
coordinates (x_l = f(y_l) + delta_l) so that tiny stresses (kappa_out << kappa_hidden) carry no cancellation
error; relu kinks are held as equality constraints (docs/theory/stress-backprop.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._checks import check_array, check_scalar
from .activations import RELU
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


def _propagate(net, x0, dh, clamp):
    """State from the solver's variables: x_l = f(y_l) + delta_l for the hidden layers; output per the clamp.

    With a soft clamp the output's variable is the spring extension e = x_L - t (not delta_L), so both the
    spring force k e and kappa_L delta_L = kappa_L ((t - f(y_L)) + e) are computed without cancellation even when
    they are tiny; e is appended to ``deltas`` as entry L (``deltas[:L]`` are the residuals).
    """
    L = net.depth
    xs, ys, fps, deltas = [x0], [], [], []
    x = x0
    for l in range(1, L + 1):
        act = net.activations[l - 1]
        y = net.preactivation(l, x)
        fy = act.f(y)
        if l < L:
            d = dh[l - 1]
            x = fy + d
        elif clamp.hard:
            x = clamp.target
            d = clamp.target - fy
        else:
            e = dh[l - 1]
            x = clamp.target + e
            d = (clamp.target - fy) + e
        xs.append(x)
        ys.append(y)
        fps.append(act.df(y))
        deltas.append(d)
    if not clamp.hard:
        deltas.append(dh[L - 1])
    return xs, ys, fps, deltas


def _grad_from_deltas(net, xs, fps, deltas, clamp):
    """dH/dx_l of the variable layers computed from the residuals (no cancellation); plus stresses."""
    L = net.depth
    sig = [-k * d * fp for k, d, fp in zip(net.kappa, deltas, fps)]
    n_var = L if not clamp.hard else L - 1
    g, scale = [], []
    for l in range(1, n_var + 1):
        a = net.kappa[l - 1] * deltas[l - 1]
        bterm = sig[l] @ net.weights[l] if l < L else clamp.stiffness * deltas[L]  # spring: k e
        g.append(a + bterm)
        scale.append(np.abs(a) + np.abs(bterm))
    return g, scale, sig


def _energy_from_deltas(net, xs, deltas, clamp):
    H = sum(0.5 * np.sum(k * d * d, axis=1) for k, d in zip(net.kappa, deltas))
    if not clamp.hard:
        H = H + 0.5 * clamp.stiffness * np.sum(deltas[net.depth] ** 2, axis=1)
    return H


def _rel_norm(g, scale):
    num = np.sqrt(sum(np.sum(a * a, axis=1) for a in g))
    den = np.sqrt(sum(np.sum(s * s, axis=1) for s in scale))
    tiny = np.finfo(num.dtype).tiny
    return num / np.maximum(den, tiny)


def recursion_residual(net, xs, sig, fps=None) -> float:
    """Relative residual of Eq. 10, max over hidden layers of ||sigma_l - f'(y_l) * W_{l+1}^T sigma_{l+1}|| / ||sigma_l||.

    ``fps`` (f'(y_l) per layer) defaults to the activations' derivatives at the state.

    Examples
    --------
    >>> from analogsim import Network, clamped_minimum
    >>> from analogsim.hamiltonian import stress
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
    coordinates; the line search accepts a step that lowers H *or* the gradient norm, because near the
    minimum the change in H falls below rounding (docs/theory/stress-backprop.md). For relu the Hessian is that of the
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
        step = _newton_direction(net, xs, g, clamp, n_var_layers, method, cg_max_iter)
        # map the x-step to delta coordinates: d(delta_l) = dx_l - f'(y_l) W_l dx_{l-1}
        ddel = []
        prev = np.zeros_like(x)
        for l in range(1, n_var_layers + 1):
            # (the soft clamp's output variable is e = x_L - t: d(e) = dx_L)
            ddel.append(step[l - 1] if l == L else step[l - 1] - fps[l - 1] * (prev @ net.weights[l - 1].T))
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


# ----------------------------------------------------------------------------- dense Newton with relu kinks
def _dense_hessian(net, ys, fps, deltas, clamp, n_var_layers):
    """The exact x-Hessian over the free layers 1..n_var_layers, per sample: (B, n, n).

    Layer l's term kappa_l/2 |x_l - f(W_l x_{l-1} + b_l)|^2 gives kappa_l I on block (l, l),
    W_l^T diag(kappa_l (f'^2 - delta f'')) W_l on block (l-1, l-1) and -diag(kappa_l f') W_l on block (l, l-1).
    ``fps`` may be overridden (relu neurons held on a kink have f' = 0 there: their term is kappa/2 x^2).
    """
    L = net.depth
    sizes = net.sizes[1:n_var_layers + 1]
    off = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    B = ys[0].shape[0]
    n = int(off[-1])
    Hm = np.zeros((B, n, n), dtype=net.dtype)
    diag = np.arange(n)
    for l in range(1, L + 1):
        k = net.kappa[l - 1]
        W = net.weights[l - 1]
        if l <= n_var_layers:
            Hm[:, diag[off[l - 1]:off[l]], diag[off[l - 1]:off[l]]] += k
        if l >= 2:
            c = k * (fps[l - 1] * fps[l - 1] - deltas[l - 1] * net.activations[l - 1].d2f(ys[l - 1]))
            a, b = off[l - 2], off[l - 1]
            Hm[:, a:b, a:b] += (W.T[None, :, :] * c[:, None, :]) @ W
            if l <= n_var_layers:
                cross = -(k * fps[l - 1])[:, :, None] * W[None, :, :]
                Hm[:, off[l - 1]:off[l], a:b] += cross
                Hm[:, a:b, off[l - 1]:off[l]] += np.swapaxes(cross, 1, 2)
    if not clamp.hard:
        a, b = off[L - 1], off[L]
        Hm[:, diag[a:b], diag[a:b]] += clamp.stiffness
    return Hm


def _positive_hessian(Hm):
    """Symmetrise; where a sample's Hessian is not positive definite, flip and floor its eigenvalues.

    Positive definiteness is tested by Cholesky (cheap); only the failing samples get an eigendecomposition
    (modified Newton: keeps the step a descent direction away from the minimum).
    """
    Hm = 0.5 * (Hm + np.swapaxes(Hm, 1, 2))
    try:
        np.linalg.cholesky(Hm)
        return Hm
    except np.linalg.LinAlgError:
        pass
    for b in range(Hm.shape[0]):
        try:
            np.linalg.cholesky(Hm[b])
        except np.linalg.LinAlgError:
            w, V = np.linalg.eigh(Hm[b])
            floor = max(float(np.abs(w).max()) * 1e-10, float(np.finfo(Hm.dtype).tiny))
            w = np.where(w > floor, w, np.maximum(np.abs(w), floor))
            Hm[b] = (V * w) @ V.T
    return Hm


def _kink_layers(net):
    """Layers l >= 2 with relu: their pre-activation y_l = W_l x_{l-1} + b_l moves with the free neurons."""
    return [l for l in range(2, net.depth + 1) if net.activations[l - 1].code == RELU]


class _Face:
    """Relu sides and the held kinks of a batch: side +1 (y > 0, f' = 1), -1 (y < 0, f' = 0), 0 (held at y = 0)."""

    def __init__(self, net, ys):
        self.layers = _kink_layers(net)
        self.side = {l: np.where(ys[l - 1] > 0, 1, -1).astype(np.int8) for l in self.layers}

    def fps(self, fps, dtype):
        out = list(fps)
        for l in self.layers:
            out[l - 1] = (self.side[l] > 0).astype(dtype)
        return out

    def sync(self, ys, rows):
        """Non-held neurons of the given samples take the side of their pre-activation (unchanged where y = 0)."""
        for l in self.layers:
            s, y = self.side[l], ys[l - 1]
            upd = rows[:, None] & (s != 0) & (y != 0)
            s[upd] = np.where(y[upd] > 0, 1, -1)

    def n_held(self):
        return int(sum(np.count_nonzero(s == 0) for s in self.side.values()))

    def constraints(self, net, xs, ys, n_var_layers):
        """Rows of the held constraints y_i = 0 in the free x coordinates, padded: A (B, K, n), c (B, K), slots."""
        B = xs[0].shape[0]
        sizes = net.sizes[1:n_var_layers + 1]
        off = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        slots = [[] for _ in range(B)]
        for l in self.layers:
            bb, ii = np.nonzero(self.side[l] == 0)
            for b, i in zip(bb.tolist(), ii.tolist()):
                slots[b].append((l, i))
        K = max((len(s) for s in slots), default=0)
        A = np.zeros((B, K, int(off[-1])), dtype=net.dtype)
        c = np.zeros((B, K), dtype=net.dtype)
        cs = np.ones((B, K), dtype=net.dtype)  # scale of y_i: |W_i| |x_{l-1}| + |b_i|
        for b, sl in enumerate(slots):
            for k, (l, i) in enumerate(sl):
                W = net.weights[l - 1]
                A[b, k, off[l - 2]:off[l - 1]] = W[i]
                c[b, k] = ys[l - 1][b, i]
                cs[b, k] = np.abs(W[i]) @ np.abs(xs[l - 1][b]) + abs(net.biases[l - 1][i])
        return A, c, cs, slots


def _multipliers(A, g):
    """Least-squares multipliers of the held constraints: argmin_lam |g + A^T lam|, per sample."""
    if A.shape[1] == 0:
        return np.zeros(A.shape[:2], dtype=A.dtype)
    AAt = A @ np.swapaxes(A, 1, 2)
    return -np.einsum("bkj,bj->bk", np.linalg.pinv(AAt, rcond=1e-13, hermitian=True), np.einsum("bkn,bn->bk", A, g))


def _face_measure(net, xs, ys, fps, deltas, clamp, face, n_var_layers):
    """Gradient, stresses and the relative KKT residual of each sample on its current face."""
    g, scale, sig = _grad_from_deltas(net, xs, fps, deltas, clamp)
    A, c, cs, slots = face.constraints(net, xs, ys, n_var_layers)
    gflat = np.concatenate(g, axis=1)
    sflat = np.concatenate(scale, axis=1)
    lam = _multipliers(A, gflat)
    atl = np.einsum("bkn,bk->bn", A, lam)
    num = np.sqrt(np.sum((gflat + atl) ** 2, axis=1))
    den = np.sqrt(np.sum((sflat + np.abs(atl)) ** 2, axis=1))
    gn = num / np.maximum(den, np.finfo(num.dtype).tiny)
    if c.shape[1]:
        gn = np.maximum(gn, np.max(np.abs(c) / np.maximum(cs, np.finfo(c.dtype).tiny), axis=1))
    return g, sig, gflat, A, c, lam, slots, gn


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
        trial = None
        for _ in range(40):
            cand = [d + tstep[:, None] * dd for d, dd in zip(dh, ddel)]
            cx, cy, cf0, cdel = _propagate(net, x, cand, clamp)
            cH = _energy_from_deltas(net, cx, cdel, clamp)
            cfps = face.fps(cf0, net.dtype)
            cm = _face_measure(net, cx, cy, cfps, cdel, clamp, face, n_var_layers)
            ok = ((cH <= H) | (cm[-1] < gn) | ~active) & np.isfinite(cH)
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
