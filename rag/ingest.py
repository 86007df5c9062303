"""Read article files: plain text, Markdown, HTML and JSON Lines.

A file that cannot be read becomes a ``LoadProblem`` and the run goes on; only
a path that does not exist at all stops it, since that is a typo to fix first.
"""

from __future__ import annotations

import codecs
import json
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from rag.errors import InputError
from rag.types import LoadProblem, RawDocument

log = logging.getLogger(__name__)

TEXT_SUFFIXES = frozenset({".txt", ".md", ".markdown"})
HTML_SUFFIXES = frozenset({".html", ".htm"})
JSONL_SUFFIXES = frozenset({".jsonl"})
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | JSONL_SUFFIXES
MAX_BYTES = 50_000_000


def iter_files(paths: Sequence[str | os.PathLike[str]]) -> Iterator[tuple[Path, bool]]:
    """Files under ``paths`` in a stable order, each with whether it was named explicitly."""
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists():
            raise InputError(f"{path} does not exist. Check the path and try again.")
        if path.is_file():
            yield path.resolve(), True
            continue
        for root, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                if not name.startswith("."):
                    yield (Path(root) / name).resolve(), False


def decode(data: bytes) -> str | None:
    """Text from bytes: UTF-8 (BOM or not), UTF-16/32 with a BOM, else Windows-1252.

    Returns None for data that looks binary.
    """
    for bom, encoding in (
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError:
                return None
    if b"\x00" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        log.debug("not UTF-8; reading as Windows-1252")
        return data.decode("cp1252", errors="replace")


def load_documents(
    paths: Sequence[str | os.PathLike[str]], *, max_bytes: int = MAX_BYTES
) -> tuple[list[RawDocument], list[LoadProblem]]:
    documents: list[RawDocument] = []
    problems: list[LoadProblem] = []
    for path, explicit in iter_files(paths):
        suffix = path.suffix.lower()
        if suffix not in SUPPORTED_SUFFIXES:
            if explicit:
                problems.append(
                    LoadProblem(
                        str(path),
                        f"unsupported file type {suffix or '(none)'}; "
                        f"use {', '.join(sorted(SUPPORTED_SUFFIXES))}",
                    )
                )
            else:
                log.debug("skipping %s: unsupported type", path)
            continue
        docs, file_problems = load_file(path, max_bytes=max_bytes)
        documents.extend(docs)
        problems.extend(file_problems)
    return documents, problems


def load_file(
    path: Path, *, max_bytes: int = MAX_BYTES
) -> tuple[list[RawDocument], list[LoadProblem]]:
    origin = str(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            message = f"file is {size:,} bytes; the limit is {max_bytes:,}. Split it up."
            return [], [LoadProblem(origin, message)]
        data = path.read_bytes()
    except OSError as exc:
        return [], [LoadProblem(origin, f"cannot be read: {exc.strerror or exc}")]
    text = decode(data)
    if text is None:
        return [], [
            LoadProblem(origin, "looks like a binary file, not text; save it as UTF-8 text")
        ]
    if not text.strip():
        return [], [LoadProblem(origin, "empty file")]
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        return parse_jsonl(text, origin)
    if suffix in HTML_SUFFIXES:
        doc = parse_html(text, origin)
        if doc is None:
            return [], [LoadProblem(origin, "no article text found in the HTML")]
        return [doc], []
    return [RawDocument(text=text, origin=origin)], []


def _optional_str(record: dict[str, object], key: str) -> str | None:
    value = record.get(key)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def parse_jsonl(text: str, origin: str) -> tuple[list[RawDocument], list[LoadProblem]]:
    documents: list[RawDocument] = []
    problems: list[LoadProblem] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{origin}:{line_no}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(LoadProblem(where, f"not valid JSON ({exc.msg})"))
            continue
        if not isinstance(record, dict):
            problems.append(LoadProblem(where, "each line must be a JSON object"))
            continue
        body = record.get("text")
        if not isinstance(body, str) or not body.strip():
            problems.append(LoadProblem(where, 'the "text" field is missing or empty'))
            continue
        external_id = _optional_str(record, "id")
        # An id keeps the origin stable when other lines of the file change.
        doc_origin = f"{origin}#id={external_id}" if external_id else f"{origin}#{line_no}"
        documents.append(
            RawDocument(
                text=body,
                origin=doc_origin,
                title=_optional_str(record, "title"),
                date=_optional_str(record, "date"),
                source=_optional_str(record, "source"),
                url=_optional_str(record, "url"),
                external_id=external_id,
            )
        )
    return documents, problems


def parse_html(html: str, origin: str) -> RawDocument | None:
    """The main text of a web page, without scripts, styles, navigation or footers."""
    import trafilatura

    try:
        result = trafilatura.bare_extraction(
            html,
            with_metadata=True,
            include_comments=False,
            include_tables=False,
            favor_precision=True,
        )
    except Exception as exc:  # trafilatura raises from deep in lxml on odd markup
        log.debug("trafilatura failed on %s: %s", origin, exc)
        result = None
    data = result.as_dict() if hasattr(result, "as_dict") else (result or {})
    body = (data.get("text") or "").strip()
    if not body:
        body = _visible_text(html)
    if not body:
        return None
    return RawDocument(
        text=body,
        origin=origin,
        title=data.get("title") or None,
        date=data.get("date") or None,
        source=data.get("sitename") or None,
        url=data.get("url") or None,
    )


def _visible_text(html: str) -> str:
    """Fallback: all text outside script, style and page chrome."""
    from lxml import html as lxml_html

    try:
        tree = lxml_html.fromstring(html)
    except Exception:  # lxml rejects empty or pathological documents
        return ""
    for bad in tree.xpath("//script|//style|//noscript|//nav|//footer|//header|//aside"):
        bad.drop_tree()
    lines = (" ".join(t.split()) for t in tree.itertext())
    return "\n".join(line for line in lines if line)
