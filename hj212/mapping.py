"""From an HJ 212 data packet to minewatch telemetry: the same messages an MQTT device sends.

A data upload becomes one telemetry message (``schema``, ``message_id``, ``mine_id``,
``station_id``, ``ts``, ``readings``) for the station the device's MN is registered to: a
device can only ever report for its own station. Each pollutant code is one reading:

=====  ==============  ===========================  ==========================
CN     data            value                        interval_s
=====  ==============  ===========================  ==========================
2011   real-time       ``-Rtd``                     (an instant)
2051   minute          ``-Avg``                     60 (the minute, or MinInterval)
2061   hourly          ``-Avg``                     3600
2031   daily           ``-Avg``                     86400
=====  ==============  ===========================  ==========================

with ``-Min``/``-Max``/``-Cou`` as ``min``/``max``/``total`` and ``-ZsRtd``/``-ZsAvg`` (the
device's O2-corrected value, 折算) as ``corrected``. The data flag is ``-Flag`` translated by
the version's profile (N when a device sends none). Units are not in HJ 212 packets: they are
the registry's unit for the station's sensor, else the HJ 212-2017 unit of the code, else
``unspecified``. Codes minewatch does not know are kept under their own name.

``DataTime`` and ``QN`` have no time zone: they are Beijing time (UTC+8), converted explicitly
(``+08:00`` in every timestamp). For minute, hourly and daily data ``DataTime`` is the start
of the interval.

>>> from hj212.packet import parse
>>> packet = parse(b"QN=20260126101500123;ST=32;CN=2051;PW=123456;MN=AB12;Flag=5;CP=&&DataTime=20260126101400;"
...                b"w01018-Min=20.0,w01018-Avg=30.5,w01018-Max=41.0,w01018-Flag=N;w00000-Avg=2.5,w00000-Cou=150,"
...                b"w00000-Flag=M&&")
>>> mapped = to_telemetry(packet, Binding("GZ520201-0001", "WW01", "wastewater", {"w01018": "mg/L"}))
>>> mapped.message["ts"], [(r["parameter"], r["value"], r["unit"], r["flag"]) for r in mapped.message["readings"]]
('2026-01-26T10:14:00+08:00', [('w01018', 30.5, 'mg/L', 'N'), ('w00000', 2.5, 'L/s', 'M')])
>>> mapped.message["readings"][0]["interval_s"], mapped.message["readings"][1]["total"]
(60, 150.0)
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from hj212.packet import Packet
from hj212.profiles import Profile, profile_for
from minewatch.parameters import load_parameters

BEIJING = timezone(timedelta(hours=8), "CST")
_CODE = re.compile(r"^[A-Za-z0-9_.]{1,32}$")
DATA_COMMANDS = {"2011": None, "2051": 60, "2061": 3600, "2031": 86400}
STATISTICS = {"Min": "min", "Max": "max", "Cou": "total"}


class MappingError(ValueError):
    """A data packet that cannot become telemetry; the message says why, for the operator."""


@dataclass(frozen=True, slots=True)
class Binding:
    """The station a device (MN) reports for, and the units its sensors are configured in."""

    mine_id: str
    station_id: str
    kind: str  # wastewater | emission
    units: Mapping[str, str] = field(default_factory=dict)
    minute_interval_s: int = 60  # the device's MinInterval: what one 2051 packet covers


@dataclass(frozen=True)
class Mapped:
    message: dict[str, Any]
    notes: tuple[str, ...] = ()  # what was tolerated or translated
    unknown_flags: tuple[str, ...] = ()


def beijing_time(stamp: str) -> datetime:
    """``YYYYMMDDhhmmss`` (or with ``zzz`` milliseconds) in Beijing time, as an aware datetime."""
    text = stamp.strip()
    if not text.isdigit() or len(text) not in (14, 17):
        raise MappingError(f"time {stamp!r} is not YYYYMMDDhhmmss[zzz]")
    try:
        t = datetime.strptime(text[:14], "%Y%m%d%H%M%S").replace(tzinfo=BEIJING)
    except ValueError as exc:
        raise MappingError(f"time {stamp!r} is not a real time ({exc})") from None
    return t + timedelta(milliseconds=int(text[14:] or 0))


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def to_telemetry(packet: Packet, binding: Binding, profile: Profile | None = None) -> Mapped:
    """The telemetry message of a data packet (CN 2011/2051/2061/2031)."""
    profile = profile or profile_for(packet)
    if packet.cn not in DATA_COMMANDS:
        raise MappingError(f"CN {packet.cn} is not a data upload (2011, 2051, 2061, 2031)")
    interval = binding.minute_interval_s if packet.cn == "2051" else DATA_COMMANDS[packet.cn]
    if packet.data_time is None:
        raise MappingError("the data area has no DataTime")
    ts = beijing_time(packet.data_time)
    catalogue = load_parameters()
    grouped: dict[str, dict[str, str]] = {}
    notes: list[str] = []
    for f in packet.pollutant_fields:
        if not _CODE.match(f.code):
            notes.append(f"{f.code!r} is not a pollutant code; its field {f.suffix} skipped")
            continue
        code = profile.parameter(f.code)
        if code != f.code and f"code {f.code}" not in " ".join(notes):
            notes.append(f"code {f.code} read as {code} (HJ/T 212-2005 → HJ 212-2017)")
        suffixes = grouped.setdefault(code, {})
        if f.suffix in suffixes and suffixes[f.suffix] != f.value:
            notes.append(f"{code}-{f.suffix} sent twice ({suffixes[f.suffix]!r}, {f.value!r}): the first kept")
            continue
        suffixes.setdefault(f.suffix, f.value)
    readings = []
    unknown_flags = []
    value_suffixes = ("Rtd", "Avg") if interval is None else ("Avg", "Rtd")
    for code, suffixes in grouped.items():
        raw_value = next((suffixes[s] for s in value_suffixes if s in suffixes), None)
        if raw_value is None:
            continue  # only -Info, -SampleTime, -EFlag, ...: not a reading
        flag, known = profile.data_flag(suffixes.get("Flag", "N"))
        if not known:
            unknown_flags.append(suffixes.get("Flag", ""))
            notes.append(f"{code}: flag {suffixes.get('Flag')!r} is not an HJ 212 flag; stored as D (not valid)")
        value = _number(raw_value)
        if value is None and flag == "N":
            notes.append(f"{code}: value {raw_value!r} is not a number; stored as D (not valid)")
            flag = "D"
        parameter = catalogue.get(code)
        unit = binding.units.get(code) or (parameter.unit if parameter else "unspecified")
        reading: dict[str, Any] = {"parameter": code, "value": value, "unit": unit, "flag": flag}
        if interval is not None:
            reading["interval_s"] = interval
        for suffix, name in STATISTICS.items():
            if suffix in suffixes:
                reading[name] = _number(suffixes[suffix])
        corrected = suffixes.get("ZsRtd" if interval is None else "ZsAvg") or suffixes.get("ZsRtd")
        if corrected is not None:
            reading["corrected"] = _number(corrected)
        readings.append(reading)
    if not readings:
        raise MappingError(f"CN {packet.cn} packet at {packet.data_time} carries no pollutant value")
    key = f"{packet.mn}|{packet.cn}|{packet.data_time}|{packet.pno or ''}"
    message = {
        "schema": f"minewatch/telemetry-{binding.kind}/v1",
        "message_id": "hj212-" + hashlib.sha256(key.encode()).hexdigest()[:32],
        "mine_id": binding.mine_id,
        "station_id": binding.station_id,
        "ts": ts.isoformat(),
        "readings": readings,
    }
    return Mapped(message, tuple(notes), tuple(unknown_flags))
