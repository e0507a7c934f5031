r"""What a Langevin run records, without storing trajectories.

Observers are small declarative objects handed to :func:`analogsim.inference.simulate.relax` via ``record=``;
the compiled loop keeps fixed-size accumulators for them, so memory does not grow with the number
of steps (except :class:`Trajectory`, whose size is set by its thinning).

* :class:`Books` — stochastic energetics per replica (Sekimoto): work W, heat Q, the first-law
  residual H_end - H_start - W - Q. Always on in :func:`relax` unless ``record`` excludes it.
* :class:`EnergyMoments` — per replica, time sums of each layer's energy kappa_l/2 |delta_l|^2 and
  of its square, giving running means/variances and equipartition ratios with standard errors
  from the spread over independent replicas.
* :class:`ParamForce` — the mean parameter force <dH/dtheta> (Eq. 9) over steps and replicas.
* :class:`Trajectory` — every ``every``-th state (flat layout), the only observer whose memory
  grows with the run.

Also here: :func:`jarzynski`, the estimator <exp(-W/kT)> with its effective sample size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._checks import check_array, check_scalar

__all__ = ["Observer", "Books", "EnergyMoments", "ParamForce", "Trajectory", "JarzynskiEstimate", "jarzynski",
           "parse_record"]


@dataclass(frozen=True)
class Observer:
    """Base class of the observers (a name and its options).

    Examples
    --------
    >>> from analogsim.inference.observers import Books, Trajectory
    >>> [o.name for o in (Books(), Trajectory(every=10))]
    ['books', 'trajectory']
    """

    name = "observer"


@dataclass(frozen=True)
class Books(Observer):
    """Work, heat and the first-law residual per replica.

    Work of step k: H(x_k; lambda_{k+1}) - H(x_k; lambda_k). Heat (absorbed from the bath; negative
    when the system dissipates): Euler–Maruyama books the Stratonovich sum
    sum_k 1/2 (dH/dx(x_k) + dH/dx(x_{k+1})) . (x_{k+1} - x_k) at fixed lambda_{k+1}, so
    ``first_law_residual`` = H_end - H_start - W - Q measures the discretisation error (exactly zero,
    to rounding, for identity nets, where H is quadratic); MALA books the energy change of each
    accepted move, so its residual is rounding only.

    Examples
    --------
    >>> from analogsim import Network
    >>> from analogsim.inference.simulate import relax
    >>> net = Network.create([1, 3, 1], kappa=1.0, seed=0)
    >>> from analogsim.inference.protocols import Ramp
    >>> r = relax(net, None, input_protocol=Ramp([0.0], [1.0], tau=1.0), kT=0.0, dt=0.01, n_steps=100,
    ...           record=[Books()], seed=0)
    >>> bool(abs(r.first_law_residual).max() < 1e-3), r.work.shape
    (True, (1,))
    """

    name = "books"


@dataclass(frozen=True)
class EnergyMoments(Observer):
    """Time sums of the layer energies per replica, recorded after ``burn_in`` steps.

    They give the energy moments and the equipartition ratio <kappa delta^2>/kT per layer on the result.

    Examples
    --------
    >>> from analogsim import Network
    >>> from analogsim.inference.simulate import relax
    >>> net = Network.create([1, 3, 1], kappa=1.0, seed=0)
    >>> r = relax(net, [0.2], kT=0.1, dt=0.02, n_steps=200, n_replicas=64, integrator="mala",
    ...           record=[EnergyMoments(burn_in=50)], seed=1)
    >>> r.equipartition.shape, r.n_recorded
    ((2,), 150)
    """

    burn_in: int = 0
    name = "energy"

    def __post_init__(self):
        check_scalar(self.burn_in, "burn_in", low=0, integer=True)


@dataclass(frozen=True)
class ParamForce(Observer):
    """Mean of dH/dtheta over recorded steps and replicas (layout of ``net.theta``).

    With only the input clamped it estimates dF/dtheta = 0 (the free energy does not depend on the
    parameters); Euler-Maruyama's bias shows up as a spurious non-zero mean at large steps.

    Examples
    --------
    >>> from analogsim import Network
    >>> from analogsim.inference.simulate import relax
    >>> net = Network.create([1, 3, 1], kappa=1.0, seed=0)
    >>> r = relax(net, [0.2], kT=0.1, dt=0.02, n_steps=100, n_replicas=32, integrator="mala",
    ...           record=[ParamForce()], seed=1)
    >>> r.param_force.shape == (net.n_params,)
    True
    """

    burn_in: int = 0
    name = "param_force"

    def __post_init__(self):
        check_scalar(self.burn_in, "burn_in", low=0, integer=True)


@dataclass(frozen=True)
class Trajectory(Observer):
    """Save the state every ``every`` steps (after steps every, 2 every, ...), flat layout (B, n_total).

    Examples
    --------
    >>> from analogsim import Network
    >>> from analogsim.inference.simulate import relax
    >>> net = Network.create([1, 3, 1], kappa=1.0, seed=0)
    >>> r = relax(net, [0.2], kT=0.1, dt=0.02, n_steps=100, n_replicas=4, integrator="mala",
    ...           record=[Trajectory(every=25)], seed=1)
    >>> r.trajectory.shape                       # (saves, replicas, n_0 + n_1 + n_2)
    (4, 4, 5)
    """

    every: int = 1
    name = "trajectory"

    def __post_init__(self):
        check_scalar(self.every, "every", low=1, integer=True)


_BY_NAME = {"books": Books, "energy": EnergyMoments, "param_force": ParamForce, "trajectory": Trajectory}


def parse_record(record) -> dict:
    """Observers from ``record`` (observer objects and/or names) -> {name: observer}.

    Examples
    --------
    >>> sorted(parse_record(("books", Trajectory(every=5))))
    ['books', 'trajectory']
    >>> parse_record(["energies"])
    Traceback (most recent call last):
    ...
    ValueError: record[0] must be an observer or one of ['books', 'energy', 'param_force', 'trajectory'], got 'energies'
    """
    if record is None:
        record = ()
    if isinstance(record, (str, Observer)):
        record = (record,)
    out = {}
    for i, item in enumerate(record):
        if isinstance(item, str):
            if item not in _BY_NAME:
                raise ValueError(f"record[{i}] must be an observer or one of {sorted(_BY_NAME)}, got {item!r}")
            item = _BY_NAME[item]()
        if not isinstance(item, Observer):
            raise TypeError(f"record[{i}] must be an observer or a name, got {item!r}")
        if item.name in out:
            raise ValueError(f"record lists {item.name!r} twice")
        out[item.name] = item
    burn = {o.burn_in for o in out.values() if hasattr(o, "burn_in")}
    if len(burn) > 1:
        raise ValueError(f"EnergyMoments and ParamForce must use the same burn_in, got {sorted(burn)}")
    return out


# ----------------------------------------------------------------------------- Jarzynski
@dataclass(frozen=True)
class JarzynskiEstimate:
    """Jarzynski's estimator of exp(-Delta F/kT) from the works of independent replicas.

    Attributes
    ----------
    value : float
        <exp(-W/kT)> (equals exp(-Delta F/kT); 1 for quasi-static inference, where Delta F = 0).
    se : float
        Its standard error (sample standard deviation of exp(-W/kT) over sqrt(n)).
    delta_F : float
        -kT ln(value).
    ess : float
        Effective sample size (sum w)^2 / sum w^2 of the weights w = exp(-W/kT). When it is small
        compared with n the estimate is dominated by rare low-work paths and biased (fast protocols);
        that is not a violation of the equality.
    n : int

    Examples
    --------
    >>> import numpy as np
    >>> est = jarzynski(np.zeros(100), kT=1.0)          # reversible: every work is 0
    >>> est.value, abs(est.delta_F), est.ess
    (1.0, 0.0, 100.0)
    """

    value: float
    se: float
    delta_F: float
    ess: float
    n: int


def jarzynski(work, kT: float) -> JarzynskiEstimate:
    r"""Jarzynski estimate :math:`\langle e^{-W/kT}\rangle` with SE and effective sample size.

    Computed with the largest weight factored out, so large works do not underflow.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> W = rng.normal(0.5, 1.0, 100000)          # Gaussian work: exact <e^-W> = e^{-0.5 + 0.5} = 1
    >>> est = jarzynski(W, 1.0)
    >>> bool(abs(est.value - 1) < 4 * est.se)
    True
    """
    W = check_array(work, "work", ndim=1).astype(np.float64)
    kT = check_scalar(kT, "kT", low=0.0, low_open=True)
    if W.size < 1:
        raise ValueError("work must hold at least one value")
    a = -W / kT
    m = float(np.max(a))
    w = np.exp(a - m)
    mean_w = float(np.mean(w))
    value = mean_w * np.exp(m)
    se = float(np.std(w, ddof=1) / np.sqrt(W.size)) * np.exp(m) if W.size > 1 else float("nan")
    ess = float(np.sum(w) ** 2 / np.sum(w * w))
    return JarzynskiEstimate(value=float(value), se=float(se), delta_F=float(-kT * (np.log(mean_w) + m)),
                             ess=ess, n=int(W.size))
