"""The minimum three rates (三率) that apply to a mine (data/green_mine/three_rates.yaml).

A rule applies when every condition it names matches the mine's facts (mining method, scale
from the registry; seam thickness, ore type and what the utilisation rate measures from its
report). The first matching rule gives the minimum; where none matches, the rate is not judged
and the reason says why, never a guessed number.

>>> book = RequirementBook.load()
>>> r = book.requirement("coal", "mining_recovery", {"mining_method": "underground", "seam_thickness": "thick"})
>>> r.minimum, r.confidence
(0.75, 'official')
>>> book.requirement("coal", "mining_recovery", {"mining_method": "underground"}).minimum is None   # thickness?
True
>>> book.requirement("bauxite", "processing_recovery", {}).why_unknown
'no verified minimum for bauxite (国土资源部公告2014年第31号 (figures not found))'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import yaml

from minewatch.paths import DATA

RATES = ("mining_recovery", "processing_recovery", "comprehensive_utilisation")
RATE_NAMES = {
    "mining_recovery": "开采回采率 mining recovery",
    "processing_recovery": "选矿回收率 processing recovery",
    "comprehensive_utilisation": "综合利用率 comprehensive utilisation",
}


@dataclass(frozen=True, slots=True)
class Requirement:
    mineral: str
    rate: str
    minimum: float | None
    confidence: str | None
    instrument: str
    conditions: Mapping[str, Any]  # what the matching rule required
    why_unknown: str | None = None


@dataclass(frozen=True)
class RequirementBook:
    minerals: dict[str, dict[str, Any]]

    @classmethod
    def load(cls) -> RequirementBook:
        return _load()

    def requirement(self, mineral: str, rate: str, facts: Mapping[str, Any]) -> Requirement:
        entry = self.minerals.get(mineral)
        if entry is None:
            return Requirement(mineral, rate, None, None, "", {}, f"minewatch has no requirement table for {mineral}")
        instrument = str(entry.get("instrument", ""))
        rules = entry.get(rate) or []
        if not rules:
            return Requirement(
                mineral, rate, None, None, instrument, {}, f"no verified minimum for {mineral} ({instrument})"
            )
        for rule in rules:
            when = rule.get("when") or {}
            if all(facts.get(key) == value for key, value in when.items()):
                return Requirement(mineral, rate, float(rule["min"]), str(rule["confidence"]), instrument, when)
        needed = sorted({key for rule in rules for key in (rule.get("when") or {})} - set(facts))
        detail = f"the report does not say its {', '.join(needed)}" if needed else "no rule matches its conditions"
        return Requirement(
            mineral, rate, None, None, instrument, {}, f"{RATE_NAMES[rate]} minimum for {mineral}: {detail}"
        )


@cache
def _load() -> RequirementBook:
    doc = yaml.safe_load((DATA / "green_mine" / "three_rates.yaml").read_text(encoding="utf-8"))
    return RequirementBook(doc["minerals"])
