r"""Integrators of the overdamped Langevin equation of the neurons (docs/theory/langevin.md).

    dx = -Gamma dH/dx dt + sqrt(2 Gamma kT) dW

Each integrator is a small immutable object that declares its order and whether its stationary
distribution is the exact Boltzmann law; :func:`analogsim.inference.simulate.relax` hands its ``code`` to the
compiled step loop (:mod:`analogsim.kernels.langevin`). Adding an integrator means a step function
in the kernels, a code, and a class here; nothing else changes (an underdamped integrator would also
declare the extra state it carries, e.g. velocities).
"""

from __future__ import annotations

from dataclasses import dataclass

from .._checks import check_scalar
from ..kernels.langevin import EM as _EM
from ..kernels.langevin import MALA as _MALA

__all__ = ["Integrator", "EulerMaruyama", "MALA", "get_integrator"]


@dataclass(frozen=True)
class Integrator:
    """Base: ``code`` (kernel dispatch), ``weak_order``, ``strong_order``, ``exact_stationary``.

    An integrator declares what it guarantees: its weak and strong orders in dt, and whether its stationary
    law is exactly exp(-H/kT) at any stable step (MALA) or biased by O(dt lambda_max) (Euler-Maruyama).

    Examples
    --------
    >>> from analogsim.inference.integrators import MALA, EulerMaruyama
    >>> [(i.name, i.weak_order, i.exact_stationary) for i in (EulerMaruyama(), MALA())]
    [('euler_maruyama', 1, False), ('mala', 1, True)]
    """

    name = "integrator"
    code = -1
    weak_order = 0
    strong_order = 0.0
    exact_stationary = False
    needs_temperature = False


@dataclass(frozen=True)
class EulerMaruyama(Integrator):
    r"""Euler–Maruyama: x_{k+1} = x_k - Gamma dt g(x_k) + sqrt(2 Gamma kT dt) xi_k.

    Weak order 1, strong order 1/2 (additive noise: strong order 1). Not exact: its stationary
    law is biased, the worst layer's equipartition ratio being about 1 + c Gamma dt lambda_max with
    c = :data:`analogsim.inference.stability.EM_BIAS_WORST_LAYER` (measured: 0.221 +- 0.002), so the bias reaches 1 %
    at Gamma dt lambda_max = 0.045 (:data:`analogsim.inference.stability.EM_BIAS_WARN_DTL`), where
    :func:`~analogsim.inference.simulate.relax` starts to warn. Its first-law residual (trapezoid heat) is of order dt at a fixed protocol duration.
    Use a smaller dt or :class:`MALA`. One gradient pass per step. Works at kT = 0 (gradient descent).

    Examples
    --------
    >>> EulerMaruyama().exact_stationary
    False
    """

    name = "euler_maruyama"
    code = _EM
    weak_order = 1
    strong_order = 0.5
    exact_stationary = False
    needs_temperature = False


@dataclass(frozen=True)
class MALA(Integrator):
    r"""Metropolis-adjusted Langevin: an Euler–Maruyama proposal accepted with the Metropolis–Hastings
    probability min(1, exp(-(H' - H)/kT) q(x|x')/q(x'|x)).

    Its stationary law is exactly exp(-H/kT) at any stable dt (acceptance ~0.9 at dt lambda_max ~ 0.7);
    Jarzynski's equality then holds for any dt. Weak order 1 in time along paths. Needs kT > 0.
    One gradient pass per step (at the proposal). ``min_acceptance``: a run whose overall acceptance
    falls below it is reported as stalled (raises by default).

    Examples
    --------
    >>> MALA().exact_stationary
    True
    """

    min_acceptance: float = 0.01
    name = "mala"
    code = _MALA
    weak_order = 1
    strong_order = 0.5
    exact_stationary = True
    needs_temperature = True

    def __post_init__(self):
        check_scalar(self.min_acceptance, "min_acceptance", low=0.0, high=1.0)


_NAMES = {"euler_maruyama": EulerMaruyama, "em": EulerMaruyama, "euler": EulerMaruyama, "mala": MALA}


def get_integrator(spec) -> Integrator:
    """An integrator from an instance or a name ('em', 'euler_maruyama', 'mala').

    Examples
    --------
    >>> get_integrator("MALA").exact_stationary
    True
    >>> get_integrator("em").name
    'euler_maruyama'
    """
    if isinstance(spec, Integrator):
        return spec
    if isinstance(spec, str) and spec.lower() in _NAMES:
        return _NAMES[spec.lower()]()
    raise ValueError(f"integrator must be EulerMaruyama(), MALA() or one of {sorted(_NAMES)}, got {spec!r}")
