"""numba kernels for exact equilibrium sampling with the input clamped (docs/theory/equilibrium.md).

x_l = f_l(W_l x_{l-1} + b_l) + delta_l with delta_i = sigma_i z_i, sigma_i = sqrt(kT/kappa_i), z_i ~ N(0, 1).

Randomness: the batch rows are cut into chunks of ``chunk`` rows; chunk c owns one xoshiro256++ stream
(:mod:`.rng`, 256-layer ziggurat normals), seeded by splitmix64 from a 128-bit key and c (:func:`seed_states`),
and draws its normals in the order layer, row, neuron. Both paths below draw in that order, so for one seed
they give the same residuals, and the result does not depend on the number of threads.

* :func:`sample_small` - the whole forward pass in one serial call (products on transposed per-chunk buffers
  so that they vectorise), for small nets and batches where the per-call overhead dominates.
* :func:`noise_activate` - one layer after its BLAS product ``Y = X_{l-1} W_l^T``: draws the residuals and
  applies ``f(Y + b) + delta`` in place, one pass over Y, chunks in parallel (:func:`noise_activate_serial`:
  the same on one thread).

Activation codes follow :mod:`analogsim.model.activations` (0 identity, 1 relu, 2 tanh, 3 sigmoid, 4 softplus).
No validation here: the Python layer (:func:`analogsim.model.equilibrium.sample_equilibrium`) checks everything.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange, types
from numba.extending import overload

from .bits import _bits_f32, _bits_f64, _f32_bits, _f64_bits
from .rng import ZIG_KI, _normal_slow, _zig_fast, normal_next, xoshiro_next

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@njit(cache=True, error_model="numpy", inline="always")
def _splitmix(z):
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@njit(cache=True, error_model="numpy", inline="always")
def _chunk_state(k0, k1, c):
    """xoshiro256++ state of chunk c: four splitmix64 outputs from a base mixed from the 128-bit key (k0, k1)."""
    base = _splitmix(np.uint64(k0) ^ _splitmix(np.uint64(k1) + _GOLDEN))
    s = base + np.uint64(c + 1) * _M2
    s += _GOLDEN
    s0 = _splitmix(s)
    s += _GOLDEN
    s1 = _splitmix(s)
    s += _GOLDEN
    s2 = _splitmix(s)
    s += _GOLDEN
    s3 = _splitmix(s)
    if s0 == 0 and s1 == 0 and s2 == 0 and s3 == 0:  # xoshiro's only fixed point
        s0 = _GOLDEN
    return s0, s1, s2, s3


@njit(cache=True, error_model="numpy", fastmath=False)
def seed_states(k0, k1, states):
    """Fill ``states`` (n_chunks, 4) uint64 with the chunk streams of the key (k0, k1) (int64, bit patterns).

    Seeding by splitmix64 expansion is what xoshiro's authors recommend; the key comes from the user's seed
    (an int, a SeedSequence's generate_state, or a Generator's raw output).
    """
    for c in range(states.shape[0]):
        states[c, 0], states[c, 1], states[c, 2], states[c, 3] = _chunk_state(k0, k1, c)


# ----------------------------------------------------------------------------- vectorisable activations
# libm's tanh/exp/log1p are scalar calls that stop LLVM from vectorising a loop (and cost 20-60 ns each);
# these branch-free versions vectorise. Accuracy against numpy (tested): tanh <= 2 ulp, sigmoid and softplus
# a few ulp; exp(x) is flushed to 0 below x = -708 (numpy returns subnormals there).
_MAGIC = 6755399441055744.0  # 1.5 * 2**52: x + _MAGIC rounds x to an integer kept in the low mantissa bits
_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01  # fdlibm's split of ln 2
_LN2_LO = 1.90821492927058770002e-10


@njit(cache=True, error_model="numpy", inline="always")
def exp_neg(x):
    """exp(x) for x <= 0 (float64), branch-free: 2**k * exp(r), |r| <= ln2/2, Taylor to r**13; 0 below -708."""
    xc = max(x, -708.0)
    kd = xc * _LOG2E + _MAGIC
    k = _f64_bits(kd) - _f64_bits(_MAGIC)
    kf = kd - _MAGIC
    r = (xc - kf * _LN2_HI) - kf * _LN2_LO
    p = 1.0 / 6227020800.0
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    e = p * _bits_f64((k + 1023) << 52)
    return e if x >= -708.0 else 0.0


@njit(cache=True, error_model="numpy", inline="always")
def tanh_v(y):
    """tanh (float64): Cephes' rational form below |y| = 0.625, (1 - e)/(1 + e) with e = exp(-2|y|) above."""
    a = abs(y)
    z = a * a
    pz = (-9.64399179425052238628e-1 * z - 9.92877231001918586564e1) * z - 1.61468768441708447952e3
    qz = ((z + 1.12811678491632931402e2) * z + 2.23548839060100448583e3) * z + 4.84406305325125486048e3
    e = exp_neg(-2.0 * a)
    small = a < 0.625
    num = a * qz + a * z * pz if small else 1.0 - e
    den = qz if small else 1.0 + e
    t = num / den
    return t if y >= 0 else -t


