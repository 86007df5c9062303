"""A missing optional dependency is one error that says what to install, not an ImportError."""

from __future__ import annotations

import sys

import pytest

from rag.embed.onnx import OnnxEmbedder
from rag.embed.openvino import OpenVinoEmbedder
from rag.errors import ConfigError, ModelError
from rag.optional import optional_import


def test_an_import_error_in_the_block_becomes_the_error_given(monkeypatch):
    monkeypatch.setitem(sys.modules, "not_here", None)  # None: "import not_here" fails
    with (
        pytest.raises(ConfigError, match=r"^Run `pip install not-here`\.$") as caught,
        optional_import(ConfigError, "Run `pip install not-here`."),
    ):
        import not_here  # noqa: F401
    assert caught.value.__suppress_context__  # no ImportError traceback behind it


def test_a_block_that_imports_is_left_alone():
    with optional_import(ModelError, "never said"):
        import json
    assert json.dumps(1) == "1"


@pytest.mark.parametrize(
    ("embedder", "module", "hint"),
    [
        (OnnxEmbedder, "onnxruntime", r"pip install -e '\.\[fast\]'"),
        (OpenVinoEmbedder, "openvino", r"needs openvino .*pip install -e \."),
    ],
)
def test_an_embedder_without_its_runtime_says_what_to_install(monkeypatch, embedder, module, hint):
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ModelError, match=hint):
        embedder()._check_runtime()
