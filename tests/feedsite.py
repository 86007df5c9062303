"""Feeds and article pages written by the team, for the loopback site in ``tests.site``."""

from __future__ import annotations

import random
from html import escape

from tests.towns import town_article

RSS_HEAD = (
    '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0" '
    'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
    "<title>{title}</title><link>http://example.org/</link><description>News</description>"
)


def story(i: int, version: int = 1) -> str:
    """A made-up article of about 75 words (``town_article``) without its headline line."""
    return town_article(i, version).split("\n", 2)[2].strip()


def long_story(i: int, version: int = 1) -> str:
    """Over 150 words: whole enough that the feed's own text is indexed, no page fetched."""
    rng = random.Random(i * 7 + 1)
    extra = " ".join(
        f"Resident {rng.randint(1, 999)} told the meeting that item {i} mattered for "
        f"{rng.choice(['schools', 'shops', 'ferries', 'farms', 'clinics'])} in the area."
        for _ in range(12)
    )
    return f"{story(i, version)}\n\n{extra}"


def headline(i: int) -> str:
    return town_article(i).split("\n", 1)[0].lstrip("# ").strip()


def rss(items: list[dict[str, str]], title: str = "Portville Post") -> str:
    parts = [RSS_HEAD.format(title=escape(title))]
    for item in items:
        fields = []
        for key, value in item.items():
            fields.append(f"<{key}>{escape(value)}</{key}>")
        parts.append("<item>" + "".join(fields) + "</item>")
    return "".join(parts) + "</channel></rss>\n"


def atom(entries: list[dict[str, str]], title: str = "Glenmore Gazette") -> str:
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>{escape(title)}</title><id>urn:gazette</id><updated>2026-11-30T10:00:00Z</updated>"
    ]
    for e in entries:
        parts.append(
            f"<entry><id>{escape(e['id'])}</id><title>{escape(e['title'])}</title>"
            f'<link href="{escape(e["link"])}"/><updated>{e.get("updated", "2026-11-30T09:00:00Z")}'
            f"</updated><summary>{escape(e['summary'])}</summary></entry>"
        )
    return "".join(parts) + "</feed>\n"


def page(title: str, body: str) -> str:
    paragraphs = "".join(f"<p>{escape(p)}</p>" for p in body.split("\n\n"))
    return (
        f"<!doctype html><html><head><title>{escape(title)}</title>"
        '<meta property="og:site_name" content="Glenmore Gazette"></head><body>'
        "<nav><a href='/'>Home</a> <a href='/news'>News</a></nav>"
        f"<article><h1>{escape(title)}</h1>{paragraphs}</article>"
        "<footer>Copyright Glenmore Gazette</footer></body></html>"
    )


def rss_item(i: int, base: str, *, version: int = 1, full: bool = True) -> dict[str, str]:
    """Item ``i``; ``full`` puts the whole article in content:encoded, else a summary only."""
    item = {
        "guid": f"{base}/story/{i}",
        "title": headline(i),
        "link": f"{base}/story/{i}",
        "pubDate": "Mon, 30 Nov 2026 09:00:00 GMT",
    }
    if full:
        item["description"] = story(i)[:120]
        item["content:encoded"] = "".join(
            f"<p>{escape(p)}</p>" for p in long_story(i, version).split("\n\n")
        )
    else:
        item["description"] = story(i, version)[:140]
    return item
