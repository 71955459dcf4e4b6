"""What an alert is, independent of where it is stored or sent.

An alert is one *condition* at one mine: the same fingerprint while the alert is open is the
same alert (repeats raise its occurrence count, not new notifications). Severity uses the
four warning colours of Chinese early-warning practice, lowest first.

Emission exceedances found by the instantaneous screen are ``yellow``, and ``orange`` when
the reading is at least twice the limit (超标倍数 >= 1). This is minewatch's default policy,
configurable, not a rule from a standard.

>>> from processors.limits import Exceedance
>>> exc = Exceedance("e1", "GZ520201-0001", "WW01", "w01018", "2026-11-26T08:00:00+08:00", 180.0,
...     "mg/L", "gb8978_t4_post1998_grade1:w01018:其他排污单位", None, 100.0, 0.8,
...     "GB 8978-1996 表4 ...", "instantaneous")
>>> alert = alert_for_exceedance(exc, region_code="520200", county_code="520201", parameter_name="COD")
>>> alert.severity, alert.category
('yellow', 'emission_exceedance')
>>> from dataclasses import replace
>>> later = replace(exc, exceedance_id="e2", value=250.0, multiple=1.5)
>>> again = alert_for_exceedance(later, region_code="520200", county_code="520201", parameter_name="COD")
>>> again.fingerprint == alert.fingerprint, again.severity
(True, 'orange')
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from processors.limits import Exceedance

SEVERITIES = ("blue", "yellow", "orange", "red")


class Category:
    EMISSION_EXCEEDANCE = "emission_exceedance"
    DATA_QUALITY = "data_quality"
    SLOPE = "slope_warning"
    COMPLIANCE = "compliance"
    COMPLAINT = "complaint"


@dataclass(frozen=True, slots=True)
class AlertCandidate:
    """A condition that should be (or already is) an open alert; ``event_id`` makes it idempotent."""

    fingerprint: str
    category: str
    severity: str
    mine_id: str
    station_id: str | None
    region_code: str
    county_code: str | None
    title: str
    summary: str
    details: dict[str, Any] = field(default_factory=dict)
    occurred_at: str = ""
    event_id: str = ""


def fingerprint(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def severity_for_multiple(multiple: float, orange_from: float = 1.0) -> str:
    return "orange" if multiple >= orange_from else "yellow"


def alert_for_exceedance(
    exc: Exceedance, *, region_code: str, county_code: str | None, parameter_name: str
) -> AlertCandidate:
    bound = f"{exc.limit_upper:g}" if exc.limit_upper is not None else f">= {exc.limit_lower:g}"
    if exc.limit_lower is not None and exc.limit_upper is not None:
        bound = f"{exc.limit_lower:g}-{exc.limit_upper:g}"
    return AlertCandidate(
        fingerprint=fingerprint(Category.EMISSION_EXCEEDANCE, exc.mine_id, exc.station_id, exc.limit_id),
        category=Category.EMISSION_EXCEEDANCE,
        severity=severity_for_multiple(exc.multiple),
        mine_id=exc.mine_id,
        station_id=exc.station_id,
        region_code=region_code,
        county_code=county_code,
        title=f"{exc.mine_id} {exc.station_id}: {parameter_name} ({exc.parameter}) over its limit",
        summary=(
            f"{parameter_name} {exc.value:g} {exc.unit} at {exc.ts} against limit {bound} {exc.unit} "
            f"({exc.citation}); {exc.multiple:.2f} times over (超标倍数). Basis: {exc.basis}."
        ),
        details=exc.to_dict(),
        occurred_at=exc.ts,
        event_id=exc.exceedance_id,
    )
