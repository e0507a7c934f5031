"""H and its derivatives (Eq. 6, 8, 9) against torch autograd in float64, hypothesis-generated nets."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analogsim import Network, OutputClamp
from analogsim.model import hamiltonian as ham

NAMES = ("identity", "relu", "tanh", "sigmoid", "softplus")


def make_case(depth, sizes, acts, batch, seed, soft, dtype="float64"):
    """A random net with per-neuron kappa and a random state near (not at) the forward pass."""
    rng = np.random.default_rng(seed)
    kappa = [rng.uniform(0.2, 5.0, n) for n in sizes[1:]]
    net = Network.create(sizes, activations=acts, kappa=kappa, seed=rng, bias_scale=0.5, dtype=dtype)
    x0 = rng.standard_normal((batch, sizes[0]))
    xs = [x + 0.5 * rng.standard_normal(x.shape) for x in net.forward(x0)]
    xs = [x.astype(dtype) for x in xs]
    clamp = None
    if soft is not None:
        clamp = OutputClamp(rng.standard_normal((batch, sizes[-1])), soft)
    return net, xs, clamp


@st.composite
def nets(draw):
    depth = draw(st.integers(1, 4))
    sizes = [draw(st.integers(1, 6)) for _ in range(depth + 1)]
    acts = [draw(st.sampled_from(NAMES)) for _ in range(depth)]
    batch = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    soft = draw(st.one_of(st.none(), st.floats(0.1, 10.0)))
    return depth, sizes, acts, batch, seed, soft


@pytest.mark.torch
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nets())
def test_derivatives_match_autograd_float64(case):
    pytest.importorskip("torch")
    from analogsim.model.crosscheck import autograd_check

    net, xs, clamp = make_case(*case)
    small = int(net.x_offsets[-1]) <= 24
    err = autograd_check(net, xs, clamp=clamp, hessian=small)
    # all relative errors, incl. dH/dx for every layer and the input force, dH/dtheta (sum and per sample),
    # the Hessian-vector product in x and (small nets) the full Hessian
    assert err["max"] < 1e-12, err


@pytest.mark.torch
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nets())
def test_float32_nets_cast_consistently(case):
    pytest.importorskip("torch")
    from analogsim.model.crosscheck import autograd_check

    net32, xs32, clamp = make_case(*case, dtype="float32")
    # the float64 cast of a float32 net holds the same numbers: derivatives exact to float64 rounding
    net64 = net32.astype("float64")
    xs64 = [x.astype(np.float64) for x in xs32]
    assert np.array_equal(net64.theta, net32.theta.astype(np.float64))
    assert autograd_check(net64, xs64, clamp=clamp)["max"] < 1e-12
    # computed in float32 they agree to float32 rounding
    err32 = autograd_check(net32, xs32, clamp=clamp, per_sample=False)
    assert err32["max"] < 1e-4, err32


@pytest.mark.torch
def test_mixed_activations_deep_net_full_hessian():
    pytest.importorskip("torch")
    from analogsim.model.crosscheck import autograd_check

    net, xs, clamp = make_case(4, [3, 4, 4, 3, 2], ["tanh", "relu", "softplus", "sigmoid"], 3, 11, 2.5)
    err = autograd_check(net, xs, clamp=clamp, hessian=True)
    assert err["hessian"] < 1e-12 and err["grad_x0"] < 1e-12 and err["max"] < 1e-12


def test_energy_zero_at_forward_pass_and_per_layer_terms():
    net, xs, _ = make_case(3, [2, 3, 3, 1], ["tanh", "relu", "identity"], 5, 0, None)
    assert np.all(ham.energy(net, net.forward(xs[0])) == 0)
    per = ham.energy(net, xs, per_layer=True)
    assert per.shape == (5, 3)
    np.testing.assert_allclose(per.sum(axis=1), ham.energy(net, xs))
    d = ham.residuals(net, xs)
    np.testing.assert_allclose(per[:, 1], 0.5 * np.sum(net.kappa[1] * d[1] ** 2, axis=1))


def test_soft_clamp_energy_and_force():
    net, xs, _ = make_case(2, [2, 3, 2], ["tanh", "identity"], 4, 1, None)
    t = np.zeros((4, 2))
    c = OutputClamp(t, 3.0)
    np.testing.assert_allclose(ham.energy(net, xs, c) - ham.energy(net, xs), 1.5 * np.sum(xs[-1] ** 2, axis=1))
    g = ham.grad_x(net, xs, c)[-1] - ham.grad_x(net, xs)[-1]
    np.testing.assert_allclose(g, 3.0 * xs[-1])
    assert ham.energy(net, xs, OutputClamp(t)).tolist() == ham.energy(net, xs).tolist()  # hard: not in H


def test_grad_params_reductions_and_finite_differences():
    net, xs, _ = make_case(2, [3, 4, 2], ["softplus", "sigmoid"], 3, 5, None)
    per = ham.grad_params(net, xs, reduce="none")
    np.testing.assert_allclose(per.sum(axis=0), ham.grad_params(net, xs))
    np.testing.assert_allclose(per.mean(axis=0), ham.grad_params(net, xs, reduce="mean"))
    h = 1e-6
    for i in (0, 5, net.b_offsets[0], net.n_params - 1):
        e = np.zeros(net.n_params)
        e[i] = h
        fd = (ham.energy(net.with_theta(net.theta + e), xs).sum()
              - ham.energy(net.with_theta(net.theta - e), xs).sum()) / (2 * h)
        assert abs(fd - ham.grad_params(net, xs)[i]) < 1e-7


def test_stress_is_bias_gradient_eq8():
    net, xs, _ = make_case(2, [2, 3, 2], ["tanh", "tanh"], 2, 3, None)
    sig = ham.stress(net, xs)
    _, deltas, fps = ham.layer_terms(net, xs)
    np.testing.assert_allclose(sig[1], -net.kappa[1] * deltas[1] * fps[1])
    g = ham.grad_params(net, xs, reduce="none")
    np.testing.assert_allclose(g[:, net.b_offsets[1]:], sig[1])


def test_power_iteration_finds_the_largest_eigenvalue():
    net, xs, _ = make_case(2, [2, 4, 3], ["tanh", "identity"], 1, 9, None)
    xs = net.forward(xs[0])  # at the minimum H's Hessian is the Gauss-Newton matrix
    n = int(net.x_offsets[-1])
    off = net.x_offsets
    Hm = np.empty((n, n))
    for j in range(n):
        e = np.zeros((1, n))
        e[0, j] = 1
        Hm[:, j] = np.concatenate(ham.hvp_x(net, xs, [e[:, off[l]:off[l + 1]] for l in range(3)]), axis=1)[0]
    lam = np.linalg.eigvalsh(Hm[2:, 2:]).max()  # input clamped
    assert abs(ham.power_lambda_max(net, xs, n_iter=300) - lam) < 1e-6 * lam
    assert ham.stability_bound(net) >= lam


def test_rejects_bad_reduce():
    net, xs, _ = make_case(1, [2, 2], ["tanh"], 1, 0, None)
    with pytest.raises(ValueError, match=r"reduce must be 'sum', 'mean' or 'none', got 'max'"):
        ham.grad_params(net, xs, reduce="max")


def test_rejects_nonpositive_output_stiffness():
    with pytest.raises(ValueError, match=r"output stiffness must be > 0 \(or None for a hard clamp\), got -1"):
        OutputClamp(np.zeros(2), -1.0)


def test_rejects_state_of_wrong_shape():
    net, xs, _ = make_case(2, [2, 3, 1], ["tanh", "tanh"], 2, 0, None)
    pytest.importorskip("torch")
    from analogsim.model.crosscheck import autograd_check

    with pytest.raises(ValueError, match=r"xs\[1\] must have shape \(2, 3\), got \(2, 4\)"):
        autograd_check(net, [xs[0], np.zeros((2, 4)), xs[2]])
