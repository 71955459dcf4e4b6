"""Alerts in the database, with their deliveries written in the same transaction (the outbox).

Nothing about an alert lives only in memory: the alert, the source events it absorbed and the
deliveries still owed are rows. The dispatcher (``alerts/dispatcher.py``) drains the outbox;
``NOTIFY alert_outbox`` wakes it without polling delay.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import psycopg
from psycopg.types.json import Jsonb

from alerts.model import AlertCandidate
from minewatch.regions import PROVINCE_CODE
from minewatch.topics import jurisdiction_alert_topic, mine_alert_topic

OUTBOX_CHANNEL = "alert_outbox"
ALERT_FORMAT = "minewatch.alert/v1"


@dataclass(frozen=True, slots=True)
class Raised:
    alert_id: int | None
    new_alert: bool  # a new alert was opened (its deliveries were queued)
    absorbed: bool  # the event was new (False: a replay, nothing changed)


def delivery_targets(candidate: AlertCandidate, webhook_urls: tuple[str, ...]) -> list[tuple[str, str]]:
    """Where an alert goes: every configured webhook, the mine's own topic and its jurisdiction's."""
    targets = [("webhook", url) for url in webhook_urls]
    targets.append(("mqtt", mine_alert_topic(candidate.mine_id)))
    if candidate.county_code:
        targets.append(("mqtt", jurisdiction_alert_topic("county", candidate.county_code)))
    else:
        targets.append(("mqtt", jurisdiction_alert_topic("region", candidate.region_code)))
    return targets


class AlertStore:
    def __init__(self, conn: psycopg.AsyncConnection) -> None:
        self.conn = conn

    async def raise_alert(self, candidate: AlertCandidate, targets: list[tuple[str, str]]) -> Raised:
        """Open an alert for ``candidate`` or add the event to the open alert with its fingerprint.

        Must run inside a transaction the caller owns.
        """
        seen = await self.conn.execute("SELECT alert_id FROM alert_events WHERE event_id = %s", (candidate.event_id,))
        row = await seen.fetchone()
        if row is not None:
            return Raised(row[0], new_alert=False, absorbed=False)
        occurred = datetime.fromisoformat(candidate.occurred_at)
        cur = await self.conn.execute(
            """
            INSERT INTO alerts (fingerprint, category, severity, mine_id, station_id, region_code,
                                county_code, title, summary, details, first_seen, last_seen)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (fingerprint) WHERE status <> 'resolved' DO UPDATE
               SET last_seen = GREATEST(alerts.last_seen, EXCLUDED.last_seen),
                   first_seen = LEAST(alerts.first_seen, EXCLUDED.first_seen),
                   occurrences = alerts.occurrences + 1
            RETURNING alert_id, (xmax = 0) AS inserted
            """,
            (
                candidate.fingerprint,
                candidate.category,
                candidate.severity,
                candidate.mine_id,
                candidate.station_id,
                candidate.region_code,
                candidate.county_code,
                candidate.title,
                candidate.summary,
                Jsonb(candidate.details),
                occurred,
                occurred,
            ),
        )
        alert_id, inserted = await cur.fetchone()  # type: ignore[misc]
        await self.conn.execute(
            "INSERT INTO alert_events (event_id, alert_id) VALUES (%s, %s)", (candidate.event_id, alert_id)
        )
        if inserted:
            async with self.conn.cursor() as c:
                await c.executemany(
                    "INSERT INTO alert_deliveries (alert_id, channel, target) VALUES (%s, %s, %s)"
                    " ON CONFLICT DO NOTHING",
                    [(alert_id, channel, target) for channel, target in targets],
                )
            await self.conn.execute(f"NOTIFY {OUTBOX_CHANNEL}")
        return Raised(alert_id, new_alert=bool(inserted), absorbed=True)


def alert_document(row: dict[str, Any]) -> dict[str, Any]:
    """The JSON body minewatch delivers for an alert row (format ``minewatch.alert/v1``)."""
    return {
        "format": ALERT_FORMAT,
        "alert_id": row["alert_id"],
        "fingerprint": row["fingerprint"],
        "category": row["category"],
        "severity": row["severity"],
        "status": row["status"],
        "mine_id": row["mine_id"],
        "station_id": row["station_id"],
        "jurisdiction": {
            "province": PROVINCE_CODE,
            "region": row["region_code"],
            "county": row["county_code"],
        },
        "title": row["title"],
        "summary": row["summary"],
        "first_seen": row["first_seen"].isoformat(),
        "last_seen": row["last_seen"].isoformat(),
        "occurrences": row["occurrences"],
        "details": row["details"],
    }


def encode_document(row: dict[str, Any]) -> bytes:
    return orjson.dumps(alert_document(row))
