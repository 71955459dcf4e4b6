"""Realistic telemetry for a registry of mines, with scenarios. Pure: no network, no clock.

Each station kind has a generator: wastewater and stack concentrations wander around a
baseline well inside their limits; slope points creep slowly with GNSS-like noise; rain is
mostly dry with showers. Baselines are simulator settings, not measured data.

The ``exceedance`` scenario makes one known station cross one known limit at one known time:
:func:`exceedance_target` picks the first mine (in id order) with an enforced limit of the
parameter judged on the basis asked for (by default stack particulate, a34013, on the hourly
mean of GB 16297-1996), and from ``start`` to ``end`` (event time) that station reports about
1.8 times the limit, reached and left over a quarter of an hour, with half its usual noise (a
real exceedance is neither a constant value nor a sudden jump). Tests and ``minewatch up``
read the scenario to know what must be detected.

>>> from simulators.fleet import generate_fleet
>>> fleet = generate_fleet(10, seed=3)
>>> scenario = exceedance_target(fleet, start=3600.0, end=7200.0)
>>> scenario.station_id, scenario.parameter, scenario.limit, scenario.value, scenario.basis
('ST01', 'a34013', 120.0, 216.0, 'hourly_mean')
>>> sim = TelemetrySimulator(fleet, seed=1, scenario=scenario)
>>> hot = [m for m in sim.messages(5000.0) if m.station_id == scenario.station_id and m.mine_id == scenario.mine_id]
>>> [round(r["value"] / scenario.value, 1) for r in hot[0].payload["readings"] if r["parameter"] == "a34013"]
[1.0]
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from minewatch.registry import Registry, Station
from minewatch.topics import telemetry_topic
from processors.limits import LimitBook
from simulators.slope import ProgressiveFailure, RainDrivenSurge, StableCreep

SlopeMotion = StableCreep | RainDrivenSurge | ProgressiveFailure

BEIJING = timezone(timedelta(hours=8), "CST")

# parameter -> (baseline, relative noise, lower clamp)
BASELINES: dict[str, tuple[float, float]] = {
    "w00000": (12.0, 0.10),
    "w01001": (7.4, 0.02),
    "w01018": (42.0, 0.12),
    "w21003": (4.0, 0.15),
    "w21011": (0.3, 0.15),
    "w01012": (25.0, 0.15),
    "w20120": (40.0, 0.2),
    "w20115": (5.0, 0.2),
    "w20119": (30.0, 0.2),
    "w20123": (0.5, 0.2),
    "a34013": (18.0, 0.15),
    "a21026": (120.0, 0.12),
    "a21002": (90.0, 0.12),
    "a19001": (11.0, 0.05),
    "a00000": (25.0, 0.05),
    "a01011": (12.0, 0.05),
    "a01012": (85.0, 0.03),
    "a01013": (-0.4, 0.1),
    "a01014": (8.0, 0.1),
    "a21005": (40.0, 0.2),
}
GNSS_NOISE_MM = 2.0


@dataclass(frozen=True, slots=True)
class ExceedanceScenario:
    mine_id: str
    station_id: str
    parameter: str
    limit: float
    unit: str
    value: float
    start: float
    end: float
    basis: str = "hourly_mean"
    limit_id: str = ""
    ramp_s: float = 900.0  # the level builds up and falls back over a quarter of an hour, as a failing filter does

    def active(self, t: float) -> bool:
        return self.start <= t < self.end + self.ramp_s

    def level(self, t: float, baseline: float) -> float:
        """The scenario's level at ``t``: a ramp up from ``baseline`` at ``start``, down after ``end``."""
        if t < self.start or t >= self.end + self.ramp_s:
            return baseline
        if t < self.start + self.ramp_s:
            return baseline + (self.value - baseline) * (t - self.start) / self.ramp_s
        if t < self.end:
            return self.value
        return self.value + (baseline - self.value) * (t - self.end) / self.ramp_s


