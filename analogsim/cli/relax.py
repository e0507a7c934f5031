"""``analogsim relax``: Langevin relaxation of a network's neurons, with energy books."""

from __future__ import annotations

import argparse
import io
import sys
import time

from ._common import (add_progress_flags, allow_negative_numbers, check_output_path, count, emit_json, float_list,
                      int_list)

#: a Jarzynski estimate from fewer effective samples than this fraction of the replicas is flagged
ESS_WARN_FRACTION = 0.1

EPILOG = """examples:
  analogsim relax --sizes 4,16,16,1 --kT 0.1 --json              EM, 1000 steps, 256 replicas
  analogsim relax --sizes 4,16,1 --kT 0.1 --dt 0.05 --integrator mala --n-steps 5000
  analogsim relax --sizes 1,4,4,1 --kT 0.01 --tau 64 --x0 -1 --x1 1 --integrator mala --json
                                                                  quasi-static inference: work, Jarzynski
  analogsim relax --config exp.toml --kT 0.2                      settings from an experiment file, kT overridden
  analogsim relax --sizes 4,8,2 --kT 0.1 --target 0.5,-0.5 --output-stiffness 10 --save out.npz
  analogsim relax --graph examples/graph_conv_digits.toml --kT 0.01 --dt 0.02 --json    a convolutional graph

The step dt is checked against lambda_max of the x-Hessian: Gamma dt lambda_max >= 2 is refused, > 0.1 warns
that Euler-Maruyama is biased (use --integrator mala). Exit codes: 0 ok, 2 bad input, 3 diverged/stalled.
"""


