r"""The stability guard of the Langevin engine: every replica, every protocol point, and what EM's step costs.

Explicit steps of dx = -Gamma dH/dx dt + sqrt(2 Gamma kT) dW are linearly stable only for
Gamma dt lambda_max < 2, lambda_max the largest eigenvalue of the x-Hessian of H (Gauss-Newton part
J^T K J plus the f'' curvature part; the input and a hard-clamped output are held fixed). lambda_max
depends on the state, hence on each replica's clamped input and target: with many distinct inputs the
worst replica can sit well above a few sampled ones. The guard therefore looks at every distinct clamp
point of the batch, and at the extreme points (and a few interior points) of a moving protocol:

1. the clamp points (input, target) are collected and de-duplicated (:func:`clamp_points`);
2. at each point's T = 0 reference state (the forward pass, a hard-clamped output at its target) a
   rigorous per-point upper bound B_r on lambda_max is computed in one vectorised pass
   (:func:`replica_bound`, block Gershgorin over the layers with the point's own f', f'' and residuals);
3. lambda_max itself is computed (:func:`replica_lambda`: dense eigenvalues for <= 64 free neurons,
   batched Lanczos above) only where the bound could exceed the best value found so far, largest bound
   first: the maximum over all points is then exact, at the cost of as many points as the bound is loose
   for. A Lanczos row that did not converge is reported and its bound used instead.

:func:`guard` returns a :class:`GuardReport` with the worst point (its replica index, protocol step and
lambda) and is cached per (network parameters, clamp set) in :func:`cached_guard`.

EM's bias. Euler-Maruyama's stationary law is biased: the worst layer's equipartition ratio
<kappa delta^2>/kT is about 1 + c Gamma dt lambda_max. :data:`EM_BIAS_WORST_LAYER` is c as measured
(see its comment); the guard warns where the predicted bias c Gamma dt lambda_max exceeds
:data:`EM_BIAS_TOLERANCE` (1 %).

EM's first law. EM books the heat as the Stratonovich (trapezoid) sum, so H_end - H_start - W - Q is the
trapezoid error: zero for quadratic H, otherwise of order dt at a fixed protocol duration
(:data:`FIRST_LAW_ORDER`; ``tests/test_stability.py`` measures the slope).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from .oscillation import oscillation_check  # noqa: F401  (part of this module's interface)

__all__ = ["EM_BIAS_WORST_LAYER", "EM_BIAS_WORST_LAYER_SE", "EM_BIAS_TOLERANCE", "EM_BIAS_WARN_DTL",
           "FIRST_LAW_ORDER", "GuardReport", "clamp_points", "reference_states", "replica_bound", "replica_lambda",
           "guard", "cached_guard", "check_guard", "em_bias_predicted", "clear_cache", "oscillation_check"]

#: Measured worst-layer EM bias constant c: the worst layer's equipartition ratio is 1 + c Gamma dt lambda_max.
#: Measured by ``benchmarks/em_bias.py`` (raw results: ``docs/benchmarks/em-bias-*.json``): EM against the exact
#: equipartition value 1 (free output, kT = 0.05, exact equilibrium start, 4096 replicas, 120 time units per
#: point after a 20 % burn-in) at Gamma dt lambda_max = 0.05, 0.1, 0.2, 0.3, 0.4 on the net of the EM-bias
#: validation ([3, 8, 8, 2] tanh, kappa = [1, 2, 1.5], seed 0, bias_scale 0.2, input [0.3, -0.5, 0.8],
#: lambda_max = 10.68 at that input's forward state); slope through the origin of the worst layer's
#: ratio - 1 (layer 2; layers 1 and 3: 0.054, 0.133), weighted by 1/SE^2. The slope grows slightly with
#: dt lambda (0.214 from the dt lambda = 0.05 point alone, 0.225 at 0.4). Two independent runs (seeds 0 and
#: 100): 0.2207 +- 0.0024 and 0.2212 +- 0.0027 (1 % bias reached at dt lambda = 0.0453 and 0.0452).
EM_BIAS_WORST_LAYER = 0.221
#: standard error of :data:`EM_BIAS_WORST_LAYER` (the two runs combined; each fit's SE inflated by sqrt(chi^2/dof))
EM_BIAS_WORST_LAYER_SE = 0.0018
#: the EM-bias warning fires where the predicted worst-layer bias exceeds this fraction
EM_BIAS_TOLERANCE = 0.01
#: Gamma dt lambda_max above which EM's predicted worst-layer bias exceeds EM_BIAS_TOLERANCE
EM_BIAS_WARN_DTL = EM_BIAS_TOLERANCE / EM_BIAS_WORST_LAYER
#: order of EM's first-law residual in dt at a fixed protocol duration (the Stratonovich trapezoid error)
FIRST_LAW_ORDER = 1
#: dense eigenvalues up to this many free neurons, batched Lanczos above
DENSE_MAX = 64
#: Lanczos iterations (at most) and the relative residual below which a Ritz value counts as converged
LANCZOS_ITERS = 60
LANCZOS_RTOL = 1e-3
#: points evaluated in the first round (largest bounds first)
FIRST_ROUND = 8
#: interior points sampled along a moving protocol besides its ends
PROTOCOL_POINTS = 9


def em_bias_predicted(dt_lambda: float) -> float:
    """EM's predicted worst-layer equipartition bias (a fraction) at Gamma dt lambda_max = ``dt_lambda``.

    Examples
    --------
    >>> round(em_bias_predicted(EM_BIAS_WARN_DTL), 6)
    0.01
    """
    return EM_BIAS_WORST_LAYER * float(dt_lambda)


# ----------------------------------------------------------------------------- clamp points
def clamp_points(inp, tprot, B: int, n_steps: int, dt: float):
    """Distinct (input, target) clamp points a run visits: every row, at the protocol's extreme and interior steps.

    Parameters
    ----------
    inp : Protocol
        The clamped input (:mod:`analogsim.inference.protocols`).
    tprot : Protocol or None
        The clamp target (None: free output).
    B : int
        Replicas.
    n_steps, dt : int, float
        The run's steps and time step (the protocol is read at steps 0..n_steps).

    Returns
    -------
    X : array (M, n_0), T : array (M, n_L) or None, replica : array (M,) int, step : array (M,) int
        The distinct points, the first replica that visits each, and the step at which it does.

    Examples
    --------
    >>> import numpy as np
    >>> from analogsim.inference.protocols import Constant, Ramp
    >>> X, T, rep, step = clamp_points(Constant(np.zeros((5, 2))), None, 5, 10, 0.1)
    >>> X.shape, T
    ((1, 2), None)
    >>> X, T, rep, step = clamp_points(Ramp([0.0], [1.0], tau=1.0), None, 3, 10, 0.1)
    >>> float(X[:, 0].min()), float(X[:, 0].max()), int(step.max())
    (0.0, 1.0, 10)
    """
    ks = _steps_to_read(inp, n_steps, dt)
    if tprot is not None:
        ks = np.union1d(ks, _steps_to_read(tprot, n_steps, dt))
    Xs = _values_at(inp, ks, B, dt)            # (K, B, n0)
    parts = [Xs]
    if tprot is not None:
        Ts = _values_at(tprot, ks, B, dt)
        parts.append(Ts)
    allv = np.concatenate(parts, axis=2)       # (K, B, P)
    K = allv.shape[0]
    flat = allv.reshape(K * B, -1)
    rep = np.tile(np.arange(B), K)
    step = np.repeat(ks, B)
    if flat.shape[0] > 1:
        _, first = np.unique(flat, axis=0, return_index=True)
        first.sort()
    else:
        first = np.arange(flat.shape[0])
    flat = flat[first]
    n0 = Xs.shape[2]
    X = np.ascontiguousarray(flat[:, :n0])
    T = np.ascontiguousarray(flat[:, n0:]) if tprot is not None else None
    return X, T, rep[first], step[first]


def _steps_to_read(prot, n_steps, dt):
    if not prot.moving or n_steps == 0:
        return np.zeros(1, dtype=np.int64)
    ks = np.unique(np.round(np.linspace(0, n_steps, PROTOCOL_POINTS)).astype(np.int64))
    from .protocols import Ramp, Sampled

    if isinstance(prot, Ramp):  # its ends inside the run, and 9 points along the ramp itself
        s = prot.schedule(np.arange(n_steps + 1) * dt)
        along = np.searchsorted(s, np.linspace(s[0], s[-1], PROTOCOL_POINTS))
        ks = np.union1d(ks, np.concatenate([[int(np.argmin(s)), int(np.argmax(s))], np.minimum(along, n_steps)]))
    elif isinstance(prot, Sampled):  # every coordinate's extreme steps, per row
        v = prot.values[:n_steps + 1]
        ks = np.union1d(ks, np.concatenate([np.argmin(v, axis=0).ravel(), np.argmax(v, axis=0).ravel()]))
    return ks.astype(np.int64)


def _values_at(prot, ks, B, dt):
    out = []
    for k in ks:
        tab, _ = prot.tables(int(k), 0, dt, B, np.float64)
        A, D, s, V = tab
        v = A + s[0] * D + (V[0] if V.shape[1] > 1 else V[0, 0][None, :])
        out.append(np.broadcast_to(v, (B, A.shape[1])))
    return np.stack(out)


def reference_states(net, X, T=None, hard: bool = False):
    """T = 0 reference state of each clamp point: the forward pass from X, x_L = T for a hard clamp (list of layers).

    Examples
    --------
    >>> import numpy as np
    >>> from analogsim import Network
    >>> net = Network.create([2, 3, 1], seed=0)
    >>> [x.shape for x in reference_states(net, np.zeros((4, 2)))]
    [(4, 2), (4, 3), (4, 1)]
    """
    xs = net.forward(X)
    if hard and T is not None:
        xs[-1] = np.array(T, dtype=xs[-1].dtype)
    return xs


# ----------------------------------------------------------------------------- per-point bound and lambda
def _terms(net, xs):
    """Per layer l = 1..L: f'(y_l), f''(y_l), delta_l (float64)."""
    fps, f2s, ds = [], [], []
    for l in range(1, net.depth + 1):
        act = net.activations[l - 1]
        y = net.preactivation(l, xs[l - 1])
        fps.append(act.df(y))
        f2s.append(act.d2f(y))
        ds.append(xs[l] - act.f(y))
    return fps, f2s, ds


