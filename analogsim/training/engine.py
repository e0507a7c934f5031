r"""The training loop: parameter Langevin annealing driven by the stress (Eq. 8-12).

Separated time scales (``fidelity='separated'``). For presentation s with entry alpha (input x_0 and
target t clamped, output spring kappa_out), the neurons sit at the clamped minimum of H (found to
machine precision by the fixed-point kernel, Newton fallback), and the parameters take the step

    theta <- theta - mu tau_inf (dF_alpha/dtheta + lambda theta) + sqrt(2 kT_s mu tau_inf) xi,  xi ~ N(0, I)

This is the exact discrete update of Eq. 11 with the stress held fixed over the presentation (Euler
step of length tau_inf); its noise term is exact for that step (the integral of the white noise of
Eq. 12 over tau_inf). At kT = 0 it is torch's SGD step with learning rate mu tau_inf kappa_out on the
loss 0.5|f - t|^2 up to the O(kappa_out/kappa_hidden) difference between stress and backprop
(docs/crosscheck.md). With ``substeps = k`` the presentation is split into k such steps of tau_inf/k, the
clamped minimum re-solved before each (k -> infinity: the continuous flow within a presentation).
The neurons are at their zero-temperature clamped minimum; their thermal fluctuations (an O(kT/kappa)
correction to <dH/dtheta>) are part of the joint fidelity only.

Joint dynamics (``fidelity='joint'``): neurons and parameters follow Euler-Maruyama Langevin dynamics
together (mobilities Gamma and mu, step dt); the neuron state carries over from entry to entry, as in
a physical machine. As Gamma/mu grows (at fixed mu tau_inf) it approaches the separated limit.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import numpy as np

from .._checks import check_scalar
from ..data import Dataset
from ..errors import CheckpointError, DivergenceError
from ..model.network import Network
from ..kernels.train import A_DH, A_QTH, A_QTHI, A_QX, A_RESABS, A_WSW, N_ACC
from ..kernels.train_step import prev_size
from .books import RECORD_FIELDS, Books, TrainResult
from .loss import (  # noqa: F401  (re-exported: part of this module's API)
    _kernel_net, _Workspace, coerce_data, effective_output_stiffness, mse_loss)
from .config import TrainConfig, config_digest, noise_state, presentation_order

log = logging.getLogger(__name__)

__all__ = ["train", "coerce_data", "effective_output_stiffness"]

_CHUNK_CAP = 1 << 15  # presentations per kernel call
_WORK_CAP = 1 << 22  # (parameters + neurons) x steps per kernel call: keeps calls short for checkpoints
_RUNAWAY = 1e3  # |theta| growth (over |theta_0| + 1) that counts as a runaway
_FIRST_LAW_WARN = 1e-3  # first-law residual (relative to the budget) above which train() warns
_ENERGY_ACC = {"W_sw": A_WSW, "Q_x": A_QX, "Q_theta": A_QTH, "Q_theta_ito": A_QTHI, "delta_H": A_DH,
               "first_law_residual_abs": A_RESABS}


_START_LOSSES: dict = {}  # (theta0 sha256, sizes, activations, dtype, data sha256) -> (train, test) loss at s = 0


class _Run:
    """State of one training run (everything a checkpoint stores)."""

    def __init__(self, net: Network, ds: Dataset, cfg: TrainConfig, seed: int, eval_every: int):
        self.cfg = cfg
        self.seed = seed
        self.ds = ds
        self.eval_every = eval_every
        self.net = net.copy()  # the working net: its theta is updated in place by the kernels
        self.N = self.net.n_params
        self.kout = effective_output_stiffness(self.net, cfg.kappa_out)
        self.kout_soft = (np.full(self.net.sizes[-1], cfg.kappa_out, self.net.dtype) if cfg.kappa_out is not None
                          else np.zeros(self.net.sizes[-1], self.net.dtype))
        self.tol = cfg.tol if cfg.tol is not None else 8 * float(np.finfo(self.net.dtype).eps)
        self.has_noise = not cfg.kT.is_zero
        self.s = 0
        self.acc = np.zeros(N_ACC, np.float64)
        self.gmean = np.zeros(self.N, np.float64)
        self.gacc = np.zeros(self.N, np.float64)
        self.acc_rec = self.acc.copy()
        self.gmean_rec = self.gmean.copy()
        self.fallbacks = 0
        self.theta0_norm = float(np.linalg.norm(net.theta.astype(np.float64)))
        self.records = {k: [] for k in RECORD_FIELDS}
        self.rng = noise_state(seed)
        self.hook_log = []
        self.ws = _Workspace(self.net, cfg.batch_size)
        self.hard = cfg.kappa_out is None
        self.energetics = cfg.energetics
        dtype = self.net.dtype
        if cfg.fidelity == "joint":
            self.dt, self.n_sub = _joint_step(self.net, cfg)
            self.n_sw, self.dt_sw = _switch_steps(self.net, cfg, self.dt)
            x0 = ds.x_train[presentation_order(ds.n_train, 1, cfg.order, seed)[0, 0]]
            xs = self.net.forward(x0)
            self.X = np.ascontiguousarray(np.concatenate([x[0] for x in xs[1:]]), dtype=dtype)
            # the clamps now applied (input, target): carried from one presentation to the next
            self.prev = np.zeros(self.net.sizes[0] + self.net.sizes[-1], dtype)
        else:
            self.dt, self.n_sub = None, (cfg.substeps or 1)
            self.n_sw, self.dt_sw = 0, 0.0
            self.X = np.zeros(0, dtype)
            # the neurons a clamp switch acts on (see analogsim.kernels.train_step.heat_pass)
            self.prev = np.zeros(prev_size(self.net.sizes, cfg.batch_size), dtype)

    # ------------------------------------------------------------------ identity
    def config_hash(self, theta0: np.ndarray) -> str:
        import hashlib

        net = self.net
        ident = {
            "format": "analogsim.train/1",
            "net": {"sizes": list(net.sizes), "activations": list(net.activation_names), "dtype": net.dtype.name,
                    "theta0_sha256": hashlib.sha256(np.ascontiguousarray(theta0).tobytes()).hexdigest(),
                    "kappa_sha256": hashlib.sha256(net.kappa_flat.tobytes()).hexdigest()},
            "data": self.ds.fingerprint(),
            "config": self.cfg.to_json(),
            "seed": self.seed,
            "eval_every": self.eval_every,
        }
        self.identity = ident  # kept in checkpoints: a refused resume names what differs
        return config_digest(ident)

    # ------------------------------------------------------------------ kernels
    def run_chunk(self, s0: int, s1: int) -> None:
        if self.cfg.fidelity == "joint":
            self._joint_chunk(s0, s1)
        else:
            self._separated_chunk(s0, s1)
        self.s = s1

    def _separated_chunk(self, s0: int, s1: int) -> None:
        from ..kernels.train import NONFINITE
        from ..kernels.train_step import separated_chunk

        cfg, ws, n_sub = self.cfg, self.ws, self.n_sub
        P = s1 - s0
        idx = presentation_order(self.ds.n_train, s1, cfg.order, self.seed, batch_size=cfg.batch_size, start=s0)
        kTs = cfg.kT_values(s0, s1)
        cn = np.sqrt(2.0 * kTs * cfg.mu * cfg.tau_inf / n_sub)
        theta, sizes, w_off, b_off, acts, kappa, k_off = _kernel_net(self.net)
        eta = cfg.mu * cfg.tau_inf
        p, j = 0, 0
        while p < P:
            st, jj = separated_chunk(theta, sizes, w_off, b_off, acts, kappa, k_off, self.kout,
                                     self.ds.x_train, self.ds.t_train, idx, p, j, n_sub, eta, cfg.weight_decay,
                                     cn, self.rng, ws.nbuf[:self.N], self.has_noise, cfg.books, self.acc,
                                     self.gmean, self.gacc,
                                     ws.x0, ws.tb, ws.Y, ws.FP, ws.DEL, ws.XS, ws.SIG, ws.FV, ws.YN, ws.scr,
                                     ws.relg, ws.hrow,
                                     ws.gbuf, self.tol, cfg.max_sweeps, self.energetics, self.kout_soft, self.hard,
                                     ws.DY, self.prev, ws.eres)
            if st >= 0:
                break
            if st <= -NONFINITE:
                pp = -NONFINITE - st
                cause = self._lr_cause()
                raise DivergenceError(f"non-finite parameter gradient at presentation {s0 + pp}: {cause}",
                                      step=s0 + pp, cause=cause)
            p, j = -1 - st, jj
            self._newton_substep(idx[p], p, j, eta / n_sub, cn[p], n_sub)
            self.fallbacks += 1
            j += 1
            if j == n_sub:
                p, j = p + 1, 0

    def _newton_substep(self, rows, p, j, eta_sub, cnoise, n_sub) -> None:
        """One substep whose clamped minimum the fixed point did not reach: Newton reference, same update."""
        from ..model.equilibrium import clamped_minimum
        from ..kernels.rng import fill_normal
        from ..kernels.train_step import apply_substep, energetics_substep, state_forward

        cfg, ws, net = self.cfg, self.ws, self.net
        x0 = self.ds.x_train[rows]
        t = self.ds.t_train[rows]
        step = self.s + p
        self.check_runaway(step)
        m = clamped_minimum(net, x0, t, output_stiffness=cfg.kappa_out, max_iter=200)
        if not m.converged and not m.grad_norm < 1e-6:
            cause = (f"{self._lr_cause()}; if the parameters are sane, the output clamp may be too stiff for "
                     f"the network (lower kappa_out)")
            raise DivergenceError(f"clamped minimum not found for presentation {step} (relative gradient "
                                  f"{m.grad_norm:.2e}, |theta| = {np.linalg.norm(net.theta):.3g}): {cause}",
                                  step=step, cause=cause)
        B = len(rows)
        ws.x0[:B * net.sizes[0]] = m.xs[0].ravel()
        ws.tb[:B * net.sizes[-1]] = np.asarray(t, dtype=net.dtype).ravel()
        for l in range(1, net.depth + 1):
            ws.put(ws.XS, l, m.xs[l])
            ws.put(ws.SIG, l, m.stress[l - 1])
        theta, sizes, w_off, b_off, acts, kappa, k_off = _kernel_net(net)
        if self.energetics:
            state_forward(theta, sizes, w_off, b_off, acts, k_off, ws.x0, ws.XS, B, ws.Y, ws.FV, ws.FP, ws.DEL)
        nbuf = ws.nbuf[:self.N]
        if self.has_noise:
            fill_normal(self.rng, nbuf)
        gsq = apply_substep(theta, sizes, w_off, b_off, k_off, ws.x0, ws.XS, ws.SIG, B, eta_sub, cfg.weight_decay,
                            float(cnoise), nbuf, 0, self.has_noise, cfg.books, self.acc, self.gmean, self.gacc,
                            ws.gbuf, float(np.mean(m.energy)), float(m.n_iter), j == n_sub - 1, n_sub, ws.eres[3:],
                            self.energetics)
        if not math.isfinite(gsq):
            cause = self._lr_cause()
            raise DivergenceError(f"non-finite parameter gradient at presentation {step}: {cause}", step=step,
                                  cause=cause)
        if self.energetics:
            ws.hrow[:B] = np.asarray(m.energy, dtype=np.float64).ravel()
            energetics_substep(theta, sizes, w_off, b_off, acts, kappa, k_off, self.kout, self.kout_soft, self.hard,
                               ws.x0, ws.tb, ws.Y, ws.FV, ws.FP, ws.DEL, ws.YN, ws.DY, B, ws.hrow, self.tol,
                               self.prev, self.acc, j, n_sub, gsq, ws.eres[3], ws.eres[4], eta_sub, float(cnoise),
                               cfg.weight_decay, ws.eres, False)

    def _lr_cause(self) -> str:
        cfg = self.cfg
        lr = "" if cfg.learning_rate is None else f", learning rate mu*tau_inf*kappa_out = {cfg.learning_rate:.3g}"
        return (f"the parameter step is too large: reduce mu*tau_inf (now {cfg.mu * cfg.tau_inf:.3g}{lr}) "
                f"or the temperature")

    def check_runaway(self, step: int) -> None:
        """Raise DivergenceError when |theta| has grown more than RUNAWAY-fold (plus 1) since the start."""
        norm = float(np.linalg.norm(self.net.theta.astype(np.float64)))
        if not math.isfinite(norm) or norm > _RUNAWAY * (self.theta0_norm + 1.0):
            cause = self._lr_cause()
            raise DivergenceError(f"parameters ran away by presentation {step} (|theta| = {norm:.3g}, from "
                                  f"{self.theta0_norm:.3g}): {cause}", step=step, cause=cause)

    def _joint_chunk(self, s0: int, s1: int) -> None:
        from ..kernels.train import NONFINITE
        from ..kernels.train_joint import joint_chunk

        cfg, net = self.cfg, self.net
        P = s1 - s0
        idx = presentation_order(self.ds.n_train, s1, cfg.order, self.seed, start=s0)[:, 0].copy()
        kTs = cfg.kT_values(s0, s1)
        cx = np.sqrt(2.0 * cfg.neuron_mobility * kTs * self.dt)
        cth = np.sqrt(2.0 * cfg.mu * kTs * self.dt)
        cx_sw = np.sqrt(2.0 * cfg.neuron_mobility * kTs * self.dt_sw)
        nfree = net.n_neurons - (0 if cfg.kappa_out is not None else net.sizes[-1])
        theta, sizes, w_off, b_off, acts, kappa, k_off = _kernel_net(net)
        nn = net.n_neurons
        z = lambda dtype=net.dtype: np.zeros(nn, dtype)  # noqa: E731
        st = joint_chunk(theta, sizes, w_off, b_off, acts, kappa, k_off, self.kout_soft, cfg.kappa_out is None,
                         self.ds.x_train, self.ds.t_train, idx, self.n_sub, self.dt, cfg.neuron_mobility, cfg.mu,
                         cfg.weight_decay, cx, cth, self.rng, self.ws.nbuf[:nfree + self.N], self.has_noise,
                         cfg.books, self.acc, self.gmean,
                         self.gacc, self.X, z(), z(), z(), z(), z(), self.prev[:net.sizes[0]],
                         self.prev[net.sizes[0]:], self.energetics, self.n_sw, self.dt_sw, cx_sw,
                         np.zeros(self.prev.size, net.dtype), np.zeros(max(nfree, 1), net.dtype), self.ws.dth)
        if st < 0:
            pp = -NONFINITE - st
            cause = (f"reduce dt (now {self.dt:.3g}; give more substeps) or mu*tau_inf (now "
                     f"{cfg.mu * cfg.tau_inf:.3g}) or the temperature")
            raise DivergenceError(f"non-finite state at presentation {s0 + pp}: {cause}", step=s0 + pp, cause=cause)

    # ------------------------------------------------------------------ records
    def record(self) -> None:
        from ..kernels.train import A_F, A_M2, A_N, A_NSUB

        ds, net = self.ds, self.net
        r = self.records
        n1, n2 = self.acc_rec[A_N], self.acc[A_N]
        nb = n2 - n1
        if nb >= 2 and self.cfg.books:
            mb = (n2 * self.gmean - n1 * self.gmean_rec) / nb
            m2b = self.acc[A_M2] - self.acc_rec[A_M2] - (n1 * nb / n2) * float(np.sum((mb - self.gmean_rec) ** 2))
            var_w = m2b / (nb - 1)
        else:
            var_w = float("nan")
        ns = self.acc[A_NSUB] - self.acc_rec[A_NSUB]
        books = Books.from_state(self.acc, self.N, 0.0)
        r["presentation"].append(self.s)
        r["time"].append(self.s * self.cfg.tau_inf)
        r["kT"].append(float(self.cfg.kT_values(self.s - 1, self.s)[0]) if self.s > 0 else float("nan"))
        key = None
        if self.s == 0 and getattr(self, "identity", None) is not None:
            # the curves' starting point depends only on (theta0, net, data): kept for the next call with the
            # same start (repeated runs from one network: chains of the T* search, benchmarks, sweeps)
            ni = self.identity["net"]
            key = (ni["theta0_sha256"], tuple(ni["sizes"]), tuple(ni["activations"]), ni["dtype"],
                   self.identity["data"])
        losses = _START_LOSSES.get(key) if key is not None else None
        if losses is None:
            losses = (mse_loss(net, ds.x_train, ds.t_train, self.ws), mse_loss(net, ds.x_test, ds.t_test, self.ws))
            if key is not None:
                if len(_START_LOSSES) >= 16:
                    _START_LOSSES.pop(next(iter(_START_LOSSES)))
                _START_LOSSES[key] = losses
        r["train_loss"].append(losses[0])
        r["test_loss"].append(losses[1])
        r["W"].append(books.W)
        r["mean_gsq"].append(books.mean_gsq)
        r["var_g"].append(books.var_g if self.cfg.books else float("nan"))
        r["var_g_window"].append(var_w)
        r["energy_window"].append((self.acc[A_F] - self.acc_rec[A_F]) / ns if ns > 0 else float("nan"))
        r["fallbacks"].append(self.fallbacks)
        for k, i in _ENERGY_ACC.items():
            r[k].append(float(self.acc[i]) if self.energetics else float("nan"))
        self.acc_rec = self.acc.copy()
        self.gmean_rec = self.gmean.copy()

    def kT_sum(self) -> float:
        """Exactly rounded sum of kT over the presentations done (independent of how the run was chunked)."""
        if self.cfg.kT.kind == "constant":
            return self.cfg.kT.start * self.s
        blocks = (self.cfg.kT_values(a, min(a + 65536, self.s)) for a in range(0, self.s, 65536))
        return math.fsum(v for b in blocks for v in b.tolist())

    def books(self) -> Books:
        vw = self.records["var_g_window"]
        return Books.from_state(self.acc, self.N, self.kT_sum(), vw, energetics=self.energetics,
                                records=self.records)

    # ------------------------------------------------------------------ checkpoints
    def save(self, path, config_hash: str, wall: float) -> None:
        from ..data.checkpoint import save_checkpoint

        arrays = {"theta": self.net.theta, "gmean": self.gmean, "acc": self.acc, "acc_rec": self.acc_rec,
                  "gmean_rec": self.gmean_rec, "X": self.X, "rng_state": self.rng, "prev": self.prev}
        for k in RECORD_FIELDS:
            arrays[f"rec_{k}"] = np.asarray(self.records[k], dtype=np.float64)
        hook_log = [(int(s), v) for s, v in self.hook_log if _jsonable(v)]
        meta = {"s": self.s, "fallbacks": self.fallbacks, "seed": self.seed,
                "hook_log": hook_log, "wall": wall,
                "presentations": self.cfg.presentations}
        if getattr(self, "identity", None) is not None:
            import json

            meta["identity"] = json.loads(json.dumps(self.identity, default=str))
        save_checkpoint(path, arrays, meta, kind="train", config_hash=config_hash)

    def restore(self, arrays: dict, meta: dict) -> None:
        need = ({"theta", "gmean", "acc", "acc_rec", "gmean_rec", "X", "rng_state", "prev"}
                | {f"rec_{k}" for k in RECORD_FIELDS})
        missing = need - set(arrays)
        if missing:
            raise CheckpointError(f"checkpoint lacks {sorted(missing)}; it was not written by this version")
        if arrays["acc"].shape != self.acc.shape or arrays["prev"].shape != self.prev.shape:
            raise CheckpointError("checkpoint books or carried state have another layout; it was not written by "
                                  "this version (delete it to start over)")
        if arrays["theta"].shape != self.net.theta.shape or arrays["gmean"].shape != self.gmean.shape:
            raise CheckpointError("checkpoint parameter shapes do not match the network")
        self.net.theta[...] = arrays["theta"]
        self.gmean[...] = arrays["gmean"]
        self.acc[...] = arrays["acc"]
        self.acc_rec[...] = arrays["acc_rec"]
        self.gmean_rec[...] = arrays["gmean_rec"]
        if self.X.shape == arrays["X"].shape:
            self.X[...] = arrays["X"]
        self.prev[...] = arrays["prev"]
        for k in RECORD_FIELDS:
            vals = arrays[f"rec_{k}"].tolist()
            self.records[k] = [int(v) for v in vals] if k in ("presentation", "fallbacks") else vals
        self.s = int(meta["s"])
        self.fallbacks = int(meta["fallbacks"])
        if arrays["rng_state"].shape != (4,) or arrays["rng_state"].dtype != np.uint64:
            raise CheckpointError("checkpoint has an unreadable RNG state (expected uint64[4])")
        self.rng[...] = arrays["rng_state"]
        self.hook_log = [(int(s), v) for s, v in meta.get("hook_log", [])]


def _jsonable(v) -> bool:
    import json

    try:
        json.dumps(v)
        return True
    except (TypeError, ValueError):
        return False


def _joint_step(net: Network, cfg: TrainConfig):
    """(dt, steps per presentation) of the joint dynamics; checks Gamma dt B < 2 (docs/langevin.md)."""
    from ..model.hamiltonian import stability_bound

    bound = stability_bound(net) + (cfg.kappa_out or 0.0)
    g = cfg.neuron_mobility
    if cfg.substeps is not None:
        n_sub = cfg.substeps
        dt = cfg.tau_inf / n_sub
    else:
        dt0 = cfg.dt if cfg.dt is not None else 0.1 / (g * bound)
        n_sub = max(1, int(math.ceil(cfg.tau_inf / dt0 - 1e-9)))
        dt = cfg.tau_inf / n_sub
    if g * dt * bound >= 2.0:
        raise ValueError(f"joint dynamics step too large: neuron_mobility*dt*B = {g * dt * bound:.3g} >= 2 "
                         f"(dt = {dt:.3g}, stability bound B = {bound:.3g}); use dt < {2 / (g * bound):.3g} "
                         f"or substeps >= {int(math.ceil(cfg.tau_inf * g * bound / 2)) + 1}")
    return dt, n_sub


def _extension_refused(meta: dict, cfg: TrainConfig, S: int) -> str | None:
    """Why a checkpoint of this run with another number of presentations cannot be continued (None: it can)."""
    if cfg.kT.kind != "constant":
        return (f"its temperature schedule ({cfg.kT.kind}) is spread over the number of presentations; only a "
                f"constant kT can be extended (checkpoint S = {meta.get('presentations')}, now {S})")
    if int(meta.get("s", 0)) > S:
        return f"it is at presentation {meta.get('s')}, beyond the {S} presentations asked for"
    return None


def _switch_steps(net: Network, cfg: TrainConfig, dt: float):
    """(steps, step) of a clamp ramp of duration tau_switch: the joint step dt or shorter; (0, 0) if abrupt."""
    if cfg.tau_switch == 0:
        return 0, 0.0
    n = max(1, int(math.ceil(cfg.tau_switch / dt - 1e-9)))
    return n, cfg.tau_switch / n


def _make_config(config, settings) -> TrainConfig:
    if config is not None and not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig or None, got {type(config).__name__}")
    unknown = set(settings) - set(TrainConfig.fields())
    if unknown:
        raise TypeError(f"unknown training setting(s) {sorted(unknown)}; known: {list(TrainConfig.fields())}")
    if config is None:
        return TrainConfig(**settings)
    return config.replace(**settings) if settings else config


def train(net: Network, data, config: TrainConfig | None = None, *, seed: int = 0, eval_every: int | None = None,
          hook=None, hook_every: int | None = None, checkpoint=None, checkpoint_every: int | None = None,
          checkpoint_seconds: float | None = None, resume: bool = True, progress=None, **settings) -> TrainResult:
    r"""Train a physical network by stress-driven parameter Langevin annealing (Eq. 11-12).

    Entries (x_0, target)_alpha are presented one after another (``order``), each for tau_inf; the
    parameters follow dtheta = -mu dF_alpha/dtheta dt + sqrt(2 kT mu) dW with F_alpha the energy with the
    entry clamped (plus ``weight_decay``/2 |theta|^2). See :mod:`analogsim.training.engine` for the two
    fidelities and the exact update, :mod:`analogsim.training.books` for the energy books.

    Parameters
    ----------
    net : Network
        Initial network (not modified; the result holds a trained copy).
    data : Dataset or (x, t) or (x, t, x_test, t_test)
        Training entries (and held-out ones for the test loss curve).
    config : TrainConfig, optional
        Settings; any :class:`TrainConfig` field may also be given as a keyword (``presentations``,
        ``mu``, ``tau_inf``, ``kT``, ``kappa_out``, ``weight_decay``, ``order``, ``batch_size``,
        ``fidelity``, ``substeps``, ``neuron_mobility``, ``dt``, ``tol``, ``max_sweeps``, ``books``).
    seed : int
        Seeds the data order and the thermal noise (two independent streams).
    eval_every : int, optional
        Presentations between records of the loss curves and books (default: S/100, but at least
        one epoch of train+test entries, so that evaluating the curves stays a small cost).
    hook : callable, optional
        ``hook(s, theta, net)`` every ``hook_every`` presentations (s = presentations done; theta a
        read-only copy; net a copy with those parameters); non-None return values go to ``hook_log``.
    checkpoint : path, optional
        Save the full state there every ``checkpoint_every`` presentations and/or ``checkpoint_seconds``
        seconds, and at the end. If the file exists and ``resume`` is true the run continues from it (a
        checkpoint of another configuration raises CheckpointError); the result equals an
        uninterrupted run's exactly.
    progress : bool or callable, optional
        True shows a tqdm bar on stderr; a callable gets ``(done, total)`` after each chunk.

    Returns
    -------
    TrainResult

    Raises
    ------
    ValueError, TypeError
        Bad settings or data (before any work).
    DivergenceError
        Non-finite parameters (with the presentation index).
    CheckpointError
        A corrupt or foreign checkpoint.

    Examples
    --------
    >>> from analogsim import Network
    >>> from analogsim.data import teacher_student
    >>> from analogsim.training import train
    >>> ds = teacher_student(n_in=3, n_out=1, n_train=64, n_test=32, seed=0)
    >>> net = Network.create([3, 8, 1], activations=["tanh", "identity"], kappa=1.0, seed=1)
    >>> res = train(net, ds, presentations=2000, mu=100.0, tau_inf=1.0, kappa_out=1e-3, kT=1e-7, seed=2)
    >>> bool(res.final_train_loss < res.records["train_loss"][0])
    True
    """
    t_start = time.perf_counter()
    if not isinstance(net, Network):
        raise TypeError(f"net must be an analogsim Network, got {type(net).__name__}")
    cfg = _make_config(config, settings)
    ds = coerce_data(data, net)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise TypeError(f"seed must be a non-negative int, got {seed!r}")
    seed = int(seed)
    S = cfg.presentations
    if eval_every is None:  # ~100 records, but at most one evaluation of the whole data set per epoch
        epoch = -(-(ds.n_train + ds.n_test) // cfg.batch_size)
        eval_every = min(S, max(1, S // 100, epoch))
    else:
        eval_every = check_scalar(eval_every, "eval_every", low=1, integer=True)
    if hook is not None and not callable(hook):
        raise TypeError(f"hook must be callable as hook(s, theta, net), got {hook!r}")
    if hook is not None:
        hook_every = eval_every if hook_every is None else check_scalar(hook_every, "hook_every", low=1,
                                                                        integer=True)
    if checkpoint_every is not None:
        checkpoint_every = check_scalar(checkpoint_every, "checkpoint_every", low=1, integer=True)
    if checkpoint_seconds is not None:
        checkpoint_seconds = check_scalar(checkpoint_seconds, "checkpoint_seconds", low=0.0, low_open=True)
    if checkpoint is not None:
        cp = Path(checkpoint)
        if cp.exists() and cp.is_dir():
            raise ValueError(f"checkpoint must be a file path, got the directory {str(cp)!r}")
    if (checkpoint_every is not None or checkpoint_seconds is not None) and checkpoint is None:
        raise ValueError("checkpoint_every/checkpoint_seconds need a checkpoint path")

    run = _Run(net, ds, cfg, seed, eval_every)
    chash = run.config_hash(net.theta)
    resumed_from = None
    if checkpoint is not None:
        from .._io import remove_stale_temporaries

        remove_stale_temporaries(checkpoint)  # a kill during a save leaves its temporary file behind
    if checkpoint is not None and resume and Path(checkpoint).exists():
        from ..data.checkpoint import load_or_extend

        # a finished run may be extended to more presentations (constant kT: nothing else depends on S)
        arrays, meta = load_or_extend(checkpoint, kind="train", config_hash=chash, identity=run.identity,
                                      extendable=("config.presentations", "eval_every"),
                                      may_extend=lambda m: _extension_refused(m, cfg, S))
        run.restore(arrays, meta)
        resumed_from = run.s
        log.info("resumed from %s at presentation %d", checkpoint, run.s)
    if run.s == 0 and not run.records["presentation"]:
        run.record()  # the starting point of the curves

    bar = None
    if progress is True:
        from ..cli._common import progress as _pbar

        bar = _pbar(total=S, desc="train", disable=False)
        bar.update(run.s)
    last_ck_time = time.monotonic()
    last_ck_s = run.s
    per_pres = run.n_sub * (run.N + run.net.n_neurons) * cfg.batch_size
    cap = max(1, min(_CHUNK_CAP, _WORK_CAP // max(per_pres, 1)))
    while run.s < S:
        s0 = run.s
        nxt = min(S, s0 + cap, (s0 // eval_every + 1) * eval_every)
        if hook is not None:
            nxt = min(nxt, (s0 // hook_every + 1) * hook_every)
        if checkpoint_every is not None:
            nxt = min(nxt, (s0 // checkpoint_every + 1) * checkpoint_every)
        run.run_chunk(s0, nxt)
        run.check_runaway(run.s)
        if run.s % eval_every == 0 or run.s == S:
            run.record()
        if hook is not None and run.s % hook_every == 0:
            th = run.net.theta.copy()
            th.flags.writeable = False
            out = hook(run.s, th, run.net.with_theta(th))
            if out is not None:
                run.hook_log.append((run.s, out))
        if checkpoint is not None and run.s < S:
            due = (checkpoint_every is not None and run.s % checkpoint_every == 0 and run.s != last_ck_s)
            due |= checkpoint_seconds is not None and time.monotonic() - last_ck_time >= checkpoint_seconds
            if due:
                run.save(checkpoint, chash, time.perf_counter() - t_start)
                last_ck_time, last_ck_s = time.monotonic(), run.s
        if bar is not None:
            bar.update(run.s - s0)
        elif callable(progress):
            progress(run.s, S)
    if bar is not None:
        bar.close()
    if checkpoint is not None:
        run.save(checkpoint, chash, time.perf_counter() - t_start)
    if not np.all(np.isfinite(run.net.theta)):
        raise DivergenceError("non-finite parameters at the end of the run", step=run.s,
                              cause="reduce mu*tau_inf or the temperature")
    records = {k: np.asarray(v) for k, v in run.records.items()}
    out_net = run.net  # the working copy is private to this call: hand it over (no second copy)
    books = run.books()
    if books.energetics and books.first_law_relative > _FIRST_LAW_WARN:
        import warnings

        warnings.warn(f"the training books' first law closes only to {books.first_law_relative:.2g} of the energy "
                      f"budget (largest residual per presentation {books.first_law_residual_max:.3g}): the joint "
                      f"step dt = {run.dt:.3g} is too coarse for the heats; give more substeps", RuntimeWarning,
                      stacklevel=2)
    return TrainResult(net=out_net, theta=out_net.theta, books=books, records=records, config=cfg, seed=seed,
                       n_substeps=run.n_sub, dt=run.dt, fallbacks=run.fallbacks, resumed_from=resumed_from,
                       hook_log=run.hook_log, wall_time=time.perf_counter() - t_start, config_hash=chash)
