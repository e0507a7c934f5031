"""The Network model: layout of theta, copies, persistence, and one pytest.raises per validation rule."""

from __future__ import annotations

import numpy as np
import pytest

from analogsim import Network
from analogsim.model.activations import ACTIVATIONS, get_activation


def test_theta_layout_and_views():
    net = Network.create([3, 4, 2], activations=["tanh", "identity"], seed=0, bias_scale=0.5)
    assert net.sizes == (3, 4, 2) and net.depth == 2 and net.n_params == 3 * 4 + 4 + 4 * 2 + 2
    assert list(net.w_offsets) == [0, 16] and list(net.b_offsets) == [12, 24]
    np.testing.assert_array_equal(net.theta[:12].reshape(4, 3), net.weights[0])
    np.testing.assert_array_equal(net.theta[12:16], net.biases[0])
    net.theta[0] = 42.0  # weights are views into theta
    assert net.weights[0][0, 0] == 42.0
    assert list(net.x_offsets) == [0, 3, 7, 9] and net.n_neurons == 6


def test_per_neuron_kappa_and_kernel_args():
    net = Network.create([2, 3, 2], kappa=[np.array([1.0, 2.0, 3.0]), 0.5], seed=0)
    np.testing.assert_array_equal(net.kappa_flat, [1, 2, 3, 0.5, 0.5])
    theta, sizes, w_off, b_off, codes, kf, k_off = net.kernel_args()
    assert theta is net.theta and list(sizes) == [2, 3, 2] and list(k_off) == [0, 3, 5]
    assert list(codes) == [ACTIVATIONS["tanh"].code] * 2


def test_copies_are_independent():
    net = Network.create([2, 3, 1], seed=1)
    c = net.copy()
    c.theta[:] = 0
    c.kappa[0][:] = 7
    assert np.any(net.theta != 0) and np.all(net.kappa[0] == 1)
    n32 = net.astype("float32")
    assert n32.dtype == np.float32 and n32.theta.dtype == np.float32 and n32.kappa[0].dtype == np.float32
    np.testing.assert_allclose(n32.theta, net.theta, rtol=1e-7)
    w = net.with_theta(np.arange(net.n_params, dtype=float))
    assert w.weights[0][0, 1] == 1.0 and net.weights[0][0, 1] != 1.0
    assert net.with_kappa(3.0).kappa[1][0] == 3.0


def test_forward_is_the_zero_temperature_state():
    net = Network.create([2, 3, 1], activations=["relu", "sigmoid"], seed=2, bias_scale=0.3)
    x = np.array([[0.5, -1.0], [2.0, 0.1]])
    xs = net.forward(x)
    y1 = x @ net.weights[0].T + net.biases[0]
    np.testing.assert_allclose(xs[1], np.maximum(y1, 0))
    np.testing.assert_allclose(xs[2], 1 / (1 + np.exp(-(xs[1] @ net.weights[1].T + net.biases[1]))))
    assert net.forward([0.5, -1.0])[0].shape == (1, 2)  # a single row is accepted


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_arrays_round_trip(dtype):
    net = Network.create([3, 5, 2], activations=["softplus", "identity"], kappa=[2.0, np.array([1.0, 3.0])],
                         seed=4, dtype=dtype)
    back = Network.from_arrays(net.to_arrays())
    assert back.dtype == net.dtype and back.activation_names == net.activation_names
    assert np.array_equal(back.theta, net.theta) and np.array_equal(back.kappa_flat, net.kappa_flat)


def test_activation_registry_derivatives():
    y = np.linspace(-4, 4, 101)
    h = 1e-6
    for name, act in ACTIVATIONS.items():
        if name == "relu":
            y_ = y[np.abs(y) > 1e-3]
        else:
            y_ = y
        np.testing.assert_allclose(act.df(y_), (act.f(y_ + h) - act.f(y_ - h)) / (2 * h), atol=1e-8)
        np.testing.assert_allclose(act.d2f(y_), (act.df(y_ + h) - act.df(y_ - h)) / (2 * h), atol=1e-7)
    assert get_activation("LINEAR").name == "identity"
    assert ACTIVATIONS["relu"].df(np.array([0.0]))[0] == 0.0  # torch's convention f'(0) = 0


# --------------------------------------------------------------------------- one rule, one raises
def test_rejects_weights_not_a_list():
    with pytest.raises(TypeError, match="weights must be a non-empty list"):
        Network(np.zeros((2, 3)))


def test_rejects_mismatched_layer_shapes():
    with pytest.raises(ValueError, match=r"weights\[1\] must have shape \(n, 3\).*got \(2, 4\)"):
        Network([np.zeros((3, 2)), np.zeros((2, 4))])


def test_rejects_wrong_bias_shape():
    with pytest.raises(ValueError, match=r"biases\[0\] must have shape \(3\)"):
        Network([np.zeros((3, 2))], [np.zeros(2)])


def test_rejects_nan_weights():
    w = np.zeros((3, 2))
    w[1, 1] = np.nan
    with pytest.raises(ValueError, match=r"weights\[0\] must be finite, got 1 NaN/inf"):
        Network([w])


def test_rejects_inf_bias():
    with pytest.raises(ValueError, match=r"biases\[0\] must be finite"):
        Network([np.zeros((2, 2))], [np.array([0.0, np.inf])])


def test_rejects_nonpositive_kappa():
    with pytest.raises(ValueError, match=r"kappa must be > 0 \(a stiffness\), got min 0.0"):
        Network.create([2, 3], kappa=0.0)


def test_rejects_negative_per_neuron_kappa():
    with pytest.raises(ValueError, match=r"kappa\[0\] must be > 0"):
        Network.create([2, 3, 1], kappa=[np.array([1.0, -1.0, 1.0]), 1.0])


def test_rejects_kappa_of_wrong_shape():
    with pytest.raises(ValueError, match=r"kappa\[0\] must be a number or have shape \(3,\)"):
        Network.create([2, 3, 1], kappa=[np.ones(2), 1.0])


def test_rejects_unknown_activation():
    with pytest.raises(ValueError, match=r"unknown activation 'swish'; expected one of"):
        Network.create([2, 3], activations="swish")


def test_rejects_wrong_number_of_activations():
    with pytest.raises(ValueError, match=r"activations must be one name or a list of 2 names"):
        Network.create([2, 3, 1], activations=["tanh"])


def test_rejects_bad_sizes():
    with pytest.raises(ValueError, match=r"sizes\[1\] must be a positive integer, got 0"):
        Network.create([2, 0, 1])


def test_rejects_bad_dtype():
    with pytest.raises(ValueError, match=r"dtype must be 'float32' or 'float64', got 'float16'"):
        Network.create([2, 1], dtype="float16")


def test_rejects_input_of_wrong_width():
    net = Network.create([3, 2], seed=0)
    with pytest.raises(ValueError, match=r"x0 must have shape \(batch, 3\).*got \(4, 2\)"):
        net.forward(np.zeros((4, 2)))


def test_rejects_nan_input():
    net = Network.create([2, 2], seed=0)
    with pytest.raises(ValueError, match=r"x0 must be finite, got 1 NaN/inf"):
        net.forward([[0.0, np.nan]])


def test_rejects_target_of_wrong_width():
    net = Network.create([2, 2], seed=0)
    with pytest.raises(ValueError, match=r"target must have shape \(batch, 2\)"):
        net.check_output(np.zeros((3, 5)))


def test_rejects_state_with_wrong_layers():
    net = Network.create([2, 3, 1], seed=0)
    with pytest.raises(ValueError, match=r"xs must be a list of 3 arrays"):
        net.check_state([np.zeros((1, 2))])
