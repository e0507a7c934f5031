"""The kernel RNG: xoshiro256++ reference values, normal statistics (mean, variance, kurtosis, KS), streams."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from analogsim.kernels.rng import fill_normal, fill_u64, fill_uniform, seed_streams

MASK = (1 << 64) - 1


def _xoshiro_step(s):
    """One output of pure-Python xoshiro256++ (Blackman & Vigna's reference code); ``s``, a list of 4 ints, is
    advanced in place."""
    rotl = lambda x, k: ((x << k) | (x >> (64 - k))) & MASK  # noqa: E731
    r = (rotl((s[0] + s[3]) & MASK, 23) + s[0]) & MASK
    t = (s[1] << 17) & MASK
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = rotl(s[3], 45)
    return r


def _xoshiro_py(s, n):
    """n outputs of pure-Python xoshiro256++ from the state ``s``."""
    s = [int(v) for v in s]
    return [_xoshiro_step(s) for _ in range(n)]


def test_xoshiro_matches_reference():
    st = seed_streams(123, 1)[0]
    ref = _xoshiro_py(st.copy(), 50)
    out = np.empty(50, dtype=np.uint64)
    fill_u64(st, out)
    assert [int(v) for v in out] == ref


def test_normals_statistics():
    st = seed_streams(2024, 1)[0]
    n = 1 << 20
    z = np.empty(n)
    fill_normal(st, z)
    # SEs for n iid N(0,1): mean 1/sqrt(n), variance sqrt(2/n), excess kurtosis sqrt(24/n)
    assert abs(z.mean()) < 4 / np.sqrt(n)
    assert abs(z.var() - 1) < 4 * np.sqrt(2 / n)
    assert abs(stats.kurtosis(z)) < 4 * np.sqrt(24 / n)
    assert abs(stats.skew(z)) < 4 * np.sqrt(6 / n)
    assert stats.kstest(z, "norm").pvalue > 1e-3
    # the tails (the ziggurat's slow path): P(|z| > 3.6541528853610088) and P(|z| > 4.5)
    for c in (3.6541528853610088, 4.5):
        p = 2 * stats.norm.sf(c)
        k = np.sum(np.abs(z) > c)
        assert abs(k - n * p) < 4 * np.sqrt(n * p), (c, k, n * p)


def test_normals_negative_control():
    """The same tests reject a slightly wrong distribution (variance 1.01)."""
    st = seed_streams(7, 1)[0]
    n = 1 << 20
    z = np.empty(n)
    fill_normal(st, z)
    z *= np.sqrt(1.01)
    assert abs(z.var() - 1) > 4 * np.sqrt(2 / n)


def test_uniforms_and_stream_independence():
    st = seed_streams(5, 3)
    assert len({tuple(s) for s in st.tolist()}) == 3
    u = np.empty(200000)
    fill_uniform(st[0], u)
    assert u.min() >= 0 and u.max() < 1
    assert stats.kstest(u, "uniform").pvalue > 1e-3
    a, b = np.empty(100000), np.empty(100000)
    fill_normal(st[1], a)
    fill_normal(st[2], b)
    assert abs(np.corrcoef(a, b)[0, 1]) < 4 / np.sqrt(a.size)


def test_streams_are_reproducible():
    a = seed_streams(np.random.SeedSequence(9), 4)
    b = seed_streams(np.random.SeedSequence(9), 4)
    np.testing.assert_array_equal(a, b)
    x, y = np.empty(10), np.empty(10)
    fill_normal(a[2], x)
    fill_normal(b[2], y)
    np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("fn", ["tanh", "sigmoid", "softplus", "exp"])
def test_vectorised_elementary_functions(fn):
    from numba import njit

    from analogsim.kernels.energy import SOFTPLUS, SIGMOID, TANH, activate, exp_vec

    y = np.concatenate([np.linspace(-40, 40, 20001), np.linspace(-1, 1, 2001), [0.0, -0.0, 0.625, -0.625, 22, -22]])
    if fn == "exp":
        f = njit(lambda v: np.array([exp_vec(t) for t in v]))
        x = np.linspace(-700, 700, 100001)
        np.testing.assert_allclose(f(x), np.exp(x), rtol=4e-16, atol=0)
        return
    code = {"tanh": TANH, "sigmoid": SIGMOID, "softplus": SOFTPLUS}[fn]
    from analogsim.model.activations import ACTIVATIONS

    act = ACTIVATIONS[fn]
    Y, FP = y.copy(), np.empty_like(y)
    activate(code, Y, FP, y.size)
    np.testing.assert_allclose(Y, act.f(y), rtol=5e-16, atol=1e-300)
    np.testing.assert_allclose(FP, act.df(y), rtol=2e-15, atol=1e-15)  # f' = 1 - t^2 or s(1 - s): cancellation


# ----------------------------------------------------------------------------- vectorised generators
def _vector_normals(dtype, n, seed):
    from analogsim.kernels.rng import fill_noise_w, noise_work_rows

    st = seed_streams(seed, 1)[0]
    z = np.empty(n, dtype=dtype)
    fill_noise_w(st, z, noise_work_rows(1)[0])
    return z.astype(np.float64)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_vectorised_normals_statistics(dtype):
    """The EM noise generators (float64: vectorised ziggurat; float32: Box-Muller) against N(0, 1):
    moments within 4 SE, KS, and the tails (the ziggurat's slow path; Box-Muller's small radii)."""
    n = 1 << 21
    z = _vector_normals(dtype, n, 2025)
    assert abs(z.mean()) < 4 / np.sqrt(n)
    assert abs(z.var() - 1) < 4 * np.sqrt(2 / n)
    assert abs(stats.kurtosis(z)) < 4 * np.sqrt(24 / n)
    assert abs(stats.skew(z)) < 4 * np.sqrt(6 / n)
    assert stats.kstest(z[: 1 << 19], "norm").pvalue > 1e-3
    for c in (1.0, 2.5, 3.6541528853610088, 4.5):
        p = 2 * stats.norm.sf(c)
        k = np.sum(np.abs(z) > c)
        assert abs(k - n * p) < 4 * np.sqrt(n * p), (c, k, n * p)
    # consecutive draws (lanes interleave in memory) and the two halves of a Box-Muller pair are uncorrelated
    assert abs(np.corrcoef(z[:-1], z[1:])[0, 1]) < 4 / np.sqrt(n)
    half = 256 if dtype == "float32" else 16
    pairs = z[: n - n % (2 * half)].reshape(-1, 2, half)
    assert abs(np.corrcoef(pairs[:, 0].ravel(), pairs[:, 1].ravel())[0, 1]) < 4 / np.sqrt(n / 2)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_vectorised_normals_negative_control(dtype):
    """The variance test above rejects a 1 % error in the variance."""
    n = 1 << 21
    z = _vector_normals(dtype, n, 11) * np.sqrt(1.01)
    assert abs(z.var() - 1) > 4 * np.sqrt(2 / n)


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 3000), dtype=st.sampled_from(["float64", "float32"]), seed=st.integers(0, 2**32 - 1),
       a=st.floats(0, 2), c=st.floats(0, 2))
def test_fused_update_uses_the_same_normals(n, dtype, seed, a, c):
    """em_noise_w (noise fused into the EM update) draws exactly the normals fill_noise_w gives, in order,
    for every request length (scalar path, whole tiles, partial tiles), and leaves the stream in the same
    state."""
    from analogsim.kernels.rng import em_noise_w, fill_noise_w, noise_work_rows

    w = noise_work_rows(1)[0]
    s1 = seed_streams(seed, 1)[0]
    s2 = s1.copy()
    dt = np.dtype(dtype).type
    z = np.empty(n, dtype=dtype)
    fill_noise_w(s1, z, w)
    rng = np.random.default_rng(seed)
    X = rng.normal(size=n).astype(dtype)
    G = rng.normal(size=n).astype(dtype)
    want = X + (-dt(a) * G + dt(c) * z)
    em_noise_w(s2, X, G, dt(a), dt(c), w)
    np.testing.assert_array_equal(s1, s2)
    np.testing.assert_allclose(X, want, rtol=0, atol=4 * np.finfo(dtype).eps * (1 + np.abs(want).max(initial=0)))


# ----------------------------------------------------------------------------- keyed seeding (relax's streams)
def _mix64_ref(z):
    """splitmix64's output function as published (Steele, Lea & Flood 2014; Vigna's splitmix64.c)."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def test_splitmix_reference_value():
    from analogsim.kernels.seeding import _mix64

    # splitmix64 seeded with 0: the first output is mix64(0x9E3779B97F4A7C15) = 0xE220A8397B1DCDAF
    assert _mix64(0x9E3779B97F4A7C15) == 0xE220A8397B1DCDAF == _mix64_ref(0x9E3779B97F4A7C15)


