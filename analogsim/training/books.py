r"""Energy books of a training run (Eq. 15-16) and the result object.

What is accumulated (per presentation s with entry or batch alpha_s, theta_s the parameters before
its update, g_s = dF_alpha/dtheta + lambda theta at theta_s; with k substeps each substep contributes):

* ``W`` = sum over (sub)steps of mu tau_sub |g|^2 with tau_sub = tau_inf/k: the dissipated work of
  Eq. 15, W = int dtheta/dt . dF/dtheta dt along the drift (the heat the parameter friction releases),
  in energy units. (The thermal noise adds no mean work in the Ito sense and is not booked.)
* ``mean_gsq`` = <|g|^2>, the mean over (sub)steps.
* ``var_g`` = sum over parameters k of var_s(g_{s,k}), the variance along the trajectory of the
  presentation gradient (substeps averaged within a presentation), by Welford's update of the
  per-parameter mean with the sum over parameters of the M2 terms; unbiased (divides by S - 1).
* ``rho`` = mean_gsq / var_g and ``bound`` = 2 N S <kT> rho (Eq. 16 with the paper's D read as the
  number of presentations S, §7 of the physics notes; <kT> is the temperature averaged over presentations).

``W`` is the *prediction* of Eq. 15 (also available as ``W_eq15``). What the simulated machine actually
spends is measured (stochastic energetics, Sekimoto), per presentation and summed over the run:

* ``W_sw``: switching work, the change of H when the clamps (input and output) move from one entry to the
  next at fixed neuron and parameter state (abruptly, or along a ramp of ``tau_switch`` in the joint
  fidelity). This is what the data source spends on the machine.
* ``Q_x``: neuron heat released. Separated fidelity: the drop of H as the neurons go to the clamped
  minimum (after the switch and after every parameter substep). Joint fidelity: the Stratonovich heat of
  the neuron Langevin moves, -1/2 (dH/dx_k + dH/dx_{k+1}) . dx_k (trapezoid rule). ``Q_x_switch`` is the
  part released during a ramp.
* ``Q_theta``: parameter heat released, Stratonovich (trapezoid rule; the thermal noise contributes):
  its mean per step is mu tau |g|^2 - mu tau kT tr(Hess_theta H) + O(step^2). ``Q_theta_ito`` is the Ito
  sum -g_k . dtheta_k, whose mean is Eq. 15's mu tau |g|^2 (a control, not a heat).
* ``delta_H``: H at the end minus H at the start (weight decay included); the first law per presentation
  is delta_H = W_sw - Q_x - Q_theta + residual, with the residual (the trapezoid rule's discretisation
  error; exact energy differences are used where the issue allows) summed signed
  (``first_law_residual``), absolute (``first_law_residual_abs``) and its largest value
  (``first_law_residual_max``). It shrinks with the step at the integrator's order.

Energies of a batch of B entries are the mean over its rows (the potential the averaged stress descends).
Standard errors (``*_se``) of the totals come from batch means over the record windows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from ..kernels.train import (A_DH, A_F, A_GSQ, A_M2, A_MAXSW, A_N, A_NSUB, A_QTH, A_QTHI, A_QX, A_QXSW, A_RES,
                             A_RESABS, A_RESMAX, A_SUMSW, A_W, A_WSW)

__all__ = ["Books", "TrainResult", "RECORD_FIELDS"]

RECORD_FIELDS = ("presentation", "time", "kT", "train_loss", "test_loss", "W", "mean_gsq", "var_g",
                 "var_g_window", "energy_window", "fallbacks", "W_sw", "Q_x", "Q_theta", "Q_theta_ito", "delta_H",
                 "first_law_residual_abs")
#: record fields that are cumulative energies (the measured books and Eq. 15's W)
ENERGY_FIELDS = ("W", "W_sw", "Q_x", "Q_theta", "Q_theta_ito", "delta_H", "first_law_residual_abs")


@dataclass(frozen=True)
class Books:
    """Training energy books (Eq. 15-16). See the module docstring for what each entry accumulates.

    Attributes
    ----------
    n_params : int
        N.
    presentations : int
        S, presentations booked.
    W : float
        Dissipated work, energy units.
    mean_gsq : float
        <|grad F|^2>.
    var_g : float
        var(grad F) along the trajectory (summed over parameters); nan if not booked.
    var_g_se : float
        Standard error of ``var_g`` from the spread of its per-record-window values; nan if < 2 windows.
    rho : float
        mean_gsq / var_g.
    kT_mean : float
        Temperature averaged over the presentations.
    bound : float
        2 N S kT_mean rho (Eq. 16, D = S).
    sweeps_mean, sweeps_max : float
        Fixed-point sweeps per clamped minimum (diagnostic).
    energetics : bool
        Whether the measured books below were kept (``TrainConfig.energetics``); if not they are nan.
    W_sw, Q_x, Q_x_switch, Q_theta, Q_theta_ito, delta_H : float
        Measured totals over the run (energy units; module docstring): switching work, neuron heat (and its
        part during clamp ramps), Stratonovich parameter heat, Ito parameter sum, energy change.
    first_law_residual, first_law_residual_abs, first_law_residual_max : float
        delta_H - (W_sw - Q_x - Q_theta) summed signed, summed absolute, and the largest per presentation.
    W_sw_se, Q_x_se, Q_theta_se, Q_theta_ito_se, W_se : float
        Standard errors of those totals (and of ``W``) from batch means over the record windows (nan with
        fewer than 2 full windows).

    Examples
    --------
    >>> from analogsim import Network
    >>> from analogsim.data import teacher_student
    >>> from analogsim.training import train
    >>> ds = teacher_student(n_in=2, n_out=1, n_train=16, n_test=0, seed=0)
    >>> net = Network.create([2, 3, 1], activations=["tanh", "identity"], seed=1)
    >>> b = train(net, ds, presentations=200, mu=50.0, kappa_out=1e-3, kT=1e-7, seed=2).books
    >>> abs(b.delta_H - (b.W_sw - b.Q_x - b.Q_theta)) < 1e-12      # the first law, per run
    True
    >>> b.Q_x > b.Q_theta > 0                                      # abrupt switching: neuron heat dominates
    True
    """

    n_params: int
    presentations: int
    W: float
    mean_gsq: float
    var_g: float
    var_g_se: float
    rho: float
    kT_mean: float
    bound: float
    energy_mean: float
    sweeps_mean: float
    sweeps_max: float
    energetics: bool = False
    W_sw: float = float("nan")
    Q_x: float = float("nan")
    Q_x_switch: float = float("nan")
    Q_theta: float = float("nan")
    Q_theta_ito: float = float("nan")
    delta_H: float = float("nan")
    first_law_residual: float = float("nan")
    first_law_residual_abs: float = float("nan")
    first_law_residual_max: float = float("nan")
    W_sw_se: float = float("nan")
    Q_x_se: float = float("nan")
    Q_theta_se: float = float("nan")
    Q_theta_ito_se: float = float("nan")
    W_se: float = float("nan")

    @property
    def W_over_bound(self) -> float:
        return self.W / self.bound if self.bound > 0 else float("nan")

    @property
    def W_eq15(self) -> float:
        """Eq. 15's prediction mu tau <|grad F|^2> summed over the (sub)steps (the same number as ``W``)."""
        return self.W

    @property
    def W_eq15_se(self) -> float:
        return self.W_se

    @property
    def Q_total(self) -> float:
        """Q_x + Q_theta: all heat released (equals W_sw - delta_H up to the first-law residual)."""
        return self.Q_x + self.Q_theta

    @property
    def Q_x_over_Q_theta(self) -> float:
        """Neuron heat over parameter heat (how much of the budget a slower data presentation could remove)."""
        return self.Q_x / self.Q_theta if self.Q_theta != 0 else float("nan")

    @property
    def first_law_relative(self) -> float:
        """Summed |first-law residual| over the summed |W_sw| + |Q_x| + |Q_theta| (nan without books). Rounding
        level (~1e-15) in the separated fidelity; the trapezoid rule's O(dt) in the joint one: a value above
        ~1e-3 means the joint step dt is too coarse for the books."""
        scale = abs(self.W_sw) + abs(self.Q_x) + abs(self.Q_theta)
        return self.first_law_residual_abs / scale if scale > 0 else float("nan")

    @property
    def Q_theta_over_W_eq15(self) -> float:
        """Measured parameter heat over Eq. 15's prediction."""
        return self.Q_theta / self.W if self.W != 0 else float("nan")

    @classmethod
    def from_state(cls, acc, n_params: int, kT_sum: float, var_windows=(), energetics: bool = False,
                   records: dict | None = None) -> "Books":
        n = float(acc[A_N])
        nsub = float(acc[A_NSUB])
        mean_gsq = float(acc[A_GSQ] / nsub) if nsub > 0 else float("nan")
        var_g = float(acc[A_M2] / (n - 1)) if n > 1 else float("nan")
        vw = np.asarray([v for v in var_windows if np.isfinite(v)], dtype=float)
        var_se = float(vw.std(ddof=1) / np.sqrt(vw.size)) if vw.size >= 2 else float("nan")
        rho = mean_gsq / var_g if var_g and var_g > 0 else float("nan")
        kT_mean = kT_sum / n if n > 0 else 0.0
        bound = 2.0 * n_params * n * kT_mean * rho
        nan = float("nan")
        e = bool(energetics)

        def m(i):
            return float(acc[i]) if e else nan

        ses = {k: _total_se(records, k, n) for k in ("W", "W_sw", "Q_x", "Q_theta", "Q_theta_ito")}
        if not e:
            ses.update({k: nan for k in ("W_sw", "Q_x", "Q_theta", "Q_theta_ito")})
        return cls(n_params=int(n_params), presentations=int(n), W=float(acc[A_W]), mean_gsq=mean_gsq,
                   var_g=var_g, var_g_se=var_se, rho=float(rho), kT_mean=float(kT_mean), bound=float(bound),
                   energy_mean=float(acc[A_F] / nsub) if nsub > 0 else float("nan"),
                   sweeps_mean=float(acc[A_SUMSW] / nsub) if nsub > 0 else float("nan"),
                   sweeps_max=float(acc[A_MAXSW]), energetics=e, W_sw=m(A_WSW), Q_x=m(A_QX), Q_x_switch=m(A_QXSW),
                   Q_theta=m(A_QTH), Q_theta_ito=m(A_QTHI), delta_H=m(A_DH), first_law_residual=m(A_RES),
                   first_law_residual_abs=m(A_RESABS), first_law_residual_max=m(A_RESMAX),
                   W_sw_se=ses["W_sw"], Q_x_se=ses["Q_x"], Q_theta_se=ses["Q_theta"],
                   Q_theta_ito_se=ses["Q_theta_ito"], W_se=ses["W"])

    def to_dict(self) -> dict:
        """All fields plus the derived ratios (``W_over_bound``, ``W_eq15``, ``Q_x_over_Q_theta``, ...)."""
        d = dict(self.__dict__)
        d["W_over_bound"] = self.W_over_bound
        d["W_eq15"] = self.W_eq15
        d["W_eq15_se"] = self.W_eq15_se
        d["Q_total"] = self.Q_total
        d["Q_x_over_Q_theta"] = self.Q_x_over_Q_theta
        d["Q_theta_over_W_eq15"] = self.Q_theta_over_W_eq15
        d["first_law_relative"] = self.first_law_relative
        return d


