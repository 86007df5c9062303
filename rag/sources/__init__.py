"""Sources beyond local files: links, RSS and Atom feeds, and their refresh.

``fetch`` is the one careful HTTP client, ``web`` turns a response into a
document, ``feeds`` keeps the subscriptions, ``parse`` reads a feed's XML,
``items`` fetches a feed and reads its new items, ``refresh`` indexes them,
``schedule`` refreshes in the background, and ``syndication`` finds copies of
an article. Nothing here prints: `rag feeds` and `rag refresh` are
``rag.feed_commands``. Sits above ``rag.ingest`` (it indexes what it fetches)
and beside the service.
"""
