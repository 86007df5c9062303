"""Choose among candidate answers by the model's likelihood, or decline to.

For a question that asks for a name, a date or a number, the answer is one of the
spans of that kind in the best sentences (``rag.answer.candidates``). Instead of
letting a small model write freely (and name someone who is not there), each
candidate is scored as the continuation of the same prompt the model would have
written from, the way multiple choice is scored: the mean log-probability of its
tokens. "The articles do not say." is scored beside them; when it wins, or when
no candidate leads the next by ``MIN_MARGIN``, nothing is chosen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from rag.answer.candidates import find_candidates
from rag.answer.cite import ABSTAIN_TEXT
from rag.answer.evidence import Evidence

# Sentences whose candidates are considered, best first.
CANDIDATE_SENTENCES = 5
# At most this many candidates are scored (each costs a batch of its own tokens).
MAX_CANDIDATES = 8
# The best candidate must lead the runner-up by this much mean log-probability per token.
MIN_MARGIN = 0.1


class CandidateScorer(Protocol):
    """A model that scores continuations of a prompt (mean log-probability per token)."""

    def score_continuations(self, prompt: str, continuations: Sequence[str]) -> list[float]: ...


@dataclass(frozen=True)
class Choice:
    """The candidate chosen, the sentence that states it, and how sure the choice was."""

    text: str
    evidence: Evidence
    likelihood: float
    margin: float  # over the runner-up, or over "the articles do not say"


def gather(
    question: str, evidence: Sequence[Evidence], kind: str | None
) -> list[tuple[str, Evidence]]:
    """Candidates of the asked kind from the best sentences, each with the best sentence
    holding it; a candidate inside a longer one ("Gargash", "Anwar Gargash") is one."""
    found: list[tuple[str, Evidence]] = []
    for item in evidence[:CANDIDATE_SENTENCES]:
        for candidate in find_candidates(item.text, question, kind):
            text = candidate.text
            lower = text.lower()
            if any(lower in known.lower() for known, _ in found):
                continue
            found = [(k, e) for k, e in found if k.lower() not in lower]
            found.append((text, item))
    return found[:MAX_CANDIDATES]


def choose(
    prompt: str,
    question: str,
    evidence: Sequence[Evidence],
    kind: str | None,
    scorer: CandidateScorer,
) -> Choice | None:
    """The candidate the model finds likeliest after ``prompt``, if it clearly wins."""
    candidates = gather(question, evidence, kind)
    if not candidates:
        return None
    options = [f" {text}" for text, _ in candidates] + [f" {ABSTAIN_TEXT}"]
    scores = scorer.score_continuations(prompt, options)
    *scored, declined = scores
    order = sorted(range(len(scored)), key=lambda i: -scored[i])
    best = order[0]
    runner_up = max([declined] + [scored[i] for i in order[1:]])
    margin = scored[best] - runner_up
    if scored[best] <= declined or (len(order) > 1 and margin < MIN_MARGIN):
        return None
    text, item = candidates[best]
    return Choice(text, item, scored[best], margin)
