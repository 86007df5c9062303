"""The server's doors: the names it answers to, and the pages that may change its state.

A DNS-rebinding page reaches a server on loopback under the attacker's own host
name, so only the names the server was bound as are answered (Starlette's
``TrustedHostMiddleware`` decides; a refusal is a 421 that names the flag).

Any page the user visits can post a form to the server, with no preflight, so a
state-changing request (POST, PUT, PATCH, DELETE) whose ``Origin`` (or, without
one, ``Referer``) is not the server's own is refused, on every route: the API,
uploads, removals, feeds and the chat's Gradio endpoints. A request with neither
header comes from a program the user ran (curl, the OpenAI client), not from a
page, and passes. The API's JSON routes take ``application/json`` only, and its
upload route ``multipart/form-data`` only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.middleware.trustedhost import TrustedHostMiddleware

# Always answered: the loopback names a browser on this machine uses.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
# Binding these means every interface: no one name to add, the user names them.
WILDCARD_BINDS = ("0.0.0.0", "::", "")
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
UPLOAD_PATH = "/api/articles"


def trusted_hosts(bound: str, extra: Sequence[str] = ()) -> list[str]:
    """The Host names answered: loopback's, the bound address, and ``--allowed-host``'s."""
    names = list(LOOPBACK_HOSTS)
    if bound not in WILDCARD_BINDS:
        names.append(f"[{bound}]" if ":" in bound and not bound.startswith("[") else bound)
    names.extend(extra)
    return list(dict.fromkeys(n.strip().lower() for n in names if n.strip()))


async def _answer(send: Any, status: int, message: str, code: str) -> None:
    """An OpenAI-style error object, the shape every other refusal of the server has."""
    body = json.dumps(
        {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": None,
                "code": code,
            }
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class HostCheck:
    """ASGI middleware: Starlette's ``TrustedHostMiddleware`` judges the Host header.

    It is asked on a copy of the request that reaches nothing but a marker, so its
    verdict is used while the refusal the user reads is ours: 421 and the flag to use.
    """

    def __init__(self, app: Any, *, allowed: Sequence[str]) -> None:
        self.app = app
        self.allowed = list(allowed)
        self.judge = TrustedHostMiddleware(
            _mark_trusted, allowed_hosts=self.allowed, www_redirect=False
        )

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        probe = {**scope, "newsrag.trusted_host": False}
        await self.judge(probe, receive, _discard)
        if probe["newsrag.trusted_host"]:
            await self.app(scope, receive, send)
            return
        host = Headers(scope=scope).get("host", "")
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await _answer(
            send,
            421,
            f"This server does not answer to the host name {host!r}; it answers "
            f"{', '.join(self.allowed)}. If that name is yours, start it with "
            f"`rag serve --allowed-host NAME`.",
            "untrusted_host",
        )


async def _mark_trusted(scope: Any, receive: Any, send: Any) -> None:
    scope["newsrag.trusted_host"] = True


async def _discard(message: Any) -> None:
    """Where the judge's own 400 goes: the caller answers instead."""


def _origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of a URL, lower-cased; None for "null" or junk."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


class OriginCheck:
    """ASGI middleware: a state-changing request from another site's page is refused (403).

    The server's own origin is the one the request was addressed to (its Host,
    already checked); ``extra`` adds the ``--cors-origin`` pages the user allowed.
    """

    def __init__(self, app: Any, *, extra: Sequence[str] = ()) -> None:
        self.app = app
        self.extra = frozenset(o.rstrip("/").lower() for o in extra)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] not in STATE_CHANGING:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        problem = self.origin_problem(scope, headers) or body_type_problem(scope, headers)
        if problem:
            status, message, code = problem
            await _answer(send, status, message, code)
            return
        await self.app(scope, receive, send)

    def origin_problem(self, scope: Any, headers: Headers) -> tuple[int, str, str] | None:
        sent = headers.get("origin") or headers.get("referer")
        if sent is None:
            return None  # not sent by a page: curl, a script, the OpenAI client
        own = f"{scope.get('scheme', 'http')}://{headers.get('host', '')}".lower()
        origin = _origin_of(sent)
        if origin is not None and (origin == own or origin in self.extra):
            return None
        return (
            403,
            f"Refused: a {scope['method']} from the page at {sent!r}, another site than "
            f"this server ({own}). Only the server's own pages, pages named with "
            f"--cors-origin, and programs that send no Origin may change its state.",
            "cross_site_request",
        )


def body_type_problem(scope: Any, headers: Headers) -> tuple[int, str, str] | None:
    """The API's bodies come in one type each: JSON, or multipart for uploads.

    A request without a body carries nothing to plant; the route answers it (405, 422).
    """
    path = scope.get("path", "")
    has_body = headers.get("content-length", "0") != "0" or "transfer-encoding" in headers
    if not has_body or not path.startswith(("/v1/", "/api/")):
        return None
    given = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    wanted = "multipart/form-data" if path.rstrip("/") == UPLOAD_PATH else "application/json"
    if given == wanted:
        return None
    return (
        415,
        f"{scope['method']} {path} takes Content-Type: {wanted}, not {given or 'none'}.",
        "unsupported_media_type",
    )
