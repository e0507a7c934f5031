r"""Equilibrium on a graph network: the exact clamped-input sampler, the clamped minimum, stress vs backprop.

With the input clamped the map x -> delta is still unit lower-triangular in topological order (every coupling
runs from an earlier layer to a later one), so :math:`e^{-H/kT}dx = \prod_i N(\delta_i; 0, kT/\kappa_i)\,d\delta`
exactly, for any operators and activations: draw the residuals and propagate forward. The free energy
:math:`F = (kT/2)\sum_i \ln(\kappa_i/2\pi kT)` is that of the dense chain (:func:`analogsim.model.equilibrium.free_energy`
accepts a graph network).

With the output clamped too, :func:`clamped_minimum` minimises H over the hidden layers by Newton's method with
the exact x-Hessian (conjugate gradients on :func:`~analogsim.model.graph.energy.hvp_x`) and the dense chain's line
search (H lowered, or the gradient norm lowered with H level to rounding), to solver precision; there the
stress obeys Eq. 10 on the graph, :math:`\sigma_m = f'(y_m)\odot\sum_{l>m} A_{l,m}^T\sigma_l`, and dH/dtheta
approaches the backprop gradient of (kappa_out/2)|f(x_0) - t|^2 linearly in r = kappa_out/kappa_hidden
(:func:`stress_vs_backprop`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..._checks import as_generator, check_array, check_kT, check_scalar
from .._newton import _accept, _rounding_slack
from ..clamped import _stress_ratio_sweep
from ..equilibrium import EquilibriumSample, equipartition, free_energy
from ..hamiltonian import OutputClamp
from . import energy as E

__all__ = ["sample_equilibrium", "free_energy", "equipartition", "EquilibriumSample", "ClampedMinimum",
           "clamped_minimum", "backprop_gradient", "stress_vs_backprop", "recursion_residual"]


def sample_equilibrium(net, x0, kT: float, n_replicas: int | None = None, seed=None) -> EquilibriumSample:
    r"""Exact samples of a graph network's neurons at temperature kT with the input clamped.

    Draws delta_i ~ N(0, kT/kappa_i) and propagates in topological order, x_l = f_l(y_l) + delta_l.

    Parameters
    ----------
    net : GraphNetwork
    x0 : array
        Clamped input, (n_0,), (B, n_0), the input shape or (B,) + input shape; one sample per row.
    kT : float
        Temperature (energy units, >= 0).
    n_replicas : int, optional
        With a single input row, the number of independent replicas.
    seed : int, SeedSequence or Generator, optional
        Seeds numpy's generator (:func:`analogsim._checks.as_generator`); the residuals are drawn layer by layer
        in topological order, so a seed gives the same samples on every machine.

    Examples
    --------
    >>> from analogsim.graph import GraphBuilder
    >>> b = GraphBuilder((1, 4, 4)); h = b.conv(b.input, 2, 3, padding=1, activation="tanh")
    >>> _ = b.add([h, b.conv(h, 2, 3, padding=1, activation="tanh")])
    >>> net = b.build(kappa=2.0, seed=0)
    >>> s = sample_equilibrium(net, [0.1] * 16, kT=0.5, n_replicas=4000, seed=1)
    >>> ratio, se = s.equipartition(net.kappa)
    >>> bool(all(abs(ratio - 1) < 4 * se))
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
    for l in range(1, net.n_layers):
        y = net.preactivation(l, xs)
        d = (rng.standard_normal(y.shape) * np.sqrt(kT / net.kappa[l - 1])).astype(net.dtype)
        xs.append(net.activations[l - 1].f(y) + d)
        deltas.append(d)
        if not np.isfinite(xs[-1]).all():
            from ...errors import DivergenceError

            raise DivergenceError(f"sample_equilibrium: layer {net.names[l]!r} overflowed in {net.dtype.name}",
                                  step=0, cause="scale the input or the weights down")
    return EquilibriumSample(xs, deltas, kT)


