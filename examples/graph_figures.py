"""Figures of docs/graph.md: a residual block's graph, and a traced ResNet-style torch model's graph.

Run: python examples/graph_figures.py [output folder, default docs/figures]
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from analogsim.graph import GraphBuilder  # noqa: E402
from analogsim.model.graph.plot import draw_graph  # noqa: E402


def residual_block():
    b = GraphBuilder((16,), input_name="x")
    h = b.dense(b.input, 16, activation="tanh", name="h")
    b.add([b.input, h], name="y")
    return b.build(seed=0)


def main(out="docs/figures"):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7.5, 3.0))
    draw_graph(residual_block(), ax, title="y = x + f(W x + b): two neuron layers",
               layer_labels={"h": "h = f(W x + b)", "y": "y = x + h"})
    fig.tight_layout()
    fig.savefig(out / "graph_residual_block.png", dpi=130)
    try:
        import torch

        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from test_graph_torch import SmallResNet

        from analogsim.graph import GraphNetwork

        net = GraphNetwork.from_torch(SmallResNet().double().eval(), (1, 8, 8))
        fig, ax = plt.subplots(figsize=(14, 3.4))
        draw_graph(net, ax, title="SmallResNet traced by from_torch (BatchNorm folded)")
        fig.tight_layout()
        fig.savefig(out / "graph_small_resnet.png", dpi=110)
        del torch
    except ImportError:
        pass


if __name__ == "__main__":
    main(*sys.argv[1:])
