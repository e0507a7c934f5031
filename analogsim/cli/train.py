"""``analogsim train``: physical training from a config file or flags, with books and checkpoints.

The settings are those of an experiment config (:mod:`analogsim.data.config`, sections [network], [data],
[dynamics] kT and [training]); ``--config FILE.toml`` reads them (a [sweep] section is refused: a sweep
runs with ``analogsim sweep``), flags override single settings. The network, data and run seeds derive
from ``--seed`` as in the sweep's ``train`` task (``SeedSequence(seed).spawn(3)``).

With ``--checkpoint PATH`` the run saves its full state every ``--checkpoint-every`` presentations
and/or ``--checkpoint-seconds`` seconds; started again with the same settings it resumes from that file
and ends with exactly the numbers of an uninterrupted run.
"""

from __future__ import annotations

import argparse
import logging
import sys

from ._common import (ENERGY_BOOKS, add_progress_flags, allow_negative_numbers, check_output_path,  # noqa: F401
                      count, emit_json, energy_report, float_list, int_list, plain)
from ._common import energy_lines as _energy_lines

log = logging.getLogger("analogsim.train")

#: a run with more than this fraction of presentations on the Newton fallback says so in its summary
FALLBACK_WARN = 0.1

# flag name -> config key (flags left at None do not override)
_FLAGS = {
    "sizes": "sizes", "n_in": "n_in", "width": "width", "depth": "depth", "n_out": "n_out",
    "activation": "activation", "output_activation": "output_activation", "kappa": "kappa",
    "kappa_ratio": "kappa_ratio", "init": "init", "dtype": "dtype", "data": "source", "n_train": "n_train",
    "n_test": "n_test", "noise": "noise", "teacher_width": "teacher_width", "input_scale": "input_scale",
    "kT": "kT", "mu": "mu", "tau_inf": "tau_inf", "presentations": "presentations", "kappa_out": "kappa_out",
    "weight_decay": "weight_decay", "fidelity": "fidelity", "order": "order", "batch_size": "batch_size",
    "substeps": "substeps", "tau_switch": "tau_switch", "neuron_mobility": "neuron_mobility",
}

