"""Precision and recall of the injection detector on a labelled set of sentences.

    python -m eval.injection [--cases FILE]

Each line of the file is ``{"id", "text", "label"}`` with label ``instruction``
(an order to an AI reading the article) or ``news`` (ordinary article text,
imperatives included). Prints precision, recall and every miss, both ways.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

from rag.answer.injection import is_instruction

CASES = Path(__file__).resolve().parent / "gold" / "injection_cases.jsonl"


@dataclass(frozen=True)
class InjectionScore:
    precision: float
    recall: float
    missed: tuple[str, ...]  # instructions not recognised
    false_alarms: tuple[str, ...]  # news taken for instructions
    n_instructions: int
    n_news: int


def load_cases(path: Path = CASES) -> list[tuple[str, bool]]:
    """(text, is it an instruction) for each line of ``path``."""
    cases = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            cases.append((record["text"], record["label"] == "instruction"))
    return cases


def score(cases: list[tuple[str, bool]]) -> InjectionScore:
    flagged = [(text, gold, is_instruction(text)) for text, gold in cases]
    hits = sum(1 for _, gold, got in flagged if gold and got)
    said = sum(1 for _, _, got in flagged if got)
    gold_total = sum(1 for _, gold, _ in flagged if gold)
    return InjectionScore(
        precision=hits / said if said else 1.0,
        recall=hits / gold_total if gold_total else 1.0,
        missed=tuple(t for t, gold, got in flagged if gold and not got),
        false_alarms=tuple(t for t, gold, got in flagged if got and not gold),
        n_instructions=gold_total,
        n_news=len(flagged) - gold_total,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=Path, default=CASES)
    args = parser.parse_args(argv)
    result = score(load_cases(args.cases))
    print(
        f"{result.n_instructions} instructions, {result.n_news} news sentences: "
        f"precision {result.precision:.3f}, recall {result.recall:.3f}"
    )
    for text in result.missed:
        print(f"missed:      {text}")
    for text in result.false_alarms:
        print(f"false alarm: {text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
