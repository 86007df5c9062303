"""Settings given per question by the web chat and its HTTP API, checked like all others.

The command line, the environment and the config file go through
``rag.config.load_settings``; a value from a browser or a script goes through
``checked_settings`` below, which converts it with the same function and checks
it with the same ``Settings`` rules. Every door has the same limits and the
same messages ("k must be at most 100, got 100000.").
"""

from __future__ import annotations

from rag.config import Settings, _coerce


def checked_settings(settings: Settings, origin: str, **values: object) -> Settings:
    """``settings`` with ``values`` (None or "" meaning "not given") converted and checked.

    Raises ``ConfigError`` naming the setting, the value and the limit.
    """
    given = {name: _plain(value) for name, value in values.items() if value not in (None, "")}
    return settings.updated(**{name: _coerce(name, v, origin) for name, v in given.items()})


def _plain(value: object) -> object:
    """A number as a flag would give it: 2.5 stays "2.5" (no int), 4.0 is 4."""
    if isinstance(value, float) and not value.is_integer():
        return repr(value)
    if isinstance(value, float):
        return int(value)
    return value