EPILOG = """examples:
  analogsim train --data teacher --sizes 4,16,1 --kappa-out 1e-3 --mu 100 --kT 1e-7 --json
  analogsim train --data digits --sizes 64,32,10 --kappa-out 1e-3 --mu 50 --presentations 1e5 \\
      --weight-decay 1e-5 --checkpoint run.ck.npz --checkpoint-seconds 60
  analogsim train --data table.csv --inputs 0-2 --targets 3,4 --sizes 3,8,2 --kappa-out 1e-3 --mu 100
  analogsim train --data d.npz --inputs features --targets labels --model start.pt --kappa-out 1e-3
  analogsim train --config exp.toml --tstar --json     threshold temperature T* and Gamma
  analogsim train --fidelity joint --tau-switch 2 --kappa-out 1e-3 --mu 100 --kT 1e-6   ramped clamps
  analogsim train --config examples/graph_conv_digits.toml --json      a convolutional graph network

The summary gives the measured energy books (switching work W_sw, neuron heat Q_x, parameter heat
Q_theta) beside Eq. 15's prediction W_eq15, each in energy units, kT, joules and bits (the [units]
section of --config sets the temperature or the energy unit; default 300 K), and the classification
accuracy beside the loss for classification data (one-hot or +-1 targets, e.g. --data digits).

Speed: without --kappa-out the output is clamped hard, and the clamped minimum is found by the Newton
solver on every presentation (about 1 ms each, ~800x the soft clamp's fixed point). --kappa-out K
(a soft clamp; learning rate mu*tau_inf*K, so raise --mu by about 1/K) takes the fast path.
A finished run with --checkpoint is extended by running it again with a larger --presentations
(constant kT only). Two runs cannot share one checkpoint (a lock file PATH.lock guards it).
Exit codes: 0 ok, 2 bad input, 3 diverged (with --json the JSON summary says "status": "diverged").
"""


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="stress-driven physical training (Eq. 11-16) with energy books and checkpoints",
        description=plain(__doc__), formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG)
    allow_negative_numbers(p)
    g = p.add_argument_group("settings (override the config file)")
    g.add_argument("--config", help="experiment config (TOML) with [network], [data], [dynamics], [training]")
    g.add_argument("--sizes", type=int_list, help="layer sizes, e.g. 4,16,16,1 (else n_in/width/depth/n_out); "
                                                   "must match the data's inputs and targets")
    g.add_argument("--n-in", type=count)
    g.add_argument("--width", type=count)
    g.add_argument("--depth", type=count)
    g.add_argument("--n-out", type=count, help="outputs; with a CSV file and no --targets: the last N columns")
    g.add_argument("--activation", help="hidden activation (tanh, relu, sigmoid, softplus, identity)")
    g.add_argument("--output-activation")
    g.add_argument("--kappa", type=float, help="stiffness of the hidden neurons")
    g.add_argument("--kappa-ratio", type=float, help="output layer stiffness / hidden stiffness")
    g.add_argument("--init", choices=("he", "xavier"))
    g.add_argument("--dtype", choices=("float32", "float64"))
    g.add_argument("--model", metavar="FILE", help="start from this network: a torch file (.pt/.pth: an "
                   "nn.Sequential or its state_dict, read with torch.load(weights_only=True)) or an analogsim "
                   ".npz record (train --out; a saved graph network too); replaces --sizes/--init")
    g.add_argument("--graph", metavar="FILE", help="a graph network (docs/graph.md): .toml with a [graph] section "
                   "or a saved .npz; a --config with a [graph] section does the same")
    d = p.add_argument_group("data")
    d.add_argument("--data", help="'teacher', 'digits', or a .npz/.csv file")
    d.add_argument("--inputs", metavar="SPEC", help="CSV: input columns (0-based indices, ranges 0-2, or header "
                                                    "names; default all but the targets); NPZ: array name (x)")
    d.add_argument("--targets", metavar="SPEC", help="CSV: target columns (default: the last --n-out columns, "
                                                     "else the last one); NPZ: array name (t)")
    d.add_argument("--delimiter", default=None, help="CSV delimiter (default ','; 'tab' or '\\t' for tabs)")
    d.add_argument("--n-train", type=count)
    d.add_argument("--n-test", type=count)
    d.add_argument("--noise", type=float, help="label noise (teacher data)")
    d.add_argument("--teacher-width", type=count, help="teacher hidden width (0: linear teacher)")
    d.add_argument("--input-scale", type=float)
    g = p.add_argument_group("dynamics and training")
    g.add_argument("--kT", type=float, help="temperature (energy units)")
    g.add_argument("--kT-end", type=float, help="anneal from --kT to this temperature (see --schedule)")
    g.add_argument("--schedule", choices=("linear", "exponential"), default="exponential",
                   help="shape of the annealing when --kT-end is given (default exponential)")
    g.add_argument("--mu", type=float, help="parameter mobility")
    g.add_argument("--tau-inf", type=float, help="presentation time per entry")
    g.add_argument("--presentations", type=count, help="number of presentations S (e.g. 100000 or 1e5)")
    g.add_argument("--kappa-out", type=float,
                   help="soft output clamp stiffness (the fast path); default: hard clamp, Newton solver on "
                        "every presentation (~800x slower)")
    g.add_argument("--weight-decay", type=float)
    g.add_argument("--fidelity", choices=("separated", "joint"))
    g.add_argument("--order", choices=("iid", "shuffle", "cyclic", "random"))
    g.add_argument("--batch-size", type=count)
    g.add_argument("--substeps", type=count)
    g.add_argument("--neuron-mobility", type=float, help="neuron mobility Gamma (joint dynamics)")
    g.add_argument("--tau-switch", type=float, help="duration of the clamp ramp between entries (joint dynamics; "
                                                    "default 0: abrupt switching)")
    g.add_argument("--no-energetics", dest="energetics", action="store_false",
                   help="do not book the measured energies (W_sw, Q_x, Q_theta); Eq. 15's W is still booked")
    g.add_argument("--dt", type=float, help="joint dynamics time step")
    g.add_argument("--seed", type=count, help="seed of data, network and run (default: the config's, else 0)")
    r = p.add_argument_group("run")
    r.add_argument("--eval-every", type=count, help="presentations between loss/books records")
    r.add_argument("--checkpoint", help="checkpoint file (.npz); an existing one is resumed (or extended)")
    r.add_argument("--checkpoint-every", type=count, help="checkpoint every K presentations")
    r.add_argument("--checkpoint-seconds", type=float, help="checkpoint every M seconds")
    r.add_argument("--no-resume", action="store_true", help="start over even if the checkpoint exists")
    r.add_argument("--out", help="write the final parameters and curves to this .npz")
    r.add_argument("--json", action="store_true", help="print the JSON summary on stdout (instead of the text one)")
    add_progress_flags(r)
    t = p.add_argument_group("threshold temperature (--tstar)")
    t.add_argument("--tstar", action="store_true", help="measure T* (E(T*) = 2 E(0)) and Gamma instead of one run")
    t.add_argument("--chain-presentations", type=count, default=50000, help="length of each T* chain")
    t.add_argument("--kT-grid", type=float_list, help="chain temperatures (default: around the harmonic guess)")
    p.set_defaults(func=run)


