"""Question sets with their corpora, read from where they live (nothing is copied).

- ``gold``: the team's own questions over ``samples/articles`` (``eval/gold/sample_gold.jsonl``);
- ``exact``: the team's exact-match questions (a code name, a bill number, an unusual
  surname, a figure that one article holds) over its own articles of one feed, asked on a
  day when other articles of that feed are more recent (``eval/gold/exact_match.jsonl``);
- ``realtimeqa``: RealTimeQA 2023 Q1 news quizzes over the articles a web search returned;
- ``rgb``: RGB's English fact questions over their pooled positive and negative passages.
"""

from __future__ import annotations

import ast
import datetime
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlparse

from rag.errors import InputError
from rag.ingest.files import load_documents
from rag.types import RawDocument, Turn

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT.parent / "shared" / "benchmarks"
GOLD_FILE = ROOT / "eval" / "gold" / "sample_gold.jsonl"
SAMPLES = ROOT / "samples" / "articles"
EXACT_FILE = ROOT / "eval" / "gold" / "exact_match.jsonl"
EXACT_ARTICLES = ROOT / "eval" / "gold" / "exact_match"


@dataclass(frozen=True)
class EvalQuestion:
    qid: str
    question: str
    answers: tuple[str, ...]  # any of them counts; empty for unanswerable questions
    answerable: bool
    gold_origins: frozenset[str] = frozenset()  # origins of the articles that answer it
    supporting: str | None = None  # the sentence that answers it, when known
    history: tuple[Turn, ...] = ()  # earlier turns, for follow-up questions
    standalone: str | None = None  # a follow-up written out in full, by hand
    asked_on: datetime.date | None = None  # the day the question was asked, when known
    # Two answers that the corpus's passages disagree on (rgb-counterfactual), when set up so.
    sides: tuple[tuple[str, ...], tuple[str, ...]] | None = None
    kind: str | None = None  # e.g. "false_premise", "unanswerable_related" (gold set)
    choices: tuple[str, ...] = ()  # the answer choices, where the dataset gives them


@dataclass(frozen=True)
class EvalDataset:
    name: str
    documents: tuple[RawDocument, ...]
    questions: tuple[EvalQuestion, ...]
    notes: dict[str, object] = field(default_factory=dict)


def normalise_space(text: str) -> str:
    return " ".join(text.lower().split())


# --- the team's gold set ------------------------------------------------------------


def load_gold(path: Path = GOLD_FILE, corpus: Path = SAMPLES, name: str = "gold") -> EvalDataset:
    """The team's questions in ``path`` (JSON lines) over the articles in ``corpus``."""
    documents, problems = load_documents([corpus])
    if problems:
        raise InputError(f"The sample corpus has unreadable files: {problems}")
    by_name = {Path(d.origin).name: d.origin for d in documents}
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    first_answers = {r["id"]: r for r in rows}
    questions = []
    for r in rows:
        missing = [a for a in r.get("articles", []) if a not in by_name]
        if missing:
            raise InputError(f"{path}: question {r['id']} names unknown articles {missing}")
        history: tuple[Turn, ...] = ()
        if r.get("follows"):
            earlier = first_answers[r["follows"]]
            history = (Turn(earlier["question"], (earlier.get("answers") or [""])[0]),)
        questions.append(
            EvalQuestion(
                qid=r["id"],
                question=r["question"],
                answers=tuple(r.get("answers", ())),
                answerable=bool(r.get("answers")),
                gold_origins=frozenset(by_name[a] for a in r.get("articles", [])),
                supporting=r.get("supporting"),
                history=history,
                standalone=r.get("standalone"),
                asked_on=_day(r.get("asked_on")),
                kind=r.get("kind"),
            )
        )
    return EvalDataset(name, tuple(documents), tuple(questions))


# --- RealTimeQA ---------------------------------------------------------------------

REALTIMEQA_DIR = BENCHMARKS / "realtimeqa" / "2023q1"


def realtimeqa_weeks(directory: Path = REALTIMEQA_DIR) -> list[str]:
    return sorted(p.name.split("_")[0] for p in directory.glob("*_qa.jsonl"))


def _day(value: object) -> datetime.date | None:
    """RealTimeQA writes dates as 2023/01/05."""
    try:
        return datetime.date.fromisoformat(str(value).replace("/", "-"))
    except ValueError:
        return None


def _parse_list(value: object) -> list[str]:
    """RealTimeQA stores some lists as Python-literal strings."""
    if isinstance(value, list):
        return [str(v) for v in value]
    try:
        parsed = ast.literal_eval(str(value))
    except (ValueError, SyntaxError):
        return [str(value)]
    return [str(v) for v in parsed] if isinstance(parsed, list | tuple) else [str(parsed)]