def test_seed_key_is_reproducible_and_distinguishes_seeds():
    from analogsim.kernels.seeding import seed_key

    assert seed_key(7) == seed_key(7) == seed_key(np.int64(7))
    keys = {seed_key(s) for s in range(2000)} | {seed_key(2 ** 64 + s) for s in range(10)}
    assert len(keys) == 2010
    ss = np.random.SeedSequence(5)
    a, b = ss.spawn(2)
    assert len({seed_key(ss), seed_key(a), seed_key(b), seed_key(5)}) == 4
    assert seed_key(np.random.SeedSequence(5)) == seed_key(ss)
    assert seed_key(None) != seed_key(None)  # fresh entropy
    with pytest.raises(ValueError, match="non-negative"):
        seed_key(-1)
    with pytest.raises(TypeError, match="seed must be"):
        seed_key(1.5)


def test_key_streams_distinct_reproducible_and_uncorrelated():
    """Streams of one key (and of neighbouring seeds) are distinct states whose normals are uncorrelated: |r| within
    4 standard errors (1/sqrt(n)); the negative control (a stream against itself shifted by nothing) is caught."""
    from analogsim.kernels.seeding import PURPOSE_RUN, PURPOSE_START, key_streams, seed_key

    k = seed_key(11)
    run = key_streams(k, PURPOSE_RUN, 64)
    np.testing.assert_array_equal(run[:5], key_streams(k, PURPOSE_RUN, 5))  # stream c independent of the count
    start = key_streams(k, PURPOSE_START, 64)
    nb = key_streams(seed_key(12), PURPOSE_RUN, 64)
    states = {tuple(s) for s in np.concatenate([run, start, nb]).tolist()}
    assert len(states) == 192
    n = 100000
    a, b, c, d = (np.empty(n) for _ in range(4))
    fill_normal(run[0].copy(), a)
    fill_normal(run[1].copy(), b)   # neighbouring chunk
    fill_normal(nb[0].copy(), c)    # neighbouring seed, same chunk
    fill_normal(start[0].copy(), d)  # the start's stream of the same key
    se = 1 / np.sqrt(n)
    for x, y in ((a, b), (a, c), (a, d), (b, c)):
        assert abs(np.corrcoef(x, y)[0, 1]) < 4 * se
    assert abs(a.mean()) < 4 * se and abs(a.var() - 1) < 4 * np.sqrt(2 / n)
    e = np.empty(n)
    fill_normal(run[0].copy(), e)   # negative control: the same state twice is perfectly correlated
    assert np.corrcoef(a, e)[0, 1] > 1 - 1e-12


