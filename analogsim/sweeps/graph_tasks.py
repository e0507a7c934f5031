"""The ``relax`` and ``train`` kinds on a graph network: a config with a [graph] section (analogsim.data.graph_config).

The kinds keep their names; :func:`analogsim.sweeps.engine_tasks.relax_task` and ``train_task`` hand a point whose
parameters hold ``graph`` to the functions here, which return the same result variables as the dense chain's, so
figures, health checks and results files do not tell the two apart. The network is built from the [graph]
section with the point's own network seed (its ``graph.seed`` is the seed of a single run from the command line);
the data come from [data] exactly as for a dense net, the input layer's size and the output layer's size taking
the place of ``network.sizes``. ``analogsim train``/``analogsim relax`` call the same functions.

Graph training (:func:`analogsim.training.graph.train`) presents minibatches of reshuffled epochs with the output
hard-clamped on a layer of stiffness ``kappa_out`` (default the [graph]'s kappa of the output layer); the settings
it does not have (``order`` other than iid/shuffle, ``substeps``, ``tau_switch``) are refused, never ignored.
"""

from __future__ import annotations

import math

import numpy as np

from .task_data import CONFIG_NAMES, _add_accuracy, _child_seeds, make_dataset
from .tasks import _inputs

__all__ = ["graph_network", "graph_dataset", "graph_train", "graph_train_task", "graph_relax_task", "relax_results"]


def graph_network(params: dict, seed=None):
    """The point's graph network: ``params["graph"]`` (a validated [graph] section) or a GraphNetwork.

    Examples
    --------
    >>> from analogsim.data.graph_config import EXAMPLE
    >>> import tomllib
    >>> graph_network({"graph": tomllib.loads(EXAMPLE)["graph"]}, seed=1).n_params
    660
    """
    from ..graph import GraphNetwork
    from ..data.graph_config import graph_from_settings

    g = params["graph"]
    if isinstance(g, GraphNetwork):
        return g.copy()
    return graph_from_settings(g, seed)


def graph_dataset(params: dict, net, rng, names: dict = CONFIG_NAMES):
    """The point's data for ``net`` (:func:`~analogsim.sweeps.engine_tasks.make_dataset` with the net's input
    and output sizes); a data set that does not fit the graph is refused naming both.

    Examples
    --------
    >>> import numpy as np, tomllib
    >>> from analogsim.data.config import parse_config
    >>> from analogsim.data.graph_config import EXAMPLE
    >>> cfg = parse_config('[experiment]\\nkind = "train"\\n[data]\\nsource = "digits"\\nn_train = 20\\n' + EXAMPLE)
    >>> net = graph_network(cfg.settings, 0)
    >>> ds = graph_dataset(cfg.settings, net, np.random.default_rng(0))
    >>> ds.n_in, ds.n_out, ds.n_train
    (64, 10, 20)
    """
    p = dict(params)
    p["sizes"] = [net.sizes[0], net.sizes[-1]]
    ds = make_dataset(p, rng)
    if ds.n_in != net.sizes[0] or ds.n_out != net.sizes[-1]:
        raise ValueError(f"{names['source']} {params['source']!r} has {ds.n_in} input feature(s) and {ds.n_out} "
                         f"target column(s), but the graph's input layer {net.names[0]!r} has {net.sizes[0]} neurons "
                         f"(shape {net.shapes[0]}) and its output layer {net.names[-1]!r} {net.sizes[-1]}")
    return ds


def _train_settings(p: dict) -> dict:
    for key, ok in (("order", ("iid", "shuffle", None)), ("substeps", (None, 1)), ("tau_switch", (None, 0, 0.0))):
        if p.get(key) not in ok:
            raise ValueError(f"training.{key} = {p.get(key)!r} is not available for a graph network (it presents "
                             "minibatches of reshuffled epochs, one parameter step each, with abrupt switching)")
    if isinstance(p.get("kT"), dict):
        raise ValueError("an annealing schedule (--kT-end) is not available for a graph network; give one kT")
    kw = dict(presentations=p["presentations"], mu=p["mu"], tau_inf=p["tau_inf"], kT=p["kT"],
              kappa_out=p.get("kappa_out"), batch_size=p["batch_size"], weight_decay=p["weight_decay"],
              fidelity=p["fidelity"])
    if p.get("neuron_mobility") is not None:
        kw["neuron_mobility"] = p["neuron_mobility"]
    return kw


