"""The web chat and the HTTP API (``rag serve`` finds ``ui.server.start`` through the
``newsrag.ui`` entry point named ``web``).

Above the core: uses ``rag`` and ``index``; nothing in them imports this package.
"""
