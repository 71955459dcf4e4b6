"""The notifier: turns alert changes into notifications and deliveries, and escalates.

Runs in the dispatcher, one step at a time with the clock passed in (``step(now)``), so tests
drive it through hours in milliseconds. A step:

1. **escalates** every firing alert nobody acknowledged within ``escalation_after`` of its
   highest level so far being told: a route to the next level, and a history entry;
2. **notifies** each group (target, mine, category) that is due (``alerts/grouping.py``): one
   notification row holding the group's alerts, and its deliveries rendered in the target's
   formats (the MQTT topic of the target, its webhooks) in the same transaction (the outbox).

Silenced alerts are left out (their routes stay dirty, so they are told when the silence ends
if they still matter). An alert resolved before a target was ever told is not told at all.
Each group and each escalation is its own short transaction, taken with ``NOWAIT`` locks: a
row a worker is changing is left for the next step rather than waited for. One notifier runs at
a time (an advisory lock), however many dispatchers there are.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

import psycopg
from prometheus_client import Counter
from psycopg.rows import dict_row

from alerts.formats import Target, render
from alerts.grouping import notification_due
from alerts.routing import PLATFORM, Route, RoutingConfig
from alerts.store import OUTBOX_CHANNEL, SYSTEM_ACTOR

log = logging.getLogger(__name__)

NOTIFICATIONS = Counter("minewatch_notifications_total", "Notifications written to the outbox", ["level"])
ESCALATIONS = Counter("minewatch_alert_escalations_total", "Alerts escalated to a level", ["level"])

NOTIFIER_LOCK = 0x616C7274  # "alrt"

_SILENCED = """EXISTS (SELECT 1 FROM silences s
                        WHERE s.mine_id = a.mine_id
                          AND (s.station_id IS NULL OR s.station_id = a.station_id)
                          AND (s.category IS NULL OR s.category = a.category)
                          AND s.starts_at <= %(now)s AND s.ends_at > %(now)s)"""


@dataclass
class NotifyReport:
    escalated: list[tuple[int, str]] = field(default_factory=list)  # (alert_id, level)
    notifications: list[int] = field(default_factory=list)
    deliveries: int = 0


def _told_open(notified_state: str | None) -> bool:
    return notified_state is not None and not notified_state.startswith("resolved")


class Notifier:
    def __init__(self, conn: psycopg.Connection, routing: RoutingConfig, external_url: str = "") -> None:
        """``conn``: a connection of the notifier's own (autocommit; each unit of work is a transaction)."""
        self.conn = conn
        self.routing = routing
        self.external_url = external_url

    def step(self, now: datetime) -> NotifyReport:
        report = NotifyReport()
        if not self.conn.execute("SELECT pg_try_advisory_lock(%s)", (NOTIFIER_LOCK,)).fetchone()[0]:  # type: ignore[index]
            return report
        try:
            self._escalate(now, report)
            self._notify(now, report)
        finally:
            self.conn.execute("SELECT pg_advisory_unlock(%s)", (NOTIFIER_LOCK,))
        return report

    # -- escalation ---------------------------------------------------------------------------

    def _escalate(self, now: datetime, report: NotifyReport) -> None:
        levels = self.routing.levels
        rows = self.conn.execute(
            "SELECT a.alert_id, r.level, r.first_notified_at FROM alerts a JOIN alert_routes r USING (alert_id)"
            " WHERE a.status = 'firing' AND r.level <> %s",
            (PLATFORM,),
        ).fetchall()
        top: dict[int, tuple[int, datetime | None]] = {}
        for alert_id, level, told in rows:
            rank = levels.index(level)
            if alert_id not in top or rank > top[alert_id][0]:
                top[alert_id] = (rank, told)
        for alert_id, (rank, told) in top.items():
            level = levels[rank]
            to = self.routing.escalation(level, told.timestamp() if told else None, now.timestamp())
            if to is not None and self._escalate_one(alert_id, level, to, now):
                report.escalated.append((alert_id, to))
                ESCALATIONS.labels(to).inc()

    def _escalate_one(self, alert_id: int, level: str, to: str, now: datetime) -> bool:
        try:
            with self.conn.transaction(), self.conn.cursor(row_factory=dict_row) as cur:
                alert = cur.execute(
                    "SELECT * FROM alerts WHERE alert_id = %s AND status = 'firing' FOR UPDATE NOWAIT", (alert_id,)
                ).fetchone()
                if alert is None:
                    return False
                route = self.routing.route_at(
                    to, alert["mine_id"], alert["region_code"], alert["county_code"], alert["category"], "escalation"
                )
                added = cur.execute(
                    "INSERT INTO alert_routes (alert_id, target_id, level, area, agency, reason, created_at)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (alert_id, target_id) DO NOTHING",
                    (alert_id, route.target_id, route.level, route.area, route.agency, route.reason, now),
                ).rowcount
                if not added:
                    return False
                cur.execute(
                    "INSERT INTO alert_history (alert_id, at, action, actor, from_status, to_status, severity, comment)"
                    " VALUES (%s, %s, 'escalate', %s, 'firing', 'firing', %s, %s)",
                    (
                        alert_id,
                        now,
                        SYSTEM_ACTOR,
                        alert["severity"],
                        f"not acknowledged within {self.routing.escalation_after[level]} at {level} level;"
                        f" escalated to {route.target_id}",
                    ),
                )
                cur.execute(f"NOTIFY {OUTBOX_CHANNEL}")
                return True
        except psycopg.errors.LockNotAvailable:
            return False

    # -- notification ---------------------------------------------------------------------------

    def _notify(self, now: datetime, report: NotifyReport) -> None:
        groups = self.conn.execute(
            f"""
            SELECT r.target_id, a.mine_id, a.category,
                   min(a.updated_at) FILTER (WHERE r.dirty) AS first_change,
                   bool_or(a.status <> 'resolved') AS firing,
                   g.last_notified_at
              FROM alert_routes r
              JOIN alerts a USING (alert_id)
              LEFT JOIN alert_groups g ON g.target_id = r.target_id AND g.mine_id = a.mine_id
                                      AND g.category = a.category
             WHERE (r.dirty OR a.status <> 'resolved') AND NOT {_SILENCED}
             GROUP BY r.target_id, a.mine_id, a.category, g.last_notified_at
            """,
            {"now": now},
        ).fetchall()
        for target_id, mine_id, category, first_change, firing, last_told in groups:
            due = notification_due(
                now=now.timestamp(),
                first_change=first_change.timestamp() if first_change else None,
                last_told=last_told.timestamp() if last_told else None,
                firing=firing,
                group_wait=self.routing.group_wait,
                group_interval=self.routing.group_interval,
                repeat_interval=self.routing.repeat_interval,
            )
            if due:
                try:
                    self._notify_group(target_id, mine_id, category, now, report)
                except psycopg.errors.LockNotAvailable:
                    continue  # a worker is changing one of its alerts: next step

    def _notify_group(self, target_id: str, mine_id: str, category: str, now: datetime, report: NotifyReport) -> None:
        with self.conn.transaction(), self.conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(
                f"""
                SELECT a.*, r.level, r.area, r.agency, r.dirty, r.notified_state
                  FROM alert_routes r JOIN alerts a USING (alert_id)
                 WHERE r.target_id = %(target)s AND a.mine_id = %(mine)s AND a.category = %(category)s
                   AND (r.dirty OR a.status <> 'resolved') AND NOT {_SILENCED}
                 ORDER BY a.alert_id
                   FOR UPDATE OF r NOWAIT FOR SHARE OF a NOWAIT
                """,
                {"target": target_id, "mine": mine_id, "category": category, "now": now},
            ).fetchall()
            # A resolved alert this target never heard of as open is not news to it.
            never_told = [r for r in rows if r["status"] == "resolved" and not _told_open(r["notified_state"])]
            told = [r for r in rows if r not in never_told]
            if never_told:
                cur.execute(
                    "UPDATE alert_routes SET dirty = false, notified_state = 'resolved:' || a.severity FROM alerts a"
                    " WHERE alert_routes.alert_id = a.alert_id AND alert_routes.target_id = %s"
                    " AND alert_routes.alert_id = ANY(%s)",
                    (target_id, [r["alert_id"] for r in never_told]),
                )
            if not told:
                return
            first = told[0]
            target = Target(target_id, first["level"], first["area"], first["agency"])
            status = "firing" if any(r["status"] != "resolved" for r in told) else "resolved"
            notification_id = cur.execute(
                "INSERT INTO notifications (target_id, mine_id, category, status, alert_ids, created_at)"
                " VALUES (%s, %s, %s, %s, %s, %s) RETURNING notification_id",
                (target_id, mine_id, category, status, [r["alert_id"] for r in told], now),
            ).fetchone()["notification_id"]  # type: ignore[index]
            deliveries = []
            topic = Route(first["level"], first["area"], first["agency"]).mqtt_topic
            if topic is not None:
                deliveries.append(("mqtt", topic, "minewatch", None))
            for hook in self.routing.webhooks_for(target_id):
                deliveries.append(("webhook", hook.url, hook.format, hook.secret_env))
            cur.executemany(
                "INSERT INTO notification_deliveries (notification_id, channel, target, format, secret_env, body)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                [
                    (
                        notification_id,
                        channel,
                        where,
                        fmt,
                        secret_env,
                        render(fmt, notification_id, target, told, self.external_url),
                    )
                    for channel, where, fmt, secret_env in deliveries
                ],
            )
            cur.execute(
                "UPDATE alert_routes SET dirty = false, notified_state = a.status || ':' || a.severity,"
                " notified_at = %s, first_notified_at = COALESCE(first_notified_at, %s) FROM alerts a"
                " WHERE alert_routes.alert_id = a.alert_id AND alert_routes.target_id = %s"
                " AND alert_routes.alert_id = ANY(%s)",
                (now, now, target_id, [r["alert_id"] for r in told]),
            )
            cur.execute(
                "INSERT INTO alert_groups (target_id, mine_id, category, last_notified_at) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (target_id, mine_id, category)"
                " DO UPDATE SET last_notified_at = EXCLUDED.last_notified_at",
                (target_id, mine_id, category, now),
            )
            cur.execute(f"NOTIFY {OUTBOX_CHANNEL}")
            report.notifications.append(notification_id)
            NOTIFICATIONS.labels(first["level"]).inc()
            report.deliveries += len(deliveries)
