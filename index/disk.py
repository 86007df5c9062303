"""Files written whole or not at all, and the JSON-lines files of a generation.

``atomic_write_text`` writes beside the target and renames over it, so a crash
leaves the old file or the new one; ``fsync_file`` makes a file durable before
the rename that publishes it.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def read_jsonl(path: Path) -> Iterable[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if line.strip():
                try:
                    yield json.loads(line)
                except ValueError as exc:
                    where = f"{path.name} line {number}"
                    raise ValueError(f"{where} is not valid JSON: {exc}") from None


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False))
            f.write("\n")


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def chmod_as_umask(path: Path, mode: int) -> None:
    """Give a temporary file or folder the permissions a plain open() would have.

    ``mkstemp`` and ``mkdtemp`` create them private (0600, 0700); an index is
    ordinary data that the user's umask should govern, e.g. for a server
    running as another user.
    """
    umask = os.umask(0)
    os.umask(umask)
    path.chmod(mode & ~umask)


def atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        chmod_as_umask(Path(tmp), 0o666)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
