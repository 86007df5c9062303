"""Refreshing the feeds in the background, every so often (``rag serve --refresh-every``)."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rag.errors import InputError, RagError

if TYPE_CHECKING:
    from rag.sources.refresh import RefreshReport

log = logging.getLogger(__name__)


def parse_interval(text: str) -> float:
    """Seconds in "30m", "2h", "90s" or "45" (minutes); at least a minute."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text or "")
    if not match:
        raise InputError(f"--refresh-every must look like 30m, 2h or 90s, got {text!r}.")
    value = float(match.group(1)) * {"s": 1, "m": 60, "h": 3600, "": 60}[match.group(2)]
    if value < 60:
        raise InputError(f"--refresh-every must be at least 1 minute, got {text!r}.")
    return value


def start_background_refresh(refresh: Callable[[], RefreshReport], every: float) -> tuple[Any, Any]:
    """Run ``refresh`` every ``every`` seconds in a daemon thread; returns (thread, stop event)."""
    import threading

    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every):
            try:
                report = refresh()
                for result in report.feeds:
                    log.warning("refresh %s: %s", result.name, result.summary())
            except RagError as err:  # e.g. a damaged feed state: said, and tried again later
                log.error("background refresh failed: %s", err)
            except Exception:  # a background refresh must never take the server down
                log.exception("background refresh failed")

    thread = threading.Thread(target=loop, name="feed-refresh", daemon=True)
    thread.start()
    return thread, stop
