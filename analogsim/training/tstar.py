r"""Threshold temperature T* and the training-energy ratio Gamma (Eq. 16, docs/training.md).

Definition used here ("final loss 10 % above the T = 0 loss" is ill-posed):

1. The optimum theta* minimises the full-batch training energy
   F̄(theta) = mean_alpha F_alpha(theta) + (lambda/2)|theta|^2 (deterministic L-BFGS, or given).
2. From theta*, a chain of the training dynamics (same mu, tau_inf, data order, batch size) runs at
   temperature kT. After a burn-in, the *excess energy* F̄(theta_s) - F̄(theta*) is measured every
   ``measure_every`` presentations; E(kT) is its mean, with a standard error from batch means.
   E(0) is the excess that the presentation (SGD, data) noise alone produces.
3. T* solves E(T*) = 2 E(0): thermal noise doubles the excess. The thermal part E(kT) - E(0) is ~ N kT/2
   in the harmonic limit, a straight line in log-log: T* is where the weighted least-squares line
   of log(E - E(0)) against log kT through the grid points around the crossing (the bracketing pair and
   one neighbour on each side) meets E(0). The standard error follows from those of E(0) and of the
   points used by the delta method. If the grid does not bracket, the nearest points are extrapolated
   and ``bracketed`` is False.
4. A training run at kT* (from the initial network, S presentations) gives the books W, rho and the
   bound 2 N S kT* rho; Gamma = W / (2 N S rho kT*) is **Eq. 15's prediction** put into Eq. 16 (W is the
   formula mu tau_inf S <|g|^2>, so Gamma = mu tau_inf var(g) / (2 N kT*): its standard error combines those
   of kT* and var(g)). The *measured* ratio uses the parameter heat the simulated machine released
   (stochastic energetics, :class:`analogsim.training.Books`): ``Gamma_measured`` = Q_theta / (2 N S rho kT*),
   and ``Gamma_switch`` = (W_sw - Q_x) / (2 N S rho kT*) uses the switching work the data source put in minus
   its removable neuron part. Their standard errors combine the batch-means SEs of the books with those of
   kT*, var(g) and <|g|^2> (conservatively, as if independent).

In the harmonic, small-step limit (linear student) Gamma = 1; for nonlinear nets it is reported, not
assumed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .._checks import check_array, check_scalar
from ..model.network import Network
from .books import TrainResult
from .config import TrainConfig
from .engine import train
from .loss import _kernel_net, _Workspace, coerce_data, effective_output_stiffness
from .loss import mse_loss as _mse

__all__ = ["TStarResult", "threshold_temperature", "excess_energy_chain"]


@dataclass
class TStarResult:
    """Result of :func:`threshold_temperature` (energies in the units of H, temperatures as kT).

    Attributes
    ----------
    kT_grid : ndarray
        Temperatures of the chains (> 0).
    E, E_se : ndarray
        Stationary excess energy E(kT) and its standard error at each grid temperature.
    E0, E0_se : float
        Excess energy of the kT = 0 chain (presentation noise only).
    loss_excess, loss_excess_se : ndarray
        The same for the MSE loss 0.5|f - t|^2 (loss units), for loss-vs-kT curves.
    loss0, loss_star : float
        MSE loss of the kT = 0 chain (mean) and at theta*.
    kT_star, kT_star_se : float
        E(kT*) = 2 E(0).
    bracketed : bool
    how : str
        How kT* was found (grid points used).
    kT_guess : float
        Harmonic prediction mu tau_inf var_data(g) / (2 N batch) that centres the default grid.
    F_star : float
        F̄(theta*).
    optimum : dict
        The minimiser's report.
    train : TrainResult
        The training run at kT*.
    W, W_se : float
    rho : float
    bound : float
        2 N S kT* rho.
    W_over_kT_star, W_over_kT_star_se : float
    Gamma, Gamma_se : float
        Eq. 15's prediction W/(2 N S rho kT*) (also ``Gamma_eq15``).
    Q_theta, Q_theta_se : float
        Measured parameter heat of the run at kT* (Stratonovich / exact energy differences) and its SE.
    Gamma_measured, Gamma_measured_se : float
        Q_theta / (2 N S rho kT*): Eq. 16's ratio with the measured parameter heat.
    Gamma_switch, Gamma_switch_se : float
        (W_sw - Q_x) / (2 N S rho kT*): with the switching work minus its removable neuron heat.
    n_params, presentations : int

    Examples
    --------
    A linear student (N = 3 parameters) on 64 noisy teacher entries, short chains on a 3-point grid; the bound
    is Eq. 16's 2 N S rho kT* and Gamma = W / bound is Eq. 15's work put into it (1 in the harmonic limit):

    >>> from analogsim import Network
    >>> from analogsim.data import teacher_student
    >>> ds = teacher_student(n_in=2, n_out=1, n_train=64, n_test=0, teacher_hidden=(), label_noise=0.3, seed=0)
    >>> net = Network.create([2, 1], activations="identity", seed=1)
    >>> r = threshold_temperature(net, ds, presentations=1000, mu=50.0, kappa_out=1e-3, chain_presentations=2000,
    ...                           n_grid=3, seed=2)
    >>> r.n_params, r.presentations, r.bracketed, r.kT_grid.size
    (3, 1000, True, 3)
    >>> bool(abs(r.bound - 2 * r.n_params * r.presentations * r.rho * r.kT_star) <= 1e-9 * r.bound)
    True
    >>> bool(abs(r.Gamma - r.W / r.bound) <= 1e-9 * r.Gamma), sorted(r.summary())[:3]
    (True, ['E', 'E0', 'E0_se'])
    """

    kT_grid: np.ndarray
    E: np.ndarray
    E_se: np.ndarray
    E0: float
    E0_se: float
    loss_excess: np.ndarray
    loss_excess_se: np.ndarray
    loss0: float
    loss_star: float
    kT_star: float
    kT_star_se: float
    bracketed: bool
    how: str
    kT_guess: float
    F_star: float
    optimum: dict
    theta_star: np.ndarray
    train: TrainResult | None
    W: float
    W_se: float
    rho: float
    var_g: float
    var_g_se: float
    bound: float
    W_over_kT_star: float
    W_over_kT_star_se: float
    Gamma: float
    Gamma_se: float
    n_params: int
    presentations: int
    chains: list = field(default_factory=list)
    Q_theta: float = float("nan")
    Q_theta_se: float = float("nan")
    Gamma_measured: float = float("nan")
    Gamma_measured_se: float = float("nan")
    Gamma_switch: float = float("nan")
    Gamma_switch_se: float = float("nan")

    @property
    def Gamma_eq15(self) -> float:
        """Eq. 15's prediction of Gamma (the same number as ``Gamma``)."""
        return self.Gamma

    @property
    def Gamma_eq15_se(self) -> float:
        return self.Gamma_se

    def summary(self) -> dict:
        """JSON-serialisable numbers (no arrays of parameters)."""
        keys = ("E0", "E0_se", "loss0", "loss_star", "kT_star", "kT_star_se", "bracketed", "how", "kT_guess",
                "F_star", "W", "W_se", "rho", "var_g", "var_g_se", "bound", "W_over_kT_star",
                "W_over_kT_star_se", "Gamma", "Gamma_se", "n_params", "presentations", "Q_theta", "Q_theta_se",
                "Gamma_measured", "Gamma_measured_se", "Gamma_switch", "Gamma_switch_se")
        d = {k: getattr(self, k) for k in keys}
        d.update({"kT_grid": self.kT_grid.tolist(), "E": self.E.tolist(), "E_se": self.E_se.tolist(),
                  "loss_excess": self.loss_excess.tolist(), "loss_excess_se": self.loss_excess_se.tolist(),
                  "optimum": self.optimum})
        return d


