"""Model packs: parts read as data from installed distributions, joined once, verified by hash."""

from __future__ import annotations

import hashlib
import sys

import pytest

from rag import packs as shared
from rag.answer import packs
from rag.answer.packs import ModelPack, resolve_model, resolve_pack
from rag.cli import main
from rag.errors import ModelError
from rag.packs import PackPart
from tests.fakes import install_split_file


@pytest.fixture
def fake_pack(tmp_path, monkeypatch):
    site = tmp_path / "site"
    pieces = [b"GGUF" + b"a" * 1000, b"b" * 777, b"c" * 5]
    parts = install_split_file(
        site, pieces, dist="fake-part{i}", version="0.3.0", path="fake_part{i}/data/p{i}.bin"
    )
    joined = b"".join(pieces)
    pack = ModelPack(
        name="fake-pack",
        title="Fake",
        maker="tests",
        licence="MIT",
        parts=parts,
        size=len(joined),
        sha256=hashlib.sha256(joined).hexdigest(),
        instruct=True,
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setitem(packs.PACKS, pack.name, pack)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return pack, site, joined


def test_parts_are_joined_verified_and_never_imported(fake_pack):
    pack, _, joined = fake_pack
    path = resolve_pack(pack)
    assert path.read_bytes() == joined
    assert path.parent == packs.cache_dir()
    assert not any(name.startswith("fake_part") for name in sys.modules)
    # A second start only checks the stamp: the joined file is not rewritten.
    mtime = path.stat().st_mtime_ns
    assert resolve_model("fake-pack") == (path, pack)
    assert path.stat().st_mtime_ns == mtime


def test_a_changed_part_is_refused_with_the_fix(fake_pack):
    pack, site, _ = fake_pack
    (site / "fake_part2/data/p2.bin").write_bytes(b"x" * 777)  # same size, other bytes
    with pytest.raises(ModelError, match=r"sha256 .* not the pinned value.*rag models install"):
        resolve_pack(pack)
    assert not (packs.cache_dir() / pack.filename).exists()


def test_a_tampered_cache_file_is_joined_again(fake_pack):
    pack, _, joined = fake_pack
    path = resolve_pack(pack)
    path.write_bytes(b"GGUF" + b"z" * (len(joined) - 4))
    assert resolve_pack(pack).read_bytes() == joined


def test_wrong_version_and_missing_pack_say_what_to_run(fake_pack, monkeypatch):
    pack, _, _ = fake_pack
    pinned = ModelPack(**{**pack.__dict__, "parts": (PackPart("fake-part1", "9.9", "x"),)})
    with pytest.raises(ModelError, match=r"needs fake-part1==9\.9, but 0\.3\.0 is installed"):
        resolve_pack(pinned)
    absent = ModelPack(**{**pack.__dict__, "parts": (PackPart("no-such-dist", "1", "x"),)})
    with pytest.raises(ModelError, match=r"is not installed\. Run `rag models install"):
        resolve_pack(absent)
    assert shared.is_installed(pack) and not shared.is_installed(absent)


def test_model_names_paths_and_nonsense(tmp_path, fake_pack):
    gguf = tmp_path / "own.gguf"
    gguf.write_bytes(b"GGUF")
    assert resolve_model(str(gguf)) == (gguf, None)
    with pytest.raises(ModelError, match=r"neither a model pack .* nor an existing file"):
        resolve_model("qwen-99b")


def test_rag_models_lists_packs_and_rejects_unknown_names(fake_pack, capsys):
    assert main(["models", "--json"]) == 0
    import json

    rows = json.loads(capsys.readouterr().out)
    names = {r["name"]: r for r in rows}
    assert names["fake-pack"]["installed"] is True
    assert {"gemma-3-270m", "qwen2.5-coder-0.5b", "smollm2-135m"} <= set(names)
    assert {"all-minilm-l6-v2", "all-mpnet-base-v2"} <= set(names)
    # One default of each kind, and every row has the same common fields.
    for kind in ("language model", "embedder"):
        assert sum(r["default"] for r in rows if r["kind"] == kind) == 1
    common = {"name", "kind", "title", "default", "installed", "size_mb", "licence", "packages"}
    assert all(common <= set(r) for r in rows)
    assert main(["models", "path", "fake-pack"]) == 0
    assert capsys.readouterr().out.strip().endswith(fake_pack[0].filename)
    assert main(["models", "install", "nope"]) == 2
    assert "No model pack is called 'nope'" in capsys.readouterr().err
    assert main(["models", "install", " "]) == 2


def test_install_runs_pip_without_dependencies(fake_pack):
    pack = fake_pack[0]
    seen = []

    class Done:
        returncode = 0

    assert shared.install(pack, runner=lambda cmd, check: seen.append(cmd) or Done()) == 0
    assert seen[0][1:5] == ["-m", "pip", "install", "--no-deps"]
    assert seen[0][5:] == pack.requirements()
