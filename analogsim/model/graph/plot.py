"""Draw a graph network: neuron layers as boxes, couplings A_{l,m} as arrows (trainable solid, fixed dashed).

Examples
--------
>>> import matplotlib
>>> matplotlib.use("Agg")
>>> from analogsim.graph import GraphBuilder
>>> b = GraphBuilder((16,)); h = b.dense(b.input, 16, activation="tanh"); _ = b.add([b.input, h])
>>> ax = draw_graph(b.build(seed=0))
>>> len(ax.patches) >= 3
True
"""

from __future__ import annotations

__all__ = ["draw_graph"]


def _depths(net):
    d = [0] * net.n_layers
    for l in range(1, net.n_layers):
        d[l] = 1 + max(d[net.src[k]] for k in net.edges_in[l])
    return d


def draw_graph(net, ax=None, *, title: str | None = None, layer_labels: dict | None = None):
    """Draw ``net`` on ``ax`` (a new figure if None) and return the axes.

    Layers are placed left to right by their longest path from the input; each box shows the layer's name,
    shape and activation (the input: "clamped"). Arrows carry the operator kind; trainable ones are solid and
    dark, fixed ones (identities, pooling, frozen convolutions) dashed and grey. ``layer_labels`` replaces the
    first line of a box (layer name -> text).

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from analogsim.graph import GraphBuilder
    >>> b = GraphBuilder((4,)); h = b.dense(b.input, 4, activation="tanh"); _ = b.add([b.input, h])
    >>> draw_graph(b.build(seed=0)).get_title()
    ''
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    if ax is None:
        _, ax = plt.subplots(figsize=(2.9 * (max(_depths(net)) + 1), 3.2))
    depth = _depths(net)
    cols = {}
    for l, dl in enumerate(depth):
        cols.setdefault(dl, []).append(l)
    pos = {}
    for dl, ls in cols.items():
        for i, l in enumerate(ls):
            pos[l] = (2.9 * dl, (len(ls) - 1) / 2 - i)
    w, h = 2.0, 0.62
    for l, (x, y) in pos.items():
        lay = net.layers[l]
        act = "clamped input" if l == 0 else f"f = {net.activations[l - 1].name}"
        head = (layer_labels or {}).get(lay.name, lay.name)
        bias = "" if l == 0 or lay.bias is None else f", b per {lay.bias}"
        ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.04",
                                    fc="#e8eef7" if l else "#f3e9d2", ec="k", lw=1))
        ax.text(x, y + 0.12, head, ha="center", va="center", fontsize=9, weight="bold")
        ax.text(x, y - 0.14, f"{'x'.join(map(str, lay.shape))}, {act}{bias}", ha="center", va="center", fontsize=6.5)
    for k, e in enumerate(net.edges):
        (x0, y0), (x1, y1) = pos[net.src[k]], pos[net.dst[k]]
        trainable = e.op.trainable
        rad = 0.0 if abs(y1 - y0) > 1e-9 or depth[net.dst[k]] - depth[net.src[k]] == 1 else -0.35
        ax.annotate("", xy=(x1 - w / 2, y1), xytext=(x0 + w / 2, y0),
                    arrowprops=dict(arrowstyle="-|>", lw=1.4 if trainable else 1.0,
                                    ls="-" if trainable else "--", color="#1f3b73" if trainable else "#777777",
                                    connectionstyle=f"arc3,rad={rad}"))
        label = {"dense": "W (dense)", "conv": "W (conv)", "avg_pool": "avg pool", "identity": "I"}[e.op.kind]
        if not trainable and e.op.kind in ("dense", "conv"):
            label += ", fixed"
        mx, my = (x0 + x1) / 2, (y0 + y1) / 2 + (0.68 if rad else 0.08)
        ax.text(mx, my, label, ha="center", va="bottom", fontsize=7.5,
                color="#1f3b73" if trainable else "#555555")
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    ax.set_xlim(min(xs) - w / 2 - 0.3, max(xs) + w / 2 + 0.3)
    ax.set_ylim(min(ys) - 0.8, max(ys) + 1.0)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10)
    return ax
