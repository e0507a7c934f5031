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
  number of presentations S, PHYSICS.md §7; <kT> is the temperature averaged over presentations).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from ..kernels.train import A_F, A_GSQ, A_M2, A_MAXSW, A_N, A_NSUB, A_SUMSW, A_W

__all__ = ["Books", "TrainResult", "RECORD_FIELDS"]

RECORD_FIELDS = ("presentation", "time", "kT", "train_loss", "test_loss", "W", "mean_gsq", "var_g",
                 "var_g_window", "energy_window", "fallbacks")


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

    @property
    def W_over_bound(self) -> float:
        return self.W / self.bound if self.bound > 0 else float("nan")

    @classmethod
    def from_state(cls, acc, n_params: int, kT_sum: float, var_windows=()) -> "Books":
        n = float(acc[A_N])
        nsub = float(acc[A_NSUB])
        mean_gsq = float(acc[A_GSQ] / nsub) if nsub > 0 else float("nan")
        var_g = float(acc[A_M2] / (n - 1)) if n > 1 else float("nan")
        vw = np.asarray([v for v in var_windows if np.isfinite(v)], dtype=float)
        var_se = float(vw.std(ddof=1) / np.sqrt(vw.size)) if vw.size >= 2 else float("nan")
        rho = mean_gsq / var_g if var_g and var_g > 0 else float("nan")
        kT_mean = kT_sum / n if n > 0 else 0.0
        bound = 2.0 * n_params * n * kT_mean * rho
        return cls(n_params=int(n_params), presentations=int(n), W=float(acc[A_W]), mean_gsq=mean_gsq,
                   var_g=var_g, var_g_se=var_se, rho=float(rho), kT_mean=float(kT_mean), bound=float(bound),
                   energy_mean=float(acc[A_F] / nsub) if nsub > 0 else float("nan"),
                   sweeps_mean=float(acc[A_SUMSW] / nsub) if nsub > 0 else float("nan"),
                   sweeps_max=float(acc[A_MAXSW]))

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d["W_over_bound"] = self.W_over_bound
        return d


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
        """Health flags of this run (:func:`analogsim.health.judge_train`): loss exploded or non-finite,
        fallback solver on most steps; empty if healthy. ``analogsim.health.format_flags`` prints them."""
        from ..health import judge_train

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
