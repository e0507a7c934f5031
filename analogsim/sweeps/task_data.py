"""What a sweep task trains on and how its result is scored: data sets from a point's settings (generated, the
digits or a user's files), size checks, classification accuracy and the teacher's noise floor.

Shared by the dense tasks (:mod:`.engine_tasks`) and the graph tasks (:mod:`.graph_tasks`), and by the ``train``
command for reading data files.
"""

from __future__ import annotations

import importlib.util

import numpy as np

#: how a user spells the data and size settings: on the ``train`` command line, and in a config file
CLI_NAMES = {"sizes": "--sizes", "n_in": "--n-in", "n_out": "--n-out", "inputs": "--inputs", "targets": "--targets",
             "delimiter": "--delimiter", "source": "--data"}
CONFIG_NAMES = {"sizes": "network.sizes", "n_in": "network.n_in", "n_out": "network.n_out", "inputs": "data.inputs",
                "targets": "data.targets", "delimiter": "data.delimiter", "source": "data.source"}


def _has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _child_seeds(seed: int, n: int):
    return np.random.SeedSequence(seed).spawn(n)


def read_data(src, rng=None, *, inputs=None, targets=None, delimiter=None, n_out=None, announce: bool = False,
              names: dict = CLI_NAMES):
    """A data set that is not generated: 'digits' or a ``.npz``/``.csv`` file, its columns chosen.

    Shared by ``analogsim train`` and the sweep's ``train`` task, so both read a file the same way.

    Parameters
    ----------
    src : str
        'digits' or a file path.
    rng : numpy Generator, optional
        Split seed of the digits.
    inputs, targets : str, optional
        CSV: input / target columns (0-based indices, ranges ``0-2``, header names); NPZ: the arrays' names
        (default ``x`` and ``t``). Refused for 'digits'.
    delimiter : str, optional
        CSV delimiter (default ','; 'tab' or '\\t' for tabs). Refused for NPZ and 'digits'.
    n_out : int, optional
        CSV without ``targets``: the last ``n_out`` columns are the targets (default 1).
    announce : bool
        Say on stderr which columns were taken as targets by default.
    names : dict
        How the user spells each setting (:data:`CLI_NAMES` or :data:`CONFIG_NAMES`), for the messages.

    Examples
    --------
    >>> import os, tempfile
    >>> c = os.path.join(tempfile.mkdtemp(), "d.csv")
    >>> _ = open(c, "w").write("a,b,c,y1,y2\\n" + "\\n".join("1,2,3,4,5" for _ in range(8)))
    >>> ds = read_data(c, targets="y1,y2")
    >>> ds.n_in, ds.n_out
    (3, 2)
    >>> read_data("digits", inputs="0-2", names=CONFIG_NAMES)
    Traceback (most recent call last):
    ...
    ValueError: data.inputs applies to .csv/.npz data files, not to data.source digits
    """
    from .. import data as D

    src = str(src)
    if src in ("digits", "teacher"):
        for key, v in (("inputs", inputs), ("targets", targets), ("delimiter", delimiter)):
            if v is not None:
                raise ValueError(f"{names[key]} applies to .csv/.npz data files, not to {names['source']} {src}")
        if src == "teacher":
            raise ValueError("teacher data is generated, not read: use analogsim.data.teacher_student")
        return D.digits(seed=rng)
    suffix = src.lower().rsplit(".", 1)[-1] if "." in src else ""
    if delimiter in ("tab", "\\t"):
        delimiter = "\t"
    if suffix == "npz":
        if delimiter is not None:
            raise ValueError(f"{names['delimiter']} applies to .csv files, not to .npz data")
        return D.load_arrays(src, x_key=inputs or "x", t_key=targets or "t")
    return D.load_arrays(src, inputs=inputs, targets=targets, n_targets=n_out or 1,
                         delimiter=delimiter if delimiter is not None else ",", announce=announce)


