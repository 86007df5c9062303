"""The Gradio web chat (``rag serve`` loads ``ui.app.launch`` by its entry point).

Above the core: uses ``rag`` and ``index``; nothing in them imports this package.
"""
