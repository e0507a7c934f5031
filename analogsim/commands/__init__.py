"""Subcommands of the ``analogsim`` command line; each module has ``add_parser(subparsers)``.

``add_parser`` must call ``parser.set_defaults(func=run)`` where ``run(args) -> int`` returns the exit code.
Helpers shared by the commands live in :mod:`analogsim.commands._common`.
"""