def check_sizes_match(sizes, ds, *, sizes_given: bool, n_in=None, n_out=None, names: dict = CLI_NAMES) -> list:
    """Layer sizes for the data set ``ds``: given sizes must match it (an error, never a silent change).

    Parameters
    ----------
    sizes : list of int
        The network's sizes [n_0, ..., n_L].
    ds : Dataset
        The data (``n_in``, ``n_out``, ``name``).
    sizes_given : bool
        Whether the user gave ``sizes`` (then n_0 and n_L must be the data's).
    n_in, n_out : int, optional
        Input/output sizes the user gave (checked when not None); the others are taken from the data.
    names : dict
        How the user spells the settings (:data:`CLI_NAMES`, :data:`CONFIG_NAMES`).

    Returns
    -------
    list of int
        ``sizes`` with n_0 and n_L those of the data.

    Raises
    ------
    ValueError
        A given size does not match the data; the message names the setting and the columns setting.

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> ds = NS(n_in=3, n_out=2, name="table")
    >>> check_sizes_match([4, 8, 1], ds, sizes_given=False)
    [3, 8, 2]
    >>> check_sizes_match([3, 8, 1], ds, sizes_given=True, names=CONFIG_NAMES)
    Traceback (most recent call last):
    ...
    ValueError: network.sizes [3, 8, 1] does not match the data 'table': it has 3 input feature(s) and 2 target column(s), so sizes must be [3, ..., 2] (choose the columns with data.inputs/data.targets)
    """
    cols = f"{names['inputs']}/{names['targets']}"
    sizes = [int(v) for v in sizes]
    if sizes_given:
        if sizes[0] != ds.n_in or sizes[-1] != ds.n_out:
            shown = ",".join(map(str, sizes)) if names["sizes"].startswith("--") else str(sizes)
            must = f"{ds.n_in},...,{ds.n_out}" if names["sizes"].startswith("--") else f"[{ds.n_in}, ..., {ds.n_out}]"
            raise ValueError(f"{names['sizes']} {shown} does not match the data {ds.name!r}: it has {ds.n_in} input "
                             f"feature(s) and {ds.n_out} target column(s), so sizes must be {must} (choose the "
                             f"columns with {cols})")
        return sizes
    for key, want, have, what in (("n_in", n_in, ds.n_in, "input feature(s)"),
                                  ("n_out", n_out, ds.n_out, "target column(s)")):
        if want is not None and int(want) != have:
            raise ValueError(f"{names[key]} {want} does not match the data {ds.name!r}: it has {have} {what} "
                             f"(choose the columns with {cols})")
    return [ds.n_in] + sizes[1:-1] + [ds.n_out]


def _given(params: dict, key: str):
    """A config value the user chose: set and not the schema's default (a sweep task sees no other trace)."""
    from ..data.config import SCHEMA

    v = params.get(key)
    default = SCHEMA["network"][key].default
    return None if v is None or v == default else v


def make_dataset(params: dict, rng):
    """The point's training data (``source``): teacher-student, scikit-learn digits, or a file.

    For 'teacher' the sizes come from the network settings. For 'digits' and files, ``n_train`` entries
    are drawn from the training split; a file's columns are chosen by ``inputs``/``targets`` (and
    ``delimiter``) in [data], else its last n_L columns (``sizes[-1]`` or ``n_out``) are the targets.
    The network's sizes are checked against the data by :func:`train_task`.

    Examples
    --------
    >>> import numpy as np
    >>> from analogsim.data.config import parse_config
    >>> cfg = '[experiment]\\nkind = "train"\\n[network]\\nsizes = [2, 4, 1]\\n[data]\\nn_train = 16\\nn_test = 32\\n'
    >>> ds = make_dataset(parse_config(cfg + "[dynamics]\\nkT = 1e-4\\n").settings, np.random.default_rng(0))
    >>> ds.n_train, ds.n_test, ds.n_in, ds.n_out, ds.info["generator"]
    (16, 32, 2, 1, 'teacher_student')
    """
    from .. import data as D

    src = params["source"]
    if src == "teacher":
        for key in ("inputs", "targets", "delimiter"):
            if params.get(key) is not None:
                raise ValueError(f"data.{key} applies to .csv/.npz data files, not to data.source 'teacher'")
        tw = params["teacher_width"]
        return D.teacher_student(n_in=params["n_in"] if not params.get("sizes") else params["sizes"][0],
                                 n_out=params["n_out"] if not params.get("sizes") else params["sizes"][-1],
                                 n_train=params["n_train"], n_test=params["n_test"],
                                 teacher_hidden=(tw,) if tw else (), activation=params["activation"],
                                 label_noise=params["noise"], input_scale=params["input_scale"], seed=rng)
    n_out = params["sizes"][-1] if params.get("sizes") else params.get("n_out")
    ds = read_data(src, rng, inputs=params.get("inputs"), targets=params.get("targets"),
                   delimiter=params.get("delimiter"), n_out=n_out, names=CONFIG_NAMES)
    if params["n_train"] > ds.n_train:
        raise ValueError(f"n_train = {params['n_train']} exceeds the {ds.n_train} training entries of {src!r}")
    idx = np.sort(rng.choice(ds.n_train, params["n_train"], replace=False))
    m = min(params["n_test"], ds.n_test)
    return D.from_arrays(ds.x_train[idx], ds.t_train[idx], ds.x_test[:m], ds.t_test[:m], name=ds.name)


