"""The service's models: the embedder and the language model, loaded once, replaced safely.

Imports ``rag.embed``, ``rag.answer`` (the generators by name and their packs), ``rag.config``,
``rag.errors`` and ``rag.types``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypedDict, Unpack

from rag.answer.generators import make_generator
from rag.answer.pick import AUTO, ModelPick, pick_model
from rag.config import Settings, machine_cores
from rag.embed import auto_backend, make_embedder
from rag.errors import InputError
from rag.types import Embedder, Generator


class GivenModels(TypedDict, total=False):
    """Models handed to a service instead of built from its settings (a test's fakes)."""

    embedder: Embedder | None
    generator: Generator | None
    judge: Generator | None  # the judge_model, when one is set


class Models:
    """The embedder and the generator of one service; cheap to build, loaded on first use."""

    def __init__(
        self,
        settings: Settings,
        *,
        index_embedder: Callable[[], str | None] | None = None,
        **given: Unpack[GivenModels],
    ) -> None:
        unknown = given.keys() - GivenModels.__optional_keys__
        if unknown:
            raise TypeError(f"unknown models {sorted(unknown)}: give embedder, generator, judge")
        self.settings = settings
        # The embedder id the index records: with embed_backend "auto", its backend is used.
        self._index_embedder = index_embedder or (lambda: None)
        self._embedder = given.get("embedder")
        self._generator = given.get("generator")
        # Second models (the judge, the re-ranker) by name: one load each, however many jobs.
        self._helpers: dict[str, Generator] = {}
        judge = given.get("judge")
        if judge is not None and settings.judge_model is not None:
            self._helpers[settings.judge_model] = judge
        self._embedder_loaded = False
        self._pick: ModelPick | None = None

    @property
    def embedder(self) -> Embedder:
        """The embedder, loaded on first use."""
        embedder = self.unloaded_embedder()
        warm_up = getattr(embedder, "warm_up", None)
        if warm_up is not None and not self._embedder_loaded:
            warm_up()
        self._embedder_loaded = True
        return embedder

    def unloaded_embedder(self) -> Embedder:
        # Constructing is cheap; reading the model id must not load the model.
        if self._embedder is None:
            backend = self.backend()
            self._embedder = make_embedder(self.settings.updated(embed_backend=backend))
        return self._embedder

    def backend(self, *, measure: bool = True) -> str | None:
        """The embedding backend in force (see ``rag.embed.auto_backend``)."""
        return auto_backend(self.settings, self._index_embedder(), measure=measure)

    def _load(self, name: str | None) -> Generator:
        generator = make_generator(name, self.settings)
        warm_up = getattr(generator, "warm_up", None)
        if warm_up is not None:
            warm_up()
        return generator

    def pick(self) -> ModelPick:
        """What ``--model auto`` runs here, and why (timing packs once per machine)."""
        if self._pick is None:
            threads = self.settings.threads or machine_cores()
            self._pick = pick_model(self.settings.answer_budget, threads)
        return self._pick

    def model_name(self) -> str:
        """The answering model as a pack name or path: ``auto`` (or none) resolved."""
        model = self.settings.model
        if model is None or not model.strip() or model.strip().lower() == AUTO:
            return self.pick().pack
        return model

    @property
    def generator(self) -> Generator:
        if self._generator is None:
            self._generator = self._load(self.model_name())
        return self._generator

    def helper(self, name: str) -> Generator:
        """A second model by name (the answering model when it is the same), loaded once."""
        if name == self.settings.model or (self._generator is not None and name == self._name()):
            return self.generator
        if name not in self._helpers:
            self._helpers[name] = self._load(name)
        return self._helpers[name]

    def _name(self) -> str | None:
        """The loaded answering model's pack name, if it is a pack."""
        return getattr(self._generator, "model_id", None)

    @property
    def loaded(self) -> bool:
        """Whether the language model is loaded."""
        return self._generator is not None

    def use_model(self, model: str | Path) -> str:
        """Load another model (a pack name or a GGUF file); questions from now on use it.

        The new model loads before it replaces the old one, so a bad file leaves
        the chat answering with the model it had. An answer already being written
        finishes with the model it started with.
        """
        from rag.answer.packs import find_pack

        name = str(model).strip()
        if name.lower() == AUTO:
            generator = self._load(self.pick().pack)
            self._generator = generator
            self.settings = self.settings.updated(model=AUTO)
            return generator.model_id
        if find_pack(name) is None:
            path = Path(name).expanduser()
            if path.suffix.lower() != ".gguf":
                raise InputError(
                    f"{path} is not a .gguf file or a model pack name. Give a pack name "
                    "(`rag models`) or the path of a GGUF model file."
                )
            name = str(path)
        generator = self._load(name)
        self._generator = generator
        self.settings = self.settings.updated(model=name)
        return generator.model_id

    def load(
        self,
        *,
        embedder: bool = True,
        generator: bool = True,
        index: Callable[[], bool] | None = None,
        helpers: Sequence[str] = (),
    ) -> float:
        """Load what is asked for and not loaded yet; the milliseconds it took (0: nothing).

        With both models to load, the language model loads in a thread while the
        embedder loads here: most of each is native code that releases the GIL
        (llama.cpp mapping the GGUF file, OpenVINO reading its compiled model), so
        on two cores they overlap. ``index`` (``IndexView.refresh``) reads the
        index too, when it changed on disk, here while the language model may
        still be loading. An error is raised here, in the order loading one after
        the other would raise it. ``helpers`` names second models to load after them.
        """
        embedder = embedder and not self._embedder_loaded
        generator = generator and self._generator is None
        helpers = [n for n in helpers if n != self.settings.model and n not in self._helpers]
        if not (embedder or generator or index or helpers):
            return 0.0
        started = time.perf_counter()
        index_read: list[bool] = []
        if generator:
            # ``auto`` decides first: timing a pack (once per machine) must not share the
            # cores with the embedder loading beside it.
            self.model_name()

        def load_here() -> None:
            if index is not None:
                index_read.append(index())
            if embedder:
                _ = self.embedder

        # An embedder about to be exported (once, minutes) loads alone: llama.cpp
        # silences stderr while it loads, and the export's notice must be seen.
        # So does one whose backend is still to be measured (once per machine).
        decided = self._embedder is not None or self.backend(measure=False) is not None
        if (
            embedder
            and generator
            and decided
            and getattr(self.unloaded_embedder(), "exported", True)
        ):
            failed: list[BaseException] = []

            def load_generator() -> None:
                try:
                    _ = self.generator
                except BaseException as exc:  # raised again in the caller's thread
                    failed.append(exc)

            thread = threading.Thread(target=load_generator, name="rag-load-model", daemon=True)
            thread.start()
            try:
                load_here()
            finally:
                thread.join()
            if failed:
                raise failed[0]
        else:
            load_here()
            if generator:
                _ = self.generator
        for name in helpers:
            self.helper(name)
        if not (embedder or generator or helpers or any(index_read)):
            return 0.0  # the index was current: nothing was loaded
        return (time.perf_counter() - started) * 1000
