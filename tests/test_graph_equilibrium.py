"""Graph networks: exact clamped-input sampler (equipartition), clamped minimum, stress vs backprop."""

from __future__ import annotations

import numpy as np
import pytest

from analogsim.graph import GraphBuilder
from analogsim.graph import energy as E
from analogsim.model.graph.equilibrium import (clamped_minimum, equipartition, free_energy, sample_equilibrium,
                                         stress_vs_backprop)


def conv_skip_net(seed=0):
    b = GraphBuilder((1, 6, 6))
    h = b.conv(b.input, 3, 3, padding=1, activation="tanh")
    g = b.conv(h, 3, 3, padding=1, activation="softplus")
    r = b.add([h, g])
    p = b.avg_pool(r, 2)
    b.dense(p, 3, activation="tanh")
    return b.build(seed=seed, bias_scale=0.2)


def residual_net(seed=0):
    b = GraphBuilder((5,))
    h0 = b.dense(b.input, 6, activation="tanh")
    h = b.dense(h0, 6, activation="tanh")
    r = b.add([h0, h])
    h2 = b.dense(r, 6, activation="sigmoid")
    r2 = b.add([r, h2])
    b.dense(r2, 2, activation="identity")
    return b.build(seed=seed, bias_scale=0.2)


def test_exact_sampler_equipartition_on_conv_skip_graph():
    net = conv_skip_net().with_kappa([0.5, 2.0, 1.0, 3.0, 1.5])
    kT = 0.5
    s = sample_equilibrium(net, np.linspace(-1, 1, 36), kT, n_replicas=6000, seed=3)
    ratio, se = s.equipartition(net.kappa)
    # exact samples: kappa delta^2/kT is chi^2_1 per neuron; each layer's ratio is 1 within 4 SE
    assert np.all(np.abs(ratio - 1) < 4 * se), (ratio, se)
    # the drawn residuals are the residuals of the state (forward propagation is consistent)
    for a, b in zip(E.residuals(net, s.xs), s.deltas):
        np.testing.assert_allclose(a, b, atol=1e-12)
    # negative control: the same samples judged at a 20 % lower temperature must be rejected
    r2, se2 = equipartition(net.kappa, s.deltas, kT / 1.2)
    assert np.any(np.abs(r2 - 1) > 4 * se2)
    # seeds: same seed same samples
    s2 = sample_equilibrium(net, np.linspace(-1, 1, 36), kT, n_replicas=6000, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(s.xs, s2.xs))
    assert np.isfinite(free_energy(net, kT))


def test_zero_temperature_sample_is_the_forward_pass():
    net = conv_skip_net()
    x0 = np.random.default_rng(0).standard_normal((3, 36))
    s = sample_equilibrium(net, x0, 0.0, seed=0)
    for a, b in zip(s.xs, net.forward(x0)):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="kT must be >= 0"):
        sample_equilibrium(net, x0, -1.0)
    with pytest.raises(ValueError, match="n_replicas needs a single input row"):
        sample_equilibrium(net, x0, 1.0, n_replicas=4)


@pytest.mark.parametrize("make", [residual_net, conv_skip_net])
def test_stress_vs_backprop_slope_one(make):
    net = make()
    rng = np.random.default_rng(1)
    x0 = rng.standard_normal((3, net.sizes[0]))
    t = 0.5 * rng.standard_normal((3, net.sizes[-1]))
    rep = stress_vs_backprop(net, x0, t, ratios=(1e-5, 1e-4, 1e-3, 1.0))
    assert rep["converged"]
    assert abs(rep["slope"] - 1) < 0.02, rep
    assert rep["recursion_residual"] < 1e-8
    # at r = 1 the two differ by tens of per cent: "stress = backprop" is a limit statement
    assert rep["rel_error"][-1] > 0.1


def test_clamped_minimum_soft_and_hard():
    net = conv_skip_net()
    rng = np.random.default_rng(2)
    x0 = rng.standard_normal((2, 36))
    t = rng.standard_normal((2, 3))
    for k in (None, 0.3):
        m = clamped_minimum(net, x0, t, output_stiffness=k)
        assert m.converged and m.grad_norm < 1e-12
        if k is None:
            np.testing.assert_array_equal(m.xs[-1], t)
        g = E.grad_x(net, m.xs, None if k is None else E.OutputClamp(t, k))
        assert max(np.abs(g[l]).max() for l in range(1, net.n_layers - (1 if k is None else 0))) < 1e-12
