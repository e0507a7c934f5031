"""``analogsim machine``: the dynamic analog machine, its state bits simulated as bistable elements (Eq. 3-5)."""

from __future__ import annotations

import argparse
import math

from .main import EXIT_USAGE
from ._common import emit_result, float_list

EXAMPLES = """examples:
  analogsim machine erase --protocol standard --tau 12800            mean reset work of 2000 bits (kT)
  analogsim machine erase --protocol prior-adapted --p 0.1 --json     kT H(p) + excess at this tau
  analogsim machine scan --protocol standard --taus 3200,6400,12800   fit a + b/tau (a: quasi-static limit)
  analogsim machine digits --taus 1000 --n-test 50                    reset work per inference on a digits net
  analogsim machine lifetime --kTs 0.25,0.2                           stored-bit lifetimes (E_b = 1) vs Kramers

Times are in element relaxation times tau_r = 1/(8 mu E_b); energies in kT, with joules at --T kelvin and bits.
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "machine", help="the dynamic analog machine: relu bits as double-well elements, reset work measured",
        description="Simulate the state bits of a dynamic analog machine as overdamped particles in a double well "
                    "and measure the work of set and reset protocols (Sekimoto books, first law per element).",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(func=lambda args: _no_sub(p))
    sub = p.add_subparsers(dest="machine_command", metavar="RUN")

    def add(name, help, func):
        q = sub.add_parser(name, help=help, description=help)
        q.add_argument("--json", action="store_true", help="print one JSON object on stdout")
        q.add_argument("--E-b", type=float, default=16.0, dest="E_b", help="holding barrier (kT units, default 16)")
        q.add_argument("--kT", type=float, default=1.0, help="temperature (energy units, default 1)")
        q.add_argument("--depth", type=float, default=10.0, help="tilt depth of the reset and set (default 10)")
        q.add_argument("--dt", type=float, default=0.2, help="time step in tau_r (default 0.2)")
        q.add_argument("--seed", type=int, default=0, help="seed (default 0)")
        q.add_argument("--threads", type=int, default=None, help="threads (default: numba's setting)")
        q.add_argument("--T", type=float, default=300.0, metavar="K", help="kelvin for joules (default 300)")
        q.set_defaults(func=func)
        return q

    def proto(q):
        q.add_argument("--protocol", default="standard", choices=["standard", "prior-adapted", "uncompute"])
        q.add_argument("--p", type=float, default=0.5, help="occupation of s = 1 before the reset (default 0.5)")
        q.add_argument("--n", type=int, default=2000, help="elements (default 2000)")

    q = add("erase", "mean reset work of n bits at one tau", _erase)
    proto(q)
    q.add_argument("--tau", type=float, default=12800.0, help="reset duration in tau_r (default 12800)")
    q = add("scan", "reset work over several tau and the fit a + b/tau", _scan)
    proto(q)
    q.add_argument("--taus", type=float_list, default=[3200.0, 6400.0, 12800.0], help="durations in tau_r")
    q = add("digits", "the machine on a relu net trained on digits: reset work per inference vs the bounds", _digits)
    q.add_argument("--taus", type=float_list, default=[1000.0], help="reset durations in tau_r (default 1000)")
    q.add_argument("--n-test", type=int, default=None, help="held-out inputs to run (default all 397)")
    q.add_argument("--protocols", default="standard,prior-adapted,uncompute", help="comma-separated reset protocols")
    q.add_argument("--max-iter", type=int, default=200, help="training iterations of the digits net (default 200)")
    q = add("lifetime", "mean lifetime of a stored bit at barrier E_b for several kT, against Kramers", _lifetime)
    q.add_argument("--kTs", type=float_list, default=[0.25, 0.2], help="temperatures (default 0.25,0.2)")
    q.add_argument("--n", type=int, default=400, help="elements per kT (default 400)")
    q.set_defaults(E_b=1.0, dt=0.1)
    return p


def _no_sub(p) -> int:
    p.print_help()
    return EXIT_USAGE


def _element(args):
    from ..dynamic import DoubleWell

    return DoubleWell(E_b=args.E_b, kT=args.kT)


def _energy(x, T):
    from ..bounds import kT_joules

    return f"{x:.4g} kT = {x * kT_joules(T):.3e} J = {x / math.log(2):.4g} bit"


def _erase(args) -> int:
    from ..dynamic.experiments import reset_work

    r = reset_work(_element(args), args.protocol, args.tau, p=args.p, n_elements=args.n, depth=args.depth,
                   seed=args.seed, dt=args.dt, threads=args.threads)
    text = (f"{args.protocol} reset of {args.n} bits (p = {args.p:g}) in tau = {args.tau:g} tau_r: "
            f"<W> = {r['work']:.4f} +- {r['se']:.4f} kT per bit (quasi-static prediction {r['bound']:.4f} kT); "
            f"error {r['error']:.2e}; first law {r['first_law']:.1e}\n  per bit: {_energy(r['work'], args.T)}")
    return emit_result(args, r, text)


def _scan(args) -> int:
    from ..dynamic.experiments import excess_slope, quasistatic_series

    r = quasistatic_series(_element(args), args.protocol, args.taus, p=args.p, n_elements=args.n, depth=args.depth,
                           seed=args.seed, dt=args.dt, threads=args.threads)
    r["excess_slope"] = excess_slope(r["points"], r["bound"])
    f = r["fit"]
    lines = [f"{args.protocol} reset, p = {args.p:g}, {args.n} bits:"]
    lines += [f"  tau = {q['tau']:>8g}: <W> = {q['work']:.4f} +- {q['se']:.4f} kT, error {q['error']:.1e}"
              for q in r["points"]]
    lines.append(f"  fit a + b/tau: a = {f['a']:.4f} +- {f['a_se']:.4f} kT (prediction {r['bound']:.4f}), "
                 f"b = {f['b']:.4g}; excess slope {r['excess_slope']['slope']:.3f} +- "
                 f"{r['excess_slope']['slope_se']:.3f}")
    return emit_result(args, r, "\n".join(lines))


def _digits(args) -> int:
    from ..dynamic.experiments import digits_budget

    protos = tuple(s.strip() for s in args.protocols.split(",") if s.strip())
    r = digits_budget(taus=tuple(args.taus), protocols=protos, element=_element(args), n_test=args.n_test,
                      depth=args.depth, dt=args.dt, seed=args.seed, threads=args.threads, T=args.T,
                      max_iter=args.max_iter)
    b = r["budget"]
    lines = [f"relu net {r['sizes']} on digits (held-out accuracy {r['accuracy']:.3f}), nu = {r['nu']}, "
             f"p_mean = {b['p_mean']:.3f}, {r['n_test']} held-out inferences",
             f"  kT sum_i H(p_i)        {_energy(b['sum_H_p_i'], args.T)}",
             f"  kT x cross-entropy     {_energy(b['cross_entropy'], args.T)}  (training priors)",
             f"  kT nu H(p_mean) (Eq.5) {_energy(b['nu_H_pbar'], args.T)}",
             f"  kT nu ln 2             {_energy(b['nu_ln2'], args.T)}",
             f"  plug-in pattern entropy {_energy(b['pattern_entropy_plugin'], args.T)} (ceiling ln n = "
             f"{b['ln_n']:.3f})"]
    for q in r["runs"]:
        lines.append(f"  measured {q['protocol']:<13} tau = {q['tau']:g}: reset {q['reset_work_kT']:.2f} +- "
                     f"{q['reset_work_se']:.2f} kT per inference, set {q['set_work_kT']:.2f} kT, errors set "
                     f"{q['set_error']:.1e} reset {q['reset_error']:.1e}")
    for k, f in r["fits"].items():
        lines.append(f"  {k}: tau -> inf {f['a']:.2f} +- {f['a_se']:.2f} kT")
    return emit_result(args, r, "\n".join(lines))


def _lifetime(args) -> int:
    from ..dynamic.experiments import lifetimes

    r = lifetimes(args.E_b, args.kTs, n_elements=args.n, dt=args.dt, seed=args.seed)
    lines = [f"stored bit at E_b = {args.E_b:g}: mean first-passage time (tau_r) vs E_b/kT"]
    lines += [f"  E_b/kT = {x:.3g}: {t:.4g} +- {s:.2g} (exact 1-D {e:.4g}, Kramers {k:.4g})"
              for x, t, s, e, k in zip(r["x"], r["lifetime"], r["lifetime_se"], r["exact_mfpt"], r["kramers"])]
    lines.append(f"  slope of ln(lifetime) in E_b/kT: {r['slope']:.3f} +- {r['slope_se']:.3f} (Kramers: 1)")
    if r["status"] != "ok":
        lines.append(f"  WARNING: {r['status']}")
    return emit_result(args, r, "\n".join(lines))
