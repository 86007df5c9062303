"""A careful HTTP client for pages and feeds: bounded in time, size, hops and places.

Every request names the tool in its User-Agent, goes to http or https only,
and to public addresses only unless the caller allows private ones (link-local
and cloud-metadata addresses only when named one by one): the host
is resolved once, each address is checked, and the connection is made to the
checked address (so a DNS answer cannot change between check and connect).
Each redirect hop is checked the same way. Bodies are read in pieces and
refused as soon as they pass the cap, before or after gzip/deflate decoding,
so neither a huge page nor a decompression bomb is ever held whole. At most
``max_concurrent`` requests run at once, and requests to one host are spaced
by ``per_host_delay`` seconds.

Failures raise ``FetchError``, whose message names the URL and the reason.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import threading
import time
import zlib
from dataclasses import dataclass, field
from email.message import Message
from importlib.metadata import PackageNotFoundError, version
from urllib.parse import urljoin, urlsplit

from rag.errors import FetchError


def _tool_version() -> str:
    try:
        return version("newsrag")
    except PackageNotFoundError:  # running from a source tree
        return "0"


USER_AGENT = f"newsrag/{_tool_version()} (+local news reader; offline RAG)"
ALLOW_PRIVATE_HINT = "pass --allow-private-urls (or set RAG_ALLOW_PRIVATE_URLS=1) to allow it"


@dataclass(frozen=True)
class FetchPolicy:
    """How politely and how far a fetcher goes. Checked at once."""

    allow_private: bool = False
    # Hosts or addresses fetched whatever their kind (--allow-url-host), lower-cased.
    allow_hosts: frozenset[str] = frozenset()
    connect_timeout: float = 10.0
    read_timeout: float = 20.0  # per socket read
    total_timeout: float = 60.0  # the whole response, so a trickling server cannot hold us
    max_bytes: int = 20_000_000  # on the wire and after decoding
    max_redirects: int = 5
    max_concurrent: int = 4
    per_host_delay: float = 1.0
    user_agent: str = USER_AGENT

    def __post_init__(self) -> None:
        for name in ("connect_timeout", "read_timeout", "total_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be greater than 0, got {getattr(self, name)!r}")
        if self.max_bytes <= 0:
            raise ValueError(f"max_bytes must be greater than 0, got {self.max_bytes!r}")
        if self.max_redirects < 0:
            raise ValueError(f"max_redirects must be 0 or more, got {self.max_redirects!r}")
        if self.max_concurrent < 1:
            raise ValueError(f"max_concurrent must be at least 1, got {self.max_concurrent!r}")
        if self.per_host_delay < 0:
            raise ValueError(f"per_host_delay must be 0 or more, got {self.per_host_delay!r}")


@dataclass(frozen=True)
class Response:
    url: str  # after redirects
    status: int
    headers: dict[str, str] = field(default_factory=dict)  # lower-cased names
    body: bytes = b""

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    @property
    def charset(self) -> str | None:
        message = Message()
        message["content-type"] = self.headers.get("content-type", "")
        return message.get_param("charset")  # type: ignore[return-value]

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def make_fetcher(settings: object, **policy: object) -> Fetcher:
    """A fetcher for the given settings (``allow_private_urls``, ``fetch_delay``)."""
    base = {
        "allow_private": bool(getattr(settings, "allow_private_urls", False)),
        "allow_hosts": frozenset(
            h.lower().strip("[]") for h in getattr(settings, "allow_url_hosts", ())
        ),
        "per_host_delay": float(getattr(settings, "fetch_delay", 1.0)),
    }
    return Fetcher(FetchPolicy(**{**base, **policy}))  # type: ignore[arg-type]


def is_url(text: str) -> bool:
    return text.strip().lower().startswith(("http://", "https://"))


def check_url(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path with query) of an http(s) URL, or a FetchError."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise FetchError(url, f"only http and https URLs are fetched, not {scheme or 'this'}:")
    if not parts.hostname:
        raise FetchError(url, "the URL has no host name")
    if parts.username or parts.password:
        raise FetchError(url, "URLs with a user name or password are not fetched")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise FetchError(url, "the URL has an invalid port") from None
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return scheme, parts.hostname, port, path


# Cloud metadata services (AWS, GCP and Azure; AWS over IPv6; Alibaba): they hand a
# machine's credentials to whoever asks from it, so no feed may point newsrag at them.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
NAMED_HINT = "name it with --allow-url-host ADDRESS (or RAG_ALLOW_URL_HOSTS) to allow it"


@dataclass(frozen=True)
class AddressProblem:
    """Why an address is not fetched; ``guarded``: --allow-private-urls does not open it."""

    reason: str
    guarded: bool = False


def _address_problem(address: str) -> AddressProblem | None:
    """None for a public address, else why not, and whether the private-URL flag opens it."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip in METADATA_ADDRESSES:
        return AddressProblem(f"{ip} is a cloud metadata address", guarded=True)
    if ip.is_link_local:
        return AddressProblem(f"{ip} is a link-local address", guarded=True)
    if ip.is_loopback:
        return AddressProblem(f"{ip} is a loopback address")
    if ip.is_global:
        return None
    if ip.is_private:
        return AddressProblem(f"{ip} is a private-network address")
    return AddressProblem(f"{ip} is not a public address")


