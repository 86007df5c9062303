"""HTML for the sources panel and the articles table.

Everything that came from an article, a file name or the model is escaped
here, before it reaches the page: an article carrying ``<script>`` shows the
tag as text and runs nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from html import escape

from rag.answer.injection import instruction_spans
from rag.types import Answer, Citation, DocumentInfo, ScoredPassage, page_at

CSS = """
.newsrag-card { border: 1px solid var(--border-color-primary); border-radius: 8px;
  padding: 6px 10px; margin: 6px 0; }
.newsrag-card summary { cursor: pointer; font-weight: 600; }
/* Grey text at 7.5:1 on white (4.5:1 is WCAG AA's floor); the theme's subdued grey is 1.9:1. */
.newsrag-meta { color: #4b5563; font-size: 0.85em; }
.dark .newsrag-meta, .dark .newsrag-turn > summary { color: #d1d5db; }
.newsrag-card mark { background: #fde68a; color: inherit; padding: 0 1px; }
.newsrag-notice { border-left: 4px solid #d97706; padding: 6px 10px; margin: 6px 0;
  background: var(--background-fill-secondary); }
.newsrag-unsupported { border-left: 4px solid #dc2626; padding: 6px 10px; margin: 6px 0; }
.newsrag-passage { white-space: pre-wrap; margin-top: 4px; }
.newsrag-to-machines { text-decoration: line-through; color: #6b7280; }
.newsrag-to-machines em { text-decoration: none; display: inline-block; color: #92400e; }
.newsrag-card.newsrag-flash { outline: 3px solid #f59e0b; transition: outline 0.3s; }
a.newsrag-marker { text-decoration: none; font-weight: 600; cursor: pointer; }
.newsrag-turn > summary { cursor: pointer; color: #4b5563; }
/* White on the theme's orange and red buttons is 3.5:1 and 3.8:1; these darker shades give
   5.2:1 and 6.5:1. */
#upload .or { color: #4b5563; }
button.primary, button.primary:hover { background: #c2410c; border-color: #c2410c; color: #fff;
  transition: none; }
button.stop, button.stop:hover { background: #b91c1c; border-color: #b91c1c; color: #fff;
  transition: none; }
"""

# Clicking a marker [n] in an answer opens the card it points at and scrolls to it.
# Listens on the document, so it also covers answers added after the page loaded.
MARKER_SCRIPT = r"""
<script>
document.addEventListener("click", (event) => {
  const link = event.target.closest && event.target.closest("a.newsrag-marker");
  if (!link) return;
  event.preventDefault();
  const card = document.getElementById(link.getAttribute("href").slice(1));
  if (!card) return;
  for (let node = card; node; node = node.parentElement) {
    if (node.tagName === "DETAILS") node.open = true;
  }
  card.scrollIntoView({ behavior: "smooth", block: "center" });
  card.classList.add("newsrag-flash");
  setTimeout(() => card.classList.remove("newsrag-flash"), 1500);
});
// Gradio labels a chat message with its raw content, markup and all; a screen reader
// should hear the text a person sees.
new MutationObserver(() => {
  document.querySelectorAll("#chat [data-testid=bot]").forEach((message) => {
    const label = "bot's message: " + message.innerText.replace(/\s+/g, " ").trim().slice(0, 500);
    if (message.getAttribute("aria-label") !== label) message.setAttribute("aria-label", label);
  });
  // Each "remove" box of the articles table is named after its article's title.
  document.querySelectorAll("#articles [role=row]").forEach((row) => {
    const title = row.querySelector("[role=gridcell]:nth-child(2)");
    const name = title ? "Remove " + title.innerText.trim() : "Remove every article listed";
    row.querySelectorAll(".bool-cell, .select-all-checkbox, input[type=checkbox]").forEach(
      (box) => box.getAttribute("aria-label") === name || box.setAttribute("aria-label", name));
  });
  // The unnamed arrow that opens a titled box (a draft, "Sources (n)") gets a name.
  document.querySelectorAll('#chat .thought-group button[aria-label=""]').forEach((button) => {
    button.setAttribute("aria-label", "Show or hide");
  });
}).observe(document.documentElement, { subtree: true, childList: true, characterData: true });
</script>
"""


def _meta(p: ScoredPassage) -> str:
    parts = [x for x in (p.source, p.date) if x]
    return escape(" · ".join(parts)) if parts else "no source"


def _origin(p: ScoredPassage, citations: Sequence[Citation]) -> str:
    """The page of a PDF passage (of its first cited span) and a link to the article's URL."""
    out = ""
    page = page_at(p.pages, min((c.start for c in citations), default=p.chunk.start))
    if page is not None:
        out += f" · p. {page}"
    if p.url and p.url.lower().startswith(("http://", "https://")):
        link = escape(p.url, quote=True)
        out += f' · <a href="{link}" target="_blank" rel="noopener noreferrer">{link}</a>'
    return out


TO_MACHINES = "addressed to AI tools, not to readers: left out of the answer"


def highlight(passage: ScoredPassage, citations: Sequence[Citation]) -> str:
    """The passage text, escaped, with each cited span inside ``<mark>``.

    A sentence that gives orders to an AI model reading the article (the prompt
    masks it) is set apart and labelled, so a person sees what was left out and why.
    """
    text = passage.text
    offset = passage.chunk.start
    cited = {(max(0, c.start - offset), min(len(text), c.end - offset)) for c in citations}
    spans = sorted(
        [(a, b, "cited") for a, b in cited] + [(a, b, "order") for a, b in instruction_spans(text)]
    )
    out: list[str] = []
    position = 0
    for start, end, kind in spans:
        if start < position or start >= end:
            continue  # overlapping spans: the first one wins
        out.append(escape(text[position:start]))
        if kind == "cited":
            out.append(f"<mark>{escape(text[start:end])}</mark>")
        else:
            out.append(
                f'<span class="newsrag-to-machines" title="{TO_MACHINES}">'
                f"{escape(text[start:end])} <em>[{TO_MACHINES}]</em></span>"
            )
        position = end
    out.append(escape(text[position:]))
    return "".join(out)


def closeness(passage: ScoredPassage) -> str:
    """How close a passage is to the question, in the units a reader can compare."""
    if passage.similarity is not None:
        return f"similarity {passage.similarity:.2f}"
    return f"score {passage.score:.3f}"


def card_id(turn: int, passage: ScoredPassage) -> str:
    """The id of a passage's card in the sources panel; markers link to it."""
    return f"source-{turn}-{passage.rank}"


def _card(
    label: str,
    passage: ScoredPassage,
    citations: Sequence[Citation],
    *,
    turn: int,
    open_: bool,
) -> str:
    return (
        f'<details class="newsrag-card" id="{card_id(turn, passage)}"{" open" if open_ else ""}>'
        f"<summary>{escape(label)} {escape(passage.title)}</summary>"
        f'<div class="newsrag-meta">{_meta(passage)}{_origin(passage, citations)} · '
        f"{closeness(passage)}</div>"
        f'<div class="newsrag-passage">{highlight(passage, citations)}</div>'
        "</details>"
    )


EMPTY_PANEL = '<div class="newsrag-meta">Sources for the latest answer appear here.</div>'


def render_sources(answer: Answer | None, turn: int = 1) -> str:
    """The cards for one answer: cited passages open, the other retrieved ones collapsed."""
    if answer is None:
        return EMPTY_PANEL
    parts: list[str] = []
    if answer.abstained:
        parts.append(
            '<div class="newsrag-notice"><strong>The articles don\'t answer this.</strong> '
            "These are the closest passages found."
            + (f" ({escape(answer.reason)})" if answer.reason else "")
            + "</div>"
        )
    if answer.unsupported:
        items = "".join(f"<li>{escape(s)}</li>" for s in answer.unsupported)
        parts.append(
            '<div class="newsrag-unsupported">'
            "<strong>Left out of the answer, no passage supports it:</strong>"
            f"<ul>{items}</ul></div>"
        )
    cited_ranks: dict[int, list[Citation]] = {}
    for c in answer.citations:
        cited_ranks.setdefault(c.passage.rank, []).append(c)
    if cited_ranks:
        parts.append("<h3>Cited</h3>")
        for rank in sorted(cited_ranks):
            cites = cited_ranks[rank]
            markers = "".join(f"[{m}]" for m in sorted({c.marker for c in cites}))
            parts.append(_card(markers, cites[0].passage, cites, turn=turn, open_=True))
    others = [p for p in answer.passages if p.rank not in cited_ranks]
    if others:
        heading = "Closest passages" if answer.abstained else "Retrieved, not cited"
        parts.append(f"<h3>{heading}</h3>")
        for p in others:
            first = answer.abstained and p.rank == 1
            parts.append(_card(f"#{p.rank}", p, (), turn=turn, open_=first))
    timings = timings_line(answer)
    if timings:
        parts.append(f'<div class="newsrag-meta newsrag-timings">{escape(timings)}</div>')
    return "\n".join(parts)


def timings_line(answer: Answer) -> str:
    """Where the answer's time went; loading the models is apart, as it happens once."""
    t = answer.timings
    if not t.total_ms:
        return ""
    parts = [f"passages found in {_duration(t.retrieve_ms)}"]
    if t.rewrite_ms >= 1:
        parts[0] += f" (writing the search query {_duration(t.rewrite_ms)} of it)"
    if t.first_token_ms is not None:
        parts.append(f"first words after {_duration(t.first_token_ms)}")
    parts.append(f"answered in {_duration(t.total_ms)}")
    if t.check_ms >= 1:
        parts.append(f"checking {_duration(t.check_ms)} of it")
    line = " · ".join(parts)
    if t.load_ms >= 1:
        line += f"; before that, loading the models took {_duration(t.load_ms)}"
    return line[0].upper() + line[1:] + "."


def _duration(ms: float) -> str:
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def render_panel(turns: Sequence[tuple[str, str]]) -> str:
    """The sources panel for a conversation: (question, cards HTML) per answer.

    The latest answer's cards are shown; earlier answers' are collapsed under
    their question, so a marker in an old answer still finds its card.
    """
    if not turns:
        return EMPTY_PANEL
    parts: list[str] = []
    for number in range(len(turns), 0, -1):
        question, cards = turns[number - 1]
        if number == len(turns):
            parts.append(f'<section class="newsrag-turn" id="turn-{number}">{cards}</section>')
        else:
            parts.append(
                f'<details class="newsrag-turn" id="turn-{number}">'
                f"<summary>Sources for question {number}: {escape(question)}</summary>"
                f"{cards}</details>"
            )
    return "\n".join(parts)


_MARKER = re.compile(r"\[(\d+)\]")


def link_markers(html: str, answer: Answer, turn: int) -> str:
    """Turn each checked marker ``[n]`` into a link to its card in the panel.

    ``html`` is already escaped text; markers the check did not keep stay plain.
    """
    targets = {c.marker: card_id(turn, c.passage) for c in answer.citations}

    def link(match: re.Match[str]) -> str:
        target = targets.get(int(match.group(1)))
        if target is None:
            return match.group(0)
        return (
            f'<a class="newsrag-marker" href="#{target}" '
            f'title="Show source {match.group(1)}">{match.group(0)}</a>'
        )

    return _MARKER.sub(link, html)


def sources_message(answer: Answer) -> dict[str, object] | None:
    """A collapsible chat message under the answer listing what it cites."""
    if answer.abstained or not answer.citations:
        return None
    lines: list[str] = []
    seen: set[int] = set()
    for c in answer.citations:
        if c.passage.rank in seen:
            continue
        seen.add(c.passage.rank)
        cites = [x for x in answer.citations if x.passage.rank == c.passage.rank]
        p = c.passage
        lines.append(f"**[{c.marker}] {escape(p.title)}** — {_meta(p)}\n\n{highlight(p, cites)}")
    return {
        "role": "assistant",
        "content": "\n\n".join(lines),
        "metadata": {"title": f"Sources ({len(seen)})", "status": "done"},
    }


def document_rows(infos: Sequence[DocumentInfo]) -> list[list[object]]:
    """Rows for the articles table; the Dataframe shows values as text."""
    return [
        [
            i.article.title,
            i.article.source or "",
            i.article.date or "",
            i.n_chunks,
            i.article.doc_id,
        ]
        for i in infos
    ]


DOCUMENT_HEADERS = ["title", "source", "date", "chunks", "id"]


def escape_chat(text: str) -> str:
    """Model output for the chat bubble: shown as text, never as markup."""
    return escape(text, quote=False)
