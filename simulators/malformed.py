"""Malformed input, generated: what broken firmware, a buggy integration or an attacker sends.

Two seeded corpora, each case labelled with the rejection code minewatch must give it, so a
test can check that every bad message is refused for the right reason and dead-lettered:

* :func:`mqtt_corpus`: JSON telemetry gone wrong in every way we know of: wrong types,
  missing fields, NaN and Infinity, numbers no double can hold, deep nesting, oversized
  payloads, invalid UTF-8, NUL and control characters, truncation, timestamps far in the past
  and the future or on days that do not exist, the wrong mine or station in the payload, unknown
  mines and stations, wrong units, repeated readings, topics outside the tree;
* :func:`hj212_corpus`: HJ 212 frames gone wrong: bad and foreign CRCs, truncation, line noise,
  oversized frames, segments that are not packets, unknown devices, wrong passwords, data times
  that are not times or are far in the future or the past.

Two faults are tolerated by design and so are not in the corpus: a frame whose length field is
wrong but whose CRC verifies is read by its content (firmware that miscounts the length), and a
value that is not a number is stored as null with flag D, beside the packet's good values.

:func:`good_mqtt` and :func:`good_hj212` make the valid messages a test interleaves with them.

>>> from simulators.fleet import generate_fleet
>>> registry = generate_fleet(3, seed=5)
>>> cases = mqtt_corpus(registry, now=1_795_651_260.0, count=200, seed=1)
>>> len(cases), len({c.payload for c in cases}) == len(cases)
(200, True)
>>> sorted({c.family for c in cases})[:4]
['control_character', 'deep_nesting', 'invalid_utf8', 'missing_field']
"""

from __future__ import annotations

import copy
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from hj212 import encode
from minewatch.registry import Registry, Station
from minewatch.topics import telemetry_topic
from simulators.fleet import simulated_password
from simulators.telemetry import BASELINES, beijing_iso, telemetry_payload

Message = dict[str, Any]


@dataclass(frozen=True, slots=True)
class BadInput:
    """One malformed message and the rejection code it must get."""

    family: str  # what is wrong with it, e.g. "wrong_type"
    topic: str  # the MQTT topic ("" for an HJ 212 frame)
    payload: bytes
    expected: tuple[str, ...]  # the reject codes it may get (ingest.validation.RejectCode, hj212_* codes)


@dataclass(frozen=True, slots=True)
class GoodMessage:
    topic: str
    payload: bytes
    keys: tuple[tuple[str, str, str, float], ...]  # (mine, station, parameter, epoch s) of its readings


def _wastewater_stations(registry: Registry) -> list[tuple[str, Station]]:
    stations = [(m.id, s) for m in registry for s in m.stations.values() if s.kind == "wastewater" and s.sensors]
    if not stations:
        raise ValueError("the registry has no wastewater station to write messages for")
    return sorted(stations, key=lambda p: (p[0], p[1].id))


def _message(mine_id: str, station: Station, t: float, rng: random.Random) -> Message:
    readings = [
        {"parameter": s.parameter, "value": _typical(s.parameter, rng), "unit": s.unit, "flag": "N"}
        for s in station.sensors
    ]
    message_id = uuid.UUID(int=rng.getrandbits(128), version=4).hex
    return telemetry_payload(mine_id, station.id, "wastewater", beijing_iso(t), readings, message_id)


def _typical(code: str, rng: random.Random) -> float:
    """A value near the simulator's baseline for ``code``: inside every limit, never negative."""
    base, noise = BASELINES.get(code, (1.0, 0.1))
    return round(max(base * (1.0 + rng.uniform(-2 * noise, 2 * noise)), 0.0), 4)


def good_mqtt(registry: Registry, times: list[float], seed: int = 0) -> list[GoodMessage]:
    """One valid wastewater message per time in ``times``, over the registry's wastewater stations
    in turn, with typical values (well inside every limit)."""
    rng = random.Random(seed)
    stations = _wastewater_stations(registry)
    out = []
    for i, t in enumerate(times):
        mine_id, station = stations[i % len(stations)]
        message = _message(mine_id, station, t, rng)
        keys = tuple((mine_id, station.id, r["parameter"], round(t, 3)) for r in message["readings"])
        out.append(GoodMessage(telemetry_topic(mine_id, "wastewater", station.id), orjson.dumps(message), keys))
    return out


# --- MQTT -------------------------------------------------------------------------------------

_Builder = Callable[[random.Random, str, Station, Message, float, Registry], tuple[str, bytes, str]]
_TOPIC = "__topic__"  # placeholder: the builder's topic is the message's own


