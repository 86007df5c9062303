"""The HTTP API for real: uvicorn on a loopback port, the `openai` client and httpx.

Most tests serve the two test articles behind fake models (a generator whose
tokens can be held back, to catch the server mid-answer); the tests marked
``model`` run `rag serve` itself with the real models over the sample articles.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import openai
import pytest

from rag.config import Settings
from rag.service import RagService
from rag.text.codepoints import valid_unicode
from tests.conftest import ROOT, SAMPLES, free_port
from tests.fakes import FakeEmbedder, FakeGenerator
from tests.test_index import ARTICLE_A, ARTICLE_B
from ui.queue import ModelQueue, QueueFull, Steps
from ui.server import ServeOptions, build_server

KEY = "test-key-1234"
BRIDGE = "How many steel cables did engineers replace on the bridge?"
REPLY = "Engineers replaced 240 steel cables [1]."


# How long a wait may last before the test calls it a hang: it bounds liveness, not speed.
HANG_S = 60


class GatedGenerator(FakeGenerator):
    """A fake model whose tokens wait for ``gate`` once ``hold`` is set; it notes closing."""

    def __init__(self, replies: Sequence[str] = (REPLY,)) -> None:
        super().__init__(replies)
        self.hold = threading.Event()
        self.gate = threading.Event()
        self.started = threading.Event()
        self.closed = threading.Event()
        self.tokens = 0

    def stream(self, prompt, *, max_tokens, temperature, stop=()) -> Iterator[str]:
        self.started.set()
        try:
            for piece in super().stream(
                prompt, max_tokens=max_tokens, temperature=temperature, stop=stop
            ):
                if self.hold.is_set():
                    self.gate.wait(timeout=30)
                self.tokens += 1
                yield piece
        finally:
            self.closed.set()


class Server:
    """``build_server`` run by uvicorn in a thread on a free loopback port."""

    def __init__(self, service: RagService, **options: object) -> None:
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        app = build_server(service, ServeOptions(port=self.port, **options))  # type: ignore[arg-type]
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def model() -> GatedGenerator:
    return GatedGenerator()


@pytest.fixture
def api_service(tmp_path, write_articles, model) -> RagService:
    svc = RagService(Settings(index_dir=tmp_path / "idx"), embedder=FakeEmbedder(), generator=model)
    svc.index_paths([write_articles({"a.md": ARTICLE_A, "b.md": ARTICLE_B})])
    return svc


@pytest.fixture
def server(api_service) -> Iterator[Server]:
    s = Server(api_service, api_key=KEY, queue_size=1)
    yield s
    s.close()


@pytest.fixture
def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=KEY, max_retries=0, timeout=30)


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {KEY}"}


def ask(question: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": question}]


# --- the OpenAI format --------------------------------------------------------------


def test_a_whole_answer_carries_its_markers_and_citations(client, model):
    reply = client.chat.completions.create(model="anything", messages=ask(BRIDGE))
    assert reply.object == "chat.completion"
    assert reply.choices[0].message.content == REPLY
    assert reply.choices[0].finish_reason == "stop"
    extra = reply.model_extra
    assert extra["abstained"] is False
    [citation] = extra["citations"]
    assert citation["marker"] == 1 and "240 steel cables" in citation["text"]
    assert extra["passages"][0]["title"] == "Harbor bridge reopens after repairs"
    assert set(extra["timings"]) >= {"retrieve_ms", "first_token_ms", "total_ms"}
    # The fake model counts a word a token: the prompt it was given, the words it wrote.
    prompt = model.prompts[-1]
    assert reply.usage.prompt_tokens == len(prompt.split()) > 20
    assert reply.usage.completion_tokens == len(REPLY.split())
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens


def test_a_streamed_answer_carries_the_checked_answer_then_the_citations(client):
    chunks = list(client.chat.completions.create(model="x", messages=ask(BRIDGE), stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == REPLY
    assert len(chunks) == 3  # the role, the checked answer, the end
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    assert last.model_extra["citations"][0]["marker"] == 1


# The model's draft: one sentence the articles support, one they do not.
DRAFT = "Engineers replaced 240 steel cables [1]. The bridge was painted bright green [1]."


def test_a_stream_never_sends_a_draft_that_checking_changed(client, model):
    """A client that joins the chunks shows what the non-streamed answer says, nothing more."""
    model.replies = [DRAFT]
    whole = client.chat.completions.create(model="x", messages=ask(BRIDGE), temperature=0)
    content = whole.choices[0].message.content
    assert "green" not in content and "240 steel cables" in content
    assert whole.model_extra["unsupported"]  # checking did leave the draft's second sentence out
    chunks = list(
        client.chat.completions.create(model="x", messages=ask(BRIDGE), temperature=0, stream=True)
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == content
    assert chunks[-1].model_extra["unsupported"] == whole.model_extra["unsupported"]


def test_a_stream_that_abstains_sends_only_the_abstention(client, model):
    model.replies = ["I think the bridge was built by my uncle in 1950."]
    chunks = list(
        client.chat.completions.create(
            model="x", messages=ask("Who built the harbor bridge?"), temperature=0, stream=True
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert "uncle" not in text
    assert text == "The articles do not say." or text.startswith("The articles say:")


def test_a_stream_ends_with_usage_only_when_asked(client, model):
    plain = list(client.chat.completions.create(model="x", messages=ask(BRIDGE), stream=True))
    assert all(c.usage is None for c in plain)
    chunks = list(
        client.chat.completions.create(
            model="x", messages=ask(BRIDGE), stream=True, stream_options={"include_usage": True}
        )
    )
    *answer, last = chunks
    assert last.choices == [] and all(c.usage is None for c in answer)
    assert last.usage.completion_tokens == len(REPLY.split())
    assert last.usage.prompt_tokens == len(model.prompts[-1].split())
    assert answer[-1].choices[0].finish_reason == "stop"  # the answer's end comes first


def test_the_stream_is_server_sent_events_ending_in_done(server):
    body = {"messages": ask(BRIDGE), "stream": True}
    with httpx.stream("POST", f"{server.url}/v1/chat/completions", json=body, headers=auth()) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in r.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"
    json.loads(lines[-2].removeprefix("data: "))


def test_earlier_messages_are_the_conversation_for_a_follow_up(client, model):
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": BRIDGE},
        {"role": "assistant", "content": REPLY},
        {"role": "user", "content": "What did they resurface?"},
    ]
    client.chat.completions.create(model="x", messages=messages)
    # The earlier turn is in the prompt the model read.
    assert BRIDGE in model.prompts[-1] and "What did they resurface?" in model.prompts[-1]


def test_a_question_sent_as_text_parts_is_read_whole(client, model):
    parts = [
        {"type": "text", "text": "How many steel cables did engineers"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        {"type": "text", "text": "replace on the bridge?"},
    ]
    reply = client.chat.completions.create(model="x", messages=[{"role": "user", "content": parts}])
    assert reply.choices[0].message.content == REPLY
    # The parts' words stay apart (the question's white space is then made single spaces).
    assert f"Question: {BRIDGE}" in model.prompts[-1]


def test_a_question_the_articles_do_not_answer_is_refused(client, model):
    model.replies = ["The articles do not say."]
    reply = client.chat.completions.create(
        model="x", messages=ask("Who won the 1998 chess olympiad?")
    )
    assert reply.choices[0].message.content == "The articles do not say."
    assert reply.model_extra["abstained"] is True
    assert reply.model_extra["citations"] == []


def test_models_lists_the_loaded_model(client):
    assert [m.id for m in client.models.list().data] == ["fake-generator"]


def test_a_wrong_or_missing_key_is_refused(server):
    wrong = openai.OpenAI(base_url=f"{server.url}/v1", api_key="nope", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        wrong.chat.completions.create(model="x", messages=ask(BRIDGE))
    assert caught.value.code == "invalid_api_key"
    for path in ("/v1/models", "/api/articles", "/healthz"):
        response = httpx.get(server.url + path)
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"] == "Bearer"
    assert httpx.get(server.url + "/healthz", headers=auth()).status_code == 200


def test_malformed_json_and_bad_fields_get_openai_errors(server, client):
    url = f"{server.url}/v1/chat/completions"
    headers = {**auth(), "Content-Type": "application/json"}
    response = httpx.post(url, content=b'{"messages": [', headers=headers)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and "not valid JSON" in error["message"]
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="x", messages=ask(BRIDGE), temperature=9)
    assert "temperature" in caught.value.message
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="x", messages=[])
    assert caught.value.body["param"] == "messages"
    last_is_assistant = [*ask(BRIDGE), {"role": "assistant", "content": "hi"}]
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="x", messages=last_is_assistant)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="x", messages=ask("   "))


def test_a_question_is_checked_once_and_a_bad_one_refused_before_it_waits(
    server, client, monkeypatch
):
    import rag.search.query as query

    passes: list[str] = []

    def counted(text: str) -> str:  # the first step of every pass of check_question
        passes.append(text)
        return valid_unicode(text)

    monkeypatch.setattr(query, "valid_unicode", counted)
    answer = httpx.post(f"{server.url}/api/ask", json={"question": BRIDGE}, headers=auth())
    assert answer.status_code == 200 and passes == [BRIDGE]
    client.chat.completions.create(model="x", messages=ask(BRIDGE))
    assert passes == [BRIDGE, BRIDGE]
    story = {"topic": "harbor bridge"}
    assert httpx.post(f"{server.url}/api/timeline", json=story, headers=auth()).status_code == 200
    assert passes == [BRIDGE, BRIDGE, "harbor bridge"]
    # Checked before the queue: a stream is refused with a 400, not a 200 that fails later.
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="x", messages=ask(" \n "), stream=True)


def test_chat_completions_answer_as_of_a_day_as_api_ask_does(server, client):
    # The bridge article is of 3 March 2024, the library's of 9 April.
    before = client.chat.completions.create(
        model="x", messages=ask(BRIDGE), extra_body={"as_of": "2024-03-01"}
    )
    assert before.model_extra["abstained"] is True and before.model_extra["passages"] == []
    between = client.chat.completions.create(
        model="x", messages=ask(BRIDGE), extra_body={"as_of": "2024-03-10"}
    )
    assert between.choices[0].message.content == REPLY
    titles = {p["title"] for p in between.model_extra["passages"]}
    assert titles == {"Harbor bridge reopens after repairs"}
    asked = httpx.post(
        f"{server.url}/api/ask", json={"question": BRIDGE, "as_of": "2024-03-10"}, headers=auth()
    ).json()
    assert asked["passages"] == between.model_extra["passages"]
    # A day that is not one is refused by both routes alike, before the question waits.
    refusals = [
        httpx.post(url, json={**body, "as_of": "last week"}, headers=auth())
        for url, body in (
            (f"{server.url}/v1/chat/completions", {"messages": ask(BRIDGE), "stream": True}),
            (f"{server.url}/api/ask", {"question": BRIDGE}),
        )
    ]
    assert [r.status_code for r in refusals] == [400, 400]
    assert refusals[0].json() == refusals[1].json()
    assert "as_of must be a date like 2023-01-31" in refusals[0].json()["error"]["message"]


def test_lone_surrogates_in_questions_and_history_are_answered_not_500(server, model):
    # JSON may escape a lone surrogate; no tokenizer can read one (the fakes check as they do).
    headers = {**auth(), "Content-Type": "application/json"}
    odd = '"\\ud800 How many steel cables did engineers replace? \\udfff"'
    ask_body = f'{{"question": {odd}}}'.encode()
    answered = httpx.post(f"{server.url}/api/ask", content=ask_body, headers=headers)
    assert answered.status_code == 200, answered.text
    assert answered.json()["answer"] == REPLY
    searched = httpx.post(f"{server.url}/api/search", content=ask_body, headers=headers)
    assert searched.status_code == 200 and searched.json()[0]["title"].startswith("Harbor")
    messages = (
        f'[{{"role": "user", "content": {odd}}}, {{"role": "assistant", "content": "\\ud801"}},'
        f' {{"role": "user", "content": "And the deck?"}}]'
    )
    chat = httpx.post(
        f"{server.url}/v1/chat/completions",
        content=f'{{"messages": {messages}}}'.encode(),
        headers=headers,
    )
    assert chat.status_code == 200, chat.text
    assert "\ufffd How many steel cables" in model.prompts[-1]


def test_oversized_bodies_are_refused_413(server):
    url = f"{server.url}/v1/chat/completions"
    big = {"messages": ask("x" * 2_000_000)}
    response = httpx.post(url, json=big, headers=auth())
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while read
        yield b'{"messages": [{"role": "user", "content": "'
        for _ in range(40):
            yield b"y" * 50_000
        yield b'"}]}'

    response = httpx.post(
        url, content=chunks(), headers={**auth(), "Content-Type": "application/json"}
    )
    assert response.status_code == 413


# --- newsrag's own routes -----------------------------------------------------------


def test_api_routes_give_the_cli_json(server, api_service):
    from rag.serialize import document_to_dict

    articles = httpx.get(f"{server.url}/api/articles", headers=auth()).json()
    assert articles == [document_to_dict(i) for i in api_service.documents()]
    passages = httpx.post(
        f"{server.url}/api/search", json={"question": BRIDGE, "k": 1}, headers=auth()
    ).json()
    assert len(passages) == 1 and passages[0]["title"].startswith("Harbor bridge")
    answer = httpx.post(f"{server.url}/api/ask", json={"question": BRIDGE}, headers=auth()).json()
    assert answer["question"] == BRIDGE and answer["answer"] == REPLY
    assert answer["citations"][0]["marker"] == 1
    bad = httpx.post(f"{server.url}/api/ask", json={"question": BRIDGE, "k": 0}, headers=auth())
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "k"


def test_upload_and_delete_while_a_question_streams(server, model, tmp_path):
    model.hold.set()
    body = {"messages": ask(BRIDGE), "stream": True}
    with httpx.stream("POST", f"{server.url}/v1/chat/completions", json=body, headers=auth()) as r:
        lines = r.iter_lines()
        assert next(lines).startswith("data: ")  # the answer has begun
        assert model.started.wait(HANG_S)
        upload = httpx.post(
            f"{server.url}/api/articles",
            files=[("files", ("../../ferry.md", FERRY, "text/markdown"))],
            headers=auth(),
            timeout=30,
        )
        assert upload.status_code == 200, upload.text
        assert upload.json()["added"] == 1 and upload.json()["refused"] == []
        ids = {
            a["title"]: a["doc_id"]
            for a in httpx.get(f"{server.url}/api/articles", headers=auth()).json()
        }
        ferry = ids["Ferry service resumes"]
        # The upload went into the index's own folder, under a name that stays there.
        assert [p.name for p in (tmp_path / "idx" / "uploads").iterdir()] == ["ferry.md"]
        deleted = httpx.delete(f"{server.url}/api/articles/{ferry}", headers=auth())
        assert deleted.json()["removed"][0]["doc_id"] == ferry
        model.gate.set()
        rest = "".join(lines)
    assert rest.endswith("data: [DONE]")
    # Removing its article removed the uploaded file too.
    assert list((tmp_path / "idx" / "uploads").iterdir()) == []
    missing = httpx.delete(f"{server.url}/api/articles/{ferry}", headers=auth())
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "article_not_found"
    path = httpx.delete(f"{server.url}/api/articles/..%2F..%2Fetc", headers=auth())
    assert path.status_code == 404


FERRY = b"""# Ferry service resumes

