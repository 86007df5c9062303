"""The int8 backends' shared base: export a sentence-transformers folder's transformer once.

``ExportedEmbedder`` tokenises, batches texts of similar length (with
``rag.embed.base.embed_in_batches``), pools and normalises; a backend
(``rag.embed.onnx``, ``rag.embed.openvino``) names its runtime and writes
``_export``, ``_load`` and ``_run``. The export is kept in a cache folder,
guarded by a file lock so processes that start together export once.
Imports ``rag.embed.base``, ``rag.embed.packs``, ``rag.packs``, ``rag.errors`` and
``rag.config`` only.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock

from rag.config import machine_cores
from rag.embed.base import count_word_pieces, embed_in_batches
from rag.embed.packs import EMBEDDER_PACKS, embedder_id, pack_content_id, resolve_embedder
from rag.errors import ModelError, NotWarmedUpError
from rag.packs import cache_home

log = logging.getLogger(__name__)


class ExportedEmbedder:
    """An ``Embedder`` running a sentence-transformers folder's transformer, exported once.

    Subclasses name the runtime: they export the model into the cache folder
    (``_export``), load it (``_load``) and run one padded batch (``_run``).
    Tokenising, length-sorted batching, pooling and normalisation are shared.
    """

    suffix = ""  # ends the embedder id, so an index knows which runtime made its vectors
    runtime = ""  # the cache subfolder
    artifact = ""  # the file the export leaves last: it marks a complete export

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        *,
        batch_size: int = 32,
        threads: int | None = None,
        cache: Path | None = None,
    ) -> None:
        if batch_size <= 0:
            raise ValueError(f"batch_size must be greater than 0, got {batch_size}")
        self._spec = None if model is None else str(model)
        self._batch_size = batch_size
        self._threads = threads or machine_cores()
        self._cache = cache
        self._session: Any = None
        self._tokenizer: Any = None
        self._inputs: set[str] = set()
        self._max_tokens = 256
        self._pooling = "mean"
        self._normalize = True
        self._dimension = 0
        self._resolved: Path | None = None

    @property
    def model_id(self) -> str:
        return f"{embedder_id(self._spec)}+{self.suffix}"

    def _folder(self) -> Path:
        """The model's folder: a pack's, checked (once per embedder), or the one named."""
        if self._resolved is None:
            self._resolved = resolve_embedder(self._spec) or Path(str(self._spec))
        return self._resolved

    def _check_runtime(self) -> None:
        """Import what the runtime needs, or raise ``ModelError`` naming the extra."""
        raise NotImplementedError

    def _export(self, folder: Path, target: Path) -> None:
        raise NotImplementedError

    def _load(self, path: Path) -> Any:
        raise NotImplementedError

    def _run(self, session: Any, feed: dict[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def warm_up(self) -> None:
        if self._session is not None:
            return
        self._check_runtime()
        folder = self._folder()
        if not folder.exists():
            raise ModelError(
                f"The embedder {self._spec!r} is neither an embedder pack "
                f"({', '.join(EMBEDDER_PACKS)}) nor a folder on this machine. Pass a pack "
                "name (`rag models` lists them) or a sentence-transformers folder."
            )
        if not (folder / "modules.json").is_file():
            raise ModelError(
                f"{folder} is not a sentence-transformers folder (no modules.json); "
                f"the {self.suffix} embedder needs one."
            )
        self._read_config(folder)
        exported = self._exported_model(folder)
        try:
            self._session = self._load(exported)
            self._tokenizer = FolderTokenizer(folder, self._max_tokens)
        except Exception as exc:  # each runtime raises its own exception types
            raise ModelError(
                f"Could not load the exported model {exported} ({exc}). Delete "
                f"{exported.parent} to export it again."
            ) from exc
        self._dimension = int(self.embed(["dimension probe"])[0].shape[0])

    def _read_config(self, folder: Path) -> None:
        modules = json.loads((folder / "modules.json").read_text())
        kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
        unknown = set(kinds) - {"Transformer", "Pooling", "Normalize"}
        if unknown:
            raise ModelError(
                f"The {self.suffix} embedder handles Transformer, Pooling and Normalize "
                f"modules; {folder} also has {sorted(unknown)}. Use embed_backend torch for it."
            )
        self._normalize = "Normalize" in kinds
        for module in modules:
            if module["type"].endswith("Pooling"):
                config = json.loads((folder / module["path"] / "config.json").read_text())
                if config.get("pooling_mode_cls_token"):
                    self._pooling = "cls"
                elif config.get("pooling_mode_mean_tokens"):
                    self._pooling = "mean"
                else:
                    raise ModelError(f"{folder}: only mean or CLS pooling is supported.")
        bert_config = folder / "sentence_bert_config.json"
        if bert_config.is_file():
            self._max_tokens = int(json.loads(bert_config.read_text()).get("max_seq_length", 256))

    @property
    def exported(self) -> bool:
        """Is the model exported already, so that loading it exports nothing?"""
        if self._session is not None:
            return True
        try:
            return (self._export_target(self._folder()) / self.artifact).is_file()
        except (ModelError, OSError):
            return False  # warm_up() will say what is wrong

    def _export_target(self, folder: Path) -> Path:
        """The cache folder of ``folder``'s export.

        For a pack, named by its pinned content, so an export copied to another machine
        (a Ray node) is found there. For any other folder, by its weights' names, sizes and
        modification times: another model put in the same folder, even one of the same
        size (a fine-tuned copy), is exported anew, not answered with the old export.
        """
        home = self._cache or cache_home() / self.runtime
        pinned = pack_content_id(self._spec)
        if pinned is not None:
            return home / f"{folder.name}-{pinned[:12]}"
        weights = sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin"))
        digest = hashlib.sha256()
        for path in weights:
            stat = path.stat()
            digest.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
        return home / f"{folder.name}-{digest.hexdigest()[:12]}"

    def _exported_model(self, folder: Path) -> Path:
        """The runtime's file for ``folder``, exported on first use."""
        target = self._export_target(folder)
        exported = target / self.artifact
        if exported.is_file():
            return exported
        target.mkdir(parents=True, exist_ok=True)
        # Processes that start together (Ray's embedding actors) export once.
        with FileLock(str(target / ".export.lock")):
            if exported.is_file():
                return exported
            log.warning("Exporting %s for %s once; it is kept in %s", folder, self.suffix, target)
            with _quiet():
                self._export(folder, target)
        return exported

    def _require(self) -> Any:
        if self._session is None:
            raise NotWarmedUpError("The embedder is not loaded; call warm_up() first.")
        return self._session

    @property
    def dimension(self) -> int:
        self._require()
        return self._dimension

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        self._require()
        return self._tokenizer.count(texts)

    def embed(self, texts: Sequence[str], *, kind: str = "passage") -> np.ndarray:
        session = self._require()
        return embed_in_batches(
            lambda batch: self._embed_batch(session, batch),
            texts,
            batch_size=self._batch_size,
            dimension=self._dimension,
        )

    def _embed_batch(self, session: Any, texts: list[str]) -> np.ndarray:
        encoded = self._tokenizer.batch(texts)
        feed = {k: v.astype(np.int64) for k, v in encoded.items() if k in self._inputs}
        hidden = self._run(session, feed)
        mask = encoded["attention_mask"].astype(np.float32)[:, :, None]
        if self._pooling == "cls":
            pooled = hidden[:, 0]
        else:
            pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        if self._normalize:
            pooled = pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return np.ascontiguousarray(pooled, dtype=np.float32)


