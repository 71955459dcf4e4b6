"""Reading a file of historical readings for ``minewatch audit``, and printing what it finds.

Input, one reading per line (JSON lines) in the schema's reading shape plus its station::

    {"station_id": "WW01", "ts": "2026-11-26T08:00:00+08:00",
     "parameter": "w01018", "value": 42.5, "unit": "mg/L", "flag": "N"}

or whole telemetry messages (the MQTT payloads), or CSV with the columns
``station_id,ts,parameter,value,unit,flag`` (an empty value is null).

Output: JSON lines, one per exceedance (``"type": "exceedance"``) and per data-quality finding
(``"type": "data_quality"``), optionally one per window verdict (``"type": "verdict"``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from processors.episodes import Episode
from processors.quality import QualityFinding
from processors.samples import Reading
from processors.windows import CST, Verdict


class AuditInputError(ValueError):
    """A line of the input cannot be read; the message names the line."""


def read_readings(path: Path, mine_id: str) -> list[Reading]:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".csv":
        return list(_csv_readings(text, mine_id))
    return list(_jsonl_readings(text, mine_id))


def _reading(mine_id: str, station: str, stamp: str, r: dict[str, Any], where: str) -> Reading:
    try:
        t = datetime.fromisoformat(stamp).timestamp()
    except (TypeError, ValueError) as exc:
        raise AuditInputError(f"{where}: timestamp {stamp!r} is not an ISO 8601 time with its offset") from exc
    if datetime.fromisoformat(stamp).tzinfo is None:
        raise AuditInputError(f"{where}: timestamp {stamp!r} has no offset (Beijing time is +08:00)")
    value = r.get("value")
    return Reading(
        mine_id,
        station,
        str(r["parameter"]),
        t,
        None if value in (None, "") else float(value),
        str(r.get("unit", "")),
        str(r.get("flag", "N")),
    )


def _jsonl_readings(text: str, mine_id: str) -> Iterator[Reading]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"line {number}"
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise AuditInputError(f"{where}: not JSON ({exc})") from exc
        if "readings" in doc:  # a whole telemetry message
            for r in doc["readings"]:
                yield _reading(mine_id, doc["station_id"], r.get("ts") or doc["ts"], r, where)
        else:
            yield _reading(mine_id, doc["station_id"], doc["ts"], doc, where)


def _csv_readings(text: str, mine_id: str) -> Iterator[Reading]:
    for number, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
        yield _reading(mine_id, row["station_id"], row["ts"], row, f"line {number}")


def _iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, CST).isoformat()


def verdict_json(v: Verdict) -> dict[str, Any]:
    return {
        "type": "verdict",
        "mine_id": v.series.mine_id,
        "station_id": v.series.station_id,
        "parameter": v.series.parameter,
        "reference": v.series.reference,
        "limit_id": v.limit_id,
        "basis": v.basis,
        "window_start": _iso(v.window_start),
        "window_end": _iso(v.window_end),
        "outcome": v.outcome,
        "value": v.value,
        "unit": v.unit,
        "valid": v.n_valid,
        "required": v.n_required,
        "multiple": v.multiple,
    }


def exceedance_json(e: Episode, citation: str, limit_text: str) -> dict[str, Any]:
    peak = e.peak
    return {
        "type": "exceedance",
        "exceedance_id": e.exceedance_id,
        "mine_id": e.series.mine_id,
        "station_id": e.series.station_id,
        "parameter": e.series.parameter,
        "reference": e.series.reference,
        "limit_id": e.limit_id,
        "basis": e.basis,
        "limit": limit_text,
        "citation": citation,
        "first_window_start": _iso(e.first_start),
        "last_window_end": _iso(e.last_end),
        "closed_at": _iso(e.closed_at),
        "status": "open" if e.is_open else "closed",
        "windows": e.windows,
        "peak": {
            "window_start": _iso(peak.window_start),
            "window_end": _iso(peak.window_end),
            "value": peak.value,
            "unit": peak.unit,
            "multiple": peak.multiple,
            "valid": peak.n_valid,
            "required": peak.n_required,
        },
    }


def finding_json(f: QualityFinding) -> dict[str, Any]:
    return {
        "type": "data_quality",
        "kind": f.finding.kind,
        "mine_id": f.mine_id,
        "station_id": f.station_id,
        "parameter": f.parameter,
        "t": _iso(f.finding.t),
        "detail": f.finding.detail,
        "value": f.finding.value,
        "cleared": f.finding.cleared,
    }
