"""Small models loop: a sentence said again, or a phrase said over and over.

``repeats_itself`` tells the answer's stream when to stop listening, and
``without_loop`` cuts the repetition off what was written.
"""

from __future__ import annotations

import re

from rag.text.sentences import split_sentences


def repeats_itself(text: str) -> bool:
    """Has the text just completed a sentence it already wrote, or looped on a phrase?"""
    if repeated_phrase(text) is not None:
        return True
    sentences = [text[a:b] for a, b in split_sentences(text)]
    if len(sentences) < 2 or not text.rstrip().endswith((".", "!", "?", "]")):
        return False
    last = sentences[-1].strip().lower()
    return any(s.strip().lower() == last for s in sentences[:-1])


# A phrase of this many words or more, said this many times, is a loop.
LOOP_TIMES = 3
LOOP_MIN_WORDS = 3
_LOOP_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?")


def repeated_phrase(text: str) -> int | None:
    """Where a looped phrase's second telling starts in ``text``, or None.

    "the estate's current owner, the estate's current owner, the estate's …": a run
    of words said back to back three times (any length), or a phrase of three or
    more words said three times anywhere. Small models fall into such loops and
    never leave them, so the text is cut where the repetition began.
    """
    words = [(m.group(0).lower(), m.start()) for m in _LOOP_WORD.finditer(text)]
    tokens = [w for w, _ in words]
    n_words = len(tokens)
    for size in range(1, n_words // LOOP_TIMES + 1):
        tail = tokens[n_words - size :]
        if all(
            tokens[n_words - size * (i + 1) : n_words - size * i] == tail
            for i in range(1, LOOP_TIMES)
        ):
            return words[n_words - size * (LOOP_TIMES - 1)][1]
    for size in range(LOOP_MIN_WORDS, 9):
        if n_words < size * LOOP_TIMES:
            break
        tail = tokens[n_words - size :]
        starts = [i for i in range(n_words - size + 1) if tokens[i : i + size] == tail]
        kept: list[int] = []
        for i in starts:
            if not kept or i >= kept[-1] + size:
                kept.append(i)
        if len(kept) >= LOOP_TIMES:
            return words[kept[1]][1]
    return None


def without_loop(text: str) -> str:
    """The text cut before a looped phrase's second telling (unchanged without a loop)."""
    cut = repeated_phrase(text)
    return text if cut is None else text[:cut].rstrip(" ,;:-–—")
