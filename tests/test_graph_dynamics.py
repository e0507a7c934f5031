"""Graph networks: Langevin relaxation (MALA equipartition, EM bias as negative control), books, quasi-static work."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from analogsim.graph import GraphBuilder
from analogsim.inference.graph import lambda_max, relax
from analogsim.model.hamiltonian import OutputClamp
from analogsim.inference.protocols import Ramp


def conv_res_net():
    b = GraphBuilder((1, 5, 5))
    h = b.conv(b.input, 2, 3, padding=1, activation="tanh")
    r = b.add([h, b.conv(h, 2, 3, padding=1, activation="tanh")])
    b.dense(r, 2, activation="identity")
    return b.build(seed=0, kappa=1.0, bias_scale=0.2)


def conv_net():
    b = GraphBuilder((1, 5, 5))
    h = b.conv(b.input, 2, 3, padding=1, activation="tanh")
    h2 = b.conv(h, 3, 3, stride=2, padding=1, activation="tanh")
    b.dense(h2, 2, activation="identity")
    net = b.build(seed=0, kappa=1.0, bias_scale=0.2, init="xavier")
    net.theta[:] *= 0.7
    return net


X0 = np.linspace(-1, 1, 25)


def test_mala_equipartition_and_em_bias():
    net = conv_res_net()
    lam = lambda_max(net, net.forward(X0))
    res = relax(net, X0, kT=0.2, dt=0.5 / lam, n_steps=300, integrator="mala", n_replicas=160, seed=1)
    ratio, se = res.equipartition()
    # MALA's stationary law is exact and the start is an exact sample: every layer within 4 SE of kT
    assert np.all(np.abs(ratio - 1) < 4 * se), (ratio, se)
    assert 0.3 < res.acceptance < 1
    assert np.abs(res.first_law_residual).max() < 1e-10
    # negative control: EM at Gamma dt lambda_max = 1 is visibly biased
    with pytest.warns(UserWarning, match="Euler-Maruyama"):
        em = relax(net, X0, kT=0.2, dt=1.0 / lam, n_steps=300, integrator="em", n_replicas=160, seed=1)
    r2, se2 = em.equipartition()
    assert np.any(np.abs(r2 - 1) > 4 * se2)


def test_em_equipartition_at_small_step():
    """EM (noise from the numba streams, fused with the step) at Gamma dt lambda_max = 0.02: its bias, about
    0.06 x 0.02 = 0.1 %, is far below the SE, so every layer is within 4 SE of kT; float32 too. Negative
    control: the same samples judged against a temperature 10 % off fail."""
    net = conv_net()
    lam = lambda_max(net, net.forward(X0))
    for dtype in ("float64", "float32"):
        n = net.astype(dtype)
        res = relax(n, X0.astype(dtype), kT=0.2, dt=0.02 / lam, n_steps=400, n_replicas=200, seed=3, burn_in=20)
        ratio, se = res.equipartition()
        assert np.all(np.abs(ratio - 1) < 4 * se), (dtype, ratio, se)
        assert np.all(se < 0.05), se
        assert np.any(np.abs(ratio / 1.1 - 1) > 4 * se), (ratio, se)


def test_quasistatic_work_falls_as_one_over_tau_on_a_conv_net():
    net = conv_net()
    lam = lambda_max(net, net.forward(X0))
    dt = 0.09 / lam
    taus = np.array([16.0, 32.0, 64.0])
    W = []
    for tau in taus:
        r = relax(net, Ramp(X0, -X0, tau), kT=0.0, dt=dt, n_steps=int(np.ceil(tau / dt)) + 1, n_replicas=1, seed=0)
        assert np.abs(r.first_law_residual).max() < 1e-10
        W.append(float(r.work[0]))
    W = np.array(W)
    slope = np.polyfit(np.log(taus), np.log(W), 1)[0]
    assert abs(slope + 1) < 0.06, (slope, W)
    assert abs(taus[-1] * W[-1] / (taus[-2] * W[-2]) - 1) < 0.03
    # at kT > 0 the mean work of the same ramp is the same (L^2 does not depend on T), within 4 SE + 2 %
    rT = relax(net, Ramp(X0, -X0, 32.0), kT=0.02, dt=dt, n_steps=int(np.ceil(32.0 / dt)) + 1, n_replicas=96, seed=2)
    se = rT.work.std(ddof=1) / np.sqrt(rT.work.size)
    assert abs(rT.work.mean() - W[1]) < 4 * se + 0.02 * W[1]
    assert np.abs(rT.first_law_residual).max() < 1e-9


def test_hard_clamp_and_errors():
    net = conv_net()
    t = np.array([0.3, -0.2])
    r = relax(net, X0, kT=0.05, dt=0.01, n_steps=20, n_replicas=4, clamp=OutputClamp(t), seed=0)
    assert np.array_equal(r.xs[-1], np.broadcast_to(t, (4, 2)))
    with pytest.raises(ValueError, match=r"Gamma dt lambda_max = .* >= 2"):
        relax(net, X0, kT=0.1, dt=10.0, n_steps=5, n_replicas=2, seed=0)
    with pytest.raises(ValueError, match="MALA needs kT > 0"):
        relax(net, X0, kT=0.0, dt=0.01, n_steps=5, integrator="mala")
    with pytest.raises(ValueError, match="dt must be > 0"):
        relax(net, X0, kT=0.1, dt=0.0, n_steps=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = relax(net, X0, kT=0.1, dt=0.01, n_steps=10, n_replicas=3, seed=5)
        b = relax(net, X0, kT=0.1, dt=0.01, n_steps=10, n_replicas=3, seed=5)
    assert all(np.array_equal(x, y) for x, y in zip(a.xs, b.xs))


def test_same_numbers_for_any_blas_thread_count():
    from threadpoolctl import threadpool_limits

    from analogsim.model.graph.equilibrium import sample_equilibrium

    net = conv_res_net()
    out = []
    for n in (1, 2):
        with threadpool_limits(limits=n, user_api="blas"):
            s = sample_equilibrium(net, X0, 0.3, n_replicas=64, seed=4)
            r = relax(net, X0, kT=0.1, dt=0.01, n_steps=20, n_replicas=64, seed=4, integrator="mala")
            out.append([*s.xs, *r.xs, r.work, r.heat])
    assert all(np.array_equal(a, b) for a, b in zip(*out))
