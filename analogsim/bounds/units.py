"""Physical units of a run: what its energies are in joules and in bits.

analogsim computes in *energy units* with k_B = 1: the Hamiltonian H (Eq. 6), the temperature kT, the
training work W (Eq. 15) and every bound are numbers in one unit of energy, the substrate's. Three more
ways to state the same energy E are reported beside it:

* **kT**: E / kT, the multiple of the thermal energy (dimensionless; the paper's bounds, Eq. 5-20, are
  stated in these);
* **J**: E times the energy unit in joules, ``energy_unit_J`` (what ``kT = 1`` means for the substrate);
* **bit**: E / (kT ln 2), the negentropy in bits (Eq. 20), i.e. the number of Landauer erasures it pays.

A run's physical temperature T (kelvin) and its energy unit are tied by k_B T = kT * energy_unit_J, so a
run carries one of them and the other follows:

* **default**: the bath is at room temperature, ``temperature_K = 300``; the energy unit is then
  k_B * 300 K / kT. A run at kT = 1e-6 models a substrate whose energy scale (stiffness times the square
  of a typical state) is 10^6 k_B T at room temperature. Joule figures then read "this run at 300 K".
  In a sweep over kT each point is at 300 K and the substrate's energy scale changes from point to point.
* ``energy_unit_J`` given (a fixed substrate): T = kT * energy_unit_J / k_B follows, and a sweep over kT
  is a sweep over the physical temperature.

The constants and the :class:`Energy` value type (an energy in multiples of kT at T kelvin) used by
:mod:`analogsim.bounds` live here too.

Examples
--------
>>> u = RunUnits.of(kT=1e-6)                 # default: 300 K
>>> f"{u.energy_unit_J:.4e}"                  # k_B * 300 K / 1e-6
'4.1419e-15'
>>> r = u.report(2e-6)                        # an energy of 2 kT
>>> r["kT"], f"{r['J']:.3e}", round(r["bits"], 4)
(2.0, '8.284e-21', 2.8854)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import constants

from .._checks import check_scalar

__all__ = ["K_B", "LN2", "T_ROOM", "check_temperature", "kT_joules", "Energy", "RunUnits", "UNIT_NAMES",
           "format_energy", "train_energy_lines"]

K_B: float = constants.k  #: Boltzmann constant in J/K (CODATA, exact)
LN2: float = math.log(2.0)
T_ROOM: float = 300.0  #: default physical temperature in kelvin

#: How each of the four ways of stating an energy is labelled in reports, files and figure axes.
UNIT_NAMES = {"natural": "energy units (k_B = 1)", "kT": "kT", "J": "J", "bits": "bit"}


# ------------------------------------------------------------------------------------------ constants
def check_temperature(T, name: str = "T") -> float:
    """Return T (kelvin) as a float; ValueError unless it is finite and > 0.

    Examples
    --------
    >>> check_temperature(300)
    300.0
    """
    return check_scalar(T, name, low=0.0, low_open=True)


def kT_joules(T=T_ROOM) -> float:
    """The thermal energy k_B T in joules at temperature ``T`` (kelvin).

    Examples
    --------
    >>> f"{kT_joules(300):.4e}"
    '4.1419e-21'
    """
    return K_B * check_temperature(T)


@dataclass(frozen=True)
class Energy:
    """An energy in multiples of kT at temperature ``T`` kelvin.

    Attributes
    ----------
    nat : float
        E / kT (dimensionless). This value does not depend on T.
    T : float
        Temperature in kelvin, used only for :attr:`joules`.

    Examples
    --------
    >>> e = Energy(2 * LN2)
    >>> e.bits, f"{e.joules:.3e}"
    (2.0, '5.742e-21')
    """

    nat: float
    T: float = T_ROOM

    def __post_init__(self):
        check_temperature(self.T)
        if not math.isfinite(self.nat):
            raise ValueError(f"nat must be finite, got {self.nat!r}")

    @property
    def joules(self) -> float:
        """E in joules: nat * k_B * T."""
        return self.nat * K_B * self.T

    @property
    def bits(self) -> float:
        """E / (kT ln 2): the negentropy in bits (Eq. 20), i.e. the number of Landauer erasures it pays for."""
        return self.nat / LN2

    @classmethod
    def from_joules(cls, E, T=T_ROOM) -> "Energy":
        """An energy given in joules at temperature ``T``."""
        T = check_temperature(T)
        return cls(check_scalar(E, "E") / (K_B * T), T)

    @classmethod
    def from_bits(cls, bits, T=T_ROOM) -> "Energy":
        """The energy of ``bits`` Landauer erasures, bits * kT ln 2."""
        return cls(check_scalar(bits, "bits") * LN2, check_temperature(T))

    def at(self, T) -> "Energy":
        """The same natural-unit value at another temperature (a bound proportional to kT)."""
        return Energy(self.nat, check_temperature(T))

    def as_dict(self) -> dict:
        """``{"kT": nat, "joules": ..., "bits": ..., "T_K": T}`` (JSON-ready)."""
        return {"kT": self.nat, "joules": self.joules, "bits": self.bits, "T_K": self.T}


# ------------------------------------------------------------------------------------------ a run's units
@dataclass(frozen=True)
class RunUnits:
    """The physical scale of one run: its kT in energy units, its temperature and its energy unit.

    Build it with :meth:`of`. ``k_B * temperature_K = kT * energy_unit_J`` holds whenever both are
    defined. At kT = 0 with the default (temperature given), the energy unit is undefined: joules and
    bits are nan and :attr:`note` says why.

    Attributes
    ----------
    kT : float
        Temperature in energy units (k_B = 1), as the run was given it.
    temperature_K : float
        Physical temperature in kelvin (nan if undefined).
    energy_unit_J : float
        One energy unit in joules, i.e. what ``kT = 1`` means for the substrate (nan if undefined).
    source : str
        ``'default'`` (300 K), ``'temperature_K'`` or ``'energy_unit_J'``: what was given.

    Examples
    --------
    >>> u = RunUnits.of(kT=0.5, energy_unit_J=1e-20)
    >>> round(u.temperature_K, 2)
    362.15
    >>> RunUnits.of(kT=0.5, temperature_K=300).energy_unit_J == 2 * kT_joules(300)
    True
    """

    kT: float
    temperature_K: float
    energy_unit_J: float
    source: str = "default"

    @classmethod
    def of(cls, kT, temperature_K=None, energy_unit_J=None) -> "RunUnits":
        """The units of a run at ``kT`` (energy units) given its temperature or its energy unit (not both).

        Parameters
        ----------
        kT : float
            >= 0, in energy units.
        temperature_K : float, optional
            Physical temperature in kelvin (> 0). Default 300 K when ``energy_unit_J`` is not given.
        energy_unit_J : float, optional
            Joules per energy unit (> 0).

        Raises
        ------
        ValueError, TypeError
            A bad value, or both ``temperature_K`` and ``energy_unit_J`` given.

        Examples
        --------
        >>> RunUnits.of(1.0).temperature_K
        300.0
        >>> RunUnits.of(1.0, temperature_K=4, energy_unit_J=1e-23)
        Traceback (most recent call last):
        ...
        ValueError: give temperature_K or energy_unit_J, not both (got 4 and 1e-23): one follows from the other and kT
        """
        kT = check_scalar(kT, "kT", low=0.0)
        if temperature_K is not None and energy_unit_J is not None:
            raise ValueError(f"give temperature_K or energy_unit_J, not both (got {temperature_K!r} and "
                             f"{energy_unit_J!r}): one follows from the other and kT")
        if energy_unit_J is not None:
            e = check_scalar(energy_unit_J, "energy_unit_J", low=0.0, low_open=True)
            return cls(float(kT), kT * e / K_B if kT > 0 else float("nan"), float(e), "energy_unit_J")
        source = "default" if temperature_K is None else "temperature_K"
        T = check_temperature(T_ROOM if temperature_K is None else temperature_K, "temperature_K")
        return cls(float(kT), T, K_B * T / kT if kT > 0 else float("nan"), source)

    @property
    def note(self) -> str:
        """One line saying how the joules were obtained (for reports and figure captions).

        Examples
        --------
        >>> RunUnits.of(1e-6).note
        'T = 300 K (default), 1 energy unit = 4.142e-15 J (kT = 1e-06)'
        """
        if not math.isfinite(self.energy_unit_J):
            return f"kT = {self.kT:g}: no thermal scale, joules undefined (give energy_unit_J)"
        T = "T undefined at kT = 0" if not math.isfinite(self.temperature_K) else \
            f"T = {self.temperature_K:.4g} K" + (" (default)" if self.source == "default" else "")
        return f"{T}, 1 energy unit = {self.energy_unit_J:.4g} J (kT = {self.kT:g})"

    def joules(self, E):
        """E (energy units) in joules; nan where the energy unit is undefined. Works on arrays."""
        return E * self.energy_unit_J

    def in_kT(self, E):
        """E / kT (nan at kT = 0). Works on arrays."""
        return E / self.kT if self.kT > 0 else E * float("nan")

    def bits(self, E):
        """E / (kT ln 2), the negentropy in bits (Eq. 20); nan at kT = 0. Works on arrays."""
        return E / (self.kT * LN2) if self.kT > 0 else E * float("nan")

    def report(self, E) -> dict:
        """One energy four ways: ``{"natural", "kT", "J", "bits"}`` (floats; nan where undefined).

        Examples
        --------
        >>> RunUnits.of(kT=2.0, energy_unit_J=1e-21).report(4.0)
        {'natural': 4.0, 'kT': 2.0, 'J': 4e-21, 'bits': 2.8853900817779268}
        """
        E = float(E)
        return {"natural": E, "kT": float(self.in_kT(E)), "J": float(self.joules(E)), "bits": float(self.bits(E))}

    def as_dict(self) -> dict:
        """JSON-ready: kT, temperature_K, energy_unit_J, source and the note."""
        return {"kT": self.kT, "temperature_K": self.temperature_K, "energy_unit_J": self.energy_unit_J,
                "source": self.source, "note": self.note}


def format_energy(name: str, E, units: RunUnits) -> str:
    """``"W = 0.0123 energy units = 1.23e+04 kT = 5.1e-17 J = 1.77e+04 bit"``: one energy four ways.

    Examples
    --------
    >>> format_energy("W", 2e-6, RunUnits.of(1e-6))
    'W = 2e-06 energy units = 2 kT = 8.284e-21 J = 2.885 bit'
    """
    r = units.report(E)

    def f(v):
        return "n/a" if not math.isfinite(v) else f"{v:.4g}"

    return (f"{name} = {f(r['natural'])} energy units = {f(r['kT'])} kT = {f(r['J'])} J = {f(r['bits'])} bit")


def train_energy_lines(result, temperature_K=None, energy_unit_J=None) -> list:
    """Lines for a training summary: the work W (Eq. 15) and 2 N S kT (Eq. 16), each in energy units, kT,
    joules and bits, then how the joules were obtained. ``result`` is a :class:`analogsim.training.TrainResult`
    (its ``books``: W, n_params, presentations, kT_mean).

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> res = NS(books=NS(W=0.05, n_params=97, presentations=1000, kT_mean=1e-6))
    >>> for line in train_energy_lines(res): print(line)
    W (training work, Eq. 15) = 0.05 energy units = 5e+04 kT = 2.071e-16 J = 7.213e+04 bit
    2 N S kT (Eq. 16; a bound only at kT = kT*) = 0.194 energy units = 1.94e+05 kT = 8.035e-16 J = 2.799e+05 bit
    units: T = 300 K (default), 1 energy unit = 4.142e-15 J (kT = 1e-06)
    """
    b = result.books
    u = RunUnits.of(b.kT_mean, temperature_K=temperature_K, energy_unit_J=energy_unit_J)
    return [format_energy("W (training work, Eq. 15)", b.W, u),
            format_energy("2 N S kT (Eq. 16; a bound only at kT = kT*)", 2.0 * b.n_params * b.presentations * b.kT_mean,
                          u),
            f"units: {u.note}"]
