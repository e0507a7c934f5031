"""Regression: the graph network's clamped minimum at stiffness ratio r = 1 (non-convex H).

At r = kappa_out/kappa_hidden = 1 with large weights the x-Hessian of H is indefinite away from the minimum.
The graph's Newton-CG line search used to accept any step that lowered the relative gradient norm, however far
H rose: on dense chains converted to graphs it cycled (sizes [5, 2, 1], seed 3, sample 4: H between 1.12 and
13.0, gradient norm between 3.24 and 1.33, for all 60 steps; the chain's minimum there is H = 0.046) and ended
unconverged above the dense chain's minimum. It now takes the dense chain's rule
(:func:`analogsim.model._newton._accept`): H lowered, or the gradient norm lowered with H level within a rounding
allowance. These tests pin seeded nets where the old rule stalled and a family of small tanh nets with large
weights: the solver must converge, report the residual it reached, never end above its starting energy, stop at
a minimum (positive semi-definite Hessian) and agree with the dense chain's solver on the energy.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analogsim import Network, OutputClamp
from analogsim.model import hamiltonian as ham
from analogsim.model._newton import _dense_hessian
from analogsim.model.clamped import clamped_minimum as chain_minimum
from analogsim.graph import GraphNetwork
from analogsim.graph import energy as E
from analogsim.model.graph.equilibrium import clamped_minimum


def _random_case(seed, act="tanh"):
    """A small chain with weights scaled by 2-8 (r = 1), a batch of 8, a hard (even seed) or soft clamp."""
    rng = np.random.default_rng(seed)
    sizes = [int(rng.integers(1, 6))] + [int(rng.integers(1, 9)) for _ in range(int(rng.integers(1, 4)))] \
        + [int(rng.integers(1, 4))]
    net = Network.create(sizes, activations=act, seed=seed, bias_scale=1.0)
    net = net.with_theta(net.theta * rng.uniform(2, 8))
    return net, 2 * rng.standard_normal((8, sizes[0])), rng.standard_normal((8, sizes[-1])), [None, 1.0][seed % 2]


def _min_eig(net, xs, t, soft):
    """Smallest eigenvalue of the chain's x-Hessian over the free neurons at ``xs``, relative to the largest."""
    clamp = OutputClamp(net.check_output(t, batch=xs[0].shape[0]), soft)
    ys, deltas, fps = ham.layer_terms(net, xs)
    w = np.linalg.eigvalsh(_dense_hessian(net, ys, fps, deltas, clamp, net.depth - (soft is None)))
    return w[:, 0] / np.abs(w).max(axis=1)


def _check(net, x0, t, soft):
    """Solve on the graph of ``net``: converged, the residual reported, downhill, a minimum of the chain's H."""
    g = GraphNetwork.from_network(net)
    m = clamped_minimum(g, x0, t, soft)
    assert m.converged and m.grad_norm <= 1e-12, (m.grad_norm, m.n_iter, m.history[-5:])
    assert len(m.history) == m.n_iter and m.history[-1] == m.grad_norm  # the residual reached is reported
    clamp = OutputClamp(net.check_output(t, batch=m.xs[0].shape[0]), soft)
    start = g.forward(x0)
    if soft is None:
        start[-1] = clamp.target
    h0 = E.energy(g, start, clamp)
    assert np.all(m.energy <= h0 * (1 + 1e-8)), (m.energy, h0)  # the line search never ends uphill
    # the graph's H is the chain's H, and the state is a minimum of it (not a saddle)
    np.testing.assert_allclose(m.energy, ham.energy(net, m.xs, clamp), rtol=1e-12, atol=1e-300)
    assert np.all(_min_eig(net, m.xs, t, soft) > -1e-8)
    return m


