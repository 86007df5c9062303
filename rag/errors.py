"""Errors users see. Each message says what happened and what to do next.

Library code raises these; the CLI turns them into a message and exit code,
the UI into ``gr.Error``. Anything else escaping is a bug. At the bottom layer:
every module may import it, and it imports none.
"""

from __future__ import annotations

import os


class RagError(Exception):
    """Base class: ``str(error)`` is a complete sentence for the user."""

    exit_code = 1


class ConfigError(RagError):
    """A setting has a value the program cannot use."""

    exit_code = 2


class InputError(RagError):
    """A path, file or question that cannot be used as given."""

    exit_code = 2


class IndexNotFoundError(RagError):
    exit_code = 3


class IndexMismatchError(RagError):
    """The index on disk was built with another embedder, chunker or format."""

    exit_code = 3


class IndexCorruptError(RagError):
    exit_code = 3


class IndexLockedError(RagError):
    exit_code = 4


class StorageError(RagError):
    """The index could not be written: disk full, read-only, permission denied.

    The previous index is left as it was.
    """

    exit_code = 7


class ModelError(RagError):
    """A model file is missing, unreadable or failed to load."""

    exit_code = 5


class DistributedError(RagError):
    """Ray could not run the ingestion (not installed, cluster unreachable, a worker failed)."""

    exit_code = 6


class FetchError(RagError):
    """A URL that could not be fetched or used; ``str()`` names the URL and the reason."""

    def __init__(self, url: str, reason: str, *, status: int | None = None) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason
        self.status = status


class NotWarmedUpError(RagError):
    """A component was used before its heavy resources were loaded."""


def rebuild_command(index_dir: str | os.PathLike[str]) -> str:
    """What to run when the index at ``index_dir`` cannot be used as it is: build it again."""
    return f"`rag index --rebuild PATH... --index-dir {index_dir}`"