def _dump(message: Any) -> bytes:
    return orjson.dumps(message)


def _wrong_type(rng: random.Random, mine: str, st: Station, m: Message, now: float, reg: Registry):
    path = rng.choice(
        [("schema",), ("message_id",), ("mine_id",), ("station_id",), ("ts",), ("readings",),
         ("readings", 0, "parameter"), ("readings", 0, "value"), ("readings", 0, "unit"), ("readings", 0, "flag")]
    )  # fmt: skip
    wrong = {
        "readings": [42, "readings", {"parameter": "w01018"}, True],
        "value": ["42.0", "", [42.0], {"v": 1}, True, False],
    }.get(path[-1], [42, 4.2, True, [], {"x": 1}, None, ["a"]])  # type: ignore[arg-type]
    target: Any = m
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = rng.choice(wrong)
    return _TOPIC, _dump(m), "schema_violation"


def _missing_field(rng: random.Random, mine: str, st: Station, m: Message, now: float, reg: Registry):
    if rng.random() < 0.5:
        del m[rng.choice(["schema", "message_id", "mine_id", "station_id", "ts", "readings"])]
    else:
        del m["readings"][0][rng.choice(["parameter", "value", "unit", "flag"])]
    return _TOPIC, _dump(m), "schema_violation"


def _non_finite(rng: random.Random, mine: str, st: Station, m: Message, now: float, reg: Registry):
    token = rng.choice(["NaN", "Infinity", "-Infinity", "nan", "inf", "1e400", "-1e999", "9" * 400 + ".0"])
    m["readings"][0]["value"] = 123456.125
    return _TOPIC, _dump(m).replace(b"123456.125", token.encode(), 1), "not_json"


def _deep_nesting(rng: random.Random, mine: str, st: Station, m: Message, now: float, reg: Registry):
    depth = rng.choice([50, 300, 1000, 5000, 100_000])
    nested = b"[" * depth + b"]" * depth
    payload = _dump({**m, "extra": 1}).replace(b'"extra":1', b'"extra":' + nested)
    return _TOPIC, payload, "not_json" if depth > 1000 else "schema_violation"


def _nested_value(rng: random.Random, mine: str, st: Station, m: Message, now: float, reg: Registry):
    value: Any = 1.0
    for _ in range(rng.randint(2, 200)):
        value = {"v": value} if rng.random() < 0.5 else [value]
    m["readings"][0]["value"] = value
    return _TOPIC, _dump(m), "schema_violation"


def _oversized(rng: random.Random, mine: str, st: Station, m: Message, now: float, reg: Registry):
    m["note"] = "x" * rng.randint(256 * 1024, 900 * 1024)
    return _TOPIC, _dump(m), "payload_too_large"


def _too_many_readings(rng: random.Random, mine: str, st: Station, m: Message, now: float, reg: Registry):
    reading = m["readings"][0]
    m["readings"] = [dict(reading, ts=beijing_iso(now - 60 - i)) for i in range(rng.randint(3000, 6000))]
    payload = _dump(m)
    return _TOPIC, payload, "payload_too_large" if len(payload) > 256 * 1024 else "schema_violation"


def _invalid_utf8(rng: random.Random, mine: str, st: Station, m: Message, now: float, reg: Registry):
    bad = rng.choice(
        [b"\xff", b"\xfe\xfe", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\x80", b"\xe2\x82"]
    )
    field = rng.choice(["message_id", "station_id", "unit"])
    payload = _dump(m)
    if field == "unit":
        marker = f'"unit":{orjson.dumps(m["readings"][0]["unit"]).decode()}'.encode()
        return _TOPIC, payload.replace(marker, marker[:-1] + bad + b'"', 1), "not_json"
    marker = f'"{field}":"'.encode()
    return _TOPIC, payload.replace(marker, marker + bad, 1), "not_json"


def _nul(rng: random.Random, mine: str, st: Station, m: Message, now: float, reg: Registry):
    m["message_id"] = m["message_id"][:8] + "\u0000" + m["message_id"][8:]
    return _TOPIC, _dump(m), "nul_character"


def _control_character(rng: random.Random, mine: str, st: Station, m: Message, now: float, reg: Registry):
    char = bytes([rng.choice([0, 1, 7, 8, 10, 13, 27, 31])])
    return _TOPIC, _dump(m).replace(b'"message_id":"', b'"message_id":"' + char, 1), "not_json"


def _not_json(rng: random.Random, mine: str, st: Station, m: Message, now: float, reg: Registry):
    payload = _dump(m)
    kind = rng.choice(["truncated", "random", "empty", "trailing", "xml", "single_quotes"])
    if kind == "truncated":
        return _TOPIC, payload[: rng.randint(1, len(payload) - 2)], "not_json"
    if kind == "random":
        return _TOPIC, bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 300))), "not_json"
    if kind == "empty":
        return _TOPIC, b"", "not_json"
    if kind == "trailing":
        return _TOPIC, payload + b"}" * rng.randint(1, 3), "not_json"
    if kind == "xml":
        return _TOPIC, b"<reading><value>42</value></reading>", "not_json"
    return _TOPIC, payload.replace(b'"', b"'"), "not_json"


