"""Sources that disagree: the other article's answer, cited beside the one given.

When the passages shown to the model give different answers, the reader sees
both, each with its marker, and is told the sources disagree, instead of one
picked in silence. Another article's sentence is the other side when

1. it states what a cited sentence states, with a different name or number in
   place (``rag.text.conflict``: a near copy, as two outlets write one wire story);
2. or it is the near copy of another passage's sentence, and the two differ
   exactly where the answer's fact stands: that one gives the answer, this one
   something else in its place.

Both compare sentences that say the same thing. A sentence that answers the
question in words of its own is not found: picking one by its words (the
question's names and words, a new name of the kind asked for) gave, on RGB's
counterfactual questions, another film, award or album about as often as
another answer, and Qwen2.5-Coder 0.5B, asked whether each answered the
question, said yes to all 16 (README, "Sources that disagree").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from rag.answer.support import key_facts
from rag.text.conflict import find_conflicts, sentences_conflict
from rag.text.sentences import split_sentences
from rag.types import Answer, Citation, ScoredPassage


def with_other_side(answer: Answer, question: str, passages: Sequence[ScoredPassage]) -> Answer:
    """The answer, plus the sentence of another article that states otherwise, if any."""
    found = _other_side(answer, question, passages)
    if found is None:
        return answer
    n, passage, start, end = found
    sentence = passage.text[start:end]
    other = Citation(
        marker=n,
        passage=passage,
        text=sentence,
        start=passage.chunk.start + start,
        end=passage.chunk.start + end,
    )
    text = (
        f"{answer.text} The sources disagree: another article says "
        f"\u201c{sentence.strip()}\u201d [{n}]."
    )
    return replace(answer, text=text, citations=(*answer.citations, other), conflict=True)


def _other_side(
    answer: Answer, question: str, passages: Sequence[ScoredPassage]
) -> tuple[int, ScoredPassage, int, int] | None:
    """(marker, passage, start, end) of the other side's sentence, by the first rule that
    finds one."""
    cited = {c.passage.doc_id for c in answer.citations}
    if not answer.citations or all(p.doc_id in cited for p in passages):
        return None
    # 1. A near copy of a cited sentence.
    for citation in answer.citations:
        for n, passage in enumerate(passages, 1):
            if passage.doc_id in cited:
                continue
            for start, end in split_sentences(passage.text):
                if sentences_conflict(citation.text, passage.text[start:end]) is not None:
                    return n, passage, start, end
    # 2. Two near copies elsewhere that differ where the answer's fact stands.
    claimed = {f.lower().replace(",", "") for f in key_facts(answer.text, question)}
    if not claimed:
        return None
    for conflict in find_conflicts(passages):
        sides = (
            (conflict.first, conflict.first_span, conflict.facts[0]),
            (conflict.second, conflict.second_span, conflict.facts[1]),
        )
        for (_, _, mine), (j, (start, end), theirs) in (sides, sides[::-1]):
            answers_mine = claimed & set(mine) and not claimed & set(theirs)
            if answers_mine and passages[j].doc_id not in cited:
                return j + 1, passages[j], start, end
    return None
