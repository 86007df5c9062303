"""What the measuring scripts share: a `rag` subcommand and a `python -m` entry point."""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Callable, Sequence

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
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    parser = argparse.ArgumentParser(prog=prog, description=description)
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    return run(args)