def test_key_stream_words_are_uniform_bits():
    """Each of the 64 bit positions of the derived state words is set half the time (4 SE over 4096 streams x 4
    words); a derivation that dropped the mixing (states = key + c) fails this on its low bits."""
    from analogsim.kernels.seeding import PURPOSE_RUN, key_streams, seed_key

    w = key_streams(seed_key(3), PURPOSE_RUN, 4096).ravel()
    bits = ((w[:, None] >> np.arange(64, dtype=np.uint64)) & np.uint64(1)).astype(float)
    p = bits.mean(axis=0)
    se = 0.5 / np.sqrt(w.size)
    assert np.all(np.abs(p - 0.5) < 4.5 * se), p
    bad = (np.uint64(12345) + np.arange(w.size, dtype=np.uint64))  # negative control: a counter, not hashed
    pb = ((bad[:, None] >> np.arange(64, dtype=np.uint64)) & np.uint64(1)).astype(float).mean(axis=0)
    assert np.any(np.abs(pb - 0.5) > 4.5 * se)


def test_relax_streams_reproducible_and_seed_dependent():
    from analogsim import Network
    from analogsim.inference.simulate import relax

    net = Network.create([3, 8, 2], activations="tanh", kappa=1.0, seed=0)
    kw = dict(kT=0.05, dt=0.01, n_steps=20, n_replicas=64)
    a = relax(net, [0.1, 0.2, 0.3], seed=4, threads=1, **kw)
    b = relax(net, [0.1, 0.2, 0.3], seed=4, threads=2, chunk_rows=16, **kw)
    b1 = relax(net, [0.1, 0.2, 0.3], seed=4, threads=1, chunk_rows=16, **kw)
    c = relax(net, [0.1, 0.2, 0.3], seed=5, threads=1, **kw)
    a2 = relax(net, [0.1, 0.2, 0.3], seed=4, threads=1, **kw)
    assert np.array_equal(a.state, a2.state) and np.array_equal(b.state, b1.state)
    assert not np.allclose(a.state, c.state)


