"""Task kinds backed by the simulation engines: ``relax`` (analogsim.simulate) and ``train``
(analogsim.training). Each registers only when its engine module is present; the engines are imported
inside the task, on the worker, so that looking a kind up stays cheap.
"""

from __future__ import annotations

import importlib.util

import numpy as np

from .tasks import _inputs, build_network, register_task

__all__ = ["relax_task", "train_task", "make_dataset", "classification_kind", "classification_accuracy",
           "read_data", "check_sizes_match", "CLI_NAMES", "CONFIG_NAMES"]

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


# ----------------------------------------------------------------------------- relax
def relax_task(params: dict, seed: int) -> dict:
    """Langevin relaxation of the neurons, optionally with the input ramped over ``tau`` (Eq. 7).

    Random net and random input endpoints a, b ~ N(0, input_scale^2). Without ``tau`` the input stays
    at a for ``n_steps``; with ``tau`` it moves linearly from a to b over tau (n_steps = round(tau/dt))
    and the work done on the neurons is booked (docs/theory/quasistatic.md: <W> -> L^2/tau). ``n_replicas``
    independent replicas start from exact equilibrium samples. Results: ``work`` (mean over replicas),
    ``work_se``, ``work_var``, ``heat``, ``equipartition``/``equipartition_se`` (per layer),
    ``jarzynski`` (<exp(-W/kT)>, 1 here) with ``jarzynski_se`` and ``jarzynski_ess``, ``acceptance``
    (MALA), ``dt_lambda``, ``n_steps``, ``n_params``, ``run_status``.

    Energies (work, heat) in energy units with kT an energy (k_B = 1); equipartition is <kappa delta^2>/kT per
    layer (1 in equilibrium); tau and dt in the time units of the dynamics.

    Examples
    --------
    ``params`` are a point's settings (here from a config text); at a fixed input no work is done and the
    neurons are in equilibrium:

    >>> from analogsim.config import parse_config
    >>> cfg = '[experiment]\\nkind = "relax"\\n[network]\\nsizes = [2, 4, 1]\\n[data]\\ninput_scale = 0.1\\n'
    >>> p = parse_config(cfg + "[dynamics]\\nkT = 0.01\\nn_steps = 200\\nn_replicas = 64\\n").settings
    >>> r = relax_task(p, 0)
    >>> r["run_status"], r["n_steps"], r["work"]
    ('ok', 200, 0.0)
    >>> all(abs(e - 1) < 5 * s for e, s in zip(r["equipartition"], r["equipartition_se"]))
    True

    With ``tau`` the input ramps over tau = 20 (2000 steps of dt = 0.01) and the work on the neurons is booked
    (Eq. 7: it falls as L^2/tau for slow ramps):

    >>> p = parse_config(cfg + "[dynamics]\\nkT = 0.01\\ntau = 20.0\\nn_replicas = 64\\n").settings
    >>> r = relax_task(p, 0)
    >>> r["n_steps"], bool(r["work"] > 0), "jarzynski" in r
    (2000, True, True)
    """
    if params.get("graph") is not None:  # a [graph] network: analogsim.sweeps.graph_tasks
        from .graph_tasks import graph_relax_task

        return graph_relax_task(params, seed)
    from ..protocols import Ramp
    from ..simulate import relax

    s_net, s_in, s_run = _child_seeds(seed, 3)
    net = build_network(params, np.random.default_rng(s_net))
    rng = np.random.default_rng(s_in)
    a = _inputs(params, rng, 1, net.sizes[0])[0]
    common = dict(kT=params["kT"], dt=params["dt"], integrator=params["integrator"],
                  n_replicas=params["n_replicas"], seed=s_run)
    if params.get("tau") is None:
        n_steps = params["n_steps"]
        res = relax(net, a, n_steps=n_steps, **common)
    else:
        b = _inputs(params, rng, 1, net.sizes[0])[0]
        n_steps = max(1, int(round(params["tau"] / params["dt"])))
        res = relax(net, input_protocol=Ramp(a, b, tau=n_steps * params["dt"]), n_steps=n_steps, **common)
    W = np.asarray(res.work, dtype=np.float64)
    out = {"work": float(W.mean()), "work_se": float(W.std(ddof=1) / np.sqrt(W.size)) if W.size > 1 else None,
           "work_var": float(W.var(ddof=1)) if W.size > 1 else None, "heat": float(np.mean(res.heat)),
           "dt_lambda": res.dt_lambda, "n_steps": n_steps, "n_params": net.n_params, "run_status": res.status}
    if res.equipartition is not None:
        out["equipartition"] = np.asarray(res.equipartition, float).tolist()
        out["equipartition_se"] = np.asarray(res.equipartition_se, float).tolist()
    if res.acceptance is not None:
        out["acceptance"] = res.acceptance
    if res.jarzynski is not None:
        out.update(jarzynski=res.jarzynski.value, jarzynski_se=res.jarzynski.se, jarzynski_ess=res.jarzynski.ess)
    return out


# ----------------------------------------------------------------------------- train
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
    from ..config import SCHEMA

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
    >>> from analogsim.config import parse_config
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
    from ..network import Network

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


