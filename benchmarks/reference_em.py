"""A hand-tuned numba Euler-Maruyama step of the same model: the yardstick of ``benchmarks/relax.py``.

Per step, for each chunk of rows (one chunk per thread, ``prange``, no synchronisation; row-major (B, n_l)):

* forward: y_l = x_{l-1} W_l^T by BLAS (numba's ``np.dot``) for l >= 2 (layer 1 is cached: the input is
  fixed), then one fused loop per layer: bias, f, f', the residual delta = x_l - f(y_l), the force
  kappa delta and the stress kappa delta f' (relu, or its own branch-free tanh from a polynomial exp);
* backward: g_{l-1} -= (kappa delta f')_l W_l by BLAS into a scratch and one add loop;
* noise and update: x_l += -Gamma dt g_l + sqrt(2 Gamma kT dt) z, z from a vectorised Box-Muller over 256
  xoshiro256++ lanes (two 64-bit words per pair of normals, 53-bit uniforms; log by an atanh series on the
  mantissa, sin/cos of an angle reduced to [-pi/4, pi/4] by Taylor polynomials: ~1e-16 relative, the exact
  normal law rather than a truncated approximation).

float32 (:func:`make` on a float32 net): the same algorithm in float32 arithmetic throughout (states, products,
fused loops, tanh, update), with the noise drawn the way a fair float32 implementation draws it: one xoshiro256++
word per pair of normals (its high 31 bits, plus half a step, for the radius's uniform in (0, 1]; 2 bits for the
angle's quadrant and 22 within it), log/sin/cos as float32 polynomials (~1e-7 relative; the law exact to float32
rounding out to the smallest uniform, 2^-32, i.e. to 6.7 sigma).

Every kernel is compiled with ``error_model="numpy"`` (no zero-division branch in the divisions of log and tanh)
and picks the Box-Muller quadrant by flat selects: with either a branch the loops do not vectorise.

:func:`make` returns ``run(n)``; :func:`check` compares the noise-free step with numpy (1e-12 in float64, 1e-5 in
float32) and the normals' first four moments with N(0, 1).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange
from numba.core import types
from numba.extending import intrinsic

LANES = 256
_SQRT1_2 = 0.7071067811865476
_LN2 = 0.6931471805599453
_U53 = 1.0 / 9007199254740992.0


def _bitcast(src, dst):
    def cast(typingctx, x):
        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], context.get_value_type(dst))
        return dst(src), codegen
    return intrinsic(cast)


_f2i = _bitcast(types.float64, types.int64)
_i2f = _bitcast(types.int64, types.float64)
_f2i32 = _bitcast(types.float32, types.int32)
_i2f32 = _bitcast(types.int32, types.float32)


@njit(inline="always")
def _rotl(x, k):
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@njit(inline="always")
def _log01(u):
    """log(u), u > 0 normal: exponent from the bits, 2 atanh(s) series on a mantissa in [sqrt(1/2), sqrt(2))."""
    ib = _f2i(u)
    ex = ((ib >> 52) & 0x7FF) - 1023
    m = _i2f((ib & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000)
    big = m > 1.4142135623730951
    m = m * 0.5 if big else m
    ex = ex + 1 if big else ex
    s = (m - 1.0) / (m + 1.0)
    z = s * s
    p = 1.0 / 21.0
    p = p * z + 1.0 / 19.0
    p = p * z + 1.0 / 17.0
    p = p * z + 1.0 / 15.0
    p = p * z + 1.0 / 13.0
    p = p * z + 1.0 / 11.0
    p = p * z + 1.0 / 9.0
    p = p * z + 1.0 / 7.0
    p = p * z + 1.0 / 5.0
    p = p * z + 1.0 / 3.0
    p = p * z + 1.0
    return 2.0 * s * p + ex * _LN2


@njit(cache=True, nogil=True, error_model="numpy")
def _normals(s0, s1, s2, s3, out, wbuf):
    """out[:] <- standard normals (len(out) even or odd), lanes advanced; wbuf: 2 * LANES words of scratch."""
    n = out.shape[0]
    done = 0
    while done < n:
        for half in range(2):
            for i in range(LANES):  # one xoshiro256++ step of every lane (vectorises across lanes)
                a, b, c, d = s0[i], s1[i], s2[i], s3[i]
                wbuf[half * LANES + i] = _rotl(a + d, 23) + a
                t = b << np.uint64(17)
                c ^= a
                d ^= b
                b ^= c
                a ^= d
                c ^= t
                d = _rotl(d, 45)
                s0[i], s1[i], s2[i], s3[i] = a, b, c, d
        m = min(LANES, (n - done + 1) // 2)
        for i in range(LANES):
            u1 = (np.float64(wbuf[i] >> np.uint64(11)) + 1.0) * _U53            # (0, 1]
            u2 = np.float64(wbuf[LANES + i] >> np.uint64(11)) * _U53            # [0, 1)
            r = math.sqrt(-2.0 * _log01(u1))
            v = u2 * 4.0
            q = np.floor(v)
            t = (v - q - 0.5) * (math.pi * 0.5)                                 # [-pi/4, pi/4)
            t2 = t * t
            sn = t * (1.0 + t2 * (-1.0 / 6 + t2 * (1.0 / 120 + t2 * (-1.0 / 5040 + t2 * (
                1.0 / 362880 + t2 * (-1.0 / 39916800 + t2 * (1.0 / 6227020800 + t2 * (-1.0 / 1307674368000))))))))
            cs = 1.0 + t2 * (-0.5 + t2 * (1.0 / 24 + t2 * (-1.0 / 720 + t2 * (1.0 / 40320 + t2 * (
                -1.0 / 3628800 + t2 * (1.0 / 479001600 + t2 * (-1.0 / 87178291200 + t2 / 20922789888000)))))))
            c0 = (cs - sn) * _SQRT1_2                                           # cos(pi/4 + t)
            c1 = (cs + sn) * _SQRT1_2                                           # sin(pi/4 + t)
            qi = np.int64(q) & 3
            odd = (qi & 1) == 1                                                 # flat selects: vectorise
            rc = -r if (qi == 1) | (qi == 2) else r
            rs = -r if qi >= 2 else r
            wbuf[i] = _f2i(rc * (c1 if odd else c0))                            # r cos(pi/4 + t + qi pi/2)
            wbuf[LANES + i] = _f2i(rs * (c0 if odd else c1))                    # r sin(...)
        for i in range(m):
            k = done + 2 * i
            out[k] = _i2f(wbuf[i])
            if k + 1 < n:
                out[k + 1] = _i2f(wbuf[LANES + i])
        done += 2 * m


@njit(inline="always")
def _exp_neg(x):
    """exp(x) for x <= 0 (x >= -700): 2^k exp(r), |r| <= ln2/2, Taylor to r^13."""
    k = np.floor(x / _LN2 + 0.5)
    r = x - k * _LN2
    p = 1.0 / 6227020800.0
    for c in (1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0, 1.0 / 362880.0, 1.0 / 40320.0,
              1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0):
        p = p * r + c
    return p * _i2f((np.int64(k) + 1023) << 52)


@njit(inline="always")
def _tanh(y):
    a = min(abs(y), 350.0)
    e = _exp_neg(-2.0 * a)
    t = (1.0 - e) / (1.0 + e)
    return t if y >= 0 else -t


@njit(cache=True, nogil=True, error_model="numpy")
def _layer(Y, b, X, kap, G, S, act):
    """Fused: y += b; f, f'; delta = x - f; G = kappa delta; S = kappa delta f' (G is overwritten)."""
    R, n = Y.shape
    for r in range(R):
        for i in range(n):
            y = Y[r, i] + b[i]
            if act == 1:
                f = y if y > 0.0 else 0.0
                fp = 1.0 if y > 0.0 else 0.0
            else:
                f = _tanh(y)
                fp = 1.0 - f * f
            g = kap[i] * (X[r, i] - f)
            G[r, i] = g
            S[r, i] = g * fp


@njit(cache=True, nogil=True, error_model="numpy")
def _layer1(F1, P1, X, kap, G, S):
    R, n = X.shape
    for r in range(R):
        for i in range(n):
            g = kap[i] * (X[r, i] - F1[r, i])
            G[r, i] = g
            S[r, i] = g * P1[r, i]


@njit(cache=True, parallel=True, error_model="numpy")
def run_chunks(n_steps, Ws, WTs, bs, kaps, act, xs, F1, P1, Ys, Gs, Ss, Ts, Zs, lanes, wbufs, a, c):
    """n_steps EM steps; every list argument holds one entry per chunk (xs[ch][l]: (Bc, n_l)), lanes[ch]: (4, 256),
    Zs[ch]: (Bc * n_neurons,) normals of one step."""
    n_ch = len(xs)
    L = len(Ws)
    for ch in prange(n_ch):  # noqa: one chunk per thread
        X, Y, G, S, T, Z = xs[ch], Ys[ch], Gs[ch], Ss[ch], Ts[ch], Zs[ch]
        ln = lanes[ch]
        for _ in range(n_steps):
            _layer1(F1[ch], P1[ch], X[1], kaps[0], G[0], S[0])
            for l in range(2, L + 1):
                np.dot(X[l - 1], WTs[l - 1], Y[l - 1])
                _layer(Y[l - 1], bs[l - 1], X[l], kaps[l - 1], G[l - 1], S[l - 1], act)
            for l in range(L, 1, -1):
                np.dot(S[l - 1], Ws[l - 1], T[l - 2])
                Gm, Tm = G[l - 2], T[l - 2]
                R, n = Gm.shape
                for r in range(R):
                    for i in range(n):
                        Gm[r, i] -= Tm[r, i]
            if c != 0.0:  # all the step's normals in one call (every layer's block of the chunk)
                _normals(ln[0], ln[1], ln[2], ln[3], Z, wbufs[ch])
            off = 0
            for l in range(1, L + 1):
                Xl, Gl = X[l], G[l - 1]
                R, n = Xl.shape
                if c != 0.0:
                    Zl = Z[off:off + R * n].reshape((R, n))
                    for r in range(R):
                        for i in range(n):
                            Xl[r, i] += -a * Gl[r, i] + c * Zl[r, i]
                else:
                    for r in range(R):
                        for i in range(n):
                            Xl[r, i] -= a * Gl[r, i]
                off += R * n


# ----------------------------------------------------------------------------- float32 variant
_f4 = np.float32
_F0, _F1, _FH, _F2 = _f4(0.0), _f4(1.0), _f4(0.5), _f4(2.0)
_F_M2 = _f4(-2.0)
_F_SQRT2, _F_SQRT1_2, _F_LN2, _F_PI_2 = _f4(1.4142135623730951), _f4(_SQRT1_2), _f4(_LN2), _f4(math.pi * 0.5)
_F_INV_LN2 = _f4(1.0 / _LN2)
_F_2M31, _F_2M22 = _f4(2.0 ** -31), _f4(2.0 ** -22)
_F_TANH_CAP = _f4(40.0)
_FL3, _FL5, _FL7, _FL9 = _f4(1 / 3), _f4(1 / 5), _f4(1 / 7), _f4(1 / 9)
_FS3, _FS5, _FS7, _FS9 = _f4(-1 / 6), _f4(1 / 120), _f4(-1 / 5040), _f4(1 / 362880)
_FC2, _FC4, _FC6, _FC8, _FC10 = _f4(-0.5), _f4(1 / 24), _f4(-1 / 720), _f4(1 / 40320), _f4(-1 / 3628800)
_FE = tuple(_f4(1.0 / math.factorial(k)) for k in range(8, 1, -1))  # 1/8! .. 1/2!


@njit(inline="always")
def _log01_32(u):
    """log(u) in float32, u > 0 normal: exponent from the bits, 2 atanh(s) series (|s| <= 0.172) to s^9."""
    ib = _f2i32(u)
    ex = ((ib >> 23) & 0xFF) - 127
    m = _i2f32((ib & 0x007FFFFF) | 0x3F800000)
    big = m > _F_SQRT2
    m = m * _FH if big else m
    ex = ex + 1 if big else ex
    s = (m - _F1) / (m + _F1)
    z = s * s
    p = _F1 + z * (_FL3 + z * (_FL5 + z * (_FL7 + z * _FL9)))
    return _F2 * s * p + _f4(ex) * _F_LN2


@njit(cache=True, nogil=True, error_model="numpy")
def _normals32(s0, s1, s2, s3, out, wbuf, zbuf):
    """out[:] (float32) <- standard normals, lanes advanced; wbuf: LANES words, zbuf: 2 * LANES float32 of scratch.
    One lane step gives one pair: its high 31 bits -> the radius's uniform (0, 1] (resolution 2^-31, offset by half a
    step), the next 24 bits -> the angle (2 for the quadrant, 22 within it)."""
    n = out.shape[0]
    done = 0
    while done < n:
        for i in range(LANES):  # one xoshiro256++ step of every lane (vectorises across lanes)
            a, b, c, d = s0[i], s1[i], s2[i], s3[i]
            wbuf[i] = _rotl(a + d, 23) + a
            t = b << np.uint64(17)
            c ^= a
            d ^= b
            b ^= c
            a ^= d
            c ^= t
            d = _rotl(d, 45)
            s0[i], s1[i], s2[i], s3[i] = a, b, c, d
        m = min(LANES, (n - done + 1) // 2)
        for i in range(LANES):
            w = wbuf[i]
            u1 = (_f4(np.int32(w >> np.uint64(33))) + _FH) * _F_2M31                       # (0, 1]
            qi = np.int32(w >> np.uint64(30)) & 3                                          # angle's quadrant
            t = (_f4(np.int32(w >> np.uint64(8)) & 0x3FFFFF) * _F_2M22 - _FH) * _F_PI_2    # [-pi/4, pi/4)
            r = math.sqrt(_F_M2 * _log01_32(u1))
            t2 = t * t
            sn = t * (_F1 + t2 * (_FS3 + t2 * (_FS5 + t2 * (_FS7 + t2 * _FS9))))
            cs = _F1 + t2 * (_FC2 + t2 * (_FC4 + t2 * (_FC6 + t2 * (_FC8 + t2 * _FC10))))
            c0 = (cs - sn) * _F_SQRT1_2                                                    # cos(pi/4 + t)
            c1 = (cs + sn) * _F_SQRT1_2                                                    # sin(pi/4 + t)
            odd = (qi & 1) == 1
            rc = -r if (qi == 1) | (qi == 2) else r
            rs = -r if qi >= 2 else r
            zbuf[i] = rc * (c1 if odd else c0)                                             # r cos(angle)
            zbuf[LANES + i] = rs * (c0 if odd else c1)                                     # r sin(angle)
        for i in range(m):
            k = done + 2 * i
            out[k] = zbuf[i]
            if k + 1 < n:
                out[k + 1] = zbuf[LANES + i]
        done += 2 * m


@njit(inline="always")
def _exp_neg32(x):
    """exp(x) in float32 for -80 <= x <= 0: 2^k exp(r), |r| <= ln2/2, Taylor to r^8."""
    k = np.floor(x * _F_INV_LN2 + _FH)
    r = x - k * _F_LN2
    p = _FE[0]
    for c in _FE[1:]:
        p = p * r + c
    p = p * r + _F1
    p = p * r + _F1
    return p * _i2f32(np.int32((np.int32(k) + 127) << 23))


@njit(inline="always")
def _tanh32(y):
    a = min(abs(y), _F_TANH_CAP)
    e = _exp_neg32(_F_M2 * a)
    t = (_F1 - e) / (_F1 + e)
    return t if y >= _F0 else -t


@njit(cache=True, nogil=True, error_model="numpy")
def _layer32(Y, b, X, kap, G, S, act):
    """:func:`_layer` in float32 arithmetic."""
    R, n = Y.shape
    for r in range(R):
        for i in range(n):
            y = Y[r, i] + b[i]
            if act == 1:
                f = y if y > _F0 else _F0
                fp = _F1 if y > _F0 else _F0
            else:
                f = _tanh32(y)
                fp = _F1 - f * f
            g = kap[i] * (X[r, i] - f)
            G[r, i] = g
            S[r, i] = g * fp


@njit(cache=True, parallel=True, error_model="numpy")
def run_chunks32(n_steps, Ws, WTs, bs, kaps, act, xs, F1, P1, Ys, Gs, Ss, Ts, Zs, lanes, wbufs, zbufs, a, c):
    """:func:`run_chunks` in float32 (a, c float32; zbufs[ch]: 2 * LANES float32 of scratch)."""
    n_ch = len(xs)
    L = len(Ws)
    for ch in prange(n_ch):  # noqa: one chunk per thread
        X, Y, G, S, T, Z = xs[ch], Ys[ch], Gs[ch], Ss[ch], Ts[ch], Zs[ch]
        ln = lanes[ch]
        for _ in range(n_steps):
            _layer1(F1[ch], P1[ch], X[1], kaps[0], G[0], S[0])
            for l in range(2, L + 1):
                np.dot(X[l - 1], WTs[l - 1], Y[l - 1])
                _layer32(Y[l - 1], bs[l - 1], X[l], kaps[l - 1], G[l - 1], S[l - 1], act)
            for l in range(L, 1, -1):
                np.dot(S[l - 1], Ws[l - 1], T[l - 2])
                Gm, Tm = G[l - 2], T[l - 2]
                R, n = Gm.shape
                for r in range(R):
                    for i in range(n):
                        Gm[r, i] -= Tm[r, i]
            if c != _F0:
                _normals32(ln[0], ln[1], ln[2], ln[3], Z, wbufs[ch], zbufs[ch])
            off = 0
            for l in range(1, L + 1):
                Xl, Gl = X[l], G[l - 1]
                R, n = Xl.shape
                if c != _F0:
                    Zl = Z[off:off + R * n].reshape((R, n))
                    for r in range(R):
                        for i in range(n):
                            Xl[r, i] += -a * Gl[r, i] + c * Zl[r, i]
                else:
                    for r in range(R):
                        for i in range(n):
                            Xl[r, i] -= a * Gl[r, i]
                off += R * n


def make(net, x0, dt, kT, chunk_rows=None, seed=0):
    """``run(n)`` advancing the forward state of ``net`` (float64 or float32: all arithmetic in that dtype) at input
    x0 (B, n_0) by n EM steps; the state is ``run.xs``."""
    from numba.typed import List

    ft = np.dtype(net.dtype)
    assert ft in (np.float64, np.float32)
    f32 = ft == np.float32
    x0 = np.ascontiguousarray(x0, dtype=ft)
    B = x0.shape[0]
    cr = chunk_rows or max(1, -(-B // 2))
    chunks = [(r0, min(cr, B - r0)) for r0 in range(0, B, cr)]
    act = {"relu": 1, "tanh": 2}[net.activations[0].name]
    Ws = List([np.ascontiguousarray(W, dtype=ft) for W in net.weights])
    WTs = List([np.ascontiguousarray(W.T, dtype=ft) for W in net.weights])
    bs = List([np.ascontiguousarray(b, dtype=ft) for b in net.biases])
    kaps = List([np.ascontiguousarray(np.broadcast_to(k, (n,)), dtype=ft)
                 for k, n in zip(net.kappa, net.sizes[1:])])
    xs_full = net.forward(x0)
    rng = np.random.default_rng(seed)
    xs, F1, P1, Ys, Gs, Ss, Ts, Zs, lanes, wbufs, zbufs = (List() for _ in range(11))
    for r0, n in chunks:
        xs.append(List([np.ascontiguousarray(x[r0:r0 + n], dtype=ft) for x in xs_full]))
        y1 = (x0[r0:r0 + n] @ Ws[0].T + bs[0]).astype(ft)
        f1 = np.maximum(y1, 0) if act == 1 else np.tanh(y1)
        F1.append(np.ascontiguousarray(f1, dtype=ft))
        P1.append(np.ascontiguousarray((y1 > 0) if act == 1 else 1 - f1 * f1, dtype=ft))
        Ys.append(List([np.empty((n, m), ft) for m in net.sizes[1:]]))
        Gs.append(List([np.empty((n, m), ft) for m in net.sizes[1:]]))
        Ss.append(List([np.empty((n, m), ft) for m in net.sizes[1:]]))
        Ts.append(List([np.empty((n, m), ft) for m in net.sizes[1:]]))
        Zs.append(np.empty(n * int(sum(net.sizes[1:])), ft))
        lanes.append(rng.integers(1, 2 ** 63, size=(4, LANES), dtype=np.uint64))
        wbufs.append(np.empty((1 if f32 else 2) * LANES, dtype=np.uint64))
        zbufs.append(np.empty(2 * LANES, dtype=np.float32))
    a, c = float(dt), float(math.sqrt(2 * kT * dt))

    if f32:
        a32, c32 = np.float32(a), np.float32(c)

        def run(n):
            run_chunks32(int(n), Ws, WTs, bs, kaps, act, xs, F1, P1, Ys, Gs, Ss, Ts, Zs, lanes, wbufs, zbufs,
                         a32, c32)
    else:
        def run(n):
            run_chunks(int(n), Ws, WTs, bs, kaps, act, xs, F1, P1, Ys, Gs, Ss, Ts, Zs, lanes, wbufs, a, c)

    run.xs = xs
    run.chunks = chunks
    return run


def normals(n, seed=0, dtype=np.float64):
    """n standard normals from the lane generator of ``dtype`` (for checks)."""
    lanes = np.random.default_rng(seed).integers(1, 2 ** 63, size=(4, LANES), dtype=np.uint64)
    out = np.empty(n, dtype=dtype)
    if np.dtype(dtype) == np.float32:
        _normals32(lanes[0], lanes[1], lanes[2], lanes[3], out, np.empty(LANES, dtype=np.uint64),
                   np.empty(2 * LANES, dtype=np.float32))
    else:
        _normals(lanes[0], lanes[1], lanes[2], lanes[3], out, np.empty(2 * LANES, dtype=np.uint64))
    return out


def check(net, x0, dt):
    """The reference's noise-free step (kT = 0) against numpy's in the net's dtype (max difference relative to
    max(1, max |x|)) and its normals' first four moments (2^20 draws of the dtype's generator)."""
    ft = np.dtype(net.dtype)
    x0 = np.ascontiguousarray(x0, dtype=ft)
    run = make(net, x0, dt, kT=0.0)
    xs = [x.copy() for x in net.forward(x0)]
    rng = np.random.default_rng(0)
    xs[1] = (xs[1] + 0.1 * rng.normal(size=xs[1].shape)).astype(ft)
    for ch, (r0, n) in enumerate(run.chunks):
        run.xs[ch][1][:] = xs[1][r0:r0 + n]
    run(1)
    from analogsim.model.hamiltonian import grad_x

    g = grad_x(net, xs)
    want = [xs[l] - ft.type(dt) * g[l] for l in range(1, net.depth + 1)]
    got = [np.concatenate([run.xs[ch][l] for ch in range(len(run.chunks))]) for l in range(1, net.depth + 1)]
    assert all(x.dtype == ft for x in got)
    err = max(float(np.max(np.abs(a.astype(np.float64) - b)) / max(1.0, float(np.max(np.abs(b)))))
              for a, b in zip(got, want))
    z = normals(1 << 20, dtype=ft).astype(np.float64)
    mom = [float(z.mean()), float(z.var()), float(np.mean(z ** 3)), float(np.mean(z ** 4))]
    return err, mom
