"""``--model auto``: the best-rated pack that answers within the budget, timed once a machine.

The ranking and the remembering run on made-up packs and speeds through the same
function the service calls; the last test times the real default pack.
"""

from __future__ import annotations

import json

import pytest

from rag.answer.packs import PACKS, ModelPack
from rag.answer.pick import (
    ANSWER_TOKENS,
    JUDGE_TOKENS,
    PROMPT_TOKENS,
    Speed,
    measure_speed,
    pick_model,
)
from rag.config import Settings, machine_cores
from rag.packs import PackPart
from rag.service.models import Models


def pack(name: str, quality: float | None) -> ModelPack:
    return ModelPack(
        name=name,
        title=name,
        maker="team",
        licence="MIT",
        parts=(PackPart(f"{name}-part1", "1.0", "x.gguf"),),
        size=1,
        sha256=name.encode().hex().ljust(64, "0"),
        instruct=False,
        quality=quality,
    )


BIG, SMALL, UNRATED = pack("big", 0.8), pack("small", 0.6), pack("unrated", None)


def speed(name: str, answer_s: float) -> Speed:
    """A speed whose typical answer takes ``answer_s`` seconds: half reading, half writing."""
    return Speed(name, PROMPT_TOKENS / (answer_s / 2), ANSWER_TOKENS / (answer_s / 2), 0.5)


class Timer:
    """Times packs as the table says, and counts the timings."""

    def __init__(self, seconds: dict[str, float]) -> None:
        self.seconds = seconds
        self.timed: list[str] = []

    def __call__(self, p: ModelPack, threads: int) -> Speed:
        self.timed.append(p.name)
        return speed(p.name, self.seconds[p.name])


def choose(tmp_path, timer, budget=2.5, packs=(SMALL, BIG, UNRATED), installed=None):
    return pick_model(
        budget,
        2,
        packs=packs,
        installed=installed or (lambda p: True),
        measure=timer,
        path=tmp_path / "speeds.json",
        machine_id="test cpu",
    )


def test_the_best_rated_pack_that_fits_the_budget_is_picked(tmp_path):
    timer = Timer({"big": 2.0, "small": 1.0})
    picked = choose(tmp_path, timer)
    assert picked.pack == "big" and timer.timed == ["big"]  # the smaller one is not needed
    assert "fits the 2.5 s budget" in picked.reason


def test_a_pack_too_slow_here_gives_way_to_the_next(tmp_path):
    timer = Timer({"big": 9.0, "small": 1.5})
    picked = choose(tmp_path, timer)
    assert picked.pack == "small" and timer.timed == ["big", "small"]
    assert "big would take longer" in picked.reason
    assert [s.pack for s in picked.speeds] == ["big", "small"]


def test_when_none_fits_the_fastest_is_picked(tmp_path):
    picked = choose(tmp_path, Timer({"big": 9.0, "small": 4.0}))
    assert picked.pack == "small" and "the fastest (4.0 s)" in picked.reason


def test_speeds_are_timed_once_per_machine_and_remembered(tmp_path):
    choose(tmp_path, Timer({"big": 9.0, "small": 1.5}))
    again = Timer({"big": 1.0, "small": 1.0})  # would pick big if it timed anything
    assert choose(tmp_path, again).pack == "small" and again.timed == []
    saved = json.loads((tmp_path / "speeds.json").read_text())
    assert all(key.startswith("test cpu | ") for key in saved)
    # Another machine times again.
    other = pick_model(
        2.5,
        2,
        packs=(SMALL, BIG),
        installed=lambda p: True,
        measure=again,
        path=tmp_path / "speeds.json",
        machine_id="another cpu",
    )
    assert other.pack == "big" and again.timed == ["big"]


def test_measuring_again_replaces_a_timing_taken_on_a_busy_machine(tmp_path):
    busy = Timer({"big": 20.0, "small": 9.0})  # both too slow: the fastest, small
    assert choose(tmp_path, busy).pack == "small"
    quiet = Timer({"big": 2.0, "small": 1.0})
    assert choose(tmp_path, quiet).pack == "small" and quiet.timed == []  # remembered
    again = pick_model(
        2.5,
        2,
        packs=(SMALL, BIG, UNRATED),
        installed=lambda p: True,
        measure=quiet,
        path=tmp_path / "speeds.json",
        machine_id="test cpu",
        again=True,
    )
    assert again.pack == "big" and quiet.timed == ["big"]
    assert choose(tmp_path, Timer({})).pack == "big"  # the new timing is the one remembered


def test_unrated_or_missing_packs_are_never_picked_and_one_pack_needs_no_timing(tmp_path):
    timer = Timer({})
    picked = choose(tmp_path, timer, installed=lambda p: p.name != "big")
    assert picked.pack == "small" and timer.timed == []
    assert picked.reason == "the only evaluated pack installed"


def test_a_damaged_speeds_file_is_timed_again(tmp_path):
    (tmp_path / "speeds.json").write_text("{not json")
    timer = Timer({"big": 1.0, "small": 1.0})
    assert choose(tmp_path, timer).pack == "big" and timer.timed == ["big"]


def test_the_shipped_ranking_follows_the_measured_gold_figures():
    rated = sorted((p for p in PACKS.values() if p.quality), key=lambda p: -(p.quality or 0))
    assert [p.name for p in rated] == ["qwen2.5-coder-1.5b", "gemma-3-270m", "qwen2.5-coder-0.5b"]


def test_an_instruction_model_s_judging_counts_in_its_answer_time():
    base = Speed("m", 100.0, 10.0, 0.1)
    judging = Speed("m", 100.0, 10.0, 0.1, judges=True)
    assert base.answer_s == PROMPT_TOKENS / 100 + ANSWER_TOKENS / 10
    assert judging.answer_s == base.answer_s + JUDGE_TOKENS / 100


def test_auto_and_unset_resolve_to_the_pick_and_settings_check_the_budget(tmp_path, monkeypatch):
    # As in the test install, where the default pack is the only one.
    monkeypatch.setattr("rag.answer.pick.is_installed", lambda p: p.name == "gemma-3-270m")
    for model in (None, "auto", " AUTO "):
        models = Models(Settings(index_dir=tmp_path, model=model))
        assert models.model_name() == "gemma-3-270m"
    assert Models(Settings(index_dir=tmp_path, model="x.gguf")).model_name() == "x.gguf"
    with pytest.raises(Exception, match="answer_budget"):
        Settings(answer_budget=0)


@pytest.mark.model
def test_the_real_default_pack_is_timed():
    measured = measure_speed(PACKS["gemma-3-270m"], machine_cores())
    assert measured.prompt_tokens_per_s > 0 and measured.tokens_per_s > 0
    assert measured.answer_s > 0 and "gemma-3-270m reads" in measured.summary()
