"""Task kinds backed by the simulation engines: ``relax`` (analogsim.inference.simulate) and ``train``
(analogsim.training). Each registers only when its engine module is present; the engines are imported
inside the task, on the worker, so that looking a kind up stays cheap.
"""

from __future__ import annotations

import numpy as np

from .task_data import (  # noqa: F401  (re-exported: this module's API before the split)
    CLI_NAMES, CONFIG_NAMES, _add_accuracy, _child_seeds, _given, _has, _teacher_floor, check_sizes_match,
    classification_accuracy, classification_kind, make_dataset, read_data)
from .tasks import _inputs, build_network, register_task

__all__ = ["relax_task", "train_task", "make_dataset", "classification_kind", "classification_accuracy",
           "read_data", "check_sizes_match", "CLI_NAMES", "CONFIG_NAMES"]

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

    >>> from analogsim.data.config import parse_config
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
    from ..inference.protocols import Ramp
    from ..inference.simulate import relax

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
    :mod:`analogsim.report.health`: above 1e-3 the point is flagged). The optional parameters ``tau_switch`` and
    ``neuron_mobility`` are passed on when present. The health of the point (:mod:`analogsim.report.health`) is
    judged from these when the sweep is consolidated.

    Energies in energy units, kT an energy (k_B = 1): ``work`` is Eq. 15's mu tau_inf S <|grad F|^2>, computed
    beside the heats of the simulated process; ``bound_2NSkT`` is Eq. 16 with rho = 1.

    Examples
    --------
    >>> from analogsim.data.config import parse_config
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


if _has("analogsim.inference.simulate"):
    register_task("relax", relax_task, requires=("kT",),
                  dims={"equipartition": "layer", "equipartition_se": "layer"})
if _has("analogsim.training"):
    register_task("train", train_task, requires=("kT",))