def _norms(net):
    return [float(np.linalg.norm(W, 2)) for W in net.weights]


def replica_bound(net, xs, stiffness: float | None = None, hard: bool = False, norms=None) -> np.ndarray:
    r"""Rigorous upper bound on lambda_max of the x-Hessian, per row of the state ``xs`` (one vectorised pass).

    Block Gershgorin over the free layers m: lambda_max <= max_m [lambda_max(H_mm) + sum_{j != m} ||H_mj||_2],
    with H_mm = kappa_m I + W_{m+1}^T diag(kappa_{m+1}(f'^2 - delta f'')) W_{m+1} (+ the soft clamp's
    stiffness for m = L) and H_{m,m-1} = -diag(kappa_m f'_m) W_m, bounded by the row's own
    max(kappa (f'^2 - delta f''))_+ ||W||_2^2 and max|kappa f'| ||W||_2. With |f'| <= 1 and delta = 0 it is the
    cheap bound B of the project's stability notes; with a row's own f' it is often much tighter.

    Parameters
    ----------
    net : Network (float64 is used)
    xs : list of arrays (R, n_l)
        States (e.g. :func:`reference_states`).
    stiffness : float or None
        Soft output clamp's stiffness (None: no spring).
    hard : bool
        Hard-clamped output (x_L fixed).
    norms : list of float, optional
        ||W_l||_2 (computed when not given).

    Returns
    -------
    array (R,)

    Examples
    --------
    >>> import numpy as np
    >>> from analogsim import Network
    >>> net = Network.create([3, 8, 8, 2], activations="tanh", seed=0)
    >>> xs = net.forward(np.random.default_rng(0).normal(size=(5, 3)))
    >>> bool(np.all(replica_bound(net, xs) >= replica_lambda(net, xs)[0]))
    True
    """
    s = _norms(net) if norms is None else norms
    L = net.depth
    Lf = L - 1 if hard else L
    R = xs[0].shape[0]
    fps, f2s, ds = _terms(net, xs)
    c = [np.max(np.abs(net.kappa[l] * fps[l]), axis=1) for l in range(L)]                    # max |kappa f'|
    d = [np.maximum(np.max(net.kappa[l] * (fps[l] ** 2 - ds[l] * f2s[l]), axis=1), 0.0) for l in range(L)]
    best = np.zeros(R)
    for m in range(1, Lf + 1):
        v = np.full(R, float(np.max(net.kappa[m - 1])))
        if m < L:
            v = v + s[m] ** 2 * d[m]
        if m == L and stiffness is not None:
            v = v + float(stiffness)
        if m > 1:
            v = v + s[m - 1] * c[m - 1]
        if m + 1 <= Lf:
            v = v + s[m] * c[m]
        best = np.maximum(best, v)
    return best