class _Energy:
    """Fast evaluation of F̄(theta) and the MSE on the training entries (value only)."""

    def __init__(self, net: Network, ds, kappa_out, weight_decay: float):
        self.ds = ds
        self.kout = effective_output_stiffness(net, kappa_out)
        self.kappa_out = kappa_out
        self.lam = weight_decay
        self.B = min(64, ds.n_train)
        self.ws = _Workspace(net, self.B)
        self.tol = 8 * float(np.finfo(net.dtype).eps)
        D = ds.n_train
        self.energy = np.zeros(D)
        self.grad = np.zeros(net.n_params)
        self.gsq = np.zeros(D)
        self.conv = np.zeros(D, np.int64)

    def __call__(self, net: Network) -> tuple[float, float]:
        from ..kernels.train import batch_objective
        from .objective import stress_gradients

        ws = self.ws
        theta, sizes, w_off, b_off, acts, kappa, k_off = _kernel_net(net)
        batch_objective(theta, sizes, w_off, b_off, acts, kappa, k_off, self.kout, self.ds.x_train,
                        self.ds.t_train, self.B, False, ws.x0, ws.tb, ws.Y, ws.FP, ws.DEL, ws.XS, ws.SIG, ws.FV,
                        ws.YN, ws.scr,
                        ws.relg, ws.hrow, self.tol, 60, self.energy, self.grad, self.gsq, self.conv)
        bad = np.flatnonzero(self.conv == 0)
        if bad.size:
            e, _, _ = stress_gradients(net, self.ds.x_train[bad], self.ds.t_train[bad], self.kappa_out,
                                       want_grad=False)
            self.energy[bad] = e
        th = theta.astype(np.float64)
        F = math.fsum(self.energy) / self.energy.size + 0.5 * self.lam * float(th @ th)
        return F, _mse(net, self.ds.x_train, self.ds.t_train, ws)


