"""What an installed newsrag needs ships inside the package, not beside it in the source tree."""

from __future__ import annotations

from rag.config import CHOICES
from rag.embed import EMBEDDERS
from rag.embed.openvino import SAMPLES, calibration_texts, texts_from_samples
from tests.conftest import ROOT


def test_the_shipped_calibration_texts_match_the_sample_articles():
    # Edit samples/ and this fails until the package data is made again:
    # python -c "from pathlib import Path; from rag.embed.openvino import texts_from_samples;
    #   Path('rag/embed/samples/calibration.txt').write_text(
    #   '\n'.join(texts_from_samples(Path('samples'))) + '\n', encoding='utf-8')"
    assert calibration_texts() == texts_from_samples(ROOT / "samples")
    assert SAMPLES.is_relative_to(ROOT / "rag")


def test_every_embed_backend_has_a_factory():
    # "auto" is not a backend of its own: it picks one of the others.
    assert set(EMBEDDERS) | {"auto"} == set(CHOICES["embed_backend"])
