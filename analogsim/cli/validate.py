"""``analogsim validate``: the validation report (the project's main job)."""

from __future__ import annotations

import argparse
import logging
import sys
import time

from ._common import emit_json

log = logging.getLogger("analogsim.validate")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "validate", help="reproduce the paper's claims and write the validation report",
        description="Run every claim of the paper on the simulator and write a Markdown report with figures, "
                    "measured numbers with their uncertainties, and a verdict per claim (pass, holds as a limit, "
                    "qualified, does not hold, fail, not testable here; defined in the report's header).",
        epilog="examples:\n  analogsim validate --quick --out report\n"
               "  analogsim validate --full --dask-local 2 --out report-full\n"
               "  analogsim validate --claims stress,equilibrium --json\n"
               "  analogsim validate --quick --seed 7 --out report-7      another master seed\n"
               "  analogsim validate --quick --out report --resume     continue a killed run",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", dest="mode", action="store_const", const="quick",
                      help="small sizes, a few minutes on 2 cores (default)")
    mode.add_argument("--full", dest="mode", action="store_const", const="full",
                      help="the sizes the paper's argument needs (N and S over a decade or more)")
    p.set_defaults(mode="quick")
    p.add_argument("--out", default="validation-report", help="report folder (default: validation-report)")
    p.add_argument("--claims", default=None,
                   help="comma-separated subset of claims (equilibrium,stress,quasistatic,dynamic_inference,"
                        "training,digital_vs_analog,iem)")
    p.add_argument("--workers", type=int, default=None, help="local worker processes (default: all cores)")
    p.add_argument("--scheduler", default=None, help="address of a running Dask scheduler, tcp://host:port")
    p.add_argument("--dask-local", type=int, default=None, metavar="N", help="start a Dask LocalCluster of N workers")
    p.add_argument("--seed", type=int, default=20251125,
                   help="master seed every claim derives its randomness from (default: 20251125); verdicts must not "
                        "depend on it")
    p.add_argument("--verdicts", default=None, metavar="FILE",
                   help="also write the Markdown verdict table (for a README) to FILE")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted run: keep the claims OUT/report.json already holds from a run "
                        "with the same mode, seed and version, run the others")
    p.add_argument("--json", action="store_true", help='print {"claims": [{"name", "verdict", "criterion", "figures"}]}')
    p.set_defaults(func=run)


def run(args) -> int:
    from ..validation import run_validation
    from ..validation.executors import make_executor

    claims = [c.strip() for c in args.claims.split(",") if c.strip()] if args.claims else None
    if args.seed < 0:
        raise ValueError(f"--seed must be a non-negative integer, got {args.seed}")
    t0 = time.perf_counter()

    def progress(res):
        print(f"[{time.perf_counter() - t0:6.0f} s] {res.title}: {res.verdict} ({res.seconds:.0f} s)", file=sys.stderr)

    with make_executor(workers=args.workers, scheduler=args.scheduler, dask_local=args.dask_local) as ex:
        results = run_validation(args.mode, args.out, claims=claims, executor=ex, progress=progress,
                                 resume=args.resume, seed=args.seed)
    kept = [r.name for r in results if r.resumed]
    if kept:
        print(f"resumed: {len(kept)} claim(s) already finished in {args.out} kept ({', '.join(kept)})",
              file=sys.stderr)
    print(f"report: {args.out}/report.md (verdict table: {args.out}/verdicts.md)", file=sys.stderr)
    if args.verdicts:
        from .._io import atomic_write_text
        from ..validation.framework import verdict_table

        atomic_write_text(args.verdicts, verdict_table(results))
    if args.json:
        emit_json({"mode": args.mode, "seed": args.seed, "report": f"{args.out}/report.md",
                   "claims": [r.summary() for r in results]})
    # exit 1 only when the simulator failed a check or a claim could not run (a paper statement that does not
    # hold, or cannot be tested, is a finding, not a failure of the run)
    return 1 if any(r.verdict in ("fail", "error") for r in results) else 0
