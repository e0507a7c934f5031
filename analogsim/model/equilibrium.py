r"""Exact equilibrium with the input clamped, and the free energy.

With x_0 clamped the map x -> delta is unit block-lower-triangular (Jacobian 1), so
``exp(-H/kT) dx = prod_i N(delta_i; 0, kT/kappa_i) d delta`` exactly, for any weights and activations
(docs/theory/equilibrium.md). Sampling is forward propagation of Gaussian residuals; no Markov chain is involved.

The clamped minimum (input and output clamped) and the stress live in :mod:`analogsim.model.clamped` and are
re-exported here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._checks import check_kT, check_scalar



# ----------------------------------------------------------------------------- exact sampling
@dataclass
class EquilibriumSample:
    """Samples of the clamped-input Gibbs measure.

    Attributes
    ----------
    xs : list of arrays
        [x_0, ..., x_L], each (B, n_l): one independent exact sample per row.
    deltas : list of arrays
        The residuals delta_l = x_l - f(y_l) drawn from N(0, kT/kappa).
    kT : float
        The temperature they were drawn at (energy units).

    Examples
    --------
    >>> from analogsim import Network, sample_equilibrium
    >>> net = Network.create([2, 4, 1], kappa=2.0, seed=0)
    >>> eq = sample_equilibrium(net, [0.5, -0.5], kT=0.1, n_replicas=1000, seed=1)
    >>> [x.shape for x in eq.xs]
    [(1000, 2), (1000, 4), (1000, 1)]
    >>> ratio, se = eq.equipartition(net.kappa)           # <kappa delta^2>/kT per layer, about 1
    >>> bool(all(abs(ratio - 1) < 5 * se))
    True
    """

    xs: list
    deltas: list
    kT: float

    def equipartition(self, kappa):
        """Per layer: mean of kappa delta^2 / kT and its standard error (see :func:`equipartition`)."""
        return equipartition(kappa, self.deltas, self.kT)


def sample_equilibrium(net, x0, kT: float, n_replicas: int | None = None, seed=None) -> EquilibriumSample:
    r"""Exact samples of the neurons at temperature kT with the input clamped (docs/theory/equilibrium.md).

    Draws delta_i ~ N(0, kT/kappa_i) and propagates forward, x_l = f(W_l x_{l-1} + b_l) + delta_l.

    Parameters
    ----------
    net : Network
    x0 : array (n_0,) or (B, n_0)
        Clamped input; each row gives one sample.
    kT : float
        Temperature in energy units (>= 0; 0 gives the deterministic forward pass).
    n_replicas : int, optional
        With a single input row, the number of independent replicas to draw.
    seed : int, SeedSequence or Generator, optional
        Keys the random streams. The rows are cut into chunks of 64, each with its own xoshiro256++ stream
        (numba kernels, :mod:`analogsim.kernels.sample`), so the same seed gives the same numbers whatever the
        number of threads. An int is expanded by splitmix64, a SeedSequence by ``generate_state``, and a
        Generator contributes two 64-bit words (it advances).

    Returns
    -------
    EquilibriumSample

    Notes
    -----
    Small nets and batches run in one serial numba call; larger ones use BLAS for W x and one numba pass per
    layer for the noise and the activation (chunks in parallel unless the machine is oversubscribed). Both draw
    the same residuals for the same seed and agree to rounding.

    Examples
    --------
    >>> from analogsim import Network, sample_equilibrium
    >>> net = Network.create([3, 8, 2], activations="tanh", kappa=4.0, seed=0)
    >>> s = sample_equilibrium(net, [0.1, 0.2, 0.3], kT=0.5, n_replicas=1000, seed=1)
    >>> ratio, se = s.equipartition(net.kappa)
    >>> bool(abs(ratio[0] - 1) < 4 * se[0])
    True
    """
    if not (type(kT) is float and 0.0 <= kT < math.inf):  # fast path for a plain float
        kT = check_kT(kT)
    x = _checked_input(net, x0)
    if n_replicas is not None:
        n_replicas = check_scalar(n_replicas, "n_replicas", low=1, integer=True)
        if x.shape[0] != 1:
            raise ValueError(f"n_replicas needs a single input row, got x0 with {x.shape[0]} rows")
        x = np.ascontiguousarray(np.broadcast_to(x, (n_replicas, x.shape[1])))
    k0, k1 = _stream_keys(seed)
    K = _kernels()
    B = x.shape[0]
    lay = _sample_layout(net)
    kap = np.concatenate(net.kappa) if net.depth > 1 else net.kappa[0]
    if lay["small"] and B <= _SMALL_ROWS:
        X = np.empty((B, lay["n_total"]), dtype=net.dtype)
        D = np.empty((B, lay["n_neurons"]), dtype=net.dtype)
        K.sample_small(net.theta, lay["vec"], kap, kT, k0, k1, x, X, D, _CHUNK)
        if not np.isfinite(X).all():
            _overflow(net, X, lay["x_off"])
        xo, ko = lay["x_off"], lay["k_off"]
        return EquilibriumSample([X[:, xo[l]:xo[l + 1]] for l in range(net.depth + 1)],
                                 [D[:, ko[l]:ko[l + 1]] for l in range(net.depth)], kT)
    states = np.empty((-(-B // _CHUNK), 4), dtype=np.uint64)
    K.seed_states(k0, k1, states)
    sig = np.sqrt(kT / kap).astype(net.dtype, copy=False)
    kern = K.noise_activate if _spare_cores() else K.noise_activate_serial
    xs, deltas = [x], []
    ko = lay["k_off"]
    for l in range(net.depth):
        W = net.weights[l]
        y = np.empty((B, W.shape[0]), dtype=net.dtype)
        np.matmul(x, W.T, out=y)
        d = np.empty_like(y)
        kern(y, net.biases[l], sig[ko[l]:ko[l + 1]], lay["codes"][l], d, states, _CHUNK)
        if not np.isfinite(y).all():
            _overflow(net, np.concatenate(xs + [y], axis=1), np.asarray(lay["x_off"])[:l + 3])
        xs.append(y)
        deltas.append(d)
        x = y
    return EquilibriumSample(xs, deltas, kT)


def _overflow(net, X, x_off):
    """Raise DivergenceError naming the first layer whose state is not finite."""
    from ..errors import DivergenceError

    for l in range(1, len(x_off) - 1):
        if not np.isfinite(X[:, x_off[l]:x_off[l + 1]]).all():
            break
    fix = ("use dtype='float64'" if net.dtype == np.float32 else "scale the input or the weights down")
    raise DivergenceError(f"sample_equilibrium: layer {l} overflowed to inf/NaN in {net.dtype.name}; {fix}",
                          step=0, cause=f"{net.dtype.name} overflow in layer {l}: {fix} (float64 holds |x| < 1.8e308)")


_CHUNK = 64  # rows per random stream (fixed, so results do not depend on the thread count)
_SMALL_MACS = 4096  # nets with at most this many weights, and batches of at most _SMALL_ROWS rows,
_SMALL_ROWS = 512   # run in one serial numba call; the rest use BLAS and a numba pass per layer
_LAYOUTS = None  # weakref.WeakKeyDictionary: net -> kernel layout, made on first use
_U64 = 0xFFFFFFFFFFFFFFFF


_KERNELS = None


def _kernels():
    """analogsim.kernels.sample, imported on first use (numba stays out of ``import analogsim``)."""
    global _KERNELS
    if _KERNELS is None:
        from ..kernels import sample

        _KERNELS = sample
    return _KERNELS


def _spare_cores() -> bool:
    """Run the per-layer pass on numba's threads only when the machine is not oversubscribed.

    On a busy machine (1-minute load average above the core count) a parallel region waits for its slowest,
    descheduled thread; measured on 2 shared cores, the serial pass was then faster. The numbers are the same
    either way (one random stream per chunk of rows).
    """
    import os

    from numba import get_num_threads

    if get_num_threads() < 2:
        return False
    try:
        load = os.getloadavg()[0]
    except (OSError, AttributeError):
        return True
    return load < (os.cpu_count() or 1) + 0.5


def _checked_input(net, x0):
    """net.check_input with a fast path for a C-contiguous (B, n_0) array of the net's dtype.

    The fast path tests finiteness with one dot product (NaN or inf make it non-finite); if that overflows, the
    full check decides.
    """
    if (type(x0) is np.ndarray and x0.dtype == net.dtype and x0.ndim == 2 and x0.shape[0] > 0
            and x0.shape[1] == net.sizes[0] and x0.flags.c_contiguous):
        v = x0.reshape(-1)
        if math.isfinite(v.dot(v)):
            return x0
    return net.check_input(x0)


def _sample_layout(net) -> dict:
    """Integer layout arrays of a net for the sampling kernels (cached per net; sizes and activations are fixed)."""
    global _LAYOUTS
    if _LAYOUTS is None:
        import weakref

        _LAYOUTS = weakref.WeakKeyDictionary()
    lay = _LAYOUTS.get(net)
    if lay is None:
        from ..kernels.sample import layout

        sizes = np.asarray(net.sizes, dtype=np.int64)
        lay = {"vec": layout(net), "codes": [int(c) for c in net.act_codes],
               "k_off": [int(k) for k in np.concatenate([[0], np.cumsum(sizes[1:])])],
               "x_off": [int(k) for k in net.x_offsets], "n_total": int(sizes.sum()),
               "n_neurons": int(sizes[1:].sum()), "small": int(np.sum(sizes[1:] * sizes[:-1])) <= _SMALL_MACS}
        _LAYOUTS[net] = lay
    return lay


def _signed(k: int) -> int:
    """A 64-bit pattern as a signed int64 (the kernels reinterpret it as uint64)."""
    k &= _U64
    return k - (1 << 64) if k >= (1 << 63) else k


def _stream_keys(seed):
    """Two 64-bit words (as int64) that key the sampler's streams, from an int, SeedSequence, Generator or None."""
    if type(seed) is int and 0 <= seed < (1 << 63):  # fast path
        return seed, 0
    if isinstance(seed, np.random.Generator):
        bg = seed.bit_generator
        return _signed(bg.random_raw()), _signed(bg.random_raw())
    if seed is None or isinstance(seed, np.random.SeedSequence):
        k = (seed if seed is not None else np.random.SeedSequence()).generate_state(2, np.uint64)
        return _signed(int(k[0])), _signed(int(k[1]))
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        seed = int(seed)
        if seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed}")
        return _signed(seed), _signed(seed >> 64)
    raise TypeError(f"seed must be an int, a numpy SeedSequence or Generator, or None; got {seed!r}")