# ----------------------------------------------------------------------------- clamped minimum
@dataclass
class ClampedMinimum:
    """The minimum of H over the hidden layers with input and output clamped.

    Attributes
    ----------
    xs : list of arrays
        The state at the minimum.
    stress : list of arrays
        sigma_l = -kappa_l delta_l f'(y_l) for l = 1..L (Eq. 8), each (B, n_l).
    grad_theta : array (B, N)
        dH/dtheta per sample (Eq. 9).
    energy : array (B,)
    grad_norm : float
        Largest |dH/dx_hidden| / scale over the batch (scale: the largest |kappa_l delta_l| of the sample).
    recursion_residual : float
        max over layers of ||sigma_m - f'(y_m) sum_l A_{l,m}^T sigma_l|| / ||sigma_m|| (Eq. 10 on the graph).
    n_iter : int
    converged : bool
    history : list of float
        grad_norm after each Newton step.

    Examples
    --------
    >>> from analogsim.graph import GraphBuilder
    >>> b = GraphBuilder((1, 4, 4)); h = b.conv(b.input, 2, 3, padding=1, activation="tanh")
    >>> _ = b.dense(h, 2)
    >>> net = b.build(seed=0)
    >>> m = clamped_minimum(net, [0.1] * 16, [0.2, -0.1])
    >>> m.grad_theta.shape[1] == net.n_params, len(m.history) == m.n_iter
    (True, True)
    """

    xs: list
    stress: list
    grad_theta: np.ndarray
    energy: np.ndarray
    grad_norm: float
    recursion_residual: float
    n_iter: int
    converged: bool
    history: list = field(default_factory=list)


def _free_layers(net, clamp):
    return list(range(1, net.n_layers - (1 if clamp.hard else 0)))


def _with_clamp(net, xs, clamp):
    if clamp.hard:
        xs = list(xs)
        xs[-1] = clamp.target
    return xs


def _norms(net, g, free):
    return np.sqrt(sum(np.sum(g[l] * g[l], axis=1) for l in free))


def _scale(net, xs, clamp):
    deltas = E.residuals(net, xs)
    s = np.zeros(xs[0].shape[0])
    for k, d in zip(net.kappa, deltas):
        s = np.maximum(s, np.max(np.abs(k * d), axis=1))
    if not clamp.hard:
        s = np.maximum(s, np.max(np.abs(clamp.stiffness * (xs[-1] - clamp.target)), axis=1))
    return np.maximum(s, np.finfo(float).tiny)


def _floor(net, xs, free, scale):
    """Rounding floor of the relative gradient norm in x coordinates: kappa (x - f(y)) loses eps |kappa x|."""
    eps = np.finfo(net.dtype).eps
    big = np.zeros(xs[0].shape[0])
    for l in free:
        big = np.maximum(big, np.max(np.abs(xs[l]) * net.kappa[l - 1], axis=1))
    n = sum(net.sizes[l] for l in free)
    return 8.0 * eps * np.sqrt(n) * np.maximum(big, 1e-300) / scale


def _slack(net, xs, clamp):
    """How far H may rise on a step accepted for lowering the gradient norm (the dense chain's rounding allowance,
    :func:`analogsim.model._newton._rounding_slack`): sqrt(eps) sum_l kappa_l |delta_l| (|delta_l| + |x_l|), per sample."""
    deltas = E.residuals(net, xs)
    spring = None if clamp.hard else (clamp.stiffness, xs[-1] - clamp.target, clamp.target)
    return _rounding_slack(net.kappa, deltas, xs[1:], net.dtype, spring)


