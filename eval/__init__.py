"""Evaluation of the product and its baselines (``rag eval``)."""

# The names a run compares, side by side; kept here so the command line can
# offer them without importing the models.
RETRIEVERS = ("bm25", "dense", "rrf", "product")
SYSTEMS = ("closed_book", "extractive", "product", "oracle")
# Named settings of the product, compared as retrievers when asked for by name
# (`--retrievers product product-rm3`); not run by default: re-ranking and writing
# queries take seconds.
PRODUCT_VARIANTS = {
    "product-rm3": {"feedback": "rm3"},
    "product-rocchio": {"feedback": "rocchio"},
    "product-prf": {"feedback": "both"},
    "product-wide": {"passage_neighbours": 1},
    "product-rerank": {"rerank": 20},
    "product-hyde": {"query_writer": "hyde"},
    "product-deep": {"candidate_depth": 100},
}
# Other designs of the search, measured against the product's and run only when named;
# each builds what it needs from the run's index (see its module).
DESIGNS = {
    "product-sentences": "the dense side ranks chunks by their best sentence (eval/sentences.py)",
}
