"""Ingestion: read article files, clean them, chunk them, and write them into the index.

``files`` reads the types ``filetypes`` names (``pdf`` the PDFs), ``clean`` turns a raw
document into an ``Article``, ``chunk`` cuts it into sentence-aware chunks,
``indexer`` embeds what is new and commits a generation (``origins`` merges a run's
articles into the index's by where they came from, ``generation`` plans the chunks
and vectors a write keeps and adds), ``removal`` takes articles out without
embedding, ``distributed`` indexes on a Ray cluster. May import ``rag.embed``,
``rag.config``, ``index`` and the shared ``rag.text``, ``rag.types``,
``rag.errors``; never ``rag.search``, ``rag.answer``, ``rag.sources`` or the service.
"""
