"""Persistence: index generations on disk, their FAISS vectors and their BM25 index.

Below the ``rag`` core: imports only ``rag.types``, ``rag.errors`` and ``rag.text``.
"""
