"""The default embeddings: the sentence-transformers model run by OpenVINO, in int8.

The first use exports the model's transformer to ONNX, reads it into OpenVINO
and quantises weights and activations to 8-bit integers with NNCF's
post-training quantisation, calibrated on the bundled sample articles (their
sentences, alone and in windows of up to nine, and the example questions).
The result is kept as an OpenVINO IR in a cache folder, and OpenVINO keeps its
compilation of it there too (``compiled/``), so a new process does not compile
it again. With int8 activations the matrix products run on the CPU's integer
dot-product instructions (AVX512-VNNI or AVX-VNNI where present).

Measured with ``rag bench`` on 130-word RealTimeQA passages, 2 threads: 101.9
passages/s against PyTorch's 32.3 in the same run, vectors at cosine 0.996
(mean) to PyTorch's.
Needs ``openvino`` and, for the one export, ``nncf`` and ``onnx``.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import os
import shutil
import threading
from pathlib import Path
from typing import Any

import numpy as np

from rag.embed.exported import ExportedEmbedder, export_onnx
from rag.errors import ModelError
from rag.optional import optional_import
from rag.text.sentences import split_sentences

# Package data: the calibration texts made from the project's own sample articles and
# questions (text the project may ship), so an installed wheel can export the model too.
SAMPLES = Path(__file__).resolve().parent / "samples"
CALIBRATION_FILE = "calibration.txt"
CALIBRATION_WINDOWS = (1, 3, 6, 9)  # sentences per text: short queries to long passages
CALIBRATION_BATCH = 8


class OpenVinoEmbedder(ExportedEmbedder):
    """The embedder run by OpenVINO, weights and activations in int8."""

    suffix = "openvino-int8"
    runtime = "openvino"
    artifact = "model_int8.xml"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # One infer request runs one batch at a time.
        self._busy = threading.Lock()

    def _check_runtime(self) -> None:
        with optional_import(
            ModelError,
            "The OpenVINO embedder needs openvino (and nncf and onnx for its one "
            "export): run `pip install -e .`, or set embed_backend to torch.",
        ):
            _import_quietly("openvino")

    def _export(self, folder: Path, target: Path) -> None:
        if not all(importlib.util.find_spec(name) for name in ("nncf", "onnx")):
            raise ModelError(
                "Exporting the OpenVINO embedder needs nncf and onnx: run `pip install -e .`, "
                "or set embed_backend to torch."
            )
        export_openvino_int8(folder, target, calibration_texts(), self._max_tokens)

    def _load(self, path: Path) -> Any:
        ov = _import_quietly("openvino")
        # float32 between the int8 products, so vectors do not depend on
        # whether the CPU has bfloat16.
        config: dict[str, Any] = {
            "INFERENCE_NUM_THREADS": self._threads,
            "INFERENCE_PRECISION_HINT": "f32",
        }
        compiled_dir = compiled_cache(path)
        if compiled_dir is not None:
            config["CACHE_DIR"] = str(compiled_dir)
        # Given the file rather than a read model, OpenVINO finds a cached compilation
        # (keyed by the file, the settings and its own version) without reading the IR.
        compiled = ov.Core().compile_model(str(path), "CPU", config)
        self._inputs = {i.get_any_name() for i in compiled.inputs}
        return compiled.create_infer_request()

    def _run(self, session: Any, feed: dict[str, np.ndarray]) -> np.ndarray:
        with self._busy:
            return np.array(session.infer(feed)[0], dtype=np.float32, copy=True)


class OpenVinoFp32Embedder(OpenVinoEmbedder):
    """The embedder run by OpenVINO in float32: the exported model, not quantised.

    A candidate of ``embed_backend = "auto"`` for CPUs without integer dot-product
    instructions, where int8 gains nothing (the issue measured it 10–15 % slower
    than PyTorch on an AVX2-only EPYC) but OpenVINO's fused float kernels may
    still beat PyTorch's. Its export is seconds: no calibration.
    """

    suffix = "openvino-fp32"
    artifact = "model_fp32.xml"

    def _export(self, folder: Path, target: Path) -> None:
        if importlib.util.find_spec("onnx") is None:
            raise ModelError(
                "Exporting the OpenVINO embedder needs onnx: run `pip install -e .`, "
                "or set embed_backend to torch."
            )
        export_openvino_fp32(folder, target)


def compiled_cache(model: Path) -> Path | None:
    """Where OpenVINO keeps the compiled model between processes, beside the IR.

    Compiling was about 0.8 s of every cold start (2 cores); reading the compiled
    model back is a fraction of that. Deleting the export folder deletes it too.
    None when the folder cannot be made (a read-only cache): the model is then
    compiled each time.
    """
    folder = model.parent / "compiled"
    try:
        folder.mkdir(exist_ok=True)
    except OSError:
        return None
    return folder


def _import_quietly(name: str) -> Any:
    """Import OpenVINO or NNCF so that they neither count nor report this use.

    Without a consent file, importing either writes a client id and a use count
    to ``~/intel``, and NNCF reports its calls to Google Analytics. Their own
    switches for CI machines turn both off; they are set only while the module
    is imported, so nothing else sees them.
    """
    saved = {key: os.environ.get(key) for key in ("CI", "NNCF_CI")}
    os.environ.update({"CI": "true", "NNCF_CI": "1"})
    try:
        return importlib.import_module(name)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def calibration_texts() -> list[str]:
    """The shipped calibration texts, one a line (see ``texts_from_samples``)."""
    path = SAMPLES / CALIBRATION_FILE
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        raise ModelError(
            f"The OpenVINO export calibrates on the sample articles' sentences in {path}, "
            "which are not there. Reinstall newsrag (`pip install .`), or set embed_backend "
            "to torch."
        ) from None
    return [line for line in lines if line]


def texts_from_samples(samples: Path) -> list[str]:
    """Sentences of the sample articles, alone and in windows, and the example questions.

    What ``samples/calibration.txt`` holds, made from the source tree's ``samples/``
    folder; a test checks the shipped file still matches it.
    """
    texts: list[str] = []
    for path in sorted((samples / "articles").glob("*.md")):
        text = path.read_text(encoding="utf-8")
        sentences = [text[a:b] for a, b in split_sentences(text)]
        for window in CALIBRATION_WINDOWS:
            step = max(1, window // 2)
            texts += [" ".join(sentences[i : i + window]) for i in range(0, len(sentences), step)]
    questions = samples / "example_questions.txt"
    if questions.is_file():
        lines = questions.read_text(encoding="utf-8").splitlines()
        texts += [line.strip() for line in lines if line.strip()]
    return texts


def export_openvino_int8(folder: Path, target: Path, texts: list[str], max_tokens: int) -> None:
    """Export to ONNX, read it into OpenVINO, quantise it with NNCF and save the IR.

    NNCF's transformer preset keeps the layers that lose most in int8 (such as
    the softmax inputs) in float. The IR is written to a folder beside the
    target and moved into place, so a killed export leaves no half model.
    """
    from transformers import AutoTokenizer

    ov = _import_quietly("openvino")
    nncf = _import_quietly("nncf")
    work = target / "export.partial"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    plain = work / "model.onnx"
    export_onnx(folder, plain)
    model = ov.Core().read_model(str(plain))
    names = {i.get_any_name() for i in model.inputs}
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    batches = []
    for start in range(0, len(texts), CALIBRATION_BATCH):
        encoded = tokenizer(
            texts[start : start + CALIBRATION_BATCH],
            padding=True,
            truncation=True,
            max_length=max_tokens,
            return_tensors="np",
        )
        batches.append({k: v.astype(np.int64) for k, v in encoded.items() if k in names})
    nncf.set_log_level(40)  # errors only
    # Its progress bars are not for users.
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        quantized = nncf.quantize(
            model,
            nncf.Dataset(batches),
            model_type=nncf.ModelType.TRANSFORMER,
            subset_size=len(batches),
        )
    ov.save_model(quantized, str(work / "model_int8.xml"))
    plain.unlink()
    for name in ("model_int8.bin", "model_int8.xml"):  # the .xml last: it marks a whole export
        os.replace(work / name, target / name)
    shutil.rmtree(work, ignore_errors=True)


def export_openvino_fp32(folder: Path, target: Path) -> None:
    """Export to ONNX and save it as an OpenVINO IR in float32, moved into place whole."""
    ov = _import_quietly("openvino")
    work = target / "export-fp32.partial"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    plain = work / "model.onnx"
    export_onnx(folder, plain)
    # compress_to_fp16=False: the weights stay float32, as the name promises.
    ov.save_model(ov.Core().read_model(str(plain)), str(work / "model_fp32.xml"), False)
    for name in ("model_fp32.bin", "model_fp32.xml"):  # the .xml last: it marks a whole export
        os.replace(work / name, target / name)
    shutil.rmtree(work, ignore_errors=True)
