"""Protocols of the bistable element: how the barrier and the tilt move in time (set, read, reset).

A :class:`Protocol` is a piecewise-linear path of the control parameters through knots at fractions
0 = s_0 < s_1 < ... < s_K = 1 of its duration. Each knot gives the barrier as a level (1: the holding
barrier E_b, 0: the lowered barrier E_low) and the tilt of element j as

    t_j = a + b gs_j + c gp_j,

with gs_j the element's signal channel (set and uncompute: +-D according to the signal) and gp_j its
prior channel (prior-adapted erasure: the tilt whose equilibrium occupation of s = 1 is p_j).

Reset protocols (docs/theory/dynamic-inference.md: erasing a bit of occupation p of s = 1 to s = 0):

* :func:`standard_erasure` -- lower the barrier, tilt to s = 0 (depth D), raise, untilt. Lowering the
  barrier lets the occupation relax to 1/2 whatever p was, so its quasi-static cost is kT ln 2.
* :func:`prior_adapted_erasure` -- first tilt (at the holding barrier) so that the equilibrium occupation
  equals the element's p, then erase as above: quasi-static cost kT H(p) (Eq. 5 per element).
* :func:`uncompute` -- with the input still present, tilt toward the state the signal set, lower the
  barrier, swing the tilt to s = 0, raise, untilt: the set protocol run backwards; cost -> 0 (Bennett).

:func:`set_protocol` writes s = Theta(y) from the reset state s = 0 reversibly (tilt to s = 0, lower,
swing to the signal's side, raise, untilt); :func:`hold` keeps the parameters (read).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._checks import check_scalar

__all__ = ["Protocol", "standard_erasure", "prior_adapted_erasure", "uncompute", "set_protocol", "hold",
           "RESET_PROTOCOLS"]


@dataclass(frozen=True)
class Protocol:
    """Knots of a piecewise-linear control path (see the module docstring).

    Parameters
    ----------
    name : str
    s : tuple of float
        Knot positions, 0 = s_0 < ... < s_K = 1 (fractions of the duration).
    level : tuple of float
        Barrier level at the knots (1: holding barrier E_b, 0: E_low; linear in between).
    a, b, c : tuple of float
        Tilt coefficients at the knots (a in energy units; b, c multiply the signal and prior channels).

    Examples
    --------
    >>> p = standard_erasure(10.0)
    >>> Eb, A, B, C = p.grid(8, E_b=16.0, E_low=0.0)
    >>> Eb.tolist()
    [16.0, 8.0, 0.0, 0.0, 0.0, 8.0, 16.0, 16.0, 16.0]
    >>> A.tolist()
    [0.0, 0.0, 0.0, -5.0, -10.0, -10.0, -10.0, -5.0, 0.0]
    """

    name: str
    s: tuple
    level: tuple
    a: tuple
    b: tuple
    c: tuple

    def __post_init__(self):
        n = len(self.s)
        for f in ("level", "a", "b", "c"):
            if len(getattr(self, f)) != n:
                raise ValueError(f"{f} must have one value per knot ({n}), got {len(getattr(self, f))}")
        s = np.asarray(self.s, dtype=float)
        if n < 2 or s[0] != 0.0 or s[-1] != 1.0 or np.any(np.diff(s) <= 0):
            raise ValueError(f"s must increase from 0 to 1, got {self.s}")

    def grid(self, n_steps: int, E_b: float, E_low: float):
        """The control parameters at the ``n_steps + 1`` points of a uniform time grid:
        (barrier, a, b, c), each float64 (n_steps + 1,)."""
        n_steps = check_scalar(n_steps, "n_steps", low=1, integer=True)
        x = np.linspace(0.0, 1.0, n_steps + 1)
        lev = np.interp(x, self.s, self.level)
        return (E_low + lev * (E_b - E_low), np.interp(x, self.s, self.a), np.interp(x, self.s, self.b),
                np.interp(x, self.s, self.c))

    @property
    def closed(self) -> bool:
        """True when the path starts and ends at the holding barrier with zero tilt (a reset/set cycle)."""
        return (self.level[0] == self.level[-1] == 1.0 and self.a[0] == self.a[-1] == 0.0
                and self.b[0] == self.b[-1] == 0.0 and self.c[0] == self.c[-1] == 0.0)


def _depth(depth):
    return check_scalar(depth, "depth", low=0.0, low_open=True)


def standard_erasure(depth: float = 10.0) -> Protocol:
    """Lower the barrier, tilt to s = 0 by ``depth`` (energy), raise, untilt: four equal phases.

    Quasi-static cost kT ln 2 per element whatever its occupation p (docs/theory/dynamic-inference.md: the lowered barrier lets
    the occupation relax to 1/2 irreversibly).

    Examples
    --------
    >>> standard_erasure(8.0).a
    (0.0, 0.0, -8.0, -8.0, 0.0)
    """
    d = _depth(depth)
    return Protocol("standard", (0.0, 0.25, 0.5, 0.75, 1.0), (1.0, 0.0, 0.0, 1.0, 1.0),
                    (0.0, 0.0, -d, -d, 0.0), (0.0,) * 5, (0.0,) * 5)


def prior_adapted_erasure(depth: float = 10.0) -> Protocol:
    """Tilt to the prior (prior channel gp_j: the tilt whose equilibrium occupation of s = 1 is p_j) at the
    holding barrier, lower the barrier, tilt to s = 0 by ``depth``, raise, untilt: five equal phases.

    Quasi-static cost kT H(p_j) (Eq. 5 per element).

    Examples
    --------
    >>> prior_adapted_erasure().c
    (0.0, 1.0, 1.0, 0.0, 0.0, 0.0)
    """
    d = _depth(depth)
    return Protocol("prior-adapted", (0.0, 0.2, 0.4, 0.6, 0.8, 1.0), (1.0, 1.0, 0.0, 0.0, 1.0, 1.0),
                    (0.0, 0.0, 0.0, -d, -d, 0.0), (0.0,) * 6, (0.0, 1.0, 1.0, 0.0, 0.0, 0.0))


def uncompute(depth: float = 10.0) -> Protocol:
    """The set protocol run backwards while the input is present: tilt to the signal's side (signal channel
    gs_j = +-D), lower the barrier, swing the tilt to s = 0 by ``depth``, raise, untilt.

    Quasi-static cost 0 (Bennett): Eq. 5 bounds a machine that discards its input.

    Examples
    --------
    >>> uncompute().b
    (0.0, 1.0, 1.0, 0.0, 0.0, 0.0)
    """
    d = _depth(depth)
    return Protocol("uncompute", (0.0, 0.2, 0.4, 0.6, 0.8, 1.0), (1.0, 1.0, 0.0, 0.0, 1.0, 1.0),
                    (0.0, 0.0, 0.0, -d, -d, 0.0), (0.0, 1.0, 1.0, 0.0, 0.0, 0.0), (0.0,) * 6)


def set_protocol(depth: float = 10.0) -> Protocol:
    """Write s = Theta(y) from s = 0: tilt to s = 0 by ``depth``, lower the barrier, swing the tilt to the
    signal's side (signal channel gs_j = +-D), raise, untilt. Reversible given the signal (cost -> 0).

    Examples
    --------
    >>> set_protocol(6.0).a
    (0.0, -6.0, -6.0, 0.0, 0.0, 0.0)
    """
    d = _depth(depth)
    return Protocol("set", (0.0, 0.2, 0.4, 0.6, 0.8, 1.0), (1.0, 1.0, 0.0, 0.0, 1.0, 1.0),
                    (0.0, -d, -d, 0.0, 0.0, 0.0), (0.0, 0.0, 0.0, 1.0, 1.0, 0.0), (0.0,) * 6)


def hold() -> Protocol:
    """Keep the holding barrier and zero tilt (read, or equilibrate inside the wells).

    Examples
    --------
    >>> hold().closed
    True
    """
    return Protocol("hold", (0.0, 1.0), (1.0, 1.0), (0.0, 0.0), (0.0, 0.0), (0.0, 0.0))


#: reset protocols by name
RESET_PROTOCOLS = {"standard": standard_erasure, "prior-adapted": prior_adapted_erasure, "uncompute": uncompute}
