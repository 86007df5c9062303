"""``embed_backend = "auto"``: the backend that is fastest on this CPU, measured once.

Which runtime embeds fastest depends on the CPU: OpenVINO's int8 model runs 3×
PyTorch's speed where the CPU has integer dot-product instructions (VNNI), and
10–15 % slower than PyTorch on an AVX2-only CPU. So the first time an embedder
is needed with no choice made, every installed backend embeds the same fixed
batch (texts of the bundled samples), interleaved, best of ``ROUNDS``; the
fastest whose vectors match PyTorch's (mean cosine at least ``MIN_COSINE``) is
kept. The choice is remembered in ``backends.json`` in newsrag's cache folder,
per machine (CPU model and a hash of its flags) and embedder, so the
measurement runs once per machine. ``--embed-backend NAME`` overrides it.
Imports ``rag.embed`` (the factories), ``rag.embed.packs``, ``rag.packs``,
``rag.config`` and ``rag.errors``; never a backend's module.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.embed.packs import embedder_id
from rag.errors import ModelError
from rag.packs import cache_home

if TYPE_CHECKING:
    from rag.types import Embedder

log = logging.getLogger(__name__)

AUTO = "auto"
REFERENCE = "torch"  # the model's own runtime: the others must give its vectors
MIN_COSINE = 0.99  # mean cosine to PyTorch's vectors for a backend to be kept
ROUNDS = 2  # timed rounds per backend, interleaved; the best counts
BATCH = 32  # texts timed per round
CHOICES_FILE = "backends.json"
SAMPLES = Path(__file__).resolve().parent / "samples" / "calibration.txt"


@dataclass(frozen=True)
class CandidateResult:
    """One backend's measurement: its speed, how close its vectors are, or why it failed."""

    backend: str
    passages_per_s: float | None = None
    load_s: float | None = None
    cosine_to_torch: float | None = None
    error: str | None = None


@dataclass(frozen=True)
class BackendChoice:
    """The backend kept for one embedder on one machine, and what each candidate measured."""

    backend: str
    machine: str
    embedder: str
    results: tuple[CandidateResult, ...]
    measured_at: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> BackendChoice:
        return BackendChoice(
            backend=str(data["backend"]),
            machine=str(data["machine"]),
            embedder=str(data["embedder"]),
            results=tuple(CandidateResult(**r) for r in data["results"]),
            measured_at=float(data["measured_at"]),
        )

    def summary(self) -> str:
        """One line: each candidate's passages/s, the kept one first."""
        parts = []
        for r in sorted(self.results, key=lambda r: r.backend != self.backend):
            if r.error is not None:
                parts.append(f"{r.backend} failed")
            else:
                cosine = "" if r.backend == REFERENCE else f", cosine {r.cosine_to_torch:.3f}"
                parts.append(f"{r.backend} {r.passages_per_s:.1f} passages/s{cosine}")
        return "; ".join(parts)


