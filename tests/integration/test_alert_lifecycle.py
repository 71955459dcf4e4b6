"""Alert lifecycle, routing, grouping, escalation and silences on a real PostgreSQL, with the
notifier driven by a clock the test controls (hours pass in milliseconds)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from alerts.lifecycle import InvalidTransition
from alerts.model import AlertCandidate, Category
from alerts.notifier import Notifier
from alerts.routing import RoutingConfig
from alerts.store import AlertStore

ROUTING = RoutingConfig.from_dict(
    {
        "levels": ["mine", "county", "region", "province"],
        "rules": [
            {"category": "*", "min_severity": "blue", "levels": ["mine", "county"]},
            {"category": "*", "min_severity": "orange", "levels": ["region"]},
            {"category": "*", "min_severity": "red", "levels": ["province"]},
        ],
        "agencies": {"emission_exceedance": "ecology_environment", "slope_warning": "emergency_management"},
        "escalation_after": {"mine": "15m", "county": "30m", "region": "1h"},
        "grouping": {"group_wait": "30s", "group_interval": "5m", "repeat_interval": "4h", "reopen_within": "1h"},
    }
)
_events = itertools.count()


def candidate(
    fingerprint: str = "fp-a",
    severity: str = "yellow",
    mine: str = "GZ520201-0001",
    category: str = Category.EMISSION_EXCEEDANCE,
    station: str | None = "WW01",
) -> AlertCandidate:
    return AlertCandidate(
        fingerprint=fingerprint,
        category=category,
        severity=severity,
        mine_id=mine,
        station_id=station,
        region_code="520200",
        county_code="520201",
        title=f"{fingerprint} {severity}",
        summary="COD daily mean over its limit",
        details={"n": 1},
        occurred_at=datetime.now(UTC).isoformat(),
        event_id=f"event-{next(_events)}",
    )


class Alerts:
    """The store, called the way the worker and the API call it: one transaction per change."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def _run(self, method: str, *args: Any) -> Any:
        async with await psycopg.AsyncConnection.connect(self.url) as conn, conn.transaction():
            return await getattr(AlertStore(conn, ROUTING), method)(*args)

    def raise_(self, c: AlertCandidate) -> Any:
        return asyncio.run(self._run("raise_alert", c))

    def act(self, alert_id: int, action: str, actor: str, comment: str | None = None) -> dict[str, Any]:
        return asyncio.run(self._run("act", alert_id, action, actor, comment))

    def resolve_condition(self, fingerprint: str, comment: str) -> int | None:
        return asyncio.run(self._run("resolve_condition", fingerprint, comment))


@pytest.fixture
def alerts(fresh_db: str) -> Alerts:
    return Alerts(fresh_db)


@pytest.fixture
def conn(fresh_db: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(fresh_db, autocommit=True, row_factory=dict_row) as c:
        yield c


@pytest.fixture
def notifier(fresh_db: str) -> Iterator[Notifier]:
    with psycopg.connect(fresh_db, autocommit=True) as c:
        yield Notifier(c, ROUTING)


@pytest.fixture
def notifier_without_escalation(fresh_db: str) -> Iterator[Notifier]:
    with psycopg.connect(fresh_db, autocommit=True) as c:
        yield Notifier(c, replace(ROUTING, escalation_after={}))


def history(conn: psycopg.Connection, alert_id: int) -> list[tuple]:
    rows = conn.execute(
        "SELECT action, actor, from_status, to_status, severity, comment FROM alert_history"
        " WHERE alert_id = %s ORDER BY seq",
        (alert_id,),
    ).fetchall()
    return [tuple(r.values()) for r in rows]


def routes(conn: psycopg.Connection, alert_id: int) -> dict[str, str]:
    rows = conn.execute("SELECT target_id, reason FROM alert_routes WHERE alert_id = %s", (alert_id,)).fetchall()
    return {r["target_id"]: r["reason"] for r in rows}


def notifications(conn: psycopg.Connection) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT n.notification_id, n.target_id, n.status, n.alert_ids,"
        " array_agg(d.target ORDER BY d.target) AS deliveries"
        " FROM notifications n JOIN notification_deliveries d USING (notification_id)"
        " GROUP BY n.notification_id ORDER BY n.notification_id"
    ).fetchall()


