"""Queries written by the model (HyDE): a hypothetical answer searched beside the question.

A quiz-style question ("the energy giant that announced the highest profit in
its history") shares few words with the passage that answers it ("Shell ...
record profits"). An instruction model can guess what that passage would say:
asked for the opening sentence of a news report answering the question, it
writes words a report would use (Gao et al. 2022, "Precise Zero-Shot Dense
Retrieval without Relevance Labels"). The search then ranks by the question
and the sentence together, beside the question alone (``HybridRetriever``).

The sentence may be wrong; it is only used to find passages, never shown to the
answering model. The search goes on without it when the writer fails or writes
nothing. Off by default: on RealTimeQA it did not help and cost about 1.4 s a
question on CPU (README, "First-stage recall").
"""

from __future__ import annotations

import logging

from rag.types import Generator

log = logging.getLogger(__name__)

# A sentence of news prose is 20 to 40 tokens; greedy decoding, so the search is repeatable.
WRITER_TOKENS = 48

SYSTEM = "You write the opening sentences of news reports."


def hyde_prompt(question: str) -> list[dict[str, str]]:
    """The writer's messages: one sentence of a report that would answer ``question``."""
    return [
        {"role": "system", "content": SYSTEM},
        {
            "role": "user",
            "content": (
                "Write the opening sentence of a news report that answers this question.\n\n"
                f"Question: {question}"
            ),
        },
    ]


def write_query(writer: Generator, question: str, *, max_tokens: int = WRITER_TOKENS) -> str:
    """The writer's sentence for ``question`` on one line; "" when it failed or wrote nothing."""
    try:
        pieces = writer.stream_chat(hyde_prompt(question), max_tokens=max_tokens, temperature=0.0)
        sentence = " ".join("".join(pieces).split())
    except Exception as exc:  # llama.cpp raises several kinds; the search does not need it
        log.warning("The query writer failed (%s); searching with the question alone.", exc)
        return ""
    if not sentence:
        log.warning("The query writer wrote nothing; searching with the question alone.")
        return ""
    log.debug("The query writer wrote: %s", sentence)
    return sentence
