"""What an alert is, independent of where it is stored or sent.

An alert is one *condition* at one mine: the same fingerprint while the alert is open is the
same alert (repeats raise its occurrence count, not new notifications). Severity uses the
four warning colours of Chinese early-warning practice, lowest first.

An emission exceedance is ``yellow``, and ``orange`` when its worst window is at least twice
the limit (超标倍数 >= 1). This is minewatch's default policy, configurable, not a rule from a
standard.

>>> severity_for_multiple(0.8), severity_for_multiple(1.5)
('yellow', 'orange')
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from processors.episodes import Episode
from processors.limits import Limit
from processors.windows import CST

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


def exceedance_fingerprint(mine_id: str, station_id: str, limit_id: str, reference: str) -> str:
    """One condition per (station, limit, reference state): its episodes share one alert while open."""
    return fingerprint(Category.EMISSION_EXCEEDANCE, mine_id, station_id, limit_id, reference)


def quality_fingerprint(mine_id: str, station_id: str, parameter: str | None, check: str) -> str:
    return fingerprint(Category.DATA_QUALITY, mine_id, station_id, parameter or "", check)


def slope_fingerprint(mine_id: str, slope_id: str) -> str:
    """One condition per slope: its level rising or falling changes the alert's severity."""
    return fingerprint(Category.SLOPE, mine_id, slope_id)


def severity_for_multiple(multiple: float, orange_from: float = 1.0) -> str:
    return "orange" if multiple >= orange_from else "yellow"


def exceedance_alert(
    e: Episode, limit: Limit, region_code: str, county_code: str | None, parameter_name: str
) -> AlertCandidate:
    """The alert of an exceedance episode: one per condition (mine, station, limit) while open."""
    peak = e.peak
    start, end = (datetime.fromtimestamp(t, CST) for t in (peak.window_start, peak.window_end))
    window = f"{start:%Y-%m-%d %H:%M}–{end:%H:%M} CST"
    basis = {"instantaneous": "instantaneous value", "hourly_mean": "hourly mean", "daily_mean": "daily mean"}[e.basis]
    reference = f" at {e.series.reference}" if e.series.reference else ""
    details: dict[str, Any] = {
        "exceedance_id": e.exceedance_id,
        "parameter": e.series.parameter,
        "reference": e.series.reference,
        "basis": e.basis,
        "window_start": datetime.fromtimestamp(peak.window_start, CST).isoformat(),
        "window_end": datetime.fromtimestamp(peak.window_end, CST).isoformat(),
        "value": peak.value,
        "unit": peak.unit,
        "limit_id": limit.limit_id,
        "limit_lower": limit.lower,
        "limit_upper": limit.upper,
        "multiple": peak.multiple,
        "valid": peak.n_valid,
        "required": peak.n_required,
        "citation": limit.citation,
        "averaging_clause": limit.basis_clause,
    }
    return AlertCandidate(
        fingerprint=exceedance_fingerprint(e.series.mine_id, e.series.station_id, limit.limit_id, e.series.reference),
        category=Category.EMISSION_EXCEEDANCE,
        severity=severity_for_multiple(peak.multiple or 0.0),
        mine_id=e.series.mine_id,
        station_id=e.series.station_id,
        region_code=region_code,
        county_code=county_code,
        title=f"{e.series.mine_id} {e.series.station_id}: {parameter_name} over its limit ({basis})",
        summary=(
            f"{parameter_name}{reference} {basis} {peak.value:.4g} {peak.unit} in {window} against "
            f"{limit.bound_text} ({limit.citation}); {peak.multiple:.2f} times over (超标倍数), from "
            f"{peak.n_valid} valid values (at least {peak.n_required} required)."
        ),
        details=details,
        occurred_at=datetime.fromtimestamp(peak.window_end, CST).isoformat(),
        event_id=f"exceedance:{e.exceedance_id}",
    )


QUALITY_SEVERITY = {"offline": "yellow"}  # every other data-quality finding is blue (注意)
QUALITY_TITLES = {
    "offline": "no data",
    "constant_value": "constant value (恒值)",
    "impossible_value": "impossible value",
    "out_of_range": "outside the measuring range",
    "sudden_jump": "sudden jump",
}


