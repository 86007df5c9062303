"""Load test: several clients asking at once through the web app's API or the HTTP API.

    python -m eval.load                       # 8 clients for 120 s, then 300 questions in a row
    python -m eval.load --clients 8 --duration 120 --memory-questions 300 --out eval/runs/load
    python -m eval.load --api                 # the same through /v1/chat/completions,
                                              # then the API's overhead over an in-process ask

Unless ``--url`` names a running server, this indexes the sample articles into
a temporary folder and starts ``rag serve`` on a free loopback port, so it can
read the server's memory (RSS) from ``/proc``. Questions are the gold set's,
in turn. Each client is a ``gradio_client.Client`` calling ``/ask``, or with
``--api`` an HTTP client posting OpenAI chat completions (``RAG_API_KEY`` is
sent as the bearer key when set); the app answers one question at a time, so
the others wait in the model's queue.

With ``--api`` a last phase asks ``--overhead-questions`` questions twice each,
once in this process through ``RagService.ask`` over the same index and once
through the API, and reports the difference per question (the API's overhead:
HTTP, JSON, the queue and the thread hand-offs).

Reported: answers completed and errors; client-side latency p50/p95; the
server's own answer time (``timings.total_ms``) and the rest of the latency,
which is time spent waiting in the queue plus transport; and the server's
RSS at the start, its peak and at the end, during the load and across the
consecutive questions of the memory phase. Writes JSON and a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from eval import metrics
from eval.datasets import load_gold

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples" / "articles"


@dataclass
class Call:
    seconds: float
    service_ms: float | None
    ok: bool
    error: str | None = None


@dataclass
class Phase:
    name: str
    clients: int
    calls: list[Call] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)  # sampled through the phase
    wall_s: float = 0.0

    def summary(self) -> dict[str, object]:
        done = [c for c in self.calls if c.ok]
        latency = sorted(c.seconds * 1000 for c in done)
        service = sorted(c.service_ms for c in done if c.service_ms is not None)
        waiting = sorted(c.seconds * 1000 - c.service_ms for c in done if c.service_ms is not None)
        errors: dict[str, int] = {}
        for c in self.calls:
            if not c.ok:
                errors[c.error or "?"] = errors.get(c.error or "?", 0) + 1
        return {
            "phase": self.name,
            "clients": self.clients,
            "wall_s": round(self.wall_s, 1),
            "questions": len(self.calls),
            "answered": len(done),
            "errors": errors,
            "answers_per_minute": round(len(done) / self.wall_s * 60, 1) if self.wall_s else None,
            "latency_ms_p50": percentile(latency, 50),
            "latency_ms_p95": percentile(latency, 95),
            "service_ms_p50": percentile(service, 50),
            "wait_ms_p50": percentile(waiting, 50),
            "wait_ms_p95": percentile(waiting, 95),
            "rss_mb_start": self.rss_mb[0] if self.rss_mb else None,
            "rss_mb_peak": max(self.rss_mb) if self.rss_mb else None,
            "rss_mb_end": self.rss_mb[-1] if self.rss_mb else None,
            # One sample a second: whether memory levels off or keeps climbing.
            "rss_mb_series": self.rss_mb,
        }


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile to 0.1 ms (see ``eval.metrics.percentile``)."""
    value = metrics.percentile(values, q)
    return None if value is None else round(value, 1)


def rss_mb(pid: int | None) -> float | None:
    """Resident memory of the server process; None before it has started."""
    return None if pid is None else metrics.rss_mb(pid)


def ask_gradio(client, question: str) -> Call:
    started = time.perf_counter()
    try:
        reply = client.predict(question, api_name="/ask")
    except Exception as exc:  # the load test counts failures instead of stopping
        return Call(time.perf_counter() - started, None, False, type(exc).__name__)
    seconds = time.perf_counter() - started
    complete = isinstance(reply, dict) and bool(reply.get("answer")) and "citations" in reply
    service_ms = (reply.get("timings") or {}).get("total_ms") if complete else None
    return Call(seconds, service_ms, complete, None if complete else "incomplete answer")


def ask_api(client, question: str) -> Call:
    """One OpenAI chat completion, not streamed; ``client`` is an ``httpx.Client``."""
    body = {"model": "newsrag", "messages": [{"role": "user", "content": question}]}
    started = time.perf_counter()
    try:
        response = client.post("/v1/chat/completions", json=body)
        reply = response.json()
    except Exception as exc:  # the load test counts failures instead of stopping
        return Call(time.perf_counter() - started, None, False, type(exc).__name__)
    seconds = time.perf_counter() - started
    if response.status_code != 200:
        return Call(seconds, None, False, f"HTTP {response.status_code}")
    content = (reply.get("choices") or [{}])[0].get("message", {}).get("content")
    complete = bool(content) and "citations" in reply
    service_ms = (reply.get("timings") or {}).get("total_ms") if complete else None
    return Call(seconds, service_ms, complete, None if complete else "incomplete answer")


def connect(url: str, api: bool):
    """A client and the function that asks through it."""
    if not api:
        from gradio_client import Client

        return Client(url, verbose=False), ask_gradio
    import httpx

    key = os.environ.get("RAG_API_KEY")
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=600), ask_api


def run_concurrent(
    url: str, questions: Sequence[str], clients: int, seconds: float, pid, api: bool = False
):
    phase = Phase("concurrent", clients)
    deadline = time.monotonic() + seconds
    lock = threading.Lock()

    def worker(n: int) -> None:
        client, ask = connect(url, api)
        i = n
        while time.monotonic() < deadline:
            call = ask(client, questions[i % len(questions)])
            with lock:
                phase.calls.append(call)
            i += clients

    with sampling(phase, pid):
        threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    return phase


def run_consecutive(
    url: str, questions: Sequence[str], count: int, pid, api: bool = False
) -> Phase:
    phase = Phase("consecutive", 1)
    client, ask = connect(url, api)
    with sampling(phase, pid):
        for i in range(count):
            phase.calls.append(ask(client, questions[i % len(questions)]))
    return phase


def run_overhead(url: str, index_dir: Path, questions: Sequence[str], count: int) -> dict:
    """Each question in this process (``RagService.ask``), then through the API.

    Generation runs at temperature 0, so both write the same answer; the
    difference of the two wall times is what the API adds. Both sides run
    after one warm-up question each. On a busy machine that difference carries
    the noise of two separate answers, so each API call's latency less the
    server's own answer time (``timings.total_ms``) is reported too.
    """
    from rag.config import load_settings
    from rag.service import RagService

    service = RagService(load_settings({"index_dir": index_dir}))
    service.warm_up()
    client, ask = connect(url, True)
    service.ask(questions[0])
    ask(client, questions[0])
    rows = []
    for i in range(count):
        question = questions[i % len(questions)]
        started = time.perf_counter()
        answer = service.ask(question)
        local_ms = (time.perf_counter() - started) * 1000
        call = ask(client, question)
        rows.append(
            {
                "question": question,
                "in_process_ms": round(local_ms, 1),
                "api_ms": round(call.seconds * 1000, 1),
                "api_ok": call.ok,
                "overhead_ms": round(call.seconds * 1000 - local_ms, 1),
                # The same call less the server's own answer time: no other run's noise in it.
                "beyond_server_ms": (
                    round(call.seconds * 1000 - call.service_ms, 1)
                    if call.service_ms is not None
                    else None
                ),
                "tokens": answer.timings.generated_tokens,
            }
        )
    overhead = sorted(r["overhead_ms"] for r in rows if r["api_ok"])
    beyond = sorted(r["beyond_server_ms"] for r in rows if r["beyond_server_ms"] is not None)
    return {
        "questions": count,
        "errors": sum(not r["api_ok"] for r in rows),
        "in_process_ms_p50": percentile(sorted(r["in_process_ms"] for r in rows), 50),
        "api_ms_p50": percentile(sorted(r["api_ms"] for r in rows if r["api_ok"]), 50),
        "overhead_ms_p50": percentile(overhead, 50),
        "overhead_ms_p95": percentile(overhead, 95),
        "beyond_server_ms_p50": percentile(beyond, 50),
        "beyond_server_ms_p95": percentile(beyond, 95),
        "rows": rows,
    }


@contextmanager
def sampling(phase: Phase, pid: int | None, every: float = 1.0) -> Iterator[None]:
    """Sample the server's RSS through the phase (first and last samples included)."""
    stop = threading.Event()

    def sample() -> None:
        while True:
            value = rss_mb(pid)
            if value is not None:
                phase.rss_mb.append(value)
            if stop.wait(every):
                break

    thread = threading.Thread(target=sample, daemon=True)
    started = time.perf_counter()
    thread.start()
    try:
        yield
    finally:
        phase.wall_s = time.perf_counter() - started
        stop.set()
        thread.join()
        value = rss_mb(pid)
        if value is not None:
            phase.rss_mb.append(value)


