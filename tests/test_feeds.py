"""Feeds refreshed from a real server on loopback, indexed with the fake embedder."""

from __future__ import annotations

import json
import time

import pytest

from rag import cli
from rag.config import Settings
from rag.errors import FetchError, InputError
from rag.service import RagService
from rag.sources import refresh as feed_commands
from rag.sources.feeds import FeedBook, add_feed, remove_feed
from rag.sources.fetch import make_fetcher
from rag.sources.parse import parse_feed
from rag.sources.schedule import parse_interval
from tests.fakes import FakeEmbedder, use_fake_models
from tests.feedsite import atom, headline, long_story, page, rss, rss_item, story
from tests.site import Site


@pytest.fixture
def site():
    server = Site()
    yield server
    server.close()


@pytest.fixture
def service(tmp_path):
    settings = Settings(index_dir=tmp_path / "idx", allow_private_urls=True, fetch_delay=0)
    return RagService(settings, embedder=FakeEmbedder())


def subscribe(service, url, name=None):
    return add_feed(FeedBook(service.settings.index_dir), make_fetcher(service.settings), url, name)


def refresh(service):
    return feed_commands.refresh(service)


def titles(service):
    return sorted(i.article.title for i in service.documents())


def put_rss(site, items, etag, path="/rss.xml", title="Portville Post"):
    return site.put(path, rss(items, title), "application/rss+xml", etag=etag)


def put_pages(site, numbers, version=1):
    for i in numbers:
        site.put(f"/story/{i}", page(headline(i), story(i, version)))


def atom_entry(site, i, **changes):
    entry = {
        "id": f"urn:story:{i}",
        "title": headline(i),
        "link": site.url(f"/story/{i}"),
        "summary": story(i)[:100],
    }
    return {**entry, **changes}


def test_first_refresh_indexes_everything_and_a_304_embeds_nothing(site, service):
    base = site.url("")
    rss_url = put_rss(site, [rss_item(i, base) for i in range(3)], etag='"v1"')
    atom_url = site.put(
        "/atom.xml",
        atom([atom_entry(site, i) for i in (10, 11)]),
        "application/atom+xml",
        etag='"a1"',
    )
    put_pages(site, (10, 11))
    subscribe(service, rss_url, "post")
    subscribe(service, atom_url, "gazette")

    report = refresh(service)
    assert report.ok and report.exit_code == 0
    by_name = {r.name: r for r in report.feeds}
    assert (by_name["post"].new, by_name["gazette"].new) == (3, 2)
    assert len(service.documents()) == 5
    # Atom items carry a summary only: the article came from its page.
    assert len(site.hits("/story/")) == 2
    gazette = next(i.article for i in service.documents() if i.article.title == headline(10))
    assert gazette.url == site.url("/story/10") and "Copyright" not in gazette.text
    assert gazette.source == "Glenmore Gazette" and gazette.date == "2026-11-30"

    site.requests.clear()
    service.embedder.embedded.clear()
    started = time.perf_counter()
    again = refresh(service)
    assert time.perf_counter() - started < 2
    assert [r.status for r in again.feeds] == ["not modified", "not modified"]
    assert again.index is None and service.embedder.embedded == []
    # One conditional request per feed (robots.txt is not needed: no page was fetched).
    assert sorted(r.path for r in site.requests) == ["/atom.xml", "/rss.xml"]
    assert site.requests[0].headers.get("if-none-match") in ('"v1"', '"a1"')


def test_an_added_item_is_indexed_and_an_edited_one_replaces_its_old_version(site, service):
    base = site.url("")
    put_rss(site, [rss_item(i, base) for i in range(3)], etag='"v1"')
    subscribe(service, site.url("/rss.xml"))
    refresh(service)
    old = {i.article.title: i.article for i in service.documents()}

    items = [rss_item(i, base, version=2 if i == 1 else 1) for i in range(4)]
    put_rss(site, items, etag='"v2"')
    service.embedder.embedded.clear()
    report = refresh(service)
    (result,) = report.feeds
    assert (result.new, result.changed, result.unchanged) == (1, 1, 2)
    now = {i.article.title: i.article for i in service.documents()}
    assert len(now) == 4
    edited = now[headline(1)]
    assert edited.doc_id != old[headline(1)].doc_id and "public meeting" in edited.text
    assert old[headline(1)].doc_id not in {a.doc_id for a in now.values()}
    # Only the new and the edited articles were embedded.
    assert service.embedder.embedded and all(
        headline(1) in t or headline(3) in t for t in service.embedder.embedded
    )


