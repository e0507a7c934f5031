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

from .formulas import ActivityRecord, _relu_activity

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
    return _relu_activity(net, X, batch_size, relu, net.preactivation, names=net.names)