def _is_named(host: str, address: str, named: frozenset[str]) -> bool:
    """Did the user name this host, or this very address, with --allow-url-host?"""
    if host.lower().strip("[]") in named:
        return True
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    return any(_same_address(ip, name) for name in named)


def _same_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, name: str) -> bool:
    try:
        return ipaddress.ip_address(name) == ip
    except ValueError:  # a host name, not an address
        return False


def resolve(
    url: str,
    host: str,
    port: int,
    *,
    allow_private: bool,
    named: frozenset[str] = frozenset(),
) -> str:
    """An address of ``host`` to connect to, refusing private ones unless allowed.

    Link-local and metadata addresses are refused even when private ones are
    allowed; a host or address in ``named`` (--allow-url-host) is always fetched.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(url, f"the host {host} could not be resolved ({exc})") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise FetchError(url, f"the host {host} has no address")
    for address in addresses:
        problem = _address_problem(address)
        if problem is None or _is_named(host, address, named):
            continue
        if problem.guarded:
            raise FetchError(
                url,
                f"refused: {problem.reason}, never fetched unless named, even with "
                f"--allow-private-urls ({NAMED_HINT})",
            )
        if not allow_private:
            raise FetchError(
                url,
                f"refused: {problem.reason}; newsrag fetches only public addresses ("
                f"{ALLOW_PRIVATE_HINT})",
            )
    return addresses[0]


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to an address already checked, whatever DNS would say now."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


class Fetcher:
    """Fetches URLs under one ``FetchPolicy``; safe to share between threads."""

    def __init__(self, policy: FetchPolicy | None = None) -> None:
        self.policy = policy or FetchPolicy()
        self._slots = threading.BoundedSemaphore(self.policy.max_concurrent)
        self._hosts_lock = threading.Lock()
        self._next_at: dict[str, float] = {}

    def get(self, url: str, *, headers: dict[str, str] | None = None) -> Response:
        """GET ``url``, following redirects; a 2xx or 304 response, else a FetchError."""
        current = url.strip()
        for _hop in range(self.policy.max_redirects + 1):
            response = self._request(current, headers or {})
            if response.status in (301, 302, 303, 307, 308):
                location = response.headers.get("location")
                if not location:
                    raise FetchError(current, f"redirect ({response.status}) without a Location")
                current = urljoin(current, location)
                continue
            if response.status == 304 or 200 <= response.status < 300:
                return response
            raise FetchError(
                current, f"the server answered {response.status}", status=response.status
            )
        raise FetchError(url, f"more than {self.policy.max_redirects} redirects")

    def _wait_for_host(self, host: str) -> None:
        delay = self.policy.per_host_delay
        if not delay:
            return
        with self._hosts_lock:
            now = time.monotonic()
            start = max(now, self._next_at.get(host, now))
            self._next_at[host] = start + delay
        if start > now:
            time.sleep(start - now)

    def _request(self, url: str, headers: dict[str, str]) -> Response:
        scheme, host, port, path = check_url(url)
        address = resolve(
            url, host, port, allow_private=self.policy.allow_private, named=self.policy.allow_hosts
        )
        self._wait_for_host(host)
        kind = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
        with self._slots:
            conn = kind(host, port, address, self.policy.connect_timeout)
            try:
                return self._exchange(conn, url, path, headers)
            except TimeoutError:
                raise FetchError(url, "timed out") from None
            except ssl.SSLError as exc:
                raise FetchError(url, f"TLS failed ({exc.reason or exc})") from None
            except (OSError, http.client.HTTPException) as exc:
                raise FetchError(url, f"connection failed ({exc or type(exc).__name__})") from None
            finally:
                conn.close()

    def _exchange(
        self, conn: http.client.HTTPConnection, url: str, path: str, headers: dict[str, str]
    ) -> Response:
        started = time.monotonic()
        conn.request(
            "GET",
            path,
            headers={
                "User-Agent": self.policy.user_agent,
                "Accept-Encoding": "gzip, deflate",
                "Accept": "*/*",
                **headers,
            },
        )
        if conn.sock is not None:
            conn.sock.settimeout(self.policy.read_timeout)
        raw = conn.getresponse()
        names = {k.lower(): v for k, v in raw.getheaders()}
        if raw.status in (301, 302, 303, 307, 308) or raw.status == 304 or raw.status >= 400:
            return Response(url, raw.status, names)  # the body is not needed
        declared = names.get("content-length", "")
        if declared.isdigit() and int(declared) > self.policy.max_bytes:
            raise FetchError(url, self._too_big(f"{int(declared):,} bytes"))
        body = self._read_body(raw, url, names.get("content-encoding", ""), started)
        return Response(url, raw.status, names, body)

    def _too_big(self, size: str) -> str:
        return f"the response is {size}, over the limit of {self.policy.max_bytes:,}; skipped"

    def _read_body(
        self, raw: http.client.HTTPResponse, url: str, encoding: str, started: float
    ) -> bytes:
        cap = self.policy.max_bytes
        decoder = _decoder(encoding.strip().lower(), url)
        parts: list[bytes] = []
        size = wire = 0
        while True:
            if time.monotonic() - started > self.policy.total_timeout:
                raise FetchError(url, f"timed out after {self.policy.total_timeout:.0f}s")
            piece = raw.read1(65536)
            if not piece:
                break
            wire += len(piece)
            if wire > cap:
                raise FetchError(url, self._too_big(f"over {cap:,} bytes"))
            for out in decoder.feed(piece, cap - size + 1) if decoder else (piece,):
                size += len(out)
                if size > cap:
                    raise FetchError(url, self._too_big(f"over {cap:,} bytes once decompressed"))
                parts.append(out)
        if decoder:
            tail = decoder.finish(cap - size + 1)
            size += len(tail)
            if size > cap:
                raise FetchError(url, self._too_big(f"over {cap:,} bytes once decompressed"))
            parts.append(tail)
        return b"".join(parts)


class _Decoder:
    """gzip or deflate, decoded in bounded pieces: never more than asked for at once."""

    def __init__(self, wbits: int, url: str) -> None:
        self._z = zlib.decompressobj(wbits)
        self._url = url
        self._raw_fallback = wbits == zlib.MAX_WBITS  # "deflate" is sometimes raw deflate

    def feed(self, data: bytes, limit: int) -> list[bytes]:
        out: list[bytes] = []
        produced = 0
        while data:
            try:
                chunk = self._z.decompress(data, max(1, limit - produced))
            except zlib.error:
                if self._raw_fallback and not out and produced == 0:
                    self._z = zlib.decompressobj(-zlib.MAX_WBITS)
                    self._raw_fallback = False
                    continue
                raise FetchError(self._url, "the compressed response is damaged") from None
            self._raw_fallback = False
            out.append(chunk)
            produced += len(chunk)
            if produced >= limit:
                break  # the caller sees it is over the cap
            if not chunk and self._z.unconsumed_tail == data:
                break
            data = self._z.unconsumed_tail
        return out

    def finish(self, limit: int) -> bytes:
        try:
            return self._z.flush(max(1, limit)) if hasattr(self._z, "flush") else b""
        except zlib.error:
            raise FetchError(self._url, "the compressed response is damaged") from None


def _decoder(encoding: str, url: str) -> _Decoder | None:
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip"):
        return _Decoder(zlib.MAX_WBITS | 16, url)
    if encoding == "deflate":
        return _Decoder(zlib.MAX_WBITS, url)
    raise FetchError(url, f"unsupported Content-Encoding {encoding!r}")


class RobotsRules:
    """robots.txt per site, read once per instance, for pages fetched on a feed's behalf.

    A missing robots.txt (a 4xx) allows everything; a site whose robots.txt
    cannot be read (a 5xx, a timeout) is treated as disallowing, as RFC 9309 asks.
    """

    def __init__(self, fetcher: Fetcher, agent: str = "newsrag") -> None:
        self.fetcher = fetcher
        self.agent = agent
        self._rules: dict[str, object] = {}
        self._lock = threading.Lock()

    def allowed(self, url: str) -> bool:
        from urllib.robotparser import RobotFileParser

        parts = urlsplit(url)
        site = f"{parts.scheme}://{parts.netloc}"
        with self._lock:
            parser = self._rules.get(site)
        if parser is None:
            parser = RobotFileParser()
            try:
                response = self.fetcher.get(site + "/robots.txt")
                lines = response.body.decode("utf-8", errors="replace").splitlines()
                parser.parse(lines)
            except FetchError as err:
                if err.status is not None and 400 <= err.status < 500:
                    parser.allow_all = True
                else:
                    parser.disallow_all = True
            with self._lock:
                self._rules[site] = parser
        return parser.can_fetch(self.agent, url)  # type: ignore[attr-defined]
