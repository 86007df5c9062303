"""Second-stage ranking: an instruction model judges each candidate passage.

First-stage search ranks by shared words and vector closeness; it cannot
tell a passage that answers "which team does he play for?" from one that
only names the player. An instruction model can, a little: for each of the
first ``depth`` candidates it is asked whether the passage answers the
question, and P(yes) is read from its first token's probabilities (no text is
generated; see ``LlamaCppGenerator.judge``). The question comes first in the
prompt, so llama.cpp evaluates the shared prefix once and each candidate
costs only its own tokens. Each candidate is cut to the sentences around its
best match first (``focus_passage``): the model reads fewer words, faster.

The judge's order is fused with the first-stage order by reciprocal rank,
so a small model's noisy verdicts refine the ranking instead of replacing it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace

from rag.answer.prompt import focus_passage
from rag.answer.support import Judge
from rag.types import ScoredPassage

log = logging.getLogger(__name__)

# Candidates judged and words of each the model reads (the sentences around the best match).
RERANK_DEPTH = 20
RERANK_WORDS = 60
# Reciprocal-rank constant for fusing the judge's order with the first stage's (as in search).
FUSION_CONSTANT = 60

SYSTEM = "You judge whether a news passage answers a question. Reply with yes or no."


def relevance_prompt(question: str, title: str, text: str) -> list[dict[str, str]]:
    """The judge's messages: the question first, so its tokens are shared by every candidate."""
    return [
        {"role": "system", "content": SYSTEM},
        {
            "role": "user",
            "content": (
                f"Question: {question}\n\nPassage ({title}): {text}\n\n"
                "Does the passage answer the question? Answer yes or no."
            ),
        },
    ]


def rerank(
    judge: Judge,
    question: str,
    passages: Sequence[ScoredPassage],
    *,
    depth: int = RERANK_DEPTH,
    words: int = RERANK_WORDS,
) -> list[ScoredPassage]:
    """``passages`` with the first ``depth`` re-ordered by the judge; the rest follow as they were.

    Each judged passage's new score is its reciprocal-rank fusion of the
    first-stage rank and the rank by P(yes); ties keep the first-stage order.
    """
    if depth <= 0:
        raise ValueError(f"depth must be greater than 0, got {depth}")
    head, tail = list(passages[:depth]), list(passages[depth:])
    if len(head) < 2:
        return list(passages)
    p_yes = []
    for p in head:
        window = focus_passage(p, question, words).text
        p_yes.append(judge.judge(relevance_prompt(question, p.title, window)))
    by_judge = sorted(range(len(head)), key=lambda i: (-p_yes[i], i))
    judged_rank = {i: r for r, i in enumerate(by_judge, 1)}
    fused = {
        i: 1 / (FUSION_CONSTANT + i + 1) + 1 / (FUSION_CONSTANT + judged_rank[i])
        for i in range(len(head))
    }
    order = sorted(range(len(head)), key=lambda i: (-fused[i], i))
    log.debug("Re-ranked %d passages; P(yes) %s", len(head), [round(p_yes[i], 2) for i in order])
    ranked = [replace(head[i], score=fused[i]) for i in order] + tail
    return [replace(p, rank=r) for r, p in enumerate(ranked, 1)]