def _cg(net, xs, g, clamp, free, max_iter):
    """Batched conjugate gradients for H p = -g on the free layers; negative curvature stops a row."""
    B = xs[0].shape[0]
    zero = [np.zeros_like(x) for x in xs]
    p = [z.copy() for z in zero]
    r = [z.copy() for z in zero]
    for l in free:
        r[l] = -g[l]
    d = [a.copy() for a in r]
    rr = sum(np.sum(r[l] * r[l], axis=1) for l in free)
    rr0 = rr.copy()
    active = np.ones(B, dtype=bool)
    for _ in range(max_iter):
        hd = E.hvp_x(net, xs, d, clamp)
        dhd = sum(np.sum(d[l] * hd[l], axis=1) for l in free)
        neg = active & (dhd <= 0)
        active &= ~neg
        alpha = np.where(active, rr / np.where(dhd > 0, dhd, 1.0), 0.0)
        for l in free:
            p[l] += alpha[:, None] * d[l]
            r[l] -= alpha[:, None] * hd[l]
        rr_new = sum(np.sum(r[l] * r[l], axis=1) for l in free)
        active &= rr_new > (1e-32 * rr0)
        if not active.any():
            break
        beta = np.where(active, rr_new / np.where(rr > 0, rr, 1.0), 0.0)
        for l in free:
            d[l] = r[l] + beta[:, None] * d[l]
        rr = rr_new
    # a row that met negative curvature before any progress falls back to steepest descent
    pn = _norms(net, p, free)
    for l in free:
        p[l] = np.where((pn == 0)[:, None], -g[l], p[l])
    return p


