"""The compiled Langevin loop against a plain numpy implementation fed the same noise.

The reference draws its normals (and MALA's uniforms) from the same per-chunk xoshiro streams in the
kernel's order: per step and chunk, the noise of the dynamic layers 1..L (or 1..L-1 under a hard clamp),
each an (n_l, rows) block in C order (neuron-major); MALA then draws one uniform per replica.
"""

from __future__ import annotations

import numpy as np
import pytest

from analogsim import Network
from analogsim.model.hamiltonian import OutputClamp, energy, grad_x
from analogsim.inference.integrators import MALA, EulerMaruyama
from analogsim.kernels.rng import fill_noise, fill_uniform, seed_streams
from analogsim.inference.observers import Books
from analogsim.inference.protocols import Constant, Ramp
from analogsim.inference.simulate import LangevinRun


def _reference(net, xs, *, kT, dt, gamma, n_steps, chunk_rows, streams, clamp=None, mala=False,
               input_ramp=None):
    """numpy EM / MALA with the kernel's noise order; returns (final xs, work, heat, n_acc)."""
    L = net.depth
    B = xs[0].shape[0]
    hard = clamp is not None and clamp.hard
    dyn = list(range(1, L if hard else L + 1))
    a = gamma * dt
    c = np.sqrt(2 * gamma * kT * dt)
    xs = [x.copy() for x in xs]
    dtype = net.dtype
    W = np.zeros(B)
    Q = np.zeros(B)
    acc = np.zeros(B)
    soft = clamp if (clamp is not None and not clamp.hard) else None

    def H(xs_):
        return energy(net.astype(np.float64), [x.astype(np.float64) for x in xs_], soft)

    def G(xs_):
        return grad_x(net, xs_, soft)

    chunks = [(r0, min(chunk_rows, B - r0)) for r0 in range(0, B, chunk_rows)]
    for k in range(n_steps):
        if input_ramp is not None:
            old = H(xs)
            xs[0] = np.broadcast_to(input_ramp.value([(k + 1) * dt])[0], xs[0].shape).astype(dtype)
            W += H(xs) - old
        z = [np.zeros((B, net.sizes[l])) for l in dyn]
        u = np.zeros(B)
        for ci, (r0, bc) in enumerate(chunks):
            n = bc * sum(net.sizes[l] for l in dyn)
            buf = np.empty(n, dtype=np.float64 if mala else dtype)  # EM: noise in the net's dtype
            fill_noise(streams[ci], buf)
            off = 0
            for i, l in enumerate(dyn):
                z[i][r0:r0 + bc] = buf[off:off + bc * net.sizes[l]].reshape(net.sizes[l], bc).T
                off += bc * net.sizes[l]
            if mala:
                ub = np.empty(bc)
                fill_uniform(streams[ci], ub)
                u[r0:r0 + bc] = ub
        g = G(xs)
        H0 = H(xs)
        prop = [x.copy() for x in xs]
        for i, l in enumerate(dyn):
            prop[l] = (xs[l] + (-a * g[l] + c * z[i])).astype(dtype)
        if not mala:
            gp = G(prop)
            Q += sum(0.5 * np.sum((g[l].astype(np.float64) + gp[l]) * (prop[l].astype(np.float64) - xs[l]), axis=1)
                     for l in dyn)
            xs = prop
            continue
        Hp = H(prop)
        gp = G(prop)
        fwd = sum(np.sum(zi * zi, axis=1) for zi in z)
        bwd = sum(np.sum((xs[l].astype(np.float64) - prop[l] + a * gp[l].astype(np.float64)) ** 2, axis=1) for l in dyn)
        log_alpha = -(Hp - H0) / kT - bwd / (2 * c * c) + 0.5 * fwd
        ok = np.log(u) < log_alpha
        acc += ok
        Q += np.where(ok, Hp - H0, 0.0)
        for l in dyn:
            xs[l] = np.where(ok[:, None], prop[l], xs[l])
    return xs, W, Q, acc


