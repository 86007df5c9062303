"""Search: find the passages for a question.

``retrieve`` holds the retrievers (BM25, dense, their fusion, near-duplicate
collapse and diversity), ``dated`` the product's policy by date, ``dates`` the
time words of a question, ``query`` the checks and rewriting of what a user
asks. May import ``index``, ``rag.config`` and the shared ``rag.text``,
``rag.types``, ``rag.errors``; never ``rag.ingest``, ``rag.answer`` or the service.
"""