def add_parser(sub) -> None:
    p = sub.add_parser("relax", help="Langevin relaxation of the neurons with work/heat books (EM or MALA)",
                       description="Overdamped Langevin dynamics dx = -Gamma dH/dx dt + sqrt(2 Gamma kT) dW of the "
                                   "neurons of a seeded random network, input clamped (fixed, or ramped from --x0 to "
                                   "--x1 over --tau), output free or clamped; prints the energy books.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    allow_negative_numbers(p)
    p.add_argument("--config", metavar="TOML", default=None,
                   help="experiment file (analogsim.data.config): network and dynamics settings; flags override")
    p.add_argument("--graph", metavar="FILE", default=None,
                   help="a graph network (docs/graph.md): a .toml file with a [graph] section, or a .npz saved by "
                        "analogsim.data.graph_io.save_graph / train --out; replaces --sizes (a --config with a [graph] "
                        "section does the same)")
    p.add_argument("--sizes", type=int_list, default=None, help="layer sizes, e.g. 4,16,16,1 (default 4,16,1)")
    p.add_argument("--activation", default=None, help="hidden activation (default tanh)")
    p.add_argument("--output-activation", default=None, help="output activation (default identity)")
    p.add_argument("--kappa", type=float, default=None, help="stiffness of every neuron (default 1)")
    p.add_argument("--dtype", choices=("float32", "float64"), default=None)
    p.add_argument("--kT", type=float, default=None, help="temperature (energy units); required")
    p.add_argument("--dt", type=float, default=None, help="time step (default 0.01)")
    p.add_argument("--n-steps", type=count, default=None, help="steps (default 1000, or round(tau/dt))")
    p.add_argument("--integrator", choices=("em", "mala"), default=None, help="default em")
    p.add_argument("--replicas", type=count, default=None, help="independent replicas (default 256)")
    p.add_argument("--gamma", type=float, default=1.0, help="neuron mobility Gamma (default 1)")
    p.add_argument("--seed", type=count, default=None, help="seed of the net, the inputs and the noise (default 0)")
    p.add_argument("--threads", type=count, default=None, help="threads (default: numba's setting)")
    p.add_argument("--x0", type=float_list, default=None, help="clamped input (default: random N(0,1))")
    p.add_argument("--x1", type=float_list, default=None, help="end of the input ramp (with --tau)")
    p.add_argument("--tau", type=float, default=None, help="ramp the input from x0 to x1 over tau")
    p.add_argument("--target", type=float_list, default=None, help="clamp the output to this target")
    p.add_argument("--output-stiffness", type=float, default=None,
                   help="soft clamp stiffness (with --target; default: hard clamp)")
    p.add_argument("--burn-in", type=count, default=0, help="steps left out of the moments (default 0)")
    p.add_argument("--stability", default="auto", help="auto | bound | off | a number for lambda_max")
    p.add_argument("--save", metavar="NPZ", default=None, help="write the final state and books (.npz)")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    add_progress_flags(p)
    p.set_defaults(func=run)


def _settings(args) -> dict:
    s = {"sizes": None, "activation": "tanh", "output_activation": "identity", "kappa": 1.0, "dtype": "float64",
         "kT": None, "dt": 0.01, "n_steps": 1000, "integrator": "em", "n_replicas": 256, "seed": 0, "tau": None,
         "init": "he", "bias_scale": 0.0}
    if args.config:
        from ..data.config import load_config

        cfg = load_config(args.config, kind_hint="relax")
        st = cfg.settings
        if cfg.axes:
            print(f"analogsim relax: {args.config} has sweep axes {sorted(cfg.axes)}; using its base settings "
                  "(run the sweep with `analogsim sweep`)", file=sys.stderr)
        for k in ("activation", "output_activation", "kappa", "dtype", "kT", "dt", "n_steps", "integrator",
                  "n_replicas", "tau", "init", "bias_scale"):
            if st.get(k) is not None:
                s[k] = st[k]
        s["seed"] = cfg.seed
        s["graph"] = st.get("graph")
        if st.get("sizes"):
            s["sizes"] = list(st["sizes"])
        else:
            s["sizes"] = [st["n_in"]] + [st["width"]] * (st["depth"] - 1) + [st["n_out"]]
    over = {"sizes": args.sizes, "activation": args.activation, "output_activation": args.output_activation,
            "kappa": args.kappa, "dtype": args.dtype, "kT": args.kT, "dt": args.dt, "n_steps": args.n_steps,
            "integrator": args.integrator, "n_replicas": args.replicas, "seed": args.seed, "tau": args.tau}
    s.update({k: v for k, v in over.items() if v is not None})
    if s["sizes"] is None:
        s["sizes"] = [4, 16, 1]
    if s["kT"] is None:
        raise ValueError("--kT is required (or kT in the config's [dynamics] section)")
    return s


def run(args) -> int:
    import numpy as np

    from .. import Network
    from ..model.hamiltonian import OutputClamp
    from ..inference.observers import EnergyMoments
    from ..report.progress import Progress, warn_long_run
    from ..inference.protocols import Ramp
    from ..report.resources import check_memory, check_sizes, relax_bytes, relax_seconds
    from ..inference.simulate import relax

    s = _settings(args)
    from ._graph import graph_source, run_relax

    graph = graph_source(args.graph, s.get("graph"))
    if graph is not None:
        return run_relax(args, s, graph)
    sizes = check_sizes(s["sizes"], "--sizes")
    if args.save:
        check_output_path(args.save, "--save")
    if isinstance(s["n_replicas"], bool) or not isinstance(s["n_replicas"], int) or s["n_replicas"] < 1:
        raise ValueError(f"--replicas must be a positive integer, got {s['n_replicas']!r}")
    itemsize = 4 if s["dtype"] == "float32" else 8
    check_memory(relax_bytes(sizes, s["n_replicas"], itemsize=itemsize, integrator=s["integrator"]),
                 "--replicas", f"{s['n_replicas']} replicas of a network of sizes {sizes}")
    L = len(sizes) - 1
    acts = [s["activation"]] * (L - 1) + [s["output_activation"]]
    ss = np.random.SeedSequence(s["seed"])
    s_net, s_in, s_run = ss.spawn(3)
    net = Network.create(sizes, activations=acts, kappa=s["kappa"], init=s["init"], seed=np.random.default_rng(s_net),
                         dtype=s["dtype"], bias_scale=s["bias_scale"])
    rng = np.random.default_rng(s_in)
    x0 = np.asarray(args.x0, dtype=float) if args.x0 is not None else rng.standard_normal(sizes[0])
    clamp = None
    if args.target is not None:
        clamp = OutputClamp(np.asarray(args.target, dtype=float), args.output_stiffness)
    elif args.output_stiffness is not None:
        raise ValueError("--output-stiffness needs --target")
    stab = args.stability
    try:
        stab = float(stab)
    except ValueError:
        pass
    kw = dict(kT=s["kT"], dt=s["dt"], integrator=s["integrator"], seed=s_run,
              gamma=args.gamma, threads=args.threads, output_clamp=clamp, stability=stab)
    x1 = None
    if s["tau"] is not None:
        x1 = np.asarray(args.x1, dtype=float) if args.x1 is not None else rng.standard_normal(sizes[0])
        n_steps = args.n_steps if args.n_steps is not None else max(1, int(round(s["tau"] / s["dt"])))
        call = dict(x0=None, input_protocol=Ramp(x0, x1, s["tau"]))
    else:
        if args.x1 is not None:
            raise ValueError("--x1 needs --tau (the ramp duration)")
        n_steps = s["n_steps"]
        call = dict(x0=x0)
    if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 1:
        raise ValueError(f"--n-steps must be a positive integer, got {n_steps!r}")
    check_memory(relax_bytes([1, 1], 0, n_steps=n_steps), "--n-steps" if s["tau"] is None else "--tau",
                 f"the per-step schedule of {n_steps} steps")
    warn_long_run("relax", relax_seconds(sizes, n_steps, s["n_replicas"]),
                  f"{n_steps} steps x {s['n_replicas']} replicas; lower --n-steps, --tau or --replicas")
    show = args.progress is not False
    bar = Progress(None, desc="relax", unit="", enabled=show, compile_note=True)
    try:
        # one step of one replica first: numba compiles (or loads) its kernels here, outside the timing
        t_c = time.perf_counter()
        relax(net, call["x0"], input_protocol=call.get("input_protocol"), n_steps=1, n_replicas=1,
              record=("books",), **kw)
        compile_s = time.perf_counter() - t_c
        bar.note(f"kernels ready after {compile_s:.1f} s; running {n_steps} steps x {s['n_replicas']} replicas")
        t0 = time.perf_counter()
        res = relax(net, call["x0"], input_protocol=call.get("input_protocol"), n_steps=n_steps,
                    n_replicas=s["n_replicas"], record=("books", EnergyMoments(burn_in=args.burn_in)), **kw)
        wall = time.perf_counter() - t0
    except BaseException:
        bar.close(ok=False)
        raise
    bar.close()
    summary = res.summary()
    summary.update({"sizes": sizes, "activations": acts, "n_params": net.n_params, "wall_s": wall,
                    "compile_s": compile_s, "steps_per_s": res.n_steps / wall if wall > 0 else None})
    if s["tau"] is not None:
        from ..inference.protocols import thermodynamic_length

        if clamp is None:
            summary["tau"] = s["tau"]
            summary["thermodynamic_length_sq"] = float(thermodynamic_length(net, x0, x1, gamma=args.gamma)[0])
    notes = []
    jz = summary.get("jarzynski")
    if isinstance(jz, dict) and jz.get("ess") is not None and jz["ess"] < ESS_WARN_FRACTION * s["n_replicas"]:
        notes.append(f"warning: the Jarzynski estimate rests on an effective sample size of {jz['ess']:.3g} of "
                     f"{s['n_replicas']} replicas: it is dominated by a few rare trajectories and biased (use "
                     "more replicas, a slower ramp --tau, or the mean work as an upper bound)")
        jz["usable"] = False
    summary["notes"] = notes
    if args.save:
        from ._common import write_or_rescue

        buf = io.BytesIO()
        np.savez(buf, state=res.state, work=res.work, heat=res.heat, energy_start=res.energy_start,
                 energy_end=res.energy_end, first_law_residual=res.first_law_residual, **net.to_arrays())
        summary["save"] = write_or_rescue(args.save, buf.getvalue(), "--save")[0]
    if args.json:
        emit_json(summary)
    else:
        for k, v in summary.items():
            if k != "notes":
                print(f"{k:28s} {v}")
        sys.stdout.flush()
    for n in notes:
        print(f"analogsim relax: {n}", file=sys.stderr)
    return 0