def free_energy(net, kT: float) -> float:
    r"""Free energy with the input clamped, :math:`F = (kT/2) \sum_i \ln(\kappa_i / (2\pi kT))`.

    Exact for any weights, biases and input (docs/theory/equilibrium.md). The paper drops the 2 pi (a constant);
    we keep it, so ``F = -kT ln Z`` with ``Z = \int exp(-H/kT) dx`` over the non-input neurons.

    Examples
    --------
    >>> from analogsim import Network, free_energy
    >>> net = Network.create([2, 1], activations="identity", kappa=1.0, seed=0)
    >>> round(free_energy(net, 1.0 / (2 * 3.141592653589793)), 12)
    0.0
    """
    kT = check_scalar(kT, "kT", low=0.0, low_open=True)
    k = net.kappa_flat.astype(np.float64)
    return float(0.5 * kT * np.sum(np.log(k / (2 * np.pi * kT))))


def equipartition(kappa, deltas, kT: float):
    """Per-layer equipartition ratio <kappa delta^2>/kT with its standard error.

    Returns (ratio, se), arrays of length L. The SE is that of the mean over samples of the per-sample
    layer average; for exact samples each kappa delta^2/kT is chi^2_1, so ratio = 1 within a few SE.

    Parameters
    ----------
    kappa : list of arrays
        Stiffness per layer, (n_l,) each (``net.kappa``).
    deltas : list of arrays
        Residuals per layer, (B, n_l) each.
    kT : float
        Temperature (energy units, > 0).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> kappa = [np.full(3, 2.0)]
    >>> deltas = [rng.normal(0.0, np.sqrt(0.1 / 2.0), size=(20000, 3))]    # N(0, kT/kappa), kT = 0.1
    >>> ratio, se = equipartition(kappa, deltas, kT=0.1)
    >>> bool(abs(ratio[0] - 1) < 4 * se[0])
    True
    """
    kT = check_scalar(kT, "kT", low=0.0, low_open=True)
    ratio, se = [], []
    for k, d in zip(kappa, deltas):
        e = np.mean(k * d.astype(np.float64) ** 2, axis=1) / kT  # per sample, averaged over the layer
        ratio.append(float(e.mean()))
        se.append(float(e.std(ddof=1) / np.sqrt(e.size)) if e.size > 1 else float("nan"))
    return np.array(ratio), np.array(se)


# the clamped minimum and the stress live in analogsim.model.clamped; re-exported here for convenience
from .clamped import (ClampedMinimum, backprop_gradient, clamped_minimum, recursion_residual,  # noqa: E402,F401
                      stress_vs_backprop)