@njit(cache=True, error_model="numpy", inline="always")
def sigmoid_v(y):
    """1/(1 + e^{-y}) (float64), from e = exp(-|y|) so nothing overflows."""
    e = exp_neg(-abs(y))
    s = 1.0 / (1.0 + e)
    return s if y >= 0 else e * s


@njit(cache=True, error_model="numpy", inline="always")
def _log1p_unit(u):
    """log(1 + u) for 0 <= u <= 1 (float64): 2 atanh(s), s = u/(2 + u) <= 1/3, series to s**35."""
    s = u / (2.0 + u)
    s2 = s * s
    p = 1.0 / 35.0
    p = p * s2 + 1.0 / 33.0
    p = p * s2 + 1.0 / 31.0
    p = p * s2 + 1.0 / 29.0
    p = p * s2 + 1.0 / 27.0
    p = p * s2 + 1.0 / 25.0
    p = p * s2 + 1.0 / 23.0
    p = p * s2 + 1.0 / 21.0
    p = p * s2 + 1.0 / 19.0
    p = p * s2 + 1.0 / 17.0
    p = p * s2 + 1.0 / 15.0
    p = p * s2 + 1.0 / 13.0
    p = p * s2 + 1.0 / 11.0
    p = p * s2 + 1.0 / 9.0
    p = p * s2 + 1.0 / 7.0
    p = p * s2 + 1.0 / 5.0
    p = p * s2 + 1.0 / 3.0
    p = p * s2 + 1.0
    return 2.0 * s * p


@njit(cache=True, error_model="numpy", inline="always")
def softplus_v(y):
    """log(1 + e^y) = max(y, 0) + log1p(e^{-|y|}) (float64; numpy's logaddexp(0, y))."""
    return max(y, 0.0) + _log1p_unit(exp_neg(-abs(y)))


@njit(cache=True, error_model="numpy", inline="always")
def _relu(v):
    return v if v > 0 else v - v  # +0.0 in v's type


# float32 tanh in float32 arithmetic (8 lanes): Cephes' tanhf polynomial below |y| = 0.625 (about 2 ulp),
# (1 - e)/(1 + e) with e = exp(-2|y|) above, exp by 2**k * (Taylor to r**7).
_F = np.float32
_F_ONE, _F_TWO, _F_HALF, _F_CUT = _F(1.0), _F(2.0), _F(0.5), _F(0.625)
_F_MAGIC = _F(12582912.0)  # 1.5 * 2**23
_F_LOG2E, _F_LN2_HI, _F_LN2_LO = _F(1.4426950408889634), _F(0.693145751953125), _F(1.428606765330187e-06)
_F_MIN = _F(-87.0)
_F_T = (_F(-5.70498872745e-3), _F(2.06390887954e-2), _F(-5.37397155531e-2), _F(1.33314422036e-1),
        _F(-3.33332819422e-1))
_F_E = tuple(_F(1.0 / math.factorial(k)) for k in range(8))


