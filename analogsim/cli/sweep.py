"""``analogsim sweep CONFIG``: run (or resume) a parameter sweep described by a TOML config."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from .main import EXIT_FAILED, EXIT_OK, EXIT_RUNTIME, EXIT_USAGE
from ._common import add_progress_flags, emit_json

log = logging.getLogger("analogsim.sweeps")

EXAMPLES = """examples:
  analogsim sweep examples/stress_vs_kappa.toml                 all local cores, results/stress_vs_kappa/
  analogsim sweep examples/loss_vs_T.toml --out runs/T --workers 8
  analogsim sweep examples/loss_vs_T.toml --dask-local 4        a Dask LocalCluster with 4 workers
  analogsim sweep examples/loss_vs_T.toml --scheduler tcp://10.0.0.5:8786 --json
  analogsim sweep examples/loss_vs_T.toml --dry-run             list the points, run nothing

Re-running the same command resumes: finished points are skipped. Results:
  python -c 'import xarray; print(xarray.open_dataset("results/loss_vs_T/results.nc"))'
exit codes: 0 all points ok, 1 some points failed or flagged (finished, but the physics went wrong),
2 bad input (config, folder, scheduler), 3 crash.
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "sweep", help="run a parameter sweep from a TOML config (resumable; local pool or Dask)",
        description="Run every point of the sweep grid in CONFIG as an independent seeded task, write each "
                    "finished point at once to OUT/points/, and consolidate OUT/results.nc (xarray/netCDF).",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", metavar="CONFIG", help="experiment config (TOML); see docs/sweeps.md")
    p.add_argument("--out", metavar="DIR", help="results folder (default: results/<experiment name>)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDR", help="run on a running Dask cluster, e.g. tcp://host:8786")
    where.add_argument("--dask-local", type=_positive, metavar="N", help="start a Dask LocalCluster with N workers")
    where.add_argument("--workers", type=_positive, metavar="N",
                       help="local process pool size (default: all cores)")
    p.add_argument("--retries", type=_non_negative, default=1, metavar="K",
                   help="extra attempts for a point that raised or lost its worker (default 1)")
    p.add_argument("--keep-failed", action="store_true",
                   help="on resume, keep points recorded as failed instead of running them again")
    p.add_argument("--connect-timeout", type=_seconds, default=5.0, metavar="S",
                   help="seconds to wait for a Dask scheduler (default 5)")
    p.add_argument("--dry-run", action="store_true",
                   help="validate, list the points and what is done, estimate memory and time; run nothing")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    add_progress_flags(p)
    p.set_defaults(func=run)
    return p


