"""The ``analogsim`` command: one entry point, one module per subcommand in ``analogsim.cli``.

Conventions for every subcommand: ``--json`` prints one JSON object on stdout; logs and progress go to
stderr; exit codes: 0 success, 1 a check/verdict failed, 2 bad input (usage, config, file), 3 a run
diverged or crashed.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

# subcommand name -> module in analogsim.cli (imported lazily so `analogsim --help` is fast)
COMMANDS = {
    "relax": "relax",
    "train": "train",
    "sweep": "sweep",
    "bounds": "bounds",
    "check-stress": "check_stress",
    "plot": "plot",
    "validate": "validate",
    "machine": "machine",
}

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_RUNTIME = 0, 1, 2, 3

EPILOG = """examples:
  analogsim check-stress --plot stress.png          stress vs backprop across stiffness ratios
  analogsim relax --sizes 4,16,16,1 --kT 0.1 --json   Langevin relaxation with energy books
  analogsim train --data teacher --kappa-out 1e-3 --mu 100 --kT 1e-4 --json
                                                      stress-driven physical training (soft output clamp: fast path)
  analogsim machine erase --json                      relu state bits as double wells: reset work vs Eq. 5
  analogsim bounds table1 --markdown                  Table I recomputed with its assumptions
  analogsim sweep examples/loss_vs_T.toml             a sweep on all cores (resumable)
  analogsim validate --quick --out report             the validation report
"""


def build_parser(argv=None) -> argparse.ArgumentParser:
    """The ``analogsim`` argument parser, one subparser per entry of ``COMMANDS``.

    Subcommand modules are imported lazily: when ``argv`` (default ``sys.argv[1:]``) names a subcommand, only that
    one is imported
    (the others get a stub, so ``analogsim --help`` stays fast). A subcommand whose optional dependency is
    missing is listed as unavailable instead of breaking the others.

    Returns
    -------
    argparse.ArgumentParser
        The parser; its parsed namespace carries ``command`` and the subcommand's ``func``.

    Examples
    --------
    >>> parser = build_parser()
    >>> parser.prog
    'analogsim'
    >>> args = parser.parse_args(["bounds", "table1", "--json"])
    >>> args.command, callable(args.func)
    ('bounds', True)
    """
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="analogsim", description="Physical (analog) neural networks at temperature T.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"analogsim {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging on stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    argv = sys.argv[1:] if argv is None else list(argv)
    wanted = next((a for a in argv if a in COMMANDS), None)
    for name, mod in COMMANDS.items():
        if wanted is not None and name != wanted:
            sub.add_parser(name, help=_help_of(mod), add_help=False)
            continue
        try:
            module = importlib.import_module(f"analogsim.cli.{mod}")
        except ImportError as exc:  # a missing optional extra must not break the other commands
            p = sub.add_parser(name, help=f"(unavailable: {exc})")
            p.set_defaults(_unavailable=str(exc))
            continue
        module.add_parser(sub)
    return parser


def _help_of(mod: str) -> str:
    return ""


def main(argv=None) -> int:
    """Run the ``analogsim`` command line and return its exit code (never raises for a user error).

    Parameters
    ----------
    argv : list of str, optional
        The arguments after the program name; ``None`` reads ``sys.argv`` (left untouched either way).

    Returns
    -------
    int
        0 success, 1 a check or verdict failed, 2 bad input (usage, config, file), 3 a run diverged or could not
        finish its writes, 130 interrupted. Errors are one line on stderr, not a traceback.

    Examples
    --------
    Table I of the paper (energies in J, Landauer limit at kT = k_B T) as JSON on stdout:

    >>> import contextlib, io, json
    >>> out = io.StringIO()
    >>> with contextlib.redirect_stdout(out):
    ...     code = main(["bounds", "table1", "--json"])
    >>> code, "rows" in json.loads(out.getvalue())
    (0, True)

    No subcommand: the usage goes to stderr and the exit code is 2 (bad usage):

    >>> with contextlib.redirect_stderr(io.StringIO()):
    ...     main([])
    2
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING - 10 * min(args.verbose, 2), stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.verbose < 2:  # dask's INFO chatter drowns the command's own messages
        for name in ("distributed", "tornado", "asyncio"):
            logging.getLogger(name).setLevel(logging.WARNING if args.verbose else logging.ERROR)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    if getattr(args, "_unavailable", None):
        print(f"analogsim {args.command}: unavailable: {args._unavailable}", file=sys.stderr)
        return EXIT_USAGE
    from ..errors import CheckpointError, ConfigError, DivergenceError

    try:
        rc = int(args.func(args) or 0)
        sys.stdout.flush()  # a reader that has gone shows up here, not at interpreter exit
        return rc
    except BrokenPipeError:  # `analogsim ... | head`: the reader left; nothing to report
        try:  # point stdout at the null device so the interpreter's final flush is quiet too
            fd = os.open(os.devnull, os.O_WRONLY)
            os.dup2(fd, sys.stdout.fileno())
            os.close(fd)
        except (OSError, ValueError):
            pass
        return EXIT_OK
    except (ConfigError, CheckpointError) as exc:
        print(f"analogsim {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except DivergenceError as exc:
        cause = f"\n  cause and fix: {exc.cause}" if exc.cause and exc.cause not in str(exc) else ""
        print(f"analogsim {args.command}: diverged at step {exc.step}: {exc}{cause}", file=sys.stderr)
        return EXIT_RUNTIME
    except (ValueError, TypeError, FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError,
            ImportError) as exc:
        print(f"analogsim {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # a full disk, a read-only or vanished folder: the run could not finish its writes
        print(f"analogsim {args.command}: error: {exc} (what was saved before is intact: writes are atomic)",
              file=sys.stderr)
        return EXIT_RUNTIME
    except MemoryError as exc:  # an allocation no estimate foresaw: still a message, never a traceback
        print(f"analogsim {args.command}: error: out of memory ({exc}); lower the sizes or the number of replicas",
              file=sys.stderr)
        return EXIT_RUNTIME
    except KeyboardInterrupt:
        print(f"analogsim {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
