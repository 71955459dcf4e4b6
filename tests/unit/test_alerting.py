"""The pure parts of alerting: routing, escalation, grouping, lifecycle, signatures, formats."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts.formats import ALERTMANAGER_ZERO_TIME, Target, alertmanager_document, minewatch_document, render
from alerts.grouping import notification_due
from alerts.lifecycle import ACTIONS, STATUSES, InvalidTransition, transition
from alerts.model import Category
from alerts.routing import PLATFORM, SEVERITY_ORDER, RoutingConfig, duration
from alerts.signing import SIGNATURE, TIMESTAMP, sign, verify

CONFIG = RoutingConfig.load()
CATEGORIES = (
    Category.EMISSION_EXCEEDANCE,
    Category.DATA_QUALITY,
    Category.SLOPE,
    Category.COMPLIANCE,
    Category.COMPLAINT,
)
AGENCY = {
    Category.EMISSION_EXCEEDANCE: "ecology_environment",
    Category.DATA_QUALITY: "ecology_environment",
    Category.SLOPE: "emergency_management",
    Category.COMPLIANCE: "natural_resources",
    Category.COMPLAINT: "ecology_environment",
}
# The documented defaults: mine and county for everything, the prefecture from orange, the province at red.
LEVELS_FROM = {"mine": "blue", "county": "blue", "region": "orange", "province": "red"}


@pytest.mark.parametrize(
    ("category", "severity", "level"), list(itertools.product(CATEGORIES, SEVERITY_ORDER, LEVELS_FROM))
)
def test_routing_matrix(category: str, severity: str, level: str) -> None:
    routes = CONFIG.routes(category, severity, "GZ520201-0001", "520200", "520201")
    by_level = {r.level: r for r in routes}
    told = SEVERITY_ORDER.index(severity) >= SEVERITY_ORDER.index(LEVELS_FROM[level])
    assert (level in by_level) is told
    if told:
        route = by_level[level]
        expected_area = {"mine": "GZ520201-0001", "county": "520201", "region": "520200", "province": "520000"}
        assert route.area == expected_area[level]
        assert route.agency == ("" if level == "mine" else AGENCY[category])
        assert route.mqtt_topic == (
            "minewatch/v1/mines/GZ520201-0001/alerts"
            if level == "mine"
            else f"minewatch/v1/alerts/{level}/{expected_area[level]}/{AGENCY[category]}"
        )
    assert [r.level for r in routes] == sorted((r.level for r in routes), key=CONFIG.levels.index)
    assert len({r.target_id for r in routes}) == len(routes)


@pytest.mark.parametrize("severity", SEVERITY_ORDER)
def test_a_mine_without_county_answers_to_its_region_once(severity: str) -> None:
    routes = CONFIG.routes(Category.SLOPE, severity, "GZGUIAN-0001", "GUIAN", None)
    targets = [r.target_id for r in routes]
    assert targets[:2] == ["mine:GZGUIAN-0001", "region:GUIAN:emergency_management"]
    assert len(targets) == len(set(targets))
    assert ("province:520000:emergency_management" in targets) is (severity == "red")


def test_rules_per_category_and_platform_webhooks() -> None:
    config = RoutingConfig.from_dict(
        {
            "levels": ["mine", "county", "region", "province"],
            "rules": [
                {"category": "*", "min_severity": "blue", "levels": ["county"]},
                {"category": "slope_warning", "min_severity": "yellow", "levels": ["region"]},
            ],
            "agencies": {"slope_warning": "emergency_management"},
            "webhooks": {"county:520201:ecology_environment": [{"url": "http://x/", "format": "alertmanager"}]},
        }
    )
    assert [r.level for r in config.routes("slope_warning", "yellow", "M", "520200", "520201")] == ["county", "region"]
    assert [r.level for r in config.routes("slope_warning", "blue", "M", "520200", "520201")] == ["county"]
    assert [r.level for r in config.routes("emission_exceedance", "red", "M", "520200", "520201")] == ["county"]
    assert config.agency("unlisted_category") == "ecology_environment"
    with_platform = config.with_platform_webhooks(("http://platform/",), "SECRET_VAR")
    routes = with_platform.routes("compliance", "blue", "M", "520200", "520201")
    assert routes[-1].target_id == PLATFORM and routes[-1].mqtt_topic is None
    assert with_platform.webhooks_for(PLATFORM)[0].secret_env == "SECRET_VAR"
    assert with_platform.webhooks_for("county:520201:ecology_environment")[0].format == "alertmanager"
    assert config.with_platform_webhooks((), None) is config


def test_escalation_climbs_one_level_at_a_time_and_stops_at_the_province() -> None:
    after = {level: CONFIG.escalation_after[level].total_seconds() for level in ("mine", "county", "region")}
    assert after == {"mine": 900.0, "county": 1800.0, "region": 3600.0}
    for level, nxt in (("mine", "county"), ("county", "region"), ("region", "province")):
        told = 1000.0
        assert CONFIG.escalation(level, told, told + after[level] - 1) is None
        assert CONFIG.escalation(level, told, told + after[level]) == nxt
        assert CONFIG.escalation(level, None, told + 10 * after[level]) is None  # never told: nothing to escalate
    assert CONFIG.escalation("province", 0.0, 1e9) is None


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("5m", 300), ("4h", 14400), ("1d", 86400), ("1.5h", 5400)])
def test_durations(text: str, seconds: float) -> None:
    assert duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "5", "5 minutes", "-1m", "1w"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        duration(text)


WAIT, INTERVAL, REPEAT = timedelta(seconds=30), timedelta(minutes=5), timedelta(hours=4)


def _due(now: float, first_change: float | None, last_told: float | None, firing: bool = True) -> bool:
    return notification_due(
        now=now,
        first_change=first_change,
        last_told=last_told,
        firing=firing,
        group_wait=WAIT,
        group_interval=INTERVAL,
        repeat_interval=REPEAT,
    )


@given(
    change=st.floats(0, 1e6),
    told=st.one_of(st.none(), st.floats(0, 1e6)),
    dt=st.floats(0, 1e5),
)
def test_a_change_is_told_exactly_when_group_wait_and_group_interval_have_passed(
    change: float, told: float | None, dt: float
) -> None:
    due_at = max(change + 30, (told + 300) if told is not None else float("-inf"))
    now = change + dt
    assert _due(now, change, told) is (now >= due_at)


@given(told=st.one_of(st.none(), st.floats(0, 1e6)), dt=st.floats(0, 1e5), firing=st.booleans())
def test_without_changes_only_still_firing_groups_are_reminded_after_repeat_interval(
    told: float | None, dt: float, firing: bool
) -> None:
    base = told or 0.0
    assert _due(base + dt, None, told, firing) is (firing and told is not None and dt >= 4 * 3600)


@pytest.mark.parametrize(("status", "action"), list(itertools.product(STATUSES, ACTIONS)))
def test_every_lifecycle_transition(status: str, action: str) -> None:
    allowed = {
        ("firing", "fire"): "firing",
        ("acknowledged", "fire"): "acknowledged",
        ("resolved", "fire"): "firing",
        ("firing", "acknowledge"): "acknowledged",
        ("firing", "resolve"): "resolved",
        ("acknowledged", "resolve"): "resolved",
        ("resolved", "reopen"): "firing",
    }
    if (status, action) in allowed:
        assert transition(status, action) == allowed[(status, action)]
    else:
        with pytest.raises(InvalidTransition) as err:
            transition(status, action)
        assert str(err.value)  # a sentence a bureau can read


@given(body=st.binary(max_size=2000), secret=st.text(min_size=1, max_size=40), t=st.integers(1_600_000_000, 2**31))
def test_signatures_verify_and_any_change_breaks_them(body: bytes, secret: str, t: int) -> None:
    headers = sign(body, secret, timestamp=t)
    assert verify(body, headers, secret, now=t)
    assert verify(body, {k.lower(): v for k, v in headers.items()}, secret, now=t + 300)  # header case does not matter
    assert not verify(body + b" ", headers, secret, now=t)
    assert not verify(body, headers, secret + "x", now=t)
    assert not verify(body, headers, secret, now=t + 301)  # a replay after the window
    assert not verify(body, headers, secret, now=t - 301)  # a timestamp from the future
    assert not verify(body, {**headers, TIMESTAMP: str(t + 1)}, secret, now=t)  # timestamp is signed too
    assert not verify(body, {SIGNATURE: headers[SIGNATURE]}, secret, now=t)
    assert not verify(body, {**headers, TIMESTAMP: "soon"}, secret, now=t)


def _alert(alert_id: int, status: str = "firing", station: str | None = "WW01", severity: str = "yellow") -> dict:
    t = datetime(2026, 11, 26, 8, tzinfo=UTC)
    return {
        "alert_id": alert_id,
        "fingerprint": f"fp{alert_id}",
        "category": "emission_exceedance",
        "severity": severity,
        "status": status,
        "mine_id": "GZ520201-0001",
        "station_id": station,
        "region_code": "520200",
        "county_code": "520201",
        "title": f"alert {alert_id}",
        "summary": "COD daily mean over its limit",
        "first_seen": t,
        "last_seen": t,
        "occurrences": 2,
        "details": {"limit_id": "x"},
        "acknowledged_at": t if status == "acknowledged" else None,
        "acknowledged_by": "county:520201 王" if status == "acknowledged" else None,
        "resolved_at": t + timedelta(hours=1) if status == "resolved" else None,
        "resolved_by": "minewatch" if status == "resolved" else None,
    }


TARGET = Target("county:520201:ecology_environment", "county", "520201", "ecology_environment")


def test_alertmanager_format_has_every_field_receivers_read() -> None:
    alerts = [_alert(1), _alert(2, "acknowledged", station="WW02"), _alert(3, "resolved", severity="orange")]
    doc = alertmanager_document(9, TARGET, alerts, external_url="https://mw.example/")
    assert set(doc) >= {
        "version", "groupKey", "truncatedAlerts", "status", "receiver", "groupLabels", "commonLabels",
        "commonAnnotations", "externalURL", "alerts",
    }  # fmt: skip
    assert doc["version"] == "4" and doc["status"] == "firing" and doc["receiver"] == TARGET.target_id
    assert doc["externalURL"] == "https://mw.example"
    assert doc["commonLabels"] == {
        "alertname": "emission_exceedance",
        "category": "emission_exceedance",
        "mine_id": "GZ520201-0001",
        "region": "520200",
        "county": "520201",
    }
    assert doc["commonAnnotations"] == {"description": "COD daily mean over its limit"}
    by_id = {a["labels"]["minewatch_fingerprint"]: a for a in doc["alerts"]}
    assert [a["status"] for a in doc["alerts"]] == ["firing", "firing", "resolved"]
    assert by_id["fp2"]["annotations"]["acknowledged_by"] == "county:520201 王"
    assert by_id["fp1"]["endsAt"] == ALERTMANAGER_ZERO_TIME
    assert by_id["fp3"]["endsAt"] == "2026-11-26T09:00:00Z" and by_id["fp3"]["startsAt"] == "2026-11-26T08:00:00Z"
    assert by_id["fp3"]["generatorURL"] == "https://mw.example/v1/alerts/3"
    only_resolved = alertmanager_document(9, TARGET, [_alert(3, "resolved")])
    assert only_resolved["status"] == "resolved" and only_resolved["alerts"][0]["generatorURL"] == ""


def test_minewatch_format_carries_the_lifecycle() -> None:
    doc = minewatch_document(4, TARGET, [_alert(1), _alert(2, "acknowledged")])
    assert doc["format"] == "minewatch.notification/v1" and doc["notification_id"] == 4
    assert doc["target"] == {
        "id": TARGET.target_id,
        "level": "county",
        "area": "520201",
        "agency": "ecology_environment",
    }
    assert doc["group"] == {"mine_id": "GZ520201-0001", "category": "emission_exceedance"}
    assert doc["alerts"][1]["acknowledged_by"] == "county:520201 王"
    assert doc["alerts"][1]["acknowledged_at"] == "2026-11-26T08:00:00Z"
    assert render("minewatch", 4, TARGET, [_alert(1)]).startswith(b'{"format":"minewatch.notification/v1"')
    with pytest.raises(ValueError, match="unknown notification format"):
        render("xml", 4, TARGET, [_alert(1)])
