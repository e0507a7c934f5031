"""``analogsim check-stress``: the stress at the clamped minimum against backprop, over stiffness ratios."""

from __future__ import annotations

import argparse
import sys

from ._common import add_progress_flags, allow_negative_numbers, count, emit_json, float_list, int_list

EPILOG = """examples:
  analogsim check-stress                              table: depths 1-4 x tanh, relu, sigmoid, softplus
  analogsim check-stress --plot stress.png            and a figure of error vs r on log axes
  analogsim check-stress --depths 2,3 --activations relu --json
  analogsim check-stress --reference numpy            use analogsim's numpy backprop as the reference

The relative error of dH/dtheta at the clamped minimum against the backprop gradient of
(kappa_out/2)|f(x0) - t|^2 is C r with slope 1 in r = kappa_out/kappa_hidden: "stress = backprop" is a
limit r -> 0, not an identity (depth 1, no hidden layer, is the exception: there they are equal).
Exit code 0 when every case passes, 1 when a case fails.
"""


def add_parser(sub) -> None:
    p = sub.add_parser(
        "check-stress", help="stress at the clamped minimum vs backprop over stiffness ratios (Eq. 8-10)",
        description="Compare dH/dtheta at the clamped minimum with the backprop gradient of the MSE loss for "
                    "a fixed seeded random net per depth and activation, over ratios r = kappa_out/kappa_hidden; "
                    "report the error at each r, the log-log slope and C = error/r.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    allow_negative_numbers(p)
    p.add_argument("--depths", type=int_list, default=[1, 2, 3, 4], help="numbers of weight layers (default 1,2,3,4)")
    p.add_argument("--activations", default="tanh,relu,sigmoid,softplus",
                   help="hidden-layer activations, comma-separated (default tanh,relu,sigmoid,softplus)")
    p.add_argument("--ratios", type=float_list, default=None,
                   help="stiffness ratios r (default 13 values, 1e-6 to 1 in half decades)")
    p.add_argument("--fit-range", type=float_list, default=[1e-6, 1e-3], metavar="LOW,HIGH",
                   help="ratios used for the slope and C (default 1e-6,1e-3)")
    p.add_argument("--width", type=count, default=16, help="hidden width (default 16)")
    p.add_argument("--batch", type=count, default=16, help="samples per case (default 16)")
    p.add_argument("--seed", type=count, default=0, help="seed of the nets and data (default 0)")
    p.add_argument("--output-activation", default="identity",
                   help="output-layer activation (default identity; 'same' = the hidden one)")
    p.add_argument("--reference", choices=("auto", "torch", "numpy"), default="auto",
                   help="backprop reference: torch autograd on the exported model (auto when torch is installed) "
                        "or analogsim's numpy backprop")
    p.add_argument("--plot", metavar="FILE", default=None, help="save a figure of error vs r (png, svg, pdf)")
    p.add_argument("--json", action="store_true",
                   help='print {"cases": [{"depth", "activation", "ratios", "rel_error", "slope", "constant", '
                        '"recursion_residual", ...}], "reference", "passed"}')
    add_progress_flags(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..model.crosscheck import DEFAULT_RATIOS, stress_backprop_check
    from ..model.crosscheck_report import format_table, plot_report, report_to_json

    acts = [a.strip() for a in args.activations.split(",") if a.strip()]
    if not acts:
        raise ValueError(f"--activations must name at least one activation, got {args.activations!r}")
    if not args.depths:
        raise ValueError("--depths must list at least one depth, e.g. 1,2,3")
    if len(args.fit_range) != 2:
        raise ValueError(f"--fit-range must be two numbers LOW,HIGH, got {args.fit_range}")
    out_act = None if args.output_activation == "same" else args.output_activation
    ratios = DEFAULT_RATIOS if args.ratios is None else args.ratios

    bad = [r for r in ratios if not (r > 0 and r < float("inf"))]
    if bad:
        raise ValueError(f"--ratios must be finite numbers > 0 (r = kappa_out/kappa_hidden), got {bad[0]!r} "
                         f"in {list(ratios)}")
    from ..report.resources import MAX_WIDTH, check_memory, train_bytes

    if not 1 <= args.width <= MAX_WIDTH:
        raise ValueError(f"--width must be a layer width from 1 to {MAX_WIDTH}, got {args.width}")
    if min(args.depths) < 1:
        raise ValueError(f"--depths must be numbers of weight layers >= 1, got {args.depths}")
    if args.batch < 1:
        raise ValueError(f"--batch must be >= 1, got {args.batch}")
    deepest = [args.width] * (max(args.depths) + 1)
    check_memory(train_bytes(deepest, batch_size=args.batch, hard_clamp=True), "--width",
                 f"a depth-{max(args.depths)} network of width {args.width} with {args.batch} samples")
    if args.plot:
        from ._common import check_output_path

        check_output_path(args.plot, "--plot")
    from ..report.progress import Progress

    bar = Progress(total=len(args.depths) * len(acts), desc="check-stress", unit="cases",
                   enabled=args.progress is not False, compile_note=True)

    def progress(case):  # one case (depth x activation) done
        bar.update(1)
        bar.note(f"depth {case['depth']} {case['activation']}: done")

    try:
        report = stress_backprop_check(args.depths, acts, ratios, width=args.width, batch=args.batch,
                                       seed=args.seed, output_activation=out_act, fit_range=tuple(args.fit_range),
                                       reference=args.reference, progress=progress)
    except BaseException:
        bar.close(ok=False)
        raise
    bar.close()
    if args.plot:
        plot_report(report, args.plot)
    if args.json:
        emit_json(report_to_json(report))
    else:
        print(format_table(report))
        if args.plot:
            print(f"figure: {args.plot}")
    if args.plot and args.json:
        print(f"figure: {args.plot}", file=sys.stderr)
    return 0 if report["passed"] else 1
