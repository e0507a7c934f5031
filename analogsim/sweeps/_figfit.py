"""Fits behind the sweep figures: a log-log slope with its standard error, T* from a loss curve.

Private to :mod:`analogsim.sweeps.figures` (which re-exports both functions).
"""

from __future__ import annotations

import math

import numpy as np


def fit_slope(x, y) -> tuple[float, float]:
    """Least-squares slope and intercept of log y against log x over the finite, positive pairs.

    Returns (nan, nan) with fewer than two usable points.

    Examples
    --------
    >>> fit_slope([1, 10, 100], [2, 20, 200])[0]
    1.0
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    if ok.sum() < 2 or np.unique(x[ok]).size < 2:
        return float("nan"), float("nan")
    s, c = np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)
    return round(float(s), 12), float(c)


def threshold_from_curve(kT, loss, factor: float = 2.0) -> float:
    """kT* where ``loss`` first reaches ``factor`` x its value at the lowest kT (log-linear interpolation).

    This is the E(T*) = 2 E(0) definition of docs/training.md read off a measured curve whose lowest kT
    stands in for T = 0 (the losses should be excess losses). Returns nan if the curve never gets there.

    Examples
    --------
    >>> round(threshold_from_curve([1e-4, 1e-3, 1e-2], [1.0, 1.5, 3.0]), 6)   # 10^(-3 + 1/3)
    0.002154
    """
    kT, loss = np.asarray(kT, float), np.asarray(loss, float)
    ok = np.isfinite(kT) & np.isfinite(loss)
    kT, loss = kT[ok], loss[ok]
    if kT.size < 2:
        return float("nan")
    order = np.argsort(kT)
    kT, loss = kT[order], loss[order]
    target = factor * loss[0]
    for i in range(1, kT.size):
        if loss[i] >= target:
            a, b = loss[i - 1], loss[i]
            t = (target - a) / (b - a) if b != a else 0.0
            if kT[i - 1] > 0:
                return float(math.exp(math.log(kT[i - 1]) + t * (math.log(kT[i]) - math.log(kT[i - 1]))))
            return float(kT[i - 1] + t * (kT[i] - kT[i - 1]))
    return float("nan")
