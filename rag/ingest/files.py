"""Read article files: plain text, Markdown, HTML, JSON Lines and PDF (``rag.ingest.pdf``).

A file that cannot be read becomes a ``LoadProblem`` and the run goes on; only
a path that does not exist at all stops it, since that is a typo to fix first.
"""

from __future__ import annotations

import codecs
import errno
import json
import logging
import os
import stat
from collections.abc import Callable, Iterator, Sequence
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from rag.errors import InputError
from rag.ingest.clean import parse_date
from rag.ingest.filetypes import (
    HTML_SUFFIXES,
    JSONL_SUFFIXES,
    PDF_SUFFIXES,
    SUPPORTED_SUFFIXES,
)
from rag.ingest.pdf import read_pdf
from rag.text.codepoints import valid_unicode
from rag.types import LoadProblem, RawDocument

log = logging.getLogger(__name__)

MAX_BYTES = 50_000_000


def iter_files(
    paths: Sequence[str | os.PathLike[str]], problems: list[LoadProblem] | None = None
) -> Iterator[tuple[Path, bool]]:
    """Files under ``paths`` in a stable order, each with whether it was named explicitly.

    Symbolic links to folders are not followed (a link back up the tree would
    loop). A folder that cannot be listed is added to ``problems`` when given.
    Anything that is not a folder is yielded, FIFOs and devices included:
    ``load_file`` skips what is not a regular file without opening it.
    """
    for raw in paths:
        if not str(raw).strip():
            raise InputError("An empty path was given. Name the files or folders to index.")
        path = Path(raw).expanduser()
        try:
            path.stat()
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise InputError(f"{path} is a symbolic link that points to itself.") from None
            if exc.errno == errno.ENOENT:
                raise InputError(f"{path} does not exist. Check the path and try again.") from None
            raise InputError(f"{path} cannot be read ({exc.strerror}).") from None
        if not path.is_dir():
            yield _resolved(path), True
            continue

        for root, dirs, files in os.walk(path, onerror=_listing_problem(path, problems)):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                if not name.startswith("."):
                    yield _resolved(Path(root) / name), False


