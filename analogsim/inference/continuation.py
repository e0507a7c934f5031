"""When a ``relax`` may start from the gradient its kept buffers already hold (a run that continues the last one).

A run's buffers (:class:`~analogsim.inference.langevin_run.LangevinRun`, kept per network between calls) end holding
the final state and its gradient, stresses and energies. A next call on the same network (same parameters: the
buffers live in its cache entry, which is dropped on any change), the same fixed input (the layer-1 values kept
with them), the same output clamp (:func:`clamp_signature`) and a start state that is bit for bit the kept one
(:func:`holds_state`) needs none of them recomputed: the start's gradient pass (one forward and one backward pass,
a step's products) is skipped, and the numbers are those a fresh start computes (the same kernel code produced the
kept values).

:func:`same_array` is the exact comparison behind these and the other per-network caches (parameters, inputs, clamp
sets).
"""

from __future__ import annotations

import numpy as np

__all__ = ["clamp_signature", "same_clamp", "holds_state", "same_array"]


def clamp_signature(clamp, target_protocol):
    """What the kept gradient depends on besides the state, the net and the input: ``('free',)`` without an output
    clamp, ``(hard, stiffness, target values)`` for a fixed one, None for a moving target (never continued).

    Examples
    --------
    >>> import numpy as np
    >>> from analogsim.model.hamiltonian import OutputClamp
    >>> clamp_signature(None, None)
    ('free',)
    >>> clamp_signature(OutputClamp(np.zeros(2), 3.0), None)[:2]
    (False, 3.0)
    """
    if clamp is None:
        return ("free",)
    if target_protocol is not None and (target_protocol.moving or type(target_protocol).__name__ != "Constant"):
        return None
    vals = target_protocol.values if target_protocol is not None else np.asarray(clamp.target)
    return (bool(clamp.hard), None if clamp.hard else float(clamp.stiffness), vals)


def same_clamp(a, b) -> bool:
    """Two :func:`clamp_signature` values are equal (target values compared exactly); None is equal to nothing.

    Examples
    --------
    >>> import numpy as np
    >>> same_clamp(("free",), ("free",)), same_clamp((False, 1.0, np.zeros(2)), (False, 1.0, np.ones(2)))
    (True, False)
    """
    if a is None or b is None or len(a) != len(b):
        return False
    return all(same_array(np.asarray(x), np.asarray(y)) if isinstance(x, np.ndarray) or isinstance(y, np.ndarray)
               else x == y for x, y in zip(a, b))


def same_array(a, b) -> bool:
    """a and b hold the same values bit for bit (signs of zero count), shape and dtype: below 64 kB a byte
    comparison (10x cheaper than ``np.array_equal`` on small arrays), above it ``np.array_equal`` of the float bits
    as integers.

    Examples
    --------
    >>> same_array(np.zeros(3), np.zeros(3)), same_array(np.zeros(3), np.ones(3)), same_array(np.zeros(3), np.zeros(4))
    (True, False, False)
    >>> big = np.zeros(10000); other = big.copy(); other[5] = -0.0
    >>> same_array(big, big.copy()), same_array(big, other)
    (True, False)
    """
    if a is b:
        return True
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.nbytes <= 65536:
        return a.tobytes() == b.tobytes()
    if a.dtype.kind == "f" and a.dtype.itemsize in (4, 8):
        bits = np.int64 if a.dtype.itemsize == 8 else np.int32
        return bool(np.array_equal(a.view(bits), b.view(bits)))
    return bool(np.array_equal(a, b))


def holds_state(Xc, init, B, chunk_rows, x_off, hard) -> bool:
    """Whether ``init`` (a flat (B, n_total) state or a list [x_0..x_L]) is, bit for bit, the state held in the chunk
    buffers ``Xc`` (layout of :func:`analogsim.kernels.langevin.pack_state`), apart from what a start puts in place
    anyway: the clamped input x_0 and, with ``hard``, the output. Anything of another shape or dtype is not.

    Examples
    --------
    >>> import numpy as np
    >>> from analogsim.kernels.langevin import pack_state
    >>> off = np.array([0, 2, 5]); X = np.arange(10.0).reshape(2, 5); Xc = np.empty((1, 10))
    >>> pack_state(X, Xc, 2, off)
    >>> holds_state(Xc, X, 2, 2, off, False), holds_state(Xc, X + 1.0, 2, 2, off, False)
    (True, False)
    >>> Y = X.copy(); Y[:, :2] = -1.0            # the input columns are not compared (the clamp sets them)
    >>> holds_state(Xc, Y, 2, 2, off, False)
    True
    """
    from ..kernels.langevin import block_equal

    off = [int(v) for v in x_off]
    L = len(off) - 2
    dt = Xc.dtype
    if isinstance(init, np.ndarray):
        if init.ndim != 2 or init.shape != (B, off[-1]) or init.dtype != dt:
            return False
        layers = [init[:, off[l]:off[l + 1]] for l in range(L + 1)]
    else:
        try:
            layers = list(init)
        except TypeError:
            return False
        if len(layers) != L + 1 or not (isinstance(layers[0], np.ndarray) and layers[0].shape[-1:] == (off[1],)):
            return False
        for l in range(1, L + 1):
            x = layers[l]
            if not (isinstance(x, np.ndarray) and x.dtype == dt and x.shape == (B, off[l + 1] - off[l])):
                return False
    last = L if hard else L + 1
    bits = np.int64 if dt.itemsize == 8 else np.int32  # compared as bits (signs of zero count; the kept state is finite)
    for ch in range(Xc.shape[0]):
        r0 = ch * chunk_rows
        Bc = min(chunk_rows, B - r0)
        for l in range(1, last):
            if not block_equal(Xc[ch].view(bits), layers[l][r0:r0 + Bc].view(bits), off[l], off[l + 1]):
                return False
    return True