def _compare_with_chain(net, x0, t, soft, m):
    """Per sample: the graph's minimum is the dense chain's (energy to 1e-9 relative), or both are distinct local
    minima of the same H (each Hessian positive semi-definite, states apart). H is not convex at r = 1: from the
    same start (the forward pass) the chain's modified Newton and the graph's Newton-CG can reach different
    minima, lower on either side. Returns the number of such samples."""
    d = chain_minimum(net, x0, t, soft)
    same = np.isclose(m.energy, d.energy, rtol=1e-9, atol=1e-14)
    for a, b in zip(m.xs, d.xs):
        np.testing.assert_allclose(a[same], b[same], rtol=1e-6, atol=1e-7)
    if not same.all():
        assert d.grad_norm <= 1e-12 and np.all(_min_eig(net, d.xs, t, soft)[~same] > -1e-8)
        apart = np.max(np.concatenate([np.abs(a - b) for a, b in zip(m.xs[1:], d.xs[1:])], axis=1), axis=1)
        assert np.all(apart[~same] > 1e-3), apart[~same]
    return int(np.count_nonzero(~same))


# seeds of _random_case where the old acceptance rule ended unconverged (relative gradient norm 0.06-8.8 after
# 60 steps; 26 of their 104 samples off the chain's minimum); 3 is [5, 2, 1] with a soft clamp
STALLED = [3, 8, 12, 24, 28, 30, 50, 88, 112, 119, 141, 157, 183]


@pytest.mark.parametrize("seed", STALLED)
def test_stalls_found_by_a_seeded_survey(seed):
    net, x0, t, soft = _random_case(seed)
    _check(net, x0, t, soft)


# the other smooth activations: stalls of the old rule (gradient norm 0.5-14), and softplus nets 104 and 138,
# which need more than 3 steps without halving the residual near the rounding floor
@pytest.mark.parametrize("act, seed", [("sigmoid", 94), ("sigmoid", 110), ("sigmoid", 130), ("softplus", 39),
                                       ("softplus", 61), ("softplus", 63), ("softplus", 104), ("softplus", 138)])
def test_other_activations(act, seed):
    net, x0, t, soft = _random_case(seed, act)
    _check(net, x0, t, soft)


def test_stalled_seeds_reach_the_dense_chains_minima():
    # 104 samples; two reach another local minimum than the chain's: seed 28 sample 4 (graph 5.53, chain 2.62)
    # and seed 119 sample 1 (graph 0.292, chain 0.259). Before the fix 26 samples of these nets disagreed.
    other = 0
    for seed in STALLED:
        net, x0, t, soft = _random_case(seed)
        other += _compare_with_chain(net, x0, t, soft, _check(net, x0, t, soft))
    assert other <= 2, other


def test_seed3_soft_clamp_no_longer_cycles():
    net, x0, t, soft = _random_case(3)
    assert net.sizes == (5, 2, 1) and soft == 1.0
    m = _check(net, x0, t, soft)
    assert m.n_iter <= 15, m.history  # 7 steps (60, unconverged, before)
    d = chain_minimum(net, x0, t, soft)
    np.testing.assert_allclose(m.energy, d.energy, rtol=1e-9)  # sample 4: H = 0.046, not 1.12 or 13.0
    assert m.energy[4] < 0.05


@settings(deadline=None, max_examples=40, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(n_in=st.integers(1, 5), hidden=st.lists(st.integers(1, 8), min_size=1, max_size=3),
       n_out=st.integers(1, 3), scale=st.floats(1.5, 6.0), soft=st.sampled_from([None, 1.0]),
       seed=st.integers(0, 2**31 - 1))
def test_graph_newton_converges_at_r1_on_tanh_nets_with_large_weights(n_in, hidden, n_out, scale, soft, seed):
    rng = np.random.default_rng(seed)
    net = Network.create([n_in, *hidden, n_out], activations="tanh", seed=seed, bias_scale=1.0)
    net = net.with_theta(net.theta * scale)  # large weights: H is strongly non-convex at r = 1
    x0 = 2.0 * rng.standard_normal((8, n_in))
    t = rng.standard_normal((8, n_out))
    _compare_with_chain(net, x0, t, soft, _check(net, x0, t, soft))