def _batch_means(x: np.ndarray, n_batches: int) -> tuple[float, float]:
    x = np.asarray(x, dtype=np.float64)
    n = x.size
    if n == 0:
        return float("nan"), float("nan")
    nb = min(n_batches, n)
    m = n // nb
    bm = x[:nb * m].reshape(nb, m).mean(axis=1)
    se = float(bm.std(ddof=1) / math.sqrt(nb)) if nb >= 2 else float("nan")
    return float(x.mean()), se


def excess_energy_chain(net_star: Network, data, kT: float, *, chain_presentations: int, burn_in: int,
                        measure_every: int, F_star: float | None = None, loss_star: float | None = None,
                        n_batches: int = 20, seed: int = 0, **settings) -> dict:
    """Run the training dynamics from theta* at temperature kT and measure the stationary excess.

    Returns a dict with ``E``/``E_se`` (excess of F̄ over F̄(theta*), batch-means SE), ``loss_excess``/
    ``loss_excess_se`` (MSE loss), ``series`` (the excess energy measurements after burn-in) and
    ``books`` (the chain's :class:`Books`). ``settings`` are :class:`TrainConfig` fields.

    Energies in the units of H, kT an energy (k_B = 1). E(0) is the excess the presentation noise alone makes
    (Eq. 14's statistical noise); T* solves E(T*) = 2 E(0), the temperature at which the thermal noise of
    Eq. 13 matches it and Eq. 16 is evaluated.

    Examples
    --------
    From the optimum of a linear student, a chain at kT = 0 and one at a higher kT: the thermal noise adds
    to the excess energy:

    >>> from analogsim import Network
    >>> from analogsim.data import teacher_student
    >>> from analogsim.training.objective import minimize_objective
    >>> ds = teacher_student(n_in=2, n_out=1, n_train=64, n_test=0, teacher_hidden=(), label_noise=0.3, seed=0)
    >>> net = Network.create([2, 1], activations="identity", seed=1)
    >>> kw = dict(chain_presentations=2000, burn_in=400, measure_every=10, mu=50.0, kappa_out=1e-3, seed=3)
    >>> star, info = minimize_objective(net, ds, 1e-3, 0.0)           # theta*: the minimum of F̄
    >>> c0 = excess_energy_chain(star, ds, 0.0, **kw)
    >>> c1 = excess_energy_chain(star, ds, 1e-5, **kw)
    >>> c0["series"].shape, bool(c1["E"] > c0["E"] > 0)
    ((160,), True)
    """
    ds = coerce_data(data, net_star)
    energy = _Energy(net_star, ds, settings.get("kappa_out"), settings.get("weight_decay", 0.0))
    if F_star is None or loss_star is None:
        F_star, loss_star = energy(net_star)
    vals, losses = [], []

    def hook(s, theta, net):
        if s > burn_in:
            F, L = energy(net)
            vals.append(F - F_star)
            losses.append(L - loss_star)

    res = train(net_star, ds, seed=seed, hook=hook, hook_every=measure_every,
                eval_every=chain_presentations, presentations=chain_presentations, kT=kT, **settings)
    E, se = _batch_means(np.array(vals), n_batches)
    LE, lse = _batch_means(np.array(losses), n_batches)
    return {"kT": kT, "E": E, "E_se": se, "loss_excess": LE, "loss_excess_se": lse, "series": np.array(vals),
            "books": res.books, "loss_mean": LE + loss_star}


