r"""Newton machinery of the clamped minimum (:mod:`analogsim.model.clamped`): residual coordinates, the line search's
acceptance rule, the dense x-Hessian and its positive modification, truncated CG, and the relu active set.

The solver's variables are the residuals delta_l of the hidden layers (x_l = f(y_l) + delta_l) and, with a soft
clamp, the output's spring extension e = x_L - t; the energy, gradient and stress are computed from them without
cancellation (docs/theory/stress-backprop.md).
"""

from __future__ import annotations

import numpy as np

from .activations import RELU

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


def _energy_slack(net, xs, deltas, clamp, lam=None, c=None):
    """Per sample, how far H may rise on a step the line search accepts for lowering the gradient norm.

    sqrt(eps) times the scale sum_l kappa_l |delta_l| (|delta_l| + |x_l|) of H's rounding error (the output's
    residual t - f(y_L) is rounded relative to |t|, not to |delta_L|): well above the rounding of H near the
    minimum, where H stops resolving progress, and far below any real change of H. With relu neurons held on
    a kink (constraint values c, multipliers lam) the step also restores y = 0, which changes H by lam.c to
    first order; that much is allowed too.
    """
    s = sum(np.sum(k * np.abs(d) * (np.abs(d) + np.abs(x)), axis=1)
            for k, d, x in zip(net.kappa, deltas, xs[1:]))
    if not clamp.hard:
        e = deltas[net.depth]
        s = s + clamp.stiffness * np.sum(np.abs(e) * (np.abs(e) + np.abs(clamp.target)), axis=1)
    slack = np.sqrt(np.finfo(net.dtype).eps) * s
    if lam is not None and lam.shape[1]:
        slack = slack + 2 * np.sum(np.abs(lam * c), axis=1)
    return slack


def _rounding_slack(kappa, deltas, xs, dtype, spring=None):
    """:func:`_energy_slack` over plain arrays, for solvers outside the dense chain (the graph network's).

    ``kappa``, ``deltas``, ``xs``: per layer l = 1..L, kappa_l (scalar or (n_l,)), delta_l and x_l (B, n_l), with
    x_L the clamped target under a hard clamp. ``spring``: None, or (k, e, t) for a soft clamp's k/2 |e|^2 with
    e = x_L - t. Returns sqrt(eps) (sum_l kappa_l |delta_l| (|delta_l| + |x_l|) + k |e| (|e| + |t|)) per sample,
    the same allowance as the dense chain's (without relu multipliers).
    """
    s = sum(np.sum(k * np.abs(d) * (np.abs(d) + np.abs(x)), axis=1) for k, d, x in zip(kappa, deltas, xs))
    if spring is not None:
        k, e, t = spring
        s = s + k * np.sum(np.abs(e) * (np.abs(e) + np.abs(t)), axis=1)
    return np.sqrt(np.finfo(dtype).eps) * s


def _accept(H, cH, slack, gn, cgn, active):
    """Line-search acceptance per sample: H lowered, or the relative gradient norm lowered with H level.

    The gradient-norm test is what lets Newton finish below |grad| ~ 1e-10, where changes of H fall below
    rounding; it must not accept a step that raises H for real. The relative norm is ~1 both at the start
    (zero residuals) and wherever the activations saturate, so a step far uphill (e.g. H 2 -> 7e3 on a
    non-convex net at r = 1) can lower it by rounding; accepting such steps made the solver cycle.
    """
    return ((cH <= H) | ((cgn < gn) & (cH <= H + slack)) | ~active) & np.isfinite(cH)


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