@njit(cache=True, error_model="numpy", inline="always")
def tanh_f32(y):
    """tanh of a float32, computed in float32 (vectorises 8 wide); within 3 ulp of the correctly rounded value."""
    a = abs(y)
    z = a * a
    small = a + a * z * ((((_F_T[0] * z + _F_T[1]) * z + _F_T[2]) * z + _F_T[3]) * z + _F_T[4])
    x = max(_F(-2.0) * a, _F_MIN)
    kd = x * _F_LOG2E + _F_MAGIC
    k = _f32_bits(kd) - _f32_bits(_F_MAGIC)
    kf = kd - _F_MAGIC
    r = (x - kf * _F_LN2_HI) - kf * _F_LN2_LO
    p = _F_E[7]
    p = p * r + _F_E[6]
    p = p * r + _F_E[5]
    p = p * r + _F_E[4]
    p = p * r + _F_E[3]
    p = p * r + _F_E[2]
    p = p * r + _F_E[1]
    p = p * r + _F_E[0]
    e = p * _bits_f32((k + 127) << 23)
    big = (_F_ONE - e) / (_F_ONE + e)
    t = small if a < _F_CUT else big
    return t if y >= 0 else -t


def _tanh_any(v):  # dispatch by type (see the overload below)
    raise NotImplementedError


@overload(_tanh_any, inline="always")
def _tanh_any_impl(v):
    if isinstance(v, types.Float) and v.bitwidth == 32:
        return lambda v: tanh_f32(v)
    return lambda v: tanh_v(np.float64(v))


@njit(cache=True, error_model="numpy", fastmath=False)
def activate(y, code, out):
    """out[i] = f(y[i]) for a 1-D array (the kernels' activations, exposed for tests); tanh of float32 in float32."""
    for i in range(y.shape[0]):
        v = np.float64(y[i])
        if code == 0:
            out[i] = v
        elif code == 1:
            out[i] = _relu(v)
        elif code == 2:
            out[i] = _tanh_any(y[i])
        elif code == 3:
            out[i] = sigmoid_v(v)
        else:
            out[i] = softplus_v(v)


@njit(cache=True, error_model="numpy", inline="always")
def _activate_add_inl(y, d, code):
    """y[j] <- f(y[j]) + d[j] over a 1-D view; one loop per activation so that each vectorises."""
    n = y.shape[0]
    if code == 0:
        for j in range(n):
            y[j] = y[j] + d[j]
    elif code == 1:
        for j in range(n):
            y[j] = _relu(y[j]) + d[j]
    elif code == 2:
        for j in range(n):
            y[j] = _tanh_any(y[j]) + d[j]
    elif code == 3:
        for j in range(n):
            y[j] = sigmoid_v(np.float64(y[j])) + d[j]
    else:
        for j in range(n):
            y[j] = softplus_v(np.float64(y[j])) + d[j]


@njit(cache=True, error_model="numpy", fastmath=False)
def _activate_add(y, d, code):
    """:func:`_activate_add_inl` as a function call (keeps the large kernels' compile time down)."""
    _activate_add_inl(y, d, code)


@njit(cache=True, error_model="numpy", inline="always")
def _normal52(s0, s1, s2, s3):
    """rng.normal_next with its fast path inlined (the same numbers)."""
    r, s0, s1, s2, s3 = xoshiro_next(s0, s1, s2, s3)
    idx, rabs, x = _zig_fast(r)
    if rabs < ZIG_KI[idx]:
        return x, s0, s1, s2, s3
    ok, x, s0, s1, s2, s3 = _normal_slow(idx, rabs, x, s0, s1, s2, s3)
    if ok:
        return x, s0, s1, s2, s3
    return normal_next(s0, s1, s2, s3)


@njit(cache=True, error_model="numpy", inline="always")
def _draw_row_inl(d, sig, s0, s1, s2, s3):
    """d[j] <- sig[j] * z_j, z_j ~ N(0, 1) from the stream; returns the stream state.

    The same 52-bit normals for float32 and float64 nets (a float32 net and its float64 copy draw the same
    residuals, up to rounding).
    """
    for j in range(d.shape[0]):
        z, s0, s1, s2, s3 = _normal52(s0, s1, s2, s3)
        d[j] = sig[j] * z
    return s0, s1, s2, s3


@njit(cache=True, error_model="numpy", fastmath=False)
def _draw_row(d, sig, s0, s1, s2, s3):
    """:func:`_draw_row_inl` as a function call."""
    return _draw_row_inl(d, sig, s0, s1, s2, s3)