def resolve_settings(args) -> tuple[dict, int]:
    """The flat settings (config defaults < config file < flags) and the seed.

    ``params["_explicit"]`` holds the settings given in the config file or on the command line (the
    network's sizes are checked against the data only where they were given).
    """
    from ..data.config import load_config, parse_config

    if getattr(args, "config", None):
        cfg = load_config(args.config, kind_hint="train")
        if cfg.kind != "train":
            other = {"relax": "analogsim relax --config", "stress": "analogsim sweep",
                     "equilibrium": "analogsim sweep"}.get(cfg.kind, "analogsim sweep")
            raise ValueError(f"{args.config} is a kind = {cfg.kind!r} experiment; `analogsim train` runs "
                             f'kind = "train" (run this one with `{other}`, or set kind = "train")')
        if cfg.axes:
            raise ValueError(f"{args.config} has a [sweep] section (axes {sorted(cfg.axes)}); "
                             "`analogsim train` runs one setting: use `analogsim sweep` for sweeps")
        explicit = set(cfg.explicit)
    else:
        cfg = parse_config('[experiment]\nkind = "train"\n[dynamics]\nkT = 0.0\n', name="train")
        explicit = set()
    params = dict(cfg.settings)
    if params.get("kT") is None:
        params["kT"] = 0.0
    for flag, key in _FLAGS.items():
        v = getattr(args, flag, None)
        if v is not None:
            params[key] = v
            explicit.add(key)
    if getattr(args, "sizes", None) is not None:
        params["sizes"] = args.sizes
    seed = args.seed if getattr(args, "seed", None) is not None else cfg.seed
    if seed < 0:
        raise ValueError(f"--seed must be >= 0, got {seed}")
    params["_explicit"] = explicit
    for k in ("inputs", "targets", "delimiter", "model"):  # the data columns: flags over the config's [data]
        v = getattr(args, k, None)
        params[f"_{k}"] = v if v is not None else params.get(k)
    return params, int(seed)


def _load_data(params: dict, rng, n_out_hint):
    from ..sweeps.engine_tasks import read_data

    return read_data(params["source"], rng, inputs=params.get("_inputs"), targets=params.get("_targets"),
                     delimiter=params.get("_delimiter"), n_out=n_out_hint,
                     announce=params.get("_targets") is None and n_out_hint is None)


def _check_sizes_match(params: dict, sizes, ds) -> list:
    """Sizes for the data: the given ones must match it (an error, never a silent change)."""
    from ..sweeps.engine_tasks import check_sizes_match

    ex = params.get("_explicit", set())
    return check_sizes_match(sizes, ds, sizes_given="sizes" in ex, n_in=params["n_in"] if "n_in" in ex else None,
                             n_out=params["n_out"] if "n_out" in ex else None)


