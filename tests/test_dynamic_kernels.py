"""The bistable-element kernel against a plain numpy reference with the same noise, its books, determinism
across threads, and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analogsim.dynamic import (DoubleWell, hold, prior_adapted_erasure, run_segments, set_protocol, standard_erasure,
                               uncompute)
from analogsim.dynamic.cycle import SCHEMES, _grid
from analogsim.kernels.rng import fill_noise, seed_streams


def reference(el, segments, M, C, gs, gp, s0, seed, dt, scheme):
    """Plain numpy: the same grid, the same stream and request order as the kernel (one chunk)."""
    from analogsim._checks import as_seedsequence

    (Eb, A, B, Cc), starts, _ = _grid(el, segments, dt)
    state = seed_streams(as_seedsequence(seed), 1)[0]
    q = np.where(np.asarray(s0) == 1, 1.0, -1.0)
    xi = np.empty(M)
    fill_noise(state, xi)
    tr = el.relax_time
    mudt, c = dt * tr * el.mobility, math.sqrt(2 * el.mobility * el.kT * dt * tr)
    al, be = SCHEMES[scheme]
    n_seg = len(starts) - 1
    W, Q, S, dU = np.zeros((C, M, n_seg)), np.zeros((C, M, n_seg)), np.zeros((C, M, n_seg), np.int8), np.zeros((C, M))

    def U(x, e, t):
        return el.potential(x, e, t)

    for cyc in range(C):
        g = gs[cyc] if gs.shape[0] > 1 else gs[0]
        t = lambda k: A[k] + B[k] * g + Cc[k] * gp  # noqa: E731
        dU[cyc] = -U(q, Eb[0], t(0))
        for s in range(n_seg):
            for k in range(starts[s], starts[s + 1]):
                z = np.empty(M)
                fill_noise(state, z)
                w = U(q, Eb[k + 1], t(k + 1)) - U(q, Eb[k], t(k))
                qn = q + mudt * el.force(q, Eb[k + 1], t(k + 1)) + c * (al * z + be * xi)
                xi = z
                h = U(qn, Eb[k + 1], t(k + 1)) - U(q, Eb[k + 1], t(k + 1))
                # the first law of this one step, checked where it happens
                assert abs((U(qn, Eb[k + 1], t(k + 1)) - U(q, Eb[k], t(k))) - (w + h)).max() < 1e-12
                W[cyc, :, s] += w
                Q[cyc, :, s] -= h
                q = qn
            S[cyc, :, s] = q > 0
        n = len(Eb) - 1
        dU[cyc] += U(q, Eb[n], t(n))
    return W / el.kT, Q / el.kT, S, dU / el.kT, q


@pytest.mark.parametrize("scheme", ["lm", "em"])
def test_kernel_matches_numpy_reference(scheme):
    el = DoubleWell(E_b=12.0, kT=0.8, mobility=1.3)
    M, C = 300, 2  # >= 256 elements: the vectorised normals path
    rng = np.random.default_rng(3)
    s0 = rng.integers(0, 2, M)
    gs = rng.choice([-6.0, 6.0], size=(C, M))
    gp = rng.normal(0, 1.5, M)
    segs = [(set_protocol(6.0), 40.0), (hold(), 5.0), (prior_adapted_erasure(6.0), 40.0), (uncompute(6.0), 30.0)]
    b = run_segments(el, segs, n_elements=M, n_cycles=C, signal=gs, prior=gp, s0=s0, seed=11, dt=0.1, scheme=scheme)
    W, Q, S, dU, q = reference(el, segs, M, C, gs, gp, s0, 11, 0.1, scheme)
    np.testing.assert_allclose(b.work, W, rtol=0, atol=1e-12)
    np.testing.assert_allclose(b.heat, Q, rtol=0, atol=1e-12)
    np.testing.assert_allclose(b.dU, dU, rtol=0, atol=1e-12)
    np.testing.assert_allclose(b.q, q, rtol=0, atol=1e-12)
    assert np.array_equal(b.bits, S)


def test_first_law_closes_per_element_and_cycle():
    el = DoubleWell()
    b = run_segments(el, [(hold(), 5.0), (standard_erasure(), 200.0)], n_elements=500, n_cycles=3, seed=0)
    assert np.max(np.abs(b.first_law_residual)) < 1e-10
    # a broken book (heat booked at the old control parameters) would not close: the check has teeth
    assert np.max(np.abs(b.dU - b.work.sum(2))) > 1e-3


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_results_do_not_depend_on_threads(threads):
    el = DoubleWell()
    kw = dict(n_elements=2500, n_cycles=2, seed=5, s0=np.arange(2500) % 2)  # 3 chunks
    segs = [(hold(), 5.0), (standard_erasure(), 60.0)]
    ref = run_segments(el, segs, threads=1, **kw)
    b = run_segments(el, segs, threads=threads, **kw)
    assert np.array_equal(b.work, ref.work) and np.array_equal(b.heat, ref.heat) and np.array_equal(b.q, ref.q)


@settings(deadline=None, max_examples=15)
@given(depth=st.floats(0.5, 12.0), barrier=st.floats(0.0, 16.0), q=st.floats(-1.5, 1.5))
def test_potential_force_consistent_and_tilt_is_the_well_difference(depth, barrier, q):
    el = DoubleWell()
    h = 1e-6
    num = -(el.potential(q + h, barrier, depth) - el.potential(q - h, barrier, depth)) / (2 * h)
    assert abs(num - el.force(q, barrier, depth)) < 1e-4 * (1 + abs(num))
    # wells at +-1 for any barrier and tilt; U(-1) - U(+1) = tilt exactly
    assert abs(el.force(1.0, barrier, depth)) < 1e-12 and abs(el.force(-1.0, barrier, depth)) < 1e-12
    assert abs(el.potential(-1.0, barrier, depth) - el.potential(1.0, barrier, depth) - depth) < 1e-12


def test_bad_input_raises_before_work():
    el = DoubleWell()
    segs = [(hold(), 5.0), (standard_erasure(), 10.0)]
    for kw, word in [(dict(n_elements=0), "n_elements"), (dict(n_elements=4, dt=0.0), "dt"),
                     (dict(n_elements=4, scheme="rk4"), "scheme"), (dict(n_elements=4, s0=[0, 1, 2, 0]), "s0"),
                     (dict(n_elements=4, signal=np.zeros(3)), "signal"),
                     (dict(n_elements=4, prior=np.zeros(5)), "prior")]:
        with pytest.raises(ValueError, match=word):
            run_segments(el, segs, **kw)
    with pytest.raises(ValueError, match="dt"):
        run_segments(el, [(hold(), 5.0), (standard_erasure(60.0), 10.0)], n_elements=4, dt=0.2)  # too stiff
    with pytest.raises(ValueError, match="start where"):
        run_segments(el, [(hold(), 5.0), (_open(), 5.0), (hold(), 5.0)], n_elements=4)
    with pytest.raises(TypeError, match="element"):
        run_segments("well", segs, n_elements=4)
    for kw, word in [(dict(E_b=0.0), "E_b"), (dict(kT=-1.0), "kT"), (dict(E_low=20.0), "E_low"),
                     (dict(tilt_width=1.5), "tilt_width")]:
        with pytest.raises(ValueError, match=word):
            DoubleWell(**kw)


def _open():
    from analogsim.dynamic import Protocol

    return Protocol("open", (0.0, 1.0), (1.0, 0.5), (0.0, 0.0), (0.0, 0.0), (0.0, 0.0))
