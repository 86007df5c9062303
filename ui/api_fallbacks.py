"""The API's answer to a path it does not have, or a method a path does not take.

Anything else under the API's prefixes is the API's own 404, an OpenAI-style error
object, not the web chat's page (mounted at ``/``); a path that is a route, asked with
another method, is a 405 that names the methods it takes, in ``Allow`` too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from starlette.routing import BaseRoute, Match

from ui.api_errors import ApiError

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def add_fallbacks(app: FastAPI, prefixes: Sequence[str], *, dependencies: Sequence[Any]) -> None:
    """Catch-alls under ``prefixes``, behind ``dependencies``; add them after every real route."""
    routes = list(app.router.routes)  # the real ones: the catch-alls below come after

    def unknown(request: Request) -> None:
        raise not_a_route(request, routes)

    for prefix in prefixes:
        app.add_api_route(
            prefix + "/{rest:path}",
            unknown,
            methods=list(METHODS),
            dependencies=list(dependencies),
            include_in_schema=False,
        )


def not_a_route(request: Request, routes: Sequence[BaseRoute]) -> ApiError:
    """405 when one of ``routes`` takes the path with another method, else 404."""
    path = request.url.path
    allowed = [
        m
        for m in METHODS
        if any(r.matches({**request.scope, "method": m})[0] is Match.FULL for r in routes)
    ]
    if allowed:  # the route is there, for other methods
        return ApiError(
            405,
            f"{request.method} is not allowed on {path}; use {' or '.join(allowed)}.",
            code="method_not_allowed",
            headers={"Allow": ", ".join(allowed)},
        )
    return ApiError(
        404,
        f"{request.method} {path} is not a route of this API; see /docs.",
        code="unknown_route",
    )
