"""Files added through the web chat: checked, renamed safely, kept beside the index.

An upload is read first: one that gives no article (binary, empty, not text, a
JSONL file without one good line) is refused and never copied. The others are
copied into ``<index dir>/uploads/`` before they are indexed, so the
articles it gave keep a stable origin (re-adding the same file changes
nothing) and the text survives the browser's temporary copy. Its name comes
from the browser and is not trusted: only its last component is used, with
anything but letters, digits, ``.``, ``-`` and ``_`` replaced, so it cannot
point outside that folder.
"""

from __future__ import annotations

import filecmp
import logging
import os
import re
import shutil
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rag.ingest.clean import clean_document
from rag.ingest.files import MAX_BYTES, load_file, unsupported_type
from rag.types import Article

log = logging.getLogger(__name__)

# The same limit as `rag index`.
MAX_UPLOAD_BYTES = MAX_BYTES
_UNSAFE = re.compile(r"[^\w.-]+")
_MAX_NAME = 120


@dataclass(frozen=True)
class Refused:
    name: str
    reason: str


def safe_name(name: str) -> str:
    """A file name that stays inside its folder: ``../../x.md`` -> ``x.md``."""
    base = re.split(r"[\\/]", name)[-1]
    base = unicodedata.normalize("NFKC", base)
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    stem = _UNSAFE.sub("_", stem).strip("._") or "upload"
    suffix = _UNSAFE.sub("", suffix).lower()
    stem = stem[: _MAX_NAME - len(suffix) - 1]
    return f"{stem}.{suffix}" if suffix else stem


def store_uploads(
    files: Sequence[str | Path],
    folder: Path,
    *,
    max_bytes: int = MAX_UPLOAD_BYTES,
) -> tuple[list[Path], list[Refused]]:
    """Copy acceptable uploads into ``folder``; say why the others were refused."""
    root = folder.resolve()
    saved: list[Path] = []
    refused: list[Refused] = []
    for file in files:
        source = Path(file)
        shown = source.name
        unsupported = unsupported_type(source)
        if unsupported:
            refused.append(Refused(shown, unsupported))
            continue
        try:
            size = source.stat().st_size
        except OSError as err:
            refused.append(Refused(shown, f"could not be read ({err.strerror})"))
            continue
        if size > max_bytes:
            refused.append(
                Refused(shown, f"{size / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB")
            )
            continue
        unreadable = _why_not_articles(source)
        if unreadable:
            refused.append(Refused(shown, unreadable))
            continue
        target = free_path(root, safe_name(source.name), source)
        if target.parent != root:  # safe_name makes this impossible; keep it so
            refused.append(Refused(shown, "its name points outside the upload folder"))
            continue
        if not target.exists():
            root.mkdir(parents=True, exist_ok=True)  # only once something is kept
            _copy_whole(source, target)
        saved.append(target)
    return saved, refused


def _copy_whole(source: Path, target: Path) -> None:
    """Copy under a temporary name, then rename: a full disk leaves no half file to index."""
    partial = target.with_name(f".{target.name}.part")
    try:
        shutil.copyfile(source, partial)
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def _why_not_articles(source: Path) -> str | None:
    """Why the file would give no article (binary, empty, no text in the HTML...), or None.

    Read before copying, so a refused upload leaves nothing behind in the folder.
    """
    documents, problems = load_file(source)
    if any(clean_document(d) is not None for d in documents):
        return None
    if problems:
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        return f"{problems[0].message}{more}"
    return "no article text left after cleaning"


def free_path(root: Path, name: str, source: Path) -> Path:
    """``root/name``, or ``name-2``, ``name-3``... when another file already has the name.

    The same content under the same name reuses the existing copy, so adding a
    file twice indexes it once; different content never overwrites an earlier
    upload (that would replace the articles it gave).
    """
    stem, suffix = Path(name).stem, Path(name).suffix
    for n in range(1, 10_000):
        target = (root / (name if n == 1 else f"{stem}-{n}{suffix}")).resolve()
        if not target.exists() or filecmp.cmp(source, target, shallow=False):
            return target
    raise OSError(f"too many uploads named {name}")


def forget_uploads(upload_dir: Path, removed: Sequence[Article], kept: Sequence[Article]) -> int:
    """Delete the uploaded files that only the removed articles came from; how many went.

    A file some kept article still comes from stays (a JSONL upload gives
    several articles); a file outside ``upload_dir`` is never touched.
    """
    folder = upload_dir.resolve()

    def files(articles: Sequence[Article]) -> set[Path]:
        # An origin is a file's path, or ``path#line`` for a line of a JSONL file.
        return {Path(o.split("#", 1)[0]).resolve() for a in articles for o in a.origins}

    deleted = 0
    for path in sorted(files(removed) - files(kept)):
        if path.parent != folder:
            continue
        try:
            path.unlink()
            deleted += 1
        except FileNotFoundError:
            pass
        except OSError as err:
            log.warning("could not delete the removed upload %s: %s", path, err)
    return deleted
