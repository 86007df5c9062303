"""Does a passage sentence state what an answer sentence says? Checked by meaning.

Shared words are not enough: "No power could stop Iran if it wanted a weapon"
and "The United States is not a power that can stop Iran" share most of theirs.
Two checks run on the sentence that the word-overlap search (``rag.answer.cite``)
found for each answer sentence:

1. **Key facts in place** (always, no model): every name and number the answer
   adds to the question must stand in the cited sentence itself, or, when that
   sentence speaks of "he", "she" or "they", in the sentences just before it.
   Another official's name from the same article fails here.
2. **A yes/no judgement by the instruction model** (when the model has a chat
   template): "Does the sentence state that ...?", read from the probabilities
   of its first reply token. Distortions, swapped roles and negations that keep
   the words fail here.

``eval/support.py`` measures both on the team's labelled cases.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from rag.text.words import STOPWORDS, lexical_tokens

# A capitalised word that is not a sentence's first word, or any number.
_NAME = re.compile(r"(?<![\w'’])[A-Z][\w'’.-]*[\w]|\b\d[\d,.]*\b")
_PRONOUN = re.compile(r"\b(?:he|she|they|his|her|their|it|its|him|them)\b", re.IGNORECASE)
# How far back a pronoun may point for a name (sentences before the cited one).
LOOKBACK_SENTENCES = 2
# P(yes) at or above this is "the sentence states the claim", for a model whose pack
# names no threshold of its own (small models' probabilities sit in narrow bands).
JUDGE_THRESHOLD = 0.5


class Judge(Protocol):
    """A model that answers yes/no questions with a probability."""

    @property
    def judge_threshold(self) -> float: ...

    def judge(self, messages: Sequence[dict[str, str]]) -> float: ...


def _words(text: str) -> set[str]:
    """Lower-cased words, possessives folded ("Rouhani's" is "rouhani")."""
    words = {w.lower().strip(".,'’") for w in re.findall(r"[\w'’.,-]+", text)}
    return words | {re.sub(r"['’]s$", "", w) for w in words}


_MARKER = re.compile(r"\s*\[\d{1,3}(?:\s*,\s*\d{1,3})*\]")


def key_facts(claim: str, question: str) -> list[str]:
    """Names and numbers the claim states that the question does not already hold."""
    claim = _MARKER.sub("", claim)
    asked = _words(question)
    facts = []
    for match in _NAME.finditer(claim):
        token = re.sub(r"['’]s$", "", match.group(0).rstrip(".,"))
        start = match.start()
        sentence_start = start == 0 or claim[:start].rstrip().endswith((".", "!", "?", ":"))
        lower = token.lower()
        if sentence_start and not token[0].isdigit() and lower in STOPWORDS | _COMMON_STARTS:
            continue
        if lower in asked or lower in STOPWORDS:
            continue
        facts.append(token)
    return facts


_COMMON_STARTS = frozenset(
    "yes no the a an in on at it he she they his her their this that these those there "
    "according after before during because since while when where who what as by for".split()
)


def _norm(text: str) -> str:
    return " ".join(re.sub(r"(?<=\d),(?=\d)", "", text).lower().split())


def facts_in_place(
    claim: str, question: str, sentence: str, before: Sequence[str] = (), title: str = ""
) -> list[str]:
    """The claim's key facts that the cited sentence does not hold (empty: all in place)."""
    here = _norm(sentence)
    nearby = _norm(" ".join([*before[-LOOKBACK_SENTENCES:], title]))
    refers = bool(_PRONOUN.search(sentence))
    missing = []
    for fact in key_facts(claim, question):
        wanted = _norm(fact)
        if _contains(here, wanted) or _abbreviates(fact, sentence):
            continue
        if refers and not fact[0].isdigit() and _contains(nearby, wanted):
            continue
        missing.append(fact)
    return missing


def _abbreviates(fact: str, sentence: str) -> bool:
    """ "UAE" for "United Arab Emirates": the initials of a run of capitalised words."""
    if not (2 <= len(fact) <= 6 and fact.isupper() and fact.isalpha()):
        return False
    capitals = re.findall(r"\b[A-Z][a-z]+(?:\s+(?:of\s+|and\s+|the\s+)?[A-Z][a-z]+)+", sentence)
    for run in capitals:
        initials = "".join(w[0] for w in run.split() if w[0].isupper())
        if fact in initials:
            return True
    return False


def _contains(text: str, word: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text) is not None


def judge_messages(claim: str, question: str, sentence: str) -> list[dict[str, str]]:
    """An entailment question: does the article sentence (premise) entail the answer?

    Of four wordings tried with Qwen2.5-Coder 0.5B on the team's 88 labelled cases
    (``python -m eval.support``), this one separated supported answers from the rest
    best (AUC 0.79, against 0.65-0.72 for the others). A short answer ("Tehran.")
    is no statement on its own, so it is read together with the question.
    """
    claim = _MARKER.sub("", claim).strip()
    hypothesis = claim
    if question and len(re.findall(r"\w+", claim)) <= SHORT_ANSWER_WORDS:
        hypothesis = f'The answer to "{question}" is: {claim}'
    return [
        {
            "role": "user",
            "content": (
                f"Premise: {sentence}\nHypothesis: {hypothesis}\n"
                "Does the premise entail the hypothesis? Answer yes or no."
            ),
        }
    ]


SHORT_ANSWER_WORDS = 4


def answers_question(question: str, sentence: str, judge: Judge) -> bool:
    """Does the sentence answer the question (not just mention its people and places)?"""
    messages = [
        {
            "role": "user",
            "content": (
                f"Text: {sentence}\nQuestion: {question}\n"
                "Does the text answer the question? Answer yes or no."
            ),
        }
    ]
    return judge.judge(messages) >= judge.judge_threshold