def _lanes_reference(state, n, reverse=False):
    """The float64 lane generator written out in plain Python: N_LANES lanes seeded from the stream (4 words each),
    words laid out lane-fastest in sweeps of 4 steps, the ziggurat's fast path per word, then every rejected draw of
    the tile finished *in increasing position* by the scalar slow path on the stream (a failed wedge test: a fresh
    scalar draw). Returns the normals and the stream's final state."""
    import math

    from analogsim.kernels import rng

    s = [int(v) for v in state]
    nxt = _xoshiro_step

    NL, TW = rng.N_LANES, rng.TILE_WORDS
    lanes = []
    for _ in range(NL):
        lanes.append([nxt(s) for _ in range(4)])
    out = []
    while len(out) < n:
        nw = min(TW, ((n - len(out)) + 4 * NL - 1) // (4 * NL) * (4 * NL))
        buf = [0] * nw
        for b in range(0, nw // NL, 4):
            for q in range(NL):
                for k in range(4):
                    buf[(b + k) * NL + q] = nxt(lanes[q])
        z = []
        for r in buf:
            idx = r & 0xFF
            rabs = r >> 12
            x = math.ldexp(rabs, -52) * float(rng.ZIG_X[idx])
            z.append(-x if (r >> 8) & 1 else x)
        for i in (range(nw - 1, -1, -1) if reverse else range(nw)):
            r = buf[i]
            idx, rabs = r & 0xFF, r >> 12
            if rabs < int(rng.ZIG_KI[idx]):
                continue
            st = [np.uint64(v) for v in s]
            ok, x, *st = rng._normal_slow(np.intp(idx), np.int64(rabs), z[i], *st)
            if not ok:
                x, *st = rng.normal_next(*[np.uint64(v) for v in st])
            s = [int(v) for v in st]
            z[i] = x
        out.extend(z[:n - len(out)])
    return np.array(out), np.array(s, dtype=np.uint64)


@pytest.mark.parametrize("n, seed", [(256, 0), (1000, 1), (4097, 2)])
def test_vectorised_float64_normals_are_the_written_out_ziggurat(n, seed):
    """fill_noise_w's float64 lanes (vectorised fast path, rejection masks, the fix-up in increasing order) give
    bit for bit the numbers of the plain-Python algorithm, and leave the stream in the same state; negative
    control: the same algorithm fixing the rejections in decreasing order gives other numbers."""
    from analogsim.kernels.rng import fill_noise_w, noise_work

    st = seed_streams(seed, 1)[0]
    want, want_state = _lanes_reference(st, n)
    got = np.empty(n)
    s2 = st.copy()
    fill_noise_w(s2, got, noise_work())
    assert int((np.abs(got) > 0).sum()) == n
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(s2, want_state)
    assert not np.array_equal(_lanes_reference(st, n, reverse=True)[0], got)
