"""``analogsim train``: physical training from a config file or flags, with books and checkpoints.

The settings are those of an experiment config (:mod:`analogsim.config`, sections [network], [data],
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

from ._common import emit_json, float_list, int_list

log = logging.getLogger("analogsim.train")

# flag name -> config key (flags left at None do not override)
_FLAGS = {
    "sizes": "sizes", "n_in": "n_in", "width": "width", "depth": "depth", "n_out": "n_out",
    "activation": "activation", "output_activation": "output_activation", "kappa": "kappa",
    "kappa_ratio": "kappa_ratio", "init": "init", "dtype": "dtype", "data": "source", "n_train": "n_train",
    "n_test": "n_test", "noise": "noise", "teacher_width": "teacher_width", "input_scale": "input_scale",
    "kT": "kT", "mu": "mu", "tau_inf": "tau_inf", "presentations": "presentations", "kappa_out": "kappa_out",
    "weight_decay": "weight_decay", "fidelity": "fidelity", "order": "order", "batch_size": "batch_size",
    "substeps": "substeps",
}


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="stress-driven physical training (Eq. 11-16) with energy books and checkpoints",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               "  analogsim train --data teacher --sizes 4,16,1 --kappa-out 1e-3 --mu 100 --kT 1e-7 --json\n"
               "  analogsim train --data digits --sizes 64,32,10 --kappa-out 1e-3 --mu 50 --presentations 100000 \\\n"
               "      --weight-decay 1e-5 --checkpoint run.ck.npz --checkpoint-seconds 60\n"
               "  analogsim train --config exp.toml --tstar --json     threshold temperature T* and Gamma\n")
    g = p.add_argument_group("settings (override the config file)")
    g.add_argument("--config", help="experiment config (TOML) with [network], [data], [dynamics], [training]")
    g.add_argument("--sizes", type=int_list, help="layer sizes, e.g. 4,16,16,1 (else n_in/width/depth/n_out)")
    g.add_argument("--n-in", type=int)
    g.add_argument("--width", type=int)
    g.add_argument("--depth", type=int)
    g.add_argument("--n-out", type=int)
    g.add_argument("--activation", help="hidden activation (tanh, relu, sigmoid, softplus, identity)")
    g.add_argument("--output-activation")
    g.add_argument("--kappa", type=float, help="stiffness of the hidden neurons")
    g.add_argument("--kappa-ratio", type=float, help="output layer stiffness / hidden stiffness")
    g.add_argument("--init", choices=("he", "xavier"))
    g.add_argument("--dtype", choices=("float32", "float64"))
    g.add_argument("--data", help="'teacher', 'digits', or a .npz/.csv file")
    g.add_argument("--n-train", type=int)
    g.add_argument("--n-test", type=int)
    g.add_argument("--noise", type=float, help="label noise (teacher data)")
    g.add_argument("--teacher-width", type=int, help="teacher hidden width (0: linear teacher)")
    g.add_argument("--input-scale", type=float)
    g.add_argument("--kT", type=float, help="temperature (energy units)")
    g.add_argument("--kT-end", type=float, help="anneal from --kT to this temperature (see --schedule)")
    g.add_argument("--schedule", choices=("linear", "exponential"), default="exponential",
                   help="shape of the annealing when --kT-end is given (default exponential)")
    g.add_argument("--mu", type=float, help="parameter mobility")
    g.add_argument("--tau-inf", type=float, help="presentation time per entry")
    g.add_argument("--presentations", type=int, help="number of presentations S")
    g.add_argument("--kappa-out", type=float, help="soft output clamp stiffness (default: hard clamp)")
    g.add_argument("--weight-decay", type=float)
    g.add_argument("--fidelity", choices=("separated", "joint"))
    g.add_argument("--order", choices=("iid", "shuffle", "cyclic", "random"))
    g.add_argument("--batch-size", type=int)
    g.add_argument("--substeps", type=int)
    g.add_argument("--neuron-mobility", type=float, help="neuron mobility Gamma (joint dynamics)")
    g.add_argument("--dt", type=float, help="joint dynamics time step")
    g.add_argument("--seed", type=int, help="seed of data, network and run (default: the config's, else 0)")
    r = p.add_argument_group("run")
    r.add_argument("--eval-every", type=int, help="presentations between loss/books records")
    r.add_argument("--checkpoint", help="checkpoint file (.npz); an existing one is resumed")
    r.add_argument("--checkpoint-every", type=int, help="checkpoint every K presentations")
    r.add_argument("--checkpoint-seconds", type=float, help="checkpoint every M seconds")
    r.add_argument("--no-resume", action="store_true", help="start over even if the checkpoint exists")
    r.add_argument("--out", help="write the final parameters and curves to this .npz")
    r.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    r.add_argument("--progress", dest="progress", action="store_true", default=None,
                   help="show a progress bar (default: when stderr is a terminal)")
    r.add_argument("--no-progress", dest="progress", action="store_false")
    t = p.add_argument_group("threshold temperature (--tstar)")
    t.add_argument("--tstar", action="store_true", help="measure T* (E(T*) = 2 E(0)) and Gamma instead of one run")
    t.add_argument("--chain-presentations", type=int, default=50000, help="length of each T* chain")
    t.add_argument("--kT-grid", type=float_list, help="chain temperatures (default: around the harmonic guess)")
    p.set_defaults(func=run)


def resolve_settings(args) -> tuple[dict, int]:
    """The flat settings (config defaults < config file < flags) and the seed."""
    from ..config import load_config, parse_config

    if args.config:
        cfg = load_config(args.config)
        if cfg.axes:
            raise ValueError(f"{args.config} has a [sweep] section (axes {sorted(cfg.axes)}); "
                             "`analogsim train` runs one setting: use `analogsim sweep` for sweeps")
    else:
        cfg = parse_config('[experiment]\nkind = "train"\n[dynamics]\nkT = 0.0\n', name="train")
    params = dict(cfg.settings)
    if params.get("kT") is None:
        params["kT"] = 0.0
    for flag, key in _FLAGS.items():
        v = getattr(args, flag, None)
        if v is not None:
            params[key] = v
    if args.sizes is not None:
        params["sizes"] = args.sizes
    seed = args.seed if args.seed is not None else cfg.seed
    if seed < 0:
        raise ValueError(f"--seed must be >= 0, got {seed}")
    return params, int(seed)


def build(params: dict, seed: int):
    """(net, dataset, run seed) from flat settings, seeded like the sweep's ``train`` task."""
    import numpy as np

    from .. import data as D
    from ..network import Network

    s_data, s_net, s_train = np.random.SeedSequence(seed).spawn(3)
    rng = np.random.default_rng(s_data)
    src = params["source"]
    sizes = params.get("sizes")
    if not sizes:
        sizes = [params["n_in"]] + [params["width"]] * (params["depth"] - 1) + [params["n_out"]]
    if src == "teacher":
        tw = params["teacher_width"]
        ds = D.teacher_student(n_in=sizes[0], n_out=sizes[-1], n_train=params["n_train"], n_test=params["n_test"],
                               teacher_hidden=(tw,) if tw else (), activation=params["activation"],
                               label_noise=params["noise"], input_scale=params["input_scale"], seed=rng)
    else:
        ds = D.digits(seed=rng) if src == "digits" else D.load_arrays(src)
        sizes = [ds.n_in] + list(sizes[1:-1]) + [ds.n_out]
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
    if args.neuron_mobility is not None:
        s["neuron_mobility"] = args.neuron_mobility
    if args.dt is not None:
        s["dt"] = args.dt
    return s


