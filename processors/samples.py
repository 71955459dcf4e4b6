"""From telemetry to the samples limits are judged on, and their minute aggregates.

A *series* is one quantity judged over time: (mine, station, parameter, reference). The
reference is empty for values as measured, or an O2 reference for stack concentrations that a
standard compares after oxygen correction (GB 13271-2014 cl. 5.2, eq. 1)::

    ρ = ρ′ × (21 − φ(O2)) / (21 − φ′(O2))

with ρ′ the measured concentration, φ′(O2) the O2 (a19001) measured at the same instant, and
φ(O2) the reference (9 % coal-fired, 3.5 % oil- or gas-fired). A corrected sample needs a valid
O2 reading in the same message; without one it is not a valid sample.

Only valid data counts: an HJ 212-2017 flag other than N (F, M, S, D, C, T, B) makes a sample
invalid. Values are converted to the parameter's catalogue unit explicitly.

A minute aggregate keeps, per series and minute, the number of samples, the number of valid
ones, their sum, minimum and maximum, which is all the hourly, daily and instantaneous
judgements need. The storage writer builds them from exactly the rows it stored, so replays
and re-sent messages never count twice; ``minewatch audit`` builds them from a file.

>>> from minewatch.registry import Station
>>> from processors.limits import LimitBook
>>> stack = Station("ST01", "emission", limit_sets=("gb13271_t2_new_coal",))
>>> rules = StationRules.build("GZ520201-0001", stack, LimitBook.load())
>>> rows = [Reading("GZ520201-0001", "ST01", "a34013", 60.0, 30.0, "mg/m3", "N"),
...         Reading("GZ520201-0001", "ST01", "a19001", 60.0, 12.0, "%", "N"),
...         Reading("GZ520201-0001", "ST01", "a34013", 61.0, 90.0, "mg/m3", "D")]
>>> minutes = aggregate_minutes(rows, {("GZ520201-0001", "ST01"): rules})
>>> minutes[(SeriesKey("GZ520201-0001", "ST01", "a34013", "O2=9%"), 60.0)]
MinuteValue(n_samples=2, n_valid=1, total=40.0, minimum=40.0, maximum=40.0)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from minewatch.parameters import Parameter, load_parameters
from minewatch.registry import Registry, Station
from minewatch.units import UnitMismatch, convert
from processors.limits import Limit, LimitBook

O2 = "a19001"
VALID_FLAG = "N"


class Reading(NamedTuple):
    mine_id: str
    station_id: str
    parameter: str
    t: float  # epoch seconds
    value: float | None
    unit: str
    flag: str


_new_tuple = tuple.__new__


class SeriesKey(NamedTuple):
    mine_id: str
    station_id: str
    parameter: str
    reference: str  # "" = as measured; "O2=9%" = corrected to 9 % O2


@dataclass(slots=True)
class MinuteValue:
    n_samples: int = 0
    n_valid: int = 0
    total: float = 0.0
    minimum: float | None = None
    maximum: float | None = None

    def add(self, value: float | None) -> None:
        self.n_samples += 1
        if value is None:
            return
        self.n_valid += 1
        self.total += value
        self.minimum = value if self.minimum is None or value < self.minimum else self.minimum
        self.maximum = value if self.maximum is None or value > self.maximum else self.maximum

    def merge(self, other: MinuteValue) -> None:
        self.n_samples += other.n_samples
        self.n_valid += other.n_valid
        self.total += other.total
        for v in (other.minimum, other.maximum):
            if v is not None:
                self.minimum = v if self.minimum is None or v < self.minimum else self.minimum
                self.maximum = v if self.maximum is None or v > self.maximum else self.maximum

    @property
    def mean(self) -> float | None:
        return self.total / self.n_valid if self.n_valid else None


def reference_label(reference_o2: float | None) -> str:
    return "" if reference_o2 is None else f"O2={reference_o2:g}%"


@dataclass(frozen=True)
class StationRules:
    """What is aggregated and judged at one station: the parameters with limits (their units and
    O2 references), and, at slope and rain stations, every sensor (for the slope assessment)."""

    mine_id: str
    station_id: str
    limits: Mapping[str, tuple[Limit, ...]]
    units: Mapping[str, str]
    references: Mapping[str, tuple[float | None, ...]]
    kind: str = "wastewater"
    _limits_of: dict[tuple[str, str], tuple[Limit, ...]] = field(default_factory=dict, compare=False, repr=False)
    _series_of: dict[str, tuple[tuple[SeriesKey, float | None], ...]] = field(
        default_factory=dict, compare=False, repr=False
    )

    @property
    def tracks_slope(self) -> bool:
        return self.kind in ("slope", "rain")

    @classmethod
    def build(
        cls, mine_id: str, station: Station, book: LimitBook, catalogue: dict[str, Parameter] | None = None
    ) -> StationRules:
        catalogue = catalogue if catalogue is not None else load_parameters()
        station_limits = book.for_station(station)
        units = {
            p: catalogue[p].unit if p in catalogue else station_limits.by_parameter[p][0].unit
            for p in station_limits.by_parameter
        }
        references = {
            p: tuple(sorted(station_limits.references(p), key=lambda r: (r is not None, r or 0.0)))
            for p in station_limits.by_parameter
        }
        if station.kind in ("slope", "rain"):
            for sensor in station.sensors:
                units.setdefault(
                    sensor.parameter, catalogue[sensor.parameter].unit if sensor.parameter in catalogue else sensor.unit
                )
                references.setdefault(sensor.parameter, (None,))
        return cls(mine_id, station.id, station_limits.by_parameter, units, references, station.kind)

    def series(self) -> list[SeriesKey]:
        return [
            SeriesKey(self.mine_id, self.station_id, p, reference_label(r))
            for p, refs in self.references.items()
            for r in refs
        ]

    def series_of(self, parameter: str) -> tuple[tuple[SeriesKey, float | None], ...]:
        """The judged series of ``parameter`` at this station with their O2 references (none if
        it is not judged); worked out once per parameter, asked for every reading."""
        found = self._series_of.get(parameter)
        if found is None:
            found = self._series_of[parameter] = tuple(
                (SeriesKey(self.mine_id, self.station_id, parameter, reference_label(reference)), reference)
                for reference in self.references.get(parameter, ())
            )
        return found

    def limits_of(self, series: SeriesKey) -> tuple[Limit, ...]:
        key = (series.parameter, series.reference)
        found = self._limits_of.get(key)
        if found is None:  # asked for every stored minute: worked out once per parameter and reference
            found = self._limits_of[key] = tuple(
                limit
                for limit in self.limits.get(series.parameter, ())
                if reference_label(limit.reference_o2) == series.reference
            )
        return found


def rules_for_registry(registry: Registry, book: LimitBook) -> dict[tuple[str, str], StationRules]:
    """Station rules for every station with an enforced limit, and every slope and rain station."""
    catalogue = load_parameters()
    out = {}
    for mine in registry:
        for station in mine.stations.values():
            rules = StationRules.build(mine.id, station, book, catalogue)
            if rules.limits or rules.tracks_slope:
                out[(mine.id, station.id)] = rules
    return out


def is_sample(reading: Mapping[str, Any]) -> bool:
    """A reading judged as a sample: an instant, or a device's minute value. Hourly and daily
    statistics a device computed (``interval_s`` of an hour or more) are kept beside, not judged."""
    return reading.get("interval_s", 0) < 3600


def readings_of_batch(batch: Mapping[str, Any]) -> list[Reading]:
    """The readings of a telemetry batch (see minewatch.records), with epoch times."""
    out: list[Reading] = []
    append = out.append
    stamps: dict[str, float] = {}
    for message in batch["messages"]:
        mine = message["mine_id"]
        station = message["station_id"]
        message_ts = message["ts"]
        for r in message["readings"]:
            if not is_sample(r):
                continue
            stamp = r.get("ts") or message_ts
            t = stamps.get(stamp)
            if t is None:
                t = stamps[stamp] = datetime.fromisoformat(stamp).timestamp()
            # tuple.__new__ skips the NamedTuple constructor's Python frame: every reading is built here
            append(_new_tuple(Reading, (mine, station, r["parameter"], t, r["value"], r["unit"], r["flag"])))
    return out


def minute_of(t: float) -> float:
    """Start of the minute containing ``t`` (minutes are the same in every whole-hour zone)."""
    return t - (t % 60.0)


def aggregate_minutes(
    readings: Iterable[Reading],
    rules: Mapping[tuple[str, str], StationRules],
    o2_at: Mapping[tuple[str, str, float], Reading] | None = None,
) -> dict[tuple[SeriesKey, float], MinuteValue]:
    """Minute aggregates of every judged series in ``readings``.

    ``o2_at`` gives the O2 reading of a (mine, station, instant) when it is not among
    ``readings`` (a re-sent message whose O2 row was already stored).
    """
    readings = list(readings)
    o2: dict[tuple[str, str, float], Reading] = dict(o2_at or {})
    o2.update(o2_readings(readings))
    out: dict[tuple[SeriesKey, float], MinuteValue] = {}
    add_minutes(out, readings, rules, o2)
    return out


def o2_readings(readings: Iterable[Reading]) -> dict[tuple[str, str, float], Reading]:
    """The O2 readings among ``readings`` by (mine, station, instant): what corrects the others."""
    return {(r.mine_id, r.station_id, r.t): r for r in readings if r.parameter == O2}


def add_minutes(
    out: dict[tuple[SeriesKey, float], MinuteValue],
    readings: Iterable[Reading],
    rules: Mapping[tuple[str, str], StationRules],
    o2: Mapping[tuple[str, str, float], Reading],
) -> None:
    """Add ``readings`` to the minute aggregates ``out`` (see :func:`aggregate_minutes`), with
    ``o2`` holding every O2 reading they may be corrected by. Fed the readings in parts, it builds
    what one call of :func:`aggregate_minutes` on all of them does."""
    for r in readings:
        station_rules = rules.get((r.mine_id, r.station_id))
        if station_rules is None:
            continue
        series = station_rules.series_of(r.parameter)
        if not series:
            continue
        value = _valid_value(r, station_rules.units[r.parameter])
        minute = minute_of(r.t)
        for series_key, reference in series:
            sample = value
            if reference is not None and sample is not None:
                sample = _o2_corrected(sample, reference, o2.get((r.mine_id, r.station_id, r.t)))
            key = (series_key, minute)
            aggregate = out.get(key)
            if aggregate is None:
                aggregate = out[key] = MinuteValue()
            aggregate.add(sample)


def _valid_value(r: Reading, unit: str) -> float | None:
    if r.flag != VALID_FLAG or r.value is None:
        return None
    try:
        return convert(float(r.value), r.unit, unit)
    except UnitMismatch:
        return None


def o2_corrected(value: float, reference_o2: float, measured_o2: float) -> float:
    """GB 13271-2014 eq. (1): the concentration at the reference O2.

    >>> o2_corrected(30.0, 9.0, 12.0)     # 30 x (21 - 9) / (21 - 12)
    40.0
    >>> round(o2_corrected(100.0, 3.5, 3.5), 9)
    100.0
    """
    return value * (21.0 - reference_o2) / (21.0 - measured_o2)


def _o2_corrected(value: float, reference_o2: float, o2: Reading | None) -> float | None:
    if o2 is None or o2.flag != VALID_FLAG or o2.value is None:
        return None
    measured = float(o2.value)
    if not 0.0 <= measured < 21.0:  # the formula is meaningless at or beyond air's 21 %
        return None
    return round(o2_corrected(value, reference_o2, measured), 9)