def _case(sizes, act, dtype, seed=0):
    net = Network.create(sizes, activations=act, kappa=[1.0 + 0.5 * l for l in range(len(sizes) - 1)],
                         seed=seed, dtype=dtype, bias_scale=0.3)
    rng = np.random.default_rng(seed + 1)
    B = 11
    x0 = rng.normal(size=(B, sizes[0]))
    xs = net.forward(x0)
    xs = [x + (0.1 * rng.normal(size=x.shape) if l else 0.0) for l, x in enumerate(xs)]
    return net, [np.ascontiguousarray(x, dtype=dtype) for x in xs]


TOL = {"float64": 1e-12, "float32": 1e-5}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("act", ["relu", "tanh", "identity", "sigmoid", "softplus"])
@pytest.mark.parametrize("clamp_kind", ["free", "soft", "hard"])
def test_em_matches_numpy(act, dtype, clamp_kind):
    if dtype == "float32" and act in ("sigmoid", "softplus", "identity") and clamp_kind != "free":
        pytest.skip("float32 is covered by the free-output cases and relu/tanh")
    net, xs = _case([3, 6, 5, 2], act, dtype)
    B = xs[0].shape[0]
    clamp = None
    if clamp_kind != "free":
        tgt = np.linspace(-0.5, 0.5, B * 2).reshape(B, 2)
        clamp = OutputClamp(tgt, None if clamp_kind == "hard" else 3.0)
        if clamp.hard:
            xs[-1][...] = tgt
    kw = dict(kT=0.05, dt=0.01, gamma=1.3)
    run = LangevinRun(net, net.concat(xs), integrator=EulerMaruyama(), clamp=clamp, input_protocol=Constant(xs[0]),
                      target_protocol=Constant(clamp.target) if clamp else None, observers={"books": Books()},
                      seed=np.random.SeedSequence(7), chunk_rows=4, **kw)
    run.run(30)
    ref, _, Qr, _ = _reference(net, xs, n_steps=30, chunk_rows=4, clamp=clamp,
                               streams=seed_streams(np.random.SeedSequence(7), run.n_chunks), **kw)
    got = net.split(run.state())
    for l in range(net.depth + 1):
        np.testing.assert_allclose(got[l], ref[l], rtol=0, atol=TOL[dtype], err_msg=f"layer {l}")
    np.testing.assert_allclose(run.books[:, 1], Qr, rtol=0, atol=1e-10 if dtype == "float64" else 1e-4)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("books", [True, False])
@pytest.mark.parametrize("clamp_kind", ["free", "hard"])
def test_em_vectorised_noise_matches_numpy(dtype, books, clamp_kind):
    """Chunks long enough for the vectorised generators (>= LANES_MIN normals per step, several tiles and a
    partial one), with the noise fused into the update (no books) or drawn into a buffer first (books)."""
    from analogsim.kernels.rng import LANES_MIN, TILE_WORDS

    net, xs = _case([3, 40, 30, 2], "tanh", dtype, seed=2)
    B = xs[0].shape[0]
    rows = 8  # chunks of 8 and 3 replicas: the vectorised path and the scalar one
    assert rows * 70 >= LANES_MIN and rows * 72 > 2 * TILE_WORDS > 3 * 72  # hard clamp: 40 + 30 per replica
    clamp = None
    if clamp_kind == "hard":
        tgt = np.linspace(-0.5, 0.5, B * 2).reshape(B, 2)
        clamp = OutputClamp(tgt, None)
        xs[-1][...] = tgt
    kw = dict(kT=0.05, dt=0.01, gamma=1.3)
    run = LangevinRun(net, net.concat(xs), integrator=EulerMaruyama(), clamp=clamp, input_protocol=Constant(xs[0]),
                      target_protocol=Constant(clamp.target) if clamp else None,
                      observers={"books": Books()} if books else {}, seed=np.random.SeedSequence(5),
                      chunk_rows=rows, **kw)
    run.run(20)
    ref, _, _, _ = _reference(net, xs, n_steps=20, chunk_rows=rows, clamp=clamp,
                              streams=seed_streams(np.random.SeedSequence(5), run.n_chunks), **kw)
    got = net.split(run.state())
    for l in range(net.depth + 1):
        np.testing.assert_allclose(got[l], ref[l], rtol=0, atol=TOL[dtype], err_msg=f"layer {l}")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("clamp_kind", ["free", "hard"])