def train_task(params: dict, seed: int) -> dict:
    """Physical training (stress-driven parameter Langevin annealing, Eq. 11-16) with its energy books.

    Data from :func:`make_dataset`, a random net (kappa, kappa_ratio for the output layer), then
    :func:`analogsim.training.train` at ``kT`` with the [training] settings. Results: ``work`` (W),
    ``bound`` (2 N S rho kT, measured rho), ``bound_2NSkT`` (rho = 1), ``W_over_bound``, ``rho``,
    ``mean_gsq``, ``var_g``, ``kT_mean``, ``train_loss``, ``test_loss`` (final, T = 0 forward pass),
    ``initial_test_loss``, ``initial_train_loss``, ``excess_loss`` (test loss above the noise-free
    teacher's, teacher data only), ``train_accuracy`` and ``test_accuracy`` (classification data: one-hot
    or +-1 targets, e.g. digits), ``learning_rate``, ``fallbacks``, ``fallback_fraction`` (of the parameter
    steps), ``n_substeps``, ``n_params``; the measured energy books (totals over the run,
    :class:`analogsim.training.Books`): ``W_sw`` (switching work), ``Q_x`` (neuron heat), ``Q_theta``
    (parameter heat), ``Q_theta_se``, ``W_eq15`` (Eq. 15's prediction, = ``work``), ``Q_theta_over_W_eq15``,
    ``Q_x_over_Q_theta``, ``first_law_residual_max``, ``first_law_relative`` (judged by
    :mod:`analogsim.health`: above 1e-3 the point is flagged). The optional parameters ``tau_switch`` and
    ``neuron_mobility`` are passed on when present. The health of the point (:mod:`analogsim.health`) is
    judged from these when the sweep is consolidated.

    Energies in energy units, kT an energy (k_B = 1): ``work`` is Eq. 15's mu tau_inf S <|grad F|^2>, computed
    beside the heats of the simulated process; ``bound_2NSkT`` is Eq. 16 with rho = 1.

    Examples
    --------
    >>> from analogsim.config import parse_config
    >>> cfg = ('[experiment]\\nkind = "train"\\n[network]\\nsizes = [2, 4, 1]\\n[data]\\nn_train = 16\\nn_test = 32\\n'
    ...        '[dynamics]\\nkT = 1e-4\\n[training]\\npresentations = 200\\nmu = 0.3\\nkappa_out = 0.1\\n')
    >>> r = train_task(parse_config(cfg).settings, 0)
    >>> r["n_params"], round(r["bound_2NSkT"], 12)                     # 2 N S kT = 2 x 17 x 200 x 1e-4
    (17, 0.68)
    >>> bool(r["test_loss"] < r["initial_test_loss"]), bool(r["first_law_relative"] < 1e-9)
    (True, True)
    """
    if params.get("graph") is not None:  # a [graph] network: analogsim.sweeps.graph_tasks
        from .graph_tasks import graph_train_task

        return graph_train_task(params, seed)
    from ..training import train

    s_data, s_net, s_train = _child_seeds(seed, 3)
    ds = make_dataset(params, np.random.default_rng(s_data))
    p = dict(params)
    if p["source"] != "teacher":  # sizes the user chose must match the data (never a silent change)
        sizes = p.get("sizes") or [p["n_in"]] + [p["width"]] * (p["depth"] - 1) + [p["n_out"]]
        sizes = check_sizes_match(sizes, ds, sizes_given=bool(p.get("sizes")), n_in=_given(p, "n_in"),
                                  n_out=_given(p, "n_out"), names=CONFIG_NAMES)
        p["n_in"], p["n_out"] = ds.n_in, ds.n_out
        if p.get("sizes"):
            p["sizes"] = sizes
    net = build_network(p, np.random.default_rng(s_net))
    S = p["presentations"]
    settings = dict(presentations=S, mu=p["mu"], tau_inf=p["tau_inf"], kT=p["kT"], kappa_out=p["kappa_out"],
                    weight_decay=p["weight_decay"], order=p["order"], batch_size=p["batch_size"],
                    fidelity=p["fidelity"])
    if p.get("substeps") is not None:
        settings["substeps"] = p["substeps"]
    for k in ("tau_switch", "neuron_mobility"):
        if p.get(k) is not None:
            settings[k] = p[k]
    res = train(net, ds, seed=int(s_train.generate_state(1)[0]), eval_every=max(1, S // 10), **settings)
    b = res.books
    out = {"work": b.W, "bound": b.bound, "bound_2NSkT": 2.0 * b.n_params * b.presentations * b.kT_mean,
           "W_over_bound": b.W_over_bound, "rho": b.rho, "mean_gsq": b.mean_gsq, "var_g": b.var_g,
           "kT_mean": b.kT_mean, "train_loss": res.final_train_loss, "test_loss": res.final_test_loss,
           "initial_test_loss": float(res.records["test_loss"][0]) if len(res.records["test_loss"]) else None,
           "initial_train_loss": float(res.records["train_loss"][0]) if len(res.records["train_loss"]) else None,
           "learning_rate": res.config.learning_rate, "fallbacks": res.fallbacks,
           "fallback_fraction": res.fallbacks / max(1, b.presentations * res.n_substeps),
           "n_substeps": res.n_substeps, "n_params": net.n_params}
    out.update({"W_sw": b.W_sw, "Q_x": b.Q_x, "Q_theta": b.Q_theta, "Q_theta_se": b.Q_theta_se, "W_eq15": b.W_eq15,
                "Q_theta_over_W_eq15": b.Q_theta_over_W_eq15, "Q_x_over_Q_theta": b.Q_x_over_Q_theta,
                "first_law_residual_max": b.first_law_residual_max,
                "first_law_relative": b.first_law_relative if b.energetics else None})
    _add_accuracy(out, res.net, ds)
    return out


if _has("analogsim.simulate"):
    register_task("relax", relax_task, requires=("kT",),
                  dims={"equipartition": "layer", "equipartition_se": "layer"})
if _has("analogsim.training"):
    register_task("train", train_task, requires=("kT",))
