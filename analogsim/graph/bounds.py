"""The paper's bounds for graph networks: the activity nu, nu_a of Eq. 5 measured on a graph, and N.

The bound formulas themselves (:mod:`analogsim.bounds`) take numbers; what a graph network supplies is what to
count. N (Eq. 16) is ``net.n_params``: trainable parameters only (identity skips, pooling and frozen operators are
not parameters). nu and nu_a (Eq. 5) count the neurons of relu layers, whatever their shape (a convolutional
layer's neurons are channels x positions).

Examples
--------
>>> import numpy as np
>>> from analogsim.graph import GraphBuilder
>>> b = GraphBuilder((1, 4, 4)); _ = b.dense(b.conv(b.input, 2, 3, padding=1, activation="relu"), 3)
>>> rec = measure_activity(b.build(seed=0), np.random.default_rng(0).standard_normal((50, 16)))
>>> rec.nu, 0 < rec.p < 1
(32, True)
"""

from __future__ import annotations

import math

import numpy as np

from .._checks import check_scalar
from ..bounds import ActivityRecord

__all__ = ["measure_activity"]


def measure_activity(net, X, *, batch_size: int = 4096) -> ActivityRecord:
    """Active relu neurons (y > 0) per inference of a graph network on the rows of ``X`` (Eq. 5's nu_a).

    Same record as :func:`analogsim.bounds.measure_activity` (``per_layer`` entries name the layer index in
    topological order); y is recomputed from the zero-temperature forward pass.

    Examples
    --------
    >>> import numpy as np
    >>> from analogsim.graph import GraphBuilder
    >>> b = GraphBuilder((4,)); _ = b.dense(b.input, 6, activation="relu")
    >>> measure_activity(b.build(seed=0), np.eye(4)).nu
    6
    """
    relu = [l for l in range(1, net.n_layers) if net.activations[l - 1].name == "relu"]
    if not relu:
        raise ValueError(f"net has no relu layer (activations {list(net.activation_names)}); "
                         "Eq. 5 counts relu neurons (s_i = Theta(y_i))")
    batch_size = check_scalar(batch_size, "batch_size", low=1, integer=True)
    X = net.check_input(X, "X")
    B = X.shape[0]
    per = np.zeros((B, len(relu)), dtype=np.int64)
    for start in range(0, B, batch_size):
        xs = net.forward(X[start:start + batch_size])
        for j, l in enumerate(relu):
            per[start:start + batch_size, j] = np.count_nonzero(net.preactivation(l, xs) > 0, axis=1)
    counts = per.sum(axis=1)
    nu = int(sum(net.sizes[l] for l in relu))
    nu_a = float(counts.mean())
    se = float(counts.std(ddof=1) / math.sqrt(B)) if B > 1 else float("nan")
    layers = tuple({"layer": l, "name": net.names[l], "n": int(net.sizes[l]), "nu_a": float(per[:, j].mean()),
                    "p": float(per[:, j].mean() / net.sizes[l])} for j, l in enumerate(relu))
    return ActivityRecord(nu, nu_a, se, nu_a / nu, B, layers, counts)
