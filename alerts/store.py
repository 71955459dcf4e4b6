"""Alerts in the database: raised, absorbed, escalated in severity, acknowledged, resolved, reopened.

Nothing about an alert lives only in memory. Each change is one transaction that writes the
alert, its history (who, when, from what, why) and its routes (who must be told), and marks the
routes *dirty*; the notifier (``alerts/notifier.py``) turns dirty routes into notifications and
deliveries, and ``NOTIFY alert_outbox`` wakes it. A restart at any point loses nothing.

The methods run inside a transaction the caller owns (the worker writes an alert in the same
transaction as the exceedance or finding that caused it).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from alerts.lifecycle import InvalidTransition, transition
from alerts.model import AlertCandidate
from alerts.routing import RoutingConfig

OUTBOX_CHANNEL = "alert_outbox"
SYSTEM_ACTOR = "minewatch"


class AlertSink(Protocol):
    """What the detectors' shells need: raise an alert, or resolve one whose condition cleared,
    inside the transaction that stores the finding."""

    async def raise_alert(self, conn: psycopg.AsyncConnection, candidate: AlertCandidate) -> None: ...

    async def resolve_alert(self, conn: psycopg.AsyncConnection, fingerprint: str, comment: str) -> None: ...


class RoutedAlerts:
    """The :class:`AlertSink` of one routing configuration (the API's and the CLI's)."""

    def __init__(self, routing: RoutingConfig) -> None:
        self.routing = routing

    async def raise_alert(self, conn: psycopg.AsyncConnection, candidate: AlertCandidate) -> None:
        await AlertStore(conn, self.routing).raise_alert(candidate)

    async def resolve_alert(self, conn: psycopg.AsyncConnection, fingerprint: str, comment: str) -> None:
        await AlertStore(conn, self.routing).resolve_condition(fingerprint, comment)


class AlertNotFound(LookupError):
    """No alert with this id (or none the caller may see)."""


@dataclass(frozen=True, slots=True)
class Raised:
    alert_id: int | None
    new_alert: bool  # a new alert was opened (or a resolved one reopened)
    absorbed: bool  # the event was new (False: a replay, nothing changed)


class AlertStore:
    def __init__(self, conn: psycopg.AsyncConnection, routing: RoutingConfig | None = None) -> None:
        self.conn = conn
        self.routing = routing or RoutingConfig.load()

    async def _one(self, query: str, params: tuple[Any, ...]) -> dict[str, Any] | None:
        async with self.conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query, params)
            return await cur.fetchone()

    async def raise_alert(self, candidate: AlertCandidate) -> Raised:
        """Open an alert for ``candidate``, or add the event to the alert of its condition.

        A condition already alerted counts another occurrence (a change of severity is told
        again, to every level the new severity reaches); one resolved within ``reopen_within``
        is reopened; otherwise a new alert is opened.
        """
        seen = await self._one("SELECT alert_id FROM alert_events WHERE event_id = %s", (candidate.event_id,))
        if seen is not None:
            return Raised(seen["alert_id"], new_alert=False, absorbed=False)
        occurred = datetime.fromisoformat(candidate.occurred_at)
        new_alert = False
        alert = await self._one(
            "SELECT * FROM alerts WHERE fingerprint = %s AND status <> 'resolved' FOR UPDATE", (candidate.fingerprint,)
        )
        if alert is None:
            alert = await self._one(
                "SELECT * FROM alerts WHERE fingerprint = %s AND status = 'resolved'"
                " AND resolved_at >= now() - make_interval(secs => %s) ORDER BY resolved_at DESC LIMIT 1 FOR UPDATE",
                (candidate.fingerprint, self.routing.reopen_within.total_seconds()),
            )
            if alert is not None:
                alert = await self._move(
                    alert,
                    "fire",
                    SYSTEM_ACTOR,
                    "the condition recurred",
                    severity=candidate.severity,
                    candidate=candidate,
                    occurred=occurred,
                )
                new_alert = True
        else:
            await self.conn.execute(
                "UPDATE alerts SET occurrences = occurrences + 1, last_seen = GREATEST(last_seen, %s),"
                " first_seen = LEAST(first_seen, %s) WHERE alert_id = %s",
                (occurred, occurred, alert["alert_id"]),
            )
            if candidate.severity != alert["severity"]:
                alert = await self._move(
                    alert,
                    "severity",
                    SYSTEM_ACTOR,
                    f"severity {alert['severity']} → {candidate.severity}",
                    severity=candidate.severity,
                    candidate=candidate,
                    occurred=occurred,
                )
        if alert is None:
            alert = await self._insert(candidate, occurred)
            new_alert = alert is not None
            if alert is None:  # another writer opened it a moment ago: absorb into theirs
                return await self.raise_alert(candidate)
        await self.conn.execute(
            "INSERT INTO alert_events (event_id, alert_id) VALUES (%s, %s)", (candidate.event_id, alert["alert_id"])
        )
        return Raised(alert["alert_id"], new_alert=new_alert, absorbed=True)

    async def _insert(self, c: AlertCandidate, occurred: datetime) -> dict[str, Any] | None:
        alert = await self._one(
            """
            INSERT INTO alerts (fingerprint, category, severity, mine_id, station_id, region_code,
                                county_code, title, summary, details, first_seen, last_seen)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (fingerprint) WHERE status <> 'resolved' DO NOTHING
            RETURNING *
            """,
            (
                c.fingerprint,
                c.category,
                c.severity,
                c.mine_id,
                c.station_id,
                c.region_code,
                c.county_code,
                c.title,
                c.summary,
                Jsonb(c.details),
                occurred,
                occurred,
            ),
        )
        if alert is not None:
            await self._history(alert["alert_id"], "fire", SYSTEM_ACTOR, None, "firing", c.severity, c.title)
            await self._route(alert)
        return alert

    async def resolve_condition(self, fingerprint: str, comment: str) -> int | None:
        """The condition cleared: resolve its open alert (if any) as minewatch. Returns its id."""
        alert = await self._one(
            "SELECT * FROM alerts WHERE fingerprint = %s AND status <> 'resolved' FOR UPDATE", (fingerprint,)
        )
        if alert is None:
            return None
        await self._move(alert, "resolve", SYSTEM_ACTOR, comment)
        return alert["alert_id"]

    async def act(self, alert_id: int, action: str, actor: str, comment: str | None) -> dict[str, Any]:
        """A person acknowledges, resolves or reopens an alert (raises ``InvalidTransition``)."""
        alert = await self._one("SELECT * FROM alerts WHERE alert_id = %s FOR UPDATE", (alert_id,))
        if alert is None:
            raise AlertNotFound(f"no alert {alert_id}")
        if action == "reopen" and alert["status"] == "resolved":
            newer = await self._one(
                "SELECT alert_id FROM alerts WHERE fingerprint = %s AND status <> 'resolved'", (alert["fingerprint"],)
            )
            if newer is not None:
                raise InvalidTransition(f"alert {newer['alert_id']} is open for the same condition; act on that one")
        return await self._move(alert, action, actor, comment)

    async def _move(
        self,
        alert: dict[str, Any],
        action: str,
        actor: str,
        comment: str | None,
        *,
        severity: str | None = None,
        candidate: AlertCandidate | None = None,
        occurred: datetime | None = None,
    ) -> dict[str, Any]:
        """Apply ``action`` (a lifecycle action, or ``severity``: the condition changed its
        severity) to ``alert``; write its history, route a new severity, mark routes dirty."""
        status = alert["status"] if action == "severity" else transition(alert["status"], action)
        severity = severity or alert["severity"]
        reopening = alert["status"] == "resolved" and status == "firing"
        updated = await self._one(
            """
            UPDATE alerts SET
                   status = %(status)s, severity = %(severity)s, updated_at = now(),
                   acknowledged_at = CASE WHEN %(ack)s THEN now() WHEN %(reopen)s THEN NULL ELSE acknowledged_at END,
                   acknowledged_by = CASE WHEN %(ack)s THEN %(actor)s WHEN %(reopen)s THEN NULL
                                          ELSE acknowledged_by END,
                   resolved_at = CASE WHEN %(resolve)s THEN now() WHEN %(reopen)s THEN NULL ELSE resolved_at END,
                   resolved_by = CASE WHEN %(resolve)s THEN %(actor)s WHEN %(reopen)s THEN NULL ELSE resolved_by END,
                   reopened = reopened + %(reopen)s::int,
                   occurrences = occurrences + (%(reopen)s AND %(fired)s)::int,
                   last_seen = GREATEST(last_seen, COALESCE(%(occurred)s, last_seen)),
                   title = COALESCE(%(title)s, title), summary = COALESCE(%(summary)s, summary),
                   details = COALESCE(%(details)s, details)
             WHERE alert_id = %(alert_id)s
            RETURNING *
            """,
            {
                "status": status,
                "severity": severity,
                "ack": action == "acknowledge",
                "resolve": action == "resolve",
                "reopen": reopening,
                "fired": action == "fire",
                "actor": actor,
                "occurred": occurred,
                "title": candidate.title if candidate else None,
                "summary": candidate.summary if candidate else None,
                "details": Jsonb(candidate.details) if candidate else None,
                "alert_id": alert["alert_id"],
            },
        )
        assert updated is not None
        recorded = "reopen" if reopening else action
        await self._history(alert["alert_id"], recorded, actor, alert["status"], status, severity, comment)
        if severity != alert["severity"]:
            await self._route(updated, reason="severity")
        await self.conn.execute("UPDATE alert_routes SET dirty = true WHERE alert_id = %s", (alert["alert_id"],))
        await self.conn.execute(f"NOTIFY {OUTBOX_CHANNEL}")
        return updated

    async def _history(
        self, alert_id: int, action: str, actor: str, before: str | None, after: str, severity: str, comment: str | None
    ) -> None:
        await self.conn.execute(
            "INSERT INTO alert_history (alert_id, action, actor, from_status, to_status, severity, comment)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (alert_id, action, actor, before, after, severity, comment),
        )

    async def _route(self, alert: dict[str, Any], reason: str = "rule") -> None:
        """Add the routes the alert's category and severity call for (existing routes stay)."""
        routes = self.routing.routes(
            alert["category"], alert["severity"], alert["mine_id"], alert["region_code"], alert["county_code"]
        )
        routes = [r if r.reason != "rule" else replace(r, reason=reason) for r in routes]
        async with self.conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO alert_routes (alert_id, target_id, level, area, agency, reason)"
                " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (alert_id, target_id) DO NOTHING",
                [(alert["alert_id"], r.target_id, r.level, r.area, r.agency, r.reason) for r in routes],
            )
        await self.conn.execute(f"NOTIFY {OUTBOX_CHANNEL}")
