"""The server's doors, tried as another site and a rebinding page would: uvicorn on a
loopback port, real HTTP requests with the Origin, Referer and Host headers they send.

The fake models answer (tests/fakes.py); nothing here leaves loopback.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from rag.config import Settings, load_settings
from rag.service import RagService
from tests.fakes import FakeEmbedder, FakeGenerator
from tests.test_api import BRIDGE, REPLY, Server
from tests.test_index import ARTICLE_A, ARTICLE_B
from ui.guards import trusted_hosts

KEY = "guard-key-5678"
EVIL = "http://evil.example.com"
# The chat's /ask endpoint takes the question, k, temperature, since and until.
ASK = {"data": [BRIDGE, 4, 0.0, "", ""]}
NOTE = b"# Planted note\n\nMay 4, 2024 - NOWHERE (Test Wire)\n\nThe moon is made of cheese.\n"


@pytest.fixture
def service(tmp_path, write_articles) -> RagService:
    svc = RagService(
        Settings(index_dir=tmp_path / "idx"),
        embedder=FakeEmbedder(),
        generator=FakeGenerator([REPLY] * 50),
    )
    svc.index_paths([write_articles({"a.md": ARTICLE_A, "b.md": ARTICLE_B})])
    return svc


@pytest.fixture
def open_server(service) -> Iterator[Server]:
    """Loopback, no key: as `rag serve` starts by default."""
    s = Server(service, cors_origins=("http://tools.example",))
    yield s
    s.close()


def titles(service: RagService) -> set[str]:
    return {d.article.title for d in service.documents()}


def upload(server: Server, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}/api/articles",
        files=[("files", ("note.md", NOTE, "text/markdown"))],
        headers=headers,
        timeout=30,
    )


# --- 1. another site cannot write ---------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": EVIL},
        {"Referer": f"{EVIL}/innocent-page.html"},
        {"Origin": "null"},  # a sandboxed frame or a file:// page
        {"Origin": "http://127.0.0.1:1"},  # loopback, but another port: another site
    ],
)
def test_a_cross_site_upload_is_refused_and_nothing_is_indexed(open_server, service, headers):
    response = upload(open_server, **headers)
    assert response.status_code == 403, response.text
    error = response.json()["error"]
    assert error["code"] == "cross_site_request" and "another site" in error["message"]
    assert "Planted note" not in titles(service)


def test_the_servers_own_page_and_programs_without_origin_may_upload(open_server, service):
    own = upload(open_server, Origin=open_server.url)
    assert own.status_code == 200 and own.json()["added"] == 1
    assert "Planted note" in titles(service)
    by_referer = upload(open_server, Referer=f"{open_server.url}/?tab=articles")
    assert by_referer.status_code == 200
    assert upload(open_server).status_code == 200  # curl: neither header
    named = upload(open_server, Origin="http://tools.example")  # --cors-origin
    assert named.status_code == 200


def test_a_cross_site_removal_is_refused(open_server, service):
    doc_id = next(d.article.doc_id for d in service.documents())
    url = f"{open_server.url}/api/articles/{doc_id}"
    refused = httpx.delete(url, headers={"Origin": EVIL})
    assert refused.status_code == 403
    assert doc_id in {d.article.doc_id for d in service.documents()}
    assert httpx.delete(url, headers={"Origin": open_server.url}).status_code == 200


def test_a_cross_site_question_and_the_chats_endpoints_are_refused(open_server):
    evil = {"Origin": EVIL}
    ask = httpx.post(f"{open_server.url}/api/ask", json={"question": BRIDGE}, headers=evil)
    assert ask.status_code == 403
    body = {"messages": [{"role": "user", "content": BRIDGE}]}
    chat = httpx.post(f"{open_server.url}/v1/chat/completions", json=body, headers=evil)
    assert chat.status_code == 403
    # The web chat's Gradio endpoints, mounted in the same app.
    call = httpx.post(f"{open_server.url}/gradio_api/call/ask", json=ASK, headers=evil)
    assert call.status_code == 403
    join = httpx.post(f"{open_server.url}/gradio_api/queue/join", json={}, headers=evil)
    assert join.status_code == 403
    files = [("files", ("note.md", NOTE, "text/markdown"))]
    gradio_upload = httpx.post(f"{open_server.url}/gradio_api/upload", files=files, headers=evil)
    assert gradio_upload.status_code == 403
    # Reading is not refused by origin (the Host check guards reads): a GET passes.
    assert httpx.get(f"{open_server.url}/api/articles", headers=evil).status_code == 200


def test_the_chat_on_loopback_without_a_key_answers_its_own_page(open_server):
    own = {"Origin": open_server.url}
    call = httpx.post(f"{open_server.url}/gradio_api/call/ask", json=ASK, headers=own)
    assert call.status_code == 200, call.text
    assert "240 steel cables" in event_stream(open_server, call.json()["event_id"])


@pytest.mark.parametrize(
    "path, body_type",
    [
        ("/api/ask", "text/plain"),  # what a cross-site form can send without a preflight
        ("/v1/chat/completions", "application/x-www-form-urlencoded"),
        ("/api/articles", "text/plain"),
    ],
)
def test_api_bodies_must_be_of_their_own_type(open_server, path, body_type):
    body = json.dumps({"question": BRIDGE, "messages": [{"role": "user", "content": BRIDGE}]})
    response = httpx.post(
        open_server.url + path, content=body.encode(), headers={"Content-Type": body_type}
    )
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"
    assert body_type in response.json()["error"]["message"]


# --- 2. only the server's own names are answered --------------------------------------


@pytest.mark.parametrize("path", ["/api/articles", "/", "/gradio_api/info", "/healthz"])
def test_a_rebinding_host_name_is_refused(open_server, path):
    response = httpx.get(
        open_server.url + path, headers={"Host": f"evil.example.com:{open_server.port}"}
    )
    assert response.status_code == 421
    message = response.json()["error"]["message"]
    assert "evil.example.com" in message and "--allowed-host" in message


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost", "LOCALHOST", "[::1]"])
def test_the_loopback_names_are_answered(open_server, name):
    response = httpx.get(f"{open_server.url}/api/articles", headers={"Host": f"{name}:1234"})
    assert response.status_code == 200


def test_a_name_given_with_allowed_host_is_answered(service):
    server = Server(service, allowed_hosts=("news.lan",))
    try:
        url = f"{server.url}/api/articles"
        assert httpx.get(url, headers={"Host": "news.lan"}).status_code == 200
        assert httpx.get(url, headers={"Host": "other.lan"}).status_code == 421
        # The page at that name may write too: its origin is the server's own.
        own = {"Host": "news.lan", "Origin": "http://news.lan"}
        files = [("files", ("note.md", NOTE, "text/markdown"))]
        assert httpx.post(url, files=files, headers=own, timeout=30).status_code == 200
    finally:
        server.close()


def test_the_trusted_names_follow_the_bound_address():
    assert trusted_hosts("127.0.0.1") == ["127.0.0.1", "localhost", "[::1]"]
    assert trusted_hosts("0.0.0.0", ("News.LAN",)) == [
        "127.0.0.1",
        "localhost",
        "[::1]",
        "news.lan",
    ]
    assert trusted_hosts("192.168.1.5")[-1] == "192.168.1.5"
    assert trusted_hosts("fd00::5")[-1] == "[fd00::5]"


def test_allowed_and_url_hosts_come_from_flags_env_and_config(tmp_path):
    from rag.cli import _settings, build_parser

    args = build_parser().parse_args(
        ["serve", "--allowed-host", "a.lan", "--allowed-host", "b.lan", "--allow-url-host", "x"]
    )
    settings = _settings(args)
    assert settings.allowed_hosts == ("a.lan", "b.lan") and settings.allow_url_hosts == ("x",)
    env = load_settings(environ={"RAG_ALLOWED_HOSTS": "c.lan, d.lan"})
    assert env.allowed_hosts == ("c.lan", "d.lan")
    config = tmp_path / "rag.toml"
    config.write_text('allow_url_hosts = ["169.254.169.254"]\n')
    assert load_settings(config_file=config).allow_url_hosts == ("169.254.169.254",)
    config.write_text("allowed_hosts = 3\n")
    with pytest.raises(Exception, match="allowed_hosts"):
        load_settings(config_file=config)


# --- 3. the key covers the chat's endpoints -------------------------------------------


@pytest.fixture
def keyed_server(service) -> Iterator[Server]:
    s = Server(service, api_key=KEY)
    yield s
    s.close()


def event_stream(server: Server, event_id: str, **kwargs: object) -> str:
    url = f"{server.url}/gradio_api/call/ask/{event_id}"
    return httpx.get(url, timeout=30, **kwargs).text  # type: ignore[arg-type]


def test_with_a_key_the_chats_endpoints_are_shut_without_it(keyed_server):
    url = keyed_server.url
    assert httpx.post(f"{url}/gradio_api/call/ask", json=ASK).status_code == 401
    assert httpx.get(f"{url}/gradio_api/call/ask/some-event").status_code == 401
    assert httpx.post(f"{url}/gradio_api/queue/join", json={}).status_code == 401
    assert httpx.get(f"{url}/gradio_api/queue/data?session_hash=x").status_code == 401
    files = [("files", ("note.md", NOTE, "text/markdown"))]
    assert httpx.post(f"{url}/gradio_api/upload", files=files).status_code == 401
    assert httpx.get(f"{url}/config").status_code == 401
    assert httpx.get(f"{url}/gradio_api/info").status_code == 401


def test_with_a_key_the_chat_logs_in_with_it(keyed_server):
    url = keyed_server.url
    wrong = httpx.post(f"{url}/login", data={"username": "rag", "password": "guess"})
    assert wrong.status_code == 400
    login = httpx.post(f"{url}/login", data={"username": "rag", "password": KEY})
    assert login.status_code == 200
    call = httpx.post(f"{url}/gradio_api/call/ask", json=ASK, cookies=login.cookies)
    assert call.status_code == 200, call.text
    events = event_stream(keyed_server, call.json()["event_id"], cookies=login.cookies)
    assert "240 steel cables" in events
