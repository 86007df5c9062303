"""``--model auto``: the best language-model pack that answers in time on this machine.

Which pack to run depends on the CPU: a model four times Gemma 3 270M's size reads a
prompt about five times slower, so on two cores only the smallest keeps an answer
within seconds, while a laptop with more cores can afford a larger one. So:

1. The installed packs with a measured quality (``ModelPack.quality``: what the
   team's evaluation gave, README "Choosing a model") are ranked best first.
2. Each, best first, is timed once on this machine: load it, read a fixed prompt of
   about ``PROBE_PROMPT_TOKENS`` tokens (news paragraphs shipped with newsrag), write
   ``PROBE_TOKENS`` tokens. Its answer time is predicted for a typical answer
   (``PROMPT_TOKENS`` read, ``ANSWER_TOKENS`` written, and for an instruction model
   ``JUDGE_TOKENS`` more read to judge it).
3. The first whose predicted answer fits the budget (``Settings.answer_budget``
   seconds) is picked; when none fits, the fastest measured. With one ranked pack
   installed (the test install, a fresh clone) it is picked without measuring.

Speeds are remembered in ``model-speeds.json`` in newsrag's cache folder, per
machine (CPU model and a hash of its flags), pack (its pinned sha256), thread count
and llama.cpp version, so each pack is measured once per machine.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rag.answer.packs import DEFAULT_PACK, PACKS, ModelPack
from rag.errors import ModelError
from rag.packs import cache_home, is_installed, read_json, write_json

log = logging.getLogger(__name__)

AUTO = "auto"
# A typical answer: four passages of 90 words with the instructions (about 600 tokens; the
# answers to the seed questions read 615), and a one-sentence answer with its marker.
PROMPT_TOKENS = 600
ANSWER_TOKENS = 30
# An instruction model also judges its answer: about this many more tokens read (a
# sentence pair per answer sentence).
JUDGE_TOKENS = 200
# The timing run: a prompt this long, then this many tokens written.
PROBE_PROMPT_TOKENS = 256
PROBE_TOKENS = 16
SPEEDS_FILE = "model-speeds.json"


@dataclass(frozen=True)
class Speed:
    """One pack's speed on this machine."""

    pack: str
    prompt_tokens_per_s: float
    tokens_per_s: float
    load_s: float
    judges: bool = False  # an instruction model, which also judges its answers

    @property
    def answer_s(self) -> float:
        """Seconds for a typical answer: its prompt read, its sentence written (and judged)."""
        read = PROMPT_TOKENS + (JUDGE_TOKENS if self.judges else 0)
        return read / self.prompt_tokens_per_s + ANSWER_TOKENS / self.tokens_per_s

    def summary(self) -> str:
        return (
            f"{self.pack} reads {self.prompt_tokens_per_s:.0f} prompt tokens/s, writes "
            f"{self.tokens_per_s:.1f} tokens/s: a typical answer in {self.answer_s:.1f} s"
        )


@dataclass(frozen=True)
class ModelPick:
    """The pack ``auto`` runs, why, and the speeds measured to decide."""

    pack: str
    reason: str
    speeds: tuple[Speed, ...] = ()


def ranked_packs(
    packs: Sequence[ModelPack] | None = None,
    installed: Callable[[ModelPack], bool] | None = None,
) -> list[ModelPack]:
    """Installed packs with a measured quality, best first (the default pack on ties)."""
    packs = list(PACKS.values()) if packs is None else list(packs)
    installed = installed or is_installed
    ranked = [p for p in packs if p.quality is not None and installed(p)]
    return sorted(ranked, key=lambda p: (-(p.quality or 0.0), p.name != DEFAULT_PACK))


def machine() -> str:
    from rag.embed.choose import machine_key

    return machine_key()


def speed_key(pack: ModelPack, threads: int, machine_id: str) -> str:
    try:
        from importlib.metadata import version

        llama = version("llama-cpp-python")
    except Exception:  # not installed: measuring would fail anyway
        llama = "?"
    return f"{machine_id} | {pack.sha256[:16]} | {threads} threads | llama-cpp-python {llama}"


def speeds_path() -> Path:
    return cache_home() / SPEEDS_FILE


def _read_all(path: Path) -> dict[str, Any]:
    data = read_json(path)
    return data if isinstance(data, dict) else {}


