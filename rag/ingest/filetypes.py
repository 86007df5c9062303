"""The article files `rag index` reads, by suffix: one list for the loader, the command's
help and the web chat's upload box.

Imports nothing, so `rag -h` can name the types without loading the readers.
"""

from __future__ import annotations

TEXT_SUFFIXES = frozenset({".txt", ".md", ".markdown"})
HTML_SUFFIXES = frozenset({".html", ".htm"})
JSONL_SUFFIXES = frozenset({".jsonl"})
PDF_SUFFIXES = frozenset({".pdf"})
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | JSONL_SUFFIXES | PDF_SUFFIXES
# How help texts name them: each kind's usual spelling (.markdown and .htm are read too).
FILE_TYPES = ".txt, .md, .html, .jsonl, .pdf"
