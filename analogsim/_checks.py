"""Validation at the boundary: every message names the argument, the value, and what is expected."""

from __future__ import annotations

import numbers

import numpy as np

_FLOAT_DTYPES = {"float32": np.float32, "float64": np.float64}


def as_dtype(dtype, name: str = "dtype") -> np.dtype:
    """Return np.float32 or np.float64 for a dtype-like, else raise."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{name} must be 'float32' or 'float64', got {dtype!r}") from None
    if dt not in (np.float32, np.float64):
        raise ValueError(f"{name} must be 'float32' or 'float64', got {dt.name!r}")
    return dt


def check_scalar(value, name: str, *, low=None, high=None, low_open=False, high_open=False,
                 integer=False) -> float | int:
    """Check a real (or integer) scalar against bounds and return it as float/int."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.generic)):
        kind = "an integer" if integer else "a real number"
        raise TypeError(f"{name} must be {kind}, got {value!r} ({type(value).__name__})")
    if integer:
        if isinstance(value, float) and not float(value).is_integer():
            raise TypeError(f"{name} must be an integer, got {value!r}")
        value = int(value)
    else:
        value = float(value)
        if not np.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value!r}")
    if low is not None and (value < low or (low_open and value == low)):
        op = ">" if low_open else ">="
        raise ValueError(f"{name} must be {op} {low}, got {value!r}")
    if high is not None and (value > high or (high_open and value == high)):
        op = "<" if high_open else "<="
        raise ValueError(f"{name} must be {op} {high}, got {value!r}")
    return value


def check_kT(kT, name: str = "kT") -> float:
    return check_scalar(kT, name, low=0.0)


def check_array(a, name: str, *, ndim=None, shape=None, dtype=None, finite=True, copy=False) -> np.ndarray:
    """Convert to a float ndarray and check its dimensionality, shape and finiteness.

    ``shape`` may hold None for free axes, e.g. ``(None, 4)``.
    """
    if a is None:
        raise TypeError(f"{name} must be an array, got None")
    try:
        arr = np.array(a, dtype=dtype, copy=copy) if copy else np.asarray(a, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a numeric array, got {type(a).__name__}: {exc}") from None
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    if ndim is not None:
        ndims = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in ndims:
            want = " or ".join(str(d) for d in ndims)
            raise ValueError(f"{name} must be {want}-dimensional, got shape {arr.shape}")
    if shape is not None:
        if arr.ndim != len(shape) or any(s is not None and s != t for s, t in zip(shape, arr.shape)):
            want = "(" + ", ".join("any" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"{name} must have shape {want}, got {arr.shape}")
    if finite and arr.size and not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} must be finite, got {bad} NaN/inf value(s)")
    return arr


def as_generator(seed, name: str = "seed") -> np.random.Generator:
    """A numpy Generator from an int, SeedSequence, Generator or None."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or isinstance(seed, np.random.SeedSequence):
        return np.random.default_rng(seed)
    if isinstance(seed, (numbers.Integral, np.integer)) and not isinstance(seed, bool):
        if seed < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {seed}")
        return np.random.default_rng(int(seed))
    raise TypeError(f"{name} must be an int, a numpy SeedSequence or Generator, or None; got {seed!r}")


def as_seedsequence(seed, name: str = "seed") -> np.random.SeedSequence:
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if seed is None:
        return np.random.SeedSequence()
    if isinstance(seed, (numbers.Integral, np.integer)) and not isinstance(seed, bool):
        if seed < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {seed}")
        return np.random.SeedSequence(int(seed))
    raise TypeError(f"{name} must be an int or a numpy SeedSequence, got {seed!r}")


def check_layer_states(xs, sizes, name: str = "xs", labels=None) -> list:
    """A list of L+1 numeric (B, n_l) arrays, one per layer of a network with layer sizes ``sizes``.

    Shapes only (cheap: state checks run inside solver loops); nested lists are converted, non-finite values are
    not rejected. ``labels``: layer names to put into the shape message (a graph network's), or None.

    Examples
    --------
    >>> [x.shape for x in check_layer_states([[[0.0, 1.0]], [[2.0]]], (2, 1))]
    [(1, 2), (1, 1)]
    >>> check_layer_states([[[0.0, 1.0]], [[2.0, 3.0]]], (2, 1))
    Traceback (most recent call last):
    ValueError: xs[1] must have shape (1, 1), got (1, 2)
    """
    L1 = len(sizes)
    if isinstance(xs, np.ndarray) or not isinstance(xs, (list, tuple)) or len(xs) != L1:
        raise ValueError(f"{name} must be a list of {L1} arrays [x_0, ..., x_L] with shapes (B, n_l), "
                         f"n = {list(sizes)}; got {type(xs).__name__}"
                         + (f" of length {len(xs)}" if hasattr(xs, "__len__") else ""))
    out, B = [], None
    for l, x in enumerate(xs):
        if not isinstance(x, np.ndarray):
            try:
                x = np.asarray(x)
            except (TypeError, ValueError) as exc:
                raise TypeError(f"{name}[{l}] must be a numeric array of shape (B, {sizes[l]}): {exc}") from None
        if x.dtype.kind not in "fiub":
            raise TypeError(f"{name}[{l}] must be a numeric array of shape (B, {sizes[l]}), got dtype {x.dtype}")
        B = x.shape[0] if B is None and x.ndim == 2 else B
        if x.ndim != 2 or x.shape != (B, sizes[l]):
            where = "" if labels is None else f" (layer {labels[l]!r})"
            raise ValueError(f"{name}[{l}]{where} must have shape ({'B' if B is None else B}, {sizes[l]}), "
                             f"got {x.shape}")
        out.append(x)
    return out
