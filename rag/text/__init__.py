"""Text helpers every layer shares: sentence spans, words and stop words, conflicting facts.

At the bottom with ``rag.types`` and ``rag.errors``: imports nothing else of the project.
"""