def _solve_tstar(kTs, E, E0, E_se=None, E0_se=0.0):
    """kT* where the thermal excess d = E - E0 equals E0, from a straight line in log d vs log kT.

    The line is a weighted least-squares fit through the grid points next to the crossing: the bracketing
    pair (0 < d_i < E0 <= d_j, j = i + 1) and one more usable point on each side when there is one
    (weights 1/var(log d) from the standard errors); with two points it is their interpolation. Returns
    (kT*, used indices, bracketed). Without a bracketing pair the nearest usable points are extrapolated.
    """
    kTs = np.asarray(kTs, dtype=float)
    d = np.asarray(E, dtype=float) - E0
    pos = [k for k in range(d.size) if d[k] > 0 and np.isfinite(d[k])]
    if not pos or not (E0 > 0):
        return float("nan"), [], False
    above = [k for k in pos if d[k] >= E0]
    bracketed = False
    if above and above[0] - 1 in pos:
        j = above[0]
        i = j - 1
        bracketed = True
        used = [k for k in (i - 1, i, j, j + 1) if k in pos]
    elif above:
        used = [k for k in pos if k >= above[0]][:2]
    else:
        used = pos[-2:]
    if len(used) == 1:  # one usable point: the harmonic slope 1
        k = used[0]
        return float(kTs[k] * E0 / d[k]), used, False
    x = np.log(kTs[used])
    y = np.log(d[used])
    if E_se is None:
        w = np.ones(len(used))
    else:
        var = (np.asarray(E_se, dtype=float)[used] ** 2 + E0_se ** 2) / d[used] ** 2
        w = 1.0 / np.maximum(var, 1e-30)
    W = w.sum()
    xm, ym = (w * x).sum() / W, (w * y).sum() / W
    sxx = (w * (x - xm) ** 2).sum()
    if sxx <= 0:
        return float("nan"), used, bracketed
    slope = (w * (x - xm) * (y - ym)).sum() / sxx
    if slope <= 0:
        return float("nan"), used, bracketed
    return float(math.exp(xm + (math.log(E0) - ym) / slope)), used, bracketed


