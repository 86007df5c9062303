"""Scoring functions: pure, small, and tested on hand-made cases.

Answers are compared after SQuAD-style normalisation (lower case, no
punctuation or articles, single spaces) with citation markers removed.
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

_MARKER = re.compile(r"\[\d{1,3}(?:\s*,\s*\d{1,3})*\]")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation + "“”‘’")


def normalise_answer(text: str) -> str:
    text = _MARKER.sub(" ", text).lower().translate(_PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, answers: Sequence[str]) -> float:
    p = normalise_answer(prediction)
    return float(any(p == normalise_answer(a) for a in answers))


def token_f1(prediction: str, answers: Sequence[str]) -> float:
    best = 0.0
    p_tokens = normalise_answer(prediction).split()
    for answer in answers:
        a_tokens = normalise_answer(answer).split()
        common = sum((Counter(p_tokens) & Counter(a_tokens)).values())
        if common:
            precision, recall = common / len(p_tokens), common / len(a_tokens)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def contains_answer(text: str, answers: Sequence[str]) -> bool:
    """Does the text contain a gold string?

    Either as a case- and space-insensitive substring (the rule the reference
    figures use) or as whole words after normalisation ("U.S." matches "US").
    """
    spaced = " ".join(text.lower().split())
    words = f" {normalise_answer(text)} "
    for answer in answers:
        needle = " ".join(answer.lower().split())
        if needle and needle in spaced:
            return True
        normal = normalise_answer(answer)
        if normal and f" {normal} " in words:
            return True
    return False


# Words a choice may drop and still be named: "Ohio State" names "Ohio State University".
_GENERIC = frozenset(
    "university inc corp corporation company co ltd llc plc group the of and club fc team "
    "party city county province republic kingdom".split()
)
_NOT_NAMEABLE = re.compile(r"\b(?:all|none|both|neither) of the (?:above|these|those)\b")


def _choice_words(text: str) -> list[str]:
    """Normalised words, with "%" and "per cent" read as "percent", "1,000" as "1000" and
    "Nepal's" as "Nepal"."""
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text)
    text = re.sub(r"(?<=\w)['’]s\b", "", text)
    text = re.sub(r"\s*%", " percent", text)
    text = re.sub(r"\bper\s+cent\b", "percent", text, flags=re.IGNORECASE)
    return normalise_answer(text).split()


def _key_words(choice: str) -> list[str]:
    words = _choice_words(choice)
    key = [w for w in words if w not in _GENERIC]
    return key or words


def names_choice(text: str, choice: str, choices: Sequence[str] = ()) -> bool:
    """Does the answer name this answer choice? Its whole text, its key words in order
    ("Ohio State" for "Ohio State University", "25 percent" for "25%"), what stands before
    a comma ("Bungay" for "Bungay, Suffolk"), or, for a name of several words, its last
    word when no other choice holds that word ("Suns" for "Phoenix Suns")."""
    if not choice.strip() or _NOT_NAMEABLE.search(choice.lower()):
        return False
    words = _choice_words(text)
    forms = [_choice_words(choice), _key_words(choice)]
    if "," in choice:
        forms.append(_key_words(choice.split(",")[0]))
    key = _key_words(choice)
    others = {w for other in choices if other != choice for w in _choice_words(other)}
    if len(key) > 1 and len(key[-1]) >= 4 and not key[-1].isdigit() and key[-1] not in others:
        forms.append(key[-1:])
    for wanted in forms:
        n = len(wanted)
        if n and any(words[i : i + n] == wanted for i in range(len(words) - n + 1)):
            return True
    return False


def right_by_choice(text: str, gold: str, choices: Sequence[str]) -> bool:
    """The answer names the gold choice and no other (a choice whose key words all stand
    in the gold's, such as "Ohio" beside "Ohio State", does not count against it)."""
    if not names_choice(text, gold, choices):
        return False
    gold_words = set(_key_words(gold))
    for other in choices:
        if other == gold or set(_key_words(other)) <= gold_words:
            continue
        if names_choice(text, other, choices):
            return False
    return True


def first_relevant_rank(relevant: Sequence[bool]) -> int | None:
    return next((i + 1 for i, r in enumerate(relevant) if r), None)


def hit_at_k(relevant: Sequence[bool], k: int) -> float:
    return float(any(relevant[:k]))


def reciprocal_rank(relevant: Sequence[bool], k: int = 10) -> float:
    rank = first_relevant_rank(relevant[:k])
    return 1.0 / rank if rank else 0.0


def ndcg(relevant: Sequence[bool], n_relevant_total: int, k: int = 10) -> float:
    """Binary-relevance nDCG@k; the ideal list holds every relevant item in the corpus."""
    dcg = sum(1.0 / math.log2(i + 2) for i, r in enumerate(relevant[:k]) if r)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(k, n_relevant_total)))
    return dcg / ideal if ideal else 0.0


def recall_at_k(retrieved_docs: Sequence[str], gold_docs: set[str], k: int) -> float:
    if not gold_docs:
        return 0.0
    return len(set(retrieved_docs[:k]) & gold_docs) / len(gold_docs)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100), None for no values."""
    data = sorted(v for v in values if v is not None)
    if not data:
        return None
    position = (len(data) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    return data[low] + (data[high] - data[low]) * (position - low)


def rss_mb(pid: int | str = "self") -> float | None:
    """Resident memory of a process in MB, from /proc (Linux); None where it cannot be read."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def abstention_scores(
    abstained: Sequence[bool], answerable: Sequence[bool]
) -> dict[str, float | None]:
    pairs = list(zip(abstained, answerable, strict=True))
    n_abstained = sum(a for a, _ in pairs)
    n_unanswerable = sum(not ok for _, ok in pairs)
    n_answerable = len(pairs) - n_unanswerable
    correct = sum(a and not ok for a, ok in pairs)
    return {
        "abstention_precision": correct / n_abstained if n_abstained else None,
        "abstention_recall": correct / n_unanswerable if n_unanswerable else None,
        "false_abstention_rate": (
            sum(a and ok for a, ok in pairs) / n_answerable if n_answerable else None
        ),
    }
