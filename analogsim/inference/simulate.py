r"""Langevin relaxation of the neurons: ``relax(net, x0, ...) -> RelaxResult``.

Overdamped dynamics of many replicas at once (docs/theory/langevin.md),

    dx = -Gamma dH/dx dt + sqrt(2 Gamma kT) dW,

with the input clamped (possibly moving: :mod:`analogsim.inference.protocols`), the output free or clamped
(:class:`analogsim.model.hamiltonian.OutputClamp`), integrated by :class:`~analogsim.inference.integrators.EulerMaruyama`
or :class:`~analogsim.inference.integrators.MALA` in compiled segments (:mod:`analogsim.kernels.langevin`).
Energy books (work, heat, first law, Jarzynski) and observers come back in :class:`RelaxResult`.

Units: kT is an energy (k_B = 1), dt a time, Gamma a mobility (x^2 per energy per time), kappa an
energy per x^2. The stability of explicit steps is governed by ``Gamma dt lambda_max``.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from .._checks import check_kT, check_scalar
from ..errors import DivergenceError
from ..model.hamiltonian import OutputClamp, hvp_x, stability_bound
from .integrators import Integrator, get_integrator
from .observers import JarzynskiEstimate, jarzynski, parse_record  # noqa: F401
from ..kernels.seeding import seed_key
from .langevin_run import (BLAS_MIN_WEIGHTS, RUNAWAY_CAP_FRACTION, RUNAWAY_FACTOR, SEGMENT_STEPS,  # noqa: F401
                           LangevinRun, build_knet, default_chunk_rows, default_threads, net_entry)
from .protocols import Constant, Protocol, as_protocol  # noqa: F401
from .relax_start import (_constant_input, _equilibrium_start, _first_values, _init_rows, _initial_state,
                          _parse_record, start_seed)  # noqa: F401  (start_seed: part of this module's interface)
from .guard_cache import cached_guard
from .stability import (EM_BIAS_WARN_DTL, FIRST_LAW_ORDER, GuardReport, check_guard, oscillation_check,
                        report_from_lambda)

log = logging.getLogger(__name__)

__all__ = ["relax", "RelaxResult", "LangevinRun", "estimate_lambda_max", "check_step", "default_chunk_rows"]

#: EM bias threshold: Gamma dt lambda above which EM's predicted worst-layer bias exceeds 1 %
#: (from the measured constant :data:`analogsim.inference.stability.EM_BIAS_WORST_LAYER`)
EM_BIAS_WARN = EM_BIAS_WARN_DTL


# ----------------------------------------------------------------------------- result
@dataclass
class RelaxResult:
    """Outcome of :func:`relax`.

    Attributes
    ----------
    xs : list of arrays
        Final state [x_0, ..., x_L], each (B, n_l).
    work, heat : arrays (B,)
        Work done by the protocol and heat absorbed from the bath per replica (see :class:`~analogsim.inference.observers.Books`).
    energy_start, energy_end : arrays (B,)
        H at the start (lambda_0) and at the end (lambda_n).
    first_law_residual : array (B,)
        energy_end - energy_start - work - heat (discretisation error of the heat for EM).
    jarzynski : JarzynskiEstimate or None
        <exp(-W/kT)> over replicas (when kT > 0 and a protocol moved).
    acceptance : float or None
        MALA acceptance rate over all steps and replicas; ``acceptance_per_replica`` (B,).
    energy_mean, energy_var : arrays (L+1,)
        Mean and variance of each layer's energy kappa_l/2|delta_l|^2 over recorded steps and replicas
        (last entry: the soft clamp's spring).
    equipartition, equipartition_se : arrays (L,)
        <kappa delta^2>/kT per layer (= 2 <E_l>/(n_l kT); 1 in equilibrium with a free output) and its
        standard error from the spread of the per-replica time means (replicas are independent).
    param_force : array (N,) or None
        Mean dH/dtheta per replica and step (Eq. 9).
    trajectory : array (n_saves, B, n_total) or None; ``trajectory_steps`` the step of each save.
    lambda_max : float or None
        Largest x-Hessian eigenvalue over every clamp point, as the stability guard used it: exact where the step
        needed it (``guard.exact``), else a rigorous upper bound small enough to certify the step (below the
        EM-bias level); ``dt_lambda`` = Gamma dt lambda_max. ``guard.resolve(0).lambda_max`` gives the exact value.
    n_recorded : int
        Steps that entered the moments.
    status : str
        'ok', 'diverged' (non-finite or runaway energy; ``diverged_step``), 'oscillating' (EM: replicas caught
        in a bounded but wrong period-2 oscillation, listed in ``extra['oscillation']`` with the cause) or
        'stalled' (MALA acceptance too low).
    guard : GuardReport or None
        What the stability guard found (:mod:`analogsim.inference.stability`): the worst clamp point's replica, step
        and lambda, over every distinct clamp point of the batch and protocol.
    extra : dict
        ``first_law``: rms and max of the first-law residual with its expected order (EM: O(dt) at a fixed
        protocol duration; MALA: rounding); ``continued``: whether the run started from the gradient the previous
        call left (``init`` bit for bit its end state, see ``init``); ``oscillation``, ``divergence_cause`` where
        they apply.
    diverged_step : int
        First step at which a replica's energy was non-finite or above the runaway guard (-1: none).
    state_step : array (B,) of int
        The step each replica's returned state is from: ``n_steps`` normally; after a divergence the
        replicas of the diverged chunk hold their last good state (a snapshot taken every
        :data:`analogsim.kernels.langevin.SNAP_EVERY` steps), and ``energy_end`` is that state's energy.

    Examples
    --------
    >>> from analogsim import Network
    >>> from analogsim.inference.simulate import relax
    >>> net = Network.create([2, 4, 1], kappa=1.0, seed=0)
    >>> r = relax(net, [0.1, -0.2], kT=0.05, dt=0.02, n_steps=200, n_replicas=32, integrator="mala", seed=1)
    >>> r.status, r.work.shape, len(r.xs), r.equipartition.shape
    ('ok', (32,), 3, (2,))
    """

    xs: list
    kT: float
    dt: float
    gamma: float
    n_steps: int
    integrator: str
    work: np.ndarray
    heat: np.ndarray
    energy_start: np.ndarray
    energy_end: np.ndarray
    first_law_residual: np.ndarray
    jarzynski: JarzynskiEstimate | None
    acceptance: float | None
    acceptance_per_replica: np.ndarray | None
    energy_mean: np.ndarray | None
    energy_var: np.ndarray | None
    equipartition: np.ndarray | None
    equipartition_se: np.ndarray | None
    param_force: np.ndarray | None
    trajectory: np.ndarray | None
    trajectory_steps: np.ndarray | None
    lambda_max: float | None
    dt_lambda: float | None
    n_recorded: int
    status: str = "ok"
    diverged_step: int = -1
    state_step: np.ndarray | None = None
    extra: dict = field(default_factory=dict)
    guard: GuardReport | None = None

    @property
    def state(self) -> np.ndarray:
        """Final state in the flat layout (B, n_total)."""
        return np.ascontiguousarray(np.concatenate(self.xs, axis=1))

    def summary(self) -> dict:
        """A JSON-friendly summary (means over replicas)."""
        out = {"integrator": self.integrator, "kT": self.kT, "dt": self.dt, "gamma": self.gamma,
               "n_steps": self.n_steps, "n_replicas": int(self.work.size), "status": self.status,
               "lambda_max": self.lambda_max, "dt_lambda": self.dt_lambda,
               "work_mean": float(np.mean(self.work)), "heat_mean": float(np.mean(self.heat)),
               "energy_end_mean": float(np.mean(self.energy_end)),
               "first_law_residual_max": float(np.max(np.abs(self.first_law_residual)))}
        if self.acceptance is not None:
            out["acceptance"] = self.acceptance
        if self.equipartition is not None:
            out["equipartition"] = self.equipartition.tolist()
            out["equipartition_se"] = self.equipartition_se.tolist()
        if self.jarzynski is not None:
            j = self.jarzynski
            out["jarzynski"] = {"value": j.value, "se": j.se, "ess": j.ess, "delta_F": j.delta_F}
        if self.status == "diverged":
            out["diverged_step"] = self.diverged_step
        if "first_law" in self.extra:
            out["first_law"] = self.extra["first_law"]
        if "oscillation" in self.extra:
            osc = self.extra["oscillation"]
            out["oscillation"] = {"replicas": osc["replicas"][:20], "n": len(osc["replicas"]), "cause": osc["cause"]}
        if self.guard is not None:
            g = self.guard
            out["guard"] = {"lambda_max": g.lambda_max, "replica": g.replica, "step": g.step,
                            "n_points": g.n_points, "exact": g.exact}
        return out


# ----------------------------------------------------------------------------- stability
def estimate_lambda_max(net, xs, clamp: OutputClamp | None = None, max_rows: int = 4, tol: float = 1e-8,
                        maxiter: int | None = None) -> float:
    r"""Largest eigenvalue of the x-Hessian of H over the free neurons (Lanczos), max over up to ``max_rows`` rows.

    A sample of rows only: :func:`relax`'s guard looks at every distinct clamp point instead
    (:func:`analogsim.inference.stability.guard`). When ARPACK does not converge (``maxiter``), a RuntimeWarning says so
    and the row's rigorous bound (:func:`analogsim.inference.stability.replica_bound`) is used instead of a partial Ritz value.

    The Hessian includes the Gauss–Newton part J^T K J and the curvature (f'') part; the input and a
    hard-clamped output are held fixed. Each Hessian-vector product uses
    :func:`analogsim.model.hamiltonian.hvp_x`.

    Examples
    --------
    >>> from analogsim import Network
    >>> net = Network.create([2, 3, 1], activations="identity", kappa=1.0, seed=0)
    >>> lam = estimate_lambda_max(net, net.forward([[0.0, 0.0]]))
    >>> lam > 1.0
    True
    """
    hard = clamp is not None and clamp.hard
    L = net.depth
    free = list(range(1, L if hard else L + 1))
    sizes = [net.sizes[l] for l in free]
    n = int(sum(sizes))
    if n == 0:
        return 0.0
    off = np.concatenate([[0], np.cumsum(sizes)])
    B = xs[0].shape[0]
    rows = np.unique(np.linspace(0, B - 1, min(B, max_rows)).round().astype(int))
    best = 0.0
    net64 = net if net.dtype == np.float64 else net.astype(np.float64)
    for r in rows:
        xr = [np.asarray(x[r:r + 1], dtype=np.float64) for x in xs]
        cl = None
        if clamp is not None and not clamp.hard:
            t = np.asarray(clamp.target, dtype=np.float64)
            cl = OutputClamp(t[r:r + 1] if t.ndim == 2 and t.shape[0] > 1 else t.reshape(1, -1), clamp.stiffness)

        def mv(v, xr=xr, cl=cl):
            v = np.asarray(v, dtype=np.float64).reshape(-1)
            vs = [np.zeros_like(x) for x in xr]
            for i, l in enumerate(free):
                vs[l] = v[off[i]:off[i + 1]].reshape(1, -1)
            hv = hvp_x(net64, xr, vs, cl)
            return np.concatenate([hv[l].reshape(-1) for l in free])

        if n <= 64:
            M = np.column_stack([mv(e) for e in np.eye(n)])
            lam = float(np.linalg.eigvalsh(0.5 * (M + M.T))[-1])
        else:
            from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh

            op = LinearOperator((n, n), matvec=mv, dtype=np.float64)
            try:
                lam = float(eigsh(op, k=1, which="LA", tol=tol, return_eigenvectors=False,
                                  v0=np.ones(n), maxiter=maxiter)[0])
            except ArpackNoConvergence:
                # a partial Ritz value can sit below lambda_max: use the rigorous per-row bound instead
                from .stability import replica_bound

                hard_ = clamp is not None and clamp.hard
                st_ = None if cl is None else cl.stiffness
                lam = float(replica_bound(net64, xr, st_, hard_)[0])
                warnings.warn(f"estimate_lambda_max: ARPACK did not converge (row {int(r)}, {n} free neurons); "
                              f"using the rigorous bound {lam:.6g} instead", RuntimeWarning, stacklevel=2)
        best = max(best, lam)
    return best


def check_step(dt: float, gamma: float, lam: float, integrator: Integrator, stacklevel: int = 3) -> float:
    """The stability check for one lambda: ValueError at Gamma dt lambda >= 2, the EM-bias warning where the
    predicted worst-layer bias exceeds 1 % (:func:`analogsim.inference.stability.check_guard`). Returns Gamma dt lambda.

    Examples
    --------
    >>> from analogsim.inference.integrators import MALA
    >>> check_step(0.01, 1.0, 10.0, MALA())
    0.1
    """
    return check_guard(dt, gamma, report_from_lambda(lam), integrator.code, stacklevel=stacklevel + 1)


# ----------------------------------------------------------------------------- relax
def relax(net, x0=None, *, kT: float, dt: float, n_steps: int, integrator="em", output_clamp=None,
          input_protocol=None, target_protocol=None, n_replicas: int | None = None, seed=None,
          record=("books", "energy"), gamma: float = 1.0, threads: int | None = None, init="auto",
          stability="auto", chunk_rows: int | None = None, throw: bool = True) -> RelaxResult:
    r"""Overdamped Langevin dynamics of the neurons with the input clamped (docs/theory/langevin.md, quasistatic.md).

    .. math:: dx = -\Gamma\,\partial H/\partial x\,dt + \sqrt{2\Gamma kT}\,dW

    Parameters
    ----------
    net : Network
    x0 : array (n_0,) or (B, n_0), optional
        The clamped input; give ``input_protocol`` instead for a moving input (not both).
    kT : float
        Temperature (energy units, >= 0; MALA needs > 0).
    dt : float
        Time step (> 0). Stability needs Gamma dt lambda_max < 2; EM is unbiased to ~1 % only for
        Gamma dt lambda_max <= 0.1.
    n_steps : int
        Number of steps (>= 0); one step updates every replica once.
    integrator : EulerMaruyama, MALA or a name ('em', 'mala')
    output_clamp : OutputClamp, optional
        Hard (stiffness None: x_L held at the target) or soft (spring stiffness/2 |x_L - target|^2).
        The target is (n_L,) or (B, n_L). None: free output.
    input_protocol, target_protocol : Protocol or array, optional
        :class:`~analogsim.inference.protocols.Ramp`, :class:`~analogsim.inference.protocols.Sampled`, ... for the input and
        the clamp target (the latter needs ``output_clamp``).
    n_replicas : int, optional
        Replicas per input row when the input is a single row.
    seed : int or SeedSequence, optional
        Seeds the initial state and the per-chunk streams: hashed once into a 128-bit key from which every
        stream is derived with splitmix64 (:mod:`analogsim.kernels.seeding`; docs/langevin.md, Seeds). Results
        do not depend on ``threads``; :func:`start_seed` gives the ``sample_equilibrium`` seed of the start.
    record : sequence of observers or names
        'books', 'energy' (:class:`~analogsim.inference.observers.EnergyMoments`), 'param_force',
        :class:`~analogsim.inference.observers.Trajectory` (every=k). Default ('books', 'energy').
    gamma : float
        Neuron mobility Gamma (> 0).
    threads : int, optional
        Threads running the chunks of replicas (default: numba's setting, NUMBA_NUM_THREADS).
    init : {'auto', 'equilibrium', 'forward'}, array, list of arrays or RelaxResult
        Initial state: an exact equilibrium sample with the input clamped (docs/theory/equilibrium.md; 'auto' when
        kT > 0), the T = 0 forward pass ('auto' at kT = 0), or a state (list [x_0..x_L] or flat (B, n_total)).
        With a hard clamp x_L is set to the target. A :class:`RelaxResult` stands for its final state.
        ``init=res`` (or ``res.xs``, ``res.state``) of the previous call on the same net, fixed input and clamp
        continues it from the gradient that call left in its buffers (no start pass; ``extra['continued']``): the
        same numbers as a fresh start from that state.
    stability : {'auto', 'power', 'bound', 'off'} or float
        How lambda_max is found for the guard. 'auto'/'power': every distinct clamp point of the batch and of a
        moving protocol (its extreme and 9 interior steps), a rigorous per-point bound, exact eigenvalues where
        the bound could reach the step's limits (:mod:`analogsim.inference.stability`; cached per net and clamp set);
        'bound': the global cheap bound B; a number: that lambda; 'off': no check (the runtime checks run).
    chunk_rows : int, optional
        Replicas per chunk (default: from the batch size only).
    throw : bool
        Raise :class:`~analogsim.errors.DivergenceError` on a non-finite state or a stalled MALA run
        (default); else return with ``status`` set.

    Returns
    -------
    RelaxResult

    Raises
    ------
    ValueError
        Bad arguments, or Gamma dt lambda_max >= 2 at some clamp point (the message names the worst replica and
        protocol step, its Gamma dt lambda, lambda and a safe dt).
    DivergenceError
        A replica's energy became non-finite (``.step`` is the step), EM replicas ended in a bounded but wrong
        period-2 oscillation (status 'oscillating'), or MALA stalled.

    Examples
    --------
    >>> from analogsim import Network
    >>> from analogsim.inference.simulate import relax
    >>> net = Network.create([3, 8, 2], activations="tanh", kappa=1.0, seed=0)
    >>> res = relax(net, [0.1, 0.2, 0.3], kT=0.01, dt=0.02, n_steps=200, n_replicas=64, seed=1)
    >>> bool(abs(res.equipartition[0] - 1) < 0.05)
    True

    In a loop, each call continuing the last (the start's gradient pass is skipped):

    >>> for k in range(3):
    ...     res = relax(net, [0.1, 0.2, 0.3], kT=0.01, dt=0.02, n_steps=10, n_replicas=64, seed=2 + k, init=res)
    >>> res.extra["continued"]
    True
    """
    # plain Python floats/ints in range pass without the general checks (a few microseconds each on a small net)
    if not (type(kT) is float and 0.0 <= kT < math.inf):
        kT = check_kT(kT)
    if not (type(dt) is float and 0.0 < dt < math.inf):
        dt = check_scalar(dt, "dt", low=0.0, low_open=True)
    if not (type(n_steps) is int and n_steps >= 0):
        n_steps = check_scalar(n_steps, "n_steps", low=0, integer=True)
    if not (type(gamma) is float and 0.0 < gamma < math.inf):
        gamma = check_scalar(gamma, "gamma", low=0.0, low_open=True)
    integ = get_integrator(integrator)
    if integ.needs_temperature and kT <= 0:
        raise ValueError(f"kT must be > 0 for {type(integ).__name__} (a Metropolis test at T = 0 rejects every "
                         f"uphill move), got {kT!r}; use integrator='em' for T = 0")
    if threads is not None:
        threads = check_scalar(threads, "threads", low=1, integer=True)
    if chunk_rows is not None:
        chunk_rows = check_scalar(chunk_rows, "chunk_rows", low=1, integer=True)
    observers = _parse_record(record)
    if isinstance(init, RelaxResult):  # a previous result: its final state (a continuation, see init)
        init = init.xs
    key = seed_key(seed)  # 128-bit key; the start's and the run's streams are derived from it (kernels.seeding)

    # ---- input / batch
    if (x0 is None) == (input_protocol is None):
        raise ValueError("give the clamped input as x0 (fixed) or as input_protocol (moving), exactly one of them; "
                         f"got x0={'None' if x0 is None else 'an array'}, input_protocol={input_protocol!r}")
    n0, nL = net.sizes[0], net.sizes[-1]
    entry = net_entry(net)
    if x0 is not None:
        inp = _constant_input(entry, net.check_input(x0))
    else:
        inp = as_protocol(input_protocol, "input_protocol")
    rows = [inp.rows()]
    if output_clamp is not None:
        if not isinstance(output_clamp, OutputClamp):
            raise TypeError(f"output_clamp must be an OutputClamp(target, stiffness), got {output_clamp!r}")
        tgt0 = output_clamp.target
        if tgt0.ndim == 2:
            rows.append(tgt0.shape[0])
    tprot = None
    if target_protocol is not None:
        if output_clamp is None:
            raise ValueError("target_protocol needs output_clamp (it says whether the clamp is hard or soft)")
        tprot = as_protocol(target_protocol, "target_protocol")
        rows.append(tprot.rows())
    if not isinstance(init, str):
        rows.append(_init_rows(init))
    B = max(rows)
    if B == 0:
        raise ValueError("x0 (or the input protocol) must hold at least one row: there is nothing to relax in an "
                         "empty batch")
    if n_replicas is not None:
        n_replicas = check_scalar(n_replicas, "n_replicas", low=1, integer=True)
        if B not in (1, n_replicas):
            raise ValueError(f"n_replicas = {n_replicas} conflicts with {B} input/target rows; give one row per "
                             f"replica or a single row")
        B = n_replicas
    inp.check(n_steps, B, n0, "input_protocol" if input_protocol is not None else "x0")
    if output_clamp is not None:
        target = net.check_output(output_clamp.target, batch=B, name="output_clamp.target")
        if tprot is None:
            tprot = Constant(target)
        clamp = OutputClamp(target, output_clamp.stiffness)
    else:
        clamp = None
    if tprot is not None:
        tprot.check(n_steps, B, nL, "target_protocol")

    # ---- initial state at lambda_0 (an equilibrium start is drawn by LangevinRun, built by its first kernel call)
    eq = _equilibrium_start(net, init, kT, key, entry)
    X_init = None
    if eq is None:
        def X_init():  # built (checked, copied) unless the run continues from the state its buffers hold
            x_in0 = _first_values(inp, B, dt)
            t_0 = _first_values(tprot, B, dt) if tprot is not None else None
            return _initial_state(net, init, x_in0, t_0, clamp, kT, B, key)

    # ---- stability guard: every distinct clamp point, every protocol segment's ends (cached)
    report = _guard_report(net, stability, inp, tprot, clamp, B, n_steps, dt, entry)
    lam = report.lambda_max if report is not None else None
    dtl = check_guard(dt, gamma, report, integ.code, stacklevel=3) if report is not None else None

    run = LangevinRun(net, X_init, kT=kT, dt=dt, integrator=integ, gamma=gamma, clamp=clamp,
                      input_protocol=inp, target_protocol=tprot, observers=observers, seed=key, threads=threads,
                      chunk_rows=chunk_rows, n_steps_total=n_steps, knet=entry["knet"], pool=entry["work"],
                      equilibrium=eq, batch=B, continue_from=None if isinstance(init, str) else init)
    entry["knet"] = run.knet
    try:
        run.run(n_steps)
        return _collect(run, net, n_steps, lam, dtl, throw, report)
    finally:
        run.release()


def _guard_report(net, stability, inp, tprot, clamp, B, n_steps, dt, entry) -> GuardReport | None:
    if stability is None or (isinstance(stability, str) and stability == "off"):
        return None
    if isinstance(stability, str):
        if stability == "bound":
            lam = stability_bound(net)
            if clamp is not None and not clamp.hard:
                lam += clamp.stiffness
            return report_from_lambda(lam)
        if stability not in ("auto", "power"):
            raise ValueError(f"stability must be 'auto', 'power', 'bound', 'off' or a number, got {stability!r}")
        return cached_guard(net, inp, tprot, clamp, B, n_steps, dt, entry)[0]
    return report_from_lambda(check_scalar(stability, "stability", low=0.0, low_open=True))


def _divergence_message(run: LangevinRun, net, dstep, lam, dtl):
    """(message, cause with a suggested fix) for a diverged run."""
    kind = run.divergence_kind()
    f32 = np.dtype(net.dtype) == np.float32
    what = (f"the energy ran away (above {RUNAWAY_FACTOR:.0e} (1 + |H_0|), the state still finite)"
            if kind == "runaway" else
            "the state overflowed float32 (non-finite energy)" if f32 else "the energy became non-finite")
    dl = "unknown: stability='off'" if dtl is None else f"{dtl:.3g}"
    fix = ("reduce dt below 2/(Gamma lambda_max)" + (f" = {2 / (run.gamma * lam):.4g}" if lam else "")
           + " (the stability guard, stability='auto', computes it), or use MALA() (rejects unstable moves)")
    if f32:
        fix += ", or use float64 (net.astype(np.float64)) for a wider range"
    if dstep == 0:  # the start state itself (e.g. an equilibrium start that overflowed): no step is to blame
        fix = "use dtype='float64'" if f32 else "scale the input or the weights down"
        what = f"the initial state's energy is not finite in {np.dtype(net.dtype).name}, before any step"
        return f"{what}; {fix}", f"{what}; {fix}"
    snap = int(run.state_steps().min())
    msg = (f"{what} at step {dstep}, Gamma dt lambda_max = {dl}; the diverged replicas keep their last good "
           f"state, from step {snap}")
    return msg, f"{what}; {fix}"


def _collect(run: LangevinRun, net, n_steps, lam, dtl, throw, report=None) -> RelaxResult:
    xs = run.state_layers()
    bk = run.books
    W, Q, H0, H1 = bk[:, 0].copy(), bk[:, 1].copy(), bk[:, 2].copy(), bk[:, 3].copy()
    kT = run.kT
    status, dstep = "ok", run.diverged_step()
    if dstep >= 0:
        status = "diverged"
    n_rec = max(0, (n_steps if dstep < 0 else dstep) - run.burn_in)
    acc = acc_r = None
    if run.integrator.code == 1:
        acc_r = bk[:, 4] / max(run.k if dstep < 0 else dstep, 1)
        acc = float(np.mean(acc_r)) if n_steps > 0 else None
    em = ev = eq = eq_se = None
    if "energy" in run.observers and n_rec > 0:
        from ..kernels.langevin import energy_stats

        L = net.depth
        em, ev, eq, eq_se = np.empty(L + 1), np.empty(L + 1), np.empty(L), np.empty(L)
        energy_stats(run.emom, n_rec, np.asarray(net.sizes[1:], dtype=np.float64), kT, em, ev, eq, eq_se)
        if not kT > 0:
            eq = eq_se = None
    pf = None
    if "param_force" in run.observers and n_rec > 0:
        pf = run.pforce.sum(axis=0) / (n_rec * run.B)
    traj = steps = None
    if "trajectory" in run.observers:
        traj = run.traj
        steps = run.save_every * (1 + np.arange(traj.shape[0]))
    moved = run.input_protocol.moving or (run.target_protocol is not None and run.target_protocol.moving)
    jz = jarzynski(W, kT) if (kT > 0 and moved and n_steps > 0 and dstep < 0) else None
    res = RelaxResult(xs=xs, kT=kT, dt=run.dt, gamma=run.gamma, n_steps=n_steps, integrator=run.integrator.name,
                      work=W, heat=Q, energy_start=H0, energy_end=H1, first_law_residual=H1 - H0 - W - Q,
                      jarzynski=jz, acceptance=acc, acceptance_per_replica=acc_r, energy_mean=em, energy_var=ev,
                      equipartition=eq, equipartition_se=eq_se, param_force=pf, trajectory=traj,
                      trajectory_steps=steps, lambda_max=lam, dt_lambda=dtl, n_recorded=n_rec, status=status,
                      diverged_step=dstep, state_step=run.state_steps(), guard=report)
    res.extra["first_law"] = _first_law(res, run.integrator)
    res.extra["continued"] = run.continued
    if status == "ok" and run.integrator.code == 0 and n_steps >= 2:
        osc = oscillation_check(run, net, np.concatenate(xs, axis=1))
        if osc is not None:
            res.status = status = "oscillating"
            res.extra["oscillation"] = osc
            msg = (f"{len(osc['replicas'])} replica(s) (first: {osc['replicas'][:5]}) ended in a bounded but wrong "
                   f"oscillation: {osc['cause']}")
            if throw:
                raise DivergenceError(msg, step=n_steps, cause=osc["cause"])
            log.warning(msg)
    if status == "diverged":
        msg, cause = _divergence_message(run, net, dstep, lam, dtl)
        res.extra["divergence_cause"] = cause
        if throw:
            raise DivergenceError(msg, step=dstep, cause=cause)
        log.warning(msg)
    elif acc is not None and acc < run.integrator.min_acceptance:
        res.status = "stalled"
        msg = (f"MALA acceptance {acc:.3g} is below min_acceptance = {run.integrator.min_acceptance:g}: the "
               f"chain barely moves; reduce dt (Gamma dt lambda_max = {dtl})")
        if throw:
            raise DivergenceError(msg, step=n_steps, cause=msg)
        log.warning(msg)
    return res


def _first_law(res: RelaxResult, integrator) -> dict:
    """Size of the first-law residual and the order the integrator predicts for it."""
    r = res.first_law_residual
    q = res.heat
    n = max(r.size, 1)
    out = {"rms": math.sqrt(float(r @ r) / n), "max": max(float(r.max()), -float(r.min())) if r.size else 0.0,
           "heat_rms": math.sqrt(float(q @ q) / n)}
    if integrator.code == 0:
        out["expected_order"] = f"dt^{FIRST_LAW_ORDER} at a fixed protocol duration (EM's trapezoid heat; 0 for " \
                                f"quadratic H)"
    else:
        out["expected_order"] = "rounding (MALA books the energy change of each accepted move)"
    return out
