"""From points to a slope (or dump, or tailings dam): count-based promotion and corroboration.

Within one monitoring item (one kind of sensor), the tailings code's rule (jianbiaoku 171245
§5.5.4, verified): 4 points at blue make the item yellow, 3 at yellow make it orange, 2 at
orange make it red. minewatch counts a point at a higher level as also "at" the lower ones.
Across items: 4 items at blue count as one item at yellow (the text is truncated after this).
The slope's level is the highest item level.

Corroboration (minewatch's rule, settings ``red_needs_points``): red needs at least that many
points at orange or above, in any item; a single point, however red, raises orange at most.
A noisy or faulty sensor therefore cannot raise red alone.

>>> settings = dict(promote={"blue": 4, "yellow": 3, "orange": 2}, items_blue_make_yellow=4, red_needs_points=2)
>>> rollup([Point("P1", "gnss", "blue")] * 4, **settings).level
'yellow'
>>> verdict = rollup([Point("P1", "gnss", "red"), Point("P2", "gnss", "none")], **settings)
>>> verdict.level, verdict.reasons[-1]
('orange', 'red at one point only (P1): not corroborated, held at orange')
>>> rollup([Point("P1", "gnss", "orange"), Point("C1", "crack", "orange")], **settings).level
'orange'
>>> rollup([Point("P1", "gnss", "orange"), Point("P2", "gnss", "orange")], **settings).level
'red'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from processors.slope.levels import higher, rank

_PROMOTION = {"blue": "yellow", "yellow": "orange", "orange": "red"}


@dataclass(frozen=True, slots=True)
class Point:
    point_id: str
    item: str
    level: str


@dataclass(frozen=True, slots=True)
class SlopeVerdict:
    level: str
    items: dict[str, str]
    reasons: tuple[str, ...]


def rollup(
    points: Sequence[Point], *, promote: dict[str, int], items_blue_make_yellow: int, red_needs_points: int
) -> SlopeVerdict:
    reasons: list[str] = []
    items: dict[str, str] = {}
    for item in sorted({p.item for p in points}):
        members = [p for p in points if p.item == item]
        level = "none"
        for p in members:
            level = higher(level, p.level)
        for at, needed in promote.items():
            count = sum(1 for p in members if rank(p.level) >= rank(at))
            if count >= needed and rank(_PROMOTION[at]) > rank(level):
                level = _PROMOTION[at]
                reasons.append(f"{item}: {count} points at {at} or above make the item {level}")
        items[item] = level
    slope = "none"
    for level in items.values():
        slope = higher(slope, level)
    blue_items = sum(1 for level in items.values() if rank(level) >= rank("blue"))
    if blue_items >= items_blue_make_yellow and rank(slope) < rank("yellow"):
        slope = "yellow"
        reasons.append(f"{blue_items} items at blue or above count as an item at yellow")
    if slope == "red":
        strong = [p for p in points if rank(p.level) >= rank("orange")]
        if len(strong) < red_needs_points:
            slope = "orange"
            who = ", ".join(p.point_id for p in strong) or "none"
            reasons.append(f"red at one point only ({who}): not corroborated, held at orange")
    return SlopeVerdict(slope, items, tuple(reasons))
