"""Judging compliance end to end over a set of readings: the pure core of the window judge and
of ``minewatch audit``.

readings → minute aggregates (:mod:`processors.samples`) → windows judged against each limit on
its basis (:mod:`processors.windows`) → exceedance episodes (:mod:`processors.episodes`), and the
data-quality checks (:mod:`processors.quality`) alongside. The worker runs exactly these
functions, window by window, on the minute aggregates it stored; the audit runs them on a file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from processors.episodes import Episode, episodes_of
from processors.quality import QualityFinding, QualityMonitor
from processors.samples import MinuteValue, Reading, SeriesKey, StationRules, aggregate_minutes
from processors.windows import CST, KIND_OF_BASIS, AveragingRules, Kind, Verdict, judge_window, window_bounds


def windows_of(rules: StationRules, series: SeriesKey, minutes: Iterable[float]) -> set[tuple[Kind, float]]:
    """The (kind, start) of every window the given minutes of ``series`` fall in."""
    kinds = {KIND_OF_BASIS[limit.basis] for limit in rules.limits_of(series)}
    if not kinds:
        return set()
    return {(kind, window_bounds(kind, minute)[0]) for kind in kinds for minute in minutes}


def judge_series_window(
    rules: StationRules,
    series: SeriesKey,
    kind: Kind,
    window_start: float,
    minutes: Mapping[float, MinuteValue],
    averaging: AveragingRules,
) -> list[Verdict]:
    """Verdicts of one window of ``series`` against every limit judged on that window's basis."""
    day = datetime.fromtimestamp(window_start, CST).date()
    return [
        judge_window(kind, series, window_start, minutes, limit, rules.units[series.parameter], averaging)
        for limit in rules.limits_of(series)
        if KIND_OF_BASIS[limit.basis] == kind and limit.in_force_on(day)
    ]


def episodes_by_limit(verdicts: Iterable[Verdict]) -> list[Episode]:
    groups: dict[tuple[SeriesKey, str, str], list[Verdict]] = {}
    for v in verdicts:
        groups.setdefault((v.series, v.limit_id, v.basis), []).append(v)
    return [episode for group in groups.values() for episode in episodes_of(group)]


@dataclass(frozen=True)
class AuditResult:
    verdicts: list[Verdict]
    exceedances: list[Episode]
    findings: list[QualityFinding]


def audit(
    readings: Iterable[Reading],
    rules: Mapping[tuple[str, str], StationRules],
    averaging: AveragingRules,
    monitor: QualityMonitor,
) -> AuditResult:
    """Every verdict, exceedance and data-quality finding in ``readings`` (any order)."""
    ordered = sorted(readings, key=lambda r: r.t)
    minutes = aggregate_minutes(ordered, rules)
    by_series: dict[SeriesKey, dict[float, MinuteValue]] = {}
    for (series, minute), aggregate in minutes.items():
        by_series.setdefault(series, {})[minute] = aggregate
    verdicts: list[Verdict] = []
    for series, series_minutes in by_series.items():
        station_rules = rules[(series.mine_id, series.station_id)]
        for kind, start in sorted(windows_of(station_rules, series, series_minutes)):
            verdicts += judge_series_window(station_rules, series, kind, start, series_minutes, averaging)

    findings: list[QualityFinding] = []
    last_check = None
    for r in ordered:  # event time drives the offline check, as timers do in the worker
        if last_check is None or r.t - last_check >= 1.0:
            findings += monitor.check_offline(r.t)
            last_check = r.t
        findings += monitor.observe([r])
    return AuditResult(verdicts, episodes_by_limit(verdicts), findings)
