"""``analogsim plot RESULTS``: the standard figures for whatever a sweep's results contain."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .main import EXIT_FAILED, EXIT_OK
from ._common import emit_json

EXAMPLES = """examples:
  analogsim plot results/stress_vs_kappa                 figures into results/stress_vs_kappa/figures/
  analogsim plot results/loss_vs_T/results.nc --out figs --format png
  analogsim plot results/energy_vs_S --json              list the files written as JSON
  analogsim plot results/loss_vs_T --y train_loss        the loss figure shows the training loss instead
  analogsim plot results/energy_vs_N --y work_J          energy figures in joules (or work_bits in bits)
  analogsim plot results/loss_vs_T --y test_accuracy --x kT   any variable against any sweep axis ("curve")

figures (each made when its variables are in the results): loss_vs_kT (with T*), energy_vs_S,
energy_vs_n_train, energy_vs_N (log-log, 2 N S kT bound, fitted slopes), stress_error (vs kappa ratio),
work_vs_tau, equipartition, bounds (analog/digital bounds per sample vs N with the measured W/(S kT)),
curve (with --y). Points flagged by the run's health checks (status 'flagged': loss exploded, solver
fallbacks on most steps, ...) are drawn as red crosses and left out of means and fits unless
--include-flagged; every figure says so. Energies are in energy units (k_B = 1) with a joule axis where
all points share one temperature; results.nc holds <energy>_J and <energy>_bits beside each energy.
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
    p.add_argument("--y", metavar="VAR", help="variable to plot: the standard figures that can show it do, and the "
                                              "'curve' figure draws it against --x")
    p.add_argument("--x", metavar="AXIS", help="sweep axis for the 'curve' figure (default: the first numeric one)")
    p.add_argument("--include-flagged", action="store_true",
                   help="keep flagged points in means and fits (they are marked either way)")
    p.add_argument("--json", action="store_true", help="print the files written as JSON on stdout")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from ..report.health import judge_dataset
    from ..sweeps.figures import standard_figures
    from ..sweeps.store import open_results

    _check_dpi(args.dpi)
    src = Path(args.results)
    ds = judge_dataset(open_results(src))  # results made before health checks existed are judged now
    folder = src if src.is_dir() else src.parent
    out = Path(args.out) if args.out else folder / "figures"
    formats = [f.strip().lower() for f in args.format.split(",") if f.strip()]
    only = [n.strip() for n in args.only.split(",") if n.strip()] if args.only else None
    files = standard_figures(ds, out, formats=formats, dpi=args.dpi, only=only, y=args.y, x=args.x,
                             include_flagged=args.include_flagged)
    from ..sweeps.store import energy_summary, flagged_points

    flagged = flagged_points(ds)
    if args.json:
        emit_json({"results": str(src), "out": str(out), "files": [str(f) for f in files],
                   "variables": sorted(ds.data_vars), "flagged": flagged, "energy": energy_summary(ds)})
    if flagged:
        keep = "kept in" if args.include_flagged else "left out of"
        print(f"analogsim plot: {int(ds.attrs.get('n_flagged', len(flagged)))} flagged point(s) marked and {keep} "
              f"means and fits; first: {flagged[0]['coords']}: {flagged[0]['error']}", file=sys.stderr)
    line = energy_summary(ds)
    if line:
        print(f"analogsim plot: {line}", file=sys.stderr)
    if not files:
        print(f"analogsim plot: no standard figure applies to the variables in {src} "
              f"({', '.join(sorted(ds.data_vars))})", file=sys.stderr)
        return EXIT_FAILED
    print(f"analogsim plot: {len(files)} files in {out}", file=sys.stderr)
    return EXIT_OK


#: the largest standard figure, in inches (two panels with the legend column): what --dpi is checked against
LARGEST_FIGURE_IN = (12, 9)


def _check_dpi(dpi) -> None:
    """Refuse a --dpi that is not positive or whose largest figure cannot fit in memory (before any work).

    Examples
    --------
    >>> _check_dpi(150)
    >>> _check_dpi(0)
    Traceback (most recent call last):
    ...
    ValueError: --dpi must be a positive number of dots per inch, got 0
    """
    from ..report.resources import check_memory, figure_bytes

    if dpi is None or dpi <= 0:
        raise ValueError(f"--dpi must be a positive number of dots per inch, got {dpi}")
    w, h = LARGEST_FIGURE_IN
    check_memory(figure_bytes(w, h, dpi), "--dpi", f"a {w} x {h} inch figure at {dpi} dpi")