def _positive(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        v = 0
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return v


def _seconds(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        v = float("nan")
    if not 0 < v < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return v


def _non_negative(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        v = -1
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return v


def run(args) -> int:
    try:
        return _flushed(_run(args))
    except BrokenPipeError:  # `analogsim sweep ... | head`: the reader left; nothing to report
        return _reader_left()


def _flushed(rc: int) -> int:
    """Flush stdout now, so that a reader who left (``| head``) is seen here and not as an
    'Exception ignored ... Broken pipe' line when the interpreter flushes at exit."""
    sys.stdout.flush()
    return rc


def _reader_left() -> int:
    """Point stdout at the null device (what is still buffered goes nowhere) and end quietly, exit 0."""
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, sys.stdout.fileno())
        os.close(fd)
    except (OSError, ValueError, AttributeError):  # no real file behind stdout (captured): nothing to silence
        pass
    return EXIT_OK


def _run(args) -> int:
    from ..sweeps import SchedulerUnreachable, prepare, run_sweep

    if args.dry_run:
        return _dry_run(args, prepare)
    if getattr(args, "verbose", 0) < 2:  # Dask logs its cluster's life at INFO; keep stderr for what matters
        logging.getLogger("distributed").setLevel(logging.WARNING)

    from ..report.progress import Progress

    def bar(total, initial):
        return Progress(total=total, initial=initial, desc="sweep", unit="points",
                        enabled=args.progress is not False, compile_note=True)

    try:
        summary = run_sweep(args.config, args.out, workers=args.workers, scheduler=args.scheduler,
                            dask_local=args.dask_local, retries=args.retries, rerun_failed=not args.keep_failed,
                            connect_timeout=args.connect_timeout, progress=bar)
    except SchedulerUnreachable as exc:
        print(f"analogsim sweep: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (ValueError, TypeError, ImportError, FileNotFoundError, PermissionError, IsADirectoryError,
            NotADirectoryError):
        raise  # bad input (config, folder, arguments): the CLI reports it with exit code 2
    except Exception as exc:  # the run itself broke (disk full, backend lost, ...): finished points are kept
        log.debug("sweep crashed", exc_info=True)
        print(f"analogsim sweep: run failed: {type(exc).__name__}: {exc} (finished points are kept in the "
              f"results folder; run the same command again to resume)", file=sys.stderr)
        return EXIT_RUNTIME
    d = summary.to_dict()
    if args.json:
        emit_json(d)
    print(f"{summary.name}: {summary.n_ok}/{summary.n_points} points ok, {summary.n_flagged} flagged, "
          f"{summary.n_failed} failed, "
          f"{summary.n_skipped} already done, {summary.wall_s:.1f} s on {summary.backend}; "
          f"results: {summary.results}", file=sys.stderr)
    for f in summary.failed[:5]:
        print(f"  failed {f['coords']}: {f['error']}", file=sys.stderr)
    _report_health_and_energy(summary)
    return EXIT_FAILED if summary.n_failed or summary.n_flagged else EXIT_OK


def _report_health_and_energy(summary) -> None:
    """Flagged points (physics gone wrong, with cause and fix) and the mean energy four ways."""
    from ..sweeps.store import energy_summary, open_results

    for f in summary.flagged[:5]:
        print(f"  FLAGGED {f['coords']}: {f['error']}", file=sys.stderr)
    if summary.n_flagged:
        print(f"  {summary.n_flagged} flagged point(s) are left out of `analogsim plot` fits "
              "(--include-flagged keeps them); see docs/sweeps.md", file=sys.stderr)
    try:
        line = energy_summary(open_results(summary.results))
    except Exception:  # the summary line is a courtesy: never fail a finished sweep over it
        line = None
    if line:
        print(f"  {line}", file=sys.stderr)


def _dry_run(args, prepare) -> int:
    from ..report.progress import format_seconds
    from ..report.resources import format_bytes
    from ..sweeps.backends import _cpu_count
    from ..sweeps.runner import estimate_points

    config, spec, store, resuming = prepare(args.config, args.out)
    points = config.points()
    done = store.finished(points, include_failed=True) if resuming else {}
    todo = [p for p in points if done.get(p.key, {}).get("status") != "ok"]
    est = estimate_points(config, todo)
    workers = args.workers or (args.dask_local if args.dask_local else _cpu_count())
    info = {"name": config.name, "kind": config.kind, "out": str(store.path), "config_hash": config.hash,
            "axes": config.axes, "n_points": len(points), "n_done": sum(r["status"] == "ok" for r in done.values()),
            "n_failed": sum(r["status"] == "failed" for r in done.values()), "resuming": resuming,
            "estimate": {"compute_s": est["seconds"], "workers": workers,
                         "wall_s": est["seconds"] / max(1, min(workers, max(1, len(todo)))),
                         "max_point_bytes": est["max_bytes"], "available_bytes": est["available_bytes"],
                         "too_big": [p.index for p, *_ in est["too_big"]],
                         "note": "lower bounds from the sizes; numba's first-call compilation (up to ~1 min per "
                                 "worker) not included"}}
    big = {p.key for p, *_ in est["too_big"]}
    if args.json:
        emit_json(info)
    else:
        e = info["estimate"]
        print(f"{config.name}: kind {config.kind!r}, {len(points)} points over "
              + " x ".join(f"{k}[{len(v)}]" for k, v in config.axes.items())
              + f"; {info['n_done']} done, {info['n_failed']} failed; results folder {store.path}")
        if config.settings.get("graph") is not None:
            print("estimate: none for a [graph] network (the estimates know dense chains only)")
        else:
            print(f"estimate for the {len(todo)} point(s) to run: at least {format_seconds(e['compute_s'])} of "
                  "compute, "
                  f"~{format_seconds(e['wall_s'])} on {workers} worker(s) (plus first-call compilation); largest point "
                  f"{format_bytes(e['max_point_bytes'])} of memory"
                  + (f" of {format_bytes(e['available_bytes'])} available" if e["available_bytes"] else ""))
        for p in points[:20]:
            mark = {"ok": "done", "failed": "FAILED"}.get(done.get(p.key, {}).get("status"), "todo")
            if p.key in big:
                mark = "TOOBIG"
            print(f"  {p.index:5d} {mark:6s} {p.coords}")
        if len(points) > 20:
            print(f"  ... {len(points) - 20} more")
        if e["wall_s"] > 3600:
            print(f"warning: this sweep needs at least about {format_seconds(e['wall_s'])}", file=sys.stderr)
    if est["too_big"]:
        p, _, nbytes, setting = est["too_big"][0]
        print(f"analogsim sweep: error: {len(est['too_big'])} point(s) cannot fit in memory, e.g. point {p.index} "
              f"{p.coords}: {setting} needs about {format_bytes(nbytes)}"
              + (f", {format_bytes(est['available_bytes'])} available" if est["available_bytes"] else ""),
              file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK
