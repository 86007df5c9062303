"""Load test: several clients asking at once through the web app's API.

    python -m eval.load                       # 8 clients for 120 s, then 300 questions in a row
    python -m eval.load --clients 8 --duration 120 --memory-questions 300 --out eval/runs/load

Unless ``--url`` names a running server, this indexes the sample articles into
a temporary folder and starts ``rag serve`` on a free loopback port, so it can
read the server's memory (RSS) from ``/proc``. Questions are the gold set's,
in turn. Each client is a ``gradio_client.Client`` calling ``/ask``; the app
answers one question at a time, so the others wait in Gradio's queue.

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


def ask(client, question: str) -> Call:
    started = time.perf_counter()
    try:
        reply = client.predict(question, api_name="/ask")
    except Exception as exc:  # the load test counts failures instead of stopping
        return Call(time.perf_counter() - started, None, False, type(exc).__name__)
    seconds = time.perf_counter() - started
    complete = isinstance(reply, dict) and bool(reply.get("answer")) and "citations" in reply
    service_ms = (reply.get("timings") or {}).get("total_ms") if complete else None
    return Call(seconds, service_ms, complete, None if complete else "incomplete answer")


def run_concurrent(url: str, questions: Sequence[str], clients: int, seconds: float, pid):
    from gradio_client import Client

    phase = Phase("concurrent", clients)
    deadline = time.monotonic() + seconds
    lock = threading.Lock()

    def worker(n: int) -> None:
        client = Client(url, verbose=False)
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


def run_consecutive(url: str, questions: Sequence[str], count: int, pid) -> Phase:
    from gradio_client import Client

    phase = Phase("consecutive", 1)
    client = Client(url, verbose=False)
    with sampling(phase, pid):
        for i in range(count):
            phase.calls.append(ask(client, questions[i % len(questions)]))
    return phase


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
def local_server(index_dir: Path | None) -> Iterator[tuple[str, int]]:
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
            yield url, server.pid
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
    parser.add_argument("--out", type=Path, default=ROOT / "eval" / "runs" / "load")
    args = parser.parse_args(argv)
    if args.clients < 1 or args.duration <= 0 or args.memory_questions < 0:
        parser.error("--clients and --duration must be positive, --memory-questions 0 or more")
    questions = [q.question for q in load_gold().questions if not q.history]

    @contextmanager
    def given_server() -> Iterator[tuple[str, int | None]]:
        yield args.url, None

    server = given_server() if args.url else local_server(args.index_dir)
    with server as (url, pid):
        phases = [run_concurrent(url, questions, args.clients, args.duration, pid)]
        if args.memory_questions:
            phases.append(run_consecutive(url, questions, args.memory_questions, pid))
    report = {
        "url": args.url or "local rag serve over samples/articles",
        "questions_in_rotation": len(questions),
        "phases": [p.summary() for p in phases],
        "calls": {p.name: [asdict(c) for c in p.calls] for p in phases},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "load.json").write_text(json.dumps(report, indent=2))
    table = markdown(report)
    (args.out / "load.md").write_text(table)
    print(table)
    failed = sum(p["questions"] - p["answered"] for p in report["phases"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