def remembered(key: str, path: Path) -> Speed | None:
    entry = _read_all(path).get(key)
    if not isinstance(entry, dict):
        return None
    try:
        speed = Speed(**entry)
    except TypeError:
        return None  # a damaged entry is measured again
    if speed.prompt_tokens_per_s <= 0 or speed.tokens_per_s <= 0:
        return None
    return speed


def remember(key: str, speed: Speed, path: Path) -> None:
    """Add ``speed`` to the file, written whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, {**_read_all(path), key: asdict(speed)})


def probe_prompt(count_tokens: Callable[[str], int]) -> str:
    """News paragraphs shipped with newsrag, about ``PROBE_PROMPT_TOKENS`` tokens of them."""
    from rag.embed.choose import sample_passages

    text = ""
    for paragraph in sample_passages(64):
        text = f"{text}\n\n{paragraph}".strip()
        if count_tokens(text) >= PROBE_PROMPT_TOKENS:
            break
    return text


def measure_speed(
    pack: ModelPack, threads: int, clock: Callable[[], float] = time.perf_counter
) -> Speed:
    """Load ``pack`` and time it reading the probe prompt and writing ``PROBE_TOKENS``."""
    from rag.answer.generate import LlamaCppGenerator

    started = clock()
    generator = LlamaCppGenerator(pack.name, threads=threads)
    generator.warm_up()
    load_s = clock() - started
    prompt = probe_prompt(generator.count_tokens)
    read = generator.count_prompt(prompt)
    started = clock()
    first: float | None = None
    written = 0
    for _ in generator.stream(prompt, max_tokens=PROBE_TOKENS, temperature=0.0):
        if first is None:
            first = clock()
        written += 1
    ended = clock()
    if first is None:  # wrote nothing: the prompt's time is all there is
        first = ended
    writing = max(ended - first, 1e-6)
    return Speed(
        pack.name,
        prompt_tokens_per_s=round(read / max(first - started, 1e-6), 1),
        tokens_per_s=round(max(written - 1, 1) / writing, 2),
        load_s=round(load_s, 2),
        judges=pack.instruct,
    )


def pick_model(
    budget_s: float,
    threads: int,
    *,
    packs: Sequence[ModelPack] | None = None,
    installed: Callable[[ModelPack], bool] | None = None,
    measure: Callable[[ModelPack, int], Speed] = measure_speed,
    path: Path | None = None,
    machine_id: str | None = None,
    again: bool = False,
) -> ModelPick:
    """The pack ``auto`` runs here (see the module's text). ``again`` times the packs anew
    instead of reading what was remembered (`rag models measure`: a first timing taken while
    the machine was busy would otherwise stand for good)."""
    ranked = ranked_packs(packs, installed)
    if not ranked:
        return ModelPick(DEFAULT_PACK, "no evaluated pack is installed: the default pack")
    if len(ranked) == 1:
        return ModelPick(ranked[0].name, "the only evaluated pack installed")
    path = path or speeds_path()
    machine_id = machine_id or machine()
    speeds: list[Speed] = []
    for pack in ranked:
        key = speed_key(pack, threads, machine_id)
        speed = None if again else remembered(key, path)
        if speed is None:
            log.warning("Timing %s once on this CPU for --model auto (a few seconds)", pack.name)
            try:
                speed = measure(pack, threads)
            except ModelError as err:
                log.warning("%s left out of --model auto: %s", pack.name, err)
                continue
            remember(key, speed, path)
        speeds.append(speed)
        if speed.answer_s <= budget_s:
            better = [p.name for p in ranked[: ranked.index(pack)]]
            why = (
                f"the best-rated installed pack whose typical answer ({speed.answer_s:.1f} s) "
                f"fits the {budget_s:g} s budget here"
            )
            if better:
                why += f"; {', '.join(better)} would take longer"
            return ModelPick(pack.name, why, tuple(speeds))
    if not speeds:
        return ModelPick(DEFAULT_PACK, "no installed pack could be timed: the default pack")
    fastest = _fastest(speeds)
    return ModelPick(
        fastest.pack,
        f"no installed pack answers within the {budget_s:g} s budget here: the fastest "
        f"({fastest.answer_s:.1f} s)",
        tuple(speeds),
    )


def _fastest(speeds: Sequence[Speed]) -> Speed:
    return min(speeds, key=lambda s: s.answer_s)