class FolderTokenizer:
    """A model folder's tokenizer: counts word pieces, or pads and cuts a batch.

    ``tokenizer.json`` is read with the ``tokenizers`` library alone: transformers'
    ``AutoTokenizer`` runs the same Rust tokenizer, with the same ids, but importing
    it imports PyTorch, which was most of a cold start. The file may carry its own
    truncation and padding (all-MiniLM-L6-v2's pads every text to 128 pieces), so
    both are set here as transformers sets them on each call: cut at ``max_tokens``,
    padded to the longest text of the batch. A folder without ``tokenizer.json`` or
    a padding token falls back to transformers.
    """

    def __init__(self, folder: Path, max_tokens: int) -> None:
        self._max_tokens = max_tokens
        self._transformers: Any = None
        config = _json_or_empty(folder / "tokenizer_config.json")
        pad = _token_text(config.get("pad_token")) or _token_text(
            _json_or_empty(folder / "special_tokens_map.json").get("pad_token")
        )
        if not (folder / "tokenizer.json").is_file() or pad is None:
            from transformers import AutoTokenizer

            self._transformers = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
            return
        from tokenizers import Tokenizer

        self._counter = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._counter.no_truncation()
        self._counter.no_padding()
        # A second instance: changing one's settings per call would race between threads.
        self._batcher = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._batcher.enable_truncation(
            max_tokens, direction=config.get("truncation_side", "right")
        )
        pad_id = self._batcher.token_to_id(pad)
        if pad_id is None:
            raise ModelError(f"{folder}: the padding token {pad!r} is not in tokenizer.json.")
        self._batcher.enable_padding(
            direction=config.get("padding_side", "right"), pad_id=pad_id, pad_token=pad
        )

    def count(self, texts: Sequence[str]) -> list[int]:
        """Word pieces per text, special tokens included, without truncation."""
        if self._transformers is not None:
            return count_word_pieces(self._transformers, texts)
        return [len(e.ids) for e in self._counter.encode_batch(list(texts))]

    def batch(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """``input_ids``, ``attention_mask`` and ``token_type_ids``, one padded row per text."""
        if self._transformers is not None:
            encoded = self._transformers(
                list(texts),
                padding=True,
                truncation=True,
                max_length=self._max_tokens,
                return_tensors="np",
            )
            return {k: np.asarray(v) for k, v in encoded.items()}
        encodings = self._batcher.encode_batch(list(texts))
        return {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }


def _json_or_empty(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _token_text(token: object) -> str | None:
    """A special token as tokenizer_config.json writes it: a string or {"content": ...}."""
    if isinstance(token, dict):
        token = token.get("content")
    return token if isinstance(token, str) and token else None


# The exporter's and quantiser's own loggers; their advice is not for users.
_EXPORT_LOGGERS = ("torch.onnx", "onnxruntime", "onnx", "nncf", "openvino")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The exporter's tracer warnings and the quantiser's advice are not for users.

    Only the libraries' own loggers are lowered, and only while exporting: the
    process's root logger belongs to whoever runs it (the CLI sets it up).
    """
    loggers = [logging.getLogger(name) for name in _EXPORT_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def export_onnx(folder: Path, path: Path) -> Any:
    """Export the folder's transformer to ONNX at ``path``; return the model's config.

    Inputs are named as the tokenizer names them, batch and tokens dynamic; the
    one output is the token vectors. Attention is exported eagerly, which ONNX
    Runtime's transformer optimiser can fuse.
    """
    import torch
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # a bar for a 90 MB load is noise
    model = AutoModel.from_pretrained(
        str(folder), local_files_only=True, attn_implementation="eager"
    ).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    sample = tokenizer(["an example sentence", "another"], padding=True, return_tensors="pt")
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]
    axes = {n: {0: "batch", 1: "tokens"} for n in names}
    axes["last_hidden_state"] = {0: "batch", 1: "tokens"}

    class HiddenStates(torch.nn.Module):
        """The transformer with its inputs by name and only the token vectors out."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors: Any) -> Any:
            return self.model(**dict(zip(names, tensors, strict=True))).last_hidden_state

    with torch.no_grad():
        torch.onnx.export(
            HiddenStates(),
            tuple(sample[n] for n in names),
            str(path),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
    return model.config
