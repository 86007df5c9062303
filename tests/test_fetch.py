"""The careful HTTP client, against a real server on loopback."""

from __future__ import annotations

import gzip
import threading
import time
import zlib

import pytest

from rag.errors import FetchError
from rag.sources import fetch
from rag.sources.fetch import Fetcher, FetchPolicy, RobotsRules
from tests.site import Site, stream

ALLOW = {"allow_private": True, "per_host_delay": 0.0}


@pytest.fixture
def site():
    server = Site()
    yield server
    server.close()


def fetcher(**options) -> Fetcher:
    return Fetcher(FetchPolicy(**{**ALLOW, **options}))


def test_loopback_is_refused_unless_allowed(site):
    url = site.put("/a.html", "<p>hi</p>")
    with pytest.raises(FetchError) as refused:
        Fetcher(FetchPolicy(per_host_delay=0)).get(url)
    message = str(refused.value)
    assert url in message and "127.0.0.1 is a loopback address" in message
    assert "--allow-private-urls" in message
    assert site.requests == []  # refused before connecting
    assert fetcher().get(url).body == b"<p>hi</p>"


def reason(address: str) -> str:
    problem = fetch._address_problem(address)
    assert problem is not None, address
    return problem.reason


def test_private_and_odd_addresses_are_named():
    assert "private-network" in reason("10.1.2.3")
    assert "private-network" in reason("192.168.0.4")
    assert "link-local" in reason("169.254.10.1")
    assert "not a public address" in reason("100.64.0.1")
    assert "loopback" in reason("::ffff:127.0.0.1")
    assert fetch._address_problem("93.184.216.34") is None


@pytest.mark.parametrize(
    "address, kind",
    [
        ("169.254.169.254", "cloud metadata"),
        ("::ffff:169.254.169.254", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("100.100.100.200", "cloud metadata"),
        ("169.254.0.1", "link-local"),
        ("fe80::1", "link-local"),
        ("fe80::1%eth0", "link-local"),
    ],
)
def test_link_local_and_metadata_addresses_stay_shut_with_private_urls_allowed(address, kind):
    problem = fetch._address_problem(address)
    assert problem is not None and kind in problem.reason and problem.guarded
    # Nothing is resolved or sent: an address literal is its own answer.
    with pytest.raises(FetchError, match=f"{kind} address, never fetched unless named"):
        fetch.resolve("http://x/", address.split("%")[0], 80, allow_private=True)
    named = frozenset({address.split("%")[0]})
    assert fetch.resolve("http://x/", address.split("%")[0], 80, allow_private=False, named=named)


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "192.168.0.4", "::1"])
def test_the_private_url_flag_opens_loopback_and_private_networks(address):
    problem = fetch._address_problem(address)
    assert problem is not None and not problem.guarded
    assert fetch.resolve("http://x/", address, 80, allow_private=True) == address


def test_a_name_that_resolves_to_metadata_is_refused_before_connecting(site, monkeypatch):
    # The fetcher, whole: a host name the resolver maps to the metadata address (as a
    # rebinding DNS would). The connection is replaced by a trap, so nothing leaves.
    real = fetch.socket.getaddrinfo

    def lookup(host, port, *args, **kwargs):
        if host == "metadata.test":
            return [
                (fetch.socket.AF_INET, fetch.socket.SOCK_STREAM, 6, "", ("169.254.169.254", port))
            ]
        return real(host, port, *args, **kwargs)

    def trap(*args, **kwargs):
        raise AssertionError(f"a connection was attempted: {args}")

    monkeypatch.setattr(fetch.socket, "getaddrinfo", lookup)
    monkeypatch.setattr(fetch.socket, "create_connection", trap)
    with pytest.raises(FetchError, match="cloud metadata address") as refused:
        fetcher().get("http://metadata.test/latest/meta-data/")
    assert "--allow-url-host" in str(refused.value)


