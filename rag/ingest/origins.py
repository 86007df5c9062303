"""Articles by where they came from: merging a run's articles into the index's, and
choosing articles by the file or id a user names.

An origin is a file path, ``path#line`` for a line of a JSONL file, or a URL.
Pure functions over articles: nothing here reads or writes an index.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace

from rag.errors import InputError
from rag.ingest.files import path_text
from rag.types import Article


def origin_file(origin: str) -> str:
    """The file an origin names (``path#line`` is a line of ``path``)."""
    return origin.split("#", 1)[0]


@dataclass(frozen=True)
class OriginMerge:
    """The articles of the next generation, and how they differ from the last one's."""

    documents: dict[str, Article]
    added: int
    unchanged: int
    replaced: int


def merge_by_origin(
    old: Mapping[str, Article], articles: Sequence[Article], retract: Collection[str] = ()
) -> OriginMerge:
    """``old`` brought up to date with ``articles``, read this run.

    A file read this run replaces whatever its origins pointed at before, and an
    origin in ``retract`` is taken off its article; an old article left with no
    origin has been replaced, and goes. An article already held gains the new
    origins.
    """
    retract = frozenset(retract)
    seen_files = {origin_file(o) for a in articles for o in a.origins}
    docs: dict[str, Article] = {}
    for doc_id, article in old.items():
        kept = tuple(
            o for o in article.origins if origin_file(o) not in seen_files and o not in retract
        )
        docs[doc_id] = replace(article, origins=kept)
    added = unchanged = 0
    for article in articles:
        current = docs.get(article.doc_id)
        if current is None:
            docs[article.doc_id] = article
            added += int(article.doc_id not in old)
        else:
            unchanged += int(article.doc_id in old)
            origins = tuple(dict.fromkeys(current.origins + article.origins))
            docs[article.doc_id] = replace(current, origins=origins)
    # An article whose every origin now says something else has been replaced.
    replaced = [d for d, a in docs.items() if not a.origins and old.get(d, a).origins]
    for doc_id in replaced:
        del docs[doc_id]
    return OriginMerge(docs, added, unchanged, len(replaced))


def select_documents(
    documents: dict[str, Article], selectors: Sequence[str], *, recursive: bool = False
) -> list[str]:
    """Doc ids matching each selector exactly: a whole id, or the path of a file they came from.

    A folder selects the articles of every file under it only when ``recursive``
    is set: removal never reaches further than what was named. An empty selector
    (a script's unset variable) is an error, never "the current folder".
    """
    chosen: list[str] = []
    for selector in selectors:
        if not selector.strip():
            raise InputError(
                "An empty argument was given to remove. Give document ids (`rag list` shows "
                "them) or file paths."
            )
        matches = _exact_matches(documents, selector, recursive)
        if not matches:
            raise InputError(_no_match_message(documents, selector))
        chosen.extend(d for d in matches if d not in chosen)
    return chosen


def _selector_paths(selector: str) -> set[str]:
    """The absolute path a selector names, as typed and with links resolved (a URL as it is)."""
    if selector.strip().lower().startswith(("http://", "https://")):
        return {selector.strip()}
    path = os.path.abspath(os.path.expanduser(selector))
    try:
        return {path_text(path), path_text(os.path.realpath(path))}
    except (OSError, ValueError):
        return {path_text(path)}


def _exact_matches(documents: dict[str, Article], selector: str, recursive: bool) -> list[str]:
    if selector in documents:
        return [selector]
    paths = _selector_paths(selector)
    by_file = [
        d
        for d, a in documents.items()
        if any(o in paths or origin_file(o) in paths for o in a.origins)
    ]
    if by_file or not recursive:
        return by_file
    folders = tuple(p.rstrip(os.sep) + os.sep for p in paths)
    return [
        d
        for d, a in documents.items()
        if any(origin_file(o).startswith(folders) for o in a.origins)
    ]


def _no_match_message(documents: dict[str, Article], selector: str) -> str:
    """Why nothing matches, with the exact form to type when the user was close."""
    prefixed = [d for d in documents if d.startswith(selector.strip())]
    if len(prefixed) == 1:
        return (
            f"No indexed article has the id {selector!r}; give the whole id "
            f"{prefixed[0]!r} to remove {documents[prefixed[0]].title!r}."
        )
    folders = tuple(p.rstrip(os.sep) + os.sep for p in _selector_paths(selector))
    under = sum(
        1 for a in documents.values() if any(origin_file(o).startswith(folders) for o in a.origins)
    )
    if under:
        return (
            f"{selector!r} is a folder holding {under} indexed article(s); nothing was removed. "
            "Add --recursive to remove them all, or name the files or ids."
        )
    return f"No indexed article matches {selector!r}. `rag list` shows ids and sources."
