"""Data-quality checks: abnormal data is what bureaus chase first.

Each check is a small class fed one reading at a time; it returns findings and keeps only the
state it needs. :class:`QualityMonitor` runs them all per series. A finding either *raises* a
condition or *clears* it (``cleared=True``) when the data are normal again.

* :class:`ImpossibleValue` — a negative value of a quantity that cannot be negative, or exactly
  zero where zero means the instrument is not measuring (per-parameter settings).
* :class:`OutOfRange` — HJ 212-2017 flag ``T`` (above the measuring range), or a value outside
  the range configured for the sensor in the registry.
* :class:`ConstantValue` — 恒值: ``run`` identical valid values in a row.
* :class:`SuddenJump` — a step much larger than the series usually makes:
  ``|x_t − x_{t−1}| > z · m_{t−1}`` where ``m`` is the running mean absolute step,
  ``m_t = (1 − α) m_{t−1} + α |x_t − x_{t−1}|``, judged after ``warmup`` steps.
  O(1) per reading; a jump does not enter ``m`` (so a real fault cannot teach the check to accept it).
* :class:`OfflineWatch` — no data from a station for ``missed_intervals`` expected intervals.
  It is driven by a clock (Faust timers in the worker, event time in ``minewatch audit``), not
  only by incoming data: a station that is silent sends nothing to react to.

>>> check = ConstantValue(run=3)
>>> [(f.kind, f.cleared) for v in (5.0, 5.0, 5.0, 5.0, 6.0) for f in check.update(0.0, v)]
[('constant_value', False), ('constant_value', True)]
>>> jump = SuddenJump(z=5.0, alpha=0.5, warmup=3)
>>> [f.detail for t, v in enumerate((10.0, 11.0, 10.0, 11.0, 10.5, 40.0)) for f in jump.update(float(t), v)]
['step of 29.5 after a typical step of 0.75 (39x)']
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import yaml

from minewatch.paths import DATA
from minewatch.registry import Registry
from processors.samples import Reading

QUALITY_FILE = DATA / "quality.yaml"


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str  # impossible_value | out_of_range | constant_value | sudden_jump | offline
    t: float  # event time (epoch) of the reading, or the time the check ran (offline)
    detail: str
    value: float | None = None
    cleared: bool = False


@dataclass(frozen=True, slots=True)
class QualityFinding:
    """A finding about one series (or a whole station, parameter None)."""

    mine_id: str
    station_id: str
    parameter: str | None
    finding: Finding

    @property
    def key(self) -> tuple[str, str, str | None, str]:
        return (self.mine_id, self.station_id, self.parameter, self.finding.kind)


class ImpossibleValue:
    def __init__(self, negative_allowed: bool = False, zero_impossible: bool = False) -> None:
        self.negative_allowed = negative_allowed
        self.zero_impossible = zero_impossible
        self.active = False

    def update(self, t: float, value: float) -> list[Finding]:
        bad = (value < 0 and not self.negative_allowed) or (value == 0 and self.zero_impossible)
        if bad and not self.active:
            self.active = True
            what = "negative" if value < 0 else "exactly zero"
            return [Finding("impossible_value", t, f"value {value:g} is {what}, which this quantity cannot be", value)]
        if not bad and self.active:
            self.active = False
            return [Finding("impossible_value", t, "values possible again", value, cleared=True)]
        return []


class OutOfRange:
    def __init__(self, low: float | None = None, high: float | None = None) -> None:
        self.low, self.high = low, high
        self.active = False

    def update(self, t: float, value: float | None, flag: str) -> list[Finding]:
        outside = flag == "T" or (
            value is not None
            and ((self.low is not None and value < self.low) or (self.high is not None and value > self.high))
        )
        if outside and not self.active:
            self.active = True
            detail = (
                "flag T: above the instrument's measuring range"
                if flag == "T"
                else f"value {value:g} outside the sensor's range [{self.low:g}, {self.high:g}]"
            )
            return [Finding("out_of_range", t, detail, value)]
        if not outside and self.active:
            self.active = False
            return [Finding("out_of_range", t, "back within the measuring range", value, cleared=True)]
        return []


class ConstantValue:
    def __init__(self, run: int = 30) -> None:
        self.run = run
        self.last: float | None = None
        self.count = 0
        self.active = False

    def update(self, t: float, value: float) -> list[Finding]:
        if value == self.last:
            self.count += 1
        else:
            was_active = self.active
            self.last, self.count, self.active = value, 1, False
            if was_active:
                return [Finding("constant_value", t, "the value changes again", value, cleared=True)]
            return []
        if self.count >= self.run and not self.active:
            self.active = True
            return [Finding("constant_value", t, f"{self.count} identical values in a row ({value:g}): 恒值", value)]
        return []


class SuddenJump:
    def __init__(self, z: float = 10.0, alpha: float = 0.05, warmup: int = 20) -> None:
        self.z, self.alpha, self.warmup = z, alpha, warmup
        self.last: float | None = None
        self.mean_step = 0.0
        self.steps = 0

    def update(self, t: float, value: float) -> list[Finding]:
        if self.last is None:
            self.last = value
            return []
        step = abs(value - self.last)
        self.last = value
        if self.steps >= self.warmup and self.mean_step > 0 and step > self.z * self.mean_step:
            ratio = step / self.mean_step
            return [
                Finding(
                    "sudden_jump",
                    t,
                    f"step of {step:.6g} after a typical step of {self.mean_step:.6g} ({ratio:.0f}x)",
                    value,
                )
            ]
        self.steps += 1
        self.mean_step = step if self.steps == 1 else (1 - self.alpha) * self.mean_step + self.alpha * step
        return []


class OfflineWatch:
    """Tracks when each station was last heard from; ``check`` reports stations gone silent.

    >>> watch = OfflineWatch(expected_interval_s={"S": 60.0}, missed_intervals=5)
    >>> watch.seen("S", 0.0)
    []
    >>> watch.check(200.0), [(station, f.kind) for station, f in watch.check(301.0)]
    ([], [('S', 'offline')])
    >>> [f.cleared for f in watch.seen("S", 400.0)]
    [True]
    """

    def __init__(
        self, expected_interval_s: Mapping[str, float], missed_intervals: int = 5, default_interval_s: float = 60.0
    ) -> None:
        self.expected = dict(expected_interval_s)
        self.missed = missed_intervals
        self.default = default_interval_s
        self.last_seen: dict[str, float] = {}
        self.offline: set[str] = set()

    def limit_s(self, station: str) -> float:
        return self.missed * self.expected.get(station, self.default)

    def seen(self, station: str, t: float) -> list[Finding]:
        """Data from ``station`` at ``t``; a station that was offline is back when ``t`` is newer."""
        previous = self.last_seen.get(station)
        if previous is not None and t <= previous:
            return []
        self.last_seen[station] = t
        if station in self.offline:
            self.offline.discard(station)
            return [Finding("offline", t, "data arrive again", cleared=True)]
        return []

    def check(self, now: float) -> list[tuple[str, Finding]]:
        found = []
        for station, last in self.last_seen.items():
            if station not in self.offline and now - last > self.limit_s(station):
                self.offline.add(station)
                found.append(
                    (
                        station,
                        Finding(
                            "offline",
                            now,
                            f"no data for {now - last:.0f} s (more than {self.missed} expected intervals)",
                        ),
                    )
                )
        return found


def offline_watch(registry: Registry, settings: QualitySettings) -> OfflineWatch:
    """An offline watch with each station's expected interval (registry ``interval_s``, else the default)."""
    defaults = settings.defaults["offline"]
    expected = {
        f"{m.id}/{s.id}": s.interval_s for m in registry for s in m.stations.values() if s.interval_s is not None
    }
    return OfflineWatch(expected, defaults["missed_intervals"], defaults["expected_interval_s"])


