"""What one evaluation run produces, as the harness writes it and the report reads it.

Both ``eval.harness`` and ``eval.report`` import this module and nothing of
each other. ``RunResult.to_dict()`` is the shape of ``results.json``. The
per-question records stay plain JSON-shaped dicts: they are written out as
they are, one per question.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# The depths at which retrieval is scored ("answer in top k", recall at k).
K_VALUES = (1, 5, 10, 20)

# A metric table: one row per retriever or system, one value per metric name.
MetricRows = dict[str, dict[str, Any]]


@dataclass(frozen=True)
class RunSettings:
    """The options a run was made with, as results.json records them."""

    limit: int | None
    seed: int
    k: int
    temperature: float
    retrievers: tuple[str, ...]
    systems: tuple[str, ...]
    dates: bool
    index_dir: str


@dataclass(frozen=True)
class IndexSetup:
    """How the run's index was made (or found already made)."""

    articles: int
    chunks: int
    chunks_embedded: int
    embed_chunks_per_s: float | None
    index_seconds: float
    load_problems: int


@dataclass(frozen=True)
class Metrics:
    retrieval: MetricRows = field(default_factory=dict)
    answers: MetricRows = field(default_factory=dict)


@dataclass(frozen=True)
class RunResult:
    dataset: str
    dataset_notes: dict[str, Any]
    options: RunSettings
    setup: IndexSetup
    n_questions: int
    n_answerable: int
    seconds: float
    metrics: Metrics
    records: list[dict[str, Any]]
    # Answerable questions whose gold string is only in articles published after they
    # were asked: out of reach of a search as of that day (``Evaluation.published_later``).
    n_published_later: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of the run (tuples become lists)."""
        data = asdict(self)
        data["options"]["retrievers"] = list(self.options.retrievers)
        data["options"]["systems"] = list(self.options.systems)
        return data