def _not_an_object(rng: random.Random, mine: str, st: Station, m: Message, now: float, reg: Registry):
    return _TOPIC, rng.choice([b"42", b"null", b"true", b"[]", b'"telemetry"', _dump([m]), b"{}"]), "schema_violation"


def _time_far_past(rng: random.Random, mine: str, st: Station, m: Message, now: float, reg: Registry):
    m["ts"] = rng.choice(
        ["1970-01-01T08:00:00+08:00", "1900-01-01T00:00:00+08:00", "0001-01-01T00:00:00+00:00",
         beijing_iso(now - rng.uniform(401, 5000) * 86400)]
    )  # fmt: skip
    return _TOPIC, _dump(m), "timestamp_too_old"


def _time_far_future(rng: random.Random, mine: str, st: Station, m: Message, now: float, reg: Registry):
    m["ts"] = rng.choice(
        ["9999-12-31T23:59:59+08:00", "2100-01-01T00:00:00+08:00", beijing_iso(now + rng.uniform(301, 86400 * 30))]
    )
    return _TOPIC, _dump(m), "timestamp_in_future"


def _time_impossible(rng: random.Random, mine: str, st: Station, m: Message, now: float, reg: Registry):
    m["ts"] = rng.choice(
        ["2026-02-30T08:00:00+08:00", "2026-13-01T08:00:00+08:00", "2026-11-26T25:00:00+08:00",
         "2026-11-26T08:61:00+08:00", "2026-04-31T08:00:00+08:00"]
    )  # fmt: skip
    return _TOPIC, _dump(m), "timestamp_invalid"


def _time_malformed(rng: random.Random, mine: str, st: Station, m: Message, now: float, reg: Registry):
    m["ts"] = rng.choice(
        ["2026-11-26T08:00:00", "2026-11-26 08:00:00", "yesterday", "1795651260", "", "2026-11-26",
         "20261126080000", "2026-11-26T08:00:00+0800Z"]
    )  # fmt: skip
    return _TOPIC, _dump(m), "schema_violation"


def _wrong_mine(rng: random.Random, mine: str, st: Station, m: Message, now: float, reg: Registry):
    others = sorted(x.id for x in reg if x.id != mine)
    m["mine_id"] = rng.choice(others) if others else "GZ520201-9999"
    return _TOPIC, _dump(m), "mine_mismatch"


def _unknown_mine(rng: random.Random, mine: str, st: Station, m: Message, now: float, reg: Registry):
    stranger = f"GZ52{rng.randint(0, 9999):04d}-{rng.randint(8000, 8999)}"
    m["mine_id"] = stranger
    return telemetry_topic(stranger, "wastewater", st.id), _dump(m), "unknown_mine"


def _wrong_station(rng: random.Random, mine: str, st: Station, m: Message, now: float, reg: Registry):
    if rng.random() < 0.5:
        m["station_id"] = "WW99"
        return telemetry_topic(mine, "wastewater", "WW99"), _dump(m), "unknown_station"
    m["station_id"] = st.id + "X"
    return _TOPIC, _dump(m), "station_mismatch"


def _wrong_kind(rng: random.Random, mine: str, st: Station, m: Message, now: float, reg: Registry):
    """A valid rain message from a wastewater station."""
    m["schema"] = "minewatch/telemetry-rain/v1"
    m["readings"] = [{"parameter": "rain", "value": round(rng.uniform(0, 5), 2), "unit": "mm", "flag": "N"}]
    return telemetry_topic(mine, "rain", st.id), _dump(m), "station_kind_mismatch"


def _wrong_unit(rng: random.Random, mine: str, st: Station, m: Message, now: float, reg: Registry):
    m["readings"][0]["unit"] = rng.choice(["furlong", "kg", "mg/m3", "%", "ppm", "°C"])
    return _TOPIC, _dump(m), "unit_invalid"