def test_mala_matches_numpy(dtype, clamp_kind):
    net, xs = _case([3, 6, 5, 2], "tanh", dtype, seed=3)
    B = xs[0].shape[0]
    clamp = None
    if clamp_kind == "hard":
        tgt = np.full((B, 2), 0.2)
        clamp = OutputClamp(tgt)
        xs[-1][...] = tgt
    kw = dict(kT=0.05, dt=0.2, gamma=1.0)
    run = LangevinRun(net, net.concat(xs), integrator=MALA(), clamp=clamp, input_protocol=Constant(xs[0]),
                      target_protocol=Constant(clamp.target) if clamp else None, observers={},
                      seed=np.random.SeedSequence(5), chunk_rows=3, **kw)
    run.run(40)
    ref, _, _, acc = _reference(net, xs, n_steps=40, chunk_rows=3, clamp=clamp, mala=True,
                                streams=seed_streams(np.random.SeedSequence(5), run.n_chunks), **kw)
    assert 0.2 < acc.mean() / 40 < 1.0  # the comparison exercises both branches
    np.testing.assert_array_equal(run.books[:, 4], acc)
    got = net.split(run.state())
    for l in range(net.depth + 1):
        np.testing.assert_allclose(got[l], ref[l], rtol=0, atol=TOL[dtype], err_msg=f"layer {l}")


def test_em_blas_path_and_ramp_work_match_numpy():
    """A layer large enough for the BLAS path, and a moving input with its work."""
    net, xs = _case([4, 130, 128, 3], "tanh", "float64", seed=2)
    assert net.sizes[1] * net.sizes[2] >= 256
    B = xs[0].shape[0]
    ramp = Ramp(xs[0][0], xs[0][0] + 0.5, tau=0.1)
    xs[0][...] = xs[0][0]
    kw = dict(kT=0.02, dt=0.01, gamma=1.0)
    run = LangevinRun(net, net.concat(xs), integrator=EulerMaruyama(), input_protocol=ramp,
                      observers={"books": Books()}, seed=np.random.SeedSequence(3), chunk_rows=6, **kw)
    run.run(15)
    ref, Wr, Qr, _ = _reference(net, xs, n_steps=15, chunk_rows=6, input_ramp=ramp,
                                streams=seed_streams(np.random.SeedSequence(3), run.n_chunks), **kw)
    got = net.split(run.state())
    for l in range(net.depth + 1):
        np.testing.assert_allclose(got[l], ref[l], rtol=0, atol=1e-12, err_msg=f"layer {l}")
    np.testing.assert_allclose(run.books[:, 0], Wr, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(run.books[:, 1], Qr, rtol=1e-9, atol=1e-12)
    assert np.all(np.abs(Wr) > 0)


@pytest.mark.parametrize("act", ["relu", "tanh"])
def test_em_without_books_matches_numpy(act):
    """The fast path (no observers: no increments kept, no heat) gives the same trajectory."""
    net, xs = _case([3, 20, 16, 2], act, "float64", seed=4)   # 320 weights: the BLAS path for layer 2
    kw = dict(kT=0.05, dt=0.01, gamma=1.0)
    run = LangevinRun(net, net.concat(xs), integrator=EulerMaruyama(), input_protocol=Constant(xs[0]), observers={},
                      seed=np.random.SeedSequence(8), chunk_rows=4, **kw)
    run.run(30)
    ref, _, _, _ = _reference(net, xs, n_steps=30, chunk_rows=4,
                              streams=seed_streams(np.random.SeedSequence(8), run.n_chunks), **kw)
    got = net.split(run.state())
    for l in range(net.depth + 1):
        np.testing.assert_allclose(got[l], ref[l], rtol=0, atol=1e-12, err_msg=f"layer {l}")