def clamped_minimum(net, x0, target, output_stiffness: float | None = None, *, tol: float = 1e-13,
                    max_iter: int = 100, cg_max_iter: int | None = None) -> ClampedMinimum:
    """Minimise H over the hidden layers with the input clamped to ``x0`` and the output to ``target``.

    Parameters
    ----------
    net : GraphNetwork
    x0, target : arrays
        One row per sample (a single target row is broadcast).
    output_stiffness : float or None
        None: hard clamp (x_L = target); a number k: soft clamp adding k/2 |x_L - t|^2 (x_L free).
    tol : float
        Stop when |dH/dx_hidden| <= tol * (largest |kappa delta| of the sample) for every sample, or at the
        rounding floor of x coordinates, 8 eps sqrt(n_free) max|kappa x| / (largest |kappa delta|), whichever is
        larger (at r = kappa_out/kappa_hidden ~ 1e-5 that floor is ~1e-10).
    max_iter : int
        Newton steps at most (a sample also stops after 10 steps without progress, or when no step is acceptable).
    cg_max_iter : int, optional
        Conjugate-gradient iterations per Newton step (default: number of free neurons, at most 500).

    Returns
    -------
    ClampedMinimum
        ``converged`` is False (and the reached ``grad_norm`` reported) if ``tol`` was not met; relu kinks can
        stop Newton short (see the dense chain's notes), the smooth activations do not.

    Notes
    -----
    The line search is the dense chain's (:func:`analogsim.model.clamped.clamped_minimum`): per sample, a step is
    accepted if it lowers H, or if it lowers the gradient norm while H rises by no more than a rounding allowance,
    sqrt(eps) sum_l kappa_l |delta_l| (|delta_l| + |x_l|). The gradient-norm test lets Newton finish where changes
    of H fall below rounding; without the bound on H it accepted steps far uphill where H is not convex (r = 1,
    large weights) and cycled, e.g. between H = 1.1 and 13.0 for all its steps.

    Examples
    --------
    >>> from analogsim.graph import GraphBuilder
    >>> b = GraphBuilder((1, 4, 4)); h = b.conv(b.input, 2, 3, padding=1, activation="tanh")
    >>> _ = b.dense(h, 2)
    >>> net = b.build(seed=0)
    >>> m = clamped_minimum(net, [0.1] * 16, [0.2, -0.1])
    >>> m.converged, m.grad_norm < 1e-13
    (True, True)
    """
    x = net.check_input(x0)
    B = x.shape[0]
    t = net.check_output(target, batch=B)
    clamp = OutputClamp(t, output_stiffness)
    tol = check_scalar(tol, "tol", low=0.0, low_open=True)
    max_iter = check_scalar(max_iter, "max_iter", low=1, integer=True)
    free = _free_layers(net, clamp)
    n_free = sum(net.sizes[l] for l in free)
    cg_it = min(max(n_free, 1), 500) if cg_max_iter is None else check_scalar(cg_max_iter, "cg_max_iter", low=1,
                                                                              integer=True)
    xs = _with_clamp(net, net.forward(x), clamp)
    history = []
    it = 0
    if not free:
        gn = lim = np.zeros(B)
    else:
        g = E.grad_x(net, xs, clamp)
        sc = _scale(net, xs, clamp)
        gn = _norms(net, g, free) / sc
        lim = np.maximum(tol, _floor(net, xs, free, sc))
        stuck = np.zeros(B, dtype=bool)  # rows that stopped short of lim: no acceptable step, or no progress
        best, stall = gn.copy(), np.zeros(B, dtype=np.int64)
        eps = np.finfo(net.dtype).eps
        for it in range(1, max_iter + 1):
            if np.all((gn <= lim) | stuck):
                it -= 1
                break
            p = _cg(net, xs, g, clamp, free, cg_it)
            step = np.ones(B)
            todo = (gn > lim) & ~stuck
            H0 = E.energy(net, xs, clamp)
            slack = _slack(net, xs, clamp)
            accepted = ~todo
            new = [a.copy() for a in xs]
            for _ in range(40):
                trial = [a + step[:, None] * p[l] if l in free else a for l, a in enumerate(xs)]
                gn_t = _norms(net, E.grad_x(net, trial, clamp), free) / _scale(net, trial, clamp)
                H_t = E.energy(net, trial, clamp)
                ok = ~accepted & _accept(H0, H_t, slack, gn, gn_t, todo)
                for l in free:
                    new[l][ok] = trial[l][ok]
                accepted |= ok
                if accepted.all():
                    break
                step = np.where(accepted, step, 0.5 * step)
            stuck |= ~accepted  # no acceptable step: the same state would give the same search again
            if not (accepted & todo).any():
                it -= 1
                break
            xs = new
            g = E.grad_x(net, xs, clamp)
            sc = _scale(net, xs, clamp)
            gn = _norms(net, g, free) / sc
            lim = np.maximum(tol, _floor(net, xs, free, sc))
            history.append(float(gn.max()))
            # at the rounding floor level steps are accepted without end: a row with neither its residual halved
            # nor H lowered beyond rounding for 10 steps stops (the dense chain stops after 3; in x coordinates
            # the residual near the floor is noisier: with 3, softplus nets stopped at 1e-12 that reach 1e-13)
            H1 = E.energy(net, xs, clamp)
            progress = (gn < 0.5 * best) | (H1 < H0 - 64 * eps * np.abs(H0))
            best = np.minimum(best, gn)
            stall = np.where(todo & ~progress, stall + 1, 0)
            stuck |= stall >= 10
    ys, deltas, fps = E.layer_terms(net, xs)
    sig = [-k * d * fp for k, d, fp in zip(net.kappa, deltas, fps)]
    return ClampedMinimum(xs, sig, E.params_from_stress(net, xs, sig), E.energy(net, xs, clamp),
                          float(np.max(gn)), recursion_residual(net, xs, sig, fps), it,
                          bool(np.all(gn <= lim)) if free else True, history)