def load_realtimeqa(
    weeks: Sequence[str] | None = None, directory: Path = REALTIMEQA_DIR
) -> EvalDataset:
    if not directory.is_dir():
        raise InputError(f"RealTimeQA data not found at {directory}.")
    available = realtimeqa_weeks(directory)
    chosen = list(weeks) if weeks else available
    unknown = sorted(set(chosen) - set(available))
    if unknown:
        raise InputError(f"No RealTimeQA week {unknown}; available: {', '.join(available)}")
    documents: dict[str, RawDocument] = {}
    questions: list[EvalQuestion] = []
    for week in chosen:
        for line in (directory / f"{week}_gcs.jsonl").read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            for hit in record.get("search_result") or []:
                url, text = hit.get("url"), (hit.get("text") or "").strip()
                if not url or not text or url in documents:
                    continue
                documents[url] = RawDocument(
                    text=text,
                    origin=f"realtimeqa:{url}",
                    title=(hit.get("title") or "").strip() or None,
                    date=hit.get("publish_date") or None,
                    source=urlparse(url).netloc.removeprefix("www.") or None,
                    url=url,
                )
        for line in (directory / f"{week}_qa.jsonl").read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            choices = _parse_list(record["choices"])
            gold = choices[int(_parse_list(record["answer"])[0])]
            questions.append(
                EvalQuestion(
                    qid=record["question_id"],
                    question=record["question_sentence"].strip(),
                    answers=(gold,),
                    answerable=True,  # decided below against the corpus
                    choices=tuple(choices),
                    asked_on=_day(record.get("question_date")),
                )
            )
    corpus_text = [normalise_space(f"{d.title or ''} {d.text}") for d in documents.values()]
    marked = []
    for q in questions:
        needle = normalise_space(q.answers[0])
        found = any(needle in text for text in corpus_text)
        marked.append(q if found else replace(q, answerable=False))
    notes = {
        "weeks": chosen,
        "articles": len(documents),
        "questions": len(marked),
        "answerable": sum(q.answerable for q in marked),
    }
    return EvalDataset("realtimeqa", tuple(documents.values()), tuple(marked), notes)


# --- RGB ----------------------------------------------------------------------------

RGB_FILE = BENCHMARKS / "rgb" / "en_fact.json"


def _rgb_answers(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    out: list[str] = []
    for item in value if isinstance(value, list) else [value]:
        out.extend(_rgb_answers(item))
    return tuple(dict.fromkeys(out))


def load_rgb(path: Path = RGB_FILE, *, counterfactual: bool = False) -> EvalDataset:
    """RGB fact questions; ``counterfactual`` adds the positives' altered copies.

    With ``counterfactual`` the corpus holds each supporting passage twice, as
    written and with the answer swapped for RGB's fake one, as two outlets that
    disagree: either answer counts as held, and the run reports how often the
    product says that the sources disagree and cites both.
    """
    if not path.is_file():
        raise InputError(f"RGB data not found at {path}.")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    documents: dict[str, RawDocument] = {}

    def add(text: str) -> str:
        origin = f"rgb:{_passage_key(text)}"
        documents.setdefault(origin, RawDocument(text=text, origin=origin, title=_title(text)))
        return origin

    questions = []
    for r in rows:
        positives = [*r["positive"], *(r["positive_wrong"] if counterfactual else [])]
        gold_origins = frozenset(add(p) for p in positives)
        for p in r["negative"]:
            add(p)
        answers = _rgb_answers(r["answer"])
        sides = None
        if counterfactual:
            sides = (answers, _rgb_answers(r["fakeanswer"]))
            answers = tuple(dict.fromkeys(answers + sides[1]))
        questions.append(
            EvalQuestion(
                qid=f"rgb-{r['id']}",
                question=r["query"],
                answers=answers,
                answerable=True,
                gold_origins=gold_origins,
                sides=sides,
            )
        )
    name = "rgb-counterfactual" if counterfactual else "rgb"
    return EvalDataset(name, tuple(documents.values()), tuple(questions))


def _passage_key(text: str) -> str:
    from rag.types import content_hash

    return content_hash("rgb", text)


def _title(text: str) -> str:
    first = re.split(r"(?<=[.!?])\s|\s·\s|\n", text.strip(), maxsplit=1)[0]
    return first[:90] + ("…" if len(first) > 90 else "")


# The datasets by name: each loader takes the RealTimeQA weeks (only that one uses them).
DATASETS: dict[str, Callable[[Sequence[str] | None], EvalDataset]] = {
    "gold": lambda weeks: load_gold(),
    "exact": lambda weeks: load_gold(EXACT_FILE, EXACT_ARTICLES, "exact"),
    "realtimeqa": load_realtimeqa,
    "rgb": lambda weeks: load_rgb(),
    "rgb-counterfactual": lambda weeks: load_rgb(counterfactual=True),
}


def load_dataset(name: str, *, weeks: Sequence[str] | None = None) -> EvalDataset:
    loader = DATASETS.get(name)
    if loader is None:
        raise InputError(
            f"Unknown dataset {name!r}; use gold, exact, realtimeqa, rgb or rgb-counterfactual."
        )
    return loader(weeks)
