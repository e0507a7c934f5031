r"""Threshold temperature T* of training on a graph network (Eq. 16; the definition of the dense chain's).

1. The optimum theta* minimises the full-batch energy F(theta) = mean_alpha min_x H_alpha + (lambda/2)|theta|^2
   (L-BFGS; the gradient is the mean stress gradient at the clamped minima, by the envelope theorem).
2. From theta*, chains of the training dynamics (separated fidelity, same mu, tau_inf, batch) run at kT; after a
   burn-in the excess F(theta_s) - F(theta*) is measured every ``measure_every`` presentations; E(kT) is its
   mean with a batch-means standard error. E(0) is the excess the presentation (data) noise alone produces.
3. T* solves E(T*) = 2 E(0): the dense chain's rule (:func:`analogsim.training.tstar._solve_tstar`, one
   definition for both), a weighted least-squares line of log(E - E(0)) against log kT through the grid points
   around the crossing; its standard error follows from those of E(0) and of the points used (delta method).
   ``bracketed`` is False when the grid does not bracket the crossing (the nearest points are extrapolated).

In the harmonic, small-step limit the thermal excess E(kT) - E(0) is N kT / 2 (N trainable parameters), and the
data noise of a batch of B entries gives kT* ~ mu tau_inf var_data(g) / (2 N B) (``kT_guess``, which centres the
default grid). The full-batch energy of an energy-based net has no minimum at finite weight decay 0 when a hidden
layer can absorb the output's error (growing weights lower F without lowering the loss): give ``weight_decay``
> 0 for nets with hidden layers; ``grad_norm_star`` reports how far the optimum search got.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._checks import check_array, check_scalar
from .tstar import _solve_tstar
from ..model.graph import energy as E
from .graph import fixed_point_minimum, train

__all__ = ["full_batch_energy", "optimum", "excess_energy_chain", "threshold_temperature", "TStarResult",
           "data_gradient_variance"]


def full_batch_energy(net, X, T, weight_decay: float = 0.0, tol: float = 1e-10):
    """(F, dF/dtheta, mean MSE loss 0.5|f - t|^2) with every entry clamped at its minimum (hard output clamp).

    Examples
    --------
    >>> import numpy as np
    >>> from analogsim.graph import GraphBuilder
    >>> b = GraphBuilder((1, 4, 4)); _ = b.dense(b.conv(b.input, 2, 3, activation="tanh"), 2)
    >>> net = b.build(seed=0)
    >>> F, g, loss = full_batch_energy(net, np.ones((4, 16)), np.zeros((4, 2)))
    >>> g.shape, bool(F >= 0)
    ((38,), True)
    """
    xs, H = _minima(net, X, T, tol)
    g = E.params_from_stress(net, xs, E.stress(net, xs), per_sample=False) / X.shape[0]
    F = float(np.mean(H)) + 0.5 * weight_decay * float(net.theta @ net.theta)
    loss = float(0.5 * np.mean(np.sum((net.predict(X) - T) ** 2, axis=1)))
    return F, g + weight_decay * net.theta, loss


def _minima(net, X, T, tol=1e-10):
    xs, ok, gn, _, H = fixed_point_minimum(net, X, T, tol=tol)
    if not ok.all():
        from ..model.graph.equilibrium import clamped_minimum

        bad = np.nonzero(~ok)[0]
        m = clamped_minimum(net, X[bad], T[bad])
        for l in range(1, net.n_layers):
            xs[l] = np.array(xs[l])
            xs[l][bad] = m.xs[l]
        H = E.energy(net, xs)
    return xs, H


def data_gradient_variance(net, X, T) -> float:
    """sum_i var_alpha(dF_alpha/dtheta_i): the spread of the entries' stress gradients (Eq. 14's data noise).

    Examples
    --------
    >>> from analogsim.graph import GraphBuilder
    >>> b = GraphBuilder((2,)); _ = b.dense(b.input, 1); net = b.build(seed=0)
    >>> X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> bool(data_gradient_variance(net, X, X[:, :1] + 1.0) > 0)
    True
    """
    xs, _ = _minima(net, X, T)
    g = E.params_from_stress(net, xs, E.stress(net, xs), per_sample=True)
    return float(np.sum(np.var(g.astype(np.float64), axis=0, ddof=1))) if X.shape[0] > 1 else 0.0


def optimum(net, X, T, *, weight_decay: float = 0.0, gtol: float = 1e-12, max_iter: int = 5000):
    """A copy of ``net`` at the minimum of the full-batch energy (scipy L-BFGS), and (F*, loss*, |grad|).

    Examples
    --------
    >>> from analogsim.graph import GraphBuilder
    >>> b = GraphBuilder((2,)); _ = b.dense(b.input, 1); net = b.build(seed=0)
    >>> X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]); T = X @ [[1.0], [2.0]]
    >>> star, (F, loss, g) = optimum(net, X, T)
    >>> bool(loss < 1e-12)
    True
    """
    from scipy.optimize import minimize

    work = net.copy()

    def fun(th):
        work.theta[...] = th
        with np.errstate(over="ignore", invalid="ignore"):
            F, g, _ = full_batch_energy(work, X, T, weight_decay)
        if not (np.isfinite(F) and np.all(np.isfinite(g))):
            return 1e300, np.zeros_like(th)  # a trial step far outside: the line search backs off
        return F, g.astype(np.float64)

    res = minimize(fun, work.theta.astype(np.float64), jac=True, method="L-BFGS-B",
                   options={"gtol": gtol, "ftol": 0.0, "maxiter": max_iter, "maxcor": 30})
    work.theta[...] = res.x
    F, g, loss = full_batch_energy(work, X, T, weight_decay)
    return work, (F, loss, float(np.linalg.norm(g)))


def _batch_means(x, n_batches):
    x = np.asarray(x, dtype=np.float64)
    nb = min(n_batches, x.size)
    if nb < 2:
        return float(np.mean(x)) if x.size else float("nan"), float("nan")
    m = x.size // nb
    bm = x[:nb * m].reshape(nb, m).mean(axis=1)
    return float(x.mean()), float(bm.std(ddof=1) / math.sqrt(nb))


def excess_energy_chain(net_star, X, T, kT, *, chain_presentations: int, burn_in: int, measure_every: int = 1,
                        F_star: float | None = None, n_batches: int = 20, seed=0, **settings) -> dict:
    """Run the training dynamics from theta* at kT and measure the stationary excess energy E(kT) (and its SE).

    ``settings`` go to :func:`analogsim.training.graph.train` (mu, tau_inf, kappa_out, batch_size, weight_decay);
    the stiffness of ``net_star`` must already hold kappa_out (pass kappa_out=None or the same value).

    Examples
    --------
    >>> from analogsim.graph import GraphBuilder
    >>> b = GraphBuilder((2,)); _ = b.dense(b.input, 1); net = b.build(seed=0, kappa=[0.1])
    >>> X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]); T = X @ [[1.0], [2.0]]
    >>> star, _ = optimum(net, X, T)
    >>> c = excess_energy_chain(star, X, T, 1e-3, chain_presentations=200, burn_in=50, mu=1.0)
    >>> bool(c["E"] > 0)
    True
    """
    lam = settings.get("weight_decay", 0.0)
    if F_star is None:
        F_star = full_batch_energy(net_star, X, T, lam)[0]
    vals = []

    def hook(s, net):
        if s > burn_in:
            vals.append(full_batch_energy(net, X, T, lam)[0] - F_star)

    res = train(net_star, X, T, X[:1], T[:1], presentations=chain_presentations, kT=kT, seed=seed, hook=hook,
                hook_every=measure_every, n_records=1, **settings)
    Em, se = _batch_means(vals, n_batches)
    return {"kT": kT, "E": Em, "E_se": se, "series": np.array(vals), "result": res}


@dataclass
class TStarResult:
    """T* and what it was found from: the grid, E(kT) with SEs, E(0), the optimum's energy and gradient norm.

    Attributes
    ----------
    kT_star, kT_star_se : float
        E(kT*) = 2 E(0) and its standard error (delta method over E(0) and the grid points used).
    bracketed : bool
    kT_grid, E, E_se : arrays
        Chain temperatures, stationary excess energies and their batch-means SEs (energy units).
    E0, E0_se : float
        The kT = 0 chain's excess (the presentation noise alone).
    F_star, loss_star, grad_norm_star : float
        The optimum's full-batch energy, MSE loss and |grad F|.
    n_params : int
        N, trainable parameters only.
    how : str
        Which grid points gave kT*.
    kT_guess : float
        The harmonic prediction mu tau_inf var_data(g) / (2 N B) (nan when not computed).

    Examples
    --------
    >>> r = TStarResult(1e-4, True, np.array([1e-5, 1e-3]), np.array([1e-4, 1e-2]), np.array([1e-5, 1e-3]),
    ...                 1e-4, 1e-5, 0.1, 0.2, 1e-12, 4)
    >>> r.summary().startswith("kT* = 0.0001 (bracketed)")
    True
    """

    kT_star: float
    bracketed: bool
    kT_grid: np.ndarray
    E: np.ndarray
    E_se: np.ndarray
    E0: float
    E0_se: float
    F_star: float
    loss_star: float
    grad_norm_star: float
    n_params: int
    kT_star_se: float = float("nan")
    how: str = ""
    kT_guess: float = float("nan")

    def summary(self) -> str:
        how = "bracketed" if self.bracketed else "EXTRAPOLATED (grid does not bracket E = 2 E0)"
        return (f"kT* = {self.kT_star:.4g} ({how}) +- {self.kT_star_se:.2g}; E0 = {self.E0:.4g} +- "
                f"{self.E0_se:.2g}; N = {self.n_params}; optimum |grad F| = {self.grad_norm_star:.2g}")

    def as_dict(self) -> dict:
        """JSON-ready numbers.

        Examples
        --------
        >>> r = TStarResult(1e-4, True, np.array([1e-5, 1e-3]), np.array([1e-4, 1e-2]), np.array([1e-5, 1e-3]),
        ...                 1e-4, 1e-5, 0.1, 0.2, 1e-12, 4)
        >>> r.as_dict()["kT_grid"]
        [1e-05, 0.001]
        """
        return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in self.__dict__.items()}


def _solve(kTs, Ev, E0, E_se=None, E0_se=0.0):
    """(kT*, used grid indices, bracketed): the dense chain's rule (module docstring)."""
    return _solve_tstar(kTs, Ev, E0, E_se, E0_se)


