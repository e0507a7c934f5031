"""Network <-> torch.nn.Sequential: round trips, and one pytest.raises per rejected model."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from analogsim import Network

torch = pytest.importorskip("torch")
nn = torch.nn

pytestmark = pytest.mark.torch


def _net(dtype):
    return Network.create([3, 6, 5, 4, 2], activations=["tanh", "relu", "sigmoid", "softplus"], seed=3,
                          bias_scale=0.4, dtype=dtype, kappa=[1.0, 2.0, np.linspace(1, 2, 4), 0.5])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_round_trip_identical_parameters_and_outputs(dtype):
    net = _net(dtype)
    model = net.to_torch()
    tdt = torch.float32 if dtype == "float32" else torch.float64
    assert all(p.dtype == tdt for p in model.parameters())
    back = Network.from_torch(model, kappa=net.kappa)
    assert back.dtype == net.dtype and back.sizes == net.sizes
    assert back.activation_names == net.activation_names
    assert np.array_equal(back.theta, net.theta)  # bit for bit
    assert all(np.array_equal(a, b) for a, b in zip(back.kappa, net.kappa))
    x = np.random.default_rng(0).standard_normal((9, 3)).astype(dtype)
    assert np.array_equal(back.predict(x), net.predict(x))  # same numpy code, same numbers
    with torch.no_grad():
        out = model(torch.from_numpy(x)).numpy()
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(out, net.predict(x), rtol=64 * eps, atol=64 * eps)  # torch vs numpy: rounding


def test_export_copies_parameters():
    net = _net("float64")
    model = net.to_torch()
    with torch.no_grad():
        model[0].weight.add_(1.0)
    assert not np.array_equal(Network.from_torch(model).theta, net.theta)
    assert np.all(net.weights[0] < 10)  # the net was not changed through the model


def test_identity_layers_are_bare_linear_and_accepted_explicitly():
    net = Network.create([2, 3, 1], activations=["identity", "identity"], seed=0)
    model = net.to_torch()
    assert [type(m).__name__ for m in model] == ["Linear", "Linear"]
    model2 = nn.Sequential(nn.Linear(2, 3), nn.Identity(), nn.Linear(3, 1), nn.Identity())
    assert Network.from_torch(model2).activation_names == ("identity", "identity")


def test_linear_without_bias_and_dtype_override():
    model = nn.Sequential(nn.Linear(3, 4, bias=False), nn.ReLU(), nn.Linear(4, 2))
    net = Network.from_torch(model, dtype="float64")
    assert net.dtype == np.float64
    assert np.all(net.biases[0] == 0)
    np.testing.assert_array_equal(net.weights[0], model[0].weight.detach().numpy().astype(np.float64))


def test_user_model_trained_in_torch_keeps_its_function():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 8), nn.Softplus(), nn.Linear(8, 1)).double()
    x = torch.randn(16, 4, dtype=torch.float64)
    net = Network.from_torch(model, kappa=2.0)
    with torch.no_grad():
        np.testing.assert_allclose(net.predict(x.numpy()), model(x).numpy(), rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- one rule, one raises
def test_rejects_conv1d():
    with pytest.raises(ValueError, match=r"model\[0\] is Conv1d.*expected Linear"):
        Network.from_torch(nn.Sequential(nn.Conv1d(1, 1, 3)))


def test_rejects_dropout():
    with pytest.raises(ValueError, match=r"model\[2\] is Dropout.*expected Linear"):
        Network.from_torch(nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Dropout(0.1), nn.Linear(4, 1)))


def test_rejects_leaky_relu():
    with pytest.raises(ValueError, match=r"model\[1\] is LeakyReLU"):
        Network.from_torch(nn.Sequential(nn.Linear(3, 4), nn.LeakyReLU(), nn.Linear(4, 1)))


def test_rejects_two_activations_in_a_row():
    with pytest.raises(ValueError, match=r"model\[2\] \(ReLU\) follows another activation, model\[1\] \(Tanh\)"):
        Network.from_torch(nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.ReLU(), nn.Linear(4, 1)))


def test_rejects_softplus_with_beta():
    with pytest.raises(ValueError, match=r"model\[1\] is Softplus\(beta=2.*expected beta=1"):
        Network.from_torch(nn.Sequential(nn.Linear(3, 4), nn.Softplus(beta=2.0), nn.Linear(4, 1)))


def test_rejects_softplus_with_other_threshold():
    with pytest.raises(ValueError, match=r"threshold=5.*expected beta=1 and threshold=20"):
        Network.from_torch(nn.Sequential(nn.Linear(3, 4), nn.Softplus(threshold=5.0)))


def test_rejects_activation_first():
    with pytest.raises(ValueError, match=r"model\[0\] \(Tanh\) must follow a Linear layer"):
        Network.from_torch(nn.Sequential(nn.Tanh(), nn.Linear(3, 4)))


def test_rejects_mismatched_linear_sizes():
    with pytest.raises(ValueError, match=r"model\[2\] \(Linear\) must take 4 input features.*in_features=5"):
        Network.from_torch(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(5, 1)))


def test_rejects_empty_sequential():
    with pytest.raises(ValueError, match="at least one Linear"):
        Network.from_torch(nn.Sequential())


def test_rejects_non_sequential():
    with pytest.raises(TypeError, match=r"model must be a torch.nn.Sequential.*got Linear.*wrap"):
        Network.from_torch(nn.Linear(3, 4))


def test_rejects_nonfinite_weights():
    lin = nn.Linear(3, 2)
    with torch.no_grad():
        lin.weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"model\[0\].weight must be finite"):
        Network.from_torch(nn.Sequential(lin))


def test_rejects_bad_kappa_on_import():
    with pytest.raises(ValueError, match=r"kappa must be > 0"):
        Network.from_torch(nn.Sequential(nn.Linear(3, 2)), kappa=-1.0)


def test_missing_torch_names_the_extra(monkeypatch):
    net = Network.create([2, 1], seed=0)
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError
    with pytest.raises(ImportError, match=r"analogsim-pnn\[torch\]"):
        net.to_torch()
