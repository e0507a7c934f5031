"""Save and load graph networks: one ``.npz`` file (no pickle) with a JSON header, written atomically.

The header holds the structure (:meth:`GraphNetwork.describe`), the format version and a SHA-256 of the arrays;
the arrays are ``theta`` (trainable parameters), ``kappa`` (every non-input neuron's stiffness) and the weights of
fixed operators that have any (frozen convolutions or dense maps; pooling and identities are rebuilt from their
hyper-parameters). A file that is truncated, altered or not of this kind raises
:class:`analogsim.errors.CheckpointError`.

Examples
--------
>>> import tempfile, os
>>> from analogsim.graph import GraphBuilder
>>> b = GraphBuilder((1, 4, 4)); _ = b.dense(b.conv(b.input, 2, 3, activation="tanh"), 3)
>>> net = b.build(seed=0)
>>> path = os.path.join(tempfile.mkdtemp(), "net.npz")
>>> save_graph(net, path)
>>> bool((load_graph(path).theta == net.theta).all())
True
"""

from __future__ import annotations

import hashlib
import io
import json

import numpy as np

from .._io import atomic_write_bytes
from ..errors import CheckpointError
from ..model.graph.model import Edge, GraphNetwork, Layer
from ..model.graph.operators import operator_from_description

__all__ = ["save_graph", "load_graph", "save_train_state", "load_train_state", "run_digest"]

FORMAT = "analogsim.graph/1"


def _digest(arrays: dict) -> str:
    h = hashlib.sha256()
    for k in sorted(arrays):
        a = np.ascontiguousarray(arrays[k])
        h.update(k.encode())
        h.update(str(a.dtype).encode())
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def save_graph(net: GraphNetwork, path) -> None:
    """Write ``net`` to ``path`` (``.npz``) atomically.

    Examples
    --------
    >>> import numpy as np
    >>> from analogsim.graph import GraphBuilder
    >>> b = GraphBuilder((1, 4, 4)); _ = b.dense(b.conv(b.input, 2, 3, activation="tanh"), 2)
    >>> net = b.build(seed=0)
    >>> import os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "g.npz")
    >>> save_graph(net, p); load_graph(p).n_params
    38
    """
    if not isinstance(net, GraphNetwork):
        raise TypeError(f"net must be a GraphNetwork, got {type(net).__name__}")
    arrays = {"theta": np.array(net.theta), "kappa": net.kappa_flat}
    for k, e in enumerate(net.edges):
        if not e.op.trainable and e.op.weight is not None and e.op.kind in ("dense", "conv"):
            arrays[f"fixed_{k}"] = np.array(e.op.weight)
    header = {"format": FORMAT, "structure": net.describe(), "sha256": _digest(arrays)}
    buf = io.BytesIO()
    np.savez(buf, header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8), **arrays)
    atomic_write_bytes(path, buf.getvalue())


def load_graph(path) -> GraphNetwork:
    """Read a network written by :func:`save_graph`.

    Examples
    --------
    >>> import numpy as np
    >>> from analogsim.graph import GraphBuilder
    >>> b = GraphBuilder((1, 4, 4)); _ = b.dense(b.conv(b.input, 2, 3, activation="tanh"), 2)
    >>> net = b.build(seed=0)
    >>> import os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "g.npz")
    >>> save_graph(net, p); bool((load_graph(p).theta == net.theta).all())
    True
    """
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read ({exc})") from None
    except Exception as exc:  # zipfile.BadZipFile, ValueError from a damaged member
        raise CheckpointError(f"{path}: not a readable .npz file ({type(exc).__name__}: {exc})") from None
    try:
        header = json.loads(bytes(arrays.pop("header")).decode())
    except (KeyError, ValueError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}: no valid header ({exc}); not an analogsim graph network file") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise CheckpointError(f"{path}: format {header.get('format') if isinstance(header, dict) else None!r}, "
                              f"expected {FORMAT!r}")
    if _digest(arrays) != header.get("sha256"):
        raise CheckpointError(f"{path}: the arrays do not match the header's SHA-256 (file altered or damaged)")
    st = header["structure"]
    try:
        layers = [Layer(d["name"], tuple(d["shape"]), d["activation"], None if d["bias"] == "none" else d["bias"])
                  for d in st["layers"]]
        edges = []
        for k, d in enumerate(st["edges"]):
            op = operator_from_description(d)
            if f"fixed_{k}" in arrays:
                op.weight = np.array(arrays[f"fixed_{k}"])
            edges.append(Edge(d["dst"], d["src"], op))
        net = GraphNetwork(layers, edges, dtype=st["dtype"])
        kf = arrays["kappa"]
        if arrays["theta"].shape != (net.n_params,) or kf.shape != (net.n_neurons,):
            raise ValueError(f"theta {arrays['theta'].shape} / kappa {kf.shape} do not fit the structure "
                             f"(N = {net.n_params}, {net.n_neurons} neurons)")
        off = np.concatenate([[0], np.cumsum(net.sizes[1:])])
        net = net.with_kappa([kf[off[i]:off[i + 1]] for i in range(net.depth)])
        net.theta[...] = arrays["theta"]
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: invalid graph network record: {exc}") from None
    return net


