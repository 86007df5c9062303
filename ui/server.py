"""``rag serve``: one ASGI app, the HTTP API at ``/v1``, ``/api`` and ``/healthz``,
the web chat at ``/``, run by uvicorn.

Exposure is checked before anything loads: off loopback the API needs a key
and the chat a password. The chat and the API share one ``ModelQueue``.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import gradio as gr
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from rag.config import DEFAULT_HOST, DEFAULT_PORT, QUEUE_SIZE
from rag.errors import ConfigError
from rag.service import RagService
from ui.api import BodyLimit, build_api
from ui.api_context import ApiOptions
from ui.app import build_app, check_password, is_loopback
from ui.guards import HostCheck, OriginCheck, trusted_hosts
from ui.queue import ModelQueue
from ui.render import CSS, MARKER_SCRIPT
from ui.uploads import MAX_UPLOAD_BYTES

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServeOptions:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    password: str | None = None
    api_key: str | None = None
    cors_origins: tuple[str, ...] = ()
    # Host names answered besides loopback's and ``host`` (--allowed-host).
    allowed_hosts: tuple[str, ...] = ()
    queue_size: int = QUEUE_SIZE  # questions that may wait behind the one answering
    examples: Sequence[str] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.queue_size < 1:
            raise ConfigError(f"--queue-size must be at least 1, got {self.queue_size}.")


def check_exposure(options: ServeOptions) -> None:
    """Refuse to open the API or the chat to other machines without a secret."""
    if is_loopback(options.host):
        return
    if not options.api_key:
        raise ConfigError(
            f"Serving on {options.host} would let other machines use the API without a key. "
            "Set RAG_API_KEY or --api-key (clients send 'Authorization: Bearer KEY'), "
            f"or bind {DEFAULT_HOST}."
        )
    check_password(options.host, options.password)


def chat_login(options: ServeOptions) -> tuple[str, str] | None:
    """The chat's login: its password, else the API's key, so the key closes every door.

    The chat's Gradio endpoints (``/gradio_api/call/ask``, the queue, uploads) read
    and write the index as the API does; with a key and no password, the browser
    logs in as 'rag' with the key.
    """
    secret = options.password or options.api_key
    return ("rag", secret) if secret else None


def build_server(service: RagService, options: ServeOptions) -> FastAPI:
    """The API and the web chat in one app, sharing the model's queue."""
    check_exposure(options)
    queue = ModelQueue(max_waiting=options.queue_size)
    api_options = ApiOptions(api_key=options.api_key or None, max_upload_bytes=MAX_UPLOAD_BYTES)
    app = build_api(service, queue, api_options)
    if options.cors_origins:
        # Set here, Gradio adds none of its own: these origins are the whole policy.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(options.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(BodyLimit, options=api_options)
    # Added last, so they run first: a request from the wrong name or site reaches nothing.
    app.add_middleware(OriginCheck, extra=options.cors_origins)
    app.add_middleware(HostCheck, allowed=trusted_hosts(options.host, options.allowed_hosts))
    chat = build_app(service, examples=options.examples, queue=queue)
    chat.queue(default_concurrency_limit=1, max_size=64)
    return gr.mount_gradio_app(
        app,
        chat,
        path="/",
        server_name=options.host,
        server_port=options.port,
        auth=chat_login(options),
        max_file_size=MAX_UPLOAD_BYTES,
        css=CSS,
        head=MARKER_SCRIPT,
        footer_links=[],
        show_error=False,
    )


def serve(service: RagService, options: ServeOptions) -> None:
    """Run until Ctrl-C. Raises ``OSError`` when the port cannot be bound.

    The port is bound before anything is announced, so "Serving the chat on …"
    is never printed above a port-in-use error.
    """
    import uvicorn

    app = build_server(service, options)
    family = socket.AF_INET6 if ":" in options.host else socket.AF_INET
    listening = socket.create_server((options.host.strip("[]"), options.port), family=family)
    where = f"http://{options.host}:{options.port}"
    print(f"Serving the chat on {where} (Ctrl-C stops it)", flush=True)
    print(f"The HTTP API: {where}/docs", flush=True)
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[listening])
    except SystemExit:  # uvicorn's way of saying it could not serve
        raise OSError("the address could not be bound") from None
    finally:
        listening.close()


def start(
    service: RagService,
    *,
    share: bool = False,
    password: str | None = None,
    api_key: str | None = None,
    cors_origins: Sequence[str] = (),
    queue_size: int = QUEUE_SIZE,
    examples: Sequence[str] = (),
) -> Callable[[], None]:
    """What `rag serve` runs (the ``newsrag.ui`` entry point ``web``).

    Checks the address now, before the models load, and returns the function that
    serves until Ctrl-C: the API with the chat mounted, or with ``share`` a Gradio
    share link that serves the chat alone.
    """
    settings = service.settings
    if share:
        from ui.app import launch

        print(f"Serving the chat on http://{settings.host}:{settings.port} and a share link")
        return lambda: launch(
            service,
            host=settings.host,
            port=settings.port,
            share=True,
            password=password,
            examples=examples,
        )
    options = ServeOptions(
        host=settings.host,
        port=settings.port,
        password=password,
        api_key=api_key,
        cors_origins=tuple(cors_origins),
        allowed_hosts=settings.allowed_hosts,
        queue_size=queue_size,
        examples=examples,
    )
    check_exposure(options)

    return lambda: serve(service, options)
