"""The answer policy: write from the passages, check every claim, else quote or abstain.

``Answerer`` streams the model's answer, stops a model that repeats itself
(``rag.answer.loops``) and has the answer checked (``rag.answer.check``: the
citations, and with an instruction model its judgement of support), which falls
back to quoting the sentence that answers or to abstaining. Imports the rest of
``rag.answer``, ``rag.config`` and ``rag.types``; it is handed passages, it
never searches.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace

from rag.answer.check import AnswerChecker
from rag.answer.choose import choose
from rag.answer.cite import ABSTAIN_TEXT
from rag.answer.evidence import Evidence, EvidenceRanker, SentenceRanker, evidence_passages
from rag.answer.loops import repeats_itself, without_loop
from rag.answer.prompt import PromptPlan, build_prompt, focus_passage
from rag.answer.support import Judge, asked_kind
from rag.config import Settings
from rag.types import (
    Answer,
    AnswerEvent,
    Citation,
    Generator,
    ScoredPassage,
    Timings,
    TokenEvent,
    Turn,
)


class Answerer:
    """Answers a checked question from given passages with one generator.

    With the "sentences" reader (the default) the passages' sentences are ranked
    for answering the question (``ranker``) and the model writes from the best few;
    the "passages" reader hands it each passage cut around its best match.
    ``judge`` is called only when a check needs it, so a model that is never asked
    to judge is never asked whether it can.
    """

    def __init__(
        self,
        generator: Generator,
        settings: Settings,
        judge: Callable[[], Judge | None],
        ranker: SentenceRanker | None = None,
    ) -> None:
        self.generator = generator
        self.settings = settings
        self._checker = AnswerChecker(settings, judge)
        self.ranker = ranker or EvidenceRanker(None)

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
        evidence = self._evidence(question, passages)
        readable = self._readable(question, passages, evidence)
        if not readable:
            timings = Timings(retrieve_ms=retrieve_ms, total_ms=retrieve_ms, load_ms=load_ms)
            answer = Answer(
                question,
                ABSTAIN_TEXT,
                abstained=True,
                passages=tuple(passages),
                timings=timings,
                reason="no passage holds a sentence about the question" if passages else None,
            )
            yield AnswerEvent(answer)
            return
        plan, pieces = self._write(question, readable, history, max_tokens, temperature)
        if evidence is not None and self.settings.answer_mode == "choose":
            chosen = self._choose(question, plan, passages, evidence)
            if chosen is not None:
                if not chosen.abstained:
                    yield TokenEvent(chosen.text)
                now = time.perf_counter()
                timings = Timings(
                    retrieve_ms,
                    (now - started) * 1000,
                    (now - started) * 1000,
                    load_ms=load_ms,
                    prompt_tokens=self._prompt_tokens(plan),
                )
                yield AnswerEvent(replace(chosen, passages=tuple(passages), timings=timings))
                return
        raw: list[str] = []
        first_token_ms: float | None = None
        try:
            for piece in pieces:
                if first_token_ms is None:
                    first_token_ms = (time.perf_counter() - started) * 1000
                raw.append(piece)
                yield TokenEvent(piece)
                if piece.strip() and repeats_itself("".join(raw)):
                    break  # small models loop; a repeated sentence or phrase adds nothing
        finally:
            # A stream left early still holds the model: an instruction model judging its
            # own answer next waited for itself forever (seen with Qwen2.5-Coder 1.5B).
            close = getattr(pieces, "close", None)
            if close is not None:
                close()
        checking = time.perf_counter()
        written = without_loop("".join(raw))
        answer = self._checker.check(question, written, plan.passages, passages, evidence)
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

    def _evidence(self, question: str, passages: Sequence[ScoredPassage]) -> list[Evidence] | None:
        """The passages' sentences ranked for answering: what the "sentences" reader reads,
        and where "choose" finds its candidates (None when neither is set)."""
        wanted = self.settings.reader == "sentences" or self.settings.answer_mode == "choose"
        if not wanted or not passages:
            return None
        return self.ranker.rank(question, passages)

    def _readable(
        self,
        question: str,
        passages: Sequence[ScoredPassage],
        evidence: Sequence[Evidence] | None,
    ) -> list[ScoredPassage]:
        """What the model reads: the best sentences, or each passage around its best match."""
        if evidence is None or self.settings.reader == "passages":
            k = self.settings.k
            return [focus_passage(p, question, self.settings.passage_words) for p in passages[:k]]
        return evidence_passages(evidence, self.settings.evidence_sentences)

    def _write(
        self,
        question: str,
        readable: Sequence[ScoredPassage],
        history: Sequence[Turn],
        max_tokens: int | None,
        temperature: float | None,
    ) -> tuple[PromptPlan, Iterator[str]]:
        """The prompt for what the model reads, and its answer as it is written."""
        generator = self.generator
        max_tokens = max_tokens or self.settings.max_tokens
        plan = build_prompt(
            question,
            readable,
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

    def _choose(
        self,
        question: str,
        plan: PromptPlan,
        passages: Sequence[ScoredPassage],
        evidence: Sequence[Evidence],
    ) -> Answer | None:
        """A name, date or number chosen among the candidates by the model's likelihood,
        or an abstention when none clearly wins; None when the question asks for no such
        thing (or the model cannot score), so the model writes instead."""
        kind = asked_kind(question)
        scorer = self.generator
        if kind is None or not hasattr(scorer, "score_continuations"):
            return None
        choice = choose(plan.text, question, evidence, kind, scorer)  # type: ignore[arg-type]
        if choice is None:
            return Answer(
                question,
                ABSTAIN_TEXT,
                abstained=True,
                reason=f"no {kind} in the passages clearly answers the question",
            )
        place = {p.chunk_id: n for n, p in enumerate(passages, start=1)}
        item = choice.evidence
        marker = place.get(item.passage.chunk_id, 1)
        offset = item.passage.chunk.start
        citation = Citation(
            marker=marker,
            passage=item.passage,
            text=item.text,
            start=offset + item.start,
            end=offset + item.end,
        )
        return Answer(
            question, f"{choice.text} [{marker}].", abstained=False, citations=(citation,)
        )

    def _prompt_tokens(self, plan: PromptPlan) -> int:
        """The tokens of the prompt as the model read it (the API's ``usage``)."""
        generator = self.generator
        return generator.count_prompt(plan.messages if generator.has_chat_template else plan.text)
