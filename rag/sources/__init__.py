"""Sources beyond local files: links, RSS and Atom feeds, and their refresh.

``fetch`` is the one careful HTTP client, ``web`` turns a response into a
document, ``feeds`` keeps the subscriptions and reads them, ``syndication``
finds copies of an article, ``refresh`` runs `rag feeds` and `rag refresh`.
Sits above ``rag.ingest`` (it indexes what it fetches) and beside the service.
"""