def test_the_same_feed_without_validators_embeds_nothing_the_second_time(site, service):
    site.put("/plain.xml", rss([rss_item(i, site.url("")) for i in range(2)]), "text/xml")
    subscribe(service, site.url("/plain.xml"))
    refresh(service)
    service.embedder.embedded.clear()
    report = refresh(service)
    assert report.feeds[0].unchanged == 2 and report.index is None
    assert service.embedder.embedded == []


def test_a_removed_feed_keeps_its_articles_unless_purged(site, service, tmp_path):
    base = site.url("")
    put_rss(site, [rss_item(i, base) for i in range(2)], etag='"v1"')
    put_rss(site, [rss_item(i, base) for i in (5, 6)], etag='"w1"', path="/other.xml")
    subscribe(service, site.url("/rss.xml"), "one")
    subscribe(service, site.url("/other.xml"), "two")
    refresh(service)
    book = FeedBook(service.settings.index_dir)

    remove_feed(book, "one")
    assert [s.name for s in book.feeds()] == ["two"]
    assert len(service.documents()) == 4

    _, removed = remove_feed(book, site.url("/other.xml"), indexer=service.indexer())
    assert sorted(a.title for a in removed) == sorted([headline(5), headline(6)])
    assert titles(service) == sorted([headline(0), headline(1)])
    with pytest.raises(InputError, match="No feed is called"):
        remove_feed(book, "two")


def test_bad_feeds_are_reported_and_never_stop_the_others(site, service):
    good = put_rss(site, [rss_item(i, site.url("")) for i in range(2)], etag='"g"')
    bad = {
        "missing": site.url("/missing.xml"),
        "broken": site.put("/500.xml", "<html>Internal error</html>", status=500),
        "html": site.put("/page.xml", "<!doctype html><html><body><p>Welcome</p></body></html>"),
        "malformed": site.put("/bad.xml", "<rss><channel><item><title>a</", "text/xml"),
        "slow": site.handle("/slow.xml", lambda handler: time.sleep(3)),
    }
    book = FeedBook(service.settings.index_dir)
    subscribe(service, good, "good")
    for name, url in bad.items():  # as if subscribed while they still worked
        book.save(_state(name, url))
    fetcher_options = {"read_timeout": 0.5, "connect_timeout": 0.5}
    report = _refresh_with(service, **fetcher_options)
    by_name = {r.name: r for r in report.feeds}
    assert by_name["good"].status == "ok" and by_name["good"].new == 2
    assert "answered 404" in by_name["missing"].message
    assert "answered 500" in by_name["broken"].message
    assert "HTML page, not an RSS or Atom feed" in by_name["html"].message
    assert "malformed XML" in by_name["malformed"].message
    assert "timed out" in by_name["slow"].message
    assert report.exit_code == 1 and len(service.documents()) == 2
    # A feed that disappears later: reported, and its articles stay.
    site.routes.pop("/rss.xml")
    report = _refresh_with(service, **fetcher_options)
    assert "answered 404" in {r.name: r for r in report.feeds}["good"].message
    assert len(service.documents()) == 2


def _state(name, url):
    from rag.sources.feeds import FeedState

    return FeedState(name=name, url=url, added_at="2026-11-30T00:00:00+00:00")


def _refresh_with(service, **policy):
    from rag.sources.refresh import refresh_feeds

    fetcher = make_fetcher(service.settings, **policy)
    return refresh_feeds(FeedBook(service.settings.index_dir), service.indexer(), fetcher)


def test_a_feed_listing_an_item_twice_indexes_it_once(site, service):
    item = rss_item(1, site.url(""))
    put_rss(site, [item, item, rss_item(2, site.url(""))], etag='"d"')
    subscribe(service, site.url("/rss.xml"))
    (result,) = refresh(service).feeds
    assert result.new == 2 and "listed 1 item(s) twice" in result.message
    assert len(service.documents()) == 2


