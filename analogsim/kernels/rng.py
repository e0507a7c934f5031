"""Per-chunk random streams for the numba kernels: xoshiro256++, a 256-layer ziggurat, and vectorised
normal generators for the Langevin noise.

Each chunk of replicas owns one stream, a ``uint64[4]`` state row; a kernel reads its row into
locals, draws, and writes it back, so the numbers a chunk sees do not depend on which thread runs
it. States are seeded on the host from ``numpy.random.SeedSequence(seed).spawn(n_chunks)``
(:func:`seed_streams`), or, where the seeding cost matters (``relax`` in a loop), from a 128-bit key hashed
from the seed with splitmix64 (:mod:`.seeding`: :func:`~.seeding.seed_key`, :func:`~.seeding.key_streams`,
about 10x cheaper).

Generator: xoshiro256++ (Blackman & Vigna 2019), period 2^256 - 1. Normals: the Marsaglia-Tsang
ziggurat with 256 layers and 52-bit magnitudes (the layout numpy uses): 8 bits pick the layer,
1 bit the sign, 52 bits the abscissa; about 99 % of draws cost one 64-bit word, one table
lookup and one multiply. The tables are built once at import from the closed form of the layers.

For long requests (the EM noise of a chunk, :func:`fill_noise_w` / :func:`em_noise_w`) the stream seeds
N_LANES xoshiro256++ lanes at each call, stepped together in one vector loop: float64 normals come from
the same ziggurat with its fast path vectorised (:func:`fill_normal_lanes`; its law is exact), float32
normals from a float32 Box-Muller transform (:func:`fill_normal_f32`). The numbers depend only on the
stream state and the request length, so runs stay reproducible for any thread count.
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np
from numba import njit
from numba.cpython.unsafe.numbers import trailing_zeros

from .bits import _bits_f32, _bits_f64, _f32_bits, _f64_bits, _ux

# ----------------------------------------------------------------------------- ziggurat tables
_ZIG_R = 3.6541528853610087963519472518  # right edge of the base layer (256 layers)
_TWO52 = float(2 ** 52)


def _ziggurat_tables():
    r = _ZIG_R
    f = lambda x: math.exp(-0.5 * x * x)  # noqa: E731
    v = r * f(r) + math.sqrt(math.pi / 2) * math.erfc(r / math.sqrt(2))  # area of each layer
    x = np.zeros(257)
    x[255] = r
    for i in range(254, 0, -1):  # x_i: right edge of layer i, decreasing with i
        x[i] = math.sqrt(-2.0 * math.log(v / x[i + 1] + f(x[i + 1])))
    q = v / f(r)  # width of the base strip (rectangle plus tail)
    ki = np.zeros(256, dtype=np.int64)
    wi = np.zeros(256)
    fi = np.zeros(256)
    ki[0] = int((r / q) * _TWO52)
    wi[0] = q / _TWO52
    fi[0] = 1.0
    # layer i (1..255) has width x[256 - i]... use the numpy-style indexing: idx 255 is the widest
    # reorder so that index i holds layer with right edge xs[i], xs[1] smallest ... xs[255] = r
    for i in range(1, 256):
        wi[i] = x[i] / _TWO52
        fi[i] = f(x[i])
        ki[i] = int((x[i - 1] / x[i]) * _TWO52) if i > 1 else 0
    return ki, wi, fi, v


# Layout: layer 0 is the base strip [0, q) whose part beyond r is the tail; layer i >= 1 has right
# edge x_i (x_255 = r, decreasing to x_1) and spans f(x_i) <= y <= f(x_{i-1}) (f(x_0) := 1, layer 1
# is the cap). A draw in layer i is accepted at once if it lies left of x_{i-1} (ki[i]).
ZIG_KI, ZIG_WI, ZIG_FI, ZIG_V = _ziggurat_tables()
ZIG_FI[0] = 1.0
ZIG_R = _ZIG_R
ZIG_INV_R = 1.0 / _ZIG_R


def seed_streams(seed, n_streams: int) -> np.ndarray:
    """Host helper: ``n_streams`` independent xoshiro256++ states, shape (n_streams, 4) uint64.

    Stream c is seeded from ``SeedSequence(seed).spawn(n_streams)[c]``, so stream c is the same
    whatever the number of threads that will run the chunks.
    """
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    out = np.empty((n_streams, 4), dtype=np.uint64)
    for c, child in enumerate(ss.spawn(n_streams)):
        st = child.generate_state(4, np.uint64)
        if not np.any(st):  # the all-zero state is the generator's only fixed point
            st[0] = np.uint64(0x9E3779B97F4A7C15)
        out[c] = st
    return out


# ----------------------------------------------------------------------------- generator
@njit(cache=True, error_model="numpy", inline="always")
def _rotl(x, k):
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@njit(cache=True, error_model="numpy", inline="always")
def xoshiro_next(s0, s1, s2, s3):
    """One xoshiro256++ output; returns (value, s0, s1, s2, s3)."""
    result = _rotl(s0 + s3, 23) + s0
    t = s1 << np.uint64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, 45)
    return result, s0, s1, s2, s3


@njit(cache=True, error_model="numpy", inline="always")
def _u01(r):
    """Uniform double in [0, 1) from the top 53 bits."""
    return (r >> np.uint64(11)) * (1.0 / 9007199254740992.0)


# Kernels that are not inlined say fastmath=False: a numba function that leaves it unset inherits the flags
# of the caller that first compiles it, and then computes other last bits in the process that compiled it
# than in every later one (loading numba's cache).
@njit(cache=True, error_model="numpy", fastmath=False)
def _normal_slow(idx, rabs, x, s0, s1, s2, s3):
    """Ziggurat rejection path (about 1 % of draws); returns (accepted, value, state...)."""
    if idx == 0:  # tail beyond r (Marsaglia 1964)
        while True:
            r, s0, s1, s2, s3 = xoshiro_next(s0, s1, s2, s3)
            xx = -ZIG_INV_R * math.log1p(-_u01(r))
            r, s0, s1, s2, s3 = xoshiro_next(s0, s1, s2, s3)
            yy = -math.log1p(-_u01(r))
            if yy + yy > xx * xx:
                if (rabs >> 8) & 1:
                    return True, -(ZIG_R + xx), s0, s1, s2, s3
                return True, ZIG_R + xx, s0, s1, s2, s3
    r, s0, s1, s2, s3 = xoshiro_next(s0, s1, s2, s3)
    if (ZIG_FI[idx - 1] - ZIG_FI[idx]) * _u01(r) + ZIG_FI[idx] < math.exp(-0.5 * x * x):
        return True, x, s0, s1, s2, s3
    return False, 0.0, s0, s1, s2, s3


@njit(cache=True, error_model="numpy", inline="always")
def _zig_fast(r):
    """Fast-path candidate from one word: (layer, |x| bits, signed x). Bits: 0-7 layer, 8 sign, 12-63 |x|."""
    idx = np.intp(r & np.uint64(0xFF))
    sgn = 1.0 - 2.0 * np.float64(np.int64((r >> np.uint64(8)) & np.uint64(1)))  # no 50 % branch
    rabs = np.int64(r >> np.uint64(12))
    return idx, rabs, sgn * (np.float64(rabs) * ZIG_WI[idx])


@njit(cache=True, error_model="numpy", fastmath=False)
def normal_next(s0, s1, s2, s3):
    """One standard normal; returns (value, s0, s1, s2, s3)."""
    while True:
        r, s0, s1, s2, s3 = xoshiro_next(s0, s1, s2, s3)
        idx, rabs, x = _zig_fast(r)
        if rabs < ZIG_KI[idx]:
            return x, s0, s1, s2, s3
        ok, x, s0, s1, s2, s3 = _normal_slow(idx, rabs, x, s0, s1, s2, s3)
        if ok:
            return x, s0, s1, s2, s3


@njit(cache=True, error_model="numpy", fastmath=False)
def fill_normal(state, out):
    """Fill the 1-D array ``out`` with standard normals from the stream ``state`` (uint64[4], updated).

    About 3 ns per normal on one core (the fast path is branch-free apart from the layer test).
    """
    s0, s1, s2, s3 = state[0], state[1], state[2], state[3]
    n = out.shape[0]
    i = 0
    while i < n:
        r, s0, s1, s2, s3 = xoshiro_next(s0, s1, s2, s3)
        idx, rabs, x = _zig_fast(r)
        if rabs < ZIG_KI[idx]:
            out[i] = x
            i += 1
        else:
            ok, x, s0, s1, s2, s3 = _normal_slow(idx, rabs, x, s0, s1, s2, s3)
            if ok:
                out[i] = x
                i += 1
    state[0], state[1], state[2], state[3] = s0, s1, s2, s3


@njit(cache=True, error_model="numpy", fastmath=False)
def fill_uniform(state, out):
    """Fill the 1-D array ``out`` with uniforms in [0, 1) from the stream ``state`` (updated)."""
    s0, s1, s2, s3 = state[0], state[1], state[2], state[3]
    for i in range(out.shape[0]):
        r, s0, s1, s2, s3 = xoshiro_next(s0, s1, s2, s3)
        out[i] = _u01(r)
    state[0], state[1], state[2], state[3] = s0, s1, s2, s3


@njit(cache=True, error_model="numpy", fastmath=False)
def fill_u64(state, out):
    """Raw 64-bit outputs (for testing the generator against its reference)."""
    s0, s1, s2, s3 = state[0], state[1], state[2], state[3]
    for i in range(out.shape[0]):
        r, s0, s1, s2, s3 = xoshiro_next(s0, s1, s2, s3)
        out[i] = r
    state[0], state[1], state[2], state[3] = s0, s1, s2, s3


# ----------------------------------------------------------------------------- float32 normals (vectorised)
_f4 = np.float32
#: lanes of the vectorised generator (independent xoshiro256++ states seeded per call from the stream)
N_LANES = 16
#: 64-bit words per tile: each word gives one Box-Muller pair (32 bits for the radius, 32 for the angle)
TILE_WORDS = 256
#: below this many normals the per-call lane seeding costs more than it saves: the scalar ziggurat
LANES_MIN = 256
_F_LN2 = _f4(0.6931471805599453)
_F_SQRT2 = _f4(1.4142135623730951)
_F_2M31 = _f4(2.0 ** -31)
_F_PIO2 = _f4(1.5707963267948966)
_F_HALF, _F_ONE, _F_TWO, _F_THREEHALF = _f4(0.5), _f4(1.0), _f4(2.0), _f4(1.5)
_F_MAGIC = _f4(8388608.0 + 127.0)  # 2^23 + the exponent bias
_F_L = tuple(_f4(2.0 / k) for k in (3, 5, 7, 9, 11))
# Cephes sinf/cosf kernels on [-pi/4, pi/4]
_F_S = (_f4(-1.9515295891e-4), _f4(8.3321608736e-3), _f4(-1.6666654611e-1))
_F_C = (_f4(2.443315711809948e-5), _f4(-1.388731625493765e-3), _f4(4.166664568298827e-2))


@njit(cache=True, error_model="numpy", inline="always")
def log_f32(x):
    """ln x for positive normal float32 x, branch-free: x = 2^e m, m in [sqrt(1/2), sqrt 2), 2 atanh series."""
    b = _f32_bits(x)
    ef = _bits_f32(((b >> 23) & 0xFF) | 0x4B000000) - _F_MAGIC  # e as a float (no int -> float conversion)
    m = _bits_f32((b & 0x007FFFFF) | 0x3F800000)
    big = m > _F_SQRT2
    m = m * _F_HALF if big else m
    ef = ef + _F_ONE if big else ef
    s = (m - _F_ONE) / (m + _F_ONE)
    z = s * s
    p = (((_F_L[4] * z + _F_L[3]) * z + _F_L[2]) * z + _F_L[1]) * z + _F_L[0]
    return ef * _F_LN2 + (s + s + s * z * p)


@njit(cache=True, error_model="numpy", inline="always")
def sincos_f32(t):
    """(sin t, cos t) in float32 for |t| <= pi/4 (Cephes kernels)."""
    z = t * t
    s = t + t * z * ((_F_S[0] * z + _F_S[1]) * z + _F_S[2])
    c = _F_ONE - _F_HALF * z + z * z * ((_F_C[0] * z + _F_C[1]) * z + _F_C[2])
    return s, c


@njit(cache=True, error_model="numpy", inline="always")
def _seed_lanes(s0, s1, s2, s3, L0, L1, L2, L3):
    """Lane states from the next 4 N_LANES words of the stream; returns the stream state."""
    for q in range(N_LANES):
        r, s0, s1, s2, s3 = xoshiro_next(s0, s1, s2, s3)
        L0[q] = r
        r, s0, s1, s2, s3 = xoshiro_next(s0, s1, s2, s3)
        L1[q] = r
        r, s0, s1, s2, s3 = xoshiro_next(s0, s1, s2, s3)
        L2[q] = r
        r, s0, s1, s2, s3 = xoshiro_next(s0, s1, s2, s3)
        L3[q] = r
        if r == 0 and L0[q] == 0 and L1[q] == 0 and L2[q] == 0:  # the generator's fixed point
            L0[q] = np.uint64(0x9E3779B97F4A7C15)
    return s0, s1, s2, s3


@njit(cache=True, error_model="numpy", inline="always")
def _lanes_begin(state, w):
    """The stream's state, after seeding the lanes of the scratch ``w`` from it."""
    return _seed_lanes(state[0], state[1], state[2], state[3], w.L0, w.L1, w.L2, w.L3)


