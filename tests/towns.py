"""Made-up local news, as many articles as a test needs, in two versions.

Each article is built from template sentences about an invented town; version
2 of an article adds a closing sentence, so indexing version 2 over version 1
replaces every article and re-embeds every passage.
"""

from __future__ import annotations

import random
from pathlib import Path

TOWNS = ["Portville", "Glenmore", "Ashby", "Lakewood", "Dunmore", "Kestrel Bay", "Millbrook"]
BODIES = ["council", "school board", "harbour office", "water authority", "library trust"]
THINGS = ["a new bridge", "longer opening hours", "a bus route", "solar panels", "a flood wall"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]


def town_article(i: int, version: int = 1) -> str:
    rng = random.Random(i)
    town, body = rng.choice(TOWNS), rng.choice(BODIES)
    thing, day = rng.choice(THINGS), rng.choice(DAYS)
    cost = rng.randint(2, 90)
    lines = [
        f"# {town} {body} backs {thing} (report {i})",
        "",
        f"The {body} in {town} voted on {day} to pay for {thing}, at a cost of "
        f"{cost} million dollars spread over {rng.randint(2, 9)} years.",
        "",
        f"Supporters said {thing} would serve about {rng.randint(3, 60) * 100} residents, "
        f"while critics on the {body} asked for a second estimate before work begins.",
        "",
        f"Work is due to start in {rng.choice(['spring', 'summer', 'autumn'])}, and the "
        f"{body} will publish the contracts on its website, officials said.",
    ]
    if version == 2:
        lines += ["", f"A public meeting on the plan is set for the {rng.randint(1, 28)}th."]
    return "\n".join(lines) + "\n"


def write_towns(folder: Path, n: int, version: int = 1) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / f"town-{i:04d}.md").write_text(town_article(i, version), encoding="utf-8")
    return folder
