r"""Physical training of a graph network, separated time scales, with Sekimoto's books (Eq. 11-16).

Per presentation s (a minibatch of B entries, its energies the mean over rows):

1. **switch**: the clamps move to the new entries (input x_0 and output x_L = target, a hard clamp on an output
   layer of stiffness kappa_out) at fixed neuron and parameter state: switching work ``W_sw = H(new) - H(old)``;
2. **neurons relax** to the clamped minimum (zero-temperature neurons, the separated limit): neuron heat
   released ``Q_x`` = the drop of H;
3. **parameters anneal**: ``theta <- theta - mu tau_inf (g + lambda theta) + sqrt(2 kT mu tau_inf) xi`` with
   g = dH/dtheta at the minimum (the stress gradient, Eq. 9; a convolution's gradient sums over positions) and
   weight decay lambda; parameter heat released ``Q_theta = E(theta) - E(theta')`` at fixed neurons, E = H +
   lambda/2 |theta|^2.

The first law ``Delta E = W_sw - Q_x - Q_theta`` then holds per presentation up to rounding (exact energy
differences are booked; the residual is reported). Eq. 15's prediction ``W = sum mu tau_inf |g|^2`` and Eq. 16's
bound ``2 N S kT rho`` (N: trainable parameters only, S: presentations, rho = <|g|^2>/var g) are booked beside
them as predictions, never in their place.

With ``fidelity='joint'`` the neurons (mobility Gamma, at kT, output hard-clamped) and the parameters follow
Euler-Maruyama Langevin dynamics together for tau_inf per presentation, the neuron state carrying over from entry
to entry; every neuron move books neuron heat and every parameter move parameter heat, as exact energy
differences, so the same first law closes.

The clamped minimum is found by a fixed-point iteration in residual coordinates (x_l = f(y_l) + delta_l;
delta_m = -(1/kappa_m) sum_l A_{l,m}^T sigma_l, Gauss-Seidel in reverse topological order; a contraction for small
kappa_out/kappa_hidden), to a relative
gradient norm ``tol``; rows that do not converge fall back to Newton (:func:`~analogsim.model.graph.equilibrium.
clamped_minimum`) and are counted in ``fallbacks``.

In the separated fidelity the loop runs on a :class:`~analogsim.model.graph.energy.ColumnPlan` (states (n, B), a
convolution a numba gather over its index table and one BLAS product): the input's contributions and the
activations of layers fed only by the input are computed once per presentation and kept through the sweeps;
the acceptance test of the minimum reuses its last forward pass, and is tried before a sweep's update where the
update is predicted to fall below max(tol, rounding floor); the stresses of the test give the parameter
gradient; the energy after the parameter step and the switch to the next entries share the hidden layers'
passes (same hidden state, same theta). Every energy booked is still H of the state booked, computed from its
residuals x - f(y).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._checks import as_generator, check_kT, check_scalar
from ..errors import DivergenceError
from ..model.hamiltonian import OutputClamp
from ..model.graph import energy as E
from .graph_joint import check_joint_dt, joint_presentation

__all__ = ["train", "GraphTrainResult", "fixed_point_minimum", "accuracy"]


@dataclass
class GraphTrainResult:
    """Outcome of :func:`train`: the trained network, the loss curves and the energy books (energy units).

    Attributes
    ----------
    net : GraphNetwork
    records : dict of lists
        Per record: 'presentation', 'train_loss', 'test_loss', 'test_accuracy' (if the targets are one-hot).
    W_sw, Q_x, Q_theta : float
        Measured switching work and heats released (summed over presentations).
    delta_E : float
        E at the end minus E at the start (E = H at the clamped state + lambda/2 |theta|^2).
    first_law_residual_max : float
        Largest |Delta E - (W_sw - Q_x - Q_theta)| of a presentation.
    W_eq15, mean_gsq, var_g, rho, bound : float
        Eq. 15's W = sum mu tau |g|^2, <|g|^2>, var g along the trajectory (summed over parameters),
        rho = mean_gsq / var_g, and Eq. 16's 2 N S kT rho.
    n_params, presentations : int
    kT : float
    fallbacks : int
        Rows whose clamped minimum needed Newton.
    sweeps_mean : float
        Fixed-point sweeps per presentation (mean).
    max_grad_norm : float
        Largest relative gradient norm reached at a clamped minimum.

    Examples
    --------
    >>> import numpy as np
    >>> from analogsim.graph import GraphBuilder
    >>> b = GraphBuilder((1, 4, 4)); _ = b.dense(b.conv(b.input, 2, 3, activation="tanh"), 2)
    >>> net = b.build(seed=0)
    >>> x = np.random.default_rng(0).standard_normal((32, 16)); t = np.tanh(x[:, :2])
    >>> res = train(net, x, t, presentations=20, mu=10.0, kT=1e-9, kappa_out=1e-2, seed=1)
    >>> res.presentations, res.n_params
    (20, 38)
    """

    net: object
    records: dict
    W_sw: float
    Q_x: float
    Q_theta: float
    delta_E: float
    first_law_residual_max: float
    W_eq15: float
    mean_gsq: float
    var_g: float
    rho: float
    bound: float
    n_params: int
    presentations: int
    kT: float
    fallbacks: int
    max_grad_norm: float
    sweeps_mean: float
    settings: dict = field(default_factory=dict)

    def summary(self) -> str:
        acc = self.records.get("test_accuracy") or [float("nan")]
        status = ("ok" if self.first_law_residual_max < 1e-10 * max(1.0, abs(self.W_sw) / self.presentations)
                  else "FIRST LAW OPEN")
        return (f"S={self.presentations} N={self.n_params} kT={self.kT:g}: "
                f"test loss {self.records['test_loss'][-1]:.4g}"
                f", test accuracy {acc[-1]:.4f}; W_sw={self.W_sw:.4g} Q_x={self.Q_x:.4g} Q_theta={self.Q_theta:.4g}"
                f" dE={self.delta_E:.4g} (first law residual {self.first_law_residual_max:.2g}, {status}); "
                f"Eq.15 W={self.W_eq15:.4g}, Eq.16 bound={self.bound:.4g}; fallbacks={self.fallbacks}")


def fixed_point_minimum(net, x0, target, *, tol: float = 1e-10, max_sweeps: int = 200):
    """Clamped minimum (input x0, output hard-clamped to target) by a residual fixed point.

    Each sweep propagates forward (x_l = f(y_l) + delta_l, x_L = target) and then updates the residuals in reverse
    topological order, delta_m = -(1/kappa_m) sum_l A_{l,m}^T sigma_l with the downstream stresses already
    updated (Gauss-Seidel: one backward pass carries the output's stress through the whole graph). It stops when
    the update's size |kappa_m (delta_new - delta_old)| falls below ``tol`` times the largest output stress
    |kappa_L delta_L|; the returned gradient norm is then measured on the returned state (a row counts as
    converged when it is below 10 tol or the rounding floor of x coordinates, whichever is larger). Where the
    iteration is not a contraction (large weights or kappa_out) it stops early with the rows not converged.

    Returns (xs, converged mask (B,), relative gradient norm (B,), sweeps, H per row (B,)).

    Examples
    --------
    >>> import numpy as np
    >>> from analogsim.graph import GraphBuilder
    >>> b = GraphBuilder((1, 4, 4)); _ = b.dense(b.conv(b.input, 2, 3, activation="tanh"), 2)
    >>> net = b.build(seed=0)
    >>> net = net.with_kappa([1.0, 1e-3])
    >>> xs, ok, gn, sweeps, H = fixed_point_minimum(net, np.ones((2, 16)), np.zeros((2, 2)))
    >>> bool(ok.all()), sweeps <= 10
    (True, True)
    """
    B = x0.shape[0]
    L = net.n_layers - 1
    deltas = [np.zeros((B, n), dtype=net.dtype) for n in net.sizes[1:L]]
    sweeps = 0
    prev = np.inf
    for sweeps in range(1, max_sweeps + 1):
        xs = [x0]
        fps = []
        for l in range(1, L + 1):
            y = net.preactivation(l, xs)
            fy, fp = E.f_and_df(net.activations[l - 1], y)
            fps.append(fp)
            xs.append(fy + deltas[l - 1] if l < L else target)
        dL = target - fy
        scale = np.maximum(np.max(np.abs(net.kappa[-1] * dL), axis=1), 1e-300)
        sig = [None] * L
        sig[L - 1] = -net.kappa[-1] * dL * fps[-1]
        step = np.zeros(B)
        for m in range(L - 1, 0, -1):
            acc = None
            for e in net.edges_out[m]:
                c = net.edges[e].op.adjoint(sig[net.dst[e] - 1])
                acc = c if acc is None else acc + c
            new = -acc / net.kappa[m - 1] if acc is not None else np.zeros_like(deltas[m - 1])
            step = np.maximum(step, np.sqrt(np.sum((net.kappa[m - 1] * (new - deltas[m - 1])) ** 2, axis=1)))
            deltas[m - 1] = new
            sig[m - 1] = -net.kappa[m - 1] * new * fps[m - 1]
        if np.all(step <= tol * scale):
            break
        ratio = np.max(step / scale)
        if not np.isfinite(ratio) or (sweeps > 3 and ratio > 10 * prev):
            break  # not a contraction here (large weights or kappa_out): the caller falls back to Newton
        prev = ratio
    if not all(np.all(np.isfinite(x)) for x in xs[1:]):
        return xs, np.zeros(B, dtype=bool), np.full(B, np.inf), sweeps, np.full(B, np.inf)
    H, g = E.energy_and_grad(net, xs, input_force=False)
    gn = np.sqrt(sum(np.sum(g[m] ** 2, axis=1) for m in range(1, L))) / scale if L > 1 else np.zeros(B)
    # measured in x coordinates, the gradient cannot go below their rounding floor (kappa (x - f(y)) loses
    # eps |kappa x|): at kappa_out/kappa_hidden = 1e-8 that floor is ~1e-7 relative
    from ..model.graph.equilibrium import _floor

    lim = np.maximum(10 * tol, _floor(net, xs, list(range(1, L)), scale)) if L > 1 else np.full(B, 10 * tol)
    return xs, gn <= lim, gn, sweeps, H


def accuracy(net, x, t) -> float:
    """Fraction of rows whose largest output is at the target's largest entry (one-hot targets).

    Examples
    --------
    >>> import numpy as np
    >>> from analogsim.graph import GraphBuilder
    >>> b = GraphBuilder((1, 4, 4)); _ = b.dense(b.conv(b.input, 2, 3, activation="tanh"), 2)
    >>> net = b.build(seed=0)
    >>> accuracy(net, np.ones((4, 16)), np.tile([1.0, 0.0], (4, 1))) in (0.0, 1.0)
    True
    """
    return float(np.mean(np.argmax(net.predict(x), axis=1) == np.argmax(t, axis=1)))


def _minimum(net, x0, t, tol, stats):
    xs, ok, gn, sweeps, H = fixed_point_minimum(net, x0, t, tol=tol)
    stats["sweeps"] += sweeps
    if not ok.all():
        from ..model.graph.equilibrium import clamped_minimum

        bad = np.nonzero(~ok)[0]
        m = clamped_minimum(net, x0[bad], t[bad])
        for l in range(1, net.n_layers):
            xs[l] = np.array(xs[l])
            xs[l][bad] = m.xs[l]
        stats["fallbacks"] += bad.size
        gn[bad] = m.grad_norm
        H = E.energy(net, xs)
    stats["max_gn"] = max(stats["max_gn"], float(gn.max()))
    return xs, H


def _fixed_point_cols(plan, x0, t, I, tol, max_sweeps=200, hint=None, entries=None):
    """:func:`fixed_point_minimum` on a :class:`~analogsim.model.graph.energy.ColumnPlan` (states (n_l, B), the input's
    contributions ``I`` given), with the same sweeps, the same stopping rule and the same acceptance test.

    Before a sweep's update, where the update is predicted (from the last update's size and the contraction seen;
    ``hint``: a dict carrying the contraction and the limit from call to call) to be below max(tol, rounding
    floor), the state of the sweep's forward pass is tested against that limit (``tol`` itself, not the final
    test's 10 tol) and returned at once if every row passes; a failed test costs one adjoint pass more. The test reuses
    the forward pass (only adjoints into hidden layers are redone with the state's own stresses).

    Returns (xs, converged mask, relative gradient norm, sweeps, H per row, stresses at xs)."""
    from ..kernels.graph import energy_terms, grad_norms, residual_update

    net = plan.net
    L = net.n_layers - 1
    B = x0.shape[1]
    hint = {} if hint is None else hint
    sizes = plan.sizes
    kapL = plan.kappa(L)
    deltas = [None] + [np.zeros((n, B), dtype=net.dtype) for n in sizes[1:L]]
    # layers fed by the clamped input only keep y, f(y), f'(y) through the sweeps; a stress is needed in the
    # sweeps only where a hidden layer feeds the layer
    # (``entries``: ColumnPlan.activate entries of these layers for the same I and theta, e.g. from the switch)
    fixed = [None] * (L + 1)
    for l in range(1, L + 1):
        if not plan.has_rest[l]:
            e = entries[l] if entries is not None else plan.activate(l, plan.preactivation(l, I, None))
            fixed[l] = (e[1], plan.derivative(l, e))
    sig = [None] + [np.empty((n, B), dtype=net.dtype) for n in sizes[1:L]] + [None]
    floor_c = 8.0 * np.finfo(net.dtype).eps * np.sqrt(sum(sizes[1:L]))

    def accept(xs, fys, fps, scale, adj, limit):
        H = np.zeros(B)
        so = [None] * (L + 1)
        d = [None] * (L + 1)
        for m in range(1, L + 1):
            d[m] = np.empty_like(xs[m])
            so[m] = sig[L] if m == L else np.empty_like(xs[m])
            energy_terms(xs[m], fys[m], fps[m], net.kappa[m - 1], d[m], so[m], H, m < L)
        gsq = np.zeros(B)
        big = np.zeros(B)
        for m in range(1, L):
            back = None
            for k, l, op in plan.out_edges[m]:
                if l == L:  # edges into the output: its stress is the sweep's
                    c = adj[k] = adj[k] if k in adj else op.adjoint_cols(sig[L])
                else:
                    c = op.adjoint_cols(so[l])
                back = c if back is None else back + c
            grad_norms(d[m], np.zeros_like(d[m]) if back is None else back, xs[m], net.kappa[m - 1], gsq, big)
        gn = np.sqrt(gsq) / scale
        # the rounding floor of x coordinates (equilibrium._floor): kappa (x - f(y)) loses eps |kappa x|
        lim = np.maximum(limit, floor_c * np.maximum(big, 1e-300) / scale) if L > 1 else np.full(B, limit)
        ok = (gn <= lim) & np.isfinite(H)
        return ok, gn, H, so, floor_c * np.maximum(big, 1e-300) / scale

    prev = prev2 = np.inf
    checked = None
    for sweeps in range(1, max_sweeps + 1):
        xs, fys, fps = [x0], [None], [None]
        for l in range(1, L + 1):
            fy, fp = fixed[l] or E.f_and_df(net.activations[l - 1],
                                            plan.preactivation(l, I, plan.rest(l, xs), fresh=True))
            fys.append(fy)
            fps.append(fp)
            xs.append(t if l == L else fy if sweeps == 1 else fy + deltas[l])  # the first sweep's deltas are 0
        dL = t - fys[L]
        scale = np.maximum(np.max(np.abs(kapL * dL), axis=0), 1e-300)
        sig[L] = -kapL * dL * fps[L]
        adj = {}
        checked = None
        predicted = prev * (prev / prev2 if prev2 < np.inf else hint.get("c", np.inf))
        if sweeps > 1 and predicted <= hint.get("lim", tol):
            checked = accept(xs, fys, fps, scale, adj, tol)
            if checked[0].all():
                break
        step = np.zeros(B)
        for m in range(L - 1, 0, -1):
            acc = None
            for k, l, op in plan.out_edges[m]:
                c = adj[k] if k in adj else op.adjoint_cols(sig[l])
                acc = c if acc is None else acc + c
            if acc is None:
                step = np.maximum(step, np.sqrt(np.sum((plan.kappa(m) * deltas[m]) ** 2, axis=0)))
                deltas[m][...] = 0
                sig[m][...] = 0
            else:
                residual_update(acc, net.kappa[m - 1], fps[m], deltas[m], sig[m], plan.has_rest[m], step)
        if np.all(step <= tol * scale):
            break
        ratio = np.max(step / scale)
        if not np.isfinite(ratio) or (sweeps > 3 and ratio > 10 * prev):
            break  # not a contraction here: the caller falls back to Newton
        if ratio > 0 and prev < np.inf:
            hint["c"] = ratio / prev
        prev2, prev = prev, ratio
    if checked is None:
        checked = accept(xs, fys, fps, scale, {}, 10 * tol)
    ok, gn, H, so, floor = checked
    hint["lim"] = float(np.min(np.maximum(tol, floor)))
    if not np.all(np.isfinite(H)):
        return xs, np.zeros(B, dtype=bool), np.full(B, np.inf), sweeps, np.full(B, np.inf), None
    return xs, ok, gn, sweeps, H, so


def _minimum_cols(plan, x0, t, I, tol, stats, entries=None):
    """Clamped minimum in column layout with the Newton fallback of :func:`_minimum`; returns (xs, H, stresses)."""
    net = plan.net
    xs, ok, gn, sweeps, H, sig = _fixed_point_cols(plan, x0, t, I, tol, hint=stats.setdefault("hint", {}),
                                                   entries=entries)
    stats["sweeps"] += sweeps
    if not ok.all():
        from ..model.graph.equilibrium import clamped_minimum

        bad = np.nonzero(~ok)[0]
        m = clamped_minimum(net, np.ascontiguousarray(x0[:, bad].T), np.ascontiguousarray(t[:, bad].T))
        xs = [xs[0]] + [np.array(x) for x in xs[1:-1]] + [t]
        for l in range(1, net.n_layers - 1):
            xs[l][:, bad] = m.xs[l].T
        stats["fallbacks"] += bad.size
        gn[bad] = m.grad_norm
        H, sig, _ = plan.evaluate(xs, I)
    stats["max_gn"] = max(stats["max_gn"], float(gn.max()))
    return xs, H, sig


def train(net, x_train, t_train, x_test=None, t_test=None, *, presentations: int, mu: float, tau_inf: float = 1.0,
          kT: float, kappa_out: float | None = None, batch_size: int = 1, weight_decay: float = 0.0,
          tol: float = 1e-10, seed=None, n_records: int = 10, fidelity: str = "separated",
          neuron_mobility: float = 1.0, dt: float | None = None, checkpoint=None,
          checkpoint_every: int | None = None, resume: bool = True, hook=None,
          hook_every: int = 1) -> GraphTrainResult:
    r"""Train a graph network physically: stress-driven parameter Langevin annealing at temperature kT (Eq. 11).

    Parameters
    ----------
    net : GraphNetwork
        Not modified; the result holds a trained copy.
    x_train, t_train : arrays
        Inputs (D, n_0) or (D,) + input shape, targets (D, n_L).
    x_test, t_test : arrays, optional
        Held-out entries for the loss (and, for one-hot targets, accuracy) curves.
    presentations : int
        S, the number of minibatches presented.
    mu : float
        Parameter mobility; with tau_inf the step is mu tau_inf (at kT = 0 SGD with learning rate
        mu tau_inf kappa_out on 0.5 |f - t|^2, up to O(kappa_out/kappa_hidden)).
    tau_inf : float
        Presentation time.
    kT : float
        Temperature of the parameter bath (energy units).
    kappa_out : float, optional
        Stiffness of the (hard-clamped) output layer; default: the net's.
    batch_size : int
    weight_decay : float
        lambda of the term lambda/2 |theta|^2 (energy units).
    tol : float
        Relative gradient norm of the clamped minimum.
    seed : int, SeedSequence or Generator, optional
        Seeds the presentation order and the thermal noise.
    n_records : int
        Records of the loss curves.
    fidelity : {'separated', 'joint'}
        'separated': neurons at the clamped minimum, one parameter step per presentation (module docstring).
        'joint': neurons (mobility ``neuron_mobility``, at kT, output hard-clamped) and parameters follow
        Euler-Maruyama Langevin dynamics together with step ``dt`` for tau_inf per presentation; the neuron state
        carries over from entry to entry (the first entry starts at its clamped minimum). Books per step are exact
        energy differences: neuron heat when the neurons move, parameter heat when the parameters move.
    neuron_mobility : float
        Gamma (joint fidelity); Gamma dt lambda_max < 2 is checked at the start.
    dt : float, optional
        Joint-fidelity step (default tau_inf / 10; tau_inf/dt is rounded to a whole number of steps).
    checkpoint : path, optional
        Save the whole state of the run there (atomically, :func:`analogsim.data.graph_io.save_train_state`) every
        ``checkpoint_every`` presentations and at the end. If the file exists and ``resume`` is true the run
        continues from it, and its result equals an uninterrupted run's exactly; a checkpoint of another run
        (settings, data, network or seed) raises :class:`analogsim.errors.CheckpointError`.
    checkpoint_every : int, optional
        Default: S/10.
    resume : bool
    hook : callable, optional
        ``hook(s, net)`` after presentation s every ``hook_every`` presentations (net: the network being trained;
        do not modify it).
    hook_every : int

    Returns
    -------
    GraphTrainResult

    Examples
    --------
    >>> import numpy as np
    >>> from analogsim.graph import GraphBuilder
    >>> b = GraphBuilder((1, 4, 4)); _ = b.dense(b.conv(b.input, 2, 3, activation="tanh"), 2)
    >>> net = b.build(seed=0, kappa=1.0)
    >>> rng = np.random.default_rng(0); x = rng.standard_normal((64, 16)); t = np.tanh(x[:, :2])
    >>> res = train(net, x, t, x, t, presentations=200, mu=100.0, kT=1e-9, kappa_out=1e-3, batch_size=8, seed=1)
    >>> bool(res.records["test_loss"][-1] < res.records["test_loss"][0])
    True
    """
    S = check_scalar(presentations, "presentations", low=1, integer=True)
    mu = check_scalar(mu, "mu", low=0.0, low_open=True)
    tau = check_scalar(tau_inf, "tau_inf", low=0.0, low_open=True)
    kT = check_kT(kT)
    lam = check_scalar(weight_decay, "weight_decay", low=0.0)
    B = check_scalar(batch_size, "batch_size", low=1, integer=True)
    if fidelity not in ("separated", "joint"):
        raise ValueError(f"fidelity must be 'separated' or 'joint', got {fidelity!r}")
    gam = check_scalar(neuron_mobility, "neuron_mobility", low=0.0, low_open=True)
    dt = tau / 10 if dt is None else check_scalar(dt, "dt", low=0.0, low_open=True)
    n_sub = max(int(round(tau / dt)), 1)
    dt = tau / n_sub
    n_records = check_scalar(n_records, "n_records", low=1, integer=True)
    X = net.check_input(x_train, "x_train")
    T = net.check_output(t_train, name="t_train")
    if T.shape[0] != X.shape[0]:
        raise ValueError(f"t_train must have {X.shape[0]} rows like x_train, got {T.shape[0]}")
    if x_test is not None:
        Xt, Tt = net.check_input(x_test, "x_test"), net.check_output(t_test, name="t_test")
    else:
        Xt, Tt = X, T
    if B > X.shape[0]:
        raise ValueError(f"batch_size must be <= the number of training entries {X.shape[0]}, got {B}")
    if kappa_out is not None:
        kappa_out = check_scalar(kappa_out, "kappa_out", low=0.0, low_open=True)
        net = net.with_kappa(list(net.kappa[:-1]) + [kappa_out])
    else:
        net = net.copy()
    onehot = bool(np.all((T == 0) | (T == 1)) and np.all(T.sum(axis=1) == 1))
    rng = as_generator(seed)
    noise = np.sqrt(2 * kT * mu * tau)
    N = net.n_params
    stats = {"fallbacks": 0, "max_gn": 0.0, "sweeps": 0}
    kout = float(net.kappa[-1].mean())
    rec = {"presentation": [], "train_loss": [], "test_loss": [], "test_accuracy": []}
    every = max(S // n_records, 1)

    def record(s):
        rec["presentation"].append(s)
        rec["train_loss"].append(float(0.5 * np.mean(np.sum((net.predict(X) - T) ** 2, axis=1))))
        rec["test_loss"].append(float(0.5 * np.mean(np.sum((net.predict(Xt) - Tt) ** 2, axis=1))))
        if onehot:
            rec["test_accuracy"].append(accuracy(net, Xt, Tt))

    def energy_of(xs, clamp):
        return float(np.mean(E.energy(net, xs, clamp))) + 0.5 * lam * float(net.theta @ net.theta)

    settings = {"mu": mu, "tau_inf": tau, "kappa_out": kout, "batch_size": B, "weight_decay": lam, "tol": tol,
                "fidelity": fidelity, "neuron_mobility": gam, "dt": dt}
    s0 = 0
    W_sw = Q_x = Q_th = W15 = gsq = 0.0
    res_max = 0.0
    mean_g = np.zeros(N)
    m2 = np.zeros(N)
    xs = None
    plan = E.ColumnPlan(net, keep_gathers=True) if fidelity == "separated" else None
    # separated: the data once in column layout (a minibatch is then one gather of columns)
    XT, TT = (np.ascontiguousarray(X.T), np.ascontiguousarray(T.T)) if fidelity == "separated" else (None, None)
    R_prev = None
    restored = False
    E_start = e_old = None
    if checkpoint is not None:
        from ..data.graph_io import load_train_state, run_digest, save_train_state

        digest = run_digest(net, X, T, settings, S, seed if isinstance(seed, (int, np.integer)) else None)
        every_ck = max(S // 10, 1) if checkpoint_every is None else check_scalar(checkpoint_every,
                                                                                 "checkpoint_every", low=1,
                                                                                 integer=True)
        if seed is not None and not isinstance(seed, (int, np.integer)):
            raise ValueError("checkpoint needs an integer seed (the run is identified by it)")
    state = load_train_state(checkpoint, digest) if checkpoint is not None and resume else None
    if state is not None:
        sc, ar = state
        s0, pos = sc["s"], sc["pos"]
        W_sw, Q_x, Q_th, W15, gsq, res_max = (sc[k] for k in ("W_sw", "Q_x", "Q_th", "W15", "gsq", "res_max"))
        e_old, E_start = sc["e_old"], sc["E_start"]
        rec.update(sc["rec"])
        stats.update(sc["stats"])
        rng.bit_generator.state = sc["rng"]
        net.theta[...] = ar["theta"]
        order, mean_g, m2 = ar["order"], ar["mean_g"], ar["m2"]
        xs = [ar[f"x{l}"] for l in range(net.n_layers)] if s0 > 0 else None
        restored = True
    else:
        record(0)
        order = rng.permutation(X.shape[0])
        pos = 0
    for s in range(s0 + 1, S + 1):
        if pos + B > order.size:
            order, pos = rng.permutation(X.shape[0]), 0
        idx = order[pos:pos + B]
        pos += B
        x0, t = (X[idx], T[idx]) if fidelity == "joint" else (None, None)
        decay = 0.5 * lam * float(net.theta @ net.theta) if lam else 0.0
        if fidelity == "separated":
            # column layout on a prepared plan (ColumnPlan); the same books as below, with shared passes
            x0c, tc = XT[:, idx], TT[:, idx]
            I = plan.inputs(x0c)
            if xs is None:
                xs, Hm, sig = _minimum_cols(plan, x0c, tc, I, tol, stats)
                E_start = E_before = e_min = float(Hm.sum()) / B + decay
                e_old = E_start
                w = 0.0
            else:
                if restored:  # a checkpoint holds rows of samples
                    xs, R_prev, restored = [np.ascontiguousarray(x.T) for x in xs], None, False
                E_before = e_old
                # the switch: new input and target at the same hidden state and theta as e_old (its passes reused)
                H_sw, _, sw_cache = plan.evaluate([x0c] + xs[1:-1] + [tc], I, R_prev, False)
                w = float(H_sw.sum()) / B + decay - E_before
                xs, Hm, sig = _minimum_cols(plan, x0c, tc, I, tol, stats, sw_cache[1])
                e_min = float(Hm.sum()) / B + decay
            q_x = (E_before + w) - e_min
            g = plan.param_grad(xs, sig) / B
            if lam:
                g += lam * net.theta
            step = -mu * tau * g + noise * rng.standard_normal(N)
            net.theta += step
            if not np.all(np.isfinite(net.theta)):
                raise DivergenceError(f"train: non-finite parameters at presentation {s}", step=s,
                                      cause="reduce mu tau_inf or kT")
            Hn, _, R_prev = plan.evaluate(xs, plan.inputs(x0c), None, False)
            e_new = float(Hn.sum()) / B + (0.5 * lam * float(net.theta @ net.theta) if lam else 0.0)
            q_th = e_min - e_new
            gg = float(g @ g)
            W15 += mu * tau * gg
            gsq += gg
        else:  # joint fidelity
            clamp = OutputClamp(t)
            if xs is None:
                xs, Hm = _minimum(net, x0, t, tol, stats)
                E_start = E_before = float(np.mean(Hm)) + decay
                e_old = E_start
                w = 0.0
                check_joint_dt(net, xs, clamp, gam, dt)
            else:
                E_before = e_old
                xs = [x0] + xs[1:-1] + [t]
                w = energy_of(xs, clamp) - E_before
            g, gg, e_new, q_x, q_th = joint_presentation(net, xs, clamp, E_before + w, n_sub, dt, gam, mu, kT, lam,
                                                         rng, energy_of, s)
            W15 += mu * dt * gg
            gsq += gg / n_sub
        W_sw += w
        Q_x += q_x
        Q_th += q_th
        res_max = max(res_max, abs((e_new - E_before) - (w - q_x - q_th)))
        d = g - mean_g
        mean_g += d / s
        m2 += d * (g - mean_g)
        e_old = e_new
        if s % every == 0 or s == S:
            record(s)
        if hook is not None and s % hook_every == 0:
            hook(s, net)
        if checkpoint is not None and (s % every_ck == 0 or s == S):
            sc = {"s": s, "pos": pos, "W_sw": W_sw, "Q_x": Q_x, "Q_th": Q_th, "W15": W15, "gsq": gsq,
                  "res_max": res_max, "e_old": e_old, "E_start": E_start, "rec": rec, "stats": stats,
                  "rng": rng.bit_generator.state}
            ar = {"theta": net.theta, "order": order, "mean_g": mean_g, "m2": m2,
                  **{f"x{l}": (np.ascontiguousarray(x.T) if fidelity == "separated" else x)
                     for l, x in enumerate(xs)}}
            save_train_state(checkpoint, digest, sc, ar)
    var_g = float(m2.sum() / (S - 1)) if S > 1 else float("nan")
    mean_gsq = gsq / S
    rho = mean_gsq / var_g if var_g > 0 else float("nan")
    return GraphTrainResult(net, rec, W_sw, Q_x, Q_th, e_old - E_start, res_max, W15, mean_gsq, var_g, rho,
                            2 * N * S * kT * rho, N, S, kT, stats["fallbacks"], stats["max_gn"], stats["sweeps"] / S,
                            settings)
