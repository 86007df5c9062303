"""Near-copies of a wire story, and stories that only look alike: the threshold's test set.

The pairs are written by the team. Copies: the same story with another
headline, a rewritten or dropped last paragraph, an editor's line added, a
story trimmed to its first paragraphs. Not copies: other stories on the same
subject, a follow-up that quotes the first story, and template reports (the
markets, the weather) with other figures. ``python -m tests.test_syndication``
prints every pair's score.
"""

from __future__ import annotations

from rag.sources.syndication import COPY_JACCARD, MERGE_EVERY, CopyFinder, similarity
from rag.types import Article


def _paragraphs(text: str) -> list[str]:
    return text.split("\n\n")


def _unfold(text: str) -> str:
    """Paragraphs written folded at 90 columns, each joined back into one line."""
    return "\n\n".join(" ".join(p.split("\n")) for p in text.split("\n\n"))


WIRE = _unfold("""BRUSSELS (Wire) - European Union energy ministers agreed on Tuesday to extend the
emergency cap on wholesale gas prices for another twelve months, after a night of talks in
which Germany and the Netherlands dropped their objections.

The cap, first introduced two winters ago, limits the price of gas traded on the main
Dutch hub when prices rise sharply above global levels. It has never been triggered, but
ministers said it had calmed markets.

"This is an insurance policy that costs nothing while it sits in the drawer," said the
Belgian energy minister, who chaired the meeting. Officials said the cap would be reviewed
if storage levels fell below 60 percent.

Germany had argued that the cap could push cargoes of liquefied natural gas towards Asia.
Its minister said on Tuesday that new safeguards, including a suspension clause, addressed
those concerns.

The extension still needs the formal approval of the member states, which diplomats expect
next week without further debate.

Gas prices on the Dutch hub fell 2 percent after the announcement, to 38 euros per
megawatt hour.""")

WIRE_2 = _unfold("""\
NAIROBI (Wire) - Kenya's central bank cut its benchmark interest rate by a quarter point
to 12.5 percent on Wednesday, its second cut this year, as inflation eased to the lowest
level in four years.

The monetary policy committee said price pressures had moderated on the back of lower food
and fuel costs, and that the shilling had held steady against the dollar since March.

"The committee concluded that there is scope for a further easing of monetary policy to
support economic activity," the bank said in a statement after the meeting.

Economists polled before the decision had been split, with half expecting the bank to hold
rates. Private sector lending growth has slowed sharply over the past year.

The bank's governor told reporters that the committee would watch the effects of the cut
on the exchange rate closely before its next meeting in two months.

Kenyan government bond yields fell after the announcement.""")


def _with_ending(text: str, ending: str) -> str:
    return "\n\n".join([*_paragraphs(text)[:-1], ending])


COPIES = {
    "another last paragraph": _with_ending(
        WIRE, "Additional reporting by our Brussels bureau; edited by the foreign desk."
    ),
    "last paragraph dropped": "\n\n".join(_paragraphs(WIRE)[:-1]),
    "editor's line on top and another ending": "Updated at 14:00 with market reaction.\n\n"
    + _with_ending(WIRE, "Shares of gas importers rose in early trading in Frankfurt."),
    "trimmed to four paragraphs": "\n\n".join(_paragraphs(WIRE)[:4]),
    "trimmed to half (three paragraphs)": "\n\n".join(_paragraphs(WIRE)[:3]),
    "dateline and agency removed": WIRE.replace("BRUSSELS (Wire) - ", ""),
    "a sentence cut in the middle": WIRE.replace(
        " It has never been triggered, but ministers said it had calmed markets.", ""
    ),
    "second story, other ending": _with_ending(
        WIRE_2, "This story has been updated to add the governor's comments."
    ),
    "second story, two paragraphs rewritten": "\n\n".join(
        [
            *_paragraphs(WIRE_2)[:4],
            "The governor said further cuts would depend on the shilling.",
            "Bond yields in Nairobi fell by about ten basis points.",
        ]
    ),
}

