"""The idempotent readings writer: COPY in large batches, exactly once per Kafka record.

Each write covers a list of Kafka records (:class:`SourceRecord`). In one transaction it

1. reads the committed offset of every partition involved, and drops records at or below it
   (a replay after a crash: already stored);
2. COPYs the readings of the remaining records straight into ``readings``;
3. advances the partitions' offsets.

A duplicate that slips past step 1 (a device or the MQTT broker re-sending a message: a new
Kafka offset for old readings) violates the ``readings_identity`` index, aborting the COPY.
Only then is the batch written again through a staging table with ``ON CONFLICT DO NOTHING``,
so the common path never pays for conflict handling row by row.

In the same transaction, for the stations with enforced limits, the writer adds the rows it
actually stored to their minute aggregates, marks the averaging windows they fall in as
pending judgement, and moves each station's event-time watermark (see processors/judge.py).
Aggregates built only from stored rows can never count a replay or a re-sent reading twice.

The rows go in COPY's binary format, built by the pure :mod:`storage.copyformat`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import errors

from processors.compliance import windows_of
from processors.open_minutes import MinuteKey, OpenMinutes, Station
from processors.samples import (
    MinuteValue,
    Reading,
    SeriesKey,
    StationRules,
    add_minutes,
    aggregate_minutes,
    o2_readings,
    readings_of_batch,
)
from processors.slope.intervals import interval_start
from processors.slope.settings import SlopeSettings
from processors.windows import CST, SECONDS, AveragingRules, judge_window
from storage.arrays import bool_array, number_array, text_array
from storage.copyformat import COLUMNS, copy_data, copy_rows, copy_statement

SLOPE_INTERVAL_S = SlopeSettings.load().interval_s
WATERMARK_EVERY_S = 5.0  # a station's watermark (when it was last heard from) is at most this old

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """A decoded telemetry batch and where it came from in Kafka (with its samples, when the
    caller has already extracted them)."""

    topic: str
    partition: int
    offset: int
    batch: dict[str, Any]
    readings: list[Reading] | None = None
    rows: bytes | None = None  # its COPY rows (copy_rows)

    def samples(self) -> list[Reading]:
        """Its samples: as prepared, else extracted now."""
        return self.readings if self.readings is not None else readings_of_batch(self.batch)

    def copy_rows(self) -> bytes:
        """Its COPY rows: as prepared, else encoded now."""
        return self.rows if self.rows is not None else copy_rows([self.batch])

    def prepared(self) -> SourceRecord:
        """This record with its samples and COPY rows worked out (before the write needs them)."""
        return SourceRecord(self.topic, self.partition, self.offset, self.batch, self.samples(), self.copy_rows())


@dataclass(slots=True)
class PreparedMinutes:
    """The minute aggregates of a take's samples and each station's latest sample time, built a
    record at a time while the take before is being written. :meth:`ReadingWriter.write` uses
    them when it stores every sample of the take (the common case); otherwise it builds them
    from the rows it stored."""

    o2: dict[tuple[str, str, float], Reading]  # every O2 reading of the take (o2_readings)
    minutes: dict[MinuteKey, MinuteValue]
    latest: dict[Station, float]

    @classmethod
    def of_take(cls, records: list[SourceRecord]) -> PreparedMinutes:
        """Ready for :meth:`add` of ``records``' samples (prepare them first, or they are extracted twice)."""
        o2: dict[tuple[str, str, float], Reading] = {}
        for record in records:  # a record's list at a time: a generator over all of them would run as Python
            o2.update(o2_readings(record.samples()))
        return cls(o2, {}, {})

    def add(self, readings: list[Reading], rules: Mapping[tuple[str, str], StationRules]) -> None:
        add_minutes(self.minutes, readings, rules, self.o2)
        latest = self.latest
        for r in readings:
            key = (r.mine_id, r.station_id)
            if r.t > latest.get(key, -math.inf):
                latest[key] = r.t


@dataclass(frozen=True, slots=True)
class Conflict:
    """A reading sent again for a time already stored, with a different value, unit or flag:
    a device re-using a message id, or an unannounced correction. The first one stays."""

    mine_id: str
    station_id: str
    parameter: str
    t: float
    stored: tuple[Any, str, str]  # (value, unit, flag) kept
    sent: tuple[Any, str, str]  # (value, unit, flag) refused