@njit(cache=True, error_model="numpy", inline="always")
def _lanes_tile(L0, L1, L2, L3, buf, nw):
    """buf[:nw] <- the next words of the N_LANES lanes (nw a multiple of 4 N_LANES; loop over lanes
    innermost: vectorised; 4 steps per load of a lane's state)."""
    for b in range(0, nw // N_LANES, 4):
        for q in range(N_LANES):
            a0 = L0[q]
            a1 = L1[q]
            a2 = L2[q]
            a3 = L3[q]
            for k in range(4):
                r, a0, a1, a2, a3 = xoshiro_next(a0, a1, a2, a3)
                buf[_ux((b + k) * N_LANES + q)] = r
            L0[q] = a0
            L1[q] = a1
            L2[q] = a2
            L3[q] = a3


@njit(cache=True, error_model="numpy", inline="always")
def _emit(out, t0, src, m, G, a, c, fused):
    """Hand m normals from a tile on: out[t0 + i] = src[i], or (``fused``, the Euler-Maruyama update)
    out[t0 + i] += -a G[t0 + i] + c src[i], so the noise never makes a round trip through memory."""
    if fused:
        for i in range(m):
            q = _ux(t0 + i)
            out[q] += -a * G[q] + c * src[i]
    else:
        for i in range(m):
            out[_ux(t0 + i)] = src[i]


@njit(cache=True, error_model="numpy", fastmath=False)
def _scalar_normals(state, out, G, a, c, fused):
    """The scalar ziggurat for short requests, in either mode of :func:`_emit`."""
    if not fused:
        fill_normal(state, out)
        return
    s0, s1, s2, s3 = state[0], state[1], state[2], state[3]
    for i in range(out.shape[0]):
        z, s0, s1, s2, s3 = normal_next(s0, s1, s2, s3)
        out[i] += -a * G[i] + c * z
    state[0], state[1], state[2], state[3] = s0, s1, s2, s3


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def fill_normal_f32(state, out, w, G, a, c, fused):
    """Fill ``out`` with standard normals computed in float32 (stream ``state``, updated; ``w``: a
    :data:`NoiseWork`, see :func:`noise_work`), or with ``fused`` add them as Euler-Maruyama steps
    (out += -a G + c z, see :func:`_emit`).

    Box-Muller over N_LANES vectorised xoshiro256++ lanes (seeded from the stream at each call): one
    64-bit word per pair, 31 bits for the radius (|z| up to 6.66, P(beyond) = 3e-11) and 2 + 23 bits for
    the angle; log, sin and cos are branch-free float32 polynomials (max error 2 ulp). About 8x the
    throughput of the float64 ziggurat. For LANES_MIN normals or more (see :func:`fill_noise_w`).
    """
    n = out.shape[0]
    s0, s1, s2, s3 = _lanes_begin(state, w)
    L0, L1, L2, L3, buf, za, zb = w.L0, w.L1, w.L2, w.L3, w.buf, w.za, w.zb
    b32 = buf.view(np.uint32)
    t0 = 0
    while t0 < n:
        # words (= pairs) in this tile: TILE_WORDS, or enough for the rest, in whole lane sweeps
        sweep = 4 * N_LANES
        nw = min(TILE_WORDS, ((n - t0 + 1) // 2 + sweep - 1) // sweep * sweep)
        _lanes_tile(L0, L1, L2, L3, buf, nw)
        for i in range(nw):  # 32-bit halves: radii from the first nw, angles from the next nw
            k = np.int32(b32[i] >> np.uint32(1))
            u = (np.float32(k) + _F_HALF) * _F_2M31                       # (0, 1]
            rad = np.sqrt(-_F_TWO * log_f32(u))
            h = np.int32(b32[_ux(nw + i)])
            v = _bits_f32(((h >> 9) & 0x007FFFFF) | 0x3F800000) - _F_THREEHALF  # [-1/2, 1/2)
            sn, cs = sincos_f32(v * _F_PIO2)
            swap = (h & 1) != 0
            x = sn if swap else cs
            y = cs if swap else sn
            qd = h & 3
            za[i] = rad * (-x if (qd == 1) | (qd == 2) else x)
            zb[i] = rad * (-y if qd >= 2 else y)
        m = min(nw, n - t0)
        _emit(out, t0, za, m, G, a, c, fused)
        t0 += m
        m = min(nw, n - t0)
        _emit(out, t0, zb, m, G, a, c, fused)
        t0 += m
    state[0], state[1], state[2], state[3] = s0, s1, s2, s3


#: the ziggurat's fast path in vectorisable form: layer widths x_i and acceptance bounds ki / 2^52
ZIG_X = ZIG_WI * _TWO52
ZIG_KR = ZIG_KI / _TWO52
_ONE_BITS = np.uint64(0x3FF0000000000000)
_GROUP = 64  # draws per rejection mask (one uint64: bit q set where draw q of the group was rejected)


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def fill_normal_lanes(state, out, w, G, a, c, fused):
    """Fill ``out`` with float64 standard normals: the ziggurat of :func:`fill_normal`, vectorised
    (``w``: a :data:`NoiseWork`, see :func:`noise_work`; ``G, a, c, fused``: see :func:`_emit`).

    N_LANES xoshiro256++ lanes (seeded from the stream at each call) give one word per draw; the fast
    path (98.5 % of draws: layer, sign and 52-bit abscissa from the word) runs as a branch-free vector
    loop that also sets one bit per rejected draw in a 64-bit mask per group of 64, and the draws it rejects
    are finished, in order, by the scalar slow path on the stream itself (so the law is the exact ziggurat's).
    The fix-up visits only the set bits (count-trailing-zeros), not every draw of a group with a rejection:
    1.8-1.9 ns per normal against 2.1-2.2 for a scan of 16-draw groups, the same numbers. For LANES_MIN
    normals or more (see :func:`fill_noise_w`).
    """
    n = out.shape[0]
    s0, s1, s2, s3 = _lanes_begin(state, w)
    L0, L1, L2, L3, buf, zt, grp = w.L0, w.L1, w.L2, w.L3, w.buf, w.zt, w.grp
    sweep = 4 * N_LANES  # a multiple of _GROUP: every tile holds whole groups
    t0 = 0
    while t0 < n:
        nw = min(TILE_WORDS, (n - t0 + sweep - 1) // sweep * sweep)
        _lanes_tile(L0, L1, L2, L3, buf, nw)
        for g in range(nw // _GROUP):
            m = np.uint64(0)
            for q in range(_GROUP):
                i = _ux(g * _GROUP + q)
                r = buf[i]
                idx = np.intp(r & np.uint64(0xFF))
                u = _bits_f64(np.int64((r >> np.uint64(12)) | _ONE_BITS)) - 1.0  # rabs / 2^52, exact
                x = u * ZIG_X[idx]
                zt[i] = _bits_f64(_f64_bits(x) | np.int64((r & np.uint64(0x100)) << np.uint64(55)))
                m |= np.uint64(u >= ZIG_KR[idx]) << np.uint64(q)
            grp[g] = m
        for g in range(nw // _GROUP):
            m = grp[g]
            while m != np.uint64(0):  # the rejected draws of the group, in increasing order
                q = trailing_zeros(m)
                m &= m - np.uint64(1)
                i = g * _GROUP + q
                r = buf[i]
                idx = np.intp(r & np.uint64(0xFF))
                rabs = np.int64(r >> np.uint64(12))
                ok, x, s0, s1, s2, s3 = _normal_slow(idx, rabs, zt[i], s0, s1, s2, s3)
                if not ok:
                    x, s0, s1, s2, s3 = normal_next(s0, s1, s2, s3)
                zt[i] = x
        m = min(nw, n - t0)
        _emit(out, t0, zt, m, G, a, c, fused)
        t0 += m
    state[0], state[1], state[2], state[3] = s0, s1, s2, s3


#: scratch of the vectorised generators (separate arrays: the vector loops need to see them as distinct)
NoiseWork = namedtuple("NoiseWork", "L0 L1 L2 L3 buf zt za zb grp")


def noise_work_rows(n_rows):
    """Host helper: ``n_rows`` :data:`NoiseWork` (rows of a few 2-D arrays), one per chunk kept across calls."""
    def a(m, dt):
        return np.zeros((n_rows, m), dtype=dt)

    L0, L1, L2, L3 = (a(N_LANES, np.uint64) for _ in range(4))
    buf, zt = a(TILE_WORDS, np.uint64), a(TILE_WORDS, np.float64)
    za, zb, grp = a(TILE_WORDS, np.float32), a(TILE_WORDS, np.float32), a(TILE_WORDS // _GROUP, np.uint64)
    return [NoiseWork(L0[c], L1[c], L2[c], L3[c], buf[c], zt[c], za[c], zb[c], grp[c]) for c in range(n_rows)]


@njit(cache=True, error_model="numpy", fastmath=False)
def noise_work():
    """A fresh :data:`NoiseWork` (for callers that keep none; allocating it costs about 0.4 us)."""
    return NoiseWork(np.empty(N_LANES, np.uint64), np.empty(N_LANES, np.uint64), np.empty(N_LANES, np.uint64),
                     np.empty(N_LANES, np.uint64), np.empty(TILE_WORDS, np.uint64), np.empty(TILE_WORDS),
                     np.empty(TILE_WORDS, np.float32), np.empty(TILE_WORDS, np.float32),
                     np.empty(TILE_WORDS // _GROUP, np.uint64))


@njit(cache=True, error_model="numpy", inline="always")
def _dispatch(state, out, w, G, a, c, fused):
    """Short requests: the scalar ziggurat (seeding the lanes would cost more); then by dtype."""
    if out.shape[0] < LANES_MIN:
        _scalar_normals(state, out, G, a, c, fused)
    elif out.itemsize == 4:
        fill_normal_f32(state, out, w, G, a, c, fused)
    else:
        fill_normal_lanes(state, out, w, G, a, c, fused)


@njit(cache=True, error_model="numpy", fastmath=False)
def fill_noise_w(state, out, w):
    """Standard normals in ``out``'s dtype with the scratch ``w`` (:data:`NoiseWork`): float32 arrays take
    :func:`fill_normal_f32`, others the vectorised float64 ziggurat (:func:`fill_normal_lanes`)."""
    _dispatch(state, out, w, out, 0.0, 0.0, False)


@njit(cache=True, error_model="numpy", fastmath=False)
def em_noise_w(state, X, G, a, c, w):
    """Euler-Maruyama without books, fused with the noise: X += -a G + c z, z the normals that
    :func:`fill_noise_w` would give (same stream, same order), generated tile by tile."""
    _dispatch(state, X, w, G, a, c, True)


@njit(cache=True, error_model="numpy", fastmath=False)
def fill_noise(state, out):
    """Standard normals in ``out``'s dtype (see :func:`fill_noise_w`), with fresh scratch."""
    fill_noise_w(state, out, noise_work())
