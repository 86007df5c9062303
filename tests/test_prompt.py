"""Prompt packing: numbered passages that always fit the model's context."""

from __future__ import annotations

import pytest

from rag.answer.prompt import build_prompt, focus_passage
from rag.errors import InputError
from rag.types import Chunk, ScoredPassage, Turn


def count(text: str) -> int:
    return len(text.split())


def passage(rank: int, words: int) -> ScoredPassage:
    text = " ".join(f"w{rank}x{i}" for i in range(words)) + "."
    chunk = Chunk(f"c{rank}", f"d{rank}", text, 0, len(text), words)
    return ScoredPassage(chunk, 1.0 / rank, rank, f"Title {rank}", "Wire", "2024-01-0" + str(rank))


def test_passages_are_numbered_in_rank_order_and_end_with_the_question():
    plan = build_prompt(
        "What happened?",
        [passage(1, 10), passage(2, 10)],
        count_tokens=count,
        context_size=2048,
        max_answer_tokens=100,
    )
    assert plan.text.index("[1] Title 1 (Wire, 2024-01-01)") < plan.text.index("[2] Title 2")
    assert plan.text.endswith("Question: What happened?\nAnswer:")
    assert [p.rank for p in plan.passages] == [1, 2]
    assert "\nQuestion:" in plan.stop and "\n\n" in plan.stop
    assert plan.messages[-1]["content"].endswith("Question: What happened?")


@pytest.mark.parametrize("context", [300, 400, 600, 900])
def test_prompt_plus_answer_never_exceeds_the_context(context):
    passages = [passage(i, 120) for i in range(1, 8)]
    plan = build_prompt(
        "Q?", passages, count_tokens=count, context_size=context, max_answer_tokens=100
    )
    assert count(plan.text) + 100 <= context
    assert 1 <= len(plan.passages) < 7
    # Dropped passages come from the end of the ranking.
    assert [p.rank for p in plan.passages] == list(range(1, len(plan.passages) + 1))


def test_last_passage_is_truncated_at_a_word_boundary():
    plan = build_prompt(
        "Q?",
        [passage(1, 50), passage(2, 400)],
        count_tokens=count,
        context_size=400,
        max_answer_tokens=100,
    )
    assert len(plan.passages) == 2
    block = plan.text.split("[2] Title 2 (Wire, 2024-01-02)\n", 1)[1]
    assert " …" in block and "w2x399" not in block


def test_follow_up_includes_the_previous_turn():
    plan = build_prompt(
        "And then?",
        [passage(1, 5)],
        count_tokens=count,
        context_size=2048,
        max_answer_tokens=50,
        history=[Turn("What happened?", "A thing [1].")],
    )
    assert "Earlier question: What happened?" in plan.text


def test_question_too_long_for_the_context():
    with pytest.raises(InputError, match="shorter question"):
        build_prompt(
            "word " * 500,
            [passage(1, 5)],
            count_tokens=count,
            context_size=300,
            max_answer_tokens=100,
        )


def test_focus_keeps_the_best_matching_sentence_and_its_neighbours():
    sentences = [f"Filler sentence number {i} talks about weather." for i in range(12)]
    sentences[7] = "The harbor bridge reopened on Monday after repairs."
    text = " ".join(sentences)
    chunk = Chunk("c", "d", text, 100, 100 + len(text), 1)
    p = ScoredPassage(chunk, 1.0, 1, "Title")
    focused = focus_passage(p, "When did the harbor bridge reopen?", 25)
    assert "harbor bridge reopened" in focused.text
    assert len(focused.text.split()) <= 25
    # Still a slice of the same article: offsets move with the text.
    assert text[focused.chunk.start - 100 : focused.chunk.end - 100] == focused.text
    assert focus_passage(p, "anything", 1000) is p
