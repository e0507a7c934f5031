"""Graph networks: H and every derivative against torch autograd on hypothesis-generated graphs, plus bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analogsim import Network
from analogsim.graph import AvgPool, Conv, Dense, Edge, GraphBuilder, GraphNetwork, Identity, Layer
from analogsim.graph import energy as E
from analogsim.model.hamiltonian import OutputClamp

torch = pytest.importorskip("torch")
from analogsim.model.graph.torch_fx import torch_energy, torch_preactivations  # noqa: E402

ACTS = ["identity", "relu", "tanh", "sigmoid", "softplus"]


@st.composite
def graphs(draw):
    """A random DAG mixing dense, conv (stride, padding, dilation, groups), pooling, skip and concat edges."""
    one_d = draw(st.booleans())
    C = draw(st.integers(1, 2))
    shape = (C, draw(st.integers(4, 7))) if one_d else (C, draw(st.integers(3, 6)), draw(st.integers(3, 6)))
    b = GraphBuilder(shape)
    names = [b.input]
    n_steps = draw(st.integers(2, 5))
    for _ in range(n_steps):
        spatial = [n for n in names if len(b.shape(n)) >= 2]
        kind = draw(st.sampled_from(["conv", "conv", "pool", "dense", "skip", "cat"]))
        act = draw(st.sampled_from(ACTS))
        src = draw(st.sampled_from(spatial)) if spatial else None
        try:
            if kind == "conv" and src:
                cin = b.shape(src)[0]
                groups = draw(st.sampled_from([g for g in (1, 2) if cin % g == 0]))
                cout = groups * draw(st.integers(1, 2))
                k = draw(st.integers(1, 3))
                names.append(b.conv(src, cout, k, stride=draw(st.integers(1, 2)), padding=draw(st.integers(0, 1)),
                                    dilation=draw(st.integers(1, 2)), groups=groups, activation=act,
                                    bias=draw(st.booleans())))
            elif kind == "pool" and src:
                names.append(b.avg_pool(src, draw(st.integers(1, 2)), padding=0))
            elif kind == "skip" and src:
                h = b.conv(src, b.shape(src)[0], 3, padding=1, activation=act)
                names.append(h)
                names.append(b.add([src, h], activation=draw(st.sampled_from(ACTS))))
            elif kind == "cat" and src:
                h = b.conv(src, 1, 1, activation=act)
                names.append(h)
                names.append(b.concat([src, h]))
            else:
                src = draw(st.sampled_from(names))
                names.append(b.dense(src, draw(st.integers(1, 5)), activation=act))
        except ValueError:  # a kernel that does not fit: skip this step
            continue
    if len(names) == 1:
        names.append(b.dense(b.input, 3, activation="tanh"))
    last = names[-1]
    # join a second branch into the output through a dense skip so that the output depends on several layers
    extra = draw(st.sampled_from(names))
    n_out = draw(st.integers(1, 3))
    out = b.layer("out", [(last, Dense(b.shape(last), n_out)), (extra, Dense(b.shape(extra), n_out))],
                  activation=draw(st.sampled_from(ACTS)))
    assert out == "out"
    net = b.build(seed=draw(st.integers(0, 2**16)), bias_scale=0.3)
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    net = net.with_kappa([rng.uniform(0.5, 2.0, n) for n in net.sizes[1:]])
    return net, rng


def _state(net, rng, B=3):
    xs = net.forward(rng.standard_normal((B, net.sizes[0])))
    return [x if l == 0 else x + 0.3 * rng.standard_normal(x.shape) for l, x in enumerate(xs)]


def _t(a, grad=False):
    return torch.tensor(np.asarray(a), dtype=torch.float64, requires_grad=grad)


def _rel(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b)) / max(1.0, float(np.max(np.abs(b)))))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs(), st.booleans())
def test_energy_and_derivatives_match_autograd(case, soft):
    net, rng = case
    xs = _state(net, rng)
    target = rng.standard_normal(xs[-1].shape)
    clamp = OutputClamp(target, 0.7) if soft else None
    xt = [_t(x, True) for x in xs]
    th = _t(net.theta, True)
    Ht = torch_energy(net, xt, th, _t(target) if soft else None, 0.7 if soft else None)
    H = E.energy(net, xs, clamp)
    assert _rel(H, Ht.detach().numpy()) < 1e-12
    gx_t = torch.autograd.grad(Ht.sum(), xt + [th], create_graph=True)
    gx = E.grad_x(net, xs, clamp)
    for l in range(net.n_layers):
        assert _rel(gx[l], gx_t[l].detach().numpy()) < 1e-12, f"dH/dx_{l} ({net.names[l]})"
    assert _rel(E.grad_params(net, xs), gx_t[-1].detach().numpy()) < 1e-12
    # per-sample parameter gradient
    per = E.grad_params(net, xs, reduce="none")
    for b in range(xs[0].shape[0]):
        gb = torch.autograd.grad(Ht[b], th, retain_graph=True)[0].numpy()
        assert _rel(per[b], gb) < 1e-12
    # stress: dH/d(per-neuron bias perturbation)
    eps = [_t(np.zeros(x.shape), True) for x in xs[1:]]
    ys = torch_preactivations(net, [_t(x) for x in xs], _t(net.theta))
    from analogsim.model.graph.torch_fx import _act
    He = sum(0.5 * (_t(net.kappa[l - 1]) * (_t(xs[l]) - _act(torch, net.activations[l - 1].name,
                                                               ys[l - 1] + eps[l - 1])) ** 2).sum()
             for l in range(1, net.n_layers))
    sig_t = torch.autograd.grad(He, eps)
    for s, st_ in zip(E.stress(net, xs), sig_t):
        assert _rel(s, st_.numpy()) < 1e-12
    # Hessian-vector product in x (all layers, input included)
    v = [rng.standard_normal(x.shape) for x in xs]
    dot = sum((g * _t(vv)).sum() for g, vv in zip(gx_t[:-1], v))
    hv_t = torch.autograd.grad(dot, xt, retain_graph=True)
    hv = E.hvp_x(net, xs, v, clamp)
    for l in range(net.n_layers):
        assert _rel(hv[l], hv_t[l].numpy()) < 1e-12, f"Hv layer {l}"
    # Hessian-vector product in the trainable parameters (neurons fixed)
    vt = rng.standard_normal(net.n_params)
    hth_t = torch.autograd.grad((gx_t[-1] * _t(vt)).sum(), th, retain_graph=True)[0].numpy()
    assert _rel(E.hvp_theta(net, xs, vt), hth_t) < 1e-12


def test_dense_chain_is_the_special_case():
    net = Network.create([4, 6, 5, 2], activations=["tanh", "softplus", "identity"], kappa=[1.0, 2.0, 0.5],
                         seed=3, bias_scale=0.2)
    g = GraphNetwork.from_network(net)
    assert np.array_equal(g.theta, net.theta)
    from analogsim.model import hamiltonian as Hm
    rng = np.random.default_rng(0)
    xs = [x + 0.1 * rng.standard_normal(x.shape) for x in net.forward(rng.standard_normal((5, 4)))]
    xs[0] = net.forward(xs[0])[0]
    assert np.array_equal(E.energy(g, xs), Hm.energy(net, xs))
    for a, b in zip(E.grad_x(g, xs), Hm.grad_x(net, xs)):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(E.grad_params(g, xs, reduce="none"), Hm.grad_params(net, xs, reduce="none"),
                               rtol=1e-13, atol=1e-15)


def test_trainable_counts_only_trainable():
    b = GraphBuilder((1, 6, 6))
    c = b.conv(b.input, 2, 3, padding=1, activation="relu", bias=False)
    p = b.avg_pool(c, 2)
    f = b.conv(p, 2, 3, padding=1, trainable=False, bias=False)
    _ = b.add([p, f])
    net = b.build(seed=0)
    assert net.n_params == 2 * 9   # the frozen conv, the pool and the identities are not parameters
    assert [r["what"] for r in net.param_table()] == ["x0->conv1 conv"]


# ----------------------------------------------------------------------------- bad input
def test_cycle_is_named():
    layers = [Layer("x", (2,)), Layer("a", (2,)), Layer("b", (2,))]
    edges = [Edge("a", "x", Dense((2,), 2)), Edge("b", "a", Dense((2,), 2)), Edge("a", "b", Dense((2,), 2))]
    with pytest.raises(ValueError, match=r"cycle a -> b -> a|cycle b -> a -> b"):
        GraphNetwork(layers, edges)


def test_self_loop_and_unknown_layer():
    with pytest.raises(ValueError, match="self-loop"):
        GraphNetwork([Layer("x", (2,)), Layer("a", (2,))], [Edge("a", "x", Dense((2,), 2)),
                                                            Edge("a", "a", Dense((2,), 2))])
    with pytest.raises(ValueError, match="unknown src layer 'q'"):
        GraphNetwork([Layer("x", (2,)), Layer("a", (2,))], [Edge("a", "q", Dense((2,), 2))])


def test_shape_mismatch_names_the_edge():
    layers = [Layer("x", (1, 5, 5)), Layer("c", (2, 3, 3)), Layer("d", (4,))]
    edges = [Edge("c", "x", Conv((1, 5, 5), 2, 3)), Edge("d", "c", Dense((17,), 4))]
    with pytest.raises(ValueError, match=r"edge 1 \(c -> d, dense\).*takes 17 inputs.*'c' has 18"):
        GraphNetwork(layers, edges)
    with pytest.raises(ValueError, match=r"edge 0 \(c -> x|produces shape \(2, 3, 3\)"):
        GraphNetwork([Layer("x", (1, 5, 5)), Layer("c", (2, 4, 4))], [Edge("c", "x", Conv((1, 5, 5), 2, 3))])
    with pytest.raises(ValueError, match=r"expects input shape \(1, 6, 6\)"):
        GraphNetwork([Layer("x", (1, 5, 5)), Layer("c", (2, 4, 4))], [Edge("c", "x", Conv((1, 6, 6), 2, 3))])


def test_two_inputs_and_bad_kappa():
    with pytest.raises(ValueError, match="exactly one layer"):
        GraphNetwork([Layer("x", (2,)), Layer("y", (2,)), Layer("a", (2,))],
                     [Edge("a", "x", Dense((2,), 2)), Edge("a", "y", Dense((2,), 2))])
    b = GraphBuilder((3,))
    b.dense(b.input, 2)
    with pytest.raises(ValueError, match="kappa"):
        b.build(kappa=-1.0)
    with pytest.raises(ValueError, match=r"kappa: unknown or input layer\(s\) \['nope'\]"):
        b.build(kappa={"nope": 1.0})


def test_bad_operator_arguments():
    with pytest.raises(ValueError, match="groups=2 must divide"):
        Conv((3, 5, 5), 4, 3, groups=2)
    with pytest.raises(ValueError, match="does not fit"):
        Conv((1, 2, 2), 1, 5)
    with pytest.raises(ValueError, match="kernel_size"):
        Conv((1, 5, 5), 1, (3, 3, 3))
    with pytest.raises(ValueError, match="offset"):
        Identity((3,), (4,), offset=2)
    with pytest.raises(ValueError, match="weight must have shape"):
        Dense((3,), 2, weight=np.zeros((3, 2)))
    net = GraphBuilder((1, 4, 4))
    net.avg_pool(net.input, 2)
    g = net.build()
    with pytest.raises(ValueError, match=r"x0 must have shape"):
        g.forward(np.zeros((2, 15)))
    with pytest.raises(ValueError, match=r"xs must be a list of 2 arrays"):
        E.energy(g, [np.zeros((1, 16))])
    assert isinstance(AvgPool((1, 4, 4), 2), Conv)


def test_activity_matches_the_dense_chain():
    from analogsim.bounds import measure_activity as chain_activity
    from analogsim.bounds.graph import measure_activity

    net = Network.create([5, 12, 7, 3], activations=["relu", "relu", "identity"], seed=2, bias_scale=0.3)
    X = np.random.default_rng(1).standard_normal((40, 5))
    a, b = measure_activity(GraphNetwork.from_network(net), X), chain_activity(net, X)
    assert (a.nu, a.nu_a, a.n_samples) == (b.nu, b.nu_a, b.n_samples)
    assert np.array_equal(a.counts, b.counts)
    with pytest.raises(ValueError, match="no relu layer"):
        measure_activity(GraphNetwork.from_network(Network.create([2, 2], activations="tanh", seed=0)), X[:, :2])
