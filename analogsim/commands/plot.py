"""``analogsim plot RESULTS``: the standard figures for whatever a sweep's results contain."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..cli import EXIT_FAILED, EXIT_OK
from ._common import emit_json

EXAMPLES = """examples:
  analogsim plot results/stress_vs_kappa                 figures into results/stress_vs_kappa/figures/
  analogsim plot results/loss_vs_T/results.nc --out figs --format png
  analogsim plot results/energy_vs_S --json              list the files written as JSON

figures (each made when its variables are in the results): loss_vs_kT (with T*), energy_vs_S,
energy_vs_n_train, energy_vs_N (log-log, 2 N S kT bound, fitted slopes), stress_error (vs kappa ratio),
work_vs_tau, equipartition, bounds (analog/digital bounds per sample vs N with the measured W/(S kT)).
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "plot", help="make the standard figures from sweep results (PNG and SVG)",
        description="Read a sweep's consolidated results (a run folder or its results.nc) and write every "
                    "standard figure whose variables it contains.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results", metavar="RESULTS", help="sweep results folder or .nc file")
    p.add_argument("--out", metavar="DIR", help="figure folder (default: <results folder>/figures)")
    p.add_argument("--format", default="png,svg", metavar="LIST", help="comma-separated: png, svg, pdf (default png,svg)")
    p.add_argument("--dpi", type=int, default=150, help="PNG resolution (default 150)")
    p.add_argument("--only", metavar="LIST", help="comma-separated figure names to make (default: all that apply)")
    p.add_argument("--json", action="store_true", help="print the files written as JSON on stdout")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from ..plotting import standard_figures
    from ..sweeps.store import open_results

    src = Path(args.results)
    ds = open_results(src)
    folder = src if src.is_dir() else src.parent
    out = Path(args.out) if args.out else folder / "figures"
    formats = [f.strip().lower() for f in args.format.split(",") if f.strip()]
    only = [n.strip() for n in args.only.split(",") if n.strip()] if args.only else None
    files = standard_figures(ds, out, formats=formats, dpi=args.dpi, only=only)
    if args.json:
        emit_json({"results": str(src), "out": str(out), "files": [str(f) for f in files],
                   "variables": sorted(ds.data_vars)})
    if not files:
        print(f"analogsim plot: no standard figure applies to the variables in {src} "
              f"({', '.join(sorted(ds.data_vars))})", file=sys.stderr)
        return EXIT_FAILED
    print(f"analogsim plot: {len(files)} files in {out}", file=sys.stderr)
    return EXIT_OK