@contextmanager
def local_server(index_dir: Path | None) -> Iterator[tuple[str, int, Path]]:
    """`rag serve` over the sample articles on a free loopback port."""
    import socket

    with tempfile.TemporaryDirectory(prefix="newsrag-load-") as tmp:
        index_dir = index_dir or Path(tmp) / "index"
        rag = Path(sys.executable).parent / "rag"
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        subprocess.run(
            [rag, "index", SAMPLES, "--index-dir", index_dir],
            env=env,
            check=True,
            capture_output=True,
        )
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        log = open(Path(tmp) / "serve.log", "wb")  # noqa: SIM115 (closed below)
        server = subprocess.Popen(
            [rag, "serve", "--index-dir", index_dir, "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}/"
        try:
            wait_for(url, server)
            yield url, server.pid, index_dir
        finally:
            server.terminate()
            server.wait(timeout=30)
            log.close()


def wait_for(url: str, server: subprocess.Popen[bytes], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"rag serve exited with {server.returncode} before answering")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"rag serve did not answer on {url} within {timeout:.0f}s")


def markdown(report: dict) -> str:
    rows = report["phases"]
    head = (
        "| phase | clients | wall s | questions | answered | errors | answers/min "
        "| latency p50 / p95 ms | server answer p50 ms | queue wait + transport p50 / p95 ms "
        "| RSS start / peak / end MB |\n|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = [
        f"| {r['phase']} | {r['clients']} | {r['wall_s']} | {r['questions']} | {r['answered']} "
        f"| {sum(r['errors'].values())} | {r['answers_per_minute']} "
        f"| {r['latency_ms_p50']} / {r['latency_ms_p95']} | {r['service_ms_p50']} "
        f"| {r['wait_ms_p50']} / {r['wait_ms_p95']} "
        f"| {r['rss_mb_start']} / {r['rss_mb_peak']} / {r['rss_mb_end']} |"
        for r in rows
    ]
    return head + "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.load", description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="a running server (memory is then not measured)")
    parser.add_argument("--index-dir", type=Path, help="index to serve (default: the samples)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of load")
    parser.add_argument("--memory-questions", type=int, default=300)
    parser.add_argument(
        "--api", action="store_true", help="ask through /v1/chat/completions, not Gradio's /ask"
    )
    parser.add_argument(
        "--overhead-questions",
        type=int,
        default=30,
        help="with --api: questions asked in process and through the API, to compare",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "eval" / "runs" / "load")
    args = parser.parse_args(argv)
    if (
        args.clients < 1
        or args.duration <= 0
        or min(args.memory_questions, args.overhead_questions) < 0
    ):
        parser.error(
            "--clients and --duration must be positive, --memory-questions and "
            "--overhead-questions 0 or more"
        )
    questions = [q.question for q in load_gold().questions if not q.history]

    @contextmanager
    def given_server() -> Iterator[tuple[str, int | None, Path | None]]:
        yield args.url, None, args.index_dir

    server = given_server() if args.url else local_server(args.index_dir)
    overhead = None
    with server as (url, pid, index_dir):
        phases = [run_concurrent(url, questions, args.clients, args.duration, pid, args.api)]
        if args.memory_questions:
            phases.append(run_consecutive(url, questions, args.memory_questions, pid, args.api))
        if args.api and args.overhead_questions and index_dir is not None:
            overhead = run_overhead(url, index_dir, questions, args.overhead_questions)
    report = {
        "url": args.url or "local rag serve over samples/articles",
        "through": "/v1/chat/completions" if args.api else "gradio /ask",
        "questions_in_rotation": len(questions),
        "phases": [p.summary() for p in phases],
        "calls": {p.name: [asdict(c) for c in p.calls] for p in phases},
    }
    if overhead is not None:
        report["overhead"] = overhead
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "load.json").write_text(json.dumps(report, indent=2))
    table = markdown(report)
    if overhead is not None:
        table += (
            f"\nAPI over an in-process ask, {overhead['questions']} questions: overhead p50 "
            f"{overhead['overhead_ms_p50']} ms, p95 {overhead['overhead_ms_p95']} ms "
            f"(in process p50 {overhead['in_process_ms_p50']} ms, API p50 "
            f"{overhead['api_ms_p50']} ms; {overhead['errors']} errors); API latency less the "
            f"server's answer time p50 {overhead['beyond_server_ms_p50']} ms, p95 "
            f"{overhead['beyond_server_ms_p95']} ms\n"
        )
    (args.out / "load.md").write_text(table)
    print(table)
    failed = sum(p["questions"] - p["answered"] for p in report["phases"])
    failed += overhead["errors"] if overhead else 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
