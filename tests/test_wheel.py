"""The wheel works outside the source tree: build it, install it into a fresh
virtual environment, index an article and answer a question offline.

The fresh environment sees the big dependencies (PyTorch, OpenVINO, the model
packs...) of the environment running the tests through a ``.pth`` line, and
gets only the wheel itself installed (``--no-deps``). A plain path line adds
that folder and nothing else: its own ``.pth`` files, such as an editable
install's pointer to the checkout, are not read, so ``rag`` can only come from
the wheel. The commands run from a scratch folder without PYTHONPATH.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.conftest import ROOT, SAMPLES

pytestmark = pytest.mark.model

# What a build needs from the checkout; caches, venvs and runs stay behind.
_NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", ".rag", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", "runs"
)


def _run(args: list[object], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv, outside the checkout, with only the newsrag wheel installed into it."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=_NOT_SOURCE)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    built = _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "-w", work / "dist", source],
        cwd=work, env=env,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    (wheel,) = (work / "dist").glob("newsrag-*.whl")

    venv = work / "venv"
    made = _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=work, env=env)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    purelib = _run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        cwd=work, env=env,
    ).stdout.strip()  # fmt: skip
    # The dependencies of the environment running the tests, wherever it is (.venv in CI).
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    Path(purelib, "newsrag-test-deps.pth").write_text("\n".join(sorted(deps)) + "\n")
    done = _run(
        [sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index",
         wheel],
        cwd=work, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return venv


def test_the_installed_wheel_indexes_and_answers_offline(installed, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["HF_HUB_OFFLINE"] = "1"
    python, rag = installed / "bin" / "python", installed / "bin" / "rag"
    where = _run(
        [python, "-c",
         "import rag, ui, index; from rag.embed.openvino import calibration_texts; "
         "print(rag.__file__); print(ui.__file__); print(len(calibration_texts()))"],
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert where.returncode == 0, where.stderr
    rag_file, ui_file, n_texts = where.stdout.split()
    # The code and its package data come from the wheel, not from the checkout.
    assert Path(rag_file).is_relative_to(installed) and Path(ui_file).is_relative_to(installed)
    assert int(n_texts) > 100

    articles = tmp_path / "articles"
    articles.mkdir()
    (source,) = SAMPLES.glob("06-trump-letter*.md")
    shutil.copy(source, articles)
    indexed = _run([rag, "index", articles, "--index-dir", tmp_path / "idx"], tmp_path, env)
    assert indexed.returncode == 0, indexed.stderr
    asked = _run(
        [rag, "ask", "Who delivered Trump's letter to Khamenei?", "--json",
         "--index-dir", tmp_path / "idx"],
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    assert not answer["abstained"] and "Gargash" in answer["answer"]
    assert answer["citations"], answer
