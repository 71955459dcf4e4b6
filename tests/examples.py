"""The schema examples under schemas/examples/, loaded for tests."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from minewatch.paths import SCHEMAS
from minewatch.registry import Registry

EXAMPLES = SCHEMAS / "examples"
_STAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})")


@dataclass(frozen=True)
class Example:
    name: str
    path: Path
    topic: str
    as_of: datetime
    payload_bytes: bytes
    reason: str | None
    description: str

    @property
    def valid(self) -> bool:
        return self.reason is None

    @property
    def document(self) -> Any:
        return json.loads(self.payload_bytes)

    def shifted_to(self, now: datetime) -> bytes:
        """The payload with every timestamp moved by (now - as_of): the example judged 'now'."""
        delta = now - self.as_of
        text = self.payload_bytes.decode("utf-8")

        def move(match: re.Match[str]) -> str:
            stamp = match.group(0)
            try:
                moved = datetime.fromisoformat(stamp) + delta
            except ValueError:
                return stamp  # an impossible date stays impossible
            return (
                moved.isoformat(timespec="milliseconds").replace("+00:00", "Z")
                if stamp.endswith("Z")
                else moved.isoformat(timespec="milliseconds")
            )

        return _STAMP.sub(move, text).encode("utf-8")


def load_examples(kind: str) -> list[Example]:
    out = []
    for path in sorted((EXAMPLES / kind).glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        payload = (
            doc["payload_text"].encode("utf-8")
            if "payload_text" in doc
            else json.dumps(doc["payload"], ensure_ascii=False).encode("utf-8")
        )
        out.append(
            Example(
                path.stem,
                path,
                doc["topic"],
                datetime.fromisoformat(doc["as_of"]),
                payload,
                doc.get("reason"),
                doc["description"],
            )
        )
    return out


# A telemetry message with what the simulator never sends: an origin, readings with times of
# their own, an hourly value (not a sample), an int value, escapes in a unit.
ODD_TELEMETRY: dict[str, Any] = {
    "mine_id": "M1",
    "station_id": "S1",
    "ts": "2026-11-26T00:00:00Z",
    "origin": "hj212:MN=1\t2",
    "readings": [
        {"parameter": "x", "value": 1, "unit": "a\\b", "flag": "N"},
        {"parameter": "y", "value": None, "unit": "mg/L", "flag": "D", "ts": "2026-11-26T08:00:01.5+08:00"},
        {"parameter": "z", "value": 5.0, "unit": "mg/L", "flag": "N", "interval_s": 3600},
    ],
}


def example_registry() -> Registry:
    return Registry.load(EXAMPLES / "registry.yaml")


def shift(dt: datetime, seconds: float) -> datetime:
    return dt + timedelta(seconds=seconds)