def _add_accuracy(out: dict, net, ds) -> None:
    """Add the train/test accuracy (classification targets) and the test loss above the teacher's floor to ``out``.

    ``out["test_loss"]`` is the trained ``net``'s held-out loss (None without a test set).
    """
    kind = classification_kind(ds.t_train)
    if kind is not None:
        out["train_accuracy"] = classification_accuracy(net.predict(ds.x_train), ds.t_train, kind)
        out["test_accuracy"] = (classification_accuracy(net.predict(ds.x_test), ds.t_test, kind)
                                if ds.n_test else None)
    floor = _teacher_floor(ds)
    if floor is not None and out["test_loss"] is not None:
        out["excess_loss"] = out["test_loss"] - floor


def _teacher_floor(ds) -> float | None:
    """Held-out loss 0.5|teacher(x) - t|^2 of the noise-free teacher (the label-noise floor), if known."""
    from ..model.network import Network

    info = ds.info or {}
    if info.get("generator") != "teacher_student" or ds.n_test == 0:
        return None
    sizes = info["teacher_sizes"]
    acts = [info["activation"]] * (len(sizes) - 2) + ["identity"]
    ws = [np.zeros((o, i)) for i, o in zip(sizes[:-1], sizes[1:])]
    teacher = Network(ws, activations=acts).with_theta(np.asarray(info["teacher_theta"]))
    r = teacher.predict(ds.x_test) - ds.t_test
    return float(0.5 * np.mean(np.sum(r * r, axis=1)))


def classification_kind(t) -> str | None:
    """'onehot' if every target row is one-hot (two or more outputs), 'pm1' if one output of +-1 values,
    else None (a regression target).

    Examples
    --------
    >>> classification_kind(np.eye(3)), classification_kind([[1.0], [-1.0]]), classification_kind([[0.3]])
    ('onehot', 'pm1', None)
    """
    t = np.asarray(t, dtype=float)
    if t.ndim != 2 or t.shape[0] == 0:
        return None
    if t.shape[1] >= 2 and np.all((t == 0) | (t == 1)) and np.all(t.sum(axis=1) == 1):
        return "onehot"
    if t.shape[1] == 1 and np.all(np.abs(t) == 1):
        return "pm1"
    return None


def classification_accuracy(pred, t, kind: str | None = None) -> float:
    """Fraction of rows classified right: argmax of the output against the one-hot target, or the sign of
    the output against a +-1 target. nan for no rows or a regression target.

    Examples
    --------
    >>> classification_accuracy([[0.9, 0.2], [0.4, 0.1]], [[1, 0], [0, 1]])
    0.5
    >>> classification_accuracy([[0.3], [-2.0]], [[1.0], [1.0]])
    0.5
    """
    pred, t = np.asarray(pred, dtype=float), np.asarray(t, dtype=float)
    kind = kind or classification_kind(t)
    if kind is None or t.shape[0] == 0:
        return float("nan")
    if kind == "onehot":
        return float(np.mean(np.argmax(pred, axis=1) == np.argmax(t, axis=1)))
    return float(np.mean(np.sign(pred[:, 0]) == t[:, 0]))