def test_an_enormous_feed_is_skipped_with_a_message(site, service):
    subscribe(service, put_rss(site, [rss_item(1, site.url(""))], etag='"e"'))
    site.put("/rss.xml", rss([rss_item(i, site.url("")) for i in range(300)]), "text/xml")
    report = _refresh_with(service, max_bytes=50_000)
    assert "over the limit of 50,000; skipped" in report.feeds[0].message
    assert report.exit_code == 1


def test_error_pages_and_unreachable_articles_are_retried_later(site, service):
    entries = [atom_entry(site, i) for i in (1, 2, 3)]
    site.put("/atom.xml", atom(entries), "application/atom+xml", etag='"a"')
    put_pages(site, (1,))
    site.put(
        "/story/2",
        "<html><head><title>Page not found</title></head><body>"
        "<p>Sorry, this page could not be found.</p></body></html>",
    )  # a 200 error page
    subscribe(service, site.url("/atom.xml"))
    (result,) = refresh(service).feeds
    assert (result.new, result.failed) == (1, 2)
    messages = " | ".join(p.message for p in result.problems)
    assert "looks like an error page" in messages and "answered 404" in messages
    assert all(p.origin.startswith(site.url("/story/")) for p in result.problems)
    # The validators were not kept: next time the feed is read again and the two retried.
    put_pages(site, (2, 3))
    (result,) = refresh(service).feeds
    assert (result.new, result.unchanged, result.failed) == (2, 1, 0)
    assert len(service.documents()) == 3


def test_robots_txt_keeps_article_pages_unfetched(site, service):
    site.put("/robots.txt", "User-agent: *\nDisallow: /story/\n", "text/plain")
    site.put("/atom.xml", atom([atom_entry(site, 4)]), "application/atom+xml")
    put_pages(site, (4,))
    subscribe(service, site.url("/atom.xml"))
    (result,) = refresh(service).feeds
    assert result.new == 1 and site.hits("/story/") == []
    assert "robots.txt disallows" in result.problems[0].message
    (article,) = [i.article for i in service.documents()]
    assert article.text == story(4)[:100]  # the feed's own summary


def test_syndicated_near_copies_from_two_feeds_are_stored_once(site, service):
    wire = rss_item(7, site.url(""))
    copy = dict(wire, guid="urn:other:7", link=site.url("/elsewhere/7"), title="Another headline")
    # The same story with its last sentence replaced by the outlet's own line.
    body = long_story(7).rsplit(". ", 1)[0] + ". Reporting by the Glenmore desk."
    copy["content:encoded"] = "".join(f"<p>{p}</p>" for p in body.split("\n\n"))
    put_rss(site, [wire], etag='"1"')
    put_rss(site, [copy], etag='"2"', path="/copy.xml", title="Glenmore Gazette")
    subscribe(service, site.url("/rss.xml"), "post")
    subscribe(service, site.url("/copy.xml"), "gazette")
    report = refresh(service)
    assert sum(r.copies for r in report.feeds) == 1
    (info,) = service.documents()
    (joined,) = [r for r in report.feeds if r.merged]
    ((origin, doc_id, title),) = joined.merged  # whichever feed was read second
    assert origin in info.article.origins and (doc_id, title) == (
        info.article.doc_id,
        info.article.title,
    )
    assert f"merged as another origin of {info.article.doc_id}" in joined.summary()
    assert set(info.article.origins) == {site.url("/story/7"), site.url("/elsewhere/7")}
    # Purging one feed keeps the story the other still carries.
    _, removed = remove_feed(
        FeedBook(service.settings.index_dir), "gazette", indexer=service.indexer()
    )
    assert removed == [] and len(service.documents()) == 1


