"""Language models by name: llama.cpp's for model packs and GGUF files, and any other
registered under a name of its own.

``GENERATORS`` maps a model name, as ``--model``, ``judge_model``, ``rerank_model`` and
``query_model`` give it, to a factory that builds its generator without loading it and
imports its runtime only when called. A name no one registered goes to llama.cpp
(``LLAMA_CPP``, the default), which takes a model pack name or the path of a GGUF file.
A test registers its fake model here, by name, instead of patching the service.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rag.config import Settings
    from rag.types import Generator

# (the model name, the settings) -> its generator, built but not loaded (``warm_up()``).
GeneratorFactory = Callable[[str | None, "Settings"], "Generator"]

LLAMA_CPP = "llama.cpp"


def _llama_cpp(name: str | None, settings: Settings) -> Generator:
    from rag.answer.generate import LlamaCppGenerator

    return LlamaCppGenerator(name, context_size=settings.context_size, threads=settings.threads)


GENERATORS: dict[str, GeneratorFactory] = {LLAMA_CPP: _llama_cpp}


def make_generator(name: str | None, settings: Settings) -> Generator:
    """The generator of the model ``name`` (None: the default pack), not loaded yet: the one
    registered under that name, else llama.cpp's."""
    factory = GENERATORS.get(name or "") or GENERATORS[LLAMA_CPP]
    return factory(name, settings)