def _repeated_reading(rng: random.Random, mine: str, st: Station, m: Message, now: float, reg: Registry):
    m["readings"].append(dict(m["readings"][0]))
    return _TOPIC, _dump(m), "duplicate_reading"


def _topic_outside_tree(rng: random.Random, mine: str, st: Station, m: Message, now: float, reg: Registry):
    topic = rng.choice(
        [f"minewatch/v1/mines/{mine}/telemetry/wastewater/{st.id}/extra",
         f"minewatch/v1/mines/{mine}/telemetry/groundwater/{st.id}",
         f"minewatch/v1/mines/{mine}/telemetry/wastewater",
         f"minewatch/v1/mines/{mine}/telemetry/wastewater/{st.id}/a/b/c"]
    )  # fmt: skip
    return topic, _dump(m), "topic_unknown"


MQTT_FAMILIES: dict[str, tuple[_Builder, int]] = {
    # family: (builder, relative weight)
    "wrong_type": (_wrong_type, 12),
    "missing_field": (_missing_field, 8),
    "non_finite": (_non_finite, 8),
    "deep_nesting": (_deep_nesting, 4),
    "nested_value": (_nested_value, 3),
    "oversized": (_oversized, 1),
    "too_many_readings": (_too_many_readings, 1),
    "invalid_utf8": (_invalid_utf8, 6),
    "nul_character": (_nul, 3),
    "control_character": (_control_character, 3),
    "not_json": (_not_json, 8),
    "not_an_object": (_not_an_object, 3),
    "time_far_past": (_time_far_past, 4),
    "time_far_future": (_time_far_future, 4),
    "time_impossible": (_time_impossible, 3),
    "time_malformed": (_time_malformed, 3),
    "wrong_mine": (_wrong_mine, 4),
    "unknown_mine": (_unknown_mine, 3),
    "wrong_station": (_wrong_station, 3),
    "wrong_kind": (_wrong_kind, 3),
    "wrong_unit": (_wrong_unit, 3),
    "repeated_reading": (_repeated_reading, 3),
    "topic_outside_tree": (_topic_outside_tree, 3),
}


def mqtt_corpus(registry: Registry, *, now: float, count: int = 1000, seed: int = 0) -> list[BadInput]:
    """``count`` distinct malformed MQTT messages, every family at least once (when count allows)."""
    rng = random.Random(seed)
    stations = _wastewater_stations(registry)
    families = list(MQTT_FAMILIES)
    weights = [MQTT_FAMILIES[f][1] for f in families]
    out: list[BadInput] = []
    seen: set[bytes] = set()
    order: Iterator[str] = iter(families)
    while len(out) < count:
        family = next(order, None) or rng.choices(families, weights)[0]
        mine_id, station = rng.choice(stations)
        message = _message(mine_id, station, now - rng.uniform(30, 3600), rng)
        topic, payload, expected = MQTT_FAMILIES[family][0](
            rng, mine_id, station, copy.deepcopy(message), now, registry
        )
        if payload in seen:
            continue
        seen.add(payload)
        out.append(BadInput(family, telemetry_topic(mine_id, "wastewater", station.id) if topic == _TOPIC else topic,
                            payload, (expected,)))  # fmt: skip
    return out


# --- HJ 212 -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hj212Device:
    mine_id: str
    station_id: str
    mn: str
    pw: str
    codes: tuple[str, ...]  # the pollutant codes it reports


def hj212_devices(registry: Registry) -> list[Hj212Device]:
    """The simulated loggers of the registry's HJ 212 stations (their passwords are derivable)."""
    out = []
    for mine in registry:
        for station in mine.stations.values():
            link = station.hj212
            if link is None or link.crc != "hj212" or station.kind != "wastewater":
                continue
            codes = tuple(s.parameter for s in station.sensors if s.parameter.startswith("w") and s.unit == "mg/L")
            if codes:
                out.append(Hj212Device(mine.id, station.id, link.mn, simulated_password(link.mn), codes))
    if not out:
        raise ValueError("the registry has no wastewater station with an HJ 212 link")
    return sorted(out, key=lambda d: d.mn)


def _segment(
    device: Hj212Device, t: float, rng: random.Random, *, data_time: str | None = None, mn: str | None = None,
    pw: str | None = None,
) -> str:  # fmt: skip
    at = datetime.fromtimestamp(t, UTC)
    groups = [[(f"{c}-Avg", f"{rng.uniform(0.5, 2):.3f}"), (f"{c}-Flag", "N")] for c in device.codes]
    cp = encode.data_area(encode.stamp(at) if data_time is None else data_time, groups)
    return encode.segment(cn="2051", mn=mn or device.mn, pw=pw or device.pw, cp=cp, qn_text=encode.qn(at), flag=5)


