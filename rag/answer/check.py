"""Whether a written answer stands, and what is said when it does not.

``AnswerChecker.check`` keeps a model's answer only when its citations hold,
it says more than the question, it is about the topic asked and gives the kind
of thing asked for, from passages about the question; otherwise the sentence
that answers is quoted, or the answer abstains. Imports the rest of
``rag.answer``, ``rag.config``, ``rag.types`` and ``rag.text``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rag.answer.cite import (
    ABSTAIN_TEXT,
    closest_quote,
    coverage,
    is_abstention,
    relevance,
    verify_citations,
)
from rag.answer.cite import (
    MARKER as MARKERS,
)
from rag.answer.evidence import Evidence, answering_quote
from rag.answer.sides import with_other_side
from rag.answer.support import Judge, answers_question, asked_kind, asked_topic, gives_kind
from rag.config import Settings
from rag.text.words import content_words, lexical_tokens
from rag.types import Answer, Citation, ScoredPassage

# An answer stands only when a passage that supports it shares at least this
# share of the question's terms; below it the passage is about something else.
MIN_RELEVANCE = 0.5
# ... and when the sentences it cites, read with their articles' titles, hold at least
# this share of them: a sentence that shares fewer words with the question states
# something else, however true and however on-topic its passage (README, "How an
# answer is found and checked").
MIN_CITED_COVERAGE = 1 / 3
# A cited "sentence" of fewer content words than this is a fragment (a table cell, a list
# item: "Justin Kurzel ; Screenwriters."), whose meaning is in the passage around it.
FRAGMENT_WORDS = 4


def cited_text(citations: Sequence[Citation]) -> str:
    """What the citations state: each sentence under its article's title, or the whole
    passage of a fragment."""
    parts = []
    for c in citations:
        if len(content_words(c.text)) < FRAGMENT_WORDS:
            parts.append(f"{c.passage.title} {c.passage.text}")
        else:
            parts.append(f"{c.passage.title} {c.text}")
    return " ".join(parts)


class AnswerChecker:
    """Checks a written answer; ``judge`` is called only when a check needs it."""

    def __init__(self, settings: Settings, judge: Callable[[], Judge | None]) -> None:
        self.settings = settings
        self._judge = judge

    def check(
        self,
        question: str,
        raw: str,
        prompt_passages: Sequence[ScoredPassage],
        passages: Sequence[ScoredPassage],
        evidence: Sequence[Evidence] | None,
    ) -> Answer:
        """The written answer ``raw`` if it stands, else the quote or the abstention.

        ``prompt_passages`` are what the model read, ``passages`` the whole ones.
        """

        def fallback(reason: str, unsupported: tuple[str, ...] = ()) -> Answer:
            return self._quote_or_abstain(question, passages, evidence, reason, unsupported)

        if is_abstention(raw):
            return fallback("the model found no answer")
        checked = verify_citations(raw, prompt_passages, question, judge=self._judge())
        if not checked.citations:
            return fallback("no passage supports the model's answer", checked.unsupported)
        # Judge relevance on the whole retrieved chunk, not the window the model read.
        whole = {p.chunk_id: p for p in passages}
        best = max(
            relevance(question, whole.get(c.passage.chunk_id, c.passage)) for c in checked.citations
        )
        if not content_words(MARKERS.sub("", checked.text)) - content_words(question):
            return fallback("the answer only repeats the question", (checked.text,))
        topic = asked_topic(question)
        said = " ".join([checked.text, *(c.text for c in checked.citations)])
        if topic and not topic & set(lexical_tokens(said)):
            return fallback("the answer is not about what the question asks about", (checked.text,))
        kind = asked_kind(question)
        if not gives_kind(checked.text, question, kind):
            return fallback(
                f"the answer gives no {kind}, which the question asks for", (checked.text,)
            )
        if best < MIN_RELEVANCE:
            return fallback(
                "the passages that support the answer are about something else", (checked.text,)
            )
        if coverage(question, cited_text(checked.citations)) < MIN_CITED_COVERAGE:
            return fallback("the sentences it cites are about something else", (checked.text,))
        answer = Answer(
            question,
            checked.text,
            abstained=False,
            citations=checked.citations,
            unsupported=checked.unsupported,
        )
        return with_other_side(answer, question, prompt_passages)

    def _quote(
        self,
        question: str,
        passages: Sequence[ScoredPassage],
        evidence: Sequence[Evidence] | None,
    ) -> Citation | None:
        """The sentence to quote: the best-ranked one that answers, or the closest one."""
        if evidence is None or self.settings.reader == "passages":
            return closest_quote(question, passages)
        return answering_quote(question, passages, evidence)

    def _quote_or_abstain(
        self,
        question: str,
        passages: Sequence[ScoredPassage],
        evidence: Sequence[Evidence] | None,
        reason: str,
        unsupported: tuple[str, ...] = (),
    ) -> Answer:
        """No checked answer: quote the sentence that answers, or abstain.

        With an instruction model the quote must also be judged to answer the
        question: a sentence that only shares its names is no answer.
        """
        quote = self._quote(question, passages, evidence)
        if quote is not None and not gives_kind(quote.text, question, asked_kind(question)):
            quote = None  # it shares the question's words but not what it asks for
        judge = self._judge() if quote is not None else None
        if judge is not None and not answers_question(question, quote.text, judge):
            quote = None
        if quote is None:
            return Answer(
                question, ABSTAIN_TEXT, abstained=True, unsupported=unsupported, reason=reason
            )
        return Answer(
            question,
            f"The articles say: \u201c{quote.text}\u201d [{quote.marker}]",
            abstained=False,
            citations=(quote,),
            unsupported=unsupported,
            quoted=True,
        )