@dataclass(frozen=True, slots=True)
class WriteResult:
    rows: int  # rows now stored by this write
    skipped_records: int  # records at or below the committed offset (replays)
    duplicates: int  # rows that were already stored (re-sent messages)
    conflicts: tuple[Conflict, ...] = ()  # duplicates whose content differs from what is stored
    urgent_windows: int = 0  # windows marked urgent: an instantaneous limit already exceeded


def interval_rows(records: list[SourceRecord]) -> list[tuple[Any, ...]]:
    """Rows of ``interval_readings``: every reading that states the interval it summarises."""
    rows = []
    for record in records:
        batch = record.batch
        received = datetime.fromtimestamp(batch["received_at"], UTC)
        for message in batch["messages"]:
            for r in message["readings"]:
                if "interval_s" not in r:
                    continue
                rows.append(
                    (
                        r.get("ts") or message["ts"],
                        r["interval_s"],
                        message["mine_id"],
                        message["station_id"],
                        r["parameter"],
                        r["value"],
                        r.get("min"),
                        r.get("max"),
                        r.get("total"),
                        r.get("corrected"),
                        r["unit"],
                        r["flag"],
                        received,
                        message.get("origin"),
                    )
                )
    return rows


def conflicting_messages(
    records: list[SourceRecord], conflicts: tuple[Conflict, ...]
) -> list[tuple[str, dict[str, Any], list[Conflict]]]:
    """The messages that carried conflicting readings, each with its conflicts (for dead letters).

    A message is matched by its mine, station and the readings' times and values, so the copy
    that was refused is named, not the one that was kept.
    """
    wanted = {(c.mine_id, c.station_id, c.parameter, round(c.t, 3), c.sent[0]): c for c in conflicts}
    out = []
    for record in records:
        for message in record.batch["messages"]:
            mine = message["mine_id"]
            mine_conflicts = []
            message_t = datetime.fromisoformat(message["ts"]).timestamp()
            for reading in message["readings"]:
                t = datetime.fromisoformat(reading["ts"]).timestamp() if "ts" in reading else message_t
                hit = wanted.pop(
                    (mine, message["station_id"], reading["parameter"], round(t, 3), reading["value"]), None
                )
                if hit is not None:
                    mine_conflicts.append(hit)
            if mine_conflicts:
                out.append((mine, message, mine_conflicts))
    return out


def conflict_reason(conflicts: list[Conflict]) -> str:
    """What a mine operator reads about a message whose readings contradict stored ones.

    >>> c = Conflict("GZ520201-0001", "WW01", "w01018", 1795651200.0, (42.0, "mg/L", "N"), (99.0, "mg/L", "N"))
    >>> import textwrap
    >>> print(textwrap.fill(conflict_reason([c]), 100))
    station WW01 already sent w01018 at 2026-11-26T08:00:00+08:00 as 42.0 mg/L (flag N); this message
    says 99.0 mg/L (flag N). A re-used message id or an unannounced correction: the value first stored
    is kept; ask the bureau to amend the record if this one is the correction.
    """
    first = conflicts[0]
    at = datetime.fromtimestamp(first.t, CST).isoformat()
    more = f" (and {len(conflicts) - 1} more readings)" if len(conflicts) > 1 else ""
    return (
        f"station {first.station_id} already sent {first.parameter} at {at} as {first.stored[0]} {first.stored[1]}"
        f" (flag {first.stored[2]}); this message says {first.sent[0]} {first.sent[1]} (flag {first.sent[2]}){more}."
        " A re-used message id or an unannounced correction: the value first stored is kept;"
        " ask the bureau to amend the record if this one is the correction."
    )


ReadingKey = tuple[str, str, str, float]  # mine, station, parameter, epoch seconds to the millisecond


def readings_around(conn: psycopg.Connection, keys: Collection[ReadingKey]) -> list[ReadingKey]:
    """The keys of every stored row in the mines and time span of ``keys`` (one per row, so a
    key stored twice shows twice): what a check of "exactly these readings" compares against."""
    mines = sorted({k[0] for k in keys})
    low, high = min(k[3] for k in keys), max(k[3] for k in keys)
    rows = conn.execute(
        "SELECT mine_id, station_id, parameter, round(extract(epoch FROM ts)::numeric, 3)::float8 FROM readings"
        " WHERE mine_id = ANY(%s) AND ts BETWEEN to_timestamp(%s) AND to_timestamp(%s)",
        (mines, low, high),
    ).fetchall()
    return [(m, s, p, t) for m, s, p, t in rows]