def good_hj212(devices: list[Hj212Device], times: list[float], seed: int = 0) -> list[GoodMessage]:
    """One valid minute-data frame (CN 2051, answer requested) per time, devices in turn."""
    rng = random.Random(seed)
    out = []
    for i, t in enumerate(times):
        device = devices[i % len(devices)]
        keys = tuple((device.mine_id, device.station_id, c, float(int(t))) for c in device.codes)
        out.append(GoodMessage("", encode.frame(_segment(device, float(int(t)), rng)), keys))
    return out


def _bad_frame(
    rng: random.Random, device: Hj212Device, t: float, now: float
) -> tuple[str, bytes, str | tuple[str, ...]]:
    family = rng.choice(HJ212_FAMILIES)
    good = encode.frame(_segment(device, t, rng))
    if family == "crc_wrong":
        crc = int(good[-6:-2], 16) ^ rng.randint(1, 0xFFFF)
        return family, good[:-6] + b"%04X\r\n" % crc, "hj212_crc"
    if family == "crc_foreign":  # a variant that, for this segment, differs from HJ 212's own CRC
        foreign = [v for v in ("modbus", "modbus-swapped", "zero") if encode.frame(good[6:-6], v) != good]
        return family, encode.frame(good[6:-6], rng.choice(foreign)), "hj212_crc"
    if family == "truncated":  # cut anywhere: outside any frame, or a frame whose CRC or fields are gone
        return family, good[: rng.randint(8, len(good) - 3)], ("hj212_framing", "hj212_crc", "hj212_not_a_packet")
    if family == "line_noise":
        return (
            family,
            bytes(rng.choice(b"ABCDEF0123456789;=,&\x00\xff\x7f") for _ in range(rng.randint(1, 200))),
            "hj212_framing",
        )
    if family == "oversized":
        filler = bytes(rng.choice(b"ABCDEFGH;=&") for _ in range(9999))
        return family, b"##9999" + filler + b"0000\r\n", ("hj212_framing", "hj212_not_a_packet", "hj212_crc")
    if family == "not_a_packet":
        junk = rng.choice(["hello", "QN=1;ST=32", "=;=;=;", "ST=32;CN=2051", f"MN={device.mn};PW={device.pw}"])
        return family, encode.frame(junk), "hj212_not_a_packet"
    if family == "unknown_device":
        return family, encode.frame(_segment(device, t, rng, mn=f"{rng.getrandbits(96):024X}")), "hj212_unknown_device"
    if family == "wrong_password":
        return (
            family,
            encode.frame(_segment(device, t, rng, pw=f"{rng.randint(0, 999999):06d}X")),
            "hj212_wrong_password",
        )
    if family == "bad_data_time":
        stamp = rng.choice(["20261399250000", "2026112608", "abcdefghijklmn", "20260230080000", ""])
        return family, encode.frame(_segment(device, t, rng, data_time=stamp)), "hj212_unusable_data"
    if family == "data_time_future":
        stamp = encode.stamp(datetime.fromtimestamp(now + rng.uniform(3600, 86400 * 365), UTC))
        return family, encode.frame(_segment(device, t, rng, data_time=stamp)), "timestamp_in_future"
    stamp = rng.choice(
        ["19700101080000", "20000101000000", encode.stamp(datetime.fromtimestamp(now - 900 * 86400, UTC))]
    )
    return "data_time_past", encode.frame(_segment(device, t, rng, data_time=stamp)), "timestamp_too_old"


HJ212_FAMILIES = (
    "crc_wrong", "crc_foreign", "truncated", "line_noise", "oversized", "not_a_packet", "unknown_device",
    "wrong_password", "bad_data_time", "data_time_future", "data_time_past",
)  # fmt: skip


def hj212_corpus(devices: list[Hj212Device], *, now: float, count: int = 500, seed: int = 0) -> list[BadInput]:
    """``count`` distinct malformed HJ 212 frames (data times within the last hour unless the
    case is about the data time)."""
    rng = random.Random(seed)
    out: list[BadInput] = []
    seen: set[bytes] = set()
    while len(out) < count:
        device = rng.choice(devices)
        family, frame, expected = _bad_frame(rng, device, float(int(now - rng.uniform(60, 3600))), now)
        if frame in seen:
            continue
        seen.add(frame)
        out.append(BadInput(family, "", frame, (expected,) if isinstance(expected, str) else expected))
    return out
