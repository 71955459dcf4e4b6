"""Self-reports: the figures an evaluation needs, and the hash chain that makes tampering visible.

Every report a mine publishes carries ``previous_hash``, the SHA-256 of the bytes of that mine's
previous report as published (absent only on its first). Changing, removing or inserting a
report anywhere breaks every link after it. A correction is a new report that names the one it
``supersedes``; nothing is overwritten.

>>> first = b'{"report_id": "r1"}'
>>> second = ('{"report_id": "r2", "previous_hash": "%s"}' % report_hash(first)).encode()
>>> chain = [Link("r1", first, None), Link("r2", second, report_hash(first))]
>>> verify_chain(chain)
[]
>>> forged = [Link("r1", b'{"report_id": "r1", "figures": "better"}', None), chain[1]]
>>> [b.report_id for b in verify_chain(forged)]
['r2']
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any


def report_hash(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True, slots=True)
class Link:
    report_id: str
    raw: bytes  # the report as published
    previous_hash: str | None  # what it says the previous report's hash is


@dataclass(frozen=True, slots=True)
class ChainBreak:
    report_id: str
    reason: str


def check_link(previous_raw: bytes | None, previous_id: str | None, claimed: str | None) -> str | None:
    """Why a report's ``previous_hash`` does not follow the mine's previous report (None: it does)."""
    if previous_raw is None:
        return None if claimed is None else "it names a previous report, but the mine has none"
    if claimed is None:
        return f"it names no previous report, but {previous_id} came before it"
    actual = report_hash(previous_raw)
    if claimed != actual:
        return f"its previous_hash {claimed[:12]}… is not the hash of {previous_id} ({actual[:12]}…)"
    return None


def verify_chain(links: list[Link]) -> list[ChainBreak]:
    """Every link, in publication order, that does not follow the one before it."""
    breaks = []
    previous: Link | None = None
    for link in links:
        why = check_link(previous.raw if previous else None, previous.report_id if previous else None,
                         link.previous_hash)  # fmt: skip
        if why is not None:
            breaks.append(ChainBreak(link.report_id, why))
        previous = link
    return breaks


@dataclass(frozen=True, slots=True)
class Figures:
    """What an evaluation reads from a report, whichever schema version it came in."""

    rates: dict[str, float | None]  # mining_recovery, processing_recovery, comprehensive_utilisation
    greening_coverage: float | None  # greened / greenable area
    solid_waste_disposal: float | None  # disposed / generated (妥善处置率)
    land_reclaimed_share: float | None
    conditions: dict[str, Any]


def _share(part: Any, whole: Any) -> float | None:
    if part is None or whole is None:
        return None
    if whole == 0:
        return 1.0 if part == 0 else None
    return float(part) / float(whole)


def figures(report: dict[str, Any]) -> Figures:
    """The evaluated figures of a v1 or v2 report.

    >>> f = figures({"figures": {"mining_recovery_rate": 0.86, "greened_area_m2": 90, "greenable_area_m2": 100,
    ...                          "solid_waste_generated_t": 0, "solid_waste_disposed_t": 0},
    ...              "conditions": {"mining_method": "open_pit"}})
    >>> f.rates["mining_recovery"], f.greening_coverage, f.solid_waste_disposal, f.conditions
    (0.86, 0.9, 1.0, {'mining_method': 'open_pit'})
    """
    data = report.get("figures") or {}
    return Figures(
        rates={
            "mining_recovery": data.get("mining_recovery_rate"),
            "processing_recovery": data.get("processing_recovery_rate"),
            "comprehensive_utilisation": data.get("comprehensive_utilisation_rate"),
        },
        greening_coverage=_share(data.get("greened_area_m2"), data.get("greenable_area_m2")),
        solid_waste_disposal=_share(data.get("solid_waste_disposed_t"), data.get("solid_waste_generated_t")),
        land_reclaimed_share=_share(data.get("land_reclaimed_m2"), data.get("land_disturbed_m2")),
        conditions=dict(report.get("conditions") or {}),
    )