def graph_train(params: dict, seed: int, *, net=None, ds=None, **extra):
    """Build (unless given), train and summarise one graph run: returns (results dict, GraphTrainResult, data).

    ``extra`` goes to :func:`analogsim.training.graph.train` (checkpoint, hook, ...). Seeds as the dense
    ``train`` task: ``SeedSequence(seed).spawn(3)`` for data, network and run.

    Examples
    --------
    >>> import tomllib
    >>> from analogsim.data.config import parse_config
    >>> cfg = parse_config('[experiment]\\nkind = "train"\\n[data]\\nsource = "digits"\\nn_train = 32\\n'
    ...                    '[dynamics]\\nkT = 1e-8\\n[training]\\npresentations = 20\\nmu = 50.0\\nkappa_out = 1e-3\\n'
    ...                    '[graph]\\ninput = {shape = [1, 8, 8]}\\n[[graph.layers]]\\nname = "out"\\n'
    ...                    'inputs = [{from = "x0", op = "dense", n_out = 10}]\\n')
    >>> out, res, ds = graph_train(cfg.settings, 0)
    >>> out["n_params"], bool(out["first_law_relative"] < 1e-9)
    (650, True)
    """
    from ..training.graph import train

    s_data, s_net, s_train = _child_seeds(seed, 3)
    if net is None:
        net = graph_network(params, np.random.default_rng(s_net))
    if ds is None:
        ds = graph_dataset(params, net, np.random.default_rng(s_data))
    kw = _train_settings(params)
    S = kw["presentations"]
    res = train(net, ds.x_train, ds.t_train, ds.x_test if ds.n_test else None, ds.t_test if ds.n_test else None,
                seed=int(s_train.generate_state(1)[0]), n_records=10, **kw, **extra)
    rec = res.records
    kout, B, N = res.settings["kappa_out"], kw["batch_size"], res.n_params
    budget = abs(res.W_sw) + abs(res.Q_x) + abs(res.Q_theta)

    def ratio(a, b):
        return a / b if b else float("nan")

    def loss(x, t):
        return float(0.5 * np.mean(np.sum((res.net.predict(x) - t) ** 2, axis=1)))

    out = {"work": res.W_eq15, "bound": res.bound, "bound_2NSkT": 2.0 * N * S * res.kT,
           "W_over_bound": ratio(res.W_eq15, res.bound), "rho": res.rho, "mean_gsq": res.mean_gsq,
           "var_g": res.var_g, "kT_mean": res.kT, "train_loss": loss(ds.x_train, ds.t_train),
           "test_loss": loss(ds.x_test, ds.t_test) if ds.n_test else None,
           "initial_test_loss": float(rec["test_loss"][0]) if ds.n_test else None,
           "initial_train_loss": float(rec["train_loss"][0]), "learning_rate": kw["mu"] * kw["tau_inf"] * kout,
           "fallbacks": res.fallbacks / B, "fallback_fraction": res.fallbacks / (S * B), "n_substeps": 1,
           "n_params": N, "W_sw": res.W_sw, "Q_x": res.Q_x, "Q_theta": res.Q_theta, "Q_theta_se": None,
           "W_eq15": res.W_eq15, "Q_theta_over_W_eq15": ratio(res.Q_theta, res.W_eq15),
           "Q_x_over_Q_theta": ratio(res.Q_x, res.Q_theta), "first_law_residual_max": res.first_law_residual_max,
           # an upper bound of the summed residual over the budget (the graph books keep the largest one)
           "first_law_relative": ratio(res.first_law_residual_max * S, budget) if budget else 0.0,
           "sweeps_mean": res.sweeps_mean}
    _add_accuracy(out, res.net, ds)
    return out, res, ds


def graph_train_task(params: dict, seed: int) -> dict:
    """The ``train`` kind on a [graph] network: the dense ``train`` task's result variables (module docstring).

    ``Q_theta_se`` is None (the graph books keep totals); ``fallbacks`` counts presentations' worth of rows that
    needed Newton. Energies in energy units (k_B = 1).

    Examples
    --------
    >>> from analogsim.data.config import parse_config
    >>> cfg = parse_config('[experiment]\\nkind = "train"\\n[data]\\nsource = "digits"\\nn_train = 32\\n'
    ...                    '[dynamics]\\nkT = 1e-8\\n[training]\\npresentations = 20\\nmu = 50.0\\nkappa_out = 1e-3\\n'
    ...                    '[graph]\\ninput = {shape = [1, 8, 8]}\\n[[graph.layers]]\\nname = "out"\\n'
    ...                    'inputs = [{from = "x0", op = "dense", n_out = 10}]\\n')
    >>> r = graph_train_task(cfg.settings, 0)
    >>> r["n_params"], round(r["bound_2NSkT"], 12)                       # 2 N S kT = 2 x 650 x 20 x 1e-8
    (650, 0.00026)
    """
    return graph_train(params, seed)[0]