class ReadingWriter:
    """Writes telemetry batches to ``readings`` exactly once, for one named consumer.

    ``topic_ids`` maps topic names to their Kafka topic ids (:func:`minewatch.kafka.topic_ids`):
    stored offsets count only for the topic incarnation that produced them.
    """

    def __init__(
        self,
        conn: psycopg.AsyncConnection,
        topic_ids: dict[str, str],
        consumer: str = "storage",
        rules: Mapping[tuple[str, str], StationRules] | None = None,
        open_minutes: OpenMinutes | None = None,
    ) -> None:
        self.conn = conn
        self.topic_ids = topic_ids
        self.consumer = consumer
        self.rules = rules
        self.open_minutes = open_minutes

    async def write(self, records: list[SourceRecord], prepared: PreparedMinutes | None = None) -> WriteResult:
        """Store ``records`` (see the module docstring). With ``open_minutes``, the minutes of the
        stored rows are added to them; if the write fails, the stations involved are forgotten
        (their open minutes may hold rows that were not stored) and rebuilt at their next write.
        ``prepared``: the minutes of all of ``records``' samples, used if all are stored."""
        if not records:
            return WriteResult(0, 0, 0)
        try:
            return await self._write(records, prepared)
        except BaseException:
            if self.open_minutes is not None:
                self.open_minutes.forget(
                    {(m["mine_id"], m["station_id"]) for record in records for m in record.batch["messages"]}
                )
            raise

    async def _write(self, records: list[SourceRecord], prepared: PreparedMinutes | None) -> WriteResult:
        async with self.conn.transaction():
            fresh = await self._unseen(records)
            if self.open_minutes is not None and self.rules is not None:  # before this batch's rows are in
                await self._recover(
                    {
                        station
                        for record in fresh
                        for m in record.batch["messages"]
                        if (station := (m["mine_id"], m["station_id"])) not in self.open_minutes
                    }
                )
            payload = b"".join(r.copy_rows() for r in fresh)
            conflicts: list[Conflict] = []
            try:
                async with self.conn.transaction():  # savepoint: a duplicate aborts only this part
                    rows = await self._copy(payload, "readings")
                    duplicates = 0
                stored = None
            except errors.UniqueViolation:
                rows, duplicates, stored, conflicts = await self._copy_tolerating_duplicates(payload)
            intervals = interval_rows(fresh)
            if intervals:
                async with self.conn.cursor() as cur:
                    await cur.executemany(
                        "INSERT INTO interval_readings (ts, interval_s, mine_id, station_id, parameter, value,"
                        " min_value, max_value, total, corrected, unit, flag, received_at, origin)"
                        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                        intervals,
                    )
            urgent = 0
            if self.rules is not None and fresh:
                if prepared is None or stored is not None or len(fresh) < len(records):
                    prepared = self._minutes_of(fresh, stored)
                urgent = await self._bookkeep(prepared)
            await self._advance(records)
        return WriteResult(rows, len(records) - len(fresh), duplicates, tuple(conflicts), urgent)

    async def skip(self, records: list[SourceRecord]) -> None:
        """Mark ``records`` as handled without storing them (they went to the dead-letter topic)."""
        async with self.conn.transaction():
            await self._advance(records)

    async def _unseen(self, records: list[SourceRecord]) -> list[SourceRecord]:
        partitions = sorted({(r.topic, r.partition) for r in records})
        cur = await self.conn.execute(
            "SELECT topic, kafka_partition, committed_offset FROM consumer_offsets"
            " WHERE consumer = %s AND (topic, topic_id, kafka_partition) IN"
            " (SELECT * FROM unnest(%s::text[], %s::text[], %s::int[])) FOR UPDATE",
            (
                self.consumer,
                [p[0] for p in partitions],
                [self.topic_ids.get(p[0], "") for p in partitions],
                [p[1] for p in partitions],
            ),
        )
        committed = {(t, p): o for t, p, o in await cur.fetchall()}
        return [r for r in records if r.offset > committed.get((r.topic, r.partition), -1)]

    async def _copy(self, payload: bytes, table: str) -> int:
        async with self.conn.cursor() as cur:
            async with cur.copy(copy_statement(table)) as copy:
                await copy.write(copy_data(payload))
            return cur.rowcount

    async def _copy_tolerating_duplicates(self, payload: bytes) -> tuple[int, int, list[Reading], list[Conflict]]:
        await self.conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS readings_stage (LIKE readings INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        staged = await self._copy(payload, "readings_stage")
        cur = await self.conn.execute(
            f"INSERT INTO readings ({COLUMNS}) SELECT {COLUMNS} FROM readings_stage"
            " ON CONFLICT (mine_id, station_id, parameter, ts) DO NOTHING"
            " RETURNING mine_id, station_id, parameter, extract(epoch FROM ts)::float8, value, unit, flag"
        )
        stored = [Reading(*row) for row in await cur.fetchall()]
        cur = await self.conn.execute(
            "SELECT s.mine_id, s.station_id, s.parameter, extract(epoch FROM s.ts)::float8, r.value, r.unit, r.flag,"
            " s.value, s.unit, s.flag FROM readings_stage s JOIN readings r USING (mine_id, station_id, parameter, ts)"
            " WHERE (s.value, s.unit, s.flag) IS DISTINCT FROM (r.value, r.unit, r.flag)"
        )
        conflicts = [
            Conflict(m, st, p, t, (rv, ru, rf), (sv, su, sf))
            for m, st, p, t, rv, ru, rf, sv, su, sf in await cur.fetchall()
        ]
        await self.conn.execute("TRUNCATE readings_stage")
        log.info("batch met %d already-stored readings; stored the other %d", staged - len(stored), len(stored))
        return len(stored), staged - len(stored), stored, conflicts

    def _minutes_of(self, fresh: list[SourceRecord], stored: list[Reading] | None) -> PreparedMinutes:
        """The minutes of the rows stored: all the samples of ``fresh``, or ``stored`` when some
        were already there (the O2 a stored row is corrected by may then be an old one)."""
        assert self.rules is not None
        batch = [r for record in fresh for r in record.samples()]
        rows = batch if stored is None else stored
        minutes = PreparedMinutes({**o2_readings(batch), **o2_readings(rows)}, {}, {})
        minutes.add(rows, self.rules)
        return minutes

    async def _bookkeep(self, prepared: PreparedMinutes) -> int:
        """Minute aggregates, pending windows and watermarks for the rows just stored (their
        minutes and each station's latest sample time); the number of windows marked urgent.
        With open minutes, only late, urgent and closed minutes and due watermarks are written;
        without, every minute and watermark the rows touch."""
        assert self.rules is not None
        minutes, latest = prepared.minutes, prepared.latest
        held = self.open_minutes
        if held is None:
            urgent = {key for key, value in minutes.items() if _exceeds_now(self.rules, key, value)}
            marked = await self._write_minutes(minutes, {}, urgent)
            await self._write_watermarks([(station, t, None) for station, t in latest.items()])
            return marked
        now = time.time()
        late = held.add(minutes, latest, now)
        early: dict[MinuteKey, MinuteValue] = {}
        for key in minutes:
            if key not in late and (value := held.held(key)) is not None and _exceeds_now(self.rules, key, value):
                early[key] = value
        closed = held.closed(now, latest)
        closed.update(early)
        urgent = {key for key, value in late.items() if _exceeds_now(self.rules, key, value)} | set(early)
        marked = await self._write_minutes(late, closed, urgent)
        await self._write_watermarks(held.watermarks(now, WATERMARK_EVERY_S))
        return marked

    async def close_minutes(self, now: float) -> int:
        """Write the open minutes that closed without new data (a station fell silent) and the
        watermarks due; the number of minutes written."""
        held = self.open_minutes
        assert held is not None
        closed: dict[MinuteKey, MinuteValue] = {}
        marks: list[tuple[Station, float, float | None]] = []
        try:
            async with self.conn.transaction():
                closed = held.closed(now)
                await self._write_minutes({}, closed, set())
                marks = held.watermarks(now, WATERMARK_EVERY_S)
                await self._write_watermarks(marks)
        except BaseException:  # what was taken out of the open minutes is not stored: rebuild it
            held.forget({(k[0].mine_id, k[0].station_id) for k in closed} | {m[0] for m in marks})
            raise
        return len(closed)

    async def _recover(self, stations: Collection[Station]) -> None:
        """Take over stations this worker has not stored yet: their open minutes, rebuilt from the
        readings stored since their ``complete_before`` (see processors/open_minutes.py)."""
        if not stations:
            return
        assert self.open_minutes is not None and self.rules is not None
        cur = await self.conn.execute(
            "SELECT w.mine_id, w.station_id, extract(epoch FROM w.max_ts)::float8,"
            " extract(epoch FROM w.complete_before)::float8 FROM station_watermarks w"
            " JOIN unnest(%s::text[], %s::text[]) AS x(m, s) ON w.mine_id = x.m AND w.station_id = x.s",
            (text_array(s[0] for s in stations), text_array(s[1] for s in stations)),
        )
        marks = {(m, s): (max_ts, since) for m, s, max_ts, since in await cur.fetchall()}
        rebuild = [
            (station, since) for station, (_, since) in marks.items() if since is not None and station in self.rules
        ]
        minutes: dict[MinuteKey, MinuteValue] = {}
        if rebuild:
            cur = await self.conn.execute(
                "SELECT r.mine_id, r.station_id, r.parameter, extract(epoch FROM r.ts)::float8, r.value, r.unit, r.flag"
                " FROM readings r JOIN unnest(%s::text[], %s::text[], %s::float8[]) AS x(m, s, t)"
                " ON r.mine_id = x.m AND r.station_id = x.s AND r.ts >= to_timestamp(x.t)",
                (
                    text_array(s[0][0] for s in rebuild),
                    text_array(s[0][1] for s in rebuild),
                    number_array(s[1] for s in rebuild),
                ),
            )
            minutes = aggregate_minutes([Reading(*row) for row in await cur.fetchall()], self.rules)
        by_station: dict[Station, dict[MinuteKey, MinuteValue]] = {}
        for key, value in minutes.items():
            by_station.setdefault((key[0].mine_id, key[0].station_id), {})[key] = value
        for station in stations:
            max_ts, since = marks.get(station, (None, None))
            self.open_minutes.recover(station, since, by_station.get(station, {}), max_ts)
        if rebuild:
            log.info("rebuilt the open minutes of %d stations from their stored readings", len(rebuild))

    async def _write_minutes(
        self, added: dict[MinuteKey, MinuteValue], whole: dict[MinuteKey, MinuteValue], urgent: set[MinuteKey]
    ) -> int:
        """Add ``added`` to the stored minutes, store ``whole`` as they are (every stored reading
        of the minute is in them), and mark their windows pending; the number marked urgent."""
        for minutes, replace in ((added, False), (whole, True)):
            if minutes:
                await self._upsert_minutes(minutes, replace)
        both = {**added, **whole}
        return await self._mark_pending(both, urgent) if both else 0

    async def _write_watermarks(self, marks: list[tuple[Station, float, float | None]]) -> None:
        if not marks:
            return
        await self.conn.execute(
            "INSERT INTO station_watermarks (mine_id, station_id, max_ts, received_at, complete_before)"
            " SELECT m, s, to_timestamp(t), now(), to_timestamp(c)"
            " FROM unnest(%s::text[], %s::text[], %s::float8[], %s::float8[]) AS x(m, s, t, c)"
            " ON CONFLICT (mine_id, station_id) DO UPDATE"
            " SET max_ts = GREATEST(station_watermarks.max_ts, EXCLUDED.max_ts), received_at = now(),"
            " complete_before = EXCLUDED.complete_before",
            (
                text_array(m[0][0] for m in marks),
                text_array(m[0][1] for m in marks),
                number_array(m[1] for m in marks),
                number_array(m[2] for m in marks),
            ),
        )

    async def _upsert_minutes(self, minutes: dict[MinuteKey, MinuteValue], replace: bool) -> None:
        keys = list(minutes)
        aggregates = list(minutes.values())
        cols = [text_array(k[0][i] for k in keys) for i in range(4)]
        cols.append(number_array(k[1] for k in keys))
        cols += [number_array(getattr(a, name) for a in aggregates) for name in _AGGREGATE_FIELDS]
        await self.conn.execute(
            "INSERT INTO minute_values (mine_id, station_id, parameter, reference, minute, n_samples, n_valid,"
            " total, minimum, maximum) SELECT m, s, p, r, to_timestamp(t), n, v, tot, lo, hi FROM unnest("
            "%s::text[], %s::text[], %s::text[], %s::text[], %s::float8[], %s::int[], %s::int[], %s::float8[],"
            " %s::float8[], %s::float8[]) AS x(m, s, p, r, t, n, v, tot, lo, hi)"
            " ON CONFLICT (mine_id, station_id, parameter, reference, minute) DO UPDATE SET "
            + (_REPLACE if replace else _ADD),
            cols,
        )

    async def _mark_pending(self, minutes: dict[MinuteKey, MinuteValue], urgent: set[MinuteKey]) -> int:
        assert self.rules is not None
        pending: dict[tuple[SeriesKey, str, float], bool] = {}
        for key in minutes:
            series, minute = key
            rules = self.rules[(series.mine_id, series.station_id)]
            for kind, start in windows_of(rules, series, (minute,)):
                is_urgent = kind == "minute" and key in urgent
                pending[(series, kind, start)] = pending.get((series, kind, start), False) or is_urgent
            if rules.tracks_slope:  # the point (or rain gauge) as a whole is assessed per interval
                point = SeriesKey(series.mine_id, series.station_id, "", "")
                pending.setdefault((point, "slope", interval_start(minute, SLOPE_INTERVAL_S)), False)
        if not pending:
            return 0
        keys = list(pending)
        cols = [text_array(k[0][i] for k in keys) for i in range(4)]
        cols += [
            text_array(k[1] for k in keys),
            number_array(k[2] for k in keys),
            number_array(start + SECONDS.get(kind, SLOPE_INTERVAL_S) for _, kind, start in keys),
            bool_array(pending.values()),
        ]
        await self.conn.execute(
            "INSERT INTO pending_windows (mine_id, station_id, parameter, reference, kind, window_start, window_end,"
            " urgent) SELECT m, s, p, r, k, to_timestamp(a), to_timestamp(b), u FROM unnest(%s::text[], %s::text[],"
            " %s::text[], %s::text[], %s::text[], %s::float8[], %s::float8[], %s::bool[]) AS x(m, s, p, r, k, a, b, u)"
            " ON CONFLICT (mine_id, station_id, parameter, reference, kind, window_start) DO UPDATE"
            " SET marked_at = clock_timestamp(), urgent = pending_windows.urgent OR EXCLUDED.urgent"
            # marked_at only steers max_wait, from GREATEST(window_end, marked_at): a window that
            # has not ended, or was marked less than a second ago, is left as it is. Each closed
            # minute re-marks its hour and day windows, so this spares PostgreSQL two row versions
            # per series a minute, which the judge's scan of pending windows would wade through.
            " WHERE EXCLUDED.urgent > pending_windows.urgent"
            " OR (pending_windows.window_end < clock_timestamp()"
            " AND pending_windows.marked_at < clock_timestamp() - interval '1 second')",
            cols,
        )
        return sum(pending.values())

    async def _advance(self, records: list[SourceRecord]) -> None:
        latest: dict[tuple[str, int], int] = {}
        for r in records:
            key = (r.topic, r.partition)
            latest[key] = max(latest.get(key, -1), r.offset)
        keys = list(latest)
        await self.conn.execute(
            "INSERT INTO consumer_offsets (consumer, topic, topic_id, kafka_partition, committed_offset)"
            " SELECT %s, t, i, p, o FROM unnest(%s::text[], %s::text[], %s::int[], %s::bigint[]) AS x(t, i, p, o)"
            " ON CONFLICT (consumer, topic, topic_id, kafka_partition) DO UPDATE"
            " SET committed_offset = GREATEST(consumer_offsets.committed_offset, EXCLUDED.committed_offset),"
            " updated_at = now()",
            (
                self.consumer,
                text_array(k[0] for k in keys),
                text_array(self.topic_ids.get(k[0], "") for k in keys),
                number_array(k[1] for k in keys),
                number_array(latest.values()),
            ),
        )


def _exceeds_now(rules: Mapping[tuple[str, str], StationRules], key: MinuteKey, aggregate: MinuteValue) -> bool:
    """An instantaneous limit is already exceeded in this minute (more data cannot undo it)."""
    series, minute = key
    station_rules = rules[(series.mine_id, series.station_id)]
    unit = station_rules.units[series.parameter]
    return any(
        judge_window("minute", series, minute, {minute: aggregate}, limit, unit, _INSTANT).outcome == "exceeds"
        for limit in station_rules.limits_of(series)
        if limit.basis == "instantaneous"
    )


_INSTANT = AveragingRules()
_AGGREGATE_FIELDS = ("n_samples", "n_valid", "total", "minimum", "maximum")
_ADD = (
    "n_samples = minute_values.n_samples + EXCLUDED.n_samples, n_valid = minute_values.n_valid + EXCLUDED.n_valid,"
    " total = minute_values.total + EXCLUDED.total, minimum = LEAST(minute_values.minimum, EXCLUDED.minimum),"
    " maximum = GREATEST(minute_values.maximum, EXCLUDED.maximum)"
)
_REPLACE = (
    "n_samples = EXCLUDED.n_samples, n_valid = EXCLUDED.n_valid, total = EXCLUDED.total,"
    " minimum = EXCLUDED.minimum, maximum = EXCLUDED.maximum"
)