def run(args) -> int:
    params, seed = resolve_settings(args)
    net, ds, run_seed = build(params, seed)
    settings = _settings(params, args)
    show = args.progress if args.progress is not None else sys.stderr.isatty()
    if args.tstar:
        return _run_tstar(args, net, ds, settings, run_seed, show)
    from ..training import train

    res = train(net, ds, seed=run_seed, eval_every=args.eval_every, checkpoint=args.checkpoint,
                checkpoint_every=args.checkpoint_every, checkpoint_seconds=args.checkpoint_seconds,
                resume=not args.no_resume, progress=True if show else None, **settings)
    summary = res.summary()
    summary.update({"net_sizes": list(net.sizes), "data": ds.name, "n_train": ds.n_train, "n_test": ds.n_test,
                    "seed": seed, "run_seed": run_seed})
    if args.out:
        _write_out(args.out, res)
    b = res.books
    print(f"analogsim train: S = {b.presentations}, N = {b.n_params}, train loss {res.final_train_loss:.4g}, "
          f"test loss {res.final_test_loss:.4g}, W = {b.W:.4g}, rho = {b.rho:.4g}, bound 2NS<kT>rho = "
          f"{b.bound:.4g}" + (f", resumed from {res.resumed_from}" if res.resumed_from is not None else ""),
          file=sys.stderr)
    if args.json:
        emit_json(summary)
    return 0


def _write_out(path, res) -> None:
    import io

    import numpy as np

    from .._io import atomic_write_bytes

    arrays = {"theta": res.theta}
    arrays.update({f"records_{k}": np.asarray(v, dtype=np.float64) for k, v in res.records.items()})
    arrays.update(res.net.to_arrays())
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def _run_tstar(args, net, ds, settings, run_seed, show) -> int:
    from ..training import threshold_temperature

    kw = {k: settings[k] for k in ("mu", "tau_inf", "kappa_out", "weight_decay", "order", "batch_size")}
    if settings.get("fidelity") != "separated":
        raise ValueError("--tstar uses the separated-time-scales dynamics; drop --fidelity joint")
    if not isinstance(settings["kT"], (int, float)) or settings["kT"] != 0.0:
        log.warning("--tstar ignores --kT/--kT-end: the chains run on their own temperature grid")

    def prog(i, n):
        if show:
            print(f"T* chains: {i}/{n}", file=sys.stderr)

    res = threshold_temperature(net, ds, presentations=settings["presentations"], kT_grid=args.kT_grid,
                                chain_presentations=args.chain_presentations, seed=run_seed, progress=prog, **kw)
    s = res.summary()
    print(f"analogsim train --tstar: kT* = {res.kT_star:.4g} ± {res.kT_star_se:.2g} ({res.how}); "
          f"W/kT* = {res.W_over_kT_star:.4g}; Gamma = {res.Gamma:.3f} ± {res.Gamma_se:.3f}", file=sys.stderr)
    if args.json:
        emit_json(s)
    return 0
