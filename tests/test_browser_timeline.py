"""The Timeline tab and chronology questions in a real browser (see tests/test_browser.py:
`rag serve` over the sample articles with the real models, headless Debian Chromium)."""

from __future__ import annotations

import pytest

from tests import test_browser
from tests.test_browser import ANSWER_TIMEOUT_MS

pytestmark = [pytest.mark.model, pytest.mark.browser]
# The same server, browser and sessions as the chat's browser tests.
app_url = test_browser.app_url
browser = test_browser.browser
session = test_browser.session


def make_timeline(page, topic: str, since: str = "") -> None:
    page.get_by_role("tab", name="Timeline").click()
    page.locator("#timeline-topic textarea").fill(topic)
    page.locator("#timeline-since textarea").fill(since)
    page.locator("#timeline-make").click()


def test_the_timeline_tab_draws_dated_cited_events_oldest_first(session):
    page = session.page
    make_timeline(page, "Iran talks with the United States")
    events = page.locator("#timeline .timeline-event")
    events.nth(4).wait_for(timeout=ANSWER_TIMEOUT_MS)
    dates = page.locator("#timeline .timeline-date").all_inner_texts()
    assert len(dates) >= 5 and dates == sorted(dates)
    assert "2020-01-03" in dates and "2025-03-12" in dates
    soleimani = events.nth(dates.index("2020-01-03"))
    assert "Soleimani" in soleimani.locator(".timeline-statement").inner_text()
    assert "Drone strike on Soleimani" in soleimani.locator(".timeline-sources").inner_text()
    # A vertical list: each event below the one before it.
    first, second = events.nth(0).bounding_box(), events.nth(1).bounding_box()
    assert second["y"] > first["y"] and abs(second["x"] - first["x"]) < 2
    session.shot("timeline-01-iran-talks")

    make_timeline(page, "Iran talks with the United States", since="2025-03-01")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#timeline .timeline-date')]"
        ".every(d => d.textContent >= '2025-03')",
        timeout=ANSWER_TIMEOUT_MS,
    )
    assert page.locator("#timeline .timeline-event").count() >= 2
    assert not session.errors and not session.dialogs


def test_a_topic_the_articles_miss_says_no_events_and_markup_stays_text(session):
    page = session.page
    make_timeline(page, "<img src=x onerror=alert(1)> volcano eruption in Iceland")
    page.locator("#timeline .timeline-empty").wait_for(timeout=ANSWER_TIMEOUT_MS)
    text = page.locator("#timeline").inner_text()
    assert "No events found" in text and "<img src=x" in text
    assert page.locator("#timeline img").count() == 0
    make_timeline(page, "Iran talks", since="last spring")
    page.get_by_text("--since must be a date").first.wait_for(timeout=20_000)
    assert not session.dialogs and not session.errors
    session.shot("timeline-02-no-events-and-bad-date")


def test_a_chronology_question_in_the_chat_gets_the_timeline(session):
    page = session.page
    session.type_question("What has happened between Iran and the United States since March 2025?")
    page.locator("#ask").click()
    page.get_by_text("What happened: Iran and the United States").wait_for(
        timeout=ANSWER_TIMEOUT_MS
    )
    chat = session.chat_text()
    assert "2025-03-12" in chat and "2020-01-03" not in chat
    assert "Khamenei" in chat
    session.shot("timeline-03-chat")