NOT_COPIES = {
    "same subject, other story": _unfold("""\
LUXEMBOURG (Wire) - European Union energy ministers failed on Monday to agree on a common
approach to buying hydrogen, with several countries worried about the cost of a joint
purchasing platform.

The proposal, backed by the European Commission, would pool demand from industrial users
to secure lower prices from producers in North Africa and the Middle East.

"We are not there yet," the chair of the meeting said after six hours of talks. Ministers
will return to the issue in December."""),
    "follow-up quoting the first story": _unfold("""\
BRUSSELS (Wire) - Member states formally approved on Thursday the extension of the
European Union's emergency cap on gas prices, a week after energy ministers agreed on it.

"This is an insurance policy that costs nothing while it sits in the drawer," the Belgian
energy minister had said last week. The approval came without debate.

Traders said the decision had little effect on prices, which rose 1 percent on the Dutch
hub on the day amid colder weather forecasts across northern Europe."""),
    "template market report, other day": _unfold("""\
LONDON (Wire) - European shares rose 0.4 percent on Tuesday, led by banks and miners, as
investors bet that the European Central Bank would cut rates at its next meeting.

The pan-European index closed at 512 points. Banks gained 1.2 percent and miners 0.9
percent, while utilities fell 0.3 percent.

Germany's main index rose 0.5 percent and France's 0.2 percent. The euro was steady at
1.08 dollars."""),
}

MARKETS_2 = _unfold("""\
LONDON (Wire) - European shares fell 0.7 percent on Wednesday, led by carmakers and
chemicals, as investors worried that the European Central Bank would hold rates at its
next meeting.

The pan-European index closed at 508 points. Carmakers lost 1.5 percent and chemicals 1.1
percent, while telecoms rose 0.2 percent.

Germany's main index fell 0.8 percent and France's 0.6 percent. The euro was steady at
1.07 dollars.""")


def scores() -> tuple[dict[str, float], dict[str, float]]:
    copies = {
        name: similarity(WIRE if "second" not in name else WIRE_2, text)
        for name, text in COPIES.items()
    }
    others = {name: similarity(WIRE, text) for name, text in NOT_COPIES.items()}
    others["two market reports"] = similarity(
        NOT_COPIES["template market report, other day"], MARKETS_2
    )
    others["two different wire stories"] = similarity(WIRE, WIRE_2)
    return copies, others


def test_copies_score_above_the_threshold_and_other_stories_below():
    copies, others = scores()
    assert min(copies.values()) >= COPY_JACCARD, copies
    assert max(others.values()) < COPY_JACCARD, others


def article(text: str, origin: str) -> Article:
    return Article(Article.make_id(text), "t", text, origins=(origin,))


def test_copy_finder_skips_the_items_own_old_version():
    finder = CopyFinder()
    old = article(WIRE, "https://example.org/a")
    finder.add(old)
    edited = article(COPIES["another last paragraph"], "https://example.org/a")
    assert finder.copy_of(edited, ignore_origins=edited.origins) is None
    elsewhere = article(COPIES["another last paragraph"], "https://example.net/b")
    assert finder.copy_of(elsewhere, ignore_origins=elsewhere.origins) == old
    assert finder.copy_of(article(MARKETS_2, "x")) is None


def test_copies_are_found_the_same_before_and_after_the_shingles_are_merged():
    # Filler stories that share no 5-gram with the wire story or each other.
    fillers = [
        article(" ".join(f"w{i}x{j}" for j in range(60)), f"https://example.org/f{i}")
        for i in range(MERGE_EVERY + 5)
    ]
    wire = article(WIRE, "https://example.org/a")
    copy = article(COPIES["another last paragraph"], "https://example.net/b")
    for at_start in (True, False):
        finder = CopyFinder()
        finder.add_all([wire, *fillers] if at_start else [*fillers, wire])
        assert finder.copy_of(copy) == wire
        assert finder.copy_of(fillers[7]) is None  # itself is not its copy
        assert finder.copy_of(article(MARKETS_2, "x")) is None
    assert finder._grams.size > 0 and finder._recent  # both halves were searched


if __name__ == "__main__":
    copies, others = scores()
    for label, group in (("copies", copies), ("not copies", others)):
        for name, value in sorted(group.items(), key=lambda kv: kv[1]):
            print(f"{label:<11} {value:.3f}  {name}")