def test_repeats_severity_acknowledge_resolve_reopen_and_history(alerts: Alerts, conn: psycopg.Connection) -> None:
    first = alerts.raise_(candidate())
    assert first.new_alert and first.absorbed
    again = alerts.raise_(candidate())
    assert (again.alert_id, again.new_alert, again.absorbed) == (first.alert_id, False, True)
    replay = candidate()
    alerts.raise_(replay)
    assert alerts.raise_(replay).absorbed is False  # the same event twice counts once
    alert_id = first.alert_id
    row = conn.execute("SELECT occurrences, severity FROM alerts WHERE alert_id = %s", (alert_id,)).fetchone()
    assert row == {"occurrences": 3, "severity": "yellow"}
    assert routes(conn, alert_id) == {"mine:GZ520201-0001": "rule", "county:520201:ecology_environment": "rule"}

    alerts.raise_(candidate(severity="red"))  # worse: the prefecture and the province are told too
    assert routes(conn, alert_id) == {
        "mine:GZ520201-0001": "rule",
        "county:520201:ecology_environment": "rule",
        "region:520200:ecology_environment": "severity",
        "province:520000:ecology_environment": "severity",
    }
    acked = alerts.act(alert_id, "acknowledge", "county:520201 ecology 王工", "on site at 10:00")
    assert acked["status"] == "acknowledged" and acked["acknowledged_by"] == "county:520201 ecology 王工"
    with pytest.raises(InvalidTransition, match="already acknowledged"):
        alerts.act(alert_id, "acknowledge", "someone", None)
    resolved = alerts.act(alert_id, "resolve", "county:520201 ecology 王工", "valve replaced, COD back to 60 mg/L")
    assert resolved["status"] == "resolved" and resolved["resolved_at"] is not None
    with pytest.raises(InvalidTransition, match="cannot be acknowledged"):
        alerts.act(alert_id, "acknowledge", "someone", None)

    recurred = alerts.raise_(candidate(severity="orange"))  # within reopen_within: the same alert again
    assert recurred.alert_id == alert_id and recurred.new_alert
    reopened = conn.execute("SELECT * FROM alerts WHERE alert_id = %s", (alert_id,)).fetchone()
    assert reopened["status"] == "firing" and reopened["reopened"] == 1 and reopened["severity"] == "orange"
    assert reopened["acknowledged_by"] is None and reopened["resolved_by"] is None
    assert alerts.resolve_condition("fp-a", "back within the limit") == alert_id
    assert alerts.resolve_condition("fp-a", "nothing open") is None

    assert history(conn, alert_id) == [
        ("fire", "minewatch", None, "firing", "yellow", "fp-a yellow"),
        ("severity", "minewatch", "firing", "firing", "red", "severity yellow → red"),
        ("acknowledge", "county:520201 ecology 王工", "firing", "acknowledged", "red", "on site at 10:00"),
        (
            "resolve",
            "county:520201 ecology 王工",
            "acknowledged",
            "resolved",
            "red",
            "valve replaced, COD back to 60 mg/L",
        ),
        ("reopen", "minewatch", "resolved", "firing", "orange", "the condition recurred"),
        ("resolve", "minewatch", "firing", "resolved", "orange", "back within the limit"),
    ]
    # Long after it resolved, the same condition is a new alert.
    conn.execute("UPDATE alerts SET resolved_at = now() - interval '2 hours' WHERE alert_id = %s", (alert_id,))
    later = alerts.raise_(candidate())
    assert later.new_alert and later.alert_id != alert_id
    with pytest.raises(InvalidTransition, match="only a resolved alert can be reopened"):
        alerts.act(later.alert_id, "reopen", "someone", "why")
    with pytest.raises(InvalidTransition, match=f"alert {later.alert_id} is open for the same condition"):
        alerts.act(alert_id, "reopen", "province 李", "the bureau doubts the fix")
    alerts.act(later.alert_id, "resolve", "county 王", "fixed")
    assert alerts.act(alert_id, "reopen", "province 李", "the bureau doubts the fix")["status"] == "firing"


def test_grouping_per_mine_and_category(
    alerts: Alerts, conn: psycopg.Connection, notifier_without_escalation: Notifier
) -> None:
    notifier = notifier_without_escalation
    t0 = datetime.now(UTC)
    a = alerts.raise_(candidate("fp-1")).alert_id
    b = alerts.raise_(candidate("fp-2", station="WW02")).alert_id
    slope = alerts.raise_(candidate("fp-s", category=Category.SLOPE, station=None)).alert_id
    assert notifier.step(t0 + timedelta(seconds=20)).notifications == []  # group_wait: companions may still come
    report = notifier.step(t0 + timedelta(seconds=31))
    sent = notifications(conn)
    assert len(report.notifications) == 4 == len(sent)  # (mine, county) × (emission, slope)
    by_target = {(n["target_id"], tuple(n["alert_ids"])) for n in sent}
    assert by_target == {
        ("mine:GZ520201-0001", (a, b)),
        ("county:520201:ecology_environment", (a, b)),
        ("mine:GZ520201-0001", (slope,)),
        ("county:520201:emergency_management", (slope,)),
    }
    assert {tuple(n["deliveries"]) for n in sent} == {
        ("minewatch/v1/mines/GZ520201-0001/alerts",),
        ("minewatch/v1/alerts/county/520201/ecology_environment",),
        ("minewatch/v1/alerts/county/520201/emergency_management",),
    }
    assert notifier.step(t0 + timedelta(seconds=40)).notifications == []  # nothing new: nothing sent

    c = alerts.raise_(candidate("fp-3", station="WW03")).alert_id  # a third joins the busy group
    assert notifier.step(t0 + timedelta(minutes=3)).notifications == []  # group_interval not over
    report = notifier.step(t0 + timedelta(seconds=31, minutes=5))
    assert len(report.notifications) == 2
    latest = notifications(conn)[-2:]
    assert {tuple(n["alert_ids"]) for n in latest} == {(a, b, c)}  # the whole group, as Alertmanager sends it

    alerts.resolve_condition("fp-1", "back within the limit")
    report = notifier.step(t0 + timedelta(seconds=31, minutes=10))
    assert len(report.notifications) == 2
    assert {tuple(n["alert_ids"]) for n in notifications(conn)[-2:]} == {(a, b, c)}  # a resolved, told once
    assert notifier.step(t0 + timedelta(minutes=16)).notifications == []

    # Resolved before anyone was told: nobody hears of it.
    quick = alerts.raise_(candidate("fp-q", mine="GZ520201-0002")).alert_id
    alerts.resolve_condition("fp-q", "a blip")
    assert notifier.step(t0 + timedelta(minutes=20)).notifications == []
    assert not any(quick in n["alert_ids"] for n in notifications(conn))

    # Still firing after repeat_interval: reminded, without a change.
    report = notifier.step(t0 + timedelta(hours=4, minutes=11))
    assert len(report.notifications) == 4
    assert {tuple(n["alert_ids"]) for n in notifications(conn)[-4:]} == {(b, c), (slope,)}


