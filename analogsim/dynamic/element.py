"""The bistable element: one state bit of a dynamic analog machine as an overdamped particle in a double well.

    U(q; E, t) = E_in (q^2 - 1)^2 - t g(q) / 2,     E_in = E for |q| < 1, E_b for |q| >= 1,
    g(q) = x (3 - x^2) / 2,  x = clip(q / w, -1, 1)

The wells sit at q = -1 (s = 0) and q = +1 (s = 1) for every barrier height E and tilt t; a protocol
lowers the barrier E from the holding value ``E_b`` to ``E_low`` and raises it again, while the walls
outside the wells (E_b (q^2 - 1)^2) stay put, so at E = E_b and t = 0 the potential is the plain quartic
double well. The tilt acts through a smooth step g of width w around the barrier (g = -1 on the s = 0
side beyond -w, +1 on the s = 1 side beyond w): t is exactly the energy of the s = 0 side minus that of
the s = 1 side, at any barrier height, so the Boltzmann occupation of the wrong well is ~ exp(-|t|/kT)
whenever the barrier closes (a linear tilt -t q/2 would give only part of t when the wells are shallow).
Overdamped Langevin dynamics with
mobility mu at temperature kT: dq = mu F dt + sqrt(2 mu kT) dW, F = -dU/dq.

Time unit of protocols: the element's relaxation time in a well at the holding barrier,
tau_r = 1 / (mu U''(+-1)) = 1 / (8 mu E_b).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import integrate, optimize

from .._checks import check_scalar

__all__ = ["DoubleWell"]


@dataclass(frozen=True)
class DoubleWell:
    """A double-well element (see the module docstring for U).

    Parameters
    ----------
    E_b : float
        Holding barrier (energy, same units as kT), also the height scale of the walls. > 0.
    kT : float
        Temperature (energy, k_B = 1). > 0.
    mobility : float
        mu (q^2 per energy per time). > 0.
    E_low : float
        Barrier height a protocol lowers to (-E_b < E_low < E_b): 0 leaves a flat box between the walls.
    tilt_width : float
        Width w of the tilt's step (0 < w < 1).

    Examples
    --------
    >>> el = DoubleWell(E_b=16.0)
    >>> float(el.potential(1.0)), float(el.potential(0.0)), el.relax_time
    (0.0, 16.0, 0.0078125)
    >>> round(el.occupation(el.tilt_for_occupation(0.8)), 12)
    0.8
    """

    E_b: float = 16.0
    kT: float = 1.0
    mobility: float = 1.0
    E_low: float = 0.0
    tilt_width: float = 0.25

    def __post_init__(self):
        object.__setattr__(self, "E_b", check_scalar(self.E_b, "E_b", low=0.0, low_open=True))
        object.__setattr__(self, "kT", check_scalar(self.kT, "kT", low=0.0, low_open=True))
        object.__setattr__(self, "mobility", check_scalar(self.mobility, "mobility", low=0.0, low_open=True))
        object.__setattr__(self, "E_low", check_scalar(self.E_low, "E_low", low=-self.E_b, low_open=True))
        object.__setattr__(self, "tilt_width", check_scalar(self.tilt_width, "tilt_width", low=0.0, low_open=True,
                                                            high=1.0, high_open=True))
        if self.E_low >= self.E_b:
            raise ValueError(f"E_low must be below the holding barrier E_b = {self.E_b:g}, got {self.E_low!r}")

    # ------------------------------------------------------------------ the potential
    def potential(self, q, barrier=None, tilt=0.0):
        """U(q; barrier, tilt) (energy); ``barrier`` defaults to the holding barrier E_b."""
        e = self.E_b if barrier is None else barrier
        q = np.asarray(q, dtype=np.float64)
        u = q * q - 1.0
        return np.where(np.abs(q) < 1.0, e, self.E_b) * u * u - 0.5 * tilt * self.step(q)

    def step(self, q):
        """g(q) = x (3 - x^2)/2, x = clip(q/w, -1, 1): the tilt's smooth step (-1 on the s = 0 side, +1 on s = 1)."""
        x = np.clip(np.asarray(q, dtype=np.float64) / self.tilt_width, -1.0, 1.0)
        return 0.5 * x * (3.0 - x * x)

    def force(self, q, barrier=None, tilt=0.0):
        """F = -dU/dq."""
        e = self.E_b if barrier is None else barrier
        q = np.asarray(q, dtype=np.float64)
        x = np.clip(q / self.tilt_width, -1.0, 1.0)
        dg = 1.5 / self.tilt_width * (1.0 - x * x)
        return -4.0 * np.where(np.abs(q) < 1.0, e, self.E_b) * q * (q * q - 1.0) + 0.5 * tilt * dg

    @property
    def relax_time(self) -> float:
        """tau_r = 1/(8 mu E_b): relaxation time in a well at the holding barrier (the protocols' time unit)."""
        return 1.0 / (8.0 * self.mobility * self.E_b)

    def stiffness(self, tilt=0.0) -> float:
        """An upper estimate of |U''| where the element goes (|q| <= 1.2): 13.3 E_b from the walls plus
        1.5 |tilt| / w^2 from the tilt's step; explicit steps need mu dt times this below ~2."""
        return 13.28 * self.E_b + 1.5 * abs(tilt) / self.tilt_width ** 2

    # ------------------------------------------------------------------ equilibrium, by quadrature
    def _boltzmann_integral(self, a, b, barrier, tilt, shift):
        f = lambda x: math.exp(-(float(self.potential(x, barrier, tilt)) - shift) / self.kT)  # noqa: E731
        w = self.tilt_width
        pts = [p for p in (-1.0, -w, 0.0, w, 1.0) if a < p < b]
        return integrate.quad(f, a, b, points=pts or None, limit=400, epsabs=0.0, epsrel=1e-12)[0]

    def _edges(self):
        # beyond |q| = 1 + 8 sqrt(kT/E_b) (and >= 1.6) the walls' Boltzmann weight is negligible
        r = 1.0 + max(0.6, 8.0 * math.sqrt(self.kT / self.E_b))
        return -r, r

    def occupation(self, tilt=0.0, barrier=None) -> float:
        """Equilibrium probability of s = 1 (q > 0) at (barrier, tilt), by quadrature."""
        lo, hi = self._edges()
        shift = min(float(self.potential(-1.0, barrier, tilt)), float(self.potential(1.0, barrier, tilt)))
        z0 = self._boltzmann_integral(lo, 0.0, barrier, tilt, shift)
        z1 = self._boltzmann_integral(0.0, hi, barrier, tilt, shift)
        return z1 / (z0 + z1)

    def free_energy(self, tilt=0.0, barrier=None, well=None) -> float:
        """-kT ln Z at (barrier, tilt): the whole line, or restricted to one well (``well`` = 0: q < 0, 1: q > 0)."""
        lo, hi = self._edges()
        a, b = {None: (lo, hi), 0: (lo, 0.0), 1: (0.0, hi)}[well]
        shift = float(min(self.potential(-1.0, barrier, tilt), self.potential(1.0, barrier, tilt)))
        return shift - self.kT * math.log(self._boltzmann_integral(a, b, barrier, tilt, shift))

    def tilt_for_occupation(self, p, barrier=None) -> float:
        """The tilt whose equilibrium occupation of s = 1 is ``p`` (0 < p < 1), by root finding."""
        p = check_scalar(p, "p")
        if not 0.0 < p < 1.0:
            raise ValueError(f"p must be in the open interval (0, 1), got {p!r}")
        if p == 0.5:
            return 0.0  # by symmetry
        t0 = self.kT * math.log(p / (1.0 - p))
        g = lambda t: self.occupation(t, barrier) - p  # noqa: E731
        lo, hi = t0 - 2.0 * self.kT - 1.0, t0 + 2.0 * self.kT + 1.0
        return float(optimize.brentq(g, lo, hi, xtol=1e-13, rtol=1e-13))

    def wrong_well_occupation(self, depth, barrier=None) -> float:
        """Boltzmann occupation of s = 1 at tilt -``depth`` (the error a reset with this depth would
        freeze in if the barrier closed at ``barrier``)."""
        return self.occupation(-float(depth), barrier)

    # ------------------------------------------------------------------ escape
    def kramers_time(self, barrier=None) -> float:
        """Kramers' mean time to leave a well at zero tilt (high-barrier limit):
        2 pi / (mu sqrt(U''(1) |U''(0)|)) exp(E/kT) = 2 pi / (mu sqrt(32) E) exp(E/kT) (walls E_b)."""
        e = self.E_b if barrier is None else barrier
        return 2.0 * math.pi / (self.mobility * math.sqrt(8.0 * self.E_b * 4.0 * e)) * math.exp(e / self.kT)

    def mean_first_passage(self, barrier=None, start=-1.0, target=1.0) -> float:
        """Exact mean first-passage time from q = ``start`` to q = ``target`` at zero tilt:
        T = 1/(mu kT) int_start^target dy exp(U(y)/kT) int_{-inf}^y exp(-U(z)/kT) dz (1-D diffusion)."""
        e = self.E_b if barrier is None else barrier
        lo, _ = self._edges()
        kT = self.kT

        def inner(y):
            return self._boltzmann_integral(lo, y, e, 0.0, 0.0)

        def outer(y):
            return math.exp(float(self.potential(y, e)) / kT - e / kT) * inner(y)

        pts = [p for p in (-1.0, -self.tilt_width, 0.0, self.tilt_width, 1.0) if start < p < target]
        val = integrate.quad(outer, start, target, points=pts or None, limit=400, epsrel=1e-10)[0]
        return val * math.exp(e / kT) / (self.mobility * kT)