def _total_se(records, name: str, S: float) -> float:
    """Standard error of a cumulative total over S presentations from batch means over the record windows.

    Uses the windows of the most common length (the last, shorter one is left out); the per-presentation
    mean of each window is one batch mean, and the SE of the total is S * std(batch means) / sqrt(n)."""
    if not records or name not in records:
        return float("nan")
    c = np.asarray(records[name], dtype=float)
    ps = np.asarray(records["presentation"], dtype=float)
    if c.size < 3:
        return float("nan")
    dp = np.diff(ps)
    dv = np.diff(c)
    ok = (dp > 0) & np.isfinite(dv)
    if ok.sum() < 2:
        return float("nan")
    full = ok & (dp == np.max(dp[ok]))
    if full.sum() < 2:
        return float("nan")
    bm = dv[full] / dp[full]
    return float(S * bm.std(ddof=1) / np.sqrt(bm.size))


@dataclass
class TrainResult:
    """What :func:`analogsim.training.train` returns.

    Attributes
    ----------
    net : Network
        The trained network (a copy; the input network is not modified).
    theta : ndarray
        Final parameters (same as ``net.theta``).
    books : Books
    records : dict of str -> ndarray
        Curves sampled every ``eval_every`` presentations (fields :data:`RECORD_FIELDS`): presentations
        done, time s*tau_inf, kT, train and held-out MSE loss mean 0.5|f(x) - t|^2 (zero-temperature
        forward pass), cumulative W, <|g|^2>, var(g), the variance and mean F_alpha within the window,
        fallbacks so far.
    config : TrainConfig
    seed : int
    n_substeps : int
        Parameter steps per presentation actually used.
    dt : float or None
        Joint dynamics step.
    fallbacks : int
        Clamped minima solved by the Newton reference because the fixed point did not converge.
    resumed_from : int or None
        Presentation a checkpoint resumed from.
    hook_log : list of (int, object)
        Non-None values returned by the hook, with the presentation index.
    wall_time : float
        Seconds spent in this call.
    config_hash : str

    Examples
    --------
    A [2, 3, 1] tanh student trained for S = 200 presentations at kT = 1e-4 (energy units): the books carry
    Eq. 15's work W and Eq. 16's bound 2 N S rho kT, the records the loss curves every ``eval_every``:

    >>> import json
    >>> from analogsim import Network
    >>> from analogsim.data import teacher_student
    >>> from analogsim.training import train
    >>> ds = teacher_student(n_in=2, n_out=1, n_train=16, n_test=16, seed=0)
    >>> net = Network.create([2, 3, 1], activations=["tanh", "identity"], seed=1)
    >>> r = train(net, ds, presentations=200, mu=0.3, kappa_out=0.1, kT=1e-4, seed=2, eval_every=50)
    >>> r.records["presentation"].tolist(), r.books.n_params, r.health
    ([0, 50, 100, 150, 200], 13, [])
    >>> b = r.books
    >>> bool(abs(b.bound - 2 * b.n_params * b.presentations * b.rho * b.kT_mean) <= 1e-9 * b.bound)
    True
    >>> s = json.loads(r.to_json())
    >>> s["presentations"], bool(s["final_test_loss"] > 0)
    (200, True)
    """

    net: object
    theta: np.ndarray
    books: Books
    records: dict
    config: object
    seed: int
    n_substeps: int
    dt: float | None
    fallbacks: int
    resumed_from: int | None
    hook_log: list = field(default_factory=list)
    wall_time: float = 0.0
    config_hash: str = ""

    @property
    def final_train_loss(self) -> float:
        return float(self.records["train_loss"][-1]) if len(self.records["train_loss"]) else float("nan")

    @property
    def final_test_loss(self) -> float:
        return float(self.records["test_loss"][-1]) if len(self.records["test_loss"]) else float("nan")

    @property
    def health(self) -> list:
        """Health flags of this run (:func:`analogsim.report.health.judge_train`): loss exploded or non-finite,
        fallback solver on most steps; empty if healthy. ``analogsim.report.health.format_flags`` prints them."""
        from ..report.health import judge_train

        return judge_train(self)

    def summary(self) -> dict:
        """A JSON-serialisable summary (books, final losses, settings, a hash of the final parameters)."""
        import hashlib

        return {
            "presentations": self.books.presentations,
            "n_params": self.books.n_params,
            "books": self.books.to_dict(),
            "final_train_loss": self.final_train_loss,
            "final_test_loss": self.final_test_loss,
            "theta_sha256": hashlib.sha256(np.ascontiguousarray(self.theta).tobytes()).hexdigest(),
            "theta_norm": float(np.linalg.norm(self.theta.astype(np.float64))),
            "config": self.config.to_json(),
            "seed": self.seed,
            "n_substeps": self.n_substeps,
            "dt": self.dt,
            "fallbacks": self.fallbacks,
            "resumed_from": self.resumed_from,
            "wall_time": self.wall_time,
            "config_hash": self.config_hash,
            "health": [f.to_dict() for f in self.health],
        }

    def to_json(self) -> str:
        from .._io import _json_default

        return json.dumps(self.summary(), default=_json_default)