def threshold_temperature(net: Network, data, *, presentations: int, mu: float, tau_inf: float = 1.0,
                          kappa_out=None, weight_decay: float = 0.0, order: str = "iid", batch_size: int = 1,
                          kT_grid=None, n_grid: int = 7, chain_presentations: int = 50000,
                          burn_in: int | None = None, measure_every: int | None = None, n_batches: int = 20,
                          zero_chain_factor: int = 4, optimum=None, train_from: str = "init", seed: int = 0,
                          progress=None) -> TStarResult:
    r"""Measure the threshold temperature T* (E(T*) = 2 E(0)) and Gamma = W / (2 N S rho kT*).

    See the module docstring for the exact definitions.

    Parameters
    ----------
    net : Network
        Initial network: the L-BFGS start for the optimum and the start of the training run at kT*.
    data : Dataset or arrays
    presentations : int
        S of the training run at kT* (the books W, rho, bound).
    mu, tau_inf, kappa_out, weight_decay, order, batch_size
        Training settings shared by the chains and the run (:class:`TrainConfig`).
    kT_grid : sequence of float, optional
        Chain temperatures (> 0). Default: ``n_grid`` points spaced by factors of 2 around the harmonic
        prediction mu tau_inf var_data(g)/(2 N batch_size) at the optimum.
    chain_presentations, burn_in, measure_every, n_batches
        Chain length, presentations discarded (default 20 %), presentations between measurements
        (default chain/1000) and batches for the SE.
    zero_chain_factor : int
        The kT = 0 chain is this many times longer: E(0) enters T* twice (as the target and through
        every E(kT) - E(0)), so its error dominates otherwise.
    optimum : array or Network, optional
        theta* (default: L-BFGS on F̄ from ``net``).
    train_from : {'init', 'optimum'}
        Where the run at kT* starts.
    seed : int
        Chains and the run get independent derived seeds.

    Returns
    -------
    TStarResult

    Examples
    --------
    >>> from analogsim import Network
    >>> from analogsim.data import teacher_student
    >>> ds = teacher_student(n_in=2, n_out=1, n_train=64, n_test=0, teacher_hidden=(), label_noise=0.3, seed=0)
    >>> net = Network.create([2, 1], activations="identity", seed=1)
    >>> r = threshold_temperature(net, ds, presentations=4000, mu=50.0, kappa_out=1e-3,
    ...                           chain_presentations=20000, seed=2)
    >>> 0.5 < r.Gamma < 1.5
    True
    """
    if not isinstance(net, Network):
        raise TypeError(f"net must be an analogsim Network, got {type(net).__name__}")
    ds = coerce_data(data, net)
    base = TrainConfig(presentations=presentations, mu=mu, tau_inf=tau_inf, kappa_out=kappa_out,
                       weight_decay=weight_decay, order=order, batch_size=batch_size)
    chain_presentations = check_scalar(chain_presentations, "chain_presentations", low=10, integer=True)
    burn_in = chain_presentations // 5 if burn_in is None else check_scalar(burn_in, "burn_in", low=0,
                                                                            integer=True)
    if burn_in >= chain_presentations:
        raise ValueError(f"burn_in must be < chain_presentations = {chain_presentations}, got {burn_in}")
    measure_every = (max(1, chain_presentations // 1000) if measure_every is None
                     else check_scalar(measure_every, "measure_every", low=1, integer=True))
    n_batches = check_scalar(n_batches, "n_batches", low=2, integer=True)
    n_grid = check_scalar(n_grid, "n_grid", low=2, integer=True)
    zero_chain_factor = check_scalar(zero_chain_factor, "zero_chain_factor", low=1, integer=True)
    if train_from not in ("init", "optimum"):
        raise ValueError(f"train_from must be 'init' or 'optimum', got {train_from!r}")
    if kT_grid is not None:
        kT_grid = np.sort(check_array(kT_grid, "kT_grid", ndim=1).astype(np.float64))
        if kT_grid.size < 2 or np.any(kT_grid <= 0):
            raise ValueError(f"kT_grid needs at least two temperatures > 0, got {kT_grid.tolist()}")
    seeds = [int(s) for s in np.random.SeedSequence(int(seed)).generate_state(64)]
    settings = dict(mu=base.mu, tau_inf=base.tau_inf, kappa_out=base.kappa_out, weight_decay=base.weight_decay,
                    order=base.order, batch_size=base.batch_size)

    # 1. the optimum
    from .objective import gradient_variance, minimize_objective

    if optimum is None:
        net_star, opt_info = minimize_objective(net, ds, kappa_out, weight_decay)
    else:
        th = optimum.theta if isinstance(optimum, Network) else optimum
        net_star = net.with_theta(check_array(th, "optimum", shape=(net.n_params,)))
        opt_info = {"given": True}
    energy = _Energy(net_star, ds, kappa_out, weight_decay)
    F_star, loss_star = energy(net_star)
    N = net.n_params
    var_data = gradient_variance(net_star, ds, kappa_out)
    kT_guess = mu * tau_inf * var_data / (2 * N * batch_size)
    if kT_grid is None:
        half = (n_grid - 1) / 2
        kT_grid = kT_guess * 2.0 ** (np.arange(n_grid) - half)

    def chain(kT, s, factor=1):
        return excess_energy_chain(net_star, ds, kT, chain_presentations=factor * chain_presentations,
                                   burn_in=burn_in, measure_every=measure_every, F_star=F_star,
                                   loss_star=loss_star, n_batches=n_batches, seed=s, **settings)

    # 2. E(0) and E(kT)
    c0 = chain(0.0, seeds[0], zero_chain_factor)
    chains = [c0]
    for i, kT in enumerate(kT_grid):
        chains.append(chain(float(kT), seeds[1 + i]))
        if callable(progress):
            progress(i + 1, len(kT_grid))
    E = np.array([c["E"] for c in chains[1:]])
    E_se = np.array([c["E_se"] for c in chains[1:]])
    E0, E0_se = c0["E"], c0["E_se"]

    # 3. kT*
    kT_star, used, bracketed = _solve_tstar(kT_grid, E, E0, E_se, E0_se)
    if len(used) >= 2 and np.isfinite(kT_star):
        def f(e0, EE):
            return _solve_tstar(kT_grid, EE, e0, E_se, E0_se)[0]
        parts = []
        for k in [-1] + list(used):  # delta method: independent chains; E0 enters every point
            EE = E.copy()
            val, se = (E0, E0_se) if k < 0 else (E[k], E_se[k])
            h = max(abs(se) * 1e-3, abs(val) * 1e-9, 1e-300)
            vals = []
            for sign in (1, -1):
                EE2 = EE.copy()
                if k < 0:
                    vals.append(f(val + sign * h, EE2))
                else:
                    EE2[k] = val + sign * h
                    vals.append(f(E0, EE2))
            parts.append(((vals[0] - vals[1]) / (2 * h) * se) ** 2)
        kT_star_se = float(math.sqrt(sum(parts))) if all(np.isfinite(parts)) else float("nan")
        pts = ", ".join(f"{kT_grid[k]:.4g}" for k in used)
        how = (f"weighted log-log line of E(kT) - E(0) through kT = {pts}, solved for E(kT) - E(0) = E(0)"
               + ("" if bracketed else " (extrapolated: the grid does not bracket T*)"))
    else:
        kT_star_se = float("nan")
        how = "harmonic slope from a single usable grid point" if used else "no grid point above E(0)"

    # 4. the training run at kT*
    run = None
    W = W_se = rho = var_g = var_g_se = bound = G = G_se = wk = wk_se = float("nan")
    if np.isfinite(kT_star) and kT_star > 0:
        start = net if train_from == "init" else net_star
        run = train(start, ds, seed=seeds[40], presentations=presentations, kT=kT_star, **settings)
        b = run.books
        W, rho, var_g, var_g_se, bound = b.W, b.rho, b.var_g, b.var_g_se, b.bound
        G = W / bound if bound > 0 else float("nan")
        dW = np.diff(run.records["W"])
        dW = dW[np.isfinite(dW)]
        W_se = float(math.sqrt(dW.size) * dW.std(ddof=1)) if dW.size >= 2 else float("nan")
        rel_T = kT_star_se / kT_star
        G_se = abs(G) * math.sqrt(rel_T ** 2 + (var_g_se / var_g) ** 2) if var_g > 0 else float("nan")
        wk = W / kT_star
        wk_se = abs(wk) * math.sqrt(rel_T ** 2 + (W_se / W) ** 2) if W > 0 else float("nan")
        meas = _measured_gamma(b, run.records, bound, rel_T, W, W_se)
    for c in chains:
        c.pop("series", None)
    return TStarResult(
        kT_grid=np.asarray(kT_grid), E=E, E_se=E_se, E0=E0, E0_se=E0_se,
        loss_excess=np.array([c["loss_excess"] for c in chains[1:]]),
        loss_excess_se=np.array([c["loss_excess_se"] for c in chains[1:]]), loss0=c0["loss_mean"],
        loss_star=loss_star, kT_star=kT_star, kT_star_se=kT_star_se, bracketed=bracketed, how=how,
        kT_guess=kT_guess, F_star=F_star, optimum=opt_info, theta_star=net_star.theta.copy(), train=run, W=W,
        W_se=W_se, rho=rho, var_g=var_g, var_g_se=var_g_se, bound=bound, W_over_kT_star=wk,
        W_over_kT_star_se=wk_se, Gamma=G, Gamma_se=G_se, n_params=N, presentations=int(presentations),
        chains=chains, **(meas if run is not None else {}))


def _measured_gamma(b, records: dict, bound: float, rel_T: float, W: float, W_se: float) -> dict:
    """Gamma from the measured parameter heat and from the switching work minus the neuron heat (with SEs;
    the SE of W_sw - Q_x comes from the batch means of the difference, the two being strongly correlated)."""
    nan = float("nan")
    if not (b.energetics and bound > 0):
        return {}
    rel_rho = (b.var_g_se / b.var_g) ** 2 + (W_se / W) ** 2 if b.var_g > 0 and W > 0 else nan
    gm = b.Q_theta / bound
    gm_se = abs(gm) * math.sqrt(rel_T ** 2 + rel_rho + (b.Q_theta_se / b.Q_theta) ** 2) if b.Q_theta else nan
    ws = b.W_sw - b.Q_x
    gs = ws / bound
    d = np.diff(np.asarray(records["W_sw"], float) - np.asarray(records["Q_x"], float))
    dp = np.diff(np.asarray(records["presentation"], float))
    full = dp == dp.max() if dp.size else dp > 0
    ws_se = (float(b.presentations * np.std(d[full] / dp[full], ddof=1) / math.sqrt(full.sum()))
             if full.sum() >= 2 else nan)
    gs_se = abs(gs) * math.sqrt(rel_T ** 2 + rel_rho + (ws_se / ws) ** 2) if ws else nan
    return {"Q_theta": b.Q_theta, "Q_theta_se": b.Q_theta_se, "Gamma_measured": gm, "Gamma_measured_se": gm_se,
            "Gamma_switch": gs, "Gamma_switch_se": gs_se}
