"""Realistic telemetry for a registry of mines, with scenarios. Pure: no network, no clock.

Each station kind has a generator: wastewater and stack concentrations wander around a
baseline well inside their limits; slope points creep slowly with GNSS-like noise; rain is
mostly dry with showers. Baselines are simulator settings, not measured data.

The ``exceedance`` scenario makes one known station cross one known limit at one known time:
:func:`exceedance_target` picks the first mine (in id order) whose wastewater outlet has an
enforced COD (w01018) limit, and from ``start`` to ``end`` that outlet reports 1.8 times the
limit. Tests and ``minewatch up`` read the scenario to know exactly what must be detected.

>>> from simulators.fleet import generate_fleet
>>> fleet = generate_fleet(10, seed=3)
>>> scenario = exceedance_target(fleet, start=1000.0, end=1010.0)
>>> scenario.parameter, scenario.limit, scenario.value
('w01018', 100.0, 180.0)
>>> sim = TelemetrySimulator(fleet, seed=1, scenario=scenario)
>>> hot = [m for m in sim.messages(1005.0) if m.station_id == scenario.station_id and m.mine_id == scenario.mine_id]
>>> [r["value"] for r in hot[0].payload["readings"] if r["parameter"] == "w01018"]
[180.0]
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from minewatch.registry import Registry, Station
from minewatch.topics import telemetry_topic
from processors.limits import LimitBook

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
CREEP_MM_PER_DAY = 0.05
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
    registry: Registry, start: float, end: float, parameter: str = "w01018", factor: float = 1.8
) -> ExceedanceScenario:
    book = LimitBook.load()
    for mine in sorted(registry, key=lambda m: m.id):
        station = mine.station("WW01")
        if station is None:
            continue
        limits = book.for_categories(station.limit_sets, station.limit_scope).get(parameter, [])
        uppers = [limit for limit in limits if limit.upper is not None]
        if uppers:
            limit = min(uppers, key=lambda lim: lim.upper or 0.0)
            assert limit.upper is not None
            return ExceedanceScenario(
                mine.id, station.id, parameter, limit.upper, limit.unit, round(limit.upper * factor, 6), start, end
            )
    raise ValueError(f"no mine in the registry has an enforced {parameter} limit")


def beijing_iso(t: float) -> str:
    return datetime.fromtimestamp(t, BEIJING).isoformat(timespec="milliseconds")


class TelemetrySimulator:
    """Produces one message per station per sample time for every mine of a registry."""

    def __init__(
        self, registry: Registry, seed: int = 0, scenario: ExceedanceScenario | None = None, epoch: float | None = None
    ) -> None:
        self.registry = registry
        self.rng = random.Random(seed)
        self.scenario = scenario
        self.epoch = epoch
        self._stations = [(mine.id, station) for mine in registry for station in mine.stations.values()]

    def messages(self, t: float) -> Iterator[SimulatedMessage]:
        ts = beijing_iso(t)
        if self.epoch is None:
            self.epoch = t
        for mine_id, station in self._stations:
            readings = self._readings(mine_id, station, t)
            payload = {
                "schema": f"minewatch/telemetry-{station.kind}/v1",
                "message_id": uuid.UUID(int=self.rng.getrandbits(128), version=4).hex,
                "mine_id": mine_id,
                "station_id": station.id,
                "ts": ts,
                "readings": readings,
            }
            yield SimulatedMessage(
                telemetry_topic(mine_id, station.kind, station.id), mine_id, station.id, payload, len(readings)
            )

    def _readings(self, mine_id: str, station: Station, t: float) -> list[dict[str, Any]]:
        rng = self.rng
        out = []
        days = (t - (self.epoch or t)) / 86400.0
        for sensor in station.sensors:
            code = sensor.parameter
            if code in BASELINES:
                base, noise = BASELINES[code]
                value = base * (1.0 + rng.gauss(0.0, noise))
                if code != "a01013":
                    value = max(value, 0.0)
            elif code.startswith("gnss") or code == "incl_a":
                value = CREEP_MM_PER_DAY * days + rng.gauss(0.0, GNSS_NOISE_MM)
            elif code == "crack":
                value = 3.0 + CREEP_MM_PER_DAY * days + rng.gauss(0.0, 0.05)
            elif code in ("rain", "rain_rate"):
                value = 0.0 if rng.random() < 0.9 else rng.expovariate(1.0) * (1 if code == "rain" else 6)
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
                value = scenario.value
            out.append({"parameter": code, "value": round(value, 4), "unit": sensor.unit, "flag": "N"})
        return out
