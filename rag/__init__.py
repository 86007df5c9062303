"""newsrag's core: ask questions about a folder of news articles, answered with cited passages.

Rooms by role: ``ingest`` (read, clean, chunk, index), ``embed`` (backends by
name), ``search``, ``answer``, ``sources`` (links and feeds), ``service`` (the
facade the CLI and the UI share) and the ``rag`` command (``cli``, ``commands``).
Below them: ``config``, ``index`` (persistence, a package of its own) and the
shared ``text``, ``types`` and ``errors``. The core never imports ``ui`` or
``eval``; ``pyproject.toml`` holds the import contracts that ``lint-imports`` checks.
"""
