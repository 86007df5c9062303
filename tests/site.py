"""A real HTTP server on loopback for the fetch, feed and PDF tests.

Each test puts resources at paths (bytes with a content type, optionally an
ETag answered with 304 when it matches) or handler functions for the odd cases
(a slow server, an endless stream, a redirect loop). Every request is
recorded with its headers, so a test can say what was transferred.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Resource:
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    etag: str | None = None
    headers: tuple[tuple[str, str], ...] = ()


Handler = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    status: int = 0
    at: float = 0.0


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that hangs up early (a refused page) is what several tests do


class Site:
    def __init__(self) -> None:
        self.routes: dict[str, Resource | Handler] = {}
        self.requests: list[Request] = []
        self.active = 0
        self.most_active = 0
        self._lock = threading.Lock()
        site = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                request = Request(self.path, {k.lower(): v for k, v in self.headers.items()})
                request.at = time.monotonic()
                with site._lock:
                    site.requests.append(request)
                    site.active += 1
                    site.most_active = max(site.most_active, site.active)
                try:
                    route = site.routes.get(self.path)
                    if route is None:
                        request.status = 404
                        self._send(404, b"<html><body>Not found</body></html>", "text/html")
                    elif callable(route):
                        route(self)
                    else:
                        request.status = self._serve(route)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    with site._lock:
                        site.active -= 1

            def _serve(self, r: Resource) -> int:
                if r.etag and self.headers.get("If-None-Match") == r.etag:
                    self.send_response(304)
                    self.send_header("ETag", r.etag)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return 304
                extra = [*r.headers, *((("ETag", r.etag),) if r.etag else ())]
                self._send(r.status, r.body, r.content_type, extra)
                return r.status

            def _send(self, status, body, content_type, headers=()) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

        self.server = _QuietServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def put(
        self,
        path: str,
        body: bytes | str,
        content_type: str = "text/html; charset=utf-8",
        **options: object,
    ) -> str:
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.routes[path] = Resource(data, content_type, **options)  # type: ignore[arg-type]
        return self.url(path)

    def handle(self, path: str, handler: Handler) -> str:
        self.routes[path] = handler
        return self.url(path)

    def hits(self, prefix: str = "") -> list[Request]:
        return [r for r in self.requests if r.path.startswith(prefix)]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def stream(handler: BaseHTTPRequestHandler, pieces: Iterator[bytes], headers=()) -> None:
    """Send ``pieces`` chunked, as a generator yields them: the server never holds the whole."""
    handler.send_response(200)
    handler.send_header("Content-Type", "text/html")
    handler.send_header("Transfer-Encoding", "chunked")
    for name, value in headers:
        handler.send_header(name, value)
    handler.end_headers()
    try:
        for piece in pieces:
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        handler.wfile.write(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