def test_subscribing_checks_the_feed_and_refuses_loopback_unless_allowed(site, tmp_path):
    url = put_rss(site, [rss_item(1, site.url(""))], etag='"x"')
    strict = RagService(Settings(index_dir=tmp_path / "idx2"), embedder=FakeEmbedder())
    refused = r"127\.0\.0\.1 is a loopback address.*--allow-private-urls"
    with pytest.raises(FetchError, match=refused):
        subscribe(strict, url)
    assert site.requests == []
    relaxed = RagService(
        Settings(index_dir=tmp_path / "idx2", allow_private_urls=True, fetch_delay=0),
        embedder=FakeEmbedder(),
    )
    with pytest.raises(FetchError, match="HTML page, not an RSS or Atom feed"):
        subscribe(relaxed, site.put("/home", "<html><body><p>Home</p></body></html>"))
    state = subscribe(relaxed, url)
    assert state.name == "127.0.0.1-rss-xml" and state.title == "Portville Post"
    with pytest.raises(InputError, match="already a feed"):
        subscribe(relaxed, url)


def test_feed_state_is_a_json_file_in_the_index_folder(site, service):
    subscribe(service, put_rss(site, [rss_item(1, site.url(""))], etag='"s"'), "post")
    refresh(service)
    data = json.loads((service.settings.index_dir / "feeds" / "post.json").read_text())
    assert data["etag"] == '"s"' and data["last_refresh"]["status"] == "ok"
    (item,) = data["items"].values()
    assert item["origin"] == site.url("/story/1") and len(item["fp"]) == 16
    service.store.check_owned()  # the feeds folder is newsrag's own


def test_parse_feed_reads_rss_1_and_0_9x():
    rdf = b"""<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
      xmlns="http://purl.org/rss/1.0/"><channel rdf:about="x"><title>T</title></channel>
      <item rdf:about="http://example.org/1"><title>One</title><link>http://example.org/1</link>
      <description>First story.</description></item></rdf:RDF>"""
    title, entries, _ = parse_feed(rdf, "u")
    assert title == "T" and [e.link for e in entries] == ["http://example.org/1"]
    old = b"""<rss version="0.91"><channel><title>Old</title><item><title>A</title>
      <link>http://example.org/a</link><description>Story A.</description></item></channel></rss>"""
    assert parse_feed(old, "u")[1][0].title == "A"


def test_refresh_interval_parsing():
    assert parse_interval("30m") == 1800 and parse_interval("2h") == 7200
    assert parse_interval("90s") == 90 and parse_interval("5") == 300
    with pytest.raises(InputError):
        parse_interval("10s")
    with pytest.raises(InputError):
        parse_interval("soon")


@pytest.fixture
def fake_cli(monkeypatch):
    use_fake_models(monkeypatch, generator=None)
    for name in ("RAG_INDEX_DIR", "RAG_CONFIG", "RAG_EMBEDDER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RAG_FETCH_DELAY", "0")