def _hvp_batch(net, terms, V, sizes_free, stiffness, hard):
    """x-Hessian times V (R, n_free), per row; terms from :func:`_terms`."""
    fps, f2s, ds = terms
    L = net.depth
    Lf = L - 1 if hard else L
    off = np.concatenate([[0], np.cumsum(sizes_free)])
    vs = [None] + [V[:, off[i]:off[i + 1]] for i in range(Lf)]
    out = np.zeros_like(V)
    outs = [None] + [out[:, off[i]:off[i + 1]] for i in range(Lf)]
    for l in range(1, L + 1):
        W, k = net.weights[l - 1], net.kappa[l - 1]
        u = vs[l - 1] @ W.T if (l - 1 >= 1) else None
        vl = vs[l] if l <= Lf else None
        if vl is None and u is None:
            continue
        r = (vl if vl is not None else 0.0) - (fps[l - 1] * u if u is not None else 0.0)
        if l <= Lf:
            outs[l] += k * r
        if l - 1 >= 1:
            outs[l - 1] += (-k * fps[l - 1] * r - k * ds[l - 1] * f2s[l - 1] * u) @ W
    if stiffness is not None and not hard:
        outs[L] += stiffness * vs[L]
    return out


def _dense_hessians(net, terms, sizes_free, stiffness, hard):
    """The x-Hessians (R, n, n) assembled block by block (a few array operations per layer)."""
    fps, f2s, ds = terms
    R = fps[0].shape[0]
    L = net.depth
    Lf = L - 1 if hard else L
    off = np.concatenate([[0], np.cumsum(sizes_free)]).astype(int)
    n = int(off[-1])
    Hs = np.zeros((R, n, n))
    for l in range(1, L + 1):
        W, k = net.weights[l - 1], net.kappa[l - 1]
        if l <= Lf:
            i = np.arange(off[l - 1], off[l])
            Hs[:, i, i] += k
        if l - 1 >= 1:
            a, b = off[l - 2], off[l - 1]
            dd = k * (fps[l - 1] ** 2 - ds[l - 1] * f2s[l - 1])             # (R, n_l)
            Hs[:, a:b, a:b] += (W.T[None, :, :] * dd[:, None, :]) @ W
            if l <= Lf:
                C = -(k * fps[l - 1])[:, :, None] * W[None]                   # block (l, l-1): (R, n_l, n_{l-1})
                Hs[:, off[l - 1]:off[l], a:b] = C
                Hs[:, a:b, off[l - 1]:off[l]] = C.transpose(0, 2, 1)
    if stiffness is not None and not hard:
        i = np.arange(off[L - 1], off[L])
        Hs[:, i, i] += stiffness
    return Hs