@dataclass(frozen=True, slots=True)
class SensorFault:
    """A faulty sensor for a while: ``stuck`` (a constant value), ``offset`` (a step of ``value``
    added), ``spike`` (one reading of ``value`` at ``start``) or ``dropout`` (no reading)."""

    mine_id: str
    station_id: str
    parameter: str
    kind: str
    start: float
    end: float
    value: float = 0.0

    def active(self, t: float) -> bool:
        return self.start <= t < self.end


@dataclass(frozen=True, slots=True)
class SimulatedMessage:
    topic: str
    mine_id: str
    station_id: str
    payload: dict[str, Any]
    reading_count: int


def exceedance_target(
    registry: Registry,
    start: float,
    end: float,
    parameter: str = "a34013",
    basis: str = "hourly_mean",
    factor: float = 1.8,
    skip: frozenset[str] = frozenset(),
) -> ExceedanceScenario:
    """A scenario on the first mine (not in ``skip``) with an enforced upper limit of ``parameter`` on ``basis``."""
    book = LimitBook.load()
    for mine in sorted(registry, key=lambda m: m.id):
        if mine.id in skip:
            continue
        for station in mine.stations.values():
            limits = book.for_station(station).by_parameter.get(parameter, ())
            uppers = [lim for lim in limits if lim.upper is not None and lim.basis == basis and not lim.reference_o2]
            if uppers:
                limit = min(uppers, key=lambda lim: lim.upper or 0.0)
                assert limit.upper is not None
                return ExceedanceScenario(
                    mine.id,
                    station.id,
                    parameter,
                    limit.upper,
                    limit.unit,
                    round(limit.upper * factor, 6),
                    start,
                    end,
                    basis,
                    limit.limit_id,
                )
    raise ValueError(f"no mine in the registry has an enforced {parameter} limit on the {basis}")


def telemetry_payload(
    mine_id: str, station_id: str, kind: str, ts: str, readings: list[dict[str, Any]], message_id: str
) -> dict[str, Any]:
    """A telemetry message (schemas/telemetry-{kind}.v1) of one station at ``ts`` (ISO 8601 with
    its offset; :func:`beijing_iso`).

    >>> telemetry_payload("GZ520201-0001", "WW01", "rain", beijing_iso(1795651200.0), [], "m-00000001")["schema"]
    'minewatch/telemetry-rain/v1'
    """
    return {
        "schema": f"minewatch/telemetry-{kind}/v1",
        "message_id": message_id,
        "mine_id": mine_id,
        "station_id": station_id,
        "ts": ts,
        "readings": readings,
    }


def beijing_iso(t: float) -> str:
    return datetime.fromtimestamp(t, BEIJING).isoformat(timespec="milliseconds")


