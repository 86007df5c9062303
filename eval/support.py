"""How well the meaning check catches answer sentences that the cited sentence does not state.

Reads the team's labelled cases (``eval/gold/support_cases.jsonl``: a question, an
answer sentence, an article sentence, and whether the sentence supports it:
supported, distorted, swapped, negated, unsupported) and runs each check on
them: key facts alone, and key facts with the model's yes/no judgement at
several thresholds. "Caught" means the check refused a case not labelled
supported; precision and recall are for catching those.

    python -m eval.support --model qwen2.5-coder-0.5b [--out support.json]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rag.answer.support import facts_in_place, judge_messages
from rag.text.sentences import split_sentences

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "eval" / "gold" / "support_cases.jsonl"
ARTICLES = ROOT / "samples" / "articles"
THRESHOLDS = (0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 0.7)


def load_cases(path: Path = CASES) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _before(case: dict[str, Any]) -> list[str]:
    """The article sentences before the cited one, for pronouns that point back."""
    text = (ARTICLES / case["article"]).read_text(encoding="utf-8")
    at = text.find(case["sentence"])
    return [text[a:b] for a, b in split_sentences(text[: max(at, 0)])][-3:]


def scores(caught: Sequence[bool], labels: Sequence[str]) -> dict[str, Any]:
    bad = [label != "supported" for label in labels]
    tp = sum(c and b for c, b in zip(caught, bad, strict=True))
    fp = sum(c and not b for c, b in zip(caught, bad, strict=True))
    fn = sum(b and not c for c, b in zip(caught, bad, strict=True))
    by_label: dict[str, list[int]] = {}
    for c, label in zip(caught, labels, strict=True):
        by_label.setdefault(label, [0, 0])
        by_label[label][0] += int(c)
        by_label[label][1] += 1
    return {
        "precision": round(tp / (tp + fp), 3) if tp + fp else None,
        "recall": round(tp / (tp + fn), 3) if tp + fn else None,
        "caught_by_label": {k: f"{v[0]}/{v[1]}" for k, v in sorted(by_label.items())},
    }


def auc(p_yes: Sequence[float], labels: Sequence[str]) -> float:
    """Chance that a supported case gets a higher P(yes) than an unsupported one."""
    pos = [p for p, label in zip(p_yes, labels, strict=True) if label == "supported"]
    neg = [p for p, label in zip(p_yes, labels, strict=True) if label != "supported"]
    pairs = [(p > n) + 0.5 * (p == n) for p in pos for n in neg]
    return round(sum(pairs) / len(pairs), 3) if pairs else float("nan")


def evaluate(cases: Sequence[dict[str, Any]], generator: Any | None) -> dict[str, Any]:
    labels = [c["label"] for c in cases]
    facts = [
        bool(facts_in_place(c["claim"], c["question"], c["sentence"], _before(c))) for c in cases
    ]
    result: dict[str, Any] = {"n": len(cases), "key_facts": scores(facts, labels)}
    if generator is None:
        return result
    p_yes, ms = [], []
    for case in cases:
        started = time.perf_counter()
        p_yes.append(
            generator.judge(judge_messages(case["claim"], case["question"], case["sentence"]))
        )
        ms.append((time.perf_counter() - started) * 1000)
    result["judge_ms_median"] = round(sorted(ms)[len(ms) // 2], 1)
    result["judge_auc"] = auc(p_yes, labels)
    result["model_threshold"] = generator.judge_threshold
    for t in sorted({*THRESHOLDS, generator.judge_threshold}):
        judged = [p is not None and p < t for p in p_yes]
        result[f"judge_{t}"] = scores(judged, labels)
        both = [f or j for f, j in zip(facts, judged, strict=True)]
        result[f"key_facts_and_judge_{t}"] = scores(both, labels)
    result["cases"] = [
        {"id": c["id"], "label": c["label"], "facts_missing": f, "p_yes": p}
        for c, f, p in zip(cases, facts, p_yes, strict=True)
    ]
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model pack name or GGUF path")
    parser.add_argument("--no-judge", action="store_true", help="key facts only")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    generator = None
    if not args.no_judge:
        from rag.answer.generate import LlamaCppGenerator

        generator = LlamaCppGenerator(args.model, context_size=1024, threads=args.threads)
        generator.warm_up()
    result = evaluate(load_cases(), generator)
    summary = {k: v for k, v in result.items() if k != "cases"}
    print(json.dumps(summary, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
