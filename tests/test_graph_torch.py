"""torch in and out for graph networks: round trips of a ResNet-style and a LeNet-style model, and refusals."""

from __future__ import annotations

import numpy as np
import pytest

from analogsim.graph import GraphNetwork

torch = pytest.importorskip("torch")
nn = torch.nn


class ResBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x):
        h = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(x + self.bn2(self.conv2(h)))


class SmallResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, padding=1)
        self.act = nn.ReLU()
        self.block = ResBlock(4)
        self.down = nn.Conv2d(4, 6, 3, stride=2, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(6, 10)

    def forward(self, x):
        x = self.act(self.stem(x))
        x = self.block(x)
        x = torch.tanh(self.down(x))
        return self.fc(torch.flatten(self.pool(x), 1))


def lenet():
    return nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.Tanh(), nn.AvgPool2d(2),
                         nn.Conv2d(6, 12, 3, padding=1), nn.Tanh(), nn.AvgPool2d(2), nn.Flatten(),
                         nn.Linear(48, 20), nn.Sigmoid(), nn.Linear(20, 10))


def _randomise_bn(model):
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g, dtype=torch.float64) * 0.3)
            m.running_var.copy_(torch.rand(m.num_features, generator=g, dtype=torch.float64) + 0.5)
            with torch.no_grad():
                m.weight.copy_(torch.randn(m.num_features, generator=g, dtype=torch.float64))
                m.bias.copy_(torch.randn(m.num_features, generator=g, dtype=torch.float64))


@pytest.mark.parametrize("make", [SmallResNet, lenet])
def test_round_trip(make):
    torch.manual_seed(0)
    model = make().double()
    _randomise_bn(model)
    model.eval()
    x = torch.randn(7, 1, 8, 8, dtype=torch.float64)
    with torch.no_grad():
        ref = model(x).numpy()
    net = GraphNetwork.from_torch(model, (1, 8, 8), kappa=2.0)
    out = net.predict(x.numpy())
    assert np.max(np.abs(out - ref)) < 1e-12
    back = net.to_torch()
    with torch.no_grad():
        out2 = back(x).numpy()
    assert out2.shape == ref.shape
    assert np.max(np.abs(out2 - ref)) < 1e-12
    # trainable parameters: BatchNorm folded, nothing counted twice
    n_torch = sum(p.numel() for n, p in model.named_parameters() if "bn" not in n)
    n_bias_from_bn = sum(m.num_features for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    assert net.n_params == n_torch + n_bias_from_bn


def test_resnet_graph_structure():
    net = GraphNetwork.from_torch(SmallResNet().double().eval(), (1, 8, 8))
    kinds = sorted({e.op.kind for e in net.edges})
    assert kinds == ["avg_pool", "conv", "dense", "identity"]
    # the residual join: one layer fed by a trainable conv and a fixed identity from the block's input
    joins = [l for l in range(1, net.n_layers) if len(net.edges_in[l]) == 2]
    assert len(joins) == 1
    ops = sorted(net.edges[k].op.kind for k in net.edges_in[joins[0]])
    assert ops == ["conv", "identity"]


def _err(model, shape=(1, 8, 8)):
    with pytest.raises(ValueError) as exc:
        GraphNetwork.from_torch(model, shape)
    return str(exc.value)


def test_refusals_name_node_op_and_reason():
    msg = _err(nn.Sequential(nn.Conv2d(1, 2, 3), nn.MaxPool2d(2)))
    assert "node '_1'" in msg and "call_module" in msg and "max-pooling" in msg
    m = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
    m.train()
    msg = _err(m)
    assert "BatchNorm in training mode" in msg and "node '_1'" in msg

    class Gate(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            return self.fc(x) * torch.sigmoid(x)

    msg = _err(Gate(), (4,))
    assert "node 'mul'" in msg and "call_function" in msg and "gate" in msg

    class Attn(nn.Module):
        def __init__(self):
            super().__init__()
            self.q, self.k = nn.Linear(4, 4), nn.Linear(4, 4)

        def forward(self, x):
            return torch.softmax(self.q(x) @ self.k(x), dim=-1)

    msg = _err(Attn(), (4,))
    assert "matmul" in msg and "attention" in msg


def test_concat_and_functional_forms():
    class Cat(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv1d(2, 3, 3, padding=1)
            self.b = nn.Conv1d(2, 1, 1)
            self.fc = nn.Linear(4 * 6, 2)

        def forward(self, x):
            h = torch.cat([torch.nn.functional.relu(self.a(x)), torch.tanh(self.b(x))], dim=1)
            return self.fc(h.flatten(1))

    torch.manual_seed(1)
    m = Cat().double().eval()
    x = torch.randn(3, 2, 6, dtype=torch.float64)
    net = GraphNetwork.from_torch(m, (2, 6))
    with torch.no_grad():
        assert np.max(np.abs(net.predict(x.numpy()) - m(x).numpy())) < 1e-12


def test_shared_weights_and_more_forms():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            return self.fc(torch.tanh(self.fc(x)))

    msg = _err(Tied(), (4,))
    assert "called a second time" in msg and "node 'fc_1'" in msg

    class Forms(nn.Module):
        def __init__(self):
            super().__init__()
            self.c = nn.Conv1d(2, 3, 3, padding="same")
            self.drop = nn.Dropout(0.5)
            self.pool = nn.AdaptiveAvgPool1d(2)
            self.fc = nn.Linear(6, 2)

        def forward(self, x):
            h = self.drop(torch.sigmoid(self.c(x)))
            h = torch.nn.functional.avg_pool1d(h, 2)
            return self.fc(torch.flatten(self.pool(h), 1))

    torch.manual_seed(2)
    m = Forms().double().eval()
    x = torch.randn(5, 2, 8, dtype=torch.float64)
    net = GraphNetwork.from_torch(m, (2, 8))
    with torch.no_grad():
        assert np.max(np.abs(net.predict(x.numpy()) - m(x).numpy())) < 1e-12
        assert np.max(np.abs(net.to_torch()(x).numpy() - m(x).numpy())) < 1e-12
    m.train()
    assert "Dropout in training mode" in _err(m, (2, 8))