def test_a_named_host_is_fetched_without_the_private_url_flag(site, monkeypatch):
    url = site.put("/named.html", "<p>named</p>")
    named = Fetcher(FetchPolicy(per_host_delay=0, allow_hosts=frozenset({"127.0.0.1"})))
    assert named.get(url).body == b"<p>named</p>"
    # By its name: one that resolves to loopback here.
    real = fetch.socket.getaddrinfo
    monkeypatch.setattr(
        fetch.socket,
        "getaddrinfo",
        lambda host, *a, **k: real("127.0.0.1" if host == "intranet.test" else host, *a, **k),
    )
    by_name = Fetcher(FetchPolicy(per_host_delay=0, allow_hosts=frozenset({"intranet.test"})))
    assert by_name.get(url.replace("127.0.0.1", "intranet.test")).body == b"<p>named</p>"
    # Naming one host opens that host only.
    with pytest.raises(FetchError, match="loopback"):
        Fetcher(FetchPolicy(per_host_delay=0, allow_hosts=frozenset({"10.0.0.1"}))).get(url)


@pytest.mark.parametrize(
    "url, reason",
    [
        ("file:///etc/passwd", "only http and https"),
        ("ftp://example.com/x", "only http and https"),
        ("http:///nohost", "no host name"),
        ("http://user:pw@example.com/", "user name or password"),
    ],
)
def test_only_plain_http_and_https_urls(url, reason):
    with pytest.raises(FetchError, match=reason):
        fetcher().get(url)


def test_user_agent_names_the_tool_and_gzip_is_decoded(site):
    body = b"<p>" + b"news " * 1000 + b"</p>"
    site.put("/z", gzip.compress(body), headers=(("Content-Encoding", "gzip"),))
    site.put("/d", zlib.compress(body), headers=(("Content-Encoding", "deflate"),))
    assert fetcher().get(site.url("/z")).body == body
    assert fetcher().get(site.url("/d")).body == body
    agent = site.requests[0].headers["user-agent"]
    assert agent.startswith("newsrag/") and "gzip" in site.requests[0].headers["accept-encoding"]


def test_http_errors_name_the_status(site):
    site.put("/gone", "<html>gone</html>", status=410)
    site.put("/boom", "<html>oops</html>", status=500)
    with pytest.raises(FetchError, match="answered 404"):
        fetcher().get(site.url("/missing"))
    with pytest.raises(FetchError, match="answered 500") as err:
        fetcher().get(site.url("/boom"))
    assert err.value.status == 500 and site.url("/boom") in str(err.value)


def test_a_slow_server_times_out(site):
    def slow(handler):
        time.sleep(2)

    url = site.handle("/slow", slow)
    started = time.monotonic()
    with pytest.raises(FetchError, match="timed out"):
        fetcher(read_timeout=0.3, connect_timeout=0.3).get(url)
    assert time.monotonic() - started < 1.5


def test_a_trickling_server_hits_the_total_deadline(site):
    def trickle(handler):
        def pieces():
            for _ in range(50):
                time.sleep(0.1)
                yield b"x"

        stream(handler, pieces())

    with pytest.raises(FetchError, match="timed out after"):
        fetcher(read_timeout=1, total_timeout=1).get(site.handle("/t", trickle))


def test_redirects_are_followed_up_to_the_limit(site):
    site.put("/final", "<p>here</p>")
    for i in range(3):
        target = "/final" if i == 2 else f"/r{i + 1}"
        site.put(f"/r{i}", "", status=302, headers=(("Location", target),))
    response = fetcher().get(site.url("/r0"))
    assert response.body == b"<p>here</p>" and response.url == site.url("/final")
    with pytest.raises(FetchError, match="more than 2 redirects"):
        fetcher(max_redirects=2).get(site.url("/r0"))
    site.put("/loop", "", status=301, headers=(("Location", "/loop"),))
    with pytest.raises(FetchError, match="redirects"):
        fetcher().get(site.url("/loop"))


