"""The answer policy: write from the passages, check every claim, else quote or abstain.

``Answerer`` streams the model's answer, stops a model that repeats itself,
checks the citations (and, with an instruction model, asks it to judge
support), and falls back to quoting the sentence closest to the question or to
abstaining. Imports the rest of ``rag.answer``, ``rag.config``, ``rag.types``
and ``rag.text``; it is handed passages, it never searches.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace

from rag.answer.cite import (
    ABSTAIN_TEXT,
    closest_quote,
    is_abstention,
    relevance,
    verify_citations,
)
from rag.answer.cite import (
    MARKER as MARKERS,
)
from rag.answer.prompt import PromptPlan, build_prompt, focus_passage
from rag.answer.sides import with_other_side
from rag.answer.support import Judge, answers_question, asked_kind, gives_kind
from rag.config import Settings
from rag.text.sentences import split_sentences
from rag.text.words import content_words
from rag.types import (
    Answer,
    AnswerEvent,
    Generator,
    ScoredPassage,
    Timings,
    TokenEvent,
    Turn,
)

# An answer stands only when a passage that supports it shares at least this
# share of the question's terms; below it the passage is about something else.
MIN_RELEVANCE = 0.5


def repeats_itself(text: str) -> bool:
    """Has the text just completed a sentence it already wrote?"""
    sentences = [text[a:b] for a, b in split_sentences(text)]
    if len(sentences) < 2 or not text.rstrip().endswith((".", "!", "?", "]")):
        return False
    last = sentences[-1].strip().lower()
    return any(s.strip().lower() == last for s in sentences[:-1])


class Answerer:
    """Answers a checked question from given passages with one generator.

    ``judge`` is called only when a check needs it, so a model that is never
    asked to judge is never asked whether it can.
    """

    def __init__(
        self, generator: Generator, settings: Settings, judge: Callable[[], Judge | None]
    ) -> None:
        self.generator = generator
        self.settings = settings
        self._judge = judge

    def stream(
        self,
        question: str,
        passages: Sequence[ScoredPassage],
        *,
        history: Sequence[Turn] = (),
        max_tokens: int | None = None,
        temperature: float | None = None,
        started: float,
        retrieve_ms: float,
        load_ms: float,
    ) -> Iterator[TokenEvent | AnswerEvent]:
        """Yield the answer's pieces as they are written, then the checked answer.

        ``started`` is when the question came in (``time.perf_counter()``), so the
        first token's time includes the search.
        """
        if not passages:
            timings = Timings(retrieve_ms=retrieve_ms, total_ms=retrieve_ms, load_ms=load_ms)
            yield AnswerEvent(Answer(question, ABSTAIN_TEXT, abstained=True, timings=timings))
            return
        plan, pieces = self._write(question, passages, history, max_tokens, temperature)
        raw: list[str] = []
        first_token_ms: float | None = None
        for piece in pieces:
            if first_token_ms is None:
                first_token_ms = (time.perf_counter() - started) * 1000
            raw.append(piece)
            yield TokenEvent(piece)
            if piece.strip() and repeats_itself("".join(raw)):
                break  # small models loop; a repeated sentence adds nothing
        checking = time.perf_counter()
        answer = self._finish(question, "".join(raw), plan.passages, passages)
        now = time.perf_counter()
        timings = Timings(
            retrieve_ms,
            first_token_ms,
            (now - started) * 1000,
            len(raw),
            load_ms=load_ms,
            check_ms=(now - checking) * 1000,
            prompt_tokens=self._prompt_tokens(plan),
        )
        yield AnswerEvent(replace(answer, passages=tuple(passages), timings=timings))

    def _write(
        self,
        question: str,
        passages: Sequence[ScoredPassage],
        history: Sequence[Turn],
        max_tokens: int | None,
        temperature: float | None,
    ) -> tuple[PromptPlan, Iterator[str]]:
        """The prompt for the passages, and the model's answer to it as it is written."""
        generator = self.generator
        max_tokens = max_tokens or self.settings.max_tokens
        focused = [focus_passage(p, question, self.settings.passage_words) for p in passages]
        plan = build_prompt(
            question,
            focused,
            count_tokens=generator.count_tokens,
            context_size=generator.context_size,
            max_answer_tokens=max_tokens,
            history=history,
        )
        options = {
            "max_tokens": max_tokens,
            "temperature": self.settings.temperature if temperature is None else temperature,
            "stop": plan.stop,
        }
        pieces = (
            generator.stream_chat(plan.messages, **options)
            if generator.has_chat_template
            else generator.stream(plan.text, **options)
        )
        return plan, pieces

    def _prompt_tokens(self, plan: PromptPlan) -> int:
        """The tokens of the prompt as the model read it (the API's ``usage``)."""
        generator = self.generator
        return generator.count_prompt(plan.messages if generator.has_chat_template else plan.text)

    def _finish(
        self,
        question: str,
        raw: str,
        prompt_passages: Sequence[ScoredPassage],
        passages: Sequence[ScoredPassage],
    ) -> Answer:
        if is_abstention(raw):
            return self._quote_or_abstain(question, passages, "the model found no answer")
        checked = verify_citations(raw, prompt_passages, question, judge=self._judge())
        if not checked.citations:
            return self._quote_or_abstain(
                question, passages, "no passage supports the model's answer", checked.unsupported
            )
        # Judge relevance on the whole retrieved chunk, not the window the model read.
        whole = {p.chunk_id: p for p in passages}
        best = max(
            relevance(question, whole.get(c.passage.chunk_id, c.passage)) for c in checked.citations
        )
        if not content_words(MARKERS.sub("", checked.text)) - content_words(question):
            return self._quote_or_abstain(
                question, passages, "the answer only repeats the question", (checked.text,)
            )
        if not gives_kind(checked.text, question, asked_kind(question)):
            return self._quote_or_abstain(
                question,
                passages,
                f"the answer gives no {asked_kind(question)}, which the question asks for",
                (checked.text,),
            )
        if best < MIN_RELEVANCE:
            return self._quote_or_abstain(
                question,
                passages,
                "the passages that support the answer are about something else",
                (checked.text,),
            )
        answer = Answer(
            question,
            checked.text,
            abstained=False,
            citations=checked.citations,
            unsupported=checked.unsupported,
        )
        return with_other_side(answer, question, prompt_passages)

    def _quote_or_abstain(
        self,
        question: str,
        passages: Sequence[ScoredPassage],
        reason: str,
        unsupported: tuple[str, ...] = (),
    ) -> Answer:
        """No checked answer: quote the sentence closest to the question, or abstain.

        With an instruction model the quote must also be judged to answer the
        question: a sentence that only shares its names is no answer.
        """
        quote = closest_quote(question, passages)
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
