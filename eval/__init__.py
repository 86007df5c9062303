"""Evaluation of the product and its baselines (``rag eval``)."""

# The names a run compares, side by side; kept here so the command line can
# offer them without importing the models.
RETRIEVERS = ("bm25", "dense", "rrf", "product")
SYSTEMS = ("closed_book", "extractive", "product", "oracle")