def test_escalation_climbs_until_someone_acknowledges(
    alerts: Alerts, conn: psycopg.Connection, notifier: Notifier
) -> None:
    acked = alerts.raise_(candidate("fp-acked")).alert_id
    ignored = alerts.raise_(candidate("fp-ignored", mine="GZ520201-0002")).alert_id
    t0 = datetime.now(UTC)
    assert len(notifier.step(t0 + timedelta(seconds=30)).notifications) == 4  # the mines and the county
    assert notifier.step(t0 + timedelta(minutes=30, seconds=29)).escalated == []
    report = notifier.step(t0 + timedelta(minutes=30, seconds=30))  # 30 min unacknowledged at the county
    assert sorted(report.escalated) == [(acked, "region"), (ignored, "region")]
    assert routes(conn, ignored)["region:520200:ecology_environment"] == "escalation"
    assert any(n["target_id"] == "region:520200:ecology_environment" for n in notifications(conn))
    alerts.act(acked, "acknowledge", "region:520200 ecology 张", "handled by the county")
    assert notifier.step(t0 + timedelta(hours=1, minutes=30)).escalated == []  # 1 h at the region not yet over
    report = notifier.step(t0 + timedelta(hours=1, minutes=31))
    assert report.escalated == [(ignored, "province")]  # the acknowledged alert stays where it is
    assert "province:520000:ecology_environment" not in routes(conn, acked)
    assert notifier.step(t0 + timedelta(hours=12)).escalated == []  # nowhere above the province
    steps = [h for h in history(conn, ignored) if h[0] == "escalate"]
    assert [s[5].split("escalated to ")[1] for s in steps] == [
        "region:520200:ecology_environment",
        "province:520000:ecology_environment",
    ]
    assert "not acknowledged within 0:30:00 at county level" in steps[0][5]


def test_silences_hold_notifications_until_they_end(
    alerts: Alerts, conn: psycopg.Connection, notifier_without_escalation: Notifier
) -> None:
    notifier = notifier_without_escalation
    t0 = datetime.now(UTC)
    conn.execute(
        "INSERT INTO silences (mine_id, station_id, starts_at, ends_at, reason, created_by)"
        " VALUES ('GZ520201-0001', 'WW01', %s, %s, 'calibration of the COD analyser', 'county:520201 王')",
        (t0 - timedelta(minutes=1), t0 + timedelta(hours=1)),
    )
    silenced = alerts.raise_(candidate("fp-silenced", station="WW01")).alert_id
    other = alerts.raise_(candidate("fp-other", station="WW02")).alert_id
    notifier.step(t0 + timedelta(minutes=1))
    assert {tuple(n["alert_ids"]) for n in notifications(conn)} == {(other,)}
    notifier.step(t0 + timedelta(hours=1, minutes=1))  # the silence is over and it still fires
    assert {tuple(n["alert_ids"]) for n in notifications(conn)[-2:]} == {(silenced, other)}


def test_two_notifiers_never_send_the_same_group_twice(alerts: Alerts, fresh_db: str, conn) -> None:
    for i in range(20):
        alerts.raise_(candidate(f"fp-{i}", mine=f"GZ520201-{i:04d}"))
    later = datetime.now(UTC) + timedelta(minutes=1)
    with psycopg.connect(fresh_db, autocommit=True) as c1, psycopg.connect(fresh_db, autocommit=True) as c2:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda c: Notifier(c, ROUTING).step(later), [c1, c2]))
            list(pool.map(lambda c: Notifier(c, ROUTING).step(later), [c1, c2]))
    sent = notifications(conn)
    assert len(sent) == 40 and len({(n["target_id"], tuple(n["alert_ids"])) for n in sent}) == 40