# ----------------------------------------------------------------------------- large nets: one layer after BLAS
@njit(cache=True, error_model="numpy", inline="always")
def _noise_chunk(c, Y, bias, sig, code, D, states, chunk):
    B = Y.shape[0]
    n = Y.shape[1]
    s0, s1, s2, s3 = states[c, 0], states[c, 1], states[c, 2], states[c, 3]
    for r in range(c * chunk, min(B, (c + 1) * chunk)):
        s0, s1, s2, s3 = _draw_row(D[r], sig, s0, s1, s2, s3)
        yr = Y[r]
        for j in range(n):
            yr[j] += bias[j]
        _activate_add(yr, D[r], code)
    states[c, 0], states[c, 1], states[c, 2], states[c, 3] = s0, s1, s2, s3


@njit(cache=True, error_model="numpy", parallel=True, fastmath=False)
def noise_activate(Y, bias, sig, code, D, states, chunk):
    """One layer, in place: ``D = sig * z`` and ``Y <- f(Y + bias) + D``; rows in chunks, chunks in parallel.

    Parameters
    ----------
    Y : (B, n) float32/float64, C-contiguous
        The products X_{l-1} W_l^T on entry; x_l on exit.
    bias, sig : (n,) same dtype
        b_l and sqrt(kT/kappa_l).
    code : int
        Activation code of layer l.
    D : (B, n) same dtype
        Receives delta_l.
    states : (ceil(B/chunk), 4) uint64
        One xoshiro256++ state per chunk (:func:`seed_states`), advanced in place.
    chunk : int
    """
    for c in prange(states.shape[0]):
        _noise_chunk(c, Y, bias, sig, code, D, states, chunk)


@njit(cache=True, error_model="numpy", fastmath=False)
def noise_activate_serial(Y, bias, sig, code, D, states, chunk):
    """:func:`noise_activate` on the calling thread (the same numbers); better when the cores are busy."""
    for c in range(states.shape[0]):
        _noise_chunk(c, Y, bias, sig, code, D, states, chunk)


