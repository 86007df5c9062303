"""The llama.cpp generator: clear errors without a model, real generation with one."""

from __future__ import annotations

import pytest

from rag.answer.generate import LlamaCppGenerator
from rag.errors import ConfigError, ModelError, NotWarmedUpError


def test_missing_model_file_is_named(tmp_path):
    with pytest.raises(ModelError, match=r"nothing\.gguf does not exist"):
        LlamaCppGenerator(tmp_path / "nothing.gguf")


def test_garbage_file_fails_on_load_with_a_message(tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a gguf at all" * 100)
    generator = LlamaCppGenerator(bad)
    with pytest.raises(ModelError, match="Could not load"):
        generator.warm_up()


def test_use_before_warm_up_says_what_to_call(tmp_path):
    model = tmp_path / "m.gguf"
    model.write_bytes(b"x")
    with pytest.raises(NotWarmedUpError, match="warm_up"):
        list(LlamaCppGenerator(model).stream("hi", max_tokens=1, temperature=0))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"context_size": 0}, "context_size must be greater than 0, got 0"),
        ({"threads": -1}, "threads must be greater than 0, got -1"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        LlamaCppGenerator(None, **kwargs)


@pytest.fixture(scope="module")
def gemma():
    generator = LlamaCppGenerator(context_size=512)
    generator.warm_up()
    return generator


@pytest.mark.model
def test_default_gemma_streams_and_stops(gemma):
    assert gemma.has_chat_template is False
    assert gemma.model_id.endswith(".gguf")
    assert gemma.count_tokens("Tehran and Washington") >= 3
    # What the API reports as usage.prompt_tokens is what llama.cpp itself counts.
    counted = gemma._require().create_completion("1, 2, 3, 4,", max_tokens=1)["usage"]
    assert gemma.count_prompt("1, 2, 3, 4,") == counted["prompt_tokens"]
    pieces = list(gemma.stream("1, 2, 3, 4,", max_tokens=12, temperature=0))
    assert len(pieces) >= 2 and "5" in "".join(pieces)
    stopped = "".join(gemma.stream("1, 2, 3, 4,", max_tokens=12, temperature=0, stop=["6"]))
    assert "6" not in stopped and "5" in stopped
