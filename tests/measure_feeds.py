"""Small measurements for the README: `python -m tests.measure_feeds` (not a test).

1. 20 feeds x 50 items on a loopback server, refreshed with the fake embedder:
   half the feeds carry whole articles, half summaries whose pages are fetched.
   Then a second, unchanged refresh (304s).
2. Peak memory (ru_maxrss) while a 200 MB page, streamed by a generator in a
   separate server process, is refused by `rag index URL`'s loader.
3. PDF text extraction, pages per second, on a 100-page PDF made here.
4. Peak memory of one refresh of a single feed of 1,000 and 5,000 whole articles.
"""

from __future__ import annotations

import multiprocessing
import random
import resource
import tempfile
import time
from pathlib import Path

from rag.config import Settings
from rag.ingest.pdf import read_pdf
from rag.service import RagService
from rag.sources import refresh as feed_commands
from rag.sources.feeds import FeedBook, FeedState
from rag.sources.fetch import make_fetcher
from rag.sources.web import load_url
from tests.conftest import SEEDS
from tests.fakes import FakeEmbedder
from tests.feedsite import headline, page, rss, rss_item, story
from tests.pdfs import make_pdf
from tests.site import Site, stream

SENTENCES = [
    s.strip() + "."
    for path in [*sorted(Path("samples/articles").glob("*")), *sorted(SEEDS.glob("*.txt"))]
    for s in path.read_text(encoding="utf-8").replace("\n", " ").split(". ")
    if len(s.split()) > 6
]


def distinct_story(n: int, k: int = 8) -> str:
    """``k`` sentences of the sample articles drawn at random: items that are not copies."""
    rng = random.Random(n)
    picked = rng.sample(SENTENCES, k)
    return "\n\n".join(" ".join(picked[i : i + 2]) for i in range(0, k, 2))


def refresh_20_by_50(tmp: Path) -> None:
    site = Site()
    base = site.url("")
    book = FeedBook(tmp / "idx")
    for f in range(20):
        numbers = [f * 1000 + i for i in range(50)]
        full = f % 2 == 0
        items = []
        for n in numbers:
            item = rss_item(n, base, full=False)
            if full:
                text = distinct_story(n, 12)  # about 300 words: whole, no page needed
                item["content:encoded"] = "".join(f"<p>{p}</p>" for p in text.split("\n\n"))
            else:
                site.put(f"/story/{n}", page(headline(n), distinct_story(n)))
            items.append(item)
        site.put(f"/feed{f}.xml", rss(items, f"Feed {f}"), "application/rss+xml", etag=f'"{f}"')
        book.save(FeedState(f"feed{f}", site.url(f"/feed{f}.xml"), "2026-11-30"))
    embedder = FakeEmbedder()
    settings = Settings(index_dir=tmp / "idx", allow_private_urls=True, fetch_delay=0)
    service = RagService(settings, embedder=embedder)
    started = time.perf_counter()
    report = feed_commands.refresh(service)
    first = time.perf_counter() - started
    items = sum(r.new for r in report.feeds)
    copies = sum(r.copies for r in report.feeds)
    print(
        f"first refresh: {first:.2f} s for {items} items ({items / first:.0f} items/s), "
        f"{len(site.requests)} requests, {report.index.chunks_embedded} passages embedded, "
        f"{report.index.n_documents} articles ({copies} near-copies joined), ok={report.ok}"
    )
    embedder.embedded.clear()
    site.requests.clear()
    started = time.perf_counter()
    again = feed_commands.refresh(service)
    second = time.perf_counter() - started
    statuses = {r.status for r in again.feeds}
    print(
        f"second refresh: {second:.3f} s, {len(site.requests)} requests, "
        f"{len(embedder.embedded)} passages embedded, statuses {statuses}"
    )
    site.close()


def _serve_huge(port_out) -> None:  # in a child process
    site = Site()

    def huge(handler):
        stream(handler, (b"<p>" + b"x" * 65530 + b"</p>" for _ in range(3200)))  # ~200 MB

    site.handle("/huge.html", huge)
    port_out.put(site.port)
    time.sleep(120)


def memory_of_a_refused_200_mb_page() -> None:
    queue: multiprocessing.Queue = multiprocessing.Queue()
    server = multiprocessing.Process(target=_serve_huge, args=(queue,), daemon=True)
    server.start()
    port = queue.get(timeout=30)
    fetcher = make_fetcher(Settings(allow_private_urls=True, fetch_delay=0))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    _doc, problem = load_url(fetcher, f"http://127.0.0.1:{port}/huge.html")
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        f"200 MB page: refused in {seconds:.2f} s ({problem.message}); "
        f"ru_maxrss {before / 1024:.0f} MB before, {after / 1024:.0f} MB after"
    )
    server.terminate()


def pdf_pages_per_second() -> None:
    pages = [[f"Page {n} of the report." for _ in range(1)] for n in range(100)]
    for n, lines in enumerate(pages):
        lines += [story(n)[i : i + 90] for i in range(0, len(story(n)), 90)] * 4
    data = make_pdf(pages, title="Hundred pages")
    started = time.perf_counter()
    doc, _problem = read_pdf(data, "hundred.pdf")
    seconds = time.perf_counter() - started
    print(
        f"PDF: 100 pages, {len(data) / 1024:.0f} KB, {len(doc.text):,} characters "
        f"in {seconds:.2f} s: {100 / seconds:.0f} pages/s"
    )


def _refresh_one_big_feed(items: int, out) -> None:  # in a child process: its own peak
    with tempfile.TemporaryDirectory() as tmp:
        site = Site()
        base = site.url("")
        entries = []
        for n in range(items):
            entry = rss_item(n, base, full=False)
            text = distinct_story(n, 12)
            entry["content:encoded"] = "".join(f"<p>{p}</p>" for p in text.split("\n\n"))
            entries.append(entry)
        body = rss(entries, "Big feed")
        site.put("/big.xml", body, "application/rss+xml", etag='"1"')
        del entries
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        FeedBook(Path(tmp) / "idx").save(FeedState("big", site.url("/big.xml"), "2026-12-07"))
        settings = Settings(index_dir=Path(tmp) / "idx", allow_private_urls=True, fetch_delay=0)
        service = RagService(settings, embedder=FakeEmbedder())
        started = time.perf_counter()
        report = feed_commands.refresh(service)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        out.put(
            f"one feed of {items:,} whole articles ({len(body) / 1e6:.1f} MB): refreshed in "
            f"{time.perf_counter() - started:.1f} s, ok={report.ok}, "
            f"{report.index.n_documents:,} articles; peak memory {after - before:.0f} MB above "
            f"the {before:.0f} MB before the refresh"
        )
        site.close()


def memory_of_a_large_feed_refresh(items: int = 5000) -> None:
    """Peak memory (ru_maxrss) of one refresh of a feed of ``items`` whole articles."""
    queue: multiprocessing.Queue = multiprocessing.Queue()
    child = multiprocessing.Process(target=_refresh_one_big_feed, args=(items, queue))
    child.start()
    print(queue.get(timeout=1800))
    child.join()


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        refresh_20_by_50(Path(tmp))
    print(f"({len(SENTENCES)} sample sentences to draw items from)")
    memory_of_a_refused_200_mb_page()
    pdf_pages_per_second()
    memory_of_a_large_feed_refresh(1000)
    memory_of_a_large_feed_refresh(5000)
