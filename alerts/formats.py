"""What a notification looks like on the wire: minewatch's JSON, or Alertmanager's webhook.

A notification tells one target about one group (a mine and a category): every alert of the
group still open, and those resolved since the target was last told.

* ``minewatch`` (``minewatch.notification/v1``): the target, the group, and each alert with its
  lifecycle (who acknowledged or resolved it, when) and details (limit, citation, forecast).
* ``alertmanager``: Prometheus Alertmanager's webhook payload, version "4", so receivers people
  already run (for Alertmanager) work unchanged. An acknowledged alert is still ``firing`` there,
  with ``acknowledged_by`` among its annotations.

>>> from datetime import datetime, UTC
>>> alert = {"alert_id": 7, "fingerprint": "ab12", "category": "emission_exceedance", "severity": "orange",
...          "status": "firing", "mine_id": "GZ520201-0001", "station_id": "WW01", "region_code": "520200",
...          "county_code": "520201", "title": "COD over its limit", "summary": "COD daily mean 210 mg/L",
...          "first_seen": datetime(2026, 11, 26, tzinfo=UTC), "last_seen": datetime(2026, 11, 26, tzinfo=UTC),
...          "occurrences": 1, "details": {}, "acknowledged_at": None, "acknowledged_by": None,
...          "resolved_at": None, "resolved_by": None}
>>> target = Target("county:520201:ecology_environment", "county", "520201", "ecology_environment")
>>> doc = alertmanager_document(1, target, [alert], external_url="https://minewatch.example")
>>> doc["version"], doc["status"], doc["groupLabels"]
('4', 'firing', {'category': 'emission_exceedance', 'mine_id': 'GZ520201-0001'})
>>> doc["alerts"][0]["labels"]["severity"], doc["alerts"][0]["endsAt"]
('orange', '0001-01-01T00:00:00Z')
>>> minewatch_document(1, target, [alert])["alerts"][0]["jurisdiction"]
{'province': '520000', 'region': '520200', 'county': '520201'}
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from minewatch.regions import PROVINCE_CODE

NOTIFICATION_FORMAT = "minewatch.notification/v1"
FORMATS = ("minewatch", "alertmanager")
ALERTMANAGER_ZERO_TIME = "0001-01-01T00:00:00Z"  # Alertmanager's "no end yet"


@dataclass(frozen=True, slots=True)
class Target:
    target_id: str
    level: str
    area: str
    agency: str


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def alert_document(row: dict[str, Any]) -> dict[str, Any]:
    """One alert as minewatch shows it (in notifications and the bureau API)."""
    return {
        "alert_id": row["alert_id"],
        "fingerprint": row["fingerprint"],
        "category": row["category"],
        "severity": row["severity"],
        "status": row["status"],
        "mine_id": row["mine_id"],
        "station_id": row["station_id"],
        "jurisdiction": {"province": PROVINCE_CODE, "region": row["region_code"], "county": row["county_code"]},
        "title": row["title"],
        "summary": row["summary"],
        "first_seen": _iso(row["first_seen"]),
        "last_seen": _iso(row["last_seen"]),
        "occurrences": row["occurrences"],
        "acknowledged_at": _iso(row["acknowledged_at"]),
        "acknowledged_by": row["acknowledged_by"],
        "resolved_at": _iso(row["resolved_at"]),
        "resolved_by": row["resolved_by"],
        "details": row["details"],
    }


def _group_status(alerts: Sequence[dict[str, Any]]) -> str:
    return "firing" if any(a["status"] != "resolved" for a in alerts) else "resolved"


def minewatch_document(notification_id: int, target: Target, alerts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    first = alerts[0]
    return {
        "format": NOTIFICATION_FORMAT,
        "notification_id": notification_id,
        "status": _group_status(alerts),
        "target": {"id": target.target_id, "level": target.level, "area": target.area, "agency": target.agency},
        "group": {"mine_id": first["mine_id"], "category": first["category"]},
        "alerts": [alert_document(a) for a in alerts],
    }


def _labels(alert: dict[str, Any]) -> dict[str, str]:
    labels = {
        "alertname": alert["category"],
        "category": alert["category"],
        "severity": alert["severity"],
        "mine_id": alert["mine_id"],
        "region": alert["region_code"],
        "minewatch_fingerprint": alert["fingerprint"],
    }
    if alert["station_id"]:
        labels["station_id"] = alert["station_id"]
    if alert["county_code"]:
        labels["county"] = alert["county_code"]
    return labels


def _annotations(alert: dict[str, Any]) -> dict[str, str]:
    notes = {"summary": alert["title"], "description": alert["summary"], "minewatch_status": alert["status"]}
    if alert["acknowledged_by"]:
        notes["acknowledged_by"] = alert["acknowledged_by"]
    if alert["resolved_by"]:
        notes["resolved_by"] = alert["resolved_by"]
    return notes


def _common(maps: list[dict[str, str]]) -> dict[str, str]:
    common = dict(maps[0])
    for m in maps[1:]:
        common = {k: v for k, v in common.items() if m.get(k) == v}
    return common


def alertmanager_document(
    notification_id: int, target: Target, alerts: Sequence[dict[str, Any]], *, external_url: str = ""
) -> dict[str, Any]:
    """Alertmanager's webhook payload (version 4) for the group."""
    first = alerts[0]
    group_labels = {"category": first["category"], "mine_id": first["mine_id"]}
    labels = [_labels(a) for a in alerts]
    annotations = [_annotations(a) for a in alerts]
    base = external_url.rstrip("/")
    return {
        "version": "4",
        "groupKey": f'{{}}:{{category="{first["category"]}", mine_id="{first["mine_id"]}"}}',
        "truncatedAlerts": 0,
        "status": _group_status(alerts),
        "receiver": target.target_id,
        "groupLabels": group_labels,
        "commonLabels": _common(labels),
        "commonAnnotations": _common(annotations),
        "externalURL": base,
        "alerts": [
            {
                "status": "resolved" if a["status"] == "resolved" else "firing",
                "labels": label,
                "annotations": note,
                "startsAt": _iso(a["first_seen"]),
                "endsAt": _iso(a["resolved_at"]) or ALERTMANAGER_ZERO_TIME,
                "generatorURL": f"{base}/v1/alerts/{a['alert_id']}" if base else "",
                "fingerprint": a["fingerprint"],
            }
            for a, label, note in zip(alerts, labels, annotations, strict=True)
        ],
    }


def render(
    fmt: str, notification_id: int, target: Target, alerts: Sequence[dict[str, Any]], external_url: str = ""
) -> bytes:
    """The body of a delivery in format ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == "alertmanager":
        return orjson.dumps(alertmanager_document(notification_id, target, alerts, external_url=external_url))
    if fmt == "minewatch":
        return orjson.dumps(minewatch_document(notification_id, target, alerts))
    raise ValueError(f"unknown notification format {fmt!r}; use one of {', '.join(FORMATS)}")
