"""The web chat's Timeline tab, and timelines as chat answers.

A story's events are drawn as a vertical list: each line's date (and whether
the article's day stands in for it), its statement, and its sources, linked to
the article when it has a web address. The chat answers a chronology question
("what happened…", "timeline of…", "… since January") with the same lines.
Everything shown is escaped: article text is data, never markup.
"""

from __future__ import annotations

from collections.abc import Iterator
from html import escape
from typing import Any

import gradio as gr

from rag.errors import RagError
from rag.service import RagService
from rag.timeline import NO_EVENTS, Timeline, TimelineEvent
from rag.timeline.route import TimelineRequest
from rag.types import Citation, Turn
from ui.notices import user_error

# The list's look, inline: the tab needs no stylesheet of its own.
_LIST = "list-style:none;margin:0;padding:0 0 0 14px;border-left:3px solid #94a3b8;"
_ITEM = "position:relative;margin:0 0 14px 0;padding-left:10px;"
_DOT = (
    "position:absolute;left:-21px;top:4px;width:11px;height:11px;border-radius:50%;"
    "background:#2563eb;"
)
_MUTED = "color:var(--body-text-color-subdued);font-size:0.85em;"


def _web_link(url: str | None) -> str | None:
    """The article's address, escaped, when it is a web address (never javascript: and co.)."""
    if url and url.lower().startswith(("http://", "https://")):
        return escape(url, quote=True)
    return None


def _source_html(c: Citation) -> str:
    p = c.passage
    label = escape(f"{p.title} ({', '.join(x for x in (p.source, p.date) if x) or 'no source'})")
    link = _web_link(p.url)
    if link:
        label = f'<a href="{link}" target="_blank" rel="noopener noreferrer">{label}</a>'
    quote = escape(c.text)
    return f'<li class="timeline-source" title="{escape(c.text, quote=True)}">{label}' + (
        f'<div style="{_MUTED}">“{quote}”</div></li>'
    )


def _event_html(n: int, event: TimelineEvent) -> str:
    basis = "" if event.date_basis == "stated" else " · the article's date"
    disagree = ""
    if event.disagrees:
        others = ", ".join(str(d) for d in event.disagrees)
        disagree = (
            f'<div class="timeline-disagrees" style="color:#b45309">'
            f"The sources disagree: see line(s) {others}.</div>"
        )
    sources = "".join(_source_html(c) for c in event.citations)
    return (
        f'<li class="timeline-event" id="timeline-line-{n}" style="{_ITEM}">'
        f'<span style="{_DOT}"></span>'
        f'<time class="timeline-date" datetime="{escape(event.date)}" style="font-weight:600">'
        f'{escape(event.date)}</time><span style="{_MUTED}">{basis}</span>'
        f'<div class="timeline-statement">{escape(event.statement)}</div>{disagree}'
        f'<ol class="timeline-sources" style="{_MUTED}margin:2px 0 0 18px">{sources}</ol></li>'
    )


def timeline_html(timeline: Timeline | None) -> str:
    """The timeline drawn as a vertical list, oldest first (empty before the first one)."""
    if timeline is None:
        return '<div id="timeline-list"></div>'
    if not timeline.found:
        return (
            f'<div id="timeline-list"><p class="timeline-empty">{NO_EVENTS} for '
            f"“{escape(timeline.topic)}” in the indexed articles.</p></div>"
        )
    items = "".join(_event_html(n, e) for n, e in enumerate(timeline.events, 1))
    return (
        f'<div id="timeline-list"><p style="{_MUTED}">{len(timeline.events)} event(s) for '
        f"“{escape(timeline.topic)}”, oldest first.</p>"
        f'<ol class="timeline" style="{_LIST}">{items}</ol></div>'
    )


def make_timeline(service: RagService, topic: str, since: str = "", until: str = "") -> str:
    """The tab's action: the timeline of ``topic`` as HTML, or a clear refusal."""
    if not (topic or "").strip():
        raise user_error("Type what the story is about first, e.g. “Iran talks with the US”.")
    try:
        timeline = service.timeline(topic, since=since or None, until=until or None)
    except RagError as err:
        raise user_error(str(err)) from None
    return timeline_html(timeline)


def timeline_markdown(timeline: Timeline) -> str:
    """The timeline as a chat answer: one line per event, its sources linked below it."""
    if not timeline.found:
        return escape(f"{NO_EVENTS} for “{timeline.topic}” in the indexed articles.")
    lines = [escape(f"What happened: {timeline.topic}"), ""]
    for n, event in enumerate(timeline.events, 1):
        basis = "" if event.date_basis == "stated" else " (article date)"
        lines.append(f"{n}. **{escape(event.date)}**{basis} {escape(event.statement)}")
        for c in event.citations:
            title = escape(c.passage.title).replace("[", "(").replace("]", ")")
            link = _web_link(c.passage.url)
            lines.append(f"    - [{title}]({link})" if link else f"    - {title}")
        if event.disagrees:
            lines.append(f"    - *The sources disagree: see line(s) {event.disagrees}.*")
    return "\n".join(lines)


def timeline_turn(
    service: RagService,
    request: TimelineRequest,
    messages: list[dict[str, str]],
    turns: list[Turn],
    panel: list[tuple[str, str]],
    question: str,
    since: str = "",
    until: str = "",
) -> Iterator[tuple[Any, ...]]:
    """A chat turn answered by a timeline (the chat's outputs: messages, turns, panel, HTML)."""
    try:
        timeline = service.timeline(
            request.topic, since=request.since or since or None, until=until or None
        )
    except RagError as err:
        messages = [*messages, {"role": "assistant", "content": escape(f"Not answered: {err}")}]
        yield messages, turns, panel, gr.skip()
        raise user_error(str(err)) from None
    text = timeline_markdown(timeline)
    messages = [*messages, {"role": "assistant", "content": text}]
    yield messages, [*turns, Turn(question, text)], panel, gr.skip()


def build_timeline_tab(service: RagService) -> None:
    """The tab's components and events; call inside ``gr.Blocks`` (and a ``gr.Tab``)."""
    with gr.Row():
        topic = gr.Textbox(
            label="Story", placeholder="What is the story about?", elem_id="timeline-topic", scale=3
        )
        since = gr.Textbox(label="Events from", placeholder="YYYY-MM-DD", elem_id="timeline-since")
        until = gr.Textbox(label="Events until", placeholder="YYYY-MM-DD", elem_id="timeline-until")
    make = gr.Button("Make timeline", variant="primary", elem_id="timeline-make")
    shown = gr.HTML(timeline_html(None), elem_id="timeline")
    for trigger in (make.click, topic.submit):
        trigger(
            lambda t, s, u: make_timeline(service, t, s, u),
            [topic, since, until],
            shown,
            api_name=False,
        )
