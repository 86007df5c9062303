"""`embed_backend = "auto"`: the backend measured fastest here, remembered per machine.

Fake candidates and a fake clock go through the same measuring code as the real
backends; one real run times PyTorch against OpenVINO on a tiny batch.
"""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from eval.hardware import cpu_peak, dense_parameters, flops_per_passage, share_of_peak
from rag.config import Settings
from rag.embed import backend_choice, make_embedder
from rag.embed.choose import (
    BackendChoice,
    CandidateResult,
    choose_backend,
    machine_key,
    measure_backends,
    pick,
    remember,
    remembered,
    sample_passages,
)
from rag.errors import IndexNotFoundError, ModelError
from rag.service import RagService
from tests.fakes import FakeEmbedder

TEXTS = [f"The council voted on the {n} bridge budget after a long debate." for n in range(8)]
CPUINFO = "model name\t: Test CPU 9000\ncpu MHz\t\t: 2500.000\nflags\t\t: fpu sse avx2 fma\n"


class Clock:
    """Time that passes only when a fake embedder works."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class TimedEmbedder(FakeEmbedder):
    """A fake backend costing ``seconds`` a text on ``clock``; ``skew`` bends its vectors."""

    def __init__(self, clock: Clock, seconds: float, skew: float = 0.0) -> None:
        super().__init__()
        self.clock, self.seconds, self.skew = clock, seconds, skew

    def embed(self, texts, *, kind="passage"):
        self.clock.now += self.seconds * len(texts)
        vectors = super().embed(texts, kind=kind)
        if self.skew:  # mix in a fixed other direction: lower cosine to the reference
            other = np.roll(vectors, 1, axis=1)
            vectors = vectors + self.skew * other
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors


class Broken:
    def warm_up(self) -> None:
        raise ModelError("runtime not installed")


def fakes(clock: Clock, calls: list[str] | None = None) -> dict:
    def make(name, embedder):
        def factory():
            if calls is not None:
                calls.append(name)
            return embedder

        return factory

    return {
        "torch": make("torch", TimedEmbedder(clock, 0.03)),
        "fast-but-wrong": make("fast-but-wrong", TimedEmbedder(clock, 0.005, skew=1.0)),
        "fast-and-close": make("fast-and-close", TimedEmbedder(clock, 0.01)),
        "absent": make("absent", Broken()),
    }


def test_the_fastest_backend_whose_vectors_match_torchs_is_kept():
    clock = Clock()
    results = {r.backend: r for r in measure_backends(fakes(clock), TEXTS, clock=clock)}
    assert results["torch"].passages_per_s == pytest.approx(1 / 0.03, rel=0.01)
    assert results["fast-and-close"].passages_per_s == pytest.approx(100, rel=0.01)
    assert results["fast-but-wrong"].cosine_to_torch < 0.99
    assert results["fast-and-close"].cosine_to_torch == pytest.approx(1.0)
    assert results["absent"].error == "runtime not installed"
    assert pick(list(results.values())) == "fast-and-close"


def test_without_a_faster_close_backend_torch_is_kept_and_with_none_loaded_it_says_why():
    slow = CandidateResult("openvino-int8", passages_per_s=10.0, cosine_to_torch=0.999)
    torch = CandidateResult("torch", passages_per_s=20.0, cosine_to_torch=1.0)
    assert pick([slow, torch]) == "torch"
    with pytest.raises(ModelError, match="torch: no torch"):
        pick([CandidateResult("torch", error="no torch")])


def test_the_choice_is_measured_once_per_machine_and_remembered(tmp_path):
    path, clock, calls = tmp_path / "backends.json", Clock(), []
    first = choose_backend("model-a", fakes(clock, calls), texts=TEXTS, path=path, clock=clock)
    assert first.backend == "fast-and-close" and len(calls) == 4
    again = choose_backend("model-a", fakes(clock, calls), texts=TEXTS, path=path, clock=clock)
    assert again == first and len(calls) == 4  # read back, nothing measured
    other = choose_backend(
        "model-a", fakes(clock, calls), texts=TEXTS, path=path, clock=clock, machine="other CPU"
    )
    assert other.machine == "other CPU" and len(calls) == 8
    assert remembered("model-a", machine=first.machine, path=path) == first
    assert remembered("model-b", machine=first.machine, path=path) is None


def test_measuring_again_replaces_the_remembered_choice(tmp_path):
    path, clock, calls = tmp_path / "backends.json", Clock(), []
    first = choose_backend("model-a", fakes(clock, calls), texts=TEXTS, path=path, clock=clock)
    again = choose_backend(
        "model-a", fakes(clock, calls), texts=TEXTS, path=path, clock=clock, again=True
    )
    assert len(calls) == 8 and again.measured_at >= first.measured_at
    assert remembered("model-a", machine=first.machine, path=path) == again


def test_a_damaged_choices_file_is_measured_again(tmp_path):
    path = tmp_path / "backends.json"
    path.write_text("{not json")
    assert remembered("model-a", path=path) is None
    choice = BackendChoice("torch", "m", "model-a", (CandidateResult("torch", 5.0),), 0.0)
    remember(choice, path=path)
    assert remembered("model-a", machine="m", path=path) == choice


def test_the_machine_key_names_the_cpu_and_its_flags_in_any_order():
    key = machine_key(CPUINFO)
    assert key.startswith("Test CPU 9000 [")
    assert machine_key(CPUINFO.replace("avx2 fma", "fma avx2")) == key
    assert machine_key(CPUINFO.replace("avx2", "avx512f")) != key


def test_the_sample_batch_is_news_paragraphs():
    batch = sample_passages()
    assert len(batch) == 32 and min(len(t.split()) for t in batch) > 40


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty newsrag cache: nothing measured on this "machine" yet."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "newsrag"


def test_auto_follows_the_backend_an_index_was_built_with(tmp_path, cache, write_articles):
    built = FakeEmbedder(dimension=384, model_id="sentence-transformers/all-MiniLM-L6-v2+onnx-int8")
    index_dir = tmp_path / "idx"
    RagService(Settings(index_dir=index_dir), embedder=built).index_paths(
        [write_articles({"a.md": "# Bridge\n\nThe bridge reopened on Monday."})]
    )
    service = RagService(Settings(index_dir=index_dir))  # auto, nothing remembered
    assert service.models.backend() == "onnx-int8"
    assert service.models.unloaded_embedder().model_id == built.model_id
    assert not (cache / "backends.json").exists()  # nothing was measured
    forced = RagService(Settings(index_dir=index_dir, embed_backend="torch"))
    assert forced.models.backend() == "torch"


def test_auto_uses_the_remembered_choice_and_a_missing_index_measures_nothing(tmp_path, cache):
    settings = Settings(index_dir=tmp_path / "none")
    assert backend_choice(settings, measure=False) is None
    with pytest.raises(IndexNotFoundError):
        RagService(settings).documents()
    assert not (cache / "backends.json").exists()
    name = "sentence-transformers/all-MiniLM-L6-v2"
    remember(BackendChoice("openvino-fp32", machine_key(), name, (), 0.0))
    assert RagService(settings).models.backend(measure=False) == "openvino-fp32"
    assert make_embedder(settings).model_id == f"{name}+openvino-fp32"


def test_the_peak_and_the_work_of_a_passage(tmp_path):
    peak = cpu_peak(2, CPUINFO)
    assert (peak.lanes, peak.ghz, peak.fma) == (8, 2.5, True)
    assert peak.gflops == pytest.approx(2 * 2.5 * 8 * 2 * 2)
    header = {
        "embeddings.word_embeddings.weight": {
            "dtype": "F32",
            "shape": [1000, 8],
            "data_offsets": [0, 0],
        },
        "encoder.layer.0.dense.weight": {"dtype": "F32", "shape": [8, 8], "data_offsets": [0, 0]},
        "encoder.layer.0.dense.bias": {"dtype": "F32", "shape": [8], "data_offsets": [0, 0]},
    }
    raw = json.dumps(header).encode()
    (tmp_path / "model.safetensors").write_bytes(struct.pack("<Q", len(raw)) + raw)
    assert dense_parameters(tmp_path) == 64  # the lookup table and the bias left out
    flops = flops_per_passage(64, 100)
    assert share_of_peak(1e6, flops, peak) == pytest.approx(1e6 * 12800 / 160e9)


@pytest.mark.model
def test_a_real_measurement_on_a_tiny_batch():
    settings = Settings()
    candidates = {
        name: (lambda name=name: make_embedder(settings.updated(embed_backend=name)))
        for name in ("torch", "openvino-int8", "openvino-fp32")
    }
    results = {r.backend: r for r in measure_backends(candidates, TEXTS[:4], rounds=1)}
    assert all(r.error is None and r.passages_per_s > 0 for r in results.values())
    assert results["openvino-int8"].cosine_to_torch >= 0.99
    assert results["openvino-fp32"].cosine_to_torch >= 0.999  # the same model, unquantised
    assert pick(list(results.values())) in results


def test_rag_models_shows_the_choice_and_measures_nothing(cache, monkeypatch, capsys):
    from rag.cli import main

    monkeypatch.delenv("RAG_EMBED_BACKEND", raising=False)
    assert main(["models"]) == 0
    assert "Embedding backend: auto, not measured on this CPU yet" in capsys.readouterr().out
    assert not (cache / "backends.json").exists()
    name = "sentence-transformers/all-MiniLM-L6-v2"
    results = (CandidateResult("openvino-int8", 90.0, cosine_to_torch=0.996),)
    remember(BackendChoice("openvino-int8", machine_key(), name, results, 0.0))
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "Embedding backend: openvino-int8, measured on this CPU: openvino-int8 90.0" in out
    assert main(["models", "--embed-backend", "torch"]) == 0
    assert "Embedding backend: torch (set by embed_backend)." in capsys.readouterr().out


def test_rag_models_measure_replaces_the_remembered_choice(cache, monkeypatch, capsys):
    from rag.cli import main
    from tests.fakes import FakeEmbedder

    monkeypatch.delenv("RAG_EMBED_BACKEND", raising=False)
    name = "sentence-transformers/all-MiniLM-L6-v2"
    busy = (CandidateResult("openvino-int8", 1.5, cosine_to_torch=0.996),)
    remember(BackendChoice("openvino-int8", machine_key(), name, busy, 0.0))
    fakes = {"torch": lambda _: FakeEmbedder(), "openvino-fp32": lambda _: FakeEmbedder()}
    monkeypatch.setattr("rag.embed.EMBEDDERS", fakes)
    assert main(["models", "measure"]) == 0
    captured = capsys.readouterr()
    assert "Timing the installed language packs and the embedding backends" in captured.err
    assert "openvino-int8 1.5" not in captured.out
    choice = remembered(name, machine=machine_key())
    assert choice is not None and choice.measured_at > 0
    assert {r.backend for r in choice.results} == {"torch", "openvino-fp32"}
    assert f"Embedding backend: {choice.backend}, measured on this CPU" in captured.out
