"""Answering: write an answer from given passages and check every claim in it.

``answerer`` is the policy (write, check, quote or abstain), ``prompt`` builds
what the model reads, ``generators`` finds a language model by name,
``generate`` runs a GGUF model with llama.cpp (``packs`` finds and checks its
bytes), ``cite`` and ``support`` check citations, ``injection`` masks
instructions hidden in articles. May import ``rag.config`` and the shared
``rag.text``, ``rag.types``, ``rag.errors``; never ``rag.ingest``,
``rag.search`` or the service: it is handed passages and never searches.
"""
