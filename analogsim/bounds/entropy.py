"""The parameter histogram and its entropy H(theta) (IEM 000 Eq. 3, EIT-P 001 Eq. 11), and the shared
conventions of the IEM modules (units, norms).

Shared by :mod:`analogsim.bounds.iem` (numpy) and :mod:`analogsim.bounds._iem_torch` (the differentiable loss),
so that neither imports the other. The choices where the papers are ambiguous are listed in :mod:`.iem`.

Examples
--------
>>> import numpy as np
>>> round(parameter_entropy(np.linspace(-1, 1, 1024, endpoint=False), bins=16).bits, 12)
4.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .._checks import check_array, check_scalar

LN2 = math.log(2.0)
DEFAULT_BINS = 64
_UNITS = ("bits", "nats")


# ------------------------------------------------------------------------------------ histogram
def _flat_theta(theta, name="theta") -> np.ndarray:
    if isinstance(theta, (list, tuple)) and theta and not np.isscalar(theta[0]):
        parts = [check_array(t, f"{name}[{i}]").ravel() for i, t in enumerate(theta)]
        a = np.concatenate(parts)
    else:
        a = check_array(theta, name).ravel()
    if a.size == 0:
        raise ValueError(f"{name} must hold at least one parameter, got an empty array")
    return a.astype(np.float64, copy=False)


def histogram_edges(theta, bins=DEFAULT_BINS, range=None) -> np.ndarray:
    """Bin edges for the parameter histogram.

    Parameters
    ----------
    theta : array or list of arrays
        Parameter values (flattened).
    bins : int or array
        Number of equal-width bins (>= 1), or the edges themselves (strictly increasing, >= 2 entries).
    range : (float, float), optional
        Lower and upper edge for ``bins`` as a count; default the min and max of theta (widened by
        +-0.5 when all values are equal, as numpy does).

    Examples
    --------
    >>> histogram_edges([0.0, 1.0], bins=4).tolist()
    [0.0, 0.25, 0.5, 0.75, 1.0]
    """
    if np.ndim(bins) == 0:
        if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
            raise ValueError(f"bins must be a positive integer or an increasing array of edges, got {bins!r}")
        if range is None:
            a = _flat_theta(theta)
            lo, hi = float(a.min()), float(a.max())
            if lo == hi:
                lo, hi = lo - 0.5, hi + 0.5
        else:
            if np.ndim(range) != 1 or len(range) != 2:
                raise ValueError(f"range must be a pair (low, high), got {range!r}")
            lo = check_scalar(range[0], "range[0]")
            hi = check_scalar(range[1], "range[1]")
            if not lo < hi:
                raise ValueError(f"range must satisfy low < high, got {range!r}")
        return np.linspace(lo, hi, int(bins) + 1)
    if range is not None:
        raise ValueError("give range only with bins as a count; explicit edges already fix the range")
    e = check_array(bins, "bins", ndim=1).astype(np.float64)
    if e.size < 2 or not np.all(np.diff(e) > 0):
        raise ValueError(f"bins as edges must be strictly increasing with at least 2 entries (1 bin), "
                         f"got {e.size} value(s)")
    return e


def _check_outside(outside):
    if outside not in ("clip", "drop"):
        raise ValueError(f"outside must be 'clip' or 'drop', got {outside!r}")


def parameter_histogram(theta, bins=DEFAULT_BINS, range=None, outside: str = "clip"):
    """Counts of the parameter values in each bin: ``(counts, edges)``.

    Bins are [e_i, e_{i+1}) with the last one closed (numpy's convention). ``outside="clip"`` counts
    values beyond the edges in the first/last bin, ``"drop"`` ignores them.

    Examples
    --------
    >>> counts, edges = parameter_histogram([0.1, 0.2, 0.9, 5.0], bins=2, range=(0, 1))
    >>> counts.tolist()
    [2, 2]
    """
    _check_outside(outside)
    a = _flat_theta(theta)
    edges = histogram_edges(a, bins, range)
    if outside == "clip":
        a = np.clip(a, edges[0], edges[-1])
    counts, _ = np.histogram(a, bins=edges)
    return counts.astype(np.int64), edges


def histogram_entropy(counts, unit: str = "bits") -> float:
    """Shannon entropy -sum p_b log p_b of a histogram, p_b = counts_b / sum(counts).

    Parameters
    ----------
    counts : array
        Non-negative bin counts (weights), at least one bin, positive total.
    unit : {'bits', 'nats'}

    Examples
    --------
    >>> histogram_entropy([5, 5, 5, 5])
    2.0
    >>> histogram_entropy([3, 0, 0])
    0.0
    """
    if unit not in _UNITS:
        raise ValueError(f"unit must be 'bits' or 'nats', got {unit!r}")
    c = check_array(counts, "counts").ravel().astype(np.float64)
    if c.size == 0:
        raise ValueError("counts must have at least one bin, got 0 bins")
    if np.any(c < 0):
        raise ValueError(f"counts must be >= 0, got a negative count {float(c[c < 0][0])!r}")
    total = c.sum()
    if total <= 0:
        raise ValueError(f"counts must have a positive total, got {float(total)!r}")
    p = c[c > 0] / total
    h = float(-(p * np.log(p)).sum())
    h = h if h > 0.0 else 0.0  # also turns -0.0 into 0.0
    return h / LN2 if unit == "bits" else h


@dataclass(frozen=True)
class ParameterEntropy:
    """H(theta) of a parameter histogram with the binning that produced it (papers 000/001).

    Attributes
    ----------
    bits, nats : float
        The entropy in bits and in nats (the value depends on the binning: always report it).
    counts, edges : ndarray
        The histogram.
    n_outside : int
        Values outside the range (clipped into the edge bins or dropped, as asked).

    Examples
    --------
    >>> import numpy as np
    >>> from analogsim.bounds.iem import parameter_entropy
    >>> e = parameter_entropy(np.array([0.0, 0.0, 1.0, 1.0]), bins=2)
    >>> e.as_dict()["bins"], e.bits
    (2, 1.0)
    """

    bits: float
    nats: float
    counts: np.ndarray = field(repr=False)
    edges: np.ndarray = field(repr=False)
    n_outside: int = 0

    def as_dict(self) -> dict:
        return {"H_bits": self.bits, "H_nats": self.nats, "bins": int(self.counts.size),
                "range": [float(self.edges[0]), float(self.edges[-1])], "n_outside": self.n_outside}


def parameter_entropy(theta, bins=DEFAULT_BINS, range=None, outside: str = "clip") -> ParameterEntropy:
    """H(theta): entropy of the histogram of the parameter values (000 Eq. 3; 001 Eq. 11), bits and nats.

    For N values spread evenly over B bins H = log2 B; a continuous density gives H ~ h_diff + log2(1/width),
    so H grows with the number of bins: always report the binning (:meth:`ParameterEntropy.as_dict`).

    Examples
    --------
    >>> e = parameter_entropy(np.array([0.0, 0.0, 1.0, 1.0]), bins=2)
    >>> e.bits, round(e.nats, 6)
    (1.0, 0.693147)
    """
    _check_outside(outside)
    a = _flat_theta(theta)
    edges = histogram_edges(a, bins, range)
    n_out = int(np.count_nonzero((a < edges[0]) | (a > edges[-1])))
    counts, _ = parameter_histogram(a, edges, outside=outside)
    if counts.sum() == 0:
        raise ValueError(f"no parameter lies inside range [{edges[0]:g}, {edges[-1]:g}] (outside='drop')")
    nats = histogram_entropy(counts, "nats")
    return ParameterEntropy(nats / LN2, nats, counts, edges, n_out)


def _norm_kind(norm):
    if norm in ("fro", "frobenius"):
        return "fro"
    if norm in ("spectral", 2):
        return "spectral"
    raise ValueError(f"norm must be 'fro' or 'spectral', got {norm!r}")
