"""How good and how fast `rag timeline` is, against team-written gold timelines.

    python -m eval.timeline                       # the sample articles (indexed afresh)
    python -m eval.timeline --corpus realtimeqa --index-dir /path/to/realtimeqa/index

A gold timeline (``eval/gold/timelines.json``) is a topic and its events, each
a date ("2025-03-12", "2025-03" or "2019") and a few key words a correct line
must hold ("a|b": either). Per story, and over all:

- a line tells a gold event when it holds the event's key words on a date that
  agrees with it (the same period, or a more precise day inside it);
- recall: gold events some line tells;
- date accuracy: of the lines holding some gold event's key words, those that tell
  one of them (a line about Thursday's news conference may name Monday's collapse:
  it is right when dated Thursday);
- duplicate lines: lines telling only gold events an earlier line already tells
  (lines marked as disagreeing with it excepted), over all lines;
- unsupported lines: lines whose statement is not the words of the sentence they
  cite, whose citation is not at its offsets in the article, or whose date is
  after the day of every article it cites;
- time: the median milliseconds of a timeline (models loaded, each topic timed
  ``--repeat`` times).

The index given with ``--index-dir`` is only read.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval.commands import script_main
from rag.config import load_settings
from rag.service import RagService
from rag.timeline import Timeline, TimelineEvent

GOLD = Path(__file__).parent / "gold" / "timelines.json"
SAMPLES = Path(__file__).parent.parent / "samples" / "articles"


@dataclass(frozen=True)
class GoldEvent:
    date: str
    keys: tuple[str, ...]

    def held_by(self, statement: str) -> bool:
        text = statement.lower()
        return all(any(k.lower() in text for k in key.split("|")) for key in self.keys)

    def dated_by(self, date: str) -> bool:
        return date.startswith(self.date)


@dataclass(frozen=True)
class Story:
    name: str
    corpus: str
    topic: str
    events: tuple[GoldEvent, ...]
    since: str | None = None
    until: str | None = None


def load_gold(path: Path = GOLD) -> list[Story]:
    stories = []
    for s in json.loads(path.read_text(encoding="utf-8")):
        events = tuple(GoldEvent(e["date"], tuple(e["keys"])) for e in s["events"])
        stories.append(
            Story(s["story"], s["corpus"], s["topic"], events, s.get("since"), s.get("until"))
        )
    return stories


def unsupported(service: RagService, event: TimelineEvent) -> bool:
    """Is the line not the words of its sentence, its citation not in its article, or its
    date after every article it cites?"""
    if not event.citations:
        return True
    first = event.citations[0]
    if event.quoted and event.statement.removesuffix(" …") not in first.text:
        return True
    for c in event.citations:
        if service.article(c.passage.doc_id).text[c.start : c.end] != c.text:
            return True
    days = [(c.passage.date or "")[: len(event.date)] for c in event.citations]
    return all(event.date > day for day in days)


def score(service: RagService, story: Story, timeline: Timeline) -> dict[str, Any]:
    lines = timeline.events
    keyed = [[g for g in story.events if g.held_by(e.statement)] for e in lines]
    # The gold events a line tells: their key words, on a date that agrees.
    told = [[g for g in gs if g.dated_by(e.date)] for e, gs in zip(lines, keyed, strict=True)]
    found = {g for gs in told for g in gs}
    duplicates = 0
    first_line: dict[GoldEvent, int] = {}
    for n, (e, gs) in enumerate(zip(lines, told, strict=True), 1):
        if gs and all(g in first_line and first_line[g] not in e.disagrees for g in gs):
            duplicates += 1
        for g in gs:
            first_line.setdefault(g, n)
    return {
        "story": story.name,
        "topic": story.topic,
        "gold_events": len(story.events),
        "lines": len(lines),
        "recall": round(len(found) / len(story.events), 3),
        "dated_lines": sum(bool(gs) for gs in keyed),
        "date_correct": sum(bool(gs) for gs in told),
        "duplicate_lines": duplicates,
        "unsupported_lines": sum(unsupported(service, e) for e in lines),
        "missed": [f"{g.date} {' / '.join(g.keys)}" for g in story.events if g not in found],
        "total_ms": round(timeline.total_ms, 1),
    }


def run_stories(
    service: RagService, stories: Sequence[Story], repeat: int
) -> tuple[list[dict[str, Any]], list[float]]:
    service.timeline(stories[0].topic)  # loads the embedder and the index, untimed
    results, times = [], []
    for story in stories:
        runs = [service.timeline(story.topic, story.since, story.until) for _ in range(repeat)]
        times += [t.total_ms for t in runs]
        results.append(score(service, story, runs[-1]))
    return results, times


def summary(results: Sequence[dict[str, Any]], times: Sequence[float]) -> dict[str, Any]:
    gold = sum(r["gold_events"] for r in results)
    lines = sum(r["lines"] for r in results)
    dated = sum(r["dated_lines"] for r in results)
    recalled = sum(r["recall"] * r["gold_events"] for r in results)
    return {
        "stories": len(results),
        "gold_events": gold,
        "lines": lines,
        "recall": round(recalled / max(1, gold), 3),
        "date_accuracy": round(sum(r["date_correct"] for r in results) / max(1, dated), 3),
        "duplicate_rate": round(sum(r["duplicate_lines"] for r in results) / max(1, lines), 3),
        "unsupported_lines": sum(r["unsupported_lines"] for r in results),
        "time_ms_p50": round(statistics.median(times), 1) if times else None,
        "timed_runs": len(times),
    }


def evaluate(args: argparse.Namespace) -> dict[str, Any]:
    stories = [s for s in load_gold(Path(args.gold)) if s.corpus == args.corpus]
    if not stories:
        raise SystemExit(f"timeline: no gold story for corpus {args.corpus!r} in {args.gold}")
    with tempfile.TemporaryDirectory(prefix="newsrag-timeline-") as tmp:
        index_dir = args.index_dir or tmp
        service = RagService(load_settings({"index_dir": index_dir}))
        if args.index_dir is None:
            if args.corpus != "samples":
                raise SystemExit("timeline: give --index-dir for a corpus other than samples")
            service.index_paths([SAMPLES])
        results, times = run_stories(service, stories, args.repeat)
        articles = len(service.snapshot(vectors=False).documents)
    return {
        "corpus": args.corpus,
        "articles": articles,
        **summary(results, times),
        "by_story": results,
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--corpus", default="samples", help="samples or realtimeqa")
    parser.add_argument("--index-dir", default=None, help="an index to read (never written)")
    parser.add_argument("--gold", default=str(GOLD), help="the gold timelines (JSON)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per topic")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("-v", "--verbose", action="store_true")


def run(args: argparse.Namespace) -> int:
    result = evaluate(args)
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    for key, value in result.items():
        if key != "by_story":
            print(f"{key:>18}: {value}")
    for r in result["by_story"]:
        print(
            f"- {r['story']}: recall {r['recall']}, {r['lines']} lines, dates "
            f"{r['date_correct']}/{r['dated_lines']}, duplicates {r['duplicate_lines']}, "
            f"unsupported {r['unsupported_lines']}"
        )
        for missed in r["missed"]:
            print(f"    missed: {missed}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return script_main("eval.timeline", __doc__.splitlines()[0], add_arguments, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
