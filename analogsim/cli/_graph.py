"""``analogsim relax`` and ``analogsim train`` on a graph network (:mod:`analogsim.graph`).

A graph comes from ``--graph FILE`` (a TOML file with a [graph] section, or a network saved by
:func:`analogsim.data.graph_io.save_graph`, e.g. by ``train --out``), from a ``--config`` experiment file with a [graph]
section, or from ``train --model FILE.npz`` holding a saved graph. The run itself and its result variables are
those of a sweep point (:mod:`analogsim.sweeps.graph_tasks`); the summary has the dense commands' layout (text
lines or ``--json``, energies four ways, health flags with cause and fix on stderr).
"""

from __future__ import annotations

import sys
import time
import tomllib
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from ._common import emit_json


def is_graph_file(path) -> bool:
    """Whether ``path`` is a graph network saved by :func:`analogsim.data.graph_io.save_graph` (not a dense record).

    Examples
    --------
    >>> is_graph_file("missing.npz")
    False
    """
    try:
        with np.load(path, allow_pickle=False) as f:
            return "header" in f.files and "theta" in f.files and "net_meta" not in f.files
    except Exception:  # noqa: BLE001 - anything unreadable is not a graph file (read later, with its error)
        return False


def train_graph(args, params: dict):
    """The graph ``analogsim train`` runs (``--graph``, a saved graph as ``--model``, the config's [graph]) or None.

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> train_graph(NS(graph=None), {"_model": None}) is None
    True
    """
    model = params.get("_model")
    gfile = args.graph or (model if model and is_graph_file(model) else None)
    return graph_source(gfile, params.get("graph"))