def recursion_residual(net, xs, sig, fps=None) -> float:
    """max over hidden layers of ||sigma_m - f'(y_m) sum_l A_{l,m}^T sigma_l|| / ||sigma_m|| (Eq. 10).

    Examples
    --------
    >>> from analogsim.graph import GraphBuilder
    >>> b = GraphBuilder((1, 4, 4)); h = b.conv(b.input, 2, 3, padding=1, activation="tanh")
    >>> _ = b.dense(h, 2)
    >>> net = b.build(seed=0)
    >>> m = clamped_minimum(net, [0.1] * 16, [0.2, -0.1])
    >>> recursion_residual(net, m.xs, m.stress) < 1e-10
    True
    """
    if fps is None:
        fps = E.layer_terms(net, xs)[2]
    back = E._backward(net, sig, first=1)
    worst = 0.0
    for m in range(1, net.n_layers - 1):
        if back[m] is None:
            continue
        rhs = fps[m - 1] * back[m]
        den = float(np.linalg.norm(sig[m - 1]))
        if den > 0:
            worst = max(worst, float(np.linalg.norm(sig[m - 1] - rhs)) / den)
    return worst


def backprop_gradient(net, x0, target, kappa_out: float | None = None) -> np.ndarray:
    """Per-sample backprop gradient (B, N) of (kappa_out/2)|f(x_0) - t|^2 through the graph (reverse topological
    order), in the layout of ``theta``. ``kappa_out`` defaults to the output layer's first stiffness.

    Examples
    --------
    >>> from analogsim.graph import GraphBuilder
    >>> b = GraphBuilder((1, 4, 4)); h = b.conv(b.input, 2, 3, padding=1, activation="tanh")
    >>> _ = b.dense(h, 2)
    >>> net = b.build(seed=0)
    >>> backprop_gradient(net, [0.1] * 16, [0.2, -0.1]).shape == (1, net.n_params)
    True
    """
    xs = net.forward(x0)
    B = xs[0].shape[0]
    t = net.check_output(target, batch=B)
    k = float(net.kappa[-1][0]) if kappa_out is None else check_scalar(kappa_out, "kappa_out", low=0.0,
                                                                           low_open=True)
    _, _, fps = E.layer_terms(net, xs)
    L = net.n_layers - 1
    sig = [None] * L
    sig[-1] = k * (xs[-1] - t) * fps[-1]
    for m in range(L - 1, 0, -1):
        acc = np.zeros_like(xs[m])
        for e in net.edges_out[m]:
            acc += net.edges[e].op.adjoint(sig[net.dst[e] - 1])
        sig[m - 1] = fps[m - 1] * acc
    return E.params_from_stress(net, xs, sig)


def stress_vs_backprop(net, x0, target, ratios=(1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0), *, kappa_hidden: float = 1.0,
                       fit_range=(1e-5, 1e-3)) -> dict:
    r"""dH/dtheta at the clamped minimum against backprop of the MSE loss, over r = kappa_out/kappa_hidden.

    For each r the hidden layers get ``kappa_hidden``, the output layer r * kappa_hidden, the output is
    hard-clamped, and the batch-summed stress gradient (Eq. 9 at the minimum) is compared with the backprop
    gradient of (kappa_out/2)|f(x_0) - t|^2. The relative error vanishes linearly in r: "stress = backprop" is a
    limit statement. Returns a dict with ``ratios``, ``rel_error``, ``slope`` and ``constant`` (log-log fit over
    ``fit_range``), ``recursion_residual`` and ``grad_norm`` (max over r), ``converged`` (all r).

    Examples
    --------
    >>> from analogsim.graph import GraphBuilder
    >>> b = GraphBuilder((1, 4, 4)); h = b.conv(b.input, 2, 3, padding=1, activation="tanh")
    >>> _ = b.dense(h, 2)
    >>> net = b.build(seed=0)
    >>> rep = stress_vs_backprop(net, [0.1] * 16, [0.2, -0.1], ratios=[1e-5, 1e-4, 1e-3, 1.0])
    >>> abs(rep["slope"] - 1) < 0.05, rep["converged"]
    (True, True)
    """
    return _stress_ratio_sweep(net, x0, target, ratios, kappa_hidden, fit_range, clamped_minimum, backprop_gradient)
