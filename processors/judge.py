"""The window judge: judges the averaging windows that have new data, keeps every verdict's
revisions, and keeps exceedance episodes in step with them. A thin shell over
:mod:`processors.compliance`; all its state is in the database.

A pending window is judged when it is *due*:

* its station's event-time watermark has passed the window's end by a grace period (the data
  of the window are in; late data will re-mark it), or
* ``max_wait`` has passed, in processing time, since both the window's end and the last data
  for it (a station that fell silent still gets its windows judged, most likely as
  ``insufficient``; a back-fill of old data is judged by its watermark, not cut short), or
* it is ``urgent``: an instantaneous limit is already exceeded, which more data cannot undo.

A window judged again gets a new verdict revision only when its outcome or value changed.
Episodes are recomputed from the current verdicts of the limits whose verdicts changed, over
``horizon``, and written back: opened, extended, closed, or withdrawn when late data showed
the windows complied. Newly opened episodes raise alerts in the same transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg

from alerts.model import AlertCandidate, exceedance_fingerprint
from alerts.store import AlertSink
from processors.compliance import judge_series_window
from processors.episodes import Episode, episodes_of
from processors.limits import Limit
from processors.samples import MinuteValue, SeriesKey, StationRules
from processors.windows import CST, AveragingRules, Verdict

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JudgeTiming:
    grace: Mapping[str, timedelta] = field(
        default_factory=lambda: {
            "minute": timedelta(seconds=5),
            "hour": timedelta(minutes=2),
            "day": timedelta(minutes=10),
            "slope": timedelta(minutes=1),
        }
    )
    max_wait: Mapping[str, timedelta] = field(
        default_factory=lambda: {
            "minute": timedelta(minutes=2),
            "hour": timedelta(minutes=15),
            "day": timedelta(hours=1),
            "slope": timedelta(minutes=15),
        }
    )
    horizon: timedelta = timedelta(days=10)
    batch: int = 100  # windows a run claims; an urgent window waits behind at most one run


@dataclass
class JudgeReport:
    windows: int = 0
    revisions: int = 0
    opened: list[str] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    withdrawn: list[str] = field(default_factory=list)


async def claim_due(
    conn: psycopg.AsyncConnection, kinds: tuple[str, ...], timing: JudgeTiming, urgent_only: bool = False
) -> list[tuple[SeriesKey, str, float]]:
    """Remove and return the pending windows of ``kinds`` that are due (see the module docstring),
    urgent ones first: when every station's minute closes at once, an exceedance does not queue.
    ``urgent_only``: the urgent ones alone, for a run (a transaction) of their own.

    Runs inside the caller's transaction: if judging fails, the windows are pending again.
    """
    cur = await conn.execute(
        """
        DELETE FROM pending_windows p
         WHERE (p.mine_id, p.station_id, p.parameter, p.reference, p.kind, p.window_start) IN (
               SELECT q.mine_id, q.station_id, q.parameter, q.reference, q.kind, q.window_start
                 FROM pending_windows q
                 LEFT JOIN station_watermarks m USING (mine_id, station_id)
                -- grace and wait looked up per row, not joined: joined, PostgreSQL expected a few
                -- rows and probed the watermarks once per pending window (14 ms a run, not 4)
                WHERE q.kind = ANY(%(kinds)s::text[])
                  AND (q.urgent
                   OR (NOT %(urgent_only)s
                       AND (m.max_ts >= q.window_end
                                        + (%(grace)s::interval[])[array_position(%(kinds)s::text[], q.kind)]
                            OR now() >= GREATEST(q.window_end, q.marked_at)
                                        + (%(wait)s::interval[])[array_position(%(kinds)s::text[], q.kind)])))
                ORDER BY q.urgent DESC, q.window_end  -- an exceedance need not wait behind a closed minute's windows
                LIMIT %(n)s
                  FOR UPDATE OF q SKIP LOCKED)
        RETURNING p.mine_id, p.station_id, p.parameter, p.reference, p.kind, extract(epoch FROM p.window_start)::float8
        """,
        {
            "kinds": list(kinds),
            "grace": [timing.grace[k] for k in kinds],
            "wait": [timing.max_wait[k] for k in kinds],
            "n": timing.batch,
            "urgent_only": urgent_only,
        },
    )
    return [(SeriesKey(m, s, p, r), k, float(t)) for m, s, p, r, k, t in await cur.fetchall()]


class WindowJudge:
    def __init__(
        self,
        rules: Mapping[tuple[str, str], StationRules],
        averaging: AveragingRules,
        limits: Mapping[str, Limit],
        alert_for: Callable[[Episode, Limit], AlertCandidate | None],
        alerts: AlertSink,
        timing: JudgeTiming | None = None,
    ) -> None:
        self.rules = rules
        self.averaging = averaging
        self.limits = limits
        self.alert_for = alert_for
        self.alerts = alerts
        self.timing = timing or JudgeTiming()

    async def run_once(self, conn: psycopg.AsyncConnection, urgent_only: bool = False) -> JudgeReport:
        """Judge one batch of due windows in one transaction (``urgent_only``: of urgent ones)."""
        report = JudgeReport()
        async with conn.transaction():
            due = await claim_due(conn, ("minute", "hour", "day"), self.timing, urgent_only)
            if not due:
                return report
            report.windows = len(due)
            minutes = await self._minutes_of(conn, due)
            verdicts: list[Verdict] = []
            for series, kind, start in due:
                rules = self.rules.get((series.mine_id, series.station_id))
                if rules is not None:
                    verdicts += judge_series_window(rules, series, kind, start, minutes.get(series, {}), self.averaging)
            changed = await self._record(conn, verdicts)
            report.revisions = len(changed)
            since = datetime.now(UTC) - self.timing.horizon
            for key in await self._keys_with_episodes(conn, changed, since):
                await self._update_episodes(conn, key, since, report)
        return report

    async def _keys_with_episodes(
        self, conn: psycopg.AsyncConnection, changed: list[Verdict], since: datetime
    ) -> list[tuple[SeriesKey, str, str]]:
        """The (series, limit, basis) of ``changed`` whose episodes may change: a changed verdict
        exceeds, or an exceedance is stored. Episodes are a function of the current verdicts and
        every run writes them back, so a key with no exceedance stored has no exceeding verdict,
        and verdicts that do not exceed cannot give it one: one query spares two per key."""
        keys = list(dict.fromkeys((v.series, v.limit_id, v.basis) for v in changed))
        exceeding = {(v.series, v.limit_id, v.basis) for v in changed if v.outcome == "exceeds"}
        others = [k for k in keys if k not in exceeding]
        stored: set[tuple[str, ...]] = set()
        if others:
            cur = await conn.execute(
                "SELECT DISTINCT x.mine_id, x.station_id, x.parameter, x.reference, x.limit_id"
                " FROM exceedances x JOIN unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[])"
                " AS k(m, s, p, r, l) ON x.mine_id = k.m AND x.station_id = k.s AND x.parameter = k.p"
                " AND x.reference = k.r AND x.limit_id = k.l"
                " WHERE x.first_window_start >= %s AND x.status <> 'withdrawn'",
                (
                    *([k[0][i] for k in others] for i in range(4)),
                    [k[1] for k in others],
                    since,
                ),
            )
            stored = {tuple(row) for row in await cur.fetchall()}
        return [k for k in keys if k in exceeding or (*k[0], k[1]) in stored]

    async def _minutes_of(
        self, conn: psycopg.AsyncConnection, due: list[tuple[SeriesKey, str, float]]
    ) -> dict[SeriesKey, dict[float, MinuteValue]]:
        spans: dict[SeriesKey, tuple[float, float]] = {}
        for series, kind, start in due:
            end = start + {"minute": 60.0, "hour": 3600.0, "day": 86400.0}[kind]
            lo, hi = spans.get(series, (start, end))
            spans[series] = (min(lo, start), max(hi, end))
        keys = list(spans)
        cur = await conn.execute(
            """
            SELECT v.mine_id, v.station_id, v.parameter, v.reference, extract(epoch FROM v.minute)::float8,
                   v.n_samples, v.n_valid, v.total, v.minimum, v.maximum
              FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::float8[], %s::float8[])
                   AS k(m, s, p, r, lo, hi)
              JOIN minute_values v ON v.mine_id = k.m AND v.station_id = k.s AND v.parameter = k.p
                                  AND v.reference = k.r
                                  AND v.minute >= to_timestamp(k.lo) AND v.minute < to_timestamp(k.hi)
            """,
            (
                [k.mine_id for k in keys],
                [k.station_id for k in keys],
                [k.parameter for k in keys],
                [k.reference for k in keys],
                [spans[k][0] for k in keys],
                [spans[k][1] for k in keys],
            ),
        )
        out: dict[SeriesKey, dict[float, MinuteValue]] = {}
        for m, s, p, r, t, n, v, total, lo, hi in await cur.fetchall():
            out.setdefault(SeriesKey(m, s, p, r), {})[float(t)] = MinuteValue(n, v, total, lo, hi)
        return out

    async def _record(self, conn: psycopg.AsyncConnection, verdicts: list[Verdict]) -> list[Verdict]:
        """Store the verdicts that differ from their window's latest revision; return those."""
        if not verdicts:
            return []
        cur = await conn.execute(
            """
            SELECT DISTINCT ON (w.mine_id, w.station_id, w.parameter, w.reference, w.limit_id, w.window_start)
                   w.mine_id, w.station_id, w.parameter, w.reference, w.limit_id,
                   extract(epoch FROM w.window_start)::float8, w.revision, w.outcome, w.value, w.n_valid
              FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::float8[])
                   AS k(m, s, p, r, l, t)
              JOIN window_verdicts w ON w.mine_id = k.m AND w.station_id = k.s AND w.parameter = k.p
                                    AND w.reference = k.r AND w.limit_id = k.l AND w.window_start = to_timestamp(k.t)
             ORDER BY w.mine_id, w.station_id, w.parameter, w.reference, w.limit_id, w.window_start, w.revision DESC
            """,
            (
                [v.series.mine_id for v in verdicts],
                [v.series.station_id for v in verdicts],
                [v.series.parameter for v in verdicts],
                [v.series.reference for v in verdicts],
                [v.limit_id for v in verdicts],
                [v.window_start for v in verdicts],
            ),
        )
        latest = {
            (m, s, p, r, lim, float(t)): (rev, outcome, value, n)
            for m, s, p, r, lim, t, rev, outcome, value, n in await cur.fetchall()
        }
        changed, rows = [], []
        for v in verdicts:
            key = (*v.series, v.limit_id, v.window_start)
            previous = latest.get(key)
            if previous is not None and previous[1:] == (v.outcome, v.value, v.n_valid):
                continue
            changed.append(v)
            rows.append(
                (
                    *v.series,
                    v.limit_id,
                    v.basis,
                    v.window_start,
                    v.window_end,
                    (previous[0] + 1) if previous else 1,
                    v.outcome,
                    v.value,
                    v.unit,
                    v.n_valid,
                    v.n_required,
                    v.multiple,
                )
            )
        if rows:
            async with conn.cursor() as c:
                await c.executemany(
                    "INSERT INTO window_verdicts (mine_id, station_id, parameter, reference, limit_id, basis,"
                    " window_start, window_end, revision, outcome, value, unit, n_valid, n_required, multiple)"
                    " VALUES (%s, %s, %s, %s, %s, %s, to_timestamp(%s), to_timestamp(%s), %s, %s, %s, %s, %s, %s, %s)",
                    rows,
                )
        return changed

    async def _update_episodes(
        self, conn: psycopg.AsyncConnection, key: tuple[SeriesKey, str, str], since: datetime, report: JudgeReport
    ) -> None:
        """Write back the episodes of ``key``'s verdicts since ``since`` (the horizon)."""
        series, limit_id, basis = key
        cur = await conn.execute(
            """
            SELECT DISTINCT ON (window_start) extract(epoch FROM window_start)::float8,
                   extract(epoch FROM window_end)::float8, outcome, value, unit, n_valid, n_required, multiple
              FROM window_verdicts
             WHERE mine_id = %s AND station_id = %s AND parameter = %s AND reference = %s AND limit_id = %s
               AND window_start >= %s
             ORDER BY window_start, revision DESC
            """,
            (*series, limit_id, since),
        )
        current = [
            Verdict(series, limit_id, basis, float(a), float(b), o, val, u, n, req, mult)
            for a, b, o, val, u, n, req, mult in await cur.fetchall()
        ]
        episodes = {e.exceedance_id: e for e in episodes_of(current)}
        cur = await conn.execute(
            "SELECT exceedance_id, status, windows, extract(epoch FROM last_window_end)::float8,"
            " extract(epoch FROM closed_at)::float8,"
            " peak_value FROM exceedances WHERE mine_id = %s AND station_id = %s AND parameter = %s AND reference = %s"
            " AND limit_id = %s AND first_window_start >= %s AND status <> 'withdrawn'",
            (*series, limit_id, since),
        )
        stored = {row[0]: row[1:] for row in await cur.fetchall()}
        limit = self.limits[limit_id]
        for exceedance_id in stored.keys() - episodes.keys():
            await conn.execute(
                "UPDATE exceedances SET status = 'withdrawn', revision = revision + 1, updated_at = now()"
                " WHERE exceedance_id = %s",
                (exceedance_id,),
            )
            report.withdrawn.append(exceedance_id)
        ended: list[str] = [
            f"exceedance {x} withdrawn: corrected or late data no longer exceed the limit"
            for x in stored.keys() - episodes.keys()
        ]
        for exceedance_id, e in episodes.items():
            status = "open" if e.is_open else "closed"
            before = stored.get(exceedance_id)
            after = (status, e.windows, e.last_end, e.closed_at, e.peak.value)
            if before is not None and tuple(before) == after:
                continue
            await conn.execute(
                """
                INSERT INTO exceedances (exceedance_id, mine_id, station_id, parameter, reference, limit_id, basis,
                       citation, unit, limit_lower, limit_upper, first_window_start, last_window_end, closed_at,
                       status, windows, peak_window_start, peak_window_end, peak_value, peak_multiple, peak_n_valid,
                       peak_n_required)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, to_timestamp(%s), to_timestamp(%s),
                        to_timestamp(%s), %s, %s, to_timestamp(%s), to_timestamp(%s), %s, %s, %s, %s)
                ON CONFLICT (exceedance_id) DO UPDATE SET
                       last_window_end = EXCLUDED.last_window_end, closed_at = EXCLUDED.closed_at,
                       status = EXCLUDED.status, windows = EXCLUDED.windows,
                       peak_window_start = EXCLUDED.peak_window_start, peak_window_end = EXCLUDED.peak_window_end,
                       peak_value = EXCLUDED.peak_value, peak_multiple = EXCLUDED.peak_multiple,
                       peak_n_valid = EXCLUDED.peak_n_valid, peak_n_required = EXCLUDED.peak_n_required,
                       revision = exceedances.revision + 1, updated_at = now()
                """,
                (
                    exceedance_id,
                    *series,
                    limit_id,
                    basis,
                    limit.citation,
                    limit.unit,
                    limit.lower,
                    limit.upper,
                    e.first_start,
                    e.last_end,
                    e.closed_at,
                    status,
                    e.windows,
                    e.peak.window_start,
                    e.peak.window_end,
                    e.peak.value,
                    e.peak.multiple,
                    e.peak.n_valid,
                    e.peak.n_required,
                ),
            )
            if before is None:
                report.opened.append(exceedance_id)
                candidate = self.alert_for(e, limit)
                if candidate is not None:
                    await self.alerts.raise_alert(conn, candidate)
            if status == "closed" and (before is None or before[0] != "closed"):
                report.closed.append(exceedance_id)
                ended.append(
                    f"exceedance {exceedance_id} ended: back within the limit from "
                    f"{datetime.fromtimestamp(e.closed_at or e.last_end, CST).isoformat()}"
                )
        if ended and not any(e.is_open for e in episodes.values()):
            fp = exceedance_fingerprint(series.mine_id, series.station_id, limit_id, series.reference)
            await self.alerts.resolve_alert(conn, fp, "; ".join(ended))