def _load_model(path, params: dict):
    """A Network from a torch file (weights_only=True) or an analogsim .npz network record."""
    from pathlib import Path

    import numpy as np

    from ..model.network import Network

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"--model {str(p)!r} does not exist")
    if p.suffix.lower() == ".npz":
        try:
            with np.load(p, allow_pickle=False) as z:
                arrays = {k: z[k] for k in ("net_meta", "net_theta", "net_kappa") if k in z.files}
        except Exception as exc:  # noqa: BLE001 - any unreadable file is bad input
            raise ValueError(f"--model {str(p)!r} is not a readable .npz: {exc}") from None
        return Network.from_arrays(arrays)
    try:
        import torch
    except ImportError:
        raise ImportError("--model with a torch file needs torch: pip install 'analogsim-pnn[torch]'") from None
    nn = torch.nn
    safe = [nn.Sequential, nn.Linear, nn.ReLU, nn.Tanh, nn.Sigmoid, nn.Softplus, nn.Identity]
    try:
        with torch.serialization.safe_globals(safe):
            obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds for a bad or unsafe file
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"--model {str(p)!r} cannot be read safely (torch.load with weights_only=True: {msg}); "
                         "save an nn.Sequential of Linear layers and activations, or its state_dict") from None
    if isinstance(obj, dict):
        obj = _sequential_from_state_dict(obj, params, torch, p)
    if not isinstance(obj, nn.Module):
        raise ValueError(f"--model {str(p)!r} holds a {type(obj).__name__}, expected an nn.Sequential or its "
                         "state_dict")
    dtype = params.get("dtype") if "dtype" in params.get("_explicit", set()) else None
    return Network.from_torch(obj, kappa=float(params["kappa"]), dtype=dtype)