def machine_key(cpuinfo: str | None = None) -> str:
    """The CPU's model name and a hash of its instruction-set flags (Linux's /proc/cpuinfo)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            cpuinfo = ""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    model = fields.get("model name") or platform.processor() or platform.machine() or "cpu"
    flags = " ".join(sorted(fields.get("flags", "").split()))
    return f"{model} [{hashlib.sha256(flags.encode()).hexdigest()[:12]}]"


def choices_path() -> Path:
    return cache_home() / CHOICES_FILE


def _key(machine: str, embedder: str) -> str:
    return f"{machine} | {embedder}"


def _read_all(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def remembered(
    embedder: str, *, machine: str | None = None, path: Path | None = None
) -> BackendChoice | None:
    """The choice made earlier on this machine for ``embedder`` (a model id), if any."""
    entry = _read_all(path or choices_path()).get(_key(machine or machine_key(), embedder))
    if not isinstance(entry, dict):
        return None
    try:
        return BackendChoice.from_json(entry)
    except (KeyError, TypeError, ValueError):
        return None  # a damaged entry is measured again


def remember(choice: BackendChoice, *, path: Path | None = None) -> None:
    """Add ``choice`` to the file, written beside it and renamed (never half a file)."""
    path = path or choices_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    data = _read_all(path)
    data[_key(choice.machine, choice.embedder)] = choice.to_json()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def sample_passages(count: int = BATCH) -> list[str]:
    """A fixed batch: the longest texts of the shipped calibration file (news paragraphs)."""
    try:
        lines = [line for line in SAMPLES.read_text(encoding="utf-8").splitlines() if line]
    except OSError:
        raise ModelError(
            f"The backend measurement embeds the texts in {SAMPLES}, which are not there. "
            "Reinstall newsrag (`pip install .`), or pass --embed-backend."
        ) from None
    return sorted(lines, key=len, reverse=True)[:count]


def measure_backends(
    candidates: Mapping[str, Callable[[], Embedder]],
    texts: Sequence[str],
    *,
    rounds: int = ROUNDS,
    clock: Callable[[], float] = time.perf_counter,
) -> list[CandidateResult]:
    """Load each candidate, then time them on ``texts`` in interleaved rounds.

    Interleaving spreads whatever else the machine does over all of them. A
    candidate that cannot load (its runtime not installed) is reported, not fatal.
    """
    loaded: dict[str, Embedder] = {}
    load_s: dict[str, float] = {}
    failed: dict[str, str] = {}
    for name, make in candidates.items():
        started = clock()
        try:
            embedder = make()
            warm_up = getattr(embedder, "warm_up", None)
            if warm_up is not None:
                warm_up()
            embedder.embed(list(texts[:4]))  # the first call sets up kernels
        except Exception as exc:  # each runtime raises its own kinds
            failed[name] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            log.info("Backend %s left out: %s", name, failed[name])
            continue
        loaded[name] = embedder
        load_s[name] = clock() - started
    best: dict[str, float] = {}
    vectors: dict[str, Any] = {}
    for _ in range(rounds):
        for name, embedder in loaded.items():
            started = clock()
            vectors[name] = embedder.embed(list(texts))
            best[name] = min(best.get(name, float("inf")), clock() - started)
    reference = vectors.get(REFERENCE)
    results = []
    for name in candidates:
        if name in failed:
            results.append(CandidateResult(name, error=failed[name]))
            continue
        cosine = None
        if reference is not None:
            cosine = round(float((reference * vectors[name]).sum(axis=1).mean()), 4)
        rate = len(texts) / best[name] if best[name] > 0 else float("inf")
        results.append(
            CandidateResult(name, round(rate, 1), round(load_s[name], 2), cosine_to_torch=cosine)
        )
    return results


def pick(results: Sequence[CandidateResult]) -> str:
    """The fastest backend whose vectors match PyTorch's (any that ran, if PyTorch did not)."""
    ran = [r for r in results if r.error is None]
    if not ran:
        reasons = "; ".join(f"{r.backend}: {r.error}" for r in results)
        raise ModelError(f"No embedding backend could be loaded ({reasons}).")
    reference_ran = any(r.backend == REFERENCE for r in ran)
    close = [
        r
        for r in ran
        if not reference_ran
        or r.backend == REFERENCE
        or (r.cosine_to_torch is not None and r.cosine_to_torch >= MIN_COSINE)
    ]
    return max(close, key=lambda r: r.passages_per_s or 0.0).backend


def choose_backend(
    embedder: str,
    candidates: Mapping[str, Callable[[], Embedder]],
    *,
    texts: Sequence[str] | None = None,
    path: Path | None = None,
    machine: str | None = None,
    clock: Callable[[], float] = time.perf_counter,
    again: bool = False,
) -> BackendChoice:
    """The remembered choice for ``embedder`` here, or a new measurement, remembered
    (``again``: a new one in any case).

    A file lock lets processes that start together (Ray actors, parallel tests)
    measure once: the others wait and read the result.
    """
    from filelock import FileLock

    path = path or choices_path()
    machine = machine or machine_key()
    found = None if again else remembered(embedder, machine=machine, path=path)
    if found is not None:
        return found
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        found = None if again else remembered(embedder, machine=machine, path=path)
        if found is not None:
            return found
        log.warning(
            "Measuring the embedding backends (%s) once on this CPU to pick the fastest; "
            "the first use exports each model, which takes a minute or two.",
            ", ".join(candidates),
        )
        results = measure_backends(candidates, texts or sample_passages(), clock=clock)
        choice = BackendChoice(pick(results), machine, embedder, tuple(results), time.time())
        remember(choice, path=path)
    log.warning("Embedding backend for this CPU: %s (%s)", choice.backend, choice.summary())
    return choice


def embedder_name(spec: str | None) -> str:
    """The key a choice is remembered under: the model's id, whatever the backend."""
    return embedder_id(spec)
