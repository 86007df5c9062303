"""A hand audit of answers: does every sentence a user reads stand in the passage it cites?

``sample`` draws answered (not abstained) questions from a run's ``results.json`` and
prints each answer sentence with the sentences it cites, for a person to judge.
``score`` reads the verdicts back and reports the share of shown sentences that
their citations do not state.

The verdict file keeps ids, verdicts and short notes only: the questions and
passages stay in the benchmark files (``../shared/benchmarks``), and ``show``
prints them again from a run.

    python -m eval.audit sample RUN/results.json --n 50 --seed 0 > eval/audit/NAME.jsonl
    python -m eval.audit show RUN/results.json eval/audit/NAME.jsonl
    python -m eval.audit score eval/audit/NAME.jsonl
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rag.answer.cite import MARKER
from rag.text.sentences import split_sentences

VERDICTS = ("supported", "unsupported", "partly")


def claims(text: str) -> list[tuple[int, int]]:
    """The answer's sentences as a reader meets them: a bare citation marker that the
    splitter leaves on its own (after a closing quote) belongs to the sentence before it."""
    spans: list[tuple[int, int]] = []
    for a, b in split_sentences(text):
        if spans and not MARKER.sub("", text[a:b]).strip():
            spans[-1] = (spans[-1][0], b)
        else:
            spans.append((a, b))
    return spans


def answered(results: dict[str, Any], system: str = "product") -> list[dict[str, Any]]:
    out = []
    for record in results["records"]:
        answer = record["answers"].get(system)
        if answer and not answer["abstained"]:
            out.append(record)
    return out


def sample(results: dict[str, Any], n: int, seed: int) -> list[dict[str, Any]]:
    pool = answered(results)
    chosen = sorted(random.Random(seed).sample(range(len(pool)), min(n, len(pool))))
    rows = []
    for i in chosen:
        record = pool[i]
        answer = record["answers"]["product"]
        text = answer["answer"]
        rows.append(
            {
                "qid": record["qid"],
                "sentences": len(claims(text)),
                "citations": [c["chunk_id"] for c in answer["citations"]],
                "verdicts": [],  # one per answer sentence: supported / unsupported / partly
                "note": "",
            }
        )
    return rows


def show(results: dict[str, Any], rows: Sequence[dict[str, Any]]) -> str:
    by_id = {r["qid"]: r for r in results["records"]}
    lines = []
    for row in rows:
        record = by_id[row["qid"]]
        answer = record["answers"]["product"]
        lines.append(f"## {row['qid']}  {record['question']}")
        lines.append(f"gold: {record['gold']}")
        text = answer["answer"]
        for k, (a, b) in enumerate(claims(text), 1):
            lines.append(f"  answer {k}: {text[a:b]}")
        for c in answer["citations"]:
            lines.append(f"  cites [{c['marker']}] {c['title'][:60]}: {c['text']}")
        lines.append(f"  verdicts: {row.get('verdicts')}  {row.get('note', '')}")
        lines.append("")
    return "\n".join(lines)


def score(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    verdicts = [v for row in rows for v in row["verdicts"]]
    unknown = sorted({v for v in verdicts if v not in VERDICTS})
    if unknown:
        raise SystemExit(f"unknown verdicts {unknown}; use {', '.join(VERDICTS)}")
    bad = sum(v != "supported" for v in verdicts)
    return {
        "answers": len(rows),
        "sentences": len(verdicts),
        "not_supported": bad,
        "unsupported_rate": round(bad / len(verdicts), 4) if verdicts else None,
        "answers_with_an_unsupported_sentence": sum(
            any(v != "supported" for v in row["verdicts"]) for row in rows
        ),
    }


def _read_jsonl(path: str) -> list[dict[str, Any]]:
    return [json.loads(x) for x in Path(path).read_text(encoding="utf-8").splitlines() if x]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="action", required=True)
    p = sub.add_parser("sample")
    p.add_argument("results")
    p.add_argument("--n", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("show")
    p.add_argument("results")
    p.add_argument("verdicts")
    p = sub.add_parser("score")
    p.add_argument("verdicts")
    args = parser.parse_args(argv)
    if args.action == "sample":
        results = json.loads(Path(args.results).read_text(encoding="utf-8"))
        for row in sample(results, args.n, args.seed):
            sys.stdout.write(json.dumps(row) + "\n")
    elif args.action == "show":
        results = json.loads(Path(args.results).read_text(encoding="utf-8"))
        print(show(results, _read_jsonl(args.verdicts)))
    else:
        print(json.dumps(score(_read_jsonl(args.verdicts)), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
