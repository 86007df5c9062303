"""The load script end to end, briefly: real server, real models, two clients."""

from __future__ import annotations

import json

import pytest

from eval import load

pytestmark = pytest.mark.model


def test_load_script_reports_every_answer_and_the_server_memory(tmp_path):
    code = load.main(
        ["--clients", "2", "--duration", "4", "--memory-questions", "4", "--out", str(tmp_path)]
    )
    assert code == 0
    report = json.loads((tmp_path / "load.json").read_text())
    concurrent, consecutive = report["phases"]
    assert concurrent["clients"] == 2 and concurrent["answered"] == concurrent["questions"] >= 2
    assert consecutive["answered"] == consecutive["questions"] == 4
    assert concurrent["errors"] == {} and consecutive["errors"] == {}
    assert concurrent["rss_mb_start"] > 100  # the server's memory, read from /proc
    assert concurrent["wait_ms_p50"] is not None
    assert "| concurrent | 2 |" in (tmp_path / "load.md").read_text()


def test_load_script_api_mode_reports_the_overhead_over_an_in_process_ask(tmp_path):
    code = load.main(
        [
            "--api",
            "--clients",
            "2",
            "--duration",
            "4",
            "--memory-questions",
            "3",
            "--overhead-questions",
            "2",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    report = json.loads((tmp_path / "load.json").read_text())
    assert report["through"] == "/v1/chat/completions"
    concurrent, consecutive = report["phases"]
    assert concurrent["errors"] == {} and consecutive["answered"] == 3
    overhead = report["overhead"]
    assert overhead["errors"] == 0 and len(overhead["rows"]) == 2
    assert overhead["overhead_ms_p50"] is not None
    assert "API over an in-process ask" in (tmp_path / "load.md").read_text()
