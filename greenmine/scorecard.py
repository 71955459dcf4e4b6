"""The provincial scorecard: each region and the province against the policy's targets.

Per region and for the whole province:

* listed green mines (provincial or national registry) against the 2020 quota (annex table);
* the share of evaluated mines whose three rates meet their minimum, against 85 %
  (only mines with at least one verifiable minimum count; the rest are shown as not judged);
* the share of large and medium mines, against 70 %;
* mines eligible for licence renewal (greening and solid-waste disposal both at 100 %).

>>> rows = scorecard([
...     MineStanding("M1", "520200", "large", "listed_provincial", True, True),
...     MineStanding("M2", "520200", "small", "candidate", False, None),
...     MineStanding("M3", "520200", "medium", "verified", None, False)], {"520200": ("六盘水市", 106)})
>>> r = rows[0]
>>> (r.region, r.mines, r.listed, r.quota_2020, r.three_rates_met, r.three_rates_judged, r.large_medium)
('520200', 3, 1, 106, 1, 2, 2)
>>> rows[-1].region, rows[-1].three_rates_share, rows[-1].large_medium_share
('520000', 0.5, 0.6667)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from greenmine.registry_states import LISTED
from minewatch.regions import PROVINCE_CODE, PROVINCE_NAME


@dataclass(frozen=True, slots=True)
class MineStanding:
    mine_id: str
    region_code: str
    scale: str
    registry_state: str
    three_rates_met: bool | None  # latest evaluation; None: not judged or not evaluated
    renewal_eligible: bool | None


@dataclass(frozen=True, slots=True)
class ScorecardRow:
    region: str
    name: str
    mines: int
    listed: int
    quota_2020: int
    listed_of_quota: float | None
    three_rates_met: int
    three_rates_judged: int
    three_rates_share: float | None
    three_rates_target: float
    large_medium: int
    large_medium_share: float | None
    large_medium_target: float
    renewal_eligible: int


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _row(code: str, name: str, quota: int, standings: list[MineStanding], targets: tuple[float, float]) -> ScorecardRow:
    listed = sum(s.registry_state in LISTED for s in standings)
    judged = [s for s in standings if s.three_rates_met is not None]
    met = sum(bool(s.three_rates_met) for s in judged)
    large_medium = sum(s.scale in ("large", "medium") for s in standings)
    return ScorecardRow(
        region=code,
        name=name,
        mines=len(standings),
        listed=listed,
        quota_2020=quota,
        listed_of_quota=_share(listed, quota),
        three_rates_met=met,
        three_rates_judged=len(judged),
        three_rates_share=_share(met, len(judged)),
        three_rates_target=targets[0],
        large_medium=large_medium,
        large_medium_share=_share(large_medium, len(standings)),
        large_medium_target=targets[1],
        renewal_eligible=sum(s.renewal_eligible is True for s in standings),
    )


def scorecard(
    standings: Iterable[MineStanding],
    regions: Mapping[str, tuple[str, int]],
    three_rates_target: float = 0.85,
    large_medium_target: float = 0.70,
) -> list[ScorecardRow]:
    """One row per region (``regions``: code -> (name, 2020 quota)), then the province."""
    every = list(standings)
    targets = (three_rates_target, large_medium_target)
    rows = [
        _row(code, name, quota, [s for s in every if s.region_code == code], targets)
        for code, (name, quota) in sorted(regions.items())
    ]
    rows.append(_row(PROVINCE_CODE, PROVINCE_NAME, sum(q for _, q in regions.values()), every, targets))
    return rows
