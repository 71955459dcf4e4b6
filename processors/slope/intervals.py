"""Interval samples for the slope detectors, from minute aggregates or from raw samples.

The slope detectors work on one sample per interval (10 minutes by default): the mean of the
valid values in the interval for a displacement, the total for rainfall. Both the worker (from
the minute aggregates it stored) and ``minewatch slope analyze`` (from a file) go through
:func:`interval_values`, so they see the same samples.

>>> from processors.samples import MinuteValue
>>> minutes = {0.0: MinuteValue(60, 60, 60.0, 0.9, 1.1), 60.0: MinuteValue(60, 60, 180.0, 2.9, 3.1)}
>>> interval_values(minutes, 0.0, 600.0)
(2.0, 240.0)
>>> interval_start(1234.0, 600.0)
1200.0
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from processors.samples import MinuteValue


def interval_start(t: float, interval_s: float) -> float:
    return t - (t % interval_s)


def interval_values(minutes: Mapping[float, MinuteValue], start: float, end: float) -> tuple[float | None, float]:
    """(mean of the valid samples, total of the valid samples) of the minutes in [start, end)."""
    n = total = 0.0
    for minute, aggregate in minutes.items():
        if start <= minute < end and aggregate.n_valid:
            n += aggregate.n_valid
            total += aggregate.total
    return (total / n if n else None), total


def minutes_of(samples: Iterable[tuple[float, float | None]]) -> dict[float, MinuteValue]:
    """Minute aggregates of raw (t, value) samples; None values count as invalid."""
    out: dict[float, MinuteValue] = {}
    for t, value in samples:
        minute = t - (t % 60.0)
        out.setdefault(minute, MinuteValue()).add(value)
    return out