May 2, 2024 - NORTHPORT (Test Wire)

The ferry between Northport and the islands resumed on Tuesday after storms.
"""


def test_an_upload_that_gives_no_article_is_refused(server):
    response = httpx.post(
        f"{server.url}/api/articles",
        files=[("files", ("photo.png", b"\x89PNG\r\n\x1a\n", "image/png"))],
        headers=auth(),
    )
    assert response.json()["refused"][0]["name"] == "photo.png"


# --- one model, one queue ------------------------------------------------------------


def test_a_client_that_leaves_mid_stream_frees_the_model(server, model, client):
    model.hold.set()
    body = {"messages": ask(BRIDGE), "stream": True}
    with httpx.stream("POST", f"{server.url}/v1/chat/completions", json=body, headers=auth()) as r:
        lines = r.iter_lines()  # kept: a dropped iterator closes the connection at once
        next(lines)
        assert model.started.wait(HANG_S)
    # Gone after at most one more token: the generator was closed, not left to run on.
    model.gate.set()
    assert model.closed.wait(HANG_S)
    assert model.tokens < len(REPLY.split())
    model.hold.clear()
    reply = client.chat.completions.create(model="x", messages=ask(BRIDGE))
    assert reply.choices[0].message.content == REPLY


def test_a_full_queue_answers_429_with_retry_after(server, model, client):
    model.hold.set()
    results: list[object] = []

    def call() -> None:
        try:
            results.append(client.chat.completions.create(model="x", messages=ask(BRIDGE)))
        except Exception as exc:  # the assertion below shows it
            results.append(exc)

    answering = threading.Thread(target=call)
    answering.start()
    assert model.started.wait(HANG_S)
    waiting = threading.Thread(target=call)  # queue_size=1: this one waits
    waiting.start()
    deadline = time.monotonic() + 10
    while not httpx.get(f"{server.url}/healthz", headers=auth()).json()["queue"]["waiting"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    refused = httpx.post(
        f"{server.url}/v1/chat/completions", json={"messages": ask(BRIDGE)}, headers=auth()
    )
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.json()["error"]["type"] == "rate_limit_error"
    model.gate.set()
    answering.join(30)
    waiting.join(30)
    assert [r.choices[0].message.content for r in results] == [REPLY, REPLY]


def test_a_turn_ended_mid_step_is_closed_after_the_step_then_frees_the_queue():
    """Stop pressed while the model is inside a token: the next question waits for it."""
    queue = ModelQueue()
    ticket = queue.enter()
    inside, go_on, closed = threading.Event(), threading.Event(), threading.Event()

    def model() -> Iterator[str]:
        try:
            yield "first"
            inside.set()
            go_on.wait(HANG_S)  # the model is busy with its next token
            yield "second"
        finally:
            closed.set()

    steps = Steps(model())
    assert steps.next() == "first"
    stepping = threading.Thread(target=steps.next)
    stepping.start()
    assert inside.wait(HANG_S)
    steps.finish(ticket)  # the awaiting side was cancelled; the step is still running
    time.sleep(0.2)
    assert queue.busy and not closed.is_set()  # nobody else may use the model yet
    go_on.set()
    assert closed.wait(HANG_S)
    stepping.join(HANG_S)
    deadline = time.monotonic() + HANG_S
    while queue.busy:
        assert time.monotonic() < deadline, "the queue was not freed"
        time.sleep(0.01)


def test_the_queue_serves_in_arrival_order_and_a_leaver_leaves_the_line():
    queue = ModelQueue(max_waiting=2)
    first, second, third = queue.enter(), queue.enter(), queue.enter()
    assert (first.granted, second.ahead, third.ahead) == (True, 1, 2)
    with pytest.raises(QueueFull) as full:
        queue.enter()
    assert full.value.retry_after >= 1
    second.release()  # its client went away before its turn
    first.release()
    assert third.granted and not second.granted
    third.release()
    assert not queue.busy and queue.waiting == 0


# --- start-up ------------------------------------------------------------------------


def run_serve(*args: str, tmp_path: Path, env: dict[str, str] | None = None):
    return subprocess.run(
        [sys.executable, "-m", "rag.cli", "serve", "--index-dir", str(tmp_path / "idx"), *args],
        env={
            **os.environ,
            **(env or {}),
            "RAG_CONFIG": str(tmp_path / "none.toml"),
            "PYTHONPATH": str(ROOT),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_no_key_on_a_non_loopback_bind_is_refused_at_start_up(tmp_path):
    (tmp_path / "none.toml").write_text("")
    env = {"RAG_API_KEY": "", "RAG_PASSWORD": "pw"}
    done = run_serve("--host", "0.0.0.0", tmp_path=tmp_path, env=env)
    assert done.returncode == 2
    assert "without a key" in done.stderr and "--api-key" in done.stderr
    assert "Traceback" not in done.stderr
    # With a key but no password the chat is still refused.
    done = run_serve(
        "--host", "0.0.0.0", "--api-key", "k", tmp_path=tmp_path, env={"RAG_PASSWORD": ""}
    )
    assert done.returncode == 2 and "without a password" in done.stderr


def test_cors_is_off_unless_origins_are_named(api_service):
    plain = Server(api_service)
    try:
        headers = {"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}
        response = httpx.options(f"{plain.url}/v1/chat/completions", headers=headers)
        assert "access-control-allow-origin" not in response.headers
        got = httpx.get(f"{plain.url}/v1/models", headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in got.headers
        assert got.status_code == 200  # loopback without a key
    finally:
        plain.close()
    allowed = Server(api_service, cors_origins=("http://tools.example",))
    try:
        got = httpx.get(f"{allowed.url}/v1/models", headers={"Origin": "http://tools.example"})
        assert got.headers["access-control-allow-origin"] == "http://tools.example"
        # The web chat is there too, under the same app.
        assert "newsrag" in httpx.get(allowed.url + "/").text
    finally:
        allowed.close()


# --- the real models -----------------------------------------------------------------


@pytest.fixture(scope="module")
def real_server(tmp_path_factory) -> Iterator[str]:
    """`rag serve` with the real models over the sample articles, with a key."""
    work = tmp_path_factory.mktemp("api")
    (work / "none.toml").write_text("")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RAG_CONFIG": str(work / "none.toml")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    index = work / "index"
    subprocess.run(
        [sys.executable, "-m", "rag.cli", "index", SAMPLES, "--index-dir", index],
        env=env,
        check=True,
        capture_output=True,
    )
    port = free_port()
    log = (work / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "rag.cli", "serve", "--index-dir", index, "--port", str(port)],
        env={**env, "RAG_API_KEY": KEY},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            assert proc.poll() is None, (work / "serve.log").read_text()
            assert time.monotonic() < deadline, "rag serve did not start"
            try:
                if httpx.get(f"{url}/healthz", headers=auth()).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture
def real_client(real_server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{real_server}/v1", api_key=KEY, max_retries=0, timeout=120)


ROUHANI = "What did Rouhani say about resigning?"


@pytest.mark.model
def test_real_model_answers_whole_and_streamed_with_citations(real_client):
    [model_info] = real_client.models.list().data
    assert model_info.id == "gemma-3-270m"
    whole = real_client.chat.completions.create(model=model_info.id, messages=ask(ROUHANI))
    extra = whole.model_extra
    assert extra["abstained"] is False and extra["citations"]
    assert "[1]" in whole.choices[0].message.content or "[2]" in whole.choices[0].message.content
    assert any("Rouhani" in c["text"] for c in extra["citations"])
    chunks = list(
        real_client.chat.completions.create(
            model="x", messages=ask(ROUHANI), stream=True, temperature=0
        )
    )
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks)
    final = chunks[-1].model_extra
    assert final["citations"] and streamed.strip()
    # What a client shows is the checked answer, markers and all, and nothing it took back.
    again = real_client.chat.completions.create(model="x", messages=ask(ROUHANI), temperature=0)
    assert streamed == again.choices[0].message.content


@pytest.mark.model
def test_real_model_follow_up_and_unanswerable(real_client):
    first = real_client.chat.completions.create(
        model="x", messages=ask("When was Qassem Soleimani killed?")
    )
    messages = [
        {"role": "user", "content": "When was Qassem Soleimani killed?"},
        {"role": "assistant", "content": first.choices[0].message.content},
        {"role": "user", "content": "Where was he killed?"},
    ]
    follow = real_client.chat.completions.create(model="x", messages=messages)
    # The follow-up was searched with the earlier turn's subject.
    titles = " ".join(p["title"] for p in follow.model_extra["passages"][:2])
    assert "Soleimani" in titles or "Iran" in titles or "strike" in titles.lower()
    none = real_client.chat.completions.create(
        model="x", messages=ask("Who won the 1998 world chess olympiad in Elista?")
    )
    assert none.model_extra["abstained"] is True
    assert none.choices[0].message.content == "The articles do not say."


@pytest.mark.model
def test_real_server_refuses_a_wrong_key(real_server):
    wrong = openai.OpenAI(base_url=f"{real_server}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        wrong.models.list()


def test_unknown_api_routes_are_openai_404s_and_docs_list_the_routes(server):
    """404 for a path the API does not have, 405 for one it has under another method."""
    response = httpx.get(f"{server.url}/v1/engines", headers=auth())
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_route"
    # A route that is there, asked with the wrong method: 405 naming the right ones.
    wrong = httpx.get(f"{server.url}/v1/chat/completions", headers=auth())
    assert wrong.status_code == 405 and wrong.headers["allow"] == "POST"
    assert wrong.json()["error"]["code"] == "method_not_allowed"
    assert httpx.put(f"{server.url}/api/articles", headers=auth()).headers["allow"] == "GET, POST"
    assert httpx.get(f"{server.url}/api/articles/some-id", headers=auth()).status_code == 405
    assert httpx.get(f"{server.url}/api/nothing").status_code == 401  # the key first
    paths = httpx.get(f"{server.url}/openapi.json").json()["paths"]
    assert {"/v1/chat/completions", "/v1/models", "/api/ask", "/api/articles"} <= set(paths)


def waiting(server: Server) -> int:
    return httpx.get(f"{server.url}/healthz", headers=auth()).json()["queue"]["waiting"]


def wait_until(condition, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_a_client_that_gives_up_while_waiting_leaves_the_line(server, model, client):
    model.hold.set()
    answering = threading.Thread(
        target=lambda: client.chat.completions.create(model="x", messages=ask(BRIDGE))
    )
    answering.start()
    assert model.started.wait(HANG_S)
    impatient = openai.OpenAI(base_url=f"{server.url}/v1", api_key=KEY, max_retries=0, timeout=1.0)
    with pytest.raises(openai.APITimeoutError):
        impatient.chat.completions.create(model="x", messages=ask(BRIDGE))
    wait_until(lambda: waiting(server) == 0)  # its place was given up
    model.gate.set()
    answering.join(30)


def test_the_web_chat_and_the_api_wait_in_one_queue(server, model, client):
    from gradio_client import Client

    model.hold.set()
    answers: list[object] = []
    api_first = threading.Thread(
        target=lambda: answers.append(
            client.chat.completions.create(model="x", messages=ask(BRIDGE))
        )
    )
    api_first.start()
    assert model.started.wait(HANG_S)
    # The web app's own API, as scripts use it; with a key and no password, the key logs in.
    chat = Client(server.url + "/", verbose=False, auth=("rag", KEY))
    job = chat.submit(BRIDGE, api_name="/ask")
    wait_until(lambda: waiting(server) == 1)  # behind the API's question, in the same line
    model.gate.set()
    api_first.join(30)
    assert job.result(timeout=30)["answer"] == REPLY
    assert answers[0].choices[0].message.content == REPLY


def test_the_web_chat_keeps_its_password_and_the_api_its_key(api_service):
    both = Server(api_service, password="pw", api_key=KEY)
    try:
        assert httpx.get(f"{both.url}/config").status_code == 401  # the chat's own API
        assert (
            httpx.post(f"{both.url}/gradio_api/call/ask", json={"data": ["x"]}).status_code == 401
        )
        login = httpx.post(f"{both.url}/login", data={"username": "rag", "password": "pw"})
        assert httpx.get(f"{both.url}/config", cookies=login.cookies).status_code == 200
        # The chat's password is not the API's key, nor the other way round.
        assert httpx.get(f"{both.url}/v1/models", cookies=login.cookies).status_code == 401
        assert httpx.get(f"{both.url}/v1/models", headers=auth()).status_code == 200
        assert httpx.get(f"{both.url}/config", headers=auth()).status_code == 401
    finally:
        both.close()
