"""An index folder: whether newsrag may write there, the writers' lock, and its generations.

newsrag writes only into a new or empty folder or one that is already an index,
and deletes there only what it made itself (see ``OWN_NAMES``). A failed write
becomes one ``StorageError`` sentence: what happened, that nothing changed, what
to do.
"""

from __future__ import annotations

import errno
import json
import logging
import re
import shutil
from pathlib import Path
from typing import Any

from index.records import GENERATION, MANIFEST
from rag.errors import ConfigError, IndexLockedError, IndexNotFoundError, StorageError

log = logging.getLogger(__name__)

LOCK = ".lock"
# What newsrag creates in an index folder, and so all it may delete there: a
# generation, a generation being written, a manifest being replaced, Ray shards.
OWN_NAMES = re.compile(
    r"manifest\.json|\.lock|uploads|feeds|gen-\d{6}|\.gen-\d{6}-\w+|\.manifest\.json-\w+|\.shards-\w+"
)
# The files of a generation (bm25/ is a folder); a folder holding anything else is not ours.
GENERATION_FILES = frozenset(
    {"documents.jsonl", "chunks.jsonl", "vectors.faiss", "vectors.json", "bm25"}
)


class IndexFolder:
    """One index folder: who owns it, the writers' lock, its generations. Touches nothing
    until asked."""

    def __init__(self, path: Path, *, lock_timeout: float) -> None:
        self.path = path
        self.lock_timeout = lock_timeout

    def check_folder(self) -> None:
        if self.path.exists() and not self.path.is_dir():
            raise IndexNotFoundError(
                f"{self.path} is a file, not an index folder. Pass --index-dir a folder "
                "(`rag index` creates it)."
            )

    def check_owned(self) -> None:
        """Refuse to write into a folder that is not an index and not empty.

        ``manifest.json`` marks an index. A folder without one is used only when
        it holds nothing but what newsrag itself makes (a first write that was
        interrupted); any other folder is someone's data, and is left alone.
        """
        self.check_folder()
        if not self.path.is_dir() or is_manifest(self.path / MANIFEST):
            return
        try:
            names = sorted(e.name for e in self.path.iterdir())
        except OSError as exc:
            raise self.storage_error(exc) from None
        foreign = [
            n
            for n in names
            if not OWN_NAMES.fullmatch(n)
            or ("gen-" in n and not is_generation_folder(self.path / n))
        ]
        if MANIFEST in names and not any(GENERATION.fullmatch(n) for n in names):
            foreign.insert(0, MANIFEST)  # someone else's manifest.json, not a damaged index
        if foreign:
            more = f" and {len(foreign) - 1} more" if len(foreign) > 1 else ""
            raise ConfigError(
                f"{self.path} is not a newsrag index (it has no newsrag {MANIFEST}) and is not "
                f"empty: it holds {foreign[0]!r}{more}. newsrag writes only into a new or empty "
                "folder or an existing index; pass --index-dir another folder."
            )

    def lock(self) -> Any:
        """An exclusive, cross-process lock for writers (use as a context manager)."""
        from filelock import FileLock, Timeout

        self.check_owned()
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self.storage_error(exc, f"Cannot create the index folder {self.path}") from None
        lock = FileLock(str(self.path / LOCK), timeout=self.lock_timeout)
        storage_error = self.storage_error

        class _Guard:
            def __enter__(self_inner) -> None:
                try:
                    lock.acquire(timeout=0)
                except Timeout:
                    log.warning("Another process is writing %s; waiting for it.", self.path)
                    try:
                        lock.acquire()
                    except Timeout:
                        raise IndexLockedError(
                            f"Another `rag index` has held {self.path} for over "
                            f"{self.lock_timeout:.0f}s. Wait for it to finish, or stop it."
                        ) from None
                except OSError as exc:  # a read-only folder, or one we may not write to
                    raise storage_error(exc) from None

            def __exit__(self_inner, *exc: object) -> None:
                lock.release()

        return _Guard()

    def storage_error(self, exc: BaseException, what: str = "") -> StorageError:
        """A failed write as one sentence: what happened, that nothing changed, what to do."""
        code = getattr(exc, "errno", None)
        if code == errno.ENOSPC or code == errno.EDQUOT or "write error" in str(exc):
            reason, fix = "the disk is full", "Free some space and run the command again."
        elif code == errno.EROFS:
            reason = "the folder is on a read-only file system"
            fix = "Pass --index-dir a folder you can write to."
        elif code in (errno.EACCES, errno.EPERM):
            reason, fix = "permission denied", "Pass --index-dir a folder you can write to."
        else:
            lines = str(exc).strip().splitlines() or [type(exc).__name__]
            reason = getattr(exc, "strerror", None) or lines[-1]
            fix = "Check the disk and the folder, and run the command again."
        what = what or f"Could not write the index at {self.path}"
        return StorageError(f"{what}: {reason}. The index is unchanged. {fix}")

    # --- generations ---------------------------------------------------------

    def generations(self) -> list[str]:
        if not self.path.is_dir():
            return []
        return sorted(p.name for p in self.path.iterdir() if GENERATION.fullmatch(p.name))

    def next_generation(self) -> str:
        numbers = [int(g.split("-")[1]) for g in self.generations()]
        return f"gen-{max(numbers, default=0) + 1:06d}"

    def previous_generation(self, current: str) -> str | None:
        older = [g for g in self.generations() if g < current]
        return older[-1] if older else None

    def remove_stale_generations(self, keep: set[str | None]) -> None:
        """Delete old generations and leftovers of killed writes; nothing else.

        Only a real folder (not a link) named as newsrag names them and holding
        only the files newsrag writes there: a ``gen-photos`` folder, or a
        ``gen-000001`` with someone's files in it, stays.
        """
        for entry in self.path.iterdir():
            stale_gen = GENERATION.fullmatch(entry.name) and entry.name not in keep
            # Leftovers of a write that was killed before its rename.
            stale_tmp = re.fullmatch(r"\.gen-\d{6}-\w+", entry.name)
            if (stale_gen or stale_tmp) and is_generation_folder(entry):
                shutil.rmtree(entry, ignore_errors=True)


def is_generation_folder(path: Path) -> bool:
    if path.is_symlink() or not path.is_dir():
        return False
    try:
        return all(p.name in GENERATION_FILES for p in path.iterdir())
    except OSError:
        return False


def is_manifest(path: Path) -> bool:
    """Is ``path`` a newsrag manifest (even one of another format version)?"""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and "format_version" in data and "generation" in data