def _sequential_from_state_dict(sd: dict, params: dict, torch, p):
    nn = torch.nn
    acts = {"tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid, "softplus": nn.Softplus, "identity": nn.Identity}
    ws = sorted(((k, v) for k, v in sd.items() if k.endswith("weight")),
                key=lambda kv: [int(t) if t.isdigit() else t for t in kv[0].split(".")])
    if not ws or any(getattr(v, "ndim", 0) != 2 for _, v in ws):
        raise ValueError(f"--model {str(p)!r}: a state_dict needs 2-d '<i>.weight' tensors of Linear layers, "
                         f"found {sorted(sd)[:6]}")
    layers = []
    for i, (k, w) in enumerate(ws):
        lin = nn.Linear(w.shape[1], w.shape[0], bias=(k[:-6] + "bias") in sd, dtype=w.dtype)
        with torch.no_grad():
            lin.weight.copy_(w)
            if lin.bias is not None:
                lin.bias.copy_(sd[k[:-6] + "bias"])
        layers.append(lin)
        name = params["activation"] if i < len(ws) - 1 else params["output_activation"]
        if name not in acts:
            raise ValueError(f"--model with a state_dict: activation {name!r} is not one of {sorted(acts)}")
        layers.append(acts[name]())
    return nn.Sequential(*layers)


def build(params: dict, seed: int):
    """(net, dataset, run seed) from flat settings, seeded like the sweep's ``train`` task.

    Sizes that do not match the data are refused (never silently changed); a memory estimate is checked
    before the network is allocated.
    """
    import numpy as np

    from .. import data as D
    from ..model.network import Network
    from ..report.resources import check_memory, check_sizes, train_bytes

    s_data, s_net, s_train = np.random.SeedSequence(seed).spawn(3)
    rng = np.random.default_rng(s_data)
    src = params["source"]
    ex = params.get("_explicit", set())
    model = None
    if params.get("_model"):
        model = _load_model(params["_model"], params)
        sizes = list(model.sizes)
    else:
        sizes = params.get("sizes")
        if not sizes:
            sizes = [params["n_in"]] + [params["width"]] * (params["depth"] - 1) + [params["n_out"]]
        sizes = check_sizes(sizes, "--sizes" if params.get("sizes") else "n_in/width/depth/n_out")
    itemsize = 4 if params.get("dtype") == "float32" else 8
    hard = params.get("kappa_out") is None and params.get("fidelity", "separated") == "separated"
    check_memory(train_bytes(sizes, batch_size=params.get("batch_size") or 1, itemsize=itemsize, hard_clamp=hard),
                 "--sizes" if params.get("sizes") or model is not None else "--width",
                 f"training a network of sizes {sizes}")
    if src == "teacher":
        for k in ("_inputs", "_targets", "_delimiter"):
            if params.get(k) is not None:
                raise ValueError(f"--{k[1:]} applies to .csv/.npz data files, not to --data teacher")
        tw = params["teacher_width"]
        ds = D.teacher_student(n_in=sizes[0], n_out=sizes[-1], n_train=params["n_train"], n_test=params["n_test"],
                               teacher_hidden=(tw,) if tw else (), activation=params["activation"],
                               label_noise=params["noise"], input_scale=params["input_scale"], seed=rng)
    else:
        n_out_hint = None
        if model is not None:
            n_out_hint = sizes[-1]
        elif "sizes" in ex:
            n_out_hint = sizes[-1]
        elif "n_out" in ex:
            n_out_hint = params["n_out"]
        ds = _load_data(params, rng, n_out_hint)
        if model is not None:
            ds.check_network(model)
        else:
            sizes = _check_sizes_match(params, sizes, ds)
    if model is not None:
        net = model
        if "kappa_ratio" in ex and params.get("kappa_ratio") is not None:
            k = float(params["kappa"])
            net = net.with_kappa([k] * (net.depth - 1) + [k * params["kappa_ratio"]])
        return net, ds, int(s_train.generate_state(1)[0])
    L = len(sizes) - 1
    acts = [params["activation"]] * (L - 1) + [params["output_activation"]]
    k = float(params["kappa"])
    k_out_layer = k * params["kappa_ratio"] if params.get("kappa_ratio") is not None else k
    net = Network.create(sizes, activations=acts, kappa=[k] * (L - 1) + [k_out_layer], init=params["init"],
                         seed=np.random.default_rng(s_net), dtype=params["dtype"],
                         bias_scale=params.get("bias_scale", 0.0))
    return net, ds, int(s_train.generate_state(1)[0])


def _settings(params: dict, args) -> dict:
    kT = params["kT"]
    if args.kT_end is not None:
        kT = {"kind": args.schedule, "start": kT, "end": args.kT_end}
    s = dict(presentations=params["presentations"], mu=params["mu"], tau_inf=params["tau_inf"], kT=kT,
             kappa_out=params["kappa_out"], weight_decay=params["weight_decay"], order=params["order"],
             batch_size=params["batch_size"], fidelity=params["fidelity"])
    if params.get("substeps") is not None:
        s["substeps"] = params["substeps"]
    if params.get("neuron_mobility") is not None:
        s["neuron_mobility"] = params["neuron_mobility"]
    if params.get("tau_switch"):
        s["tau_switch"] = params["tau_switch"]
    if getattr(args, "energetics", True) is False:
        s["energetics"] = False
    if args.dt is not None:
        s["dt"] = args.dt
    return s


def run(args) -> int:
    import time

    from ..errors import DivergenceError
    from ..report.progress import Progress, warn_long_run
    from ..report.resources import train_seconds

    params, seed = resolve_settings(args)
    from ._graph import run_train, train_graph

    if (graph := train_graph(args, params)) is not None:  # a graph network: analogsim.cli._graph
        return run_train(args, params, seed, graph)
    if args.out:
        check_output_path(args.out, "--out")
    if args.checkpoint:
        check_output_path(args.checkpoint, "--checkpoint")
    net, ds, run_seed = build(params, seed)
    settings = _settings(params, args)
    show = args.progress is not False
    if args.tstar:
        return _run_tstar(args, net, ds, settings, run_seed, show)
    from ..data.checkpoint import CheckpointLock
    from ..training import TrainConfig, train

    cfg = TrainConfig(**settings)  # validates every setting before the notes below and any work
    hard = cfg.kappa_out is None and cfg.fidelity == "separated"
    if hard:
        print("analogsim train: note: no --kappa-out, so the output is clamped hard and every presentation "
              "takes the Newton solver (about 1 ms each, ~800x the soft clamp); give --kappa-out K for the fast "
              "soft clamp (learning rate mu*tau_inf*K: raise --mu by about 1/K)", file=sys.stderr)
    est = train_seconds(net.sizes, cfg.presentations, batch_size=cfg.batch_size, substeps=cfg.substeps or 1,
                        hard_clamp=hard)
    warn_long_run("train", est, f"{cfg.presentations} presentations of a net with {net.n_params} parameters; "
                  "lower --presentations" + (" or give --kappa-out" if hard else ""))
    lock = CheckpointLock(args.checkpoint).acquire() if args.checkpoint else None
    bar = Progress(total=cfg.presentations, desc="train", unit="presentations", enabled=show, compile_note=True)
    first = []  # (time, presentation) after the first chunk: the speed leaves out numba's first-call compilation

    def report(done, total):
        if not first:
            first.append((time.perf_counter(), done))
        bar(done, total)

    try:
        res = train(net, ds, cfg, seed=run_seed, eval_every=args.eval_every, checkpoint=args.checkpoint,
                    checkpoint_every=args.checkpoint_every, checkpoint_seconds=args.checkpoint_seconds,
                    resume=not args.no_resume, progress=report)
    except DivergenceError as exc:
        bar.close(ok=False)
        if args.json:
            emit_json({"status": "diverged", "step": exc.step, "error": str(exc), "cause": exc.cause,
                       "net_sizes": list(net.sizes), "data": ds.name, "seed": seed, "run_seed": run_seed,
                       "checkpoint": args.checkpoint})
        raise
    finally:
        if lock is not None:
            lock.release()
    bar.close()
    t_end = time.perf_counter()
    summary = res.summary()
    b = res.books
    rate = None
    if first and b.presentations > first[0][1] and t_end > first[0][0]:
        rate = (b.presentations - first[0][1]) / (t_end - first[0][0])
    frac = res.fallbacks / b.presentations / max(res.n_substeps, 1) if b.presentations else 0.0
    summary.update({"status": "ok", "net_sizes": list(net.sizes), "data": ds.name, "n_train": ds.n_train,
                    "n_test": ds.n_test, "seed": seed, "run_seed": run_seed, "fallback_fraction": frac,
                    "presentations_per_s": rate})
    summary["energy"] = energy_report(res, params.get("temperature_K"), params.get("energy_unit_J"))
    summary.update(accuracy_report(res, ds))
    notes = []
    has_fallback_flag = any("fallback" in getattr(f, "code", "") for f in (getattr(res, "health", None) or []))
    if frac > FALLBACK_WARN and not has_fallback_flag:
        notes.append(f"warning: {100 * frac:.0f}% of the presentations took the slow Newton fallback solver "
                     "(the fixed point did not converge)" + ("; give --kappa-out for the fast soft clamp" if hard
                                                             else "; a softer --kappa-out converges faster"))
    notes += health_notes(summary, res)
    summary["notes"] = notes
    if args.out:
        summary["out"] = _write_out(args.out, res)
    if args.json:
        emit_json(summary)
    else:
        _print_summary(summary, res)
    for n in notes:
        print(f"analogsim train: {n}", file=sys.stderr)
    return 0


def health_notes(summary: dict, res) -> list[str]:
    """Health flags of a finished run, printed with its summary (the one place where they are printed).

    Returns short lines (empty: nothing to flag), from the result's ``health`` flags
    (:mod:`analogsim.report.health`) when it carries them.

    Examples
    --------
    >>> health_notes({}, None)
    []
    """
    flags = getattr(res, "health", None)
    if not flags:
        return []
    from ..report.health import format_flags

    return format_flags(flags).splitlines()


def accuracy_report(res, ds) -> dict:
    """``{"classification": kind, "train_accuracy": a, "test_accuracy": a}`` for classification data
    (one-hot or +-1 targets, e.g. the digits), measured with the trained net's T = 0 forward pass; {} else.

    Examples
    --------
    >>> import numpy as np
    >>> from types import SimpleNamespace as NS
    >>> net = NS(predict=lambda x: x)
    >>> ds = NS(x_train=np.eye(2), t_train=np.eye(2), x_test=np.eye(2)[::-1], t_test=np.eye(2), n_test=2)
    >>> accuracy_report(NS(net=net), ds)
    {'classification': 'onehot', 'train_accuracy': 1.0, 'test_accuracy': 0.0}
    """
    from ..sweeps.engine_tasks import classification_accuracy, classification_kind

    kind = classification_kind(ds.t_train)
    if kind is None:
        return {}
    return {"classification": kind,
            "train_accuracy": classification_accuracy(res.net.predict(ds.x_train), ds.t_train, kind),
            "test_accuracy": (classification_accuracy(res.net.predict(ds.x_test), ds.t_test, kind)
                              if ds.n_test else None)}


def _print_summary(summary: dict, res) -> None:
    b = res.books
    lines = [("presentations", b.presentations), ("n_params", b.n_params), ("net_sizes", summary["net_sizes"]),
             ("data", summary["data"]), ("final_train_loss", res.final_train_loss)]
    if "train_accuracy" in summary:
        lines.append(("train_accuracy", summary["train_accuracy"]))
    lines.append(("final_test_loss", res.final_test_loss))
    if summary.get("test_accuracy") is not None:
        lines.append(("test_accuracy", summary["test_accuracy"]))
    lines += [("W", b.W), ("rho", b.rho), ("bound_2NS<kT>rho", b.bound),
             ("fallback_fraction", summary["fallback_fraction"]), ("wall_time", res.wall_time),
             ("presentations_per_s", summary["presentations_per_s"]), ("seed", summary["seed"])]
    if res.resumed_from is not None:
        lines.append(("resumed_from", res.resumed_from))
    if summary.get("out"):
        lines.append(("out", summary["out"]))
    for k, v in lines:
        print(f"{k:28s} {v:.6g}" if isinstance(v, float) else f"{k:28s} {v}")
    for line in _energy_lines(summary["energy"]):
        print(line)
    sys.stdout.flush()


def _write_out(path, res) -> str:
    import io

    import numpy as np

    from ._common import write_or_rescue

    arrays = {"theta": res.theta}
    arrays.update({f"records_{k}": np.asarray(v, dtype=np.float64) for k, v in res.records.items()})
    arrays.update(res.net.to_arrays())
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    where, err = write_or_rescue(path, buf.getvalue(), "--out")
    return where


def _run_tstar(args, net, ds, settings, run_seed, show) -> int:
    from ..training import threshold_temperature

    kw = {k: settings[k] for k in ("mu", "tau_inf", "kappa_out", "weight_decay", "order", "batch_size")}
    if settings.get("fidelity") != "separated":
        raise ValueError("--tstar uses the separated-time-scales dynamics; drop --fidelity joint")
    if not isinstance(settings["kT"], (int, float)) or settings["kT"] != 0.0:
        log.warning("--tstar ignores --kT/--kT-end: the chains run on their own temperature grid")
    from ..report.progress import Progress

    bar = Progress(None, desc="train --tstar", unit="chains", enabled=show, compile_note=True)
    try:
        res = threshold_temperature(net, ds, presentations=settings["presentations"], kT_grid=args.kT_grid,
                                    chain_presentations=args.chain_presentations, seed=run_seed, progress=bar,
                                    **kw)
    except BaseException:
        bar.close(ok=False)
        raise
    bar.close()
    s = res.summary()
    line = (f"analogsim train --tstar: kT* = {res.kT_star:.4g} ± {res.kT_star_se:.2g} ({res.how}); "
            f"W/kT* = {res.W_over_kT_star:.4g}; Gamma = {res.Gamma:.3f} ± {res.Gamma_se:.3f}")
    if args.json:
        emit_json(s)
        print(line, file=sys.stderr)
    else:
        print(line)
    return 0