def path_text(path: str | os.PathLike[str]) -> str:
    """A path as newsrag stores and prints it: valid UTF-8 whatever bytes its name holds.

    Linux allows any bytes in a name; Python keeps those that are not UTF-8 as
    lone surrogates, which no UTF-8 file can hold. They are written as ``\\xNN``,
    the same way every time, so the file is indexed, found again and removable.
    """
    text = os.fspath(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(text).decode("utf-8", "backslashreplace")
    return text


def _listing_problem(folder: Path, problems: list[LoadProblem] | None) -> Callable[[OSError], None]:
    """``os.walk``'s error handler: a folder it cannot list becomes a problem, not silence."""

    def unreadable(exc: OSError) -> None:
        if problems is not None:
            where = exc.filename or str(folder)
            problems.append(LoadProblem(path_text(where), f"cannot be listed: {exc.strerror}"))

    return unreadable


def _resolved(path: Path) -> Path:
    """The absolute path with links resolved; a link loop stays as named (and is reported)."""
    try:
        return path.resolve(strict=True)
    except (OSError, RuntimeError):  # a loop, or a link to nothing
        return path.absolute()


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


def unsupported_type(path: Path) -> str | None:
    """Why ``path`` is not read as an article ("unsupported file type ..."), or None if it is.

    The one check of file types: the loader, the Ray lister and web uploads use it.
    """
    suffix = path.suffix.lower()
    if suffix in SUPPORTED_SUFFIXES:
        return None
    kinds = ", ".join(sorted(SUPPORTED_SUFFIXES))
    return f"unsupported file type {suffix or '(none)'}; use {kinds}"


def load_documents(
    paths: Sequence[str | os.PathLike[str]], *, max_bytes: int = MAX_BYTES
) -> tuple[list[RawDocument], list[LoadProblem]]:
    documents: list[RawDocument] = []
    problems: list[LoadProblem] = []
    for path, explicit in iter_files(paths, problems):
        unsupported = unsupported_type(path)
        if unsupported:
            special = _special_file(path)  # a FIFO or a link loop is worth a line either way
            if special:
                problems.append(LoadProblem(path_text(path), special))
            elif explicit:
                problems.append(LoadProblem(path_text(path), unsupported))
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
    origin = path_text(path)
    if origin != str(path):
        log.warning("%s: the file name is not valid UTF-8; stored as written here", origin)
    try:
        data = _read_regular_file(path, max_bytes)
    except _NotAnArticle as exc:
        return [], [LoadProblem(origin, str(exc))]
    except OSError as exc:
        return [], [LoadProblem(origin, f"cannot be read: {_os_reason(exc)}")]
    if path.suffix.lower() in PDF_SUFFIXES:
        doc, problem = read_pdf(data, origin)
        return ([doc] if doc else []), ([problem] if problem else [])
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


class _NotAnArticle(Exception):
    """A path that is not a regular file of an acceptable size; the message says why."""


_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def _check_regular(mode: int) -> None:
    if stat.S_ISREG(mode):
        return
    kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
    raise _NotAnArticle(f"is {kind}, not a file of text; skipped")


def _read_regular_file(path: Path, max_bytes: int) -> bytes:
    """The bytes of a regular file; anything else is refused before it is opened.

    Opening a FIFO for reading blocks until a writer appears, forever in a
    folder nobody writes to; a device can stream without end. The kind is
    checked with ``stat`` first, and checked again on the open descriptor
    (opened non-blocking), in case the path was swapped in between.
    """
    _check_regular(os.stat(path).st_mode)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        _check_regular(info.st_mode)
        if info.st_size > max_bytes:
            raise _NotAnArticle(
                f"file is {info.st_size:,} bytes; the limit is {max_bytes:,}. Split it up."
            )
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read(max_bytes + 1)[: max_bytes + 1]
    finally:
        os.close(fd)


def _special_file(path: Path) -> str | None:
    """Why a file found in a folder is no file at all (a FIFO, a link loop), or None."""
    try:
        _check_regular(os.stat(path).st_mode)
    except _NotAnArticle as exc:
        return str(exc)
    except OSError as exc:
        return f"cannot be read: {_os_reason(exc)}"
    return None


def _os_reason(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "it is a symbolic link loop"
    if exc.errno == errno.ENOENT:
        return "it vanished, or is a link to nothing"
    return exc.strerror or str(exc)


def _optional_str(record: dict[str, object], key: str) -> str | None:
    value = record.get(key)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _valid_strings(record: dict[str, Any]) -> dict[str, Any]:
    return {k: valid_unicode(v) if isinstance(v, str) else v for k, v in record.items()}


def parse_jsonl(text: str, origin: str) -> tuple[list[RawDocument], list[LoadProblem]]:
    documents: list[RawDocument] = []
    problems: list[LoadProblem] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{origin}:{line_no}"
        try:
            # A JSON escape can name a lone surrogate ("\\ud800"); the record is made valid here.
            record = json.loads(line, object_hook=_valid_strings)
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
        date = _optional_str(record, "date")
        if date is not None and parse_date(date) is None:
            problems.append(
                LoadProblem(
                    where,
                    f'the "date" {date!r} is not a real day; write it as YYYY-MM-DD '
                    "(e.g. 2020-02-29) or leave the field out",
                )
            )
            continue
        external_id = _optional_str(record, "id")
        # An id keeps the origin stable when other lines of the file change.
        doc_origin = f"{origin}#id={external_id}" if external_id else f"{origin}#{line_no}"
        documents.append(
            RawDocument(
                text=body,
                origin=doc_origin,
                title=_optional_str(record, "title"),
                date=date,
                source=_optional_str(record, "source"),
                url=_optional_str(record, "url"),
                external_id=external_id,
            )
        )
    return documents, problems


def parse_html(html: str, origin: str) -> RawDocument | None:
    """The main text of a web page, without scripts, styles, navigation or footers.

    Markup nested deeper than the HTML parser goes (libxml2 stops at 256
    elements, 2048 with ``huge_tree``) would lose everything below that depth
    and after it, silently. Such a page is read whole by Python's own parser
    instead, with a warning: all its text is kept, boilerplate included.
    """
    import trafilatura

    tree = _parse_tree(html)
    if tree is not None and _too_deep(tree):
        log.warning(
            "%s: markup nested over %d elements deep; read whole, page furniture included",
            origin,
            _MAX_DEPTH,
        )
        body = _all_visible_text(html)
        return RawDocument(text=body, origin=origin) if body else None
    try:
        result = trafilatura.bare_extraction(
            tree if tree is not None else html,
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
        body = _visible_text(_parse_tree(html))  # trafilatura may have pruned the tree
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


# libxml2's deepest element with huge_tree; a tree that reaches it may have lost text.
_MAX_DEPTH = 2048
_SKIPPED = frozenset({"script", "style", "noscript", "nav", "footer", "header", "aside"})


def _parse_tree(html: str) -> Any:
    from lxml import html as lxml_html

    try:
        return lxml_html.fromstring(html, parser=lxml_html.HTMLParser(huge_tree=True))
    except Exception:  # lxml rejects empty or pathological documents
        return None


def _too_deep(tree: Any) -> bool:
    from lxml import etree

    depth = 0
    for event, _ in etree.iterwalk(tree, events=("start", "end")):
        depth += 1 if event == "start" else -1
        if depth >= _MAX_DEPTH - 8:
            return True
    return False


def _visible_text(tree: Any) -> str:
    """Fallback: all text outside script, style and page chrome."""
    if tree is None:
        return ""
    for bad in tree.xpath("//script|//style|//noscript|//nav|//footer|//header|//aside"):
        bad.drop_tree()
    lines = (" ".join(t.split()) for t in tree.itertext())
    return "\n".join(line for line in lines if line)


class _TextCollector(HTMLParser):
    """Text outside script, style and page chrome, at any depth (no tree is built)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in _SKIPPED:
            self._skipping += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED and self._skipping:
            self._skipping -= 1

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            line = " ".join(data.split())
            if line:
                self.parts.append(line)


def _all_visible_text(html: str) -> str:
    collector = _TextCollector()
    collector.feed(html)
    collector.close()
    return "\n".join(collector.parts)
