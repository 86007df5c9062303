"""Persistence: index generations on disk, their FAISS vectors and their BM25 index.

``store`` joins the parts of one index folder: ``folder`` (whether newsrag may
write there, the writers' lock, the generations), ``writer`` (a new generation,
made current by one rename), ``reader`` (the current one as a ``snapshot``),
``records`` (the manifest, articles and chunks as JSON) and ``disk`` (files
written whole or not at all); ``vectors`` and ``lexical`` are the two indexes.

Below the ``rag`` core: imports only ``rag.types``, ``rag.errors`` and ``rag.text``.
"""
