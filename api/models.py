"""The bureau API's documents: what it accepts and returns (and what its OpenAPI document says).

Identifiers are constrained to the shapes minewatch gives them, and free text refuses NUL
characters, so nothing a caller sends can reach the database as anything but a valid value.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, Field

MINE_ID = r"^[A-Za-z0-9_-]{1,64}$"
STATION_ID = r"^[A-Za-z0-9_-]{1,64}$"
AREA_CODE = r"^[A-Za-z0-9]{1,12}$"
PARAMETER = r"^[A-Za-z0-9_.-]{1,32}$"
BIGINT = 2**63 - 1

AlertStatus = Literal["firing", "acknowledged", "resolved"]
Severity = Literal["blue", "yellow", "orange", "red"]
AlertCategory = Literal["emission_exceedance", "data_quality", "slope_warning", "compliance", "complaint"]
ExceedanceStatus = Literal["open", "closed", "withdrawn"]
Bucket = Literal["raw", "1m", "10m", "1h", "1d"]


def _no_nul(text: str) -> str:
    if "\x00" in text:
        raise ValueError("text may not contain NUL characters")
    return text


Text = Annotated[str, AfterValidator(_no_nul)]


def _iso_8601(value: Any) -> Any:
    # pydantic would also take a number of seconds since 1970, which the OpenAPI document
    # (format: date-time) does not promise; refuse it rather than guess the unit.
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or _NUMBER.fullmatch(value.strip()):
        raise ValueError("give a date and time in ISO 8601 with a UTC offset, e.g. 2026-11-26T08:00:00+08:00")
    return value


_NUMBER = re.compile(r"[+-]?\d+(\.\d*)?([eE][+-]?\d+)?")
Timestamp = Annotated[AwareDatetime, BeforeValidator(_iso_8601)]


class Problem(BaseModel):
    """An error, in a sentence the caller can act on."""

    detail: str


class Jurisdiction(BaseModel):
    province: str
    region: str
    county: str | None


class Alert(BaseModel):
    alert_id: int
    fingerprint: str
    category: str
    severity: str
    status: AlertStatus
    mine_id: str
    station_id: str | None
    jurisdiction: Jurisdiction
    title: str
    summary: str
    first_seen: datetime
    last_seen: datetime
    occurrences: int
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    details: dict[str, Any]


class AlertPage(BaseModel):
    items: list[Alert]
    next_cursor: int | None = Field(description="pass as `cursor` for the next page; null on the last page")


class RouteInfo(BaseModel):
    """Who was (or will be) told of the alert, why, and when."""

    target_id: str
    level: str
    area: str
    agency: str
    reason: str
    created_at: datetime
    first_notified_at: datetime | None
    notified_at: datetime | None
    notified_state: str | None


class DeliveryInfo(BaseModel):
    notification_id: int
    target_id: str
    channel: Literal["webhook", "mqtt"]
    destination: str = Field(description="the MQTT topic, or the webhook's scheme and host")
    format: str
    status: Literal["pending", "sent", "failed"]
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


class AlertDetail(Alert):
    routes: list[RouteInfo]
    deliveries: list[DeliveryInfo]


class HistoryEntry(BaseModel):
    seq: int
    at: datetime
    action: str
    actor: str
    from_status: str | None
    to_status: str
    severity: str
    comment: str | None


class Acknowledge(BaseModel):
    comment: Text | None = Field(default=None, max_length=2000)


class Resolve(BaseModel):
    comment: Text = Field(min_length=1, max_length=2000, description="why the alert is closed (required)")


class Reopen(BaseModel):
    comment: Text = Field(min_length=1, max_length=2000, description="why the alert is reopened (required)")


class ComplaintCreate(BaseModel):
    """A complaint about a mine that a bureau or the platform received (申诉回应)."""

    mine_id: str = Field(pattern=MINE_ID)
    complainant: Literal["resident", "organisation", "platform", "bureau"]
    channel: Text = Field(min_length=1, max_length=100, description="how it arrived, e.g. 12369 hotline, letter")
    summary: Text = Field(min_length=1, max_length=2000, description="what the complainant reports")
    received_at: Timestamp | None = Field(
        default=None, description="default: now; the response deadline counts from it"
    )


class Complaint(BaseModel):
    complaint_id: int
    mine_id: str
    complainant: str
    channel: str
    summary: str
    received_at: datetime
    respond_by: datetime
    filed_by: str
    status: Literal["open", "overdue", "answered"]
    response: str | None
    responded_at: datetime | None
    responded_by: str | None


class ComplaintAnswer(BaseModel):
    response: Text = Field(min_length=1, max_length=4000, description="the mine's answer to the complainant")


class ReportReceipt(BaseModel):
    report_id: str
    sha256: str = Field(description="the report's hash: the next report's previous_hash")
    stored: bool = Field(description="false when this exact report was already stored")
    chain_problem: str | None = Field(description="why the report does not follow the mine's previous one, if so")
    supersedes: str | None


class ReportSummary(BaseModel):
    report_id: str
    period_kind: str
    period_start: date
    period_end: date
    submitted_at: datetime
    received_at: datetime
    sha256: str
    previous_hash: str | None
    chain_problem: str | None
    supersedes: str | None
    superseded_by: str | None
    source: str


class EvaluationReason(BaseModel):
    indicator: str
    outcome: Literal["met", "not_met", "warning", "not_judged"]
    text: str


class EvaluationOut(BaseModel):
    mine_id: str
    period: str
    status: Literal["compliant", "at_risk", "non_compliant"]
    reasons: list[EvaluationReason]
    three_rates_met: bool | None
    renewal_eligible: bool | None
    evaluated_at: datetime | None


class RegistryEntry(BaseModel):
    at: datetime
    action: str
    from_state: str
    to_state: str
    actor: str
    evidence: str


class RegistryStatus(BaseModel):
    mine_id: str
    state: str
    history: list[RegistryEntry]


class RegistryMove(BaseModel):
    action: Literal["self_assess", "verify", "reject", "list_provincial", "list_national", "delist", "reapply"]
    evidence: Text = Field(min_length=1, max_length=2000, description="what the decision rests on")


class InspectionAssignment(BaseModel):
    mine_id: str
    region: str
    county: str | None
    inspectors: list[str]


class InspectionDraw(BaseModel):
    draw_id: int
    seed: str = Field(description="published: anyone with the registry and the seed can re-run the draw")
    requested: int
    region: str | None
    population: str
    candidates_digest: str
    strata: dict[str, int]
    excluded: list[str]
    drawn_at: datetime
    drawn_by: str
    assignments: list[InspectionAssignment]


class MineSummary(BaseModel):
    mine_id: str
    name: str
    region_code: str
    county_code: str | None
    mineral: str
    stations: int
    open_alerts: int
    worst_open_severity: Severity | None


class LatestReading(BaseModel):
    parameter: str
    ts: datetime
    value: float | None
    unit: str
    flag: str


class StationState(BaseModel):
    station_id: str
    kind: str
    name: str
    online: bool | None = Field(description="false while the station is reported offline; null if never heard")
    last_reading_at: datetime | None
    latest: list[LatestReading]


class SlopeState(BaseModel):
    slope_id: str
    level: str
    t: datetime
    forecast_failure: datetime | None


class MineStatus(BaseModel):
    mine_id: str
    name: str
    region_code: str
    county_code: str | None
    stations: list[StationState]
    open_alerts: list[Alert]
    open_exceedances: int
    slopes: list[SlopeState]


class ReadingPoint(BaseModel):
    t: datetime
    value: float | None = Field(description="the reading (raw) or the mean of valid readings in the bucket")
    min: float | None
    max: float | None
    n: int = Field(description="readings in the bucket (raw: 1)")
    flag: str | None = Field(description="HJ 212-2017 data flag (raw only; buckets average flag N only)")


class ReadingSeries(BaseModel):
    mine_id: str
    station_id: str
    parameter: str
    unit: str | None
    bucket: Bucket
    start: datetime
    end: datetime
    points: list[ReadingPoint]
    truncated: bool


class Exceedance(BaseModel):
    exceedance_id: str
    mine_id: str
    station_id: str
    parameter: str
    reference: str
    limit_id: str
    basis: str
    citation: str
    unit: str
    limit_lower: float | None
    limit_upper: float | None
    first_window_start: datetime
    last_window_end: datetime
    closed_at: datetime | None
    status: ExceedanceStatus
    windows: int
    peak_value: float
    peak_multiple: float


class ExceedancePage(BaseModel):
    items: list[Exceedance]
    next_cursor: str | None


class Silence(BaseModel):
    silence_id: int
    mine_id: str
    station_id: str | None
    category: str | None
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str
    created_at: datetime
    expired_by: str | None


class SilenceCreate(BaseModel):
    mine_id: str = Field(pattern=MINE_ID)
    station_id: str | None = Field(default=None, pattern=STATION_ID)
    category: AlertCategory | None = None
    starts_at: Timestamp | None = Field(default=None, description="default: now")
    ends_at: Timestamp
    reason: Text = Field(min_length=1, max_length=500)


class WhoAmI(BaseModel):
    name: str
    level: str
    area: str
    agency: str | None
    may_act: bool
    mines: int