def test_the_commands_and_their_exit_codes(site, tmp_path, capsys, fake_cli):
    idx = ["--index-dir", str(tmp_path / "idx")]
    url = put_rss(site, [rss_item(i, site.url("")) for i in range(2)], etag='"c"')

    assert cli.main(["feeds", "add", url, *idx]) == 1
    assert "--allow-private-urls" in capsys.readouterr().err
    allow = [*idx, "--allow-private-urls"]
    assert cli.main(["feeds", "add", url, "--name", "post", *allow]) == 0
    assert cli.main(["feeds", "add", site.url("/nothing.xml"), *allow]) == 1
    assert "answered 404" in capsys.readouterr().err
    assert cli.main(["refresh", *allow]) == 0
    assert "post: 2 new, 0 changed, 0 unchanged" in capsys.readouterr().err
    assert cli.main(["refresh", "--json", *allow]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["feeds"][0]["status"] == "not modified" and data["chunks_embedded"] == 0
    assert cli.main(["feeds", "list", "--json", *idx]) == 0
    assert json.loads(capsys.readouterr().out)[0]["items"] == 2

    # A feed that fails makes the exit code 1; the others are refreshed.
    book = FeedBook(tmp_path / "idx")
    book.save(_state("gone", site.url("/gone.xml")))
    assert cli.main(["refresh", *allow]) == 1
    err = capsys.readouterr().err
    assert "gone: failed: the server answered 404" in err and site.url("/gone.xml") in err

    assert cli.main(["feeds", "remove", "post", "--purge", *idx]) == 0
    assert "and 2 article(s) only it gave" in capsys.readouterr().err
    assert cli.main(["feeds", "remove", "nope", *idx]) == 2


@pytest.mark.parametrize(
    "damage",
    [
        lambda text: text[: len(text) // 2],  # cut short, as by a full disk
        lambda text: "[]",  # valid JSON, not a feed
        lambda text: text.replace('"name"', '"nom"'),  # a field lost
    ],
    ids=["truncated", "not an object", "field missing"],
)
def test_a_damaged_feed_state_is_reported_with_its_repair(site, tmp_path, capsys, fake_cli, damage):
    idx = ["--index-dir", str(tmp_path / "idx"), "--allow-private-urls"]
    url = put_rss(site, [rss_item(i, site.url("")) for i in range(2)], etag='"d"')
    assert cli.main(["feeds", "add", url, "--name", "post", *idx]) == 0
    assert cli.main(["refresh", *idx]) == 0
    state = tmp_path / "idx" / "feeds" / "post.json"
    state.write_text(damage(state.read_text()))
    capsys.readouterr()
    for argv in (["feeds", "list"], ["refresh"], ["feeds", "list", "--json"]):
        assert cli.main([*argv, *idx]) == 3, argv
        out, err = capsys.readouterr()
        assert "Traceback" not in err and out == ""
        assert f"The state of the feed 'post' ({state}) is damaged" in err
        assert "rag feeds add" in err and "--name post" in err
    # The repair it names works, and nothing is embedded again.
    state.rename(f"{state}.damaged")
    assert cli.main(["feeds", "add", url, "--name", "post", *idx]) == 0
    assert cli.main(["refresh", *idx]) == 0
    assert "0 passages embedded; the index has 2 articles" in capsys.readouterr().err


def test_rag_index_takes_urls_among_paths(site, tmp_path, capsys, fake_cli, write_articles):
    folder = write_articles({"local.md": "# Local\n\n" + story(30)})
    url = site.put("/story/31", page(headline(31), story(31)))
    idx = ["--index-dir", str(tmp_path / "idx"), "--allow-private-urls"]
    assert cli.main(["index", str(folder), url, site.url("/story/404"), *idx]) == 1
    err = capsys.readouterr().err
    assert "2 new" in err and f"skipped {site.url('/story/404')}: the server answered 404" in err
    assert cli.main(["list", "--json", *idx]) == 0
    listed = {d["title"]: d for d in json.loads(capsys.readouterr().out)}
    assert listed[headline(31)]["origins"] == [url]
    assert cli.main(["remove", url, *idx]) == 0


def test_error_pages_are_told_from_short_news():
    from rag.sources.web import not_an_article
    from rag.types import RawDocument

    news = RawDocument(
        "Some 500 people were evacuated after an error in the signalling system stopped "
        "trains outside the station on Monday, the operator said, adding that service "
        "would resume on Tuesday morning once engineers had checked the line.",
        "u",
        title="Trains halted outside the station",
    )
    assert not_an_article(news) is None
    error = RawDocument("Sorry, the page you asked for does not exist.", "u", title="404")
    assert "looks like an error page" in not_an_article(error)
    soft = RawDocument("Page not found. " + "Try the search box or the home page. " * 5, "u")
    assert "looks like an error page" in not_an_article(soft)
    assert "too few for an article" in not_an_article(RawDocument("Subscribe to read.", "u"))


def test_background_refresh_runs_until_stopped_and_survives_errors():
    from rag.sources.schedule import start_background_refresh

    calls = []

    def refresh_once():
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise RuntimeError("a bad moment")  # logged; the next round still runs
        return feed_commands.RefreshReport((), None, 0.0)

    thread, stop = start_background_refresh(refresh_once, 0.05)
    assert thread.daemon
    deadline = time.monotonic() + 5
    while len(calls) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    stop.set()
    thread.join(timeout=2)
    assert len(calls) >= 3 and not thread.is_alive()


def test_a_full_refresh_after_a_rebuild_indexes_the_items_again(site, service, write_articles):
    put_rss(site, [rss_item(i, site.url("")) for i in range(2)], etag='"f"')
    subscribe(service, site.url("/rss.xml"))
    refresh(service)
    service.index_paths([write_articles({"a.md": "# Other\n\n" + story(40)})], rebuild=True)
    assert refresh(service).feeds[0].status == "not modified" and len(service.documents()) == 1
    (result,) = feed_commands.refresh(service, full=True).feeds
    assert result.changed == 2 and len(service.documents()) == 3


def test_last_modified_is_sent_back_and_a_304_transfers_nothing(site, service):
    stamp = "Mon, 30 Nov 2026 08:00:00 GMT"
    body = rss([rss_item(i, site.url("")) for i in range(2)]).encode()

    def feed(handler):
        if handler.headers.get("If-Modified-Since") == stamp:
            handler.send_response(304)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        handler.send_response(200)
        handler.send_header("Content-Type", "application/rss+xml")
        handler.send_header("Last-Modified", stamp)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    subscribe(service, site.handle("/lm.xml", feed))
    assert refresh(service).feeds[0].new == 2
    site.requests.clear()
    assert refresh(service).feeds[0].status == "not modified"
    assert site.requests[0].headers["if-modified-since"] == stamp


def test_a_refresh_that_finds_nothing_new_makes_no_indexer(site, service):
    subscribe(service, put_rss(site, [rss_item(1, site.url(""))], etag='"n"'))
    refresh(service)
    from rag.sources.refresh import refresh_feeds

    made = []

    def make():
        made.append(1)
        return service.indexer()

    book = FeedBook(service.settings.index_dir)
    report = refresh_feeds(book, make, make_fetcher(service.settings))
    assert report.feeds[0].status == "not modified" and made == []


def test_an_interrupted_refresh_keeps_the_batches_it_finished(
    site, service, tmp_path, capsys, fake_cli
):
    from rag.sources.refresh import refresh_feeds

    url = put_rss(site, [rss_item(i, site.url("")) for i in range(25)], etag='"big"')
    subscribe(service, url, "post")
    book = FeedBook(service.settings.index_dir)
    indexer = service.indexer()
    real_write = indexer.index_articles
    writes: list[int] = []

    def write_then_stop(articles, **kwargs):
        if len(writes) == 2:
            raise KeyboardInterrupt  # Ctrl-C during the third batch's write
        writes.append(len(articles))
        return real_write(articles, **kwargs)

    indexer.index_articles = write_then_stop
    with pytest.raises(KeyboardInterrupt):
        refresh_feeds(book, indexer, make_fetcher(service.settings), batch_items=10)
    # Two batches of ten were written and recorded; the feed's validators were not kept.
    assert writes == [10, 10]
    assert len(service.documents()) == 20
    state = book.find("post")
    assert len(state.items) == 20 and state.etag is None
    # The next refresh (the real command) reads the feed again and does the rest only.
    idx = ["--index-dir", str(service.settings.index_dir), "--allow-private-urls"]
    capsys.readouterr()
    assert cli.main(["refresh", *idx]) == 0
    err = capsys.readouterr().err
    assert "post: 5 new, 0 changed, 20 unchanged" in err
    assert "the index has 25 articles" in err
    assert len(book.find("post").items) == 25 and book.find("post").etag == '"big"'


def test_a_refresh_holds_one_batch_of_articles_at_a_time(site, service, monkeypatch):
    from rag.sources import refresh

    url = put_rss(site, [rss_item(i, site.url("")) for i in range(30)], etag='"b"')
    subscribe(service, url, "post")
    sizes: list[int] = []
    real = refresh._articles_to_index
    monkeypatch.setattr(
        refresh,
        "_articles_to_index",
        lambda batch, finder: sizes.append(len(batch.documents)) or real(batch, finder),
    )
    report = refresh.refresh_feeds(
        FeedBook(service.settings.index_dir),
        service.indexer(),
        make_fetcher(service.settings),
        batch_items=8,
    )
    assert sizes == [8, 8, 8, 6]
    assert report.index.added == 30 and report.feeds[0].new == 30
    assert report.index.chunks_embedded == sum(1 for _ in service.snapshot().chunks)
