"""Prompts that answer from numbered passages, packed to fit the model's context.

Base models (the default Gemma 3 270M has no chat template) get a completion
prompt that ends in ``Answer:``; models with a chat template get the same
content as system and user messages. Passages are measured with the model's
own tokenizer so the prompt plus the answer never overflow the context.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from rag.answer.injection import mask_instructions
from rag.errors import InputError
from rag.text.sentences import split_sentences
from rag.text.words import lexical_tokens
from rag.types import ScoredPassage, Turn

# Chosen by measurement with Gemma 3 270M at temperature 0 and k=4: passages first, then a
# one-line instruction right before the question. On 10 answerable sample questions the reply
# held the gold string 6/10 times (4/10 with the instruction placed before the passages), and
# this wording was the only one tried that answered from the real seed article on Rouhani.
INSTRUCTIONS = (
    "Using the passages above, answer the question in one sentence and cite the passage "
    "like [1]. If no passage answers it, write: The articles do not say."
)
# Instruction-tuned models read this as their system message: complete sentences that name
# who said or did what, a marker per sentence, a fixed reply when the passages do not answer,
# and both sides when the passages disagree.
CHAT_INSTRUCTIONS = (
    "You answer questions about news articles using only the numbered passages the user "
    "gives. Answer in one or two complete sentences that state the answer and name who said "
    "or did it. End each sentence with the number of the passage it comes from, like [1]. "
    "If the passages give different answers, say that they disagree and give each answer "
    "with its number. If no passage answers the question, reply exactly: The articles do not "
    "say."
)
STOP = ("\nQuestion:", "\n\n", "\n[", "\nPassage", "<end_of_turn>", "<eos>")
# Tokens kept free beyond the estimate: joins can tokenise a little differently.
SAFETY_MARGIN = 16
CHAT_TEMPLATE_TOKENS = 24
MIN_PASSAGE_TOKENS = 40


@dataclass(frozen=True)
class PromptPlan:
    text: str
    messages: tuple[dict[str, str], ...]
    passages: tuple[ScoredPassage, ...]  # marker n is passages[n - 1]
    stop: tuple[str, ...]
    n_tokens: int


def passage_block(marker: int, passage: ScoredPassage, text: str | None = None) -> str:
    meta = ", ".join(x for x in (passage.source, passage.date) if x)
    heading = f"[{marker}] {passage.title}" + (f" ({meta})" if meta else "")
    # Orders to an AI inside an article never reach the model as orders.
    return f"{heading}\n{mask_instructions(text if text is not None else passage.text)}"


def _conversation(history: Sequence[Turn]) -> str:
    if not history:
        return ""
    last = history[-1]
    return f"Earlier question: {last.question}\nEarlier answer: {last.answer}\n"


def _completion(blocks: Sequence[str], question: str, history: Sequence[Turn]) -> str:
    passages = "\n\n".join(blocks)
    return f"{passages}\n\n{INSTRUCTIONS}\n{_conversation(history)}Question: {question}\nAnswer:"


def _truncate(text: str, budget: int, count_tokens: Callable[[str], int]) -> str | None:
    """The longest word-boundary prefix of ``text`` (plus "…") within ``budget`` tokens."""
    words = text.split(" ")
    lo, hi = 0, len(words)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if count_tokens(" ".join(words[:mid]) + " …") <= budget:
            lo = mid
        else:
            hi = mid - 1
    return " ".join(words[:lo]) + " …" if lo else None


def build_prompt(
    question: str,
    passages: Sequence[ScoredPassage],
    *,
    count_tokens: Callable[[str], int],
    context_size: int,
    max_answer_tokens: int,
    history: Sequence[Turn] = (),
) -> PromptPlan:
    budget = context_size - max_answer_tokens - SAFETY_MARGIN
    # The chat form adds its system message and the template's role tokens.
    overhead = max(
        count_tokens(_completion([], question, history)),
        count_tokens(CHAT_INSTRUCTIONS + _conversation(history) + question) + CHAT_TEMPLATE_TOKENS,
    )
    if overhead > budget:
        raise InputError(
            f"The question needs {overhead} tokens, but the model's context holds "
            f"{context_size} with {max_answer_tokens} kept for the answer. "
            "Ask a shorter question or raise --context-size."
        )
    room = budget - overhead
    blocks: list[str] = []
    included: list[ScoredPassage] = []
    for passage in passages:
        marker = len(included) + 1
        block = passage_block(marker, passage)
        cost = count_tokens(block) + 2  # the blank line between blocks
        if cost <= room:
            blocks.append(block)
            included.append(passage)
            room -= cost
            continue
        heading_cost = count_tokens(passage_block(marker, passage, "")) + 2
        if room - heading_cost >= MIN_PASSAGE_TOKENS:
            text = _truncate(passage.text, room - heading_cost, count_tokens)
            if text:
                blocks.append(passage_block(marker, passage, text))
                included.append(passage)
        break
    text = _completion(blocks, question, history)
    user = "\n\n".join(blocks) + f"\n\n{_conversation(history)}Question: {question}"
    messages = (
        {"role": "system", "content": CHAT_INSTRUCTIONS},
        {"role": "user", "content": user},
    )
    return PromptPlan(text, messages, tuple(included), STOP, count_tokens(text))


def focus_passage(passage: ScoredPassage, question: str, max_words: int) -> ScoredPassage:
    """The passage cut down to the sentences around the one that best matches the question.

    A 270M model reads four long passages slowly and loses the answer among
    them; the sentence sharing most (stemmed) words with the question, and its
    neighbours up to ``max_words``, keep what answers it. The result is a
    narrower chunk of the same article, so citation offsets stay exact.
    """
    text = passage.text
    if len(text.split()) <= max_words:
        return passage
    spans = split_sentences(text)
    if len(spans) < 2:
        return passage
    wanted = set(lexical_tokens(question))
    scores = [len(wanted & set(lexical_tokens(text[a:b]))) for a, b in spans]
    words = [len(text[a:b].split()) for a, b in spans]
    best = max(range(len(spans)), key=lambda i: (scores[i], -i))
    first = last = best
    total = words[best]
    while True:
        grown = False
        for candidate in (last + 1, first - 1):  # the sentence after first: it often finishes
            inside = 0 <= candidate < len(spans) and not first <= candidate <= last
            if inside and total + words[candidate] <= max_words:
                total += words[candidate]
                first, last = min(first, candidate), max(last, candidate)
                grown = True
        if not grown:
            break
    start, end = spans[first][0], spans[last][1]
    chunk = passage.chunk
    narrowed = replace(
        chunk, text=text[start:end], start=chunk.start + start, end=chunk.start + end
    )
    return replace(passage, chunk=narrowed)
