"""What the measuring scripts share: a `rag` subcommand and a `python -m` entry point."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from rag.cli import configure_logging, set_offline

AddArguments = Callable[[argparse.ArgumentParser], None]
Run = Callable[[argparse.Namespace], int]


def subcommand(name: str, description: str, add_arguments: AddArguments, run: Run):
    """A ``newsrag.commands`` entry point adding ``rag NAME``."""

    def register(subparsers: argparse._SubParsersAction) -> None:
        parser = subparsers.add_parser(name, help=description.lower().rstrip("."))
        add_arguments(parser)
        parser.set_defaults(plugin=run)

    return register


def script_main(
    prog: str, description: str, add_arguments: AddArguments, run: Run, argv: Sequence[str] | None
) -> int:
    """Run a measuring script offline, logging at INFO with ``-v``."""
    set_offline()
    parser = argparse.ArgumentParser(prog=prog, description=description)
    add_arguments(parser)
    args = parser.parse_args(argv)
    configure_logging(verbose=args.verbose)
    return run(args)
