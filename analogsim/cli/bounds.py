"""``analogsim bounds``: the paper's thermodynamic bounds (Eq. 5, 7, 16, 17, 19), Table I and a figure."""

from __future__ import annotations

import argparse
import sys

from .main import EXIT_OK, EXIT_USAGE
from ._common import allow_negative_numbers, emit_json, emit_result, int_list

EXAMPLES = """examples:
  analogsim bounds table1                       Table I recomputed, with assumptions and ratios
  analogsim bounds table1 --markdown            the same as a Markdown table
  analogsim bounds table1 --json                {"rows": [{"function", "column", "paper", "computed", ...}]}
  analogsim bounds inference --nu 1e6 --nu-a 1e4      Eq. 5 (exact and small-p forms)
  analogsim bounds activity --sizes 64,32,32,10       measured nu, nu_a of a relu net on digits
  analogsim bounds quasistatic --work 0.02 --se 0.004 --kT 0.1   a measured <W> against Eq. 7
  analogsim bounds train --N 1e6 --S 1e4 --T 300 --json       Eq. 16 (add --W --kT for Gamma)
  analogsim bounds digital --N-a 37e9 --D 14.8e12     Eq. 17 (FLOPs, bits, Landauer energy)
  analogsim bounds cooling --E 1e-9 --T-cold 4      Eq. 19: total energy once the heat is pumped to T
  analogsim bounds brain                        the brain's bit-rate brackets of the text
  analogsim bounds plot --out bounds            energy per training sample vs N (PNG + SVG)

Energies are printed in kT (natural units), joules at --T kelvin (default 300) and bits (E / kT ln 2).
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "bounds", help="thermodynamic bounds (Eq. 5/7/16/17/19), Table I, brain estimates, figure",
        description="Tkachenko's thermodynamic bounds on the energy of inference and training.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(func=lambda args: _no_sub(p))
    sub = p.add_subparsers(dest="bounds_command", metavar="BOUND")

    def add(name, help, func):
        q = sub.add_parser(name, help=help, description=help)
        allow_negative_numbers(q)  # '--work -1e-3' is a value (then validated), not an option
        q.add_argument("--json", action="store_true", help="print one JSON object on stdout")
        q.set_defaults(func=func)
        return q

    def temp(q, default=300.0, help="temperature in kelvin for joules (default 300)"):
        q.add_argument("--T", type=float, default=default, metavar="K", help=help)

    q = add("table1", "Table I recomputed from printed assumptions, next to the paper's values", _table1)
    q.add_argument("--markdown", action="store_true", help="print a Markdown table")
    temp(q, help="temperature in kelvin (default 300)")
    q.add_argument("--bits-per-flop", type=float, default=16.0, help="bits erased per FLOP (default 16)")
    q.add_argument("--p-dynamic", type=float, default=0.5,
                   help="activation probability for the dynamic cell, Eq. 5 (default 0.5)")
    q.add_argument("--tolerance", type=float, default=1.25,
                   help="reproduced when computed/paper is within [1/tol, tol] (default 1.25)")

    q = add("inference", "Eq. 5: reset cost of dynamic analog inference from nu and nu_a (or p)", _inference)
    q.add_argument("--nu", type=float, required=True, help="number of neurons")
    g = q.add_mutually_exclusive_group(required=True)
    g.add_argument("--nu-a", type=float, help="mean active neurons per inference")
    g.add_argument("--p", type=float, help="activation probability nu_a/nu")
    temp(q)

    q = add("activity", "measure nu, nu_a of a relu Network on the digits data (Eq. 5 at the measured p)",
            _activity)
    q.add_argument("--sizes", type=int_list, default=[64, 32, 32, 10], help="layer sizes (default 64,32,32,10)")
    q.add_argument("--seed", type=int, default=0, help="weight seed (default 0)")
    temp(q)

    q = add("quasistatic", "Eq. 7 (zero) against a measured finite-time mean work", _quasistatic)
    q.add_argument("--work", type=float, required=True, help="measured mean work <W> (engine units)")
    q.add_argument("--se", type=float, required=True, help="its standard error")
    q.add_argument("--kT", type=float, default=1.0, help="the engine's kT (default 1)")
    q.add_argument("--tau", type=float, help="protocol duration (adds tau <W>)")
    temp(q)

    q = add("train", "Eq. 16: E_train >~ 2 N S rho kT (with --W and --kT: the ratio Gamma)", _train)
    q.add_argument("--N", type=float, required=True, help="number of parameters")
    q.add_argument("--S", type=float, required=True, help="number of presentations (the paper's D)")
    q.add_argument("--rho", type=float, default=1.0, help="<|grad F|^2>/var(grad F) (default 1)")
    q.add_argument("--W", type=float, help="measured training work (engine units)")
    q.add_argument("--kT", type=float, help="the engine's kT for Gamma")
    temp(q)

    q = add("digital", "Eq. 17: digital training FLOPs, bits and Landauer energy", _digital)
    q.add_argument("--N-a", type=float, required=True, help="active parameters per token")
    q.add_argument("--D", type=float, required=True, help="training tokens")
    q.add_argument("--flops-per-param", type=float, default=6.0, help="FLOPs per parameter per token (default 6)")
    q.add_argument("--bits-per-flop", type=float, default=16.0, help="bits per FLOP (default 16)")
    temp(q)

    q = add("cooling", "Eq. 19: energy at T* < T once the heat is pumped out to T", _cooling)
    q.add_argument("--E", type=float, required=True, help="energy dissipated at T* (joules)")
    q.add_argument("--T-cold", type=float, required=True, help="operating temperature T* (kelvin)")
    temp(q, help="ambient temperature in kelvin (default 300)")

    q = add("brain", "the text's brackets on the brain's information rate", _brain)
    q.add_argument("--neurons", type=float, default=1e11)
    q.add_argument("--rate", type=float, default=10.0, help="switching rate per neuron in Hz (default 10)")
    q.add_argument("--power", type=float, default=10.0, help="power budget in W (default 10)")
    temp(q)

    q = add("plot", "figure: energy per training sample vs N (analog, digital, IEM), PNG and SVG", _plot)
    q.add_argument("--out", required=True, metavar="PATH", help="file stem; writes PATH.png and PATH.svg")
    q.add_argument("--formats", default="png,svg", help="comma-separated subset of png,svg")
    q.add_argument("--bits-per-flop", type=float, default=16.0)
    q.add_argument("--flops-per-param", type=float, default=6.0)
    temp(q)
    return p


def _no_sub(p) -> int:
    p.print_help(sys.stderr)
    return EXIT_USAGE


def _energy_lines(name, d) -> str:
    return f"{name}: {d['kT']:.6g} kT = {d['joules']:.4g} J at {d['T_K']:g} K = {d['bits']:.6g} bit"


def _table1(args) -> int:
    from ..bounds.table_i import format_table1, table1

    res = table1(args.T, bits_per_flop=args.bits_per_flop, p_dynamic=args.p_dynamic, tolerance=args.tolerance)
    if args.json:
        emit_json(res)
    else:
        print(format_table1(res, "markdown" if args.markdown else "text"))
    return EXIT_OK


def _inference(args) -> int:
    from ..bounds import inference_dynamic_record

    r = inference_dynamic_record(args.nu, args.nu_a, p=args.p, T=args.T)
    text = "\n".join([f"Eq. 5, nu = {r['nu']:g}, nu_a = {r['nu_a']:g}, p = {r['p']:.6g}",
                      _energy_lines("  exact  -kT nu (p ln p + (1-p) ln(1-p))", r["exact"]),
                      _energy_lines("  small-p kT nu_a (1 + ln(nu/nu_a))     ", r["small_p"]),
                      f"  small-p relative error: {r['small_p_rel_error']:.3g}",
                      _energy_lines("  Landauer (p = 1/2) kT nu ln 2         ", r["landauer_p_half"])])
    return emit_result(args, r, text)


def _activity(args) -> int:
    from sklearn.datasets import load_digits

    from ..bounds import measure_activity
    from ..model.network import Network

    X = load_digits().data / 16.0
    sizes = args.sizes
    if len(sizes) < 2 or sizes[0] != X.shape[1]:
        raise ValueError(f"sizes must start with {X.shape[1]} (digits inputs) and have >= 2 entries, got {sizes}")
    net = Network.create(sizes, activations="relu", seed=args.seed)
    rec = measure_activity(net, X)
    d = rec.as_dict(args.T)
    d.update(sizes=sizes, seed=args.seed, data="sklearn digits / 16")
    lines = [f"relu net {sizes} (seed {args.seed}) on {rec.n_samples} digits: nu = {rec.nu}, "
             f"nu_a = {rec.nu_a:.4g} +- {rec.nu_a_se:.2g}, p = {rec.p:.4g}"]
    lines += [f"  layer {q['layer']}: n = {q['n']}, nu_a = {q['nu_a']:.4g}, p = {q['p']:.4g}" for q in rec.per_layer]
    if "bound" in d:
        lines.append(_energy_lines("  Eq. 5 exact", d["bound"]["exact"]))
    return emit_result(args, d, "\n".join(lines))


def _quasistatic(args) -> int:
    from ..bounds import quasistatic_work_record

    r = quasistatic_work_record(args.work, args.se, kT=args.kT, tau=args.tau, T=args.T)
    verdict = ("dissipation resolved (above the bound)" if r["above_bound"] else
               "BELOW the bound by more than n_se SE: check the estimator" if r["violates_bound"] else
               "consistent with the quasi-static bound 0")
    text = (f"Eq. 7: bound 0; measured <W> = {r['W']:.6g} +- {r['se']:.2g} = {r['W_kT']:.6g} kT "
            f"({r['W_bits']:.4g} bit), z = {r['z']:.3g}: {verdict}")
    return emit_result(args, r, text)


def _train(args) -> int:
    from ..bounds import training_bound, training_gamma

    e = training_bound(args.N, args.S, rho=args.rho, T=args.T)
    r = {"equation": "16", "N": args.N, "S": args.S, "rho": args.rho, "energy": e.as_dict(),
         "per_sample": training_bound(args.N, 1, rho=args.rho, T=args.T).as_dict()}
    lines = [_energy_lines(f"Eq. 16: 2 N S rho kT (N = {args.N:g}, S = {args.S:g}, rho = {args.rho:g})", r["energy"]),
             _energy_lines("  per presentation", r["per_sample"])]
    if (args.W is None) != (args.kT is None):
        raise ValueError("give both --W and --kT to compute Gamma, or neither")
    if args.W is not None:
        r["gamma"] = training_gamma(args.W, args.N, args.S, args.kT, args.rho)
        lines.append(f"  measured W = {args.W:g} at kT = {args.kT:g}: Gamma = W / (2 N S rho kT) = "
                     f"{r['gamma']['Gamma']:.4g}")
    return emit_result(args, r, "\n".join(lines))


def _digital(args) -> int:
    from ..bounds import digital_training

    c = digital_training(args.N_a, args.D, flops_per_param=args.flops_per_param,
                         bits_per_flop=args.bits_per_flop, T=args.T)
    r = {"equation": "17", "N_a": args.N_a, "D": args.D, "flops_per_param": args.flops_per_param,
         "bits_per_flop": args.bits_per_flop, **c.as_dict()}
    text = (f"Eq. 17: {c.flops:.4g} FLOPs x {args.bits_per_flop:g} bit = {c.bits:.4g} bit\n"
            + _energy_lines("  Landauer", c.energy.as_dict()))
    return emit_result(args, r, text)


def _cooling(args) -> int:
    from ..bounds import cooling

    r = cooling(args.E, args.T_cold, args.T)
    text = (f"Eq. 19: E = {r['E_cold_J']:.4g} J at T* = {r['T_cold_K']:g} K; pump work "
            f"(T/T* - 1) E = {r['pump_work_J']:.4g} J; total at T = {r['T_K']:g} K: {r['total_J']:.4g} J "
            f"(x{r['ratio']:.4g})")
    return emit_result(args, r, text)


def _brain(args) -> int:
    from ..bounds import brain_estimates

    r = brain_estimates(args.neurons, args.rate, args.power, args.T)
    text = (f"lower: {r['neurons']:.3g} neurons x {r['rate_hz']:g} Hz = {r['lower_bits_per_s']:.3g} bit/s "
            f"(paper ~1e12; Landauer power {r['lower_power_w']:.3g} W)\n"
            f"upper: {r['power_w']:g} W / (kT ln 2) = {r['upper_bits_per_s']:.3g} bit/s at {r['T_K']:g} K "
            f"(paper ~3e21)")
    return emit_result(args, r, text)


def _plot(args) -> int:
    from ..bounds.figures import plot_training_energy

    fmts = [f.strip() for f in args.formats.split(",") if f.strip()]
    _, paths = plot_training_energy(T=args.T, bits_per_flop=args.bits_per_flop,
                                    flops_per_param=args.flops_per_param, out=args.out, formats=fmts)
    return emit_result(args, {"paths": [str(p) for p in paths]}, "\n".join(f"wrote {p}" for p in paths))