class TelemetrySimulator:
    """Produces one message per station per sample time for every mine of a registry."""

    def __init__(
        self,
        registry: Registry,
        seed: int = 0,
        scenario: ExceedanceScenario | None = None,
        epoch: float | None = None,
        faults: tuple[SensorFault, ...] = (),
        slope_models: dict[tuple[str, str], SlopeMotion] | None = None,
        rain_spells: dict[tuple[str, str], list[tuple[float, float, float]]] | None = None,
        sample_interval_s: float = 60.0,
    ) -> None:
        self.registry = registry
        self.rng = random.Random(seed)
        self.scenario = scenario
        self.epoch = epoch
        self.faults = faults
        self.slope_models: dict[tuple[str, str], SlopeMotion] = dict(slope_models or {})
        self.rain_spells = dict(rain_spells or {})
        self.sample_interval_s = sample_interval_s
        self._stations = [(mine.id, station) for mine in registry for station in mine.stations.values()]

    def messages(self, t: float) -> Iterator[SimulatedMessage]:
        ts = beijing_iso(t)
        if self.epoch is None:
            self.epoch = t
        for mine_id, station in self._stations:
            readings = self._readings(mine_id, station, t)
            if not readings:  # every sensor of the station dropped out
                continue
            message_id = uuid.UUID(int=self.rng.getrandbits(128), version=4).hex
            payload = telemetry_payload(mine_id, station.id, station.kind, ts, readings, message_id)
            yield SimulatedMessage(
                telemetry_topic(mine_id, station.kind, station.id), mine_id, station.id, payload, len(readings)
            )

    def station_readings(self, mine_id: str, station: Station, t: float) -> list[dict[str, Any]]:
        """The readings one station takes at ``t`` (what its message would carry)."""
        return self._readings(mine_id, station, t)

    def _readings(self, mine_id: str, station: Station, t: float) -> list[dict[str, Any]]:
        rng = self.rng
        out = []
        for sensor in station.sensors:
            code = sensor.parameter
            if code in BASELINES:
                base, noise = BASELINES[code]
                value = base * (1.0 + rng.gauss(0.0, noise))
                if code != "a01013":
                    value = max(value, 0.0)
            elif code.startswith("gnss") or code in ("crack", "incl_a", "incl_b", "radar_los"):
                value = self._slope_value(mine_id, station, code, t)
            elif code in ("rain", "rain_rate"):
                rate = self._rain_rate(mine_id, station.id, t)  # mm/h
                value = rate if code == "rain_rate" else rate * self.sample_interval_s / 3600.0
            else:
                value = 0.0
            scenario = self.scenario
            if (
                scenario is not None
                and code == scenario.parameter
                and station.id == scenario.station_id
                and mine_id == scenario.mine_id
                and scenario.active(t)
            ):
                base, noise = BASELINES.get(code, (value, 0.1))
                value = scenario.level(t, base) * (1.0 + rng.gauss(0.0, noise / 2))
            fault = self._fault(mine_id, station.id, code, t)
            if fault is not None:
                if fault.kind == "dropout":
                    continue
                if fault.kind == "stuck" or (fault.kind == "spike" and t == fault.start):
                    value = fault.value
                elif fault.kind == "offset":
                    value += fault.value
            out.append({"parameter": code, "value": round(value, 4), "unit": sensor.unit, "flag": "N"})
        return out

    def motion(self, mine_id: str, station: Station) -> SlopeMotion:
        """The point's displacement model: its scenario, or steady creep at its v_const."""
        model = self.slope_models.get((mine_id, station.id))
        if model is None:
            v0 = float((station.slope_config or {}).get("v_const_mm_per_day", 0.5))
            model = self.slope_models[(mine_id, station.id)] = StableCreep(v0=v0, start=self.epoch or 0.0)
        return model

    def _slope_value(self, mine_id: str, station: Station, code: str, t: float) -> float:
        s = self.motion(mine_id, station).displacement(t)
        config = station.slope_config or {}
        az = math.radians(float(config.get("azimuth_deg", 0.0)))
        pl = math.radians(float(config.get("plunge_deg", 0.0)))
        noise = {"gnss_e": GNSS_NOISE_MM, "gnss_n": GNSS_NOISE_MM, "gnss_u": 2 * GNSS_NOISE_MM}.get(code, 0.1)
        along = {
            "gnss_e": s * math.sin(az) * math.cos(pl),
            "gnss_n": s * math.cos(az) * math.cos(pl),
            "gnss_u": -s * math.sin(pl),
            "crack": 3.0 + s,
        }.get(code, s)
        return along + self.rng.gauss(0.0, noise)

    def _rain_rate(self, mine_id: str, station_id: str, t: float) -> float:
        for start, end, mm_per_hour in self.rain_spells.get((mine_id, station_id), ()):
            if start <= t < end:
                return mm_per_hour * (1.0 + self.rng.gauss(0.0, 0.2)) if mm_per_hour else 0.0
        return 0.0

    def _fault(self, mine_id: str, station_id: str, parameter: str, t: float) -> SensorFault | None:
        for fault in self.faults:
            if (fault.mine_id, fault.station_id, fault.parameter) == (mine_id, station_id, parameter) and fault.active(
                t
            ):
                return fault
        return None
