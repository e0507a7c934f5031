"""Graph networks written in TOML: round trip and errors that name the entry."""

from __future__ import annotations

import pytest

from analogsim.errors import ConfigError
from analogsim.graph import GraphBuilder
from analogsim.data.graph_config import EXAMPLE, graph_from_toml, graph_to_toml


def test_round_trip_of_a_mixed_graph():
    b = GraphBuilder((2, 6, 6))
    c = b.conv(b.input, 4, 3, stride=1, padding=1, dilation=1, groups=2, activation="relu")
    p = b.avg_pool(c, 2)
    k = b.conv(p, 2, 1, activation="tanh", trainable=False)
    cat = b.concat([p, k])
    b.dense(cat, 3, activation="sigmoid")
    net = b.build(seed=0)
    back = graph_from_toml(graph_to_toml(net))
    assert back.describe() == net.describe()
    assert back.n_params == net.n_params


def test_example_and_errors_name_the_entry(tmp_path):
    net = graph_from_toml(EXAMPLE)
    assert net.names == ("x0", "h", "res", "out")
    path = tmp_path / "g.toml"
    path.write_text(EXAMPLE)
    assert graph_from_toml(path).describe() == net.describe()
    bad = EXAMPLE.replace('op = "dense"', 'op = "maxpool"')
    with pytest.raises(ConfigError, match=r"graph.layers\[2\].inputs\[0\].op: must be one of"):
        graph_from_toml(bad)
    bad = EXAMPLE.replace('{from = "h", op = "identity"}', '{from = "nope", op = "identity"}')
    with pytest.raises(ConfigError, match=r"graph.layers\[1\].inputs\[1\].from: unknown layer 'nope'"):
        graph_from_toml(bad)
    bad = EXAMPLE.replace("padding = 1}", "padding = 0}")   # h is then 1x6x6 and cannot be added to x0 (1x8x8)
    with pytest.raises(ConfigError, match=r"graph.layers\[1\].inputs\[1\]: identity from .h. .*needs equal shapes"):
        graph_from_toml(bad)
    with pytest.raises(ConfigError, match="graph.layers\\[0\\].inputs\\[0\\]: unknown key"):
        graph_from_toml(EXAMPLE.replace("padding = 1}", "padding = 1, colour = 2}"))
    with pytest.raises(ConfigError, match="not valid TOML"):
        graph_from_toml("[graph\n")


def test_save_load_round_trip_and_damage(tmp_path):
    import numpy as np

    from analogsim.errors import CheckpointError
    from analogsim.data.graph_io import load_graph, save_graph

    b = GraphBuilder((1, 6, 6))
    c = b.conv(b.input, 2, 3, padding=1, activation="tanh")
    f = b.conv(c, 2, 3, padding=1, trainable=False, bias=False)
    p = b.avg_pool(b.add([c, f]), 2)
    b.dense(p, 3)
    net = b.build(seed=1, bias_scale=0.1).with_kappa({"conv1": 2.0, "conv2": 0.5, "add3": 1.0, "pool4": 1.5,
                                                     "dense5": np.linspace(0.1, 1, 3)})
    path = tmp_path / "g.npz"
    save_graph(net, path)
    back = load_graph(path)
    x = np.random.default_rng(0).standard_normal((2, 36))
    assert np.array_equal(back.predict(x), net.predict(x))
    assert np.array_equal(back.kappa_flat, net.kappa_flat) and back.describe() == net.describe()
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError):
        load_graph(path)
    other = tmp_path / "o.npz"
    np.savez(other, theta=np.zeros(3))
    with pytest.raises(CheckpointError, match="no valid header"):
        load_graph(other)
