"""Decide whether an inbound MQTT message is accepted, and if not, say why.

Pure: takes the topic, the raw payload, the registry and the clock; returns
:class:`Accepted` or :class:`Rejected`. The bridge and the tests call the same function.
Every rejection carries a machine-readable ``code`` and a ``reason`` written for the mine
operator who has to fix the device or its configuration.

>>> from minewatch.registry import Registry
>>> registry = Registry.from_dict({"version": 1, "mines": [{"id": "GZ520201-0001", "name": "demo",
...     "region_code": "520200", "county_code": "520201", "mineral": "coal",
...     "stations": [{"id": "WW01", "kind": "wastewater"}]}]})
>>> gate = Gatekeeper(registry)
>>> topic = "minewatch/v1/mines/GZ520201-0001/telemetry/wastewater/WW01"
>>> payload = (b'{"schema": "minewatch/telemetry-wastewater/v1", "message_id": "m-000000001",'
...     b' "mine_id": "GZ520201-0001", "station_id": "WW01", "ts": "2026-11-26T08:00:00+08:00",'
...     b' "readings": [{"parameter": "w01018", "value": 42.0, "unit": "mg/L", "flag": "N"}]}')
>>> now = 1_795_651_260.0     # 2026-11-26T08:01:00+08:00
>>> verdict = gate.check(topic, payload, now=now)
>>> verdict.accepted, verdict.reading_count
(True, 1)
>>> gate.check(topic.replace("0001", "0002"), payload, now=now).code
'unknown_mine'
>>> print(gate.check(topic, payload, now=now - 3600).reason)
timestamp 2026-11-26T08:00:00+08:00 is 3540 s ahead of minewatch's clock (tolerance 300 s); check the device clock (NTP)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import orjson

from minewatch.contracts import Contracts, load_contracts, schema_for
from minewatch.parameters import Parameter, load_parameters
from minewatch.registry import Registry
from minewatch.topics import TopicAddress, parse_topic

MAX_PAYLOAD_BYTES = 256 * 1024
DEFAULT_MAX_FUTURE_S = 300.0  # device clocks drift; beyond five minutes it is a wrong clock
DEFAULT_MAX_AGE_S = 400 * 86400.0  # back-fill of more than a year and a bit is refused

RejectCode = Literal[
    "topic_unknown",
    "payload_too_large",
    "not_json",
    "nul_character",
    "schema_violation",
    "unknown_mine",
    "mine_mismatch",
    "unknown_station",
    "station_mismatch",
    "station_kind_mismatch",
    "period_mismatch",
    "unit_invalid",
    "duplicate_reading",
    "value_not_finite",
    "timestamp_invalid",
    "timestamp_in_future",
    "timestamp_too_old",
]


@dataclass(frozen=True, slots=True)
class Accepted:
    address: TopicAddress
    message: dict[str, Any]
    reading_count: int = 0
    accepted: Literal[True] = True


@dataclass(frozen=True, slots=True)
class Rejected:
    code: RejectCode
    reason: str
    mine_id: str | None = None
    accepted: Literal[False] = field(default=False)


Verdict = Accepted | Rejected


class Gatekeeper:
    """Checks messages against the schemas, the registry and the clock."""

    def __init__(
        self,
        registry: Registry,
        *,
        contracts: Contracts | None = None,
        catalogue: dict[str, Parameter] | None = None,
        max_future_s: float = DEFAULT_MAX_FUTURE_S,
        max_age_s: float = DEFAULT_MAX_AGE_S,
    ) -> None:
        self.registry = registry
        self.contracts = contracts or load_contracts()
        self.catalogue = catalogue if catalogue is not None else load_parameters()
        self.max_future_s = max_future_s
        self.max_age_s = max_age_s
        self._units_refused: dict[tuple[str, str], bool] = {}  # (parameter, unit) -> refused

    def _unit_refused(self, code: str, unit: str) -> bool:
        key = (code, unit)
        refused = self._units_refused.get(key)
        if refused is None:
            parameter = self.catalogue.get(code)
            refused = parameter is not None and not parameter.accepts(unit)
            if len(self._units_refused) < 100_000:  # units sent are few; junk must not grow it
                self._units_refused[key] = refused
        return refused

    def check(self, topic: str, payload: bytes, *, now: float) -> Verdict:
        address = parse_topic(topic)
        if address is None:
            return Rejected(
                "topic_unknown",
                f"topic {topic!r} is not in minewatch's topic tree; publish telemetry on "
                "minewatch/v1/mines/{mine_id}/telemetry/{wastewater|emission|slope|rain}/{station_id}",
            )
        mine_id = address.mine_id
        if len(payload) > MAX_PAYLOAD_BYTES:
            return Rejected(
                "payload_too_large",
                f"payload is {len(payload)} bytes; the limit is {MAX_PAYLOAD_BYTES}: "
                "split the readings over several messages",
                mine_id,
            )
        if b"\\u0000" in payload:
            return Rejected(
                "nul_character",
                "payload contains a NUL character (\\u0000), which PostgreSQL cannot store; remove it",
                mine_id,
            )
        try:
            message = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            return Rejected("not_json", f"payload is not valid JSON ({exc})", mine_id)
        schema = schema_for(address.channel, address.kind, message.get("schema") if isinstance(message, dict) else None)
        if not self.contracts.is_valid(schema, message):
            error = self.contracts.first_error(schema, message)
            return Rejected("schema_violation", f"does not meet schema {schema}: {error}", mine_id)

        mine = self.registry.mine(mine_id)
        if mine is None:
            return Rejected(
                "unknown_mine",
                f"mine {mine_id} is not in the registry; a mine must be registered before it publishes",
                mine_id,
            )
        if message["mine_id"] != mine_id:
            return Rejected(
                "mine_mismatch",
                f"payload says mine {message['mine_id']} but was published under mine {mine_id}'s topic; "
                "a mine can only publish as itself",
                mine_id,
            )
        if address.channel == "reports":
            return self._check_report(address, message)

        station_id = message["station_id"]
        if station_id != address.station_id:
            return Rejected(
                "station_mismatch",
                f"payload says station {station_id} but the topic names station {address.station_id}",
                mine_id,
            )
        station = mine.station(station_id)
        if station is None:
            return Rejected(
                "unknown_station",
                f"station {station_id} is not registered for mine {mine_id}",
                mine_id,
            )
        if address.channel == "status":
            return self._parse_times(address, [message["ts"]], now, {}) or Accepted(address, message)
        if station.kind != address.kind:
            return Rejected(
                "station_kind_mismatch",
                f"station {station_id} is a {station.kind} station but published on the {address.kind} topic",
                mine_id,
            )
        return self._check_readings(address, message, now)

    def _check_readings(self, address: TopicAddress, message: dict[str, Any], now: float) -> Verdict:
        readings = message["readings"]
        message_ts = message["ts"]
        instants: dict[str, float] = {}
        verdict = self._parse_times(address, [message_ts], now, instants)
        if verdict is not None:
            return verdict
        seen: dict[tuple[str, float], int] = {}
        for i, reading in enumerate(readings):  # every bridged reading passes here: one pass, cached lookups
            code = reading["parameter"]
            unit = reading["unit"]
            if self._unit_refused(code, unit):
                parameter = self.catalogue[code]
                return Rejected(
                    "unit_invalid",
                    f"readings[{i}]: unit {unit!r} is not a unit of {code} ({parameter.name}); send {parameter.unit}",
                    address.mine_id,
                )
            value = reading["value"]
            if value is not None and not math.isfinite(value):
                return Rejected(
                    "value_not_finite",
                    f"readings[{i}]: value of {code} is not a finite number",
                    address.mine_id,
                )
            stamp = reading.get("ts", message_ts)
            t = instants.get(stamp)
            if t is None:
                verdict = self._parse_times(address, [stamp], now, instants)
                if verdict is not None:
                    return verdict
                t = instants[stamp]
            key = (code, t)
            if key in seen:
                return Rejected(
                    "duplicate_reading",
                    f"readings[{i}] repeats {code} at the same time as readings[{seen[key]}]",
                    address.mine_id,
                )
            seen[key] = i
        return Accepted(address, message, len(readings))

    def _check_report(self, address: TopicAddress, message: dict[str, Any]) -> Verdict:
        if message["period"]["kind"] != address.kind:
            return Rejected(
                "period_mismatch",
                f"report period is {message['period']['kind']} but it was published on the "
                f"{address.kind} reports topic",
                address.mine_id,
            )
        return Accepted(address, message)

    def _parse_times(
        self, address: TopicAddress, stamps: list[str], now: float, instants: dict[str, float]
    ) -> Rejected | None:
        """Parse every distinct timestamp into ``instants``; a rejection if one is unusable."""
        for stamp in stamps:
            if stamp in instants:
                continue
            try:
                t = datetime.fromisoformat(stamp).timestamp()
            except ValueError as exc:
                return Rejected("timestamp_invalid", f"timestamp {stamp} is not a real time ({exc})", address.mine_id)
            if t - now > self.max_future_s:
                return Rejected(
                    "timestamp_in_future",
                    f"timestamp {stamp} is {t - now:.0f} s ahead of minewatch's clock "
                    f"(tolerance {self.max_future_s:.0f} s); check the device clock (NTP)",
                    address.mine_id,
                )
            if now - t > self.max_age_s:
                return Rejected(
                    "timestamp_too_old",
                    f"timestamp {stamp} is {(now - t) / 86400:.0f} days old (limit "
                    f"{self.max_age_s / 86400:.0f} days); check the device clock or send recent data",
                    address.mine_id,
                )
            instants[stamp] = t
        return None