# ----------------------------------------------------------------------------- training checkpoints
TRAIN_FORMAT = "analogsim.graph.train/1"


def run_digest(net, X, T, settings: dict, presentations: int, seed) -> str:
    """SHA-256 identifying a training run: structure, initial parameters and stiffness, data, settings, seed.

    Examples
    --------
    >>> import numpy as np
    >>> from analogsim.graph import GraphBuilder
    >>> b = GraphBuilder((1, 4, 4)); _ = b.dense(b.conv(b.input, 2, 3, activation="tanh"), 2)
    >>> net = b.build(seed=0)
    >>> X, T = np.ones((2, 16)), np.zeros((2, 2))
    >>> run_digest(net, X, T, {"mu": 1.0}, 10, 0) == run_digest(net, X, T, {"mu": 1.0}, 10, 0)
    True
    """
    h = hashlib.sha256()
    h.update(json.dumps({"structure": net.describe(), "settings": settings, "S": presentations, "seed": seed},
                        sort_keys=True, default=float).encode())
    for a in (net.theta, net.kappa_flat, X, T):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def save_train_state(path, digest: str, scalars: dict, arrays: dict) -> None:
    """Write a training run's state (JSON-able ``scalars``, numpy ``arrays``) atomically, pickle-free.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> p = os.path.join(tempfile.mkdtemp(), "ck.npz")
    >>> save_train_state(p, "run1", {"s": 3}, {"theta": np.zeros(2)})
    >>> load_train_state(p, "run1")[0]
    {'s': 3}
    """
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    header = {"format": TRAIN_FORMAT, "run": digest, "state": scalars, "sha256": _digest(arrays)}
    buf = io.BytesIO()
    np.savez(buf, header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8), **arrays)
    atomic_write_bytes(path, buf.getvalue())


def load_train_state(path, digest: str):
    """(scalars, arrays) of a checkpoint of the run ``digest``, or None if ``path`` does not exist.

    Raises CheckpointError for a damaged file or a checkpoint of another run.

    Examples
    --------
    >>> import os, tempfile
    >>> load_train_state(os.path.join(tempfile.mkdtemp(), "none.npz"), "x") is None
    True
    """
    import os

    if not os.path.exists(path):
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
        header = json.loads(bytes(arrays.pop("header")).decode())
    except Exception as exc:  # noqa: BLE001 - any damage is reported the same way
        raise CheckpointError(f"{path}: not a readable training checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(header, dict) or header.get("format") != TRAIN_FORMAT:
        raise CheckpointError(f"{path}: not an analogsim graph training checkpoint")
    if header.get("run") != digest:
        raise CheckpointError(f"{path}: a checkpoint of another run (network, data, settings or seed differ); "
                              f"remove it or pass resume=False")
    if _digest(arrays) != header.get("sha256"):
        raise CheckpointError(f"{path}: the arrays do not match the header's SHA-256 (file altered or damaged)")
    return header["state"], arrays