# ----------------------------------------------------------------------------- small nets: the whole pass
@njit(cache=True, error_model="numpy", fastmath=False)
def sample_small(theta, lay, kappa, kT, k0, k1, x0, X, D, chunk):
    """The whole forward pass with residuals in one serial call (small nets and batches).

    Parameters
    ----------
    theta : (N,) flat parameters (W_l row-major then b_l per layer)
    lay : int64 layout vector (:func:`layout`)
    kappa : (n_1 + ... + n_L,) stiffness; sigma = sqrt(kT/kappa)
    kT : float
    k0, k1 : int64
        Key of the chunk streams (as :func:`seed_states`).
    x0 : (B, n_0) clamped inputs
    X : (B, n_total) receives the flat state [x_0, ..., x_L]
    D : (B, n_1 + ... + n_L) receives the residuals
    chunk : int
        Rows per stream.

    Notes
    -----
    Each chunk runs all layers; a layer's products are computed on transposed (neuron, row) buffers so that the
    loops over rows vectorise; the residuals are drawn row by row in the order of :func:`noise_activate`.
    """
    B = X.shape[0]
    L = (lay.shape[0] - 4) // 6
    w = 0
    for l in range(L + 1):
        w = max(w, lay[l])
    R0 = min(B, chunk)
    nk = kappa.shape[0]
    work = np.empty(3 * w * R0 + nk, dtype=X.dtype)  # one allocation: three (neuron, row) buffers and sigma
    XT = work[:w * R0].reshape((w, R0))
    YT = work[w * R0:2 * w * R0].reshape((w, R0))
    DT = work[2 * w * R0:3 * w * R0].reshape((w, R0))
    sig = work[3 * w * R0:]
    for i in range(nk):
        sig[i] = np.sqrt(kT / kappa[i])
    n0 = lay[0]
    for c in range((B + chunk - 1) // chunk):
        s0, s1, s2, s3 = _chunk_state(k0, k1, c)
        r0 = c * chunk
        R = min(B, r0 + chunk) - r0
        for r in range(R):
            for i in range(n0):
                X[r0 + r, i] = x0[r0 + r, i]
                XT[i, r] = x0[r0 + r, i]
        for l in range(L):
            n_in = lay[l]
            n_out = lay[l + 1]
            wo = lay[L + 1 + l]
            bo = lay[2 * L + 1 + l]
            code = lay[3 * L + 1 + l]
            ko = lay[4 * L + 1 + l]
            xo = lay[5 * L + 3 + l]  # x_offsets[l + 1]: the output layer's columns
            sl = sig[ko:ko + n_out]
            for r in range(R):  # residuals: stream order row, neuron (as in noise_activate)
                dr = D[r0 + r, ko:ko + n_out]
                s0, s1, s2, s3 = _draw_row_inl(dr, sl, s0, s1, s2, s3)
                for j in range(n_out):
                    DT[j, r] = dr[j]
            for j in range(n_out):
                yj = YT[j, :R]
                bj = theta[bo + j]
                for r in range(R):
                    yj[r] = bj
                w0 = wo + j * n_in
                for i in range(n_in):
                    wij = theta[w0 + i]
                    xi = XT[i, :R]
                    for r in range(R):
                        yj[r] += wij * xi[r]
                _activate_add_inl(yj, DT[j, :R], code)
                for r in range(R):
                    X[r0 + r, xo + j] = yj[r]
            XT, YT = YT, XT


def layout(net) -> np.ndarray:
    """The int64 layout vector of ``net`` for :func:`sample_small`:
    [sizes (L+1), w_offsets (L), b_offsets (L), act codes (L), k_offsets (L+1), x_offsets (L+2)] (6L + 4 entries,
    read with L = (len - 4) // 6)."""
    sizes = np.asarray(net.sizes, dtype=np.int64)
    k_off = np.concatenate([[0], np.cumsum(sizes[1:])]).astype(np.int64)
    return np.concatenate([sizes, net.w_offsets, net.b_offsets, net.act_codes, k_off,
                           net.x_offsets]).astype(np.int64)


@njit(cache=True, error_model="numpy", fastmath=False)
def draw_residuals(sig, k_off, x_off, k0, k1, Xc, cr, B, chunk):
    """The residuals delta = sig * z of :func:`sample_small` / :func:`noise_activate` (same streams, same order:
    per chunk of ``chunk`` rows, layer, row, neuron), written into the Langevin kernel's chunk layout.

    Parameters
    ----------
    sig : (n_1 + ... + n_L,) sqrt(kT/kappa) in the net's dtype
    k_off : (L+1,) int64 offsets of the layers in ``sig``; x_off : (L+2,) int64 offsets of layers 0..L in a state
    k0, k1 : int64
        Key of the chunk streams (as :func:`seed_states`).
    Xc : (n_chunks, cr * n_total)
        Replica row g lives in chunk g // cr as column g % cr of neuron-major layer blocks
        (:func:`analogsim.kernels.langevin.pack_state`); layer l's block receives delta_l.
    cr, B, chunk : int
        Rows per Langevin chunk, replicas, rows per stream.
    """
    L = k_off.shape[0] - 1
    w = 1
    for l in range(L):
        w = max(w, k_off[l + 1] - k_off[l])
    T = 8  # rows drawn into a tile, then written column by column: 8 consecutive entries of a neuron's block
    buf = np.empty((T, w), dtype=Xc.dtype)
    for c in range((B + chunk - 1) // chunk):
        s0, s1, s2, s3 = _chunk_state(k0, k1, c)
        r0 = c * chunk
        r_end = min(B, r0 + chunk)
        for l in range(L):
            a = k_off[l]
            n = k_off[l + 1] - a
            sl = sig[a:a + n]
            g = r0
            while g < r_end:
                ch = g // cr
                rr = g - ch * cr
                Bc = min(cr, B - ch * cr)
                t = min(T, r_end - g, Bc - rr)  # the tile stays inside one Langevin chunk
                for q in range(t):
                    s0, s1, s2, s3 = _draw_row_inl(buf[q, :n], sl, s0, s1, s2, s3)
                base = Bc * x_off[l + 1] + rr
                xc = Xc[ch]
                for j in range(n):
                    o = base + j * Bc
                    for q in range(t):
                        xc[o + q] = buf[q, j]
                g += t