def relax_results(net, res, n_steps: int, ramp: bool) -> dict:
    """The dense ``relax`` task's result variables from a :class:`~analogsim.inference.graph.GraphRelaxResult`.

    Examples
    --------
    >>> import numpy as np
    >>> from analogsim.graph import GraphBuilder
    >>> from analogsim.inference.graph import relax
    >>> b = GraphBuilder((1, 4, 4)); _ = b.dense(b.conv(b.input, 2, 3, activation="tanh"), 2)
    >>> net = b.build(seed=0)
    >>> r = relax_results(net, relax(net, np.zeros(16), kT=0.1, dt=0.01, n_steps=20, n_replicas=8, seed=0), 20, False)
    >>> r["run_status"], r["work"], len(r["equipartition"])
    ('ok', 0.0, 2)
    """
    from ..inference.observers import jarzynski

    W = np.asarray(res.work, dtype=np.float64)
    res_max = float(np.max(np.abs(res.first_law_residual)))
    out = {"work": float(W.mean()), "work_se": float(W.std(ddof=1) / math.sqrt(W.size)) if W.size > 1 else None,
           "work_var": float(W.var(ddof=1)) if W.size > 1 else None, "heat": float(np.mean(res.heat)),
           "dt_lambda": res.dt_lambda, "n_steps": n_steps, "n_params": net.n_params,
           "run_status": "ok" if np.isfinite(res_max) else "diverged", "first_law_residual_max": res_max}
    if res.kT > 0 and res.n_recorded > 0:
        e, se = res.equipartition()
        out["equipartition"], out["equipartition_se"] = e.tolist(), se.tolist()
    if res.integrator == "mala":
        out["acceptance"] = res.acceptance
    if ramp and res.kT > 0:
        j = jarzynski(W, res.kT)
        out.update(jarzynski=j.value, jarzynski_se=j.se, jarzynski_ess=j.ess)
    return out


def graph_relax_task(params: dict, seed: int) -> dict:
    """The ``relax`` kind on a [graph] network (:func:`analogsim.inference.graph.relax`): the input held at
    a ~ N(0, input_scale^2) for n_steps, or ramped from a to b over ``tau``; the dense task's result variables.

    Examples
    --------
    >>> from analogsim.data.config import parse_config
    >>> cfg = parse_config('[experiment]\\nkind = "relax"\\n[dynamics]\\nkT = 0.05\\nn_steps = 100\\n'
    ...                    'n_replicas = 32\\ndt = 0.02\\n[graph]\\ninput = {shape = [1, 4, 4]}\\n'
    ...                    '[[graph.layers]]\\nname = "c"\\nactivation = "tanh"\\n'
    ...                    'inputs = [{from = "x0", op = "conv", out_channels = 2, kernel_size = 3}]\\n')
    >>> r = graph_relax_task(cfg.settings, 0)
    >>> r["run_status"], r["n_steps"], r["work"]
    ('ok', 100, 0.0)
    """
    from ..errors import DivergenceError
    from ..inference.graph import relax
    from ..inference.protocols import Ramp

    s_net, s_in, s_run = _child_seeds(seed, 3)
    net = graph_network(params, np.random.default_rng(s_net))
    rng = np.random.default_rng(s_in)
    a = _inputs(params, rng, 1, net.sizes[0])[0]
    integ = {"euler": "em"}.get(params["integrator"], params["integrator"])
    kw = dict(kT=params["kT"], dt=params["dt"], integrator=integ, n_replicas=params["n_replicas"], seed=s_run)
    ramp = params.get("tau") is not None
    n_steps = max(1, int(round(params["tau"] / params["dt"]))) if ramp else params["n_steps"]
    x0 = Ramp(a, _inputs(params, rng, 1, net.sizes[0])[0], tau=n_steps * params["dt"]) if ramp else a
    try:
        res = relax(net, x0, n_steps=n_steps, **kw)
    except DivergenceError as exc:
        return {"run_status": "diverged", "diverged_step": exc.step, "n_steps": n_steps, "n_params": net.n_params}
    return relax_results(net, res, n_steps, ramp)
