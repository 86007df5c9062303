"""One check for every door: the command line, the web chat and its HTTP API refuse the
same settings with the same limits and messages, and refused uploads leave nothing behind."""

from __future__ import annotations

import gradio as gr
import pytest

from rag import cli
from rag.config import Settings
from rag.errors import ConfigError
from rag.overrides import checked_settings
from tests.conftest import free_port
from tests.fakes import use_fake_models
from ui.app import ask_api
from ui.chat import chat_turn
from ui.uploads import store_uploads

BAD = [
    ("100000", "k must be at most 100, got 100000."),
    ("-1", "k must be greater than 0, got -1."),
    ("0", "k must be greater than 0, got 0."),
    ("abc", "must be int, got 'abc'."),
    ("2.5", "must be int, got '2.5'."),
]


def cli_message(monkeypatch, capsys, tmp_path, k: str) -> str:
    use_fake_models(monkeypatch, generator=None)
    monkeypatch.delenv("RAG_K", raising=False)
    code = cli.main(["search", "bridge", "--k", k, "--index-dir", str(tmp_path / "idx")])
    assert code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize(("k", "message"), BAD)
def test_the_cli_and_the_web_chat_refuse_the_same_k_alike(
    service, monkeypatch, capsys, tmp_path, k, message
):
    assert message in cli_message(monkeypatch, capsys, tmp_path, k)
    with pytest.raises(gr.Error, match=message.replace(".", r"\.")):
        ask_api(service, "How many steel cables?", k, 0.0)
    with pytest.raises(gr.Error, match=message.replace(".", r"\.")):
        list(chat_turn(service, "How many steel cables?", [], [], [], k, 0.0))


@pytest.mark.parametrize(("value", "message"), [(-1, "between 0 and 2"), ("hot", "must be float")])
def test_temperature_is_checked_the_same_way(service, value, message):
    with pytest.raises(gr.Error, match=message):
        ask_api(service, "How many steel cables?", 4, value)
    with pytest.raises(ConfigError, match=message):
        checked_settings(Settings(), "the request", temperature=value)


def test_good_values_pass_and_blank_ones_keep_the_default():
    settings = checked_settings(Settings(), "the request", k="7", temperature=0.5)
    assert (settings.k, settings.temperature) == (7, 0.5)
    assert checked_settings(Settings(k=3), "the request", k=None, temperature="").k == 3


def test_the_http_api_refuses_bad_settings_with_a_message_and_no_traceback(service, capfd):
    from gradio_client import Client

    from ui.app import launch

    app = launch(service, port=free_port(), block=False)
    try:
        client = Client(app.local_url, verbose=False)
        for k, message in BAD[:4]:
            value = int(k) if k.lstrip("-").isdigit() else k
            with pytest.raises(Exception, match=message.replace(".", r"\.")):
                client.predict("How many steel cables?", value, 0.0, api_name="/ask")
        reply = client.predict("How many steel cables?", 2, 0.0, api_name="/ask")
        assert reply["answer"] == "Engineers replaced 240 steel cables [1]."
    finally:
        app.close()
    assert "Traceback" not in capfd.readouterr().err


def test_refused_uploads_are_not_copied(tmp_path):
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    (incoming / "empty.md").write_text("  \n")
    (incoming / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (incoming / "bad.jsonl").write_text('{not json\n{"title": "no text"}\n')
    (incoming / "script.html").write_text("<html><script>alert(1)</script></html>")
    (incoming / "good.md").write_text("# Ferry\n\nThe ferry runs again on Friday.")
    folder = tmp_path / "uploads"
    saved, refused = store_uploads(sorted(incoming.iterdir()), folder)
    assert [p.name for p in saved] == ["good.md"]
    reasons = {r.name: r.reason for r in refused}
    assert reasons["empty.md"] == "empty file"
    assert "binary" in reasons["binary.txt"]
    assert "not valid JSON" in reasons["bad.jsonl"] and "1 more problem" in reasons["bad.jsonl"]
    assert "no article text" in reasons["script.html"]
    assert sorted(p.name for p in folder.iterdir()) == ["good.md"]
    # Nothing at all is kept when everything is refused: not even the folder.
    saved, _ = store_uploads([incoming / "empty.md"], tmp_path / "other")
    assert saved == [] and not (tmp_path / "other").exists()


def test_a_fractional_k_is_refused_everywhere_and_a_whole_float_is_accepted():
    with pytest.raises(ConfigError, match=r"must be int, got '2\.5'"):
        checked_settings(Settings(), "the request", k=2.5)
    assert checked_settings(Settings(), "the request", k=4.0).k == 4


def test_an_upload_that_fills_the_disk_leaves_no_half_copy(tmp_path, monkeypatch):
    import errno
    import shutil

    incoming = tmp_path / "good.md"
    incoming.write_text("# Ferry\n\nThe ferry runs again on Friday.")
    real_copy = shutil.copyfile

    def full_disk(source, target):
        real_copy(source, target)  # part of it lands, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(shutil, "copyfile", full_disk)
    with pytest.raises(OSError):
        store_uploads([incoming], tmp_path / "uploads")
    assert list((tmp_path / "uploads").iterdir()) == []
