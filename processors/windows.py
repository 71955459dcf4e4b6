"""Averaging windows in China Standard Time, and the verdict of a window against a limit.

Each limit is judged on the basis its standard gives (data/limits/limits.yaml):

* ``instantaneous`` — every valid sample; judged per minute, on the minute's extreme
  (the maximum against an upper bound, the minimum against a lower one);
* ``hourly_mean`` — the clock hour: the arithmetic mean of its valid minute values, valid only
  with at least 45 of them;
* ``daily_mean`` — the day 00:00–24:00 **Beijing time** (UTC+8): the mean of its valid hourly
  means, valid only with at least 20 of them.

A window without enough valid data gets the verdict ``insufficient``, never a mean. Means are
rounded to 12 significant digits before they are compared, so floating-point summation can
never turn a value exactly at the limit into an exceedance. The
minimum counts come from the data file's ``averaging_rules`` (their sources and confidence are
recorded there). Windows use event time: a reading belongs to the window of its timestamp,
however late it arrives.

>>> from datetime import UTC
>>> midnight_beijing = datetime(2026, 11, 26, tzinfo=CST).timestamp()
>>> day_start(datetime(2026, 11, 25, 16, 30, tzinfo=UTC).timestamp()) == midnight_beijing   # 00:30 in Beijing
True
>>> window_bounds("hour", 3725.0)
(3600.0, 7200.0)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from minewatch.units import convert
from processors.limits import Limit
from processors.samples import MinuteValue, SeriesKey

CST = timezone(timedelta(hours=8), "CST")
_CST_OFFSET = 8 * 3600.0

Kind = Literal["minute", "hour", "day"]
Outcome = Literal["exceeds", "complies", "insufficient"]
KIND_OF_BASIS: dict[str, Kind] = {"instantaneous": "minute", "hourly_mean": "hour", "daily_mean": "day"}
SECONDS: dict[str, float] = {"minute": 60.0, "hour": 3600.0, "day": 86400.0}


def day_start(t: float) -> float:
    """Start (epoch) of the Beijing-time day containing ``t``."""
    return ((t + _CST_OFFSET) // 86400.0) * 86400.0 - _CST_OFFSET


def window_bounds(kind: Kind, t: float) -> tuple[float, float]:
    """(start, end) of the ``kind`` window containing ``t``."""
    start = day_start(t) if kind == "day" else t - (t % SECONDS[kind])
    return start, start + SECONDS[kind]


@dataclass(frozen=True)
class AveragingRules:
    min_valid_samples_per_minute: int = 1
    min_valid_minutes_per_hour: int = 45
    min_valid_hours_per_day: int = 20

    @classmethod
    def from_data(cls, rules: Mapping[str, Any]) -> AveragingRules:
        return cls(
            min_valid_samples_per_minute=int(rules.get("minute", {}).get("min_valid_samples", 1)),
            min_valid_minutes_per_hour=int(rules.get("hourly_mean", {}).get("min_valid_minutes", 45)),
            min_valid_hours_per_day=int(rules.get("daily_mean", {}).get("min_valid_hours", 20)),
        )


@dataclass(frozen=True, slots=True)
class Verdict:
    """A window judged against a limit. ``value`` is in the limit's unit."""

    series: SeriesKey
    limit_id: str
    basis: str
    window_start: float
    window_end: float
    outcome: Outcome
    value: float | None
    unit: str
    n_valid: int
    n_required: int
    multiple: float | None

    @property
    def window_text(self) -> str:
        start = datetime.fromtimestamp(self.window_start, CST)
        end = datetime.fromtimestamp(self.window_end, CST)
        return f"{start.isoformat()}/{end.isoformat()}"


def hourly_means(minutes: Mapping[float, MinuteValue], rules: AveragingRules) -> dict[float, tuple[float | None, int]]:
    """Per clock hour: (mean of the valid minute values or None when too few, valid minutes)."""
    grouped: dict[float, list[float]] = {}
    for minute, aggregate in minutes.items():
        mean = aggregate.mean
        if mean is not None and aggregate.n_valid >= rules.min_valid_samples_per_minute:
            grouped.setdefault(minute - (minute % 3600.0), []).append(mean)
        else:
            grouped.setdefault(minute - (minute % 3600.0), [])
    return {
        hour: ((sum(values) / len(values)) if len(values) >= rules.min_valid_minutes_per_hour else None, len(values))
        for hour, values in grouped.items()
    }


def judge_window(
    kind: Kind,
    series: SeriesKey,
    window_start: float,
    minutes: Mapping[float, MinuteValue],
    limit: Limit,
    unit: str,
    rules: AveragingRules,
) -> Verdict:
    """The verdict of one window of ``series`` against ``limit``.

    ``minutes`` are the minute aggregates of the series inside the window, values in ``unit``
    (the parameter's catalogue unit), converted here to the limit's unit.
    """
    window_end = window_start + SECONDS[kind]
    inside = {m: a for m, a in minutes.items() if window_start <= m < window_end}

    def verdict(
        outcome: Outcome, value: float | None, n_valid: int, n_required: int, multiple: float | None
    ) -> Verdict:
        shown = None if value is None else _significant(convert(value, unit, limit.unit))
        return Verdict(
            series,
            limit.limit_id,
            limit.basis,
            window_start,
            window_end,
            outcome,
            shown,
            limit.unit,
            n_valid,
            n_required,
            multiple,
        )

    if kind == "minute":
        valid = [a for a in inside.values() if a.n_valid >= rules.min_valid_samples_per_minute]
        if not valid:
            return verdict("insufficient", None, 0, rules.min_valid_samples_per_minute, None)
        n_valid = sum(a.n_valid for a in valid)
        high = max(a.maximum for a in valid if a.maximum is not None)
        low = min(a.minimum for a in valid if a.minimum is not None)
        over_high = limit.judge(_significant(convert(high, unit, limit.unit))) if limit.upper is not None else None
        over_low = limit.judge(_significant(convert(low, unit, limit.unit))) if limit.lower is not None else None
        if over_high is not None and (over_low is None or over_high >= over_low):
            return verdict("exceeds", high, n_valid, 1, over_high)
        if over_low is not None:
            return verdict("exceeds", low, n_valid, 1, over_low)
        return verdict("complies", high if limit.upper is not None else low, n_valid, 1, None)

    if kind == "hour":
        mean, n_valid = hourly_means(inside, rules).get(window_start, (None, 0))
        required = rules.min_valid_minutes_per_hour
    else:
        hours = hourly_means(inside, rules)
        valid_hours = [m for m, _ in hours.values() if m is not None]
        n_valid, required = len(valid_hours), rules.min_valid_hours_per_day
        mean = sum(valid_hours) / n_valid if n_valid >= required else None
    if mean is None:
        return verdict("insufficient", None, n_valid, required, None)
    multiple = limit.judge(_significant(convert(mean, unit, limit.unit)))
    return verdict("complies" if multiple is None else "exceeds", mean, n_valid, required, multiple)


def _significant(value: float, digits: int = 12) -> float:
    return float(f"{value:.{digits}g}")