@dataclass(frozen=True)
class Verdict:
    supported: bool
    missing: tuple[str, ...] = ()  # key facts not found where they should be
    p_yes: float | None = None  # the judge's probability, when it was asked
    reason: str | None = None


def check_support(
    claim: str,
    question: str,
    sentence: str,
    *,
    before: Sequence[str] = (),
    title: str = "",
    judge: Judge | None = None,
) -> Verdict:
    missing = tuple(facts_in_place(claim, question, sentence, before, title))
    if missing:
        return Verdict(False, missing, reason=f"{', '.join(missing)} not in the cited sentence")
    if judge is None:
        return Verdict(True)
    p_yes = judge.judge(judge_messages(claim, question, sentence))
    if p_yes < judge.judge_threshold:
        return Verdict(False, p_yes=p_yes, reason="the sentence does not state it")
    return Verdict(True, p_yes=p_yes)


# --- what kind of answer the question asks for ----------------------------------------

_ASKS = (
    (
        "number",
        re.compile(
            r"^(?:how (?:many|much|old|long|far)|what (?:number|percentage|share|amount|age)"
            r"|by how (?:much|many))\b"
        ),
    ),
    (
        "date",
        re.compile(
            r"^(?:when|what (?:year|date|day|month)|which (?:year|date|day|month)"
            r"|(?:on|in) (?:what|which) (?:year|date|day|month))\b"
        ),
    ),
    ("name", re.compile(r"^(?:who|whom|whose|where)\b")),
    # "Which country …", "What company …": the noun says a name is wanted.
    (
        "name",
        re.compile(
            r"^(?:which|what|in which|in what|from which|to which|for which) "
            r"(?:\w+ )?(?:country|countries|city|cities|state|nation|company|companies|firm"
            r"|team|club|person|man|woman|leader|president|minister|official|actor|actress"
            r"|singer|artist|band|group|organi[sz]ation|agency|party|airline|brand|network"
            r"|film|movie|show|series|book|album|song|university|school|island|region"
            r"|province|county|capital|continent|ocean|sea|river|mountain|player|athlete"
            r"|coach|ceo|billionaire|celebrity|rapper|author|director|star|king|queen|prince)\b"
        ),
    ),
)
_MONTHS = (
    "january february march april june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec monday tuesday wednesday thursday friday "
    "saturday sunday yesterday today tomorrow week month year weeks months years decade century "
    "noon midnight morning afternoon evening night dawn"
).split()
_NUMBER_WORDS = (
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety "
    "hundred thousand million billion trillion twice thrice dozen dozens half once zero none "
    "first second third fourth fifth sixth seventh eighth ninth tenth"
).split()


_YEAR_OR_TIME = re.compile(r"\b(?:1[5-9]\d\d|20\d\d)s?\b|\b\d{1,2}(?::\d\d)?\s*[ap]\.?m\b")


def asked_kind(question: str) -> str | None:
    """ "number", "date" or "name" when the question asks for one ("How many…", "When…",
    "Who…"), else None. A news quiz often asks at the end ("… is set to expire in which
    month?", "… is headed to which team?"), so the last sentence is read from its asking
    word, wherever that stands."""
    q = " ".join(question.lower().split())
    for kind, pattern in _ASKS:
        if pattern.search(q):
            return kind
    asking = _ASKING_WORD.search(q)
    if asking is not None:
        tail = q[asking.start() :]
        bare = re.sub(r"^(?:in|from|to|for|at|of|on) ", "", tail)
        for kind, pattern in _ASKS:
            if pattern.search(tail) or pattern.search(bare):
                return kind
    return None


# "… say about resigning?", "… know about the strike on the port?": the topic named after
# "about", up to the end of the clause.
_ABOUT = re.compile(r"\babout\s+([^?.!;,]+)", re.IGNORECASE)


def asked_topic(question: str) -> set[str]:
    """The stemmed terms of the topic a question names with "about", or an empty set.

    "What did Rouhani say about resigning?" is answered only by text about resigning:
    a true, cited sentence of the same article on something else ("we will never yield
    to pressure") is not an answer to it.
    """
    match = _ABOUT.search(question)
    return set(lexical_tokens(match.group(1))) if match else set()


# "which …", "what …", "how many …" inside a sentence (not "when", which opens clauses).
_ASKING_WORD = re.compile(r"\b(?:(?:in|from|to|for|at|of|on) )?(?:which|what|how (?:many|much))\b")


def gives_kind(text: str, question: str, kind: str | None) -> bool:
    """Does ``text`` hold, beyond the question's own words, the kind of thing asked for?

    A sentence that shares a question's names but holds no new name (for "who"), no
    date (for "when") and no number (for "how many") does not answer it, however
    many words it shares: the structural half of abstaining when related names are
    present but the answer is not.
    """
    if kind is None:
        return True
    text = _MARKER.sub("", text)
    asked = _words(question)
    words = [w.lower() for w in re.findall(r"[\w'’]+", text)]
    if kind == "number":
        # A count or amount: digits that are not a year or a time of day, or a number word.
        plain = re.sub(_YEAR_OR_TIME, " ", text)
        return bool(re.search(r"\d", plain)) or any(w in _NUMBER_WORDS for w in words)
    if kind == "date":
        years = re.search(_YEAR_OR_TIME, text)
        return bool(years or re.search(r"\bMay\b", text)) or any(w in _MONTHS for w in words)
    return any(
        fact.lower() not in asked and not fact[0].isdigit() and fact.lower() not in _MONTHS
        for fact in key_facts(text, question)
    )