def test_each_redirect_hop_is_checked_against_the_address_rule(site, monkeypatch):
    # Only 127.0.0.2 counts as private here, so the first hop may go and the second may not.
    monkeypatch.setattr(
        fetch,
        "_address_problem",
        lambda a: (
            fetch.AddressProblem("127.0.0.2 is a loopback address") if a == "127.0.0.2" else None
        ),
    )
    site.put("/jump", "", status=302, headers=(("Location", f"http://127.0.0.2:{site.port}/x"),))
    with pytest.raises(FetchError, match=r"127\.0\.0\.2:\d+/x: refused: 127\.0\.0\.2"):
        Fetcher(FetchPolicy(per_host_delay=0)).get(site.url("/jump"))
    assert [r.path for r in site.requests] == ["/jump"]


def test_an_enormous_page_is_refused_while_streaming(site):
    sent = []

    def endless(handler):
        def pieces():
            for _ in range(10_000):  # 640 MB if anyone read it all
                sent.append(1)
                yield b"x" * 65536

        stream(handler, pieces())

    with pytest.raises(FetchError, match="over the limit of 1,000,000; skipped"):
        fetcher(max_bytes=1_000_000).get(site.handle("/big", endless))
    assert len(sent) < 200  # stopped early, not read to the end
    # A declared length over the cap is refused before the body is read.
    site.put("/declared", b"y" * 2_000_000)
    with pytest.raises(FetchError, match="2,000,000 bytes"):
        fetcher(max_bytes=1_000_000).get(site.url("/declared"))


def test_a_decompression_bomb_is_refused(site):
    bomb = gzip.compress(b"\0" * 50_000_000)  # about 50 KB on the wire
    site.put("/bomb", bomb, headers=(("Content-Encoding", "gzip"),))
    with pytest.raises(FetchError, match="once decompressed"):
        fetcher(max_bytes=1_000_000).get(site.url("/bomb"))


def test_at_most_n_requests_at_once_and_a_delay_per_host(site):
    def slow(handler):
        time.sleep(0.2)
        handler.send_response(200)
        handler.send_header("Content-Length", "2")
        handler.end_headers()
        handler.wfile.write(b"ok")

    url = site.handle("/slow", slow)
    client = fetcher(max_concurrent=2)
    threads = [threading.Thread(target=client.get, args=(url,)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert site.most_active == 2
    site.requests.clear()
    polite = fetcher(per_host_delay=0.25)
    for _ in range(3):
        polite.get(site.put("/p", "ok"))
    gaps = [b.at - a.at for a, b in zip(site.requests, site.requests[1:], strict=False)]
    assert all(gap >= 0.2 for gap in gaps)


def test_robots_txt_is_respected(site):
    site.put("/robots.txt", "User-agent: *\nDisallow: /private/\n", "text/plain")
    rules = RobotsRules(fetcher())
    assert rules.allowed(site.url("/news/a.html"))
    assert not rules.allowed(site.url("/private/b.html"))
    assert len(site.hits("/robots.txt")) == 1  # read once per site


def test_a_missing_robots_txt_allows_and_a_broken_one_disallows(site):
    assert RobotsRules(fetcher()).allowed(site.url("/a"))
    site.put("/robots.txt", "down", status=503)
    assert not RobotsRules(fetcher()).allowed(site.url("/a"))


def test_https_certificates_are_verified(site, tmp_path):
    import shutil
    import ssl
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a self-signed certificate")
    key, cert = tmp_path / "k.pem", tmp_path / "c.pem"
    make = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    subprocess.run(
        [*make, "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost"],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    site.server.socket = context.wrap_socket(site.server.socket, server_side=True)
    site.put("/a", "<p>secret</p>")
    # A self-signed certificate is refused: the connection is checked, not just encrypted.
    with pytest.raises(FetchError, match=r"TLS failed.*CERTIFICATE_VERIFY_FAILED"):
        fetcher(connect_timeout=2, read_timeout=2).get(f"https://127.0.0.1:{site.port}/a")
