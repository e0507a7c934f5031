"""The ``analogsim`` command line: :func:`~.main.main` and one module per subcommand.

Each subcommand module has ``add_parser(subparsers)``, which must call ``parser.set_defaults(func=run)``
where ``run(args) -> int`` returns the exit code. Helpers shared by the commands live in
:mod:`analogsim.cli._common`.
"""

from .main import COMMANDS, EPILOG, EXIT_FAILED, EXIT_OK, EXIT_RUNTIME, EXIT_USAGE, build_parser, main

__all__ = ["main", "build_parser", "COMMANDS", "EPILOG", "EXIT_OK", "EXIT_FAILED", "EXIT_USAGE", "EXIT_RUNTIME"]