def replica_lambda(net, xs, stiffness: float | None = None, hard: bool = False, seed: int = 0):
    """lambda_max of the x-Hessian per row of ``xs``: exact (dense) for <= 64 free neurons, batched Lanczos above.

    Returns
    -------
    lam : array (R,)
        Largest eigenvalue per row (Lanczos: the top Ritz value, a lower bound that is exact once converged).
    converged : array (R,) of bool
        False where Lanczos' residual stayed above ``LANCZOS_RTOL`` x lambda (use a bound there).

    Examples
    --------
    >>> import numpy as np
    >>> from analogsim import Network
    >>> net = Network.create([2, 3, 1], activations="identity", kappa=1.0, seed=0)
    >>> lam, ok = replica_lambda(net, net.forward(np.zeros((2, 2))))
    >>> bool(lam[0] > 1.0 and ok.all())
    True
    """
    net64 = net if net.dtype == np.float64 else net.astype(np.float64)
    xs = [np.asarray(x, dtype=np.float64) for x in xs]
    L = net64.depth
    Lf = L - 1 if hard else L
    sizes_free = [net64.sizes[l] for l in range(1, Lf + 1)]
    n = int(sum(sizes_free))
    R = xs[0].shape[0]
    if n == 0 or R == 0:
        return np.zeros(R), np.ones(R, dtype=bool)
    terms = _terms(net64, xs)
    if n <= DENSE_MAX:
        out = np.empty(R)
        step = max(1, (1 << 22) // (n * n))
        for a in range(0, R, step):
            sub = tuple([t[a:a + step] for t in tt] for tt in terms)
            out[a:a + step] = np.linalg.eigvalsh(_dense_hessians(net64, sub, sizes_free, stiffness, hard))[:, -1]
        return out, np.ones(R, dtype=bool)
    return _lanczos(net64, terms, sizes_free, stiffness, hard, n, R, seed)


def _lanczos(net, terms, sizes_free, stiffness, hard, n, R, seed):
    m = min(n, LANCZOS_ITERS)
    q = np.random.default_rng(seed).standard_normal((R, n))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    q_prev = np.zeros_like(q)
    alpha = np.zeros((R, m))
    beta = np.zeros((R, m))
    b_prev = np.zeros(R)
    k_used = m
    for j in range(m):
        if j >= 12 and j % 6 == 0 and _ritz(alpha, beta, j)[1].all():
            k_used = j
            break
        w = _hvp_batch(net, terms, q, sizes_free, stiffness, hard)
        a = np.einsum("ij,ij->i", w, q)
        w -= a[:, None] * q + b_prev[:, None] * q_prev
        alpha[:, j] = a
        b = np.linalg.norm(w, axis=1)
        beta[:, j] = b
        if np.all(b <= 1e-12 * (np.abs(a) + 1.0)):  # invariant subspace: exact
            k_used = j + 1
            break
        q_prev, q = q, w / np.where(b > 0, b, 1.0)[:, None]
        b_prev = b
    return _ritz(alpha, beta, k_used)


def _ritz(alpha, beta, k):
    """Top Ritz value of the first k Lanczos steps per row and whether its residual is below LANCZOS_RTOL."""
    R = alpha.shape[0]
    Tm = np.zeros((R, k, k))
    idx = np.arange(k)
    Tm[:, idx, idx] = alpha[:, :k]
    if k > 1:
        Tm[:, idx[:-1], idx[1:]] = beta[:, :k - 1]
        Tm[:, idx[1:], idx[:-1]] = beta[:, :k - 1]
    ev, evec = np.linalg.eigh(Tm)
    lam = ev[:, -1]
    resid = np.abs(beta[:, k - 1] * evec[:, -1, -1])
    return lam, resid <= LANCZOS_RTOL * np.maximum(np.abs(lam), 1e-300)


# ----------------------------------------------------------------------------- the guard
@dataclass
class GuardReport:
    """What the stability guard found.

    Attributes
    ----------
    lambda_max : float
        Largest x-Hessian eigenvalue over every clamp point when ``exact``; otherwise a rigorous upper bound on it
        (no point's bound reached the step's thresholds, so no eigenvalue was needed, or a Lanczos row did not
        converge: ``notes`` says which).
    replica, step : int
        The worst point's first replica index and protocol step (-1: lambda given, not per point).
    n_points, n_evaluated : int
        Distinct clamp points, and how many needed an eigenvalue (the others were dominated by their bound).
    bound_max : float
        Largest per-point bound.
    exact : bool
    per_point : dict
        ``bound`` (M,), ``lam`` (M,) eigenvalue (NaN: not needed), ``replica`` (M,), ``step`` (M,).

    Examples
    --------
    >>> from analogsim import Network
    >>> from analogsim.inference.simulate import relax
    >>> net = Network.create([2, 4, 1], kappa=1.0, seed=0)
    >>> r = relax(net, [0.1, -0.2], kT=0.05, dt=0.02, n_steps=10, n_replicas=8, integrator="mala", seed=1)
    >>> isinstance(r.guard, GuardReport), r.guard.lambda_max > 0
    (True, True)
    """

    lambda_max: float
    replica: int
    step: int
    n_points: int
    n_evaluated: int
    bound_max: float
    exact: bool = True
    notes: list = field(default_factory=list)
    per_point: dict = field(default_factory=dict)
    _data: dict = field(default_factory=dict, repr=False)

    def where(self) -> str:
        """'replica r [at protocol step k]' (or what the lambda is when no point was evaluated)."""
        if self.replica < 0:
            return "every replica (lambda given or bounded, not per point)"
        return f"replica {self.replica}" + (f" at protocol step {self.step}" if self.step else "")

    def resolve(self, threshold: float = 0.0) -> "GuardReport":
        """Compute eigenvalues until the largest one is known wherever it could exceed ``threshold``.

        Points are taken largest bound first (a first round of :data:`FIRST_ROUND`, then every point whose
        bound still exceeds both the threshold and the best eigenvalue so far). Afterwards ``lambda_max`` is
        exact if it is above the threshold, else a rigorous bound that is at most max(threshold, exact max).
        """
        d = self._data
        if not d or threshold >= d.get("resolved_at", np.inf) and "resolved_at" in d:
            return self
        d["resolved_at"] = min(threshold, d.get("resolved_at", np.inf))
        Bd, lam, done = self.per_point["bound"], self.per_point["lam"], d["done"]
        best = float(np.max(lam[done])) if np.any(done) else 0.0
        first = True
        while True:
            cand = np.where(~done & (Bd > max(best, threshold)))[0]
            if cand.size == 0:
                break
            if first and cand.size > FIRST_ROUND and d["n_free"] > DENSE_MAX:  # dense: all at once is cheaper
                cand = cand[np.argsort(-Bd[cand], kind="stable")[:FIRST_ROUND]]
            first = False
            lr, ok = replica_lambda(d["net"], [x[cand] for x in d["xs"]], d["stiffness"], d["hard"])
            if not np.all(ok):
                bad = cand[~ok]
                d["unconverged"] = True
                self.notes.append(f"Lanczos did not converge for {bad.size} clamp point(s) (e.g. replica "
                                  f"{int(self.per_point['replica'][bad[0]])}); their rigorous bound is used instead")
                lr = np.where(ok, lr, Bd[cand])
            lam[cand] = lr
            done[cand] = True
            best = max(best, float(np.max(lr)))
        rest = Bd[~done]
        top_rest = float(rest.max()) if rest.size else -np.inf
        if np.any(done) and best >= top_rest:
            w = int(np.nanargmax(np.where(done, lam, -np.inf)))
            self.lambda_max, self.exact = float(lam[w]), not d.get("unconverged", False)
        elif self.n_points:
            w = int(np.argmax(np.where(done, -np.inf, Bd)))
            self.lambda_max, self.exact = float(Bd[w]), False
        else:
            return self
        self.replica = int(self.per_point["replica"][w])
        self.step = int(self.per_point["step"][w])
        self.n_evaluated = int(done.sum())
        return self


def guard(net, X, T=None, *, stiffness=None, hard=False, replica=None, step=None, threshold=0.0) -> GuardReport:
    """lambda_max over every clamp point (rows of X, T): bound everywhere, eigenvalues where the bound could win.

    ``threshold``: eigenvalues are computed only where a point's bound exceeds it (and the best so far); 0 gives
    the exact maximum. :func:`check_guard` raises the threshold to what the step needs to know (the EM-bias
    level for EM, 2/(Gamma dt) for MALA), so a small enough dt is certified by the bound alone.

    Examples
    --------
    >>> import numpy as np
    >>> from analogsim import Network
    >>> net = Network.create([3, 8, 8, 2], activations="tanh", seed=0)
    >>> rep = guard(net, np.random.default_rng(0).normal(size=(100, 3)))
    >>> rep.n_points, rep.exact, bool(rep.lambda_max <= rep.bound_max)
    (100, True, True)
    """
    net64 = net if net.dtype == np.float64 else net.astype(np.float64)
    X = np.asarray(X, dtype=np.float64)
    M = X.shape[0]
    replica = np.arange(M) if replica is None else np.asarray(replica)
    step = np.zeros(M, dtype=np.int64) if step is None else np.asarray(step)
    xs = reference_states(net64, X, T, hard)
    Bd = replica_bound(net64, xs, stiffness, hard)
    rep = GuardReport(lambda_max=0.0, replica=0, step=0, n_points=M, n_evaluated=0,
                      bound_max=float(Bd.max()) if M else 0.0, exact=False,
                      per_point={"bound": Bd, "lam": np.full(M, np.nan), "replica": replica, "step": step},
                      _data={"net": net64, "xs": xs, "stiffness": stiffness, "hard": hard,
                             "done": np.zeros(M, dtype=bool),
                             "n_free": int(sum(net64.sizes[1:net64.depth if hard else net64.depth + 1]))})
    return rep.resolve(threshold)


# ----------------------------------------------------------------------------- the checks
def check_guard(dt: float, gamma: float, report: GuardReport, integrator_code: int, stacklevel: int = 3) -> float:
    """ValueError when Gamma dt lambda >= 2 at the worst clamp point (naming it and a safe dt); EM-bias warning.

    Returns Gamma dt lambda_max.

    Examples
    --------
    >>> rep = GuardReport(lambda_max=10.0, replica=3, step=0, n_points=4, n_evaluated=1, bound_max=12.0)
    >>> check_guard(0.001, 1.0, rep, 1)
    0.01
    """
    need = (EM_BIAS_WARN_DTL if integrator_code == 0 else 2.0) / (gamma * dt)
    lam = report.resolve(need).lambda_max
    x = gamma * dt * lam
    where = report.where()
    if lam > 0 and x >= 2.0 * (1 - 1e-9):  # marginal at 2; lambda itself is known to ~1e-12
        safe = 1.0 / (gamma * lam)
        raise ValueError(
            f"dt = {dt:g} is unstable: at {where} (the worst of {report.n_points} distinct clamp points) "
            f"Gamma dt lambda_max = {x:.4g} >= 2 with lambda_max = {lam:.6g} (Gamma = {gamma:g}); explicit steps "
            f"need dt < 2/(Gamma lambda_max) = {2 / (gamma * lam):.4g}. Safe: dt <= {safe:.4g} with MALA(), or "
            f"dt <= {EM_BIAS_WARN_DTL * safe:.4g} for Euler-Maruyama within {100 * EM_BIAS_TOLERANCE:g} % "
            f"(lambda_max: {'exact' if report.exact else 'a rigorous upper bound'})")
    for note in report.notes:
        warnings.warn(f"stability guard: {note}", RuntimeWarning, stacklevel=stacklevel)
    if integrator_code == 0 and x > EM_BIAS_WARN_DTL:
        bias = em_bias_predicted(x)
        warnings.warn(
            f"Euler-Maruyama with Gamma dt lambda_max = {x:.3g} (at {where}): its stationary law is biased by about "
            f"{100 * bias:.2g} % in the worst layer (measured {EM_BIAS_WORST_LAYER:g} +- {EM_BIAS_WORST_LAYER_SE:g} "
            f"x dt lambda_max), more than {100 * EM_BIAS_TOLERANCE:g} %. Use integrator=MALA() for exact sampling, "
            f"or dt <= {EM_BIAS_WARN_DTL / (gamma * lam):.3g}", RuntimeWarning, stacklevel=stacklevel)
    return x


def report_from_lambda(lam: float, note: str = "") -> GuardReport:
    """A :class:`GuardReport` for a lambda given by the caller (or the global bound).

    Examples
    --------
    >>> rep = report_from_lambda(12.5, "given by the caller")
    >>> rep.lambda_max, rep.replica, rep.notes
    (12.5, -1, ['given by the caller'])
    """
    return GuardReport(lambda_max=float(lam), replica=-1, step=0, n_points=1, n_evaluated=0, bound_max=float(lam),
                       notes=[note] if note else [])


# the guard's cache per (network parameters, clamp set) lives in analogsim.inference.guard_cache
