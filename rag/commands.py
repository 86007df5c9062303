"""What each ``rag`` subcommand does, once its settings are known.

The top of the core: may import every room of ``rag``; reaches the web chat
only through the ``newsrag.ui`` entry point, never by importing ``ui``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import textwrap
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.config import Settings, machine_cores
from rag.errors import ConfigError, InputError
from rag.serialize import answer_to_dict, document_to_dict, passage_to_dict, report_to_dict
from rag.types import (
    Answer,
    AnswerEvent,
    Article,
    DocumentInfo,
    ScoredPassage,
    SearchFilter,
    TokenEvent,
    Turn,
)

if TYPE_CHECKING:
    from rag.ingest.indexer import IndexReport
    from rag.service import RagService


def _service(settings: Settings) -> Any:
    """The service, imported on first use: ``rag.service`` brings every stage of answering
    (a third of a cold `rag list`), which `rag list` and `rag models` never use. Tests
    register fake models where the service finds its own (``tests.fakes``)."""
    from rag.service import RagService

    return RagService(settings)


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "models":
        return cmd_models(args, settings)
    if args.command == "list":
        return cmd_list(args, settings)
    service = _service(settings)
    handler = {
        "index": cmd_index,
        "remove": cmd_remove,
        "ask": cmd_ask,
        "search": cmd_search,
        "timeline": cmd_timeline,
        "chat": cmd_chat,
        "serve": cmd_serve,
        "feeds": cmd_feeds,
        "refresh": cmd_refresh,
    }[args.command]
    return handler(args, service)


def cmd_feeds(args: argparse.Namespace, service: RagService) -> int:
    from rag.feed_commands import cmd_feeds as run_feeds

    return run_feeds(args, service)


def cmd_refresh(args: argparse.Namespace, service: RagService) -> int:
    from rag.feed_commands import cmd_refresh as run_refresh

    return run_refresh(args, service)


def print_json(data: object) -> None:
    json.dump(data, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


def _err(message: str) -> None:
    print(message, file=sys.stderr)


def cmd_index(args: argparse.Namespace, service: RagService) -> int:
    if not args.paths and not args.remove:
        raise InputError("Name files or folders to index (or --remove IDS). See `rag index -h`.")
    status = 0
    if args.remove:
        _print_removed(service.remove(args.remove, recursive=args.recursive))
    if args.paths:
        if args.ray:
            from rag.ingest.distributed import RayOptions, index_with_ray

            options = RayOptions(
                address=args.ray,
                actors=args.ray_actors,
                cpus_per_actor=args.ray_cpus_per_actor,
                shard_dir=args.shard_dir,
            )
            report = index_with_ray(service, args.paths, options, rebuild=args.rebuild)
        elif any(p.strip().lower().startswith(("http://", "https://")) for p in args.paths):
            from rag.sources.web import index_sources

            report = index_sources(service, args.paths, rebuild=args.rebuild)
        else:
            report = service.index_paths(args.paths, rebuild=args.rebuild)
        if args.json:
            print_json(report_to_dict(report))
        else:
            _print_report(report, service.settings.index_dir)
        if report.problems:
            # Scripts learn that something was left out; the rest is indexed.
            status = 1
            if not args.json:
                _err(
                    f"{len(report.problems):,} input(s) skipped (listed above); the rest is "
                    "indexed. Fix them and run `rag index` again: articles already indexed "
                    "are not embedded twice."
                )
    return status


# Skipped inputs listed one a line; past these, a count (a file of 100,000 bad lines).
SHOWN_PROBLEMS = 20


def _print_report(r: IndexReport, index_dir: Path) -> None:
    for p in r.problems[:SHOWN_PROBLEMS]:
        _err(f"skipped {p.origin}: {p.message}")
    if len(r.problems) > SHOWN_PROBLEMS:
        _err(
            f"... and {len(r.problems) - SHOWN_PROBLEMS:,} more skipped "
            "(`rag index --json` lists every one)."
        )
    if r.removed:
        _err(f"--rebuild: the {r.removed} article(s) indexed before were dropped.")
    rate = f" ({r.chunks_per_second:.0f} chunks/s)" if r.chunks_embedded else ""
    _err(
        f"Indexed into {index_dir}: {r.added} new, {r.unchanged} unchanged, "
        f"{r.replaced} replaced article(s); {r.chunks_embedded} chunks embedded{rate}; "
        f"{r.n_documents} articles, {r.n_chunks} chunks in all; {r.seconds:.1f}s."
    )


def cmd_remove(args: argparse.Namespace, service: RagService) -> int:
    _print_removed(service.remove(args.selectors, recursive=args.recursive))
    return 0


def _print_removed(removed: list[Article]) -> None:
    _err(f"Removed {len(removed)} article(s):")
    for article in removed:
        _err(f"  {article.doc_id}  {article.title}")


def list_documents(settings: Settings) -> list[DocumentInfo]:
    """The indexed articles, read without the service: no model, FAISS or BM25 library.

    Listing reads no vector, so it lists an index whatever embedder made it (a search
    with another embedder is refused).
    """
    from index.store import IndexStore

    return IndexStore(settings.index_dir).load(vectors=False).document_infos()


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    infos = list_documents(settings)
    if args.json:
        print_json([document_to_dict(i) for i in infos])
        return 0
    if not infos:
        _err("The index is empty. Add articles with `rag index PATH...`.")
        return 0
    print(f"{'ID':<16}  {'DATE':<10}  {'CHUNKS':>6}  {'SOURCE':<24}  TITLE")
    for i in infos:
        a = i.article
        source = (a.source or "-")[:24]
        print(f"{a.doc_id:<16}  {a.date or '-':<10}  {i.n_chunks:>6}  {source:<24}  {a.title}")
    print(f"{len(infos)} articles, {sum(i.n_chunks for i in infos)} chunks")
    return 0


def search_filter(args: argparse.Namespace) -> SearchFilter:
    """The --since/--until/--source flags as a filter, the dates checked."""
    from rag.search.query import make_filter

    return make_filter(args.since, args.until, args.source)


def as_of(args: argparse.Namespace) -> datetime.date | None:
    from rag.search.query import parse_day

    return parse_day(args.as_of, "--as-of")


def cmd_search(args: argparse.Namespace, service: RagService) -> int:
    passages = service.search(args.question, where=search_filter(args), as_of=as_of(args))
    if args.json:
        print_json([passage_to_dict(p, explain=args.explain) for p in passages])
        return 0
    for p in passages:
        close = p.similarity if p.similarity is not None else p.score
        print(f"[{p.rank}] {close:.3f}  {p.title} ({_meta(p.source, p.date)})")
        if args.explain:
            print(f"    {_explained(p)}")
        print(textwrap.indent(textwrap.fill(p.text, 96), "    "))
        print()
    return 0


def cmd_timeline(args: argparse.Namespace, service: RagService) -> int:
    from rag.timeline import format_timeline, timeline_to_dict

    timeline = service.timeline(
        args.topic, since=args.since, until=args.until, rewrite=args.rewrite
    )
    if args.json:
        print_json(timeline_to_dict(timeline))
    else:
        print(format_timeline(timeline))
    return 0


def _explained(p: ScoredPassage) -> str:
    """One line: why ``p`` ranks where it does."""
    r = p.reasons
    if r is None:
        return f"score {p.score:.4f}"

    def place(rank: int | None) -> str:
        return f"#{rank}" if rank is not None else "-"

    rare = f"  rare terms: {', '.join(r.rare_terms)}" if r.rare_terms else ""
    return (
        f"bm25 {place(r.bm25_rank)}  dense {place(r.dense_rank)}  fused {r.fused:.4f}  "
        f"date bonus {r.date_bonus:+.4f}  score {p.score:.4f}{rare}"
    )


def _meta(source: str | None, date: str | None) -> str:
    return ", ".join(x for x in (source, date) if x) or "no source"


def _stream_answer(
    service: RagService,
    question: str,
    history: list[Turn],
    where: SearchFilter,
    day: datetime.date | None = None,
) -> Answer:
    """Print the answer as it is written, then the checked version if it differs."""
    answer: Answer | None = None
    written = []
    for event in service.ask_stream(question, history=history, where=where, as_of=day):
        if isinstance(event, TokenEvent):
            written.append(event.text)
            sys.stdout.write(event.text)
            sys.stdout.flush()
        elif isinstance(event, AnswerEvent):
            answer = event.answer
    assert answer is not None
    sys.stdout.write("\n")
    if not written:
        print(answer.text)
    elif " ".join("".join(written).split()) != answer.text:
        print(f"Checked: {answer.text}")
    return answer


def _print_sources(answer: Answer) -> None:
    if answer.abstained:
        if answer.reason:
            print(f"({answer.reason})")
        if answer.unsupported:
            print("Left out, no passage supports it: " + " | ".join(answer.unsupported))
        print("Closest passages:")
        for p in answer.passages[:3]:
            print(f"  - {p.title} ({_meta(p.source, p.date)}): {textwrap.shorten(p.text, 160)}")
        return
    if answer.quoted:
        print("(the model's answer could not be checked; quoting the closest sentence)")
    if answer.unsupported:
        print("Left out, no passage supports it: " + " | ".join(answer.unsupported))
    if answer.citations:
        print("\nSources:")
    for c in answer.citations:
        p = c.passage
        print(f"[{c.marker}] {p.title} ({_meta(p.source, p.date)})")
        print(textwrap.indent(textwrap.fill(c.text, 96), "    "))


def cmd_ask(args: argparse.Namespace, service: RagService) -> int:
    if args.json:
        answer = service.ask(args.question, where=search_filter(args), as_of=as_of(args))
        print_json(answer_to_dict(answer))
        return 0
    answer = _stream_answer(service, args.question, [], search_filter(args), as_of(args))
    _print_sources(answer)
    return 0


def cmd_chat(args: argparse.Namespace, service: RagService) -> int:
    service.warm_up()
    print("Ask about the indexed articles. /new starts over, /quit or Ctrl-D leaves.")
    history: list[Turn] = []
    while True:
        try:
            question = input("\nyou> ").strip()
        except EOFError:
            print()
            return 0
        if question in {"/quit", "/exit"}:
            return 0
        if question == "/new":
            history.clear()
            print("(new conversation)")
            continue
        if not question:
            continue
        try:
            sys.stdout.write("rag> ")
            answer = _stream_answer(service, question, history, search_filter(args), as_of(args))
        except InputError as err:
            print(f"rag: {err}", file=sys.stderr)
            continue
        _print_sources(answer)
        history.append(Turn.of(answer))


def _print_backend(settings: Settings, *, again: bool = False) -> None:
    """Which embedding backend runs here, and what each measured (measured now: ``again``)."""
    from rag.embed import backend_choice

    if settings.embed_backend != "auto":
        print(f"Embedding backend: {settings.embed_backend} (set by embed_backend).")
        return
    choice = backend_choice(settings, measure=again, again=again)
    if choice is None:
        print("Embedding backend: auto, not measured on this CPU yet (the first indexing does).")
        return
    print(f"Embedding backend: {choice.backend}, measured on this CPU: {choice.summary()}.")


def _print_model_pick(settings: Settings, *, again: bool = False) -> None:
    """Which language model answers here, and why (``auto`` times packs once per machine,
    or now: ``again``)."""
    from rag.answer.pick import AUTO, pick_model

    model = (settings.model or "").strip()
    if model and model.lower() != AUTO:
        print(f"Answering model: {model} (set by --model / RAG_MODEL).")
        return
    pick = pick_model(settings.answer_budget, settings.threads or machine_cores(), again=again)
    print(f"Answering model: auto picks {pick.pack}: {pick.reason}.")
    for speed in pick.speeds:
        print(f"  measured here: {speed.summary()}")


def cmd_models(args: argparse.Namespace, settings: Settings) -> int:
    from rag import packs as shared
    from rag.answer import packs
    from rag.embed import packs as embedder_packs

    if args.action == "list":
        rows = packs.describe() + embedder_packs.describe()
        if args.json:
            print_json(rows)
            return 0
        print(f"{'NAME':<20} {'KIND':<9} {'INSTALLED':<9} {'SIZE':>7}  {'LICENCE':<18} TITLE")
        for r in rows:
            mark = " (default)" if r["default"] else ""
            installed = "yes" if r["installed"] else "no"
            kind = "embedder" if r["kind"] == "embedder" else "language"
            print(
                f"{r['name']:<20} {kind:<9} {installed:<9} {r['size_mb']:>4} MB  "
                f"{r['licence']:<18} {r['title']}{mark}"
            )
            if r["measured"]:
                print(f"{'':<20} measured: {r['measured']}")
        _print_model_pick(settings)
        _print_backend(settings)
        print(
            "Install one with `rag models install NAME`; use a language model with --model NAME, "
            "an embedder with --embedder NAME."
        )
        return 0
    if args.action == "measure":
        _err(
            "Timing the installed language packs and the embedding backends on this CPU now; "
            "keep the machine otherwise idle for a true figure."
        )
        _print_model_pick(settings, again=True)
        _print_backend(settings, again=True)
        return 0
    if not args.name or not args.name.strip():
        raise InputError(f"Name a model pack: `rag models {args.action} NAME` (see `rag models`).")
    pack = packs.find_pack(args.name) or embedder_packs.find_pack(args.name)
    if pack is None:
        known = [*packs.PACKS, *embedder_packs.EMBEDDER_PACKS]
        raise InputError(f"No model pack is called {args.name!r}; known packs: {', '.join(known)}.")
    if args.action == "install":
        _err("Running: " + " ".join(shared.install_command(pack)))
        status = shared.install(pack)
        if status != 0:
            _err(f"pip failed (exit {status}); nothing else was changed.")
            return 1
    if isinstance(pack, packs.ModelPack):
        print(packs.resolve_pack(pack))
    else:
        print(pack.resolve())
    return 0


def web_ui() -> Callable[..., Callable[[], None]]:
    """The server's ``start``, found through the ``newsrag.ui`` entry point named ``web``.

    The UI lives above the core (``ui/``), so the core reaches it the way it
    reaches ``rag eval``: by the name the package registers, never by import.
    """
    for entry in entry_points(group="newsrag.ui", name="web"):
        return entry.load()
    raise ConfigError(
        "The web chat is not installed (no `newsrag.ui` entry point named `web`). "
        "Reinstall newsrag: `pip install .` (or `make install`)."
    )


def cmd_serve(args: argparse.Namespace, service: RagService) -> int:
    examples: list[str] = []
    if args.examples:
        path = Path(args.examples)
        if not path.is_file():
            raise InputError(f"Examples file {path} does not exist.")
        examples = [q.strip() for q in path.read_text(encoding="utf-8").splitlines() if q.strip()]
    settings = service.settings
    # Refuses an exposed address without a key or password before the models load.
    run_server = web_ui()(
        service,
        share=args.share,
        password=settings.password,
        api_key=settings.api_key,
        cors_origins=tuple(args.cors_origin),
        queue_size=args.queue_size,
        examples=examples,
    )
    if args.refresh_every:  # first, so a bad interval is refused before the models load
        from rag.feed_commands import refresh_in_background

        refresh_in_background(service, args.refresh_every)
    service.warm_up()
    try:  # the server says where it serves once its port is bound
        run_server()
    except OSError as err:
        raise InputError(
            f"Cannot serve on {settings.host}:{settings.port} ({err}). "
            "Is another server using that port? Pick one with --port."
        ) from None
    return 0
