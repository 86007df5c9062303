"""The product's search policy: hybrid search as of a day, preferring the days a question names.

Imports ``rag.search.dates`` and ``rag.types``: the service hands it the
``rag.search.retrieve.HybridRetriever``, a test may hand it a fake ``Retriever``.
"""

from __future__ import annotations

import datetime

from rag.search.dates import mentioned_window, recent_window, within
from rag.types import Retriever, ScoredPassage, SearchFilter


def as_of_filter(as_of: datetime.date) -> SearchFilter:
    """The articles a question asked on ``as_of`` may be answered from: none published
    after the next day (a day's slack for time zones), and none without a date."""
    return SearchFilter(date_to=(as_of + datetime.timedelta(days=1)).isoformat())


def search_as_of(
    retriever: Retriever,
    query: str,
    k: int,
    *,
    where: SearchFilter | None = None,
    as_of: datetime.date | None = None,
    written_query: str = "",
) -> list[ScoredPassage]:
    """The ``k`` best passages for ``query``, asked on ``as_of`` (else today).

    ``as_of`` answers as if asked on that day: later articles are left out.
    Passages from the days before the question is asked rank higher: the window
    its time words name ("this week", "yesterday"), or else the last
    ``RECENT_DAYS`` days. An older passage comes first only when both sides rank
    the recent ones low. ``written_query`` is searched beside ``query`` (see
    ``Retriever``); the dates come from ``query`` alone.
    """
    day = as_of or datetime.date.today()
    if as_of is not None:
        where = within(as_of_filter(as_of), where or SearchFilter())
    window = mentioned_window(query, day) or recent_window(day)
    return retriever.search(query, k, where=where, preferred=window, written_query=written_query)
