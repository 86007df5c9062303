"""Optional dependencies: imported where they are first needed, and when one is
missing, a single error that says what to run instead of an ``ImportError``.

Like Haystack's ``LazyImport``: the import stays inside the function that needs
it (a model library costs seconds to import), and the install hint sits beside it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rag.errors import RagError


@contextmanager
def optional_import(error: type[RagError], message: str) -> Iterator[None]:
    """Turn an ``ImportError`` raised in the block into ``error(message)``.

    ``message`` says what is missing and what to run, e.g. "llama-cpp-python is
    not installed. Run `pip install llama-cpp-python`."
    """
    try:
        yield
    except ImportError:
        raise error(message) from None
