"""The slope assessor: the database shell around :mod:`processors.slope`.

Each slope point, piezometer and rain gauge is assessed once per interval (10 minutes by
default) on the interval's mean (or total, for rain) of the minute aggregates the readings
writer stored. Intervals become due like averaging windows (processors/judge.py): when the
station's event-time watermark has passed them, or after a wait. Every station's detector state
lives in ``slope_point_state`` and is written in the same transaction as the assessments it
produced, so a restart continues exactly where it stopped. Intervals arrive in order; data
later than an interval already assessed are stored but no longer change the assessment (the
detectors' state is sequential), and the assessment says so.

After the points, each touched slope is rolled up (:mod:`processors.slope.rollup`); a slope that
reaches a new warning level raises an alert naming its forecast failure time when there is one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

import psycopg
from psycopg.types.json import Jsonb

from alerts.model import slope_alert, slope_fingerprint
from alerts.store import AlertSink
from minewatch.registry import Registry
from processors.judge import JudgeTiming, claim_due
from processors.samples import MinuteValue
from processors.slope.intervals import interval_values
from processors.slope.levels import rank
from processors.slope.point import Assessment
from processors.slope.rainfall import RainAssessment
from processors.slope.rollup import Point, rollup
from processors.slope.settings import PointConfig, SlopeSettings
from processors.slope.station import PiezoAssessment, Result, StationWatch
from processors.windows import CST

log = logging.getLogger(__name__)


ASSESSMENT_COLUMNS = (
    "mine_id, station_id, slope_id, t, displacement, smoothed, velocity, velocity_se, acceleration, acceleration_se,"
    " v_const, ratio, alpha_deg, raw_level, level, reasons, forecast_status, forecast_reason, forecast_failure,"
    " forecast_low, forecast_high, forecast_r2, note"
)


def _ts(t: float | None) -> datetime | None:
    return None if t is None else datetime.fromtimestamp(t, UTC)


@dataclass
class SlopeReport:
    intervals: int = 0
    assessments: int = 0
    late: int = 0
    level_changes: list[tuple[str, str, str]] = field(default_factory=list)


class SlopeAssessor:
    def __init__(
        self,
        registry: Registry,
        settings: SlopeSettings,
        alerts: AlertSink,
        timing: JudgeTiming | None = None,
    ) -> None:
        self.registry = registry
        self.settings = settings
        self.alerts = alerts
        self.timing = timing or JudgeTiming()

    def config(self, mine_id: str, station_id: str) -> tuple[str, PointConfig] | None:
        mine = self.registry.mine(mine_id)
        station = mine.station(station_id) if mine else None
        if station is None:
            return None
        params = tuple(s.parameter for s in station.sensors)
        return station.kind, PointConfig.of(station_id, station.slope_config, params)

    async def run_once(self, conn: psycopg.AsyncConnection) -> SlopeReport:
        report = SlopeReport()
        async with conn.transaction():
            due = await claim_due(conn, ("slope",), self.timing)
            if not due:
                return report
            report.intervals = len(due)
            starts: dict[tuple[str, str], list[float]] = {}
            for series, _, start in due:
                starts.setdefault((series.mine_id, series.station_id), []).append(start)
            touched: set[tuple[str, str | None]] = set()
            for (mine_id, station_id), station_starts in starts.items():
                if await self._assess_station(conn, mine_id, station_id, sorted(station_starts), report):
                    station = self.registry.mine(mine_id).station(station_id)  # type: ignore[union-attr]
                    touched.add((mine_id, station.slope_id if station and station.kind == "slope" else None))
            for mine_id, slope_id in sorted(touched, key=str):
                for slope in self._slopes_of(mine_id, slope_id):
                    await self._rollup(conn, mine_id, slope, report)
        return report

    async def _assess_station(
        self, conn: psycopg.AsyncConnection, mine_id: str, station_id: str, starts: list[float], report: SlopeReport
    ) -> bool:
        found = self.config(mine_id, station_id)
        if found is None:
            return False
        kind, config = found
        cur = await conn.execute(
            "SELECT state FROM slope_point_state WHERE mine_id = %s AND station_id = %s FOR UPDATE",
            (mine_id, station_id),
        )
        row = await cur.fetchone()
        watch = StationWatch(kind, config, self.settings, None if row is None else row[0])
        interval = self.settings.interval_s
        fresh = [s for s in starts if watch.last_t is None or s + interval > watch.last_t]
        report.late += len(starts) - len(fresh)
        if not fresh:
            return False
        minutes = await self._minutes(conn, mine_id, station_id, fresh[0], fresh[-1] + interval)
        results: list[Result] = []
        for start in fresh:
            means, totals = {}, {}
            for parameter, series in minutes.items():
                mean, total = interval_values(series, start, start + interval)
                if mean is not None:
                    means[parameter], totals[parameter] = mean, total
            out, _ = watch.update(start + interval, means, totals)
            results += out
        await self._store(conn, mine_id, station_id, results)
        report.assessments += len(results)
        await conn.execute(
            "INSERT INTO slope_point_state (mine_id, station_id, last_t, state) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (mine_id, station_id) DO UPDATE SET last_t = EXCLUDED.last_t, state = EXCLUDED.state,"
            " updated_at = now()",
            (mine_id, station_id, _ts(watch.last_t), Jsonb(watch.state())),
        )
        return bool(results)

    async def _minutes(
        self, conn: psycopg.AsyncConnection, mine_id: str, station_id: str, start: float, end: float
    ) -> dict[str, dict[float, MinuteValue]]:
        cur = await conn.execute(
            "SELECT parameter, extract(epoch FROM minute)::float8, n_samples, n_valid, total, minimum, maximum"
            " FROM minute_values WHERE mine_id = %s AND station_id = %s AND reference = ''"
            " AND minute >= to_timestamp(%s) AND minute < to_timestamp(%s)",
            (mine_id, station_id, start, end),
        )
        out: dict[str, dict[float, MinuteValue]] = {}
        for parameter, minute, n, v, total, lo, hi in await cur.fetchall():
            out.setdefault(parameter, {})[float(minute)] = MinuteValue(n, v, total, lo, hi)
        return out

    async def _store(self, conn: psycopg.AsyncConnection, mine_id: str, station_id: str, results: list[Result]) -> None:
        station = self.registry.mine(mine_id).station(station_id)  # type: ignore[union-attr]
        slope_id = station.slope_id if station else None
        rows, rain = [], []
        for r in results:
            if isinstance(r, RainAssessment):
                rain.append(
                    (
                        mine_id,
                        station_id,
                        _ts(r.t),
                        Jsonb({f"{h:g}h": v for h, v in r.totals_mm.items()}),
                        r.level,
                        Jsonb(list(r.reasons)),
                    )
                )
            elif isinstance(r, PiezoAssessment):
                rows.append(
                    (
                        mine_id,
                        station_id,
                        slope_id,
                        _ts(r.t),
                        r.level_m,
                        r.level_m,
                        None,
                        None,
                        None,
                        None,
                        None,
                        None,
                        None,
                        r.level,
                        r.level,
                        Jsonb([r.reason] if r.reason else []),
                        None,
                        None,
                        None,
                        None,
                        None,
                        None,
                        "",
                    )
                )
            elif isinstance(r, Assessment):
                f = r.forecast
                rows.append(
                    (
                        mine_id,
                        station_id,
                        slope_id,
                        _ts(r.t),
                        r.displacement,
                        r.smoothed,
                        r.velocity,
                        r.velocity_se,
                        r.acceleration,
                        r.acceleration_se,
                        r.v_const,
                        r.ratio,
                        r.alpha,
                        r.raw_level,
                        r.level,
                        Jsonb(list(r.reasons)),
                        f and f.status,
                        f and f.reason,
                        _ts(f and f.t_failure),
                        _ts(f and f.low),
                        _ts(f and f.high),
                        f and f.r2,
                        r.note,
                    )
                )
        async with conn.cursor() as cur:
            if rows:
                await cur.executemany(
                    f"INSERT INTO slope_assessments ({ASSESSMENT_COLUMNS})"
                    f" VALUES ({', '.join(['%s'] * len(ASSESSMENT_COLUMNS.split(',')))}) ON CONFLICT DO NOTHING",
                    rows,
                )
            if rain:
                await cur.executemany(
                    "INSERT INTO rainfall_assessments (mine_id, station_id, t, totals_mm, level, reasons)"
                    " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    rain,
                )

    def _slopes_of(self, mine_id: str, slope_id: str | None) -> list[str]:
        """The slopes a station's new assessment concerns: its own, or every slope of the mine (rain)."""
        if slope_id is not None:
            return [slope_id]
        mine = self.registry.mine(mine_id)
        return sorted({s.slope_id for s in mine.stations.values() if s.slope_id}) if mine else []

    async def _rollup(self, conn: psycopg.AsyncConnection, mine_id: str, slope_id: str, report: SlopeReport) -> None:
        mine = self.registry.mine(mine_id)
        if mine is None:
            return
        cur = await conn.execute(
            "SELECT DISTINCT ON (station_id) station_id, level, extract(epoch FROM t)::float8,"
            " forecast_status, extract(epoch FROM forecast_failure)::float8, extract(epoch FROM forecast_low)::float8,"
            " extract(epoch FROM forecast_high)::float8"
            " FROM slope_assessments WHERE mine_id = %s AND slope_id = %s ORDER BY station_id, t DESC",
            (mine_id, slope_id),
        )
        latest = await cur.fetchall()
        cur = await conn.execute(
            "SELECT DISTINCT ON (station_id) station_id, level, extract(epoch FROM t)::float8 FROM rainfall_assessments"
            " WHERE mine_id = %s ORDER BY station_id, t DESC",
            (mine_id,),
        )
        rain = await cur.fetchall()
        points = []
        for station_id, level, _t, *_ in latest:
            found = self.config(mine_id, station_id)
            points.append(Point(station_id, found[1].item if found else "gnss", level))
        points += [Point(station_id, "rain", level) for station_id, level, _t in rain]
        if not points:
            return
        s = self.settings
        verdict = rollup(
            points,
            promote=s.promote,
            items_blue_make_yellow=s.items_blue_make_yellow,
            red_needs_points=s.red_needs_points,
        )
        forecasts = [(tf, lo, hi) for _, _, _, status, tf, lo, hi in latest if status == "ok" and tf is not None]
        forecast = min(forecasts, default=None, key=lambda f: f[0])
        t = max([float(row[2]) for row in latest] + [float(row[2]) for row in rain])
        by_point = {p.point_id: p.level for p in points}
        cur = await conn.execute(
            "SELECT level, points FROM slope_levels WHERE mine_id = %s AND slope_id = %s ORDER BY t DESC LIMIT 1",
            (mine_id, slope_id),
        )
        previous = await cur.fetchone()
        if previous is not None and previous[0] == verdict.level and previous[1] == by_point:
            return
        await conn.execute(
            "INSERT INTO slope_levels (mine_id, slope_id, t, level, items, points, reasons, forecast_failure)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (mine_id, slope_id, t) DO UPDATE SET"
            " level = EXCLUDED.level, items = EXCLUDED.items, points = EXCLUDED.points, reasons = EXCLUDED.reasons,"
            " forecast_failure = EXCLUDED.forecast_failure",
            (
                mine_id,
                slope_id,
                _ts(t),
                verdict.level,
                Jsonb(verdict.items),
                Jsonb(by_point),
                Jsonb(list(verdict.reasons)),
                _ts(forecast[0]) if forecast else None,
            ),
        )
        before = previous[0] if previous is not None else "none"
        if verdict.level != before:
            report.level_changes.append((mine_id, slope_id, verdict.level))
        alerting = rank(self.settings.alert_from)
        if verdict.level != before and rank(verdict.level) >= alerting:
            alert = slope_alert(
                mine_id,
                slope_id,
                verdict.level,
                verdict.reasons,
                forecast,
                by_point,
                t,
                region_code=mine.region_code,
                county_code=mine.county_code,
            )
            await self.alerts.raise_alert(conn, alert)
        elif verdict.level != before and rank(before) >= alerting:
            await self.alerts.resolve_alert(
                conn,
                slope_fingerprint(mine_id, slope_id),
                f"slope {slope_id} back to {verdict.level} at {datetime.fromtimestamp(t, CST).isoformat()}",
            )