@dataclass(frozen=True)
class QualitySettings:
    defaults: dict[str, Any]
    parameters: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls) -> QualitySettings:
        return _load_settings()

    def of(self, parameter: str) -> dict[str, Any]:
        return self.parameters.get(parameter, {})


@cache
def _load_settings() -> QualitySettings:
    doc = yaml.safe_load(QUALITY_FILE.read_text(encoding="utf-8"))
    return QualitySettings(doc["defaults"], doc.get("parameters") or {})


class _SeriesChecks:
    __slots__ = ("range", "value_checks")

    def __init__(self, settings: QualitySettings, parameter: str, sensor_range: tuple[float, float] | None) -> None:
        own = settings.of(parameter)
        d = settings.defaults
        self.range = OutOfRange(*(sensor_range or (None, None)))
        impossible = ImpossibleValue(
            own.get("negative_allowed", not d["impossible"]["negative"]), own.get("zero_impossible", False)
        )
        constant = ConstantValue(d["constant"]["run"]) if own.get("constant", True) else None
        jump = SuddenJump(d["jump"]["z"], d["jump"]["alpha"], d["jump"]["warmup"]) if own.get("jump", True) else None
        self.value_checks = tuple(  # the checks of a valid value, in this order
            c.update for c in (impossible, constant, jump) if c is not None
        )

    def update(self, t: float, value: float | None, flag: str) -> list[Finding]:
        found = self.range.update(t, value, flag)
        if flag != "N" or value is None:
            return found
        value = float(value)
        for check in self.value_checks:
            more = check(t, value)
            if more:  # rare: most readings find nothing
                found = found + more
        return found


class QualityMonitor:
    """All checks for every series of a registry, fed readings in time order per series."""

    def __init__(
        self, registry: Registry, settings: QualitySettings | None = None, *, track_offline: bool = True
    ) -> None:
        self.settings = settings or QualitySettings.load()
        self.track_offline = track_offline
        self.ranges = {
            (m.id, s.id, sensor.parameter): sensor.range
            for m in registry
            for s in m.stations.values()
            for sensor in s.sensors
        }
        self.offline = offline_watch(registry, self.settings)
        self._series: dict[tuple[str, str, str], _SeriesChecks] = {}

    def observe(self, readings: Iterable[Reading], arrived_at: float | None = None) -> list[QualityFinding]:
        """Run the checks over ``readings``; ``arrived_at`` is the processing time (else event time)."""
        found: list[QualityFinding] = []
        series = self._series
        heard_mine = heard_station = None  # the last station and time told to the offline watch
        heard_t = math.nan
        for mine, station, parameter, t, value, _, flag in readings:  # every reading: unpacked once
            key = (mine, station, parameter)
            checks = series.get(key)
            if checks is None:
                checks = series[key] = _SeriesChecks(self.settings, parameter, self.ranges.get(key))
            series_found = checks.update(t, value, flag)
            if series_found:
                found.extend(QualityFinding(mine, station, parameter, f) for f in series_found)
            if self.track_offline:
                heard = t if arrived_at is None else arrived_at
                # a message's readings share one station and one time: the watch is told once
                if station != heard_station or mine != heard_mine or heard != heard_t:
                    heard_mine, heard_station, heard_t = mine, station, heard
                    found.extend(
                        QualityFinding(mine, station, None, f) for f in self.offline.seen(f"{mine}/{station}", heard)
                    )
        return found

    def check_offline(self, now: float) -> list[QualityFinding]:
        out = []
        for station, finding in self.offline.check(now):
            mine_id, station_id = station.split("/", 1)
            out.append(QualityFinding(mine_id, station_id, None, finding))
        return out