def quality_alert(
    kind: str,
    mine_id: str,
    station_id: str,
    parameter: str | None,
    detail: str,
    t: float,
    event_id: str,
    *,
    region_code: str,
    county_code: str | None,
    parameter_name: str | None,
) -> AlertCandidate:
    """The alert of a data-quality finding: one per (mine, station, parameter, check) while open."""
    subject = f"{parameter_name} ({parameter})" if parameter else "station"
    return AlertCandidate(
        fingerprint=quality_fingerprint(mine_id, station_id, parameter, kind),
        category=Category.DATA_QUALITY,
        severity=QUALITY_SEVERITY.get(kind, "blue"),
        mine_id=mine_id,
        station_id=station_id,
        region_code=region_code,
        county_code=county_code,
        title=f"{mine_id} {station_id}: {subject}: {QUALITY_TITLES.get(kind, kind)}",
        summary=f"{subject} at {datetime.fromtimestamp(t, CST).isoformat()}: {detail}.",
        details={"check": kind, "parameter": parameter, "detail": detail},
        occurred_at=datetime.fromtimestamp(t, CST).isoformat(),
        event_id=event_id,
    )


def slope_alert(
    mine_id: str,
    slope_id: str,
    level: str,
    reasons: tuple[str, ...],
    forecast: tuple[float, float, float] | None,
    points: dict[str, str],
    t: float,
    *,
    region_code: str,
    county_code: str | None,
) -> AlertCandidate:
    """The alert of a slope at a warning level: one per slope while open, its severity the
    slope's level, so every rise is told. ``forecast`` is (failure time, lower bound, upper bound)."""
    from processors.slope.levels import NAMES_CN

    when = datetime.fromtimestamp(t, CST).isoformat()
    text = f"slope {slope_id} at {level} ({NAMES_CN.get(level, level)}) since {when}"
    if forecast is not None:
        tf, low, high = (datetime.fromtimestamp(x, CST).strftime("%Y-%m-%d %H:%M") for x in forecast)
        text += f"; failure forecast {tf} CST (95 % interval {low} to {high}, inverse-velocity method)"
    reached = ", ".join(f"{p} {lv}" for p, lv in sorted(points.items()) if lv != "none")
    return AlertCandidate(
        fingerprint=slope_fingerprint(mine_id, slope_id),
        category=Category.SLOPE,
        severity=level,
        mine_id=mine_id,
        station_id=None,
        region_code=region_code,
        county_code=county_code,
        title=f"{mine_id} slope {slope_id}: {level} warning ({NAMES_CN.get(level, level)})",
        summary=f"{text}. Points: {reached or 'none'}. {' '.join(reasons)}".strip(),
        details={
            "slope_id": slope_id,
            "level": level,
            "points": points,
            "reasons": list(reasons),
            "forecast_failure": None if forecast is None else datetime.fromtimestamp(forecast[0], CST).isoformat(),
        },
        occurred_at=when,
        event_id=f"slope:{mine_id}:{slope_id}:{level}:{t:.0f}",
    )


def compliance_alert(
    check: str,
    mine_id: str,
    title: str,
    summary: str,
    *,
    severity: str,
    region_code: str,
    county_code: str | None,
    event_id: str,
    occurred_at: str,
    key: str = "",
    details: dict[str, Any] | None = None,
) -> AlertCandidate:
    """A green-mine compliance finding (a broken report chain, a delisting recommendation, ...):
    one alert per (mine, check, key) while open."""
    return AlertCandidate(
        fingerprint=fingerprint(Category.COMPLIANCE, mine_id, check, key),
        category=Category.COMPLIANCE,
        severity=severity,
        mine_id=mine_id,
        station_id=None,
        region_code=region_code,
        county_code=county_code,
        title=f"{mine_id}: {title}",
        summary=summary,
        details={"check": check, **(details or {})},
        occurred_at=occurred_at,
        event_id=event_id,
    )


def complaint_fingerprint(complaint_id: int) -> str:
    return fingerprint(Category.COMPLAINT, str(complaint_id))


def overdue_complaint_alert(
    complaint_id: int,
    mine_id: str,
    summary: str,
    respond_by: datetime,
    *,
    region_code: str,
    county_code: str | None,
) -> AlertCandidate:
    """A complaint the mine has not answered by its deadline: told to its county bureau, and
    escalated like any alert until someone acknowledges it; the mine's answer resolves it."""
    return AlertCandidate(
        fingerprint=complaint_fingerprint(complaint_id),
        category=Category.COMPLAINT,
        severity="yellow",
        mine_id=mine_id,
        station_id=None,
        region_code=region_code,
        county_code=county_code,
        title=f"{mine_id}: complaint {complaint_id} not answered by {respond_by.astimezone(CST):%Y-%m-%d %H:%M} CST",
        summary=summary,
        details={"complaint_id": complaint_id, "respond_by": respond_by.isoformat()},
        occurred_at=respond_by.isoformat(),
        event_id=f"complaint-overdue:{complaint_id}",
    )