def _tstar_se(kTs, Ev, Es, E0, E0_se, used) -> float:
    """Delta-method standard error of kT*: independent chains, E(0) entering every point."""
    parts = []
    for k in [-1] + list(used):
        val, se = (E0, E0_se) if k < 0 else (Ev[k], Es[k])
        h = max(abs(se) * 1e-3, abs(val) * 1e-9, 1e-300)
        vals = []
        for sign in (1, -1):
            EE = np.array(Ev, dtype=float)
            e0 = E0
            if k < 0:
                e0 = val + sign * h
            else:
                EE[k] = val + sign * h
            vals.append(_solve(kTs, EE, e0, Es, E0_se)[0])
        parts.append(((vals[0] - vals[1]) / (2 * h) * se) ** 2)
    return float(math.sqrt(sum(parts))) if all(np.isfinite(parts)) else float("nan")


def threshold_temperature(net, X, T, *, kT_grid=None, chain_presentations: int, burn_in: int | None = None,
                          measure_every: int = 1, mu: float, tau_inf: float = 1.0, kappa_out: float | None = None,
                          batch_size: int = 1, weight_decay: float = 0.0, seed=0, gtol: float = 1e-12,
                          max_iter: int = 5000, n_grid: int = 5, zero_chain_factor: int = 2, n_batches: int = 20,
                          optimum_net=None) -> TStarResult:
    """Measure T* on a graph network (module docstring): optimum, the kT = 0 chain, the grid's chains, E = 2 E0.

    ``gtol`` and ``max_iter`` go to the L-BFGS search of the optimum; its reached gradient norm is reported
    (``grad_norm_star``): an optimum that is not one biases E(0) and T*. ``optimum_net`` (a GraphNetwork at
    theta*, e.g. from an earlier :func:`optimum`) skips the search. Without ``kT_grid`` the grid is ``n_grid``
    temperatures spaced by factors of 2 around ``kT_guess``. The kT = 0 chain is ``zero_chain_factor`` times longer
    (E(0) enters T* twice). ``burn_in`` defaults to a fifth of the chain.

    Examples
    --------
    >>> import numpy as np
    >>> from analogsim.graph import GraphBuilder
    >>> b = GraphBuilder((3,)); _ = b.dense(b.input, 1); net = b.build(seed=0, kappa=[0.1])
    >>> rng = np.random.default_rng(0); X = rng.standard_normal((32, 3)); T = X @ [[1.0], [-1.0], [0.5]]
    >>> T = T + 0.3 * rng.standard_normal(T.shape)
    >>> r = threshold_temperature(net, X, T, kT_grid=[1e-4, 1e-3, 1e-2], chain_presentations=600, burn_in=100,
    ...                           measure_every=5, mu=1.0, seed=1)
    >>> r.bracketed, 1e-4 < r.kT_star < 1e-2, bool(0 < r.kT_star_se < r.kT_star)
    (True, True, True)
    """
    X = net.check_input(X, "X")
    T = net.check_output(T, name="T")
    check_scalar(chain_presentations, "chain_presentations", low=2, integer=True)
    burn_in = chain_presentations // 5 if burn_in is None else burn_in
    check_scalar(burn_in, "burn_in", low=0, high=chain_presentations - 2, integer=True)
    n_grid = check_scalar(n_grid, "n_grid", low=2, integer=True)
    zf = check_scalar(zero_chain_factor, "zero_chain_factor", low=1, integer=True)
    if kT_grid is not None:
        grid = np.sort(np.asarray(check_array(kT_grid, "kT_grid", ndim=1), dtype=np.float64))
        if grid.size < 2 or np.any(grid <= 0):
            raise ValueError(f"kT_grid must hold at least two temperatures > 0, got {grid.tolist()}")
    if kappa_out is not None:
        net = net.with_kappa(list(net.kappa[:-1]) + [kappa_out])
    if optimum_net is None:
        star, (F_star, loss_star, gnorm) = optimum(net, X, T, weight_decay=weight_decay, gtol=gtol,
                                                   max_iter=max_iter)
    else:
        star = net.with_theta(check_array(optimum_net.theta, "optimum_net.theta", shape=(net.n_params,)))
        F_star, g, _ = full_batch_energy(star, X, T, weight_decay)
        loss_star = float(0.5 * np.mean(np.sum((star.predict(X) - T) ** 2, axis=1)))
        gnorm = float(np.linalg.norm(g))
    kT_guess = mu * tau_inf * data_gradient_variance(star, X, T) / (2 * net.n_params * batch_size)
    if kT_grid is None:
        grid = kT_guess * 2.0 ** (np.arange(n_grid) - (n_grid - 1) / 2)
    seeds = [int(v) for v in np.random.SeedSequence(seed).generate_state(grid.size + 1)]
    kw = dict(burn_in=burn_in, measure_every=measure_every, F_star=F_star, n_batches=n_batches, mu=mu,
              tau_inf=tau_inf, batch_size=batch_size, weight_decay=weight_decay)
    c0 = excess_energy_chain(star, X, T, 0.0, chain_presentations=zf * chain_presentations, seed=seeds[0], **kw)
    chains = [excess_energy_chain(star, X, T, float(kT), chain_presentations=chain_presentations, seed=seeds[i + 1],
                                  **kw) for i, kT in enumerate(grid)]
    Ev = np.array([c["E"] for c in chains])
    Es = np.array([c["E_se"] for c in chains])
    kts, used, br = _solve(grid, Ev, c0["E"], Es, c0["E_se"])
    se = _tstar_se(grid, Ev, Es, c0["E"], c0["E_se"], used) if len(used) >= 2 and np.isfinite(kts) else float("nan")
    how = (f"log-log line of E(kT) - E(0) through kT = {', '.join(f'{grid[k]:.4g}' for k in used)}"
           if used else "no grid point above E(0)")
    return TStarResult(kts, br, grid, Ev, Es, c0["E"], c0["E_se"], F_star, loss_star, gnorm, net.n_params, se, how,
                       kT_guess)