def graph_source(path, from_config=None):
    """The graph a command runs: ``--graph PATH`` (TOML [graph] or saved .npz), else the config's [graph].

    Returns a GraphNetwork (saved file), a validated [graph] dict, or None (a dense net).

    Examples
    --------
    >>> graph_source(None) is None
    True
    >>> graph_source("net.txt")
    Traceback (most recent call last):
    ...
    FileNotFoundError: --graph 'net.txt' does not exist
    """
    from ..errors import ConfigError
    from ..data.graph_config import check_graph_section
    from ..data.graph_io import load_graph

    if path is None:
        return from_config
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"--graph {str(p)!r} does not exist")
    if p.suffix.lower() == ".npz":
        return load_graph(p)
    if p.suffix.lower() != ".toml":
        raise ValueError(f"--graph {str(p)!r}: expected a .toml file with a [graph] section or a .npz network "
                         "saved by analogsim.data.graph_io.save_graph (train --out)")
    try:
        doc = tomllib.loads(p.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError("", f"{p}: invalid TOML: {exc}") from None
    if "graph" not in doc:
        raise ConfigError("graph", f"{p} has no [graph] section (docs/graph.md shows one)")
    return check_graph_section(doc["graph"])


def _net(graph):
    from ..graph import GraphNetwork
    from ..data.graph_config import graph_from_settings

    return graph.copy() if isinstance(graph, GraphNetwork) else graph_from_settings(graph)


def _describe(net) -> dict:
    return {"network": "graph", "layers": list(net.names), "shapes": [list(s) for s in net.shapes],
            "n_params": net.n_params, "n_neurons": net.n_neurons}


def _health(results: dict, params: dict) -> tuple[list, list]:
    from ..report.health import format_flags, judge

    flags = judge(results, params)
    return [f.code for f in flags], (format_flags(flags).splitlines() if flags else [])


def _print(summary: dict, skip=("notes",)) -> None:
    for k, v in summary.items():
        if k not in skip:
            print(f"{k:28s} {v:.6g}" if isinstance(v, float) else f"{k:28s} {v}")


# ----------------------------------------------------------------------------- relax
def run_relax(args, s: dict, graph) -> int:
    """``analogsim relax`` on a graph (settings ``s`` from :func:`analogsim.cli.relax._settings`).

    Examples
    --------
    >>> callable(run_relax)
    True
    """
    from ..inference.graph import relax
    from ..model.hamiltonian import OutputClamp
    from ..inference.protocols import Ramp
    from ..sweeps.graph_tasks import relax_results
    from ._common import check_output_path

    net = _net(graph)
    if args.save:
        check_output_path(args.save, "--save")
    _, s_in, s_run = np.random.SeedSequence(s["seed"]).spawn(3)
    rng = np.random.default_rng(s_in)
    n0 = net.sizes[0]
    x0 = net.check_input(np.asarray(args.x0, float), "--x0")[0] if args.x0 is not None else rng.standard_normal(n0)
    clamp = None
    if args.target is not None:
        clamp = OutputClamp(net.check_output(np.asarray(args.target, float), name="--target")[0],
                            args.output_stiffness)
    elif args.output_stiffness is not None:
        raise ValueError("--output-stiffness needs --target")
    ramp = s["tau"] is not None
    if ramp:
        x1 = net.check_input(np.asarray(args.x1, float), "--x1")[0] if args.x1 is not None else rng.standard_normal(n0)
        n_steps = args.n_steps if args.n_steps is not None else max(1, int(round(s["tau"] / s["dt"])))
        x_in = Ramp(x0, x1, tau=n_steps * s["dt"])
    else:
        if args.x1 is not None:
            raise ValueError("--x1 needs --tau (the ramp duration)")
        n_steps, x_in = s["n_steps"], x0
    integ = {"euler": "em"}.get(s["integrator"], s["integrator"])
    import warnings

    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:  # the EM-bias warning becomes a note of the summary
        warnings.simplefilter("always")
        res = relax(net, x_in, s["kT"], s["dt"], n_steps, integrator=integ, gamma=args.gamma, clamp=clamp,
                    n_replicas=s["n_replicas"], seed=s_run, burn_in=args.burn_in,
                    check_stability=args.stability != "off")
    wall = time.perf_counter() - t0
    r = relax_results(net, res, n_steps, ramp)
    summary = {"integrator": res.integrator, "kT": s["kT"], "dt": s["dt"], "gamma": args.gamma, "n_steps": n_steps,
               "n_replicas": int(res.work.size), "status": r["run_status"], "dt_lambda": res.dt_lambda,
               "work_mean": r["work"], "work_se": r["work_se"], "heat_mean": r["heat"],
               "energy_end_mean": float(np.mean(res.energy_end)), "first_law_residual_max": r["first_law_residual_max"]}
    for k in ("acceptance", "equipartition", "equipartition_se"):
        if k in r:
            summary[k] = r[k]
    if "jarzynski" in r:
        summary["jarzynski"] = {"value": r["jarzynski"], "se": r["jarzynski_se"], "ess": r["jarzynski_ess"]}
    summary.update(_describe(net))
    summary.update({"wall_s": wall, "compile_s": 0.0, "steps_per_s": n_steps / wall if wall > 0 else None})
    summary["health"], notes = _health(r, {"integrator": integ, "kT": s["kT"]})
    summary["notes"] = notes = [f"warning: {w.message}" for w in caught] + notes
    if args.save:
        import io

        from ._common import write_or_rescue

        buf = io.BytesIO()
        np.savez(buf, state=net.concat(res.xs), work=res.work, heat=res.heat, energy_start=res.energy_start,
                 energy_end=res.energy_end, first_law_residual=res.first_law_residual, theta=net.theta,
                 kappa=net.kappa_flat)
        summary["save"] = write_or_rescue(args.save, buf.getvalue(), "--save")[0]
    emit_json(summary) if args.json else _print(summary)
    sys.stdout.flush()
    for n in notes:
        print(f"analogsim relax: {n}", file=sys.stderr)
    return 0


# ----------------------------------------------------------------------------- train
def run_train(args, params: dict, seed: int, graph) -> int:
    """``analogsim train`` on a graph (``params`` from :func:`analogsim.cli.train.resolve_settings`).

    Examples
    --------
    >>> callable(run_train)
    True
    """
    from ..data.checkpoint import CheckpointLock
    from ..errors import DivergenceError
    from ..report.progress import Progress
    from ..sweeps.engine_tasks import CLI_NAMES
    from ..sweeps.graph_tasks import graph_dataset, graph_train
    from ._common import check_output_path
    from ._common import energy_lines
    from ._common import energy_report

    for flag in ("kT_end", "dt", "checkpoint_seconds", "eval_every"):
        if getattr(args, flag, None) is not None:
            raise ValueError(f"--{flag.replace('_', '-')} is not available for a graph network")
    if getattr(args, "energetics", True) is False:
        raise ValueError("--no-energetics: a graph network's run always books its energies")
    for path, opt in ((args.out, "--out"), (args.checkpoint, "--checkpoint")):
        if path:
            check_output_path(path, opt)
    net = _net(graph)
    p = dict(params)
    for k in ("inputs", "targets", "delimiter"):
        p[k] = params.get(f"_{k}")
    s_data = np.random.SeedSequence(seed).spawn(3)[0]
    ds = graph_dataset(p, net, np.random.default_rng(s_data), names=CLI_NAMES)
    if args.tstar:
        return _tstar(args, p, seed, net, ds)
    S = int(p["presentations"])
    bar = Progress(total=S, desc="train", unit="presentations", enabled=args.progress is not False)
    lock = CheckpointLock(args.checkpoint).acquire() if args.checkpoint else None
    t0 = time.perf_counter()
    try:
        out, res, ds = graph_train(p, seed, net=net, ds=ds, checkpoint=args.checkpoint,
                                   checkpoint_every=args.checkpoint_every, resume=not args.no_resume,
                                   hook=lambda s, _net: bar(s, S), hook_every=max(1, S // 100))
    except DivergenceError as exc:
        bar.close(ok=False)
        if args.json:
            emit_json({"status": "diverged", "step": exc.step, "error": str(exc), "cause": exc.cause, "seed": seed})
        raise
    finally:
        if lock is not None:
            lock.release()
    bar.close()
    wall = time.perf_counter() - t0
    nan = float("nan")
    books = SimpleNamespace(W_sw=res.W_sw, Q_x=res.Q_x, Q_theta=res.Q_theta, W_eq15=res.W_eq15, W_sw_se=nan,
                            Q_x_se=nan, Q_theta_se=nan, W_eq15_se=nan, kT_mean=res.kT, energetics=True,
                            first_law_relative=out["first_law_relative"])
    summary = {"status": "ok", "presentations": S}
    summary.update(_describe(net))
    summary.update({"data": ds.name, "n_train": ds.n_train, "n_test": ds.n_test, "seed": seed})
    summary.update({k: v for k, v in out.items() if v is not None})
    summary.update({"wall_time": wall, "presentations_per_s": S / wall if wall > 0 else None})
    summary["energy"] = energy_report(SimpleNamespace(books=books), params.get("temperature_K"),
                                      params.get("energy_unit_J"))
    summary["health"], notes = _health(out, {"presentations": S, "kappa_out": p.get("kappa_out"),
                                             "learning_rate": out["learning_rate"], "kT": res.kT})
    summary["notes"] = notes
    if args.out:
        from ..data.graph_io import save_graph

        save_graph(res.net, args.out)
        summary["out"] = str(args.out)
    if args.json:
        emit_json(summary)
    else:
        _print(summary, skip=("notes", "energy", "W_sw", "Q_x", "Q_theta", "W_eq15", "Q_theta_se"))
        for line in energy_lines(summary["energy"]):
            print(line)
        sys.stdout.flush()
    for n in notes:
        print(f"analogsim train: {n}", file=sys.stderr)
    return 0


def _tstar(args, p: dict, seed: int, net, ds) -> int:
    """``train --tstar`` on a graph: :func:`analogsim.training.graph_tstar.threshold_temperature` on the training entries."""
    from ..training.graph_tstar import threshold_temperature
    from ..sweeps.graph_tasks import _train_settings

    kw = _train_settings(p)
    if kw["fidelity"] != "separated":
        raise ValueError("--tstar uses the separated-time-scales dynamics; drop --fidelity joint")
    run_seed = int(np.random.SeedSequence(seed).spawn(3)[2].generate_state(1)[0])
    C = args.chain_presentations
    r = threshold_temperature(net, ds.x_train, ds.t_train, kT_grid=args.kT_grid, mu=kw["mu"], tau_inf=kw["tau_inf"],
                              kappa_out=kw["kappa_out"], batch_size=kw["batch_size"], weight_decay=kw["weight_decay"],
                              chain_presentations=C, measure_every=max(1, C // 500), seed=run_seed)
    line = f"analogsim train --tstar: {r.summary()}"
    if args.json:
        emit_json({"network": "graph", **r.as_dict()})
        print(line, file=sys.stderr)
    else:
        print(line)
    return 0
