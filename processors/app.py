"""The minewatch Faust worker: stores telemetry, judges it against the emission limits the way
the standards do, checks data quality, raises alerts.

Topics, agents and timers are declared here, plainly; the work is done by pure code
(:mod:`processors.compliance` and the modules it uses, :mod:`processors.quality`,
:mod:`alerts.model`) and thin database shells (:mod:`storage.readings`, :mod:`processors.judge`,
:mod:`alerts.store`).

* ``store_readings`` writes readings in one transaction per batch, with the minutes that
  closed (the open ones are held in the worker, :mod:`processors.open_minutes`), the windows
  now pending judgement and the stations' watermarks, and runs the data-quality checks on the
  same readings; the ``close_minutes_continually`` task writes the minutes of stations gone silent;
* the ``judge_continually`` task judges the windows that are due and keeps verdicts, exceedance
  episodes and their alerts in step (all its state is in the database), every half second and
  at once when a write marked a window urgent (those in runs of their own);
* the ``watch_offline`` timer finds stations that went silent (a silent station sends nothing
  to react to);
* the other agents store device status, self-reports and dead letters.

Delivery guarantees. Every agent takes events with ``noack_take`` and acknowledges them only
after its work is durable, so Faust never commits an offset past unfinished work: a crash
replays, and the writers make replays harmless (Kafka offsets stored with the rows, unique
keys, idempotent findings and alert events). A database outage is retried with backoff, never
skipped. A record the database refuses for its content is isolated and sent to the dead-letter
topic instead of blocking its partition.

Run it with ``minewatch worker``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from hashlib import sha256
from pathlib import Path
from typing import Any, TypeVar

import aiokafka
import faust
import orjson
import psycopg
from prometheus_client import Counter, Gauge, Histogram
from psycopg.types.json import Jsonb

from alerts.model import AlertCandidate, exceedance_alert, quality_alert, quality_fingerprint
from alerts.store import AlertStore
from greenmine.evaluation import due_periods
from greenmine.store import ReportRefused, evaluate_period, flag_overdue_complaints, ingest_report
from minewatch.gcpolicy import tune_for_throughput
from minewatch.kafka import high_watermarks, topic_ids
from minewatch.parameters import load_parameters
from minewatch.records import dead_letter, decode_batch, decode_dead_letter
from minewatch.registry import Registry
from minewatch.settings import Settings
from minewatch.topics import KafkaTopics
from processors.episodes import Episode
from processors.judge import JudgeTiming, WindowJudge
from processors.limits import Limit, LimitBook
from processors.open_minutes import OpenMinutes
from processors.quality import QualityFinding, QualityMonitor, offline_watch
from processors.samples import rules_for_registry
from processors.slope.settings import SlopeSettings
from processors.slopes import SlopeAssessor
from processors.windows import CST, AveragingRules
from storage.readings import (
    PreparedMinutes,
    ReadingWriter,
    SourceRecord,
    WriteResult,
    conflict_reason,
    conflicting_messages,
)

log = logging.getLogger("minewatch.worker")
settings = Settings.from_env()

# Faust creates its consumer with fetch_max_wait_ms=1500, hard-coded. Tansu holds a fetch for
# that long even when records are waiting (measured: median delivery 0.44 s at 1,500 ms, 0.027 s
# at 100 ms), which was most of minewatch's publish-to-stored latency. Kafka returns a fetch as
# soon as it has data, so a short wait costs it nothing but a few more requests when idle.
FETCH_MAX_WAIT_MS = 100
STREAM_BUFFER_RECORDS = settings.records_over(0.625)  # 25 records at 2 partitions
_consumer_init = aiokafka.AIOKafkaConsumer.__init__


def _consumer_with_short_fetch_wait(self: aiokafka.AIOKafkaConsumer, *topics: str, **options: Any) -> None:
    options["fetch_max_wait_ms"] = min(options.get("fetch_max_wait_ms", FETCH_MAX_WAIT_MS), FETCH_MAX_WAIT_MS)
    _consumer_init(self, *topics, **options)


aiokafka.AIOKafkaConsumer.__init__ = _consumer_with_short_fetch_wait  # type: ignore[method-assign]

app = faust.App(
    KafkaTopics.WORKER_GROUP,
    broker=f"kafka://{settings.kafka_bootstrap}",
    store="memory://",
    topic_partitions=settings.kafka_partitions,
    topic_allow_declare=False,  # topics are created explicitly, one partition count for all
    topic_disable_leader=True,
    web_enabled=False,
    consumer_auto_offset_reset="earliest",
    broker_session_timeout=settings.kafka_session_timeout_s,
    broker_heartbeat_interval=1.0,
    broker_commit_interval=1.0,
    producer_acks=-1,
    # Events fetched ahead of the agents, per stream: a record is a batch of up to 500 messages,
    # and Faust's default (4,096 records) let an overloaded worker hold half a gigabyte.
    stream_buffer_maxsize=STREAM_BUFFER_RECORDS,
)

telemetry_topic = app.topic(KafkaTopics.TELEMETRY, key_serializer="raw", value_serializer="raw")
status_topic = app.topic(KafkaTopics.STATUS, key_serializer="raw", value_serializer="raw")
reports_topic = app.topic(KafkaTopics.REPORTS, key_serializer="raw", value_serializer="raw")
dead_letter_topic = app.topic(KafkaTopics.DEAD_LETTER, key_serializer="raw", value_serializer="raw")

TAKE_MAX = settings.records_over(0.5)  # records per take: 20 at 2 partitions (~150 messages each at 60,000/s)
TAKE_WITHIN = 0.05  # seconds to wait for a take to fill
JUDGE_EVERY_S = 0.5
COMPLAINTS_EVERY_S = 5.0
EVALUATE_EVERY_S = 3600.0
GAUGES_EVERY_S = 10.0
SLOPES_EVERY_S = 2.0
OFFLINE_EVERY_S = 10.0
CLOSE_MINUTES_EVERY_S = 1.0
# A minute held open longer than this (processing time) is written even if its station's data
# have not passed its end: the station fell silent. Above 60 s + the judge's grace, so a station
# reporting steadily has its minutes closed by event time, each written once.
MAX_HOLD_S = 90.0

READINGS_STORED = Counter("minewatch_readings_stored_total", "Readings written to the database")
RECORDS_REPLAYED = Counter("minewatch_kafka_records_replayed_total", "Records skipped as already stored")
DUPLICATE_READINGS = Counter("minewatch_duplicate_readings_total", "Re-sent readings already stored")
JUDGED_WINDOWS = Counter("minewatch_windows_judged_total", "Averaging windows judged")
SLOPE_ASSESSMENTS = Counter("minewatch_slope_assessments_total", "Slope point, piezometer and rain assessments")
EXCEEDANCES_OPENED = Counter("minewatch_exceedances_opened_total", "Exceedance episodes opened")
QUALITY_FINDINGS = Counter("minewatch_quality_findings_total", "Data-quality findings", ["check", "cleared"])
ALERTS_OPENED = Counter("minewatch_alerts_opened_total", "Alerts opened or reopened", ["category", "severity"])
ALERTS_RESOLVED = Counter("minewatch_alerts_resolved_total", "Alerts resolved because their condition cleared")
STORAGE_REJECTED = Counter("minewatch_storage_rejected_total", "Records the database refused")
CONFLICTING_READINGS = Counter(
    "minewatch_conflicting_readings_total", "Readings re-sent for a stored time with a different value (dead-lettered)"
)
WRITE_SECONDS = Histogram(
    "minewatch_write_seconds",
    "Time to write one batch of readings (COPY, bookkeeping, offsets, commit)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
WRITE_BATCH_ROWS = Histogram(
    "minewatch_write_batch_rows", "Readings stored per batch written", buckets=(1, 10, 100, 1_000, 10_000, 100_000)
)
PUBLISH_TO_STORED = Histogram(
    "minewatch_publish_to_stored_seconds",
    "From the bridge or gateway accepting a message to its rows committed",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
JUDGE_SECONDS = Histogram(
    "minewatch_judge_seconds",
    "Time to judge one batch of due windows (claim, verdicts, episodes, alerts, commit)",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
OPEN_EXCEEDANCES = Gauge("minewatch_open_exceedances", "Emission exceedance episodes open")
STATIONS_OFFLINE = Gauge("minewatch_stations_offline", "Stations whose latest offline finding is not cleared")
CONSUMER_LAG = Gauge(
    "minewatch_kafka_consumer_lag_records", "Telemetry records in Kafka not yet stored", ["topic", "partition"]
)
WORKER_ERRORS = Counter("minewatch_worker_task_errors_total", "Timer runs that failed (and were retried)", ["task"])

T = TypeVar("T")
URGENT_WINDOWS = asyncio.Event()  # set by the storing agent, awaited by the judge


class Runtime:
    """What the agents share: the registry, the rules and checks, one connection per agent."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.registry = Registry.load(settings.registry_path)
        self.parameters = load_parameters()
        book = LimitBook.load()
        self.rules = rules_for_registry(self.registry, book)
        self.limits = {limit.limit_id: limit for limit in book.enforced}
        self.routing = settings.routing()
        self.judge = WindowJudge(
            self.rules, AveragingRules.from_data(book.rules), self.limits, self.exceedance_alert, self
        )
        self.slopes = SlopeAssessor(self.registry, SlopeSettings.load(), self, JudgeTiming(batch=300))
        self.quality = QualityMonitor(self.registry, track_offline=False)
        self.offline = offline_watch(self.registry, self.quality.settings)
        started = datetime.now(UTC).timestamp()
        for mine in self.registry:  # a registered station that never reports is offline too
            for station in mine.stations.values():
                self.offline.seen(f"{mine.id}/{station.id}", started)
        self.open_minutes = OpenMinutes(JudgeTiming().grace["minute"].total_seconds(), MAX_HOLD_S)
        self.open_minutes_lock = asyncio.Lock()  # a write and the closing timer take turns with them
        self.topic_ids: dict[str, str] | None = None
        self._connections: dict[str, psycopg.AsyncConnection] = {}
        tune_for_throughput()  # after the long-lived state is built (minewatch/gcpolicy.py)

    async def raise_alert(self, conn: psycopg.AsyncConnection, candidate: AlertCandidate) -> None:
        """Inside the caller's transaction: the alert and its routes with the finding that caused it."""
        if (await AlertStore(conn, self.routing).raise_alert(candidate)).new_alert:
            ALERTS_OPENED.labels(candidate.category, candidate.severity).inc()

    async def resolve_alert(self, conn: psycopg.AsyncConnection, fingerprint: str, comment: str) -> None:
        """Inside the caller's transaction: the condition cleared, so its open alert resolves."""
        if await AlertStore(conn, self.routing).resolve_condition(fingerprint, comment) is not None:
            ALERTS_RESOLVED.inc()

    def exceedance_alert(self, episode: Episode, limit: Limit) -> AlertCandidate | None:
        mine = self.registry.mine(episode.series.mine_id)
        if mine is None:
            return None
        parameter = self.parameters.get(episode.series.parameter)
        return exceedance_alert(
            episode,
            limit,
            mine.region_code,
            mine.county_code,
            parameter.name if parameter else episode.series.parameter,
        )

    async def kafka_topic_ids(self) -> dict[str, str]:
        """Topic ids tie stored offsets to this incarnation of each topic (see storage.readings)."""
        if self.topic_ids is None:
            self.topic_ids = await asyncio.to_thread(topic_ids, self.settings.kafka_bootstrap, KafkaTopics.ALL)
        return self.topic_ids

    async def connection(self, name: str) -> psycopg.AsyncConnection:
        conn = self._connections.get(name)
        if conn is None or conn.closed or conn.broken:
            conn = await psycopg.AsyncConnection.connect(self.settings.db_url, autocommit=True)
            self._connections[name] = conn
        return conn

    async def durably(self, name: str, work: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run ``work(conn, *args)`` on the named connection until it succeeds; only outages are retried."""
        delay = 0.2
        while True:
            try:
                return await work(await self.connection(name), *args)
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                log.warning("%s: database unavailable (%s); retrying in %.1f s", name, exc, delay)
                self._connections.pop(name, None)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)


@functools.cache
def runtime() -> Runtime:
    """Built on first use, in the worker, so importing this module stays cheap and side-effect free."""
    return Runtime(settings)


async def _reject_record(record: SourceRecord, error: Exception) -> None:
    """Send a record the database refused to the dead-letter topic, with the database's reason."""
    STORAGE_REJECTED.inc()
    messages = record.batch.get("messages") if isinstance(record.batch, dict) else None
    mines = {m.get("mine_id") for m in messages or () if isinstance(m, dict)}
    mine = mines.pop() if len(mines) == 1 else None
    letter = dead_letter(
        "storage",
        f"{record.topic}/{record.partition}@{record.offset}",
        orjson.dumps(record.batch),
        "storage_rejected",
        f"the database refused this data: {error}",
        mine,
        datetime.now(UTC).timestamp(),
    )
    await (await dead_letter_topic.send(key=(mine or "").encode(), value=letter))


@app.agent(telemetry_topic)
async def store_readings(stream: faust.StreamT) -> None:
    """Telemetry batches -> ``readings``, idempotently (see :mod:`storage.readings`), and the
    data-quality checks (constant, impossible, out of range, jumps) on the same readings: one
    agent decodes each batch once.

    Two takes overlap: while the database stores one, the next is decoded, turned into COPY
    rows and minute aggregates (:class:`storage.readings.PreparedMinutes`) and checked, so the
    worker's Python and PostgreSQL work at the same time. The next take is prepared a record
    at a time, giving way between records: prepared in one piece (a quarter of a second of CPU
    at 100,000 readings/s) it held up the write in flight between its statements and the
    judge's round trips. Writes stay in order; each take is acknowledged once its write has
    committed."""
    rt = runtime()
    storing: asyncio.Task[None] | None = None
    try:
        async for events in stream.noack_take(TAKE_MAX, within=TAKE_WITHIN):
            records = []
            findings: list[QualityFinding] = []
            now = datetime.now(UTC).timestamp()
            for e in events:
                batch = decode_batch(e.value)
                record = SourceRecord(e.message.topic, e.message.partition, e.message.offset, batch).prepared()
                records.append(record)
                findings += rt.quality.observe(record.samples(), arrived_at=now)
                await asyncio.sleep(0)
            minutes = PreparedMinutes.of_take(records)
            for record in records:
                minutes.add(record.samples(), rt.rules)
                await asyncio.sleep(0)
            if storing is not None:
                await storing
            storing = asyncio.create_task(_store_take(rt, stream, events, records, findings, minutes))
    finally:
        if storing is not None:
            await storing


async def _store_take(
    rt: Runtime,
    stream: faust.StreamT,
    events: list[Any],
    records: list[SourceRecord],
    findings: list[QualityFinding],
    minutes: PreparedMinutes,
) -> None:
    await _write_isolating_bad_records(rt, records, minutes)
    if findings:
        await rt.durably("quality", _record_findings, rt, findings)
    for event in events:
        await stream.ack(event)


async def _write_isolating_bad_records(rt: Runtime, records: list[SourceRecord], minutes: PreparedMinutes) -> None:
    ids = await rt.kafka_topic_ids()

    conflicts: list[tuple[list[SourceRecord], WriteResult]] = []

    async def write(conn: psycopg.AsyncConnection, batch: list[SourceRecord]) -> None:
        started = time.perf_counter()
        writer = ReadingWriter(conn, ids, rules=rt.rules, open_minutes=rt.open_minutes)
        async with rt.open_minutes_lock:
            result = await writer.write(batch, minutes if batch is records else None)
        if result.conflicts:
            conflicts.append((batch, result))
        WRITE_SECONDS.observe(time.perf_counter() - started)
        if result.urgent_windows:
            URGENT_WINDOWS.set()  # an instantaneous limit is exceeded: judge now, not at the next tick
        WRITE_BATCH_ROWS.observe(result.rows)
        READINGS_STORED.inc(result.rows)
        RECORDS_REPLAYED.inc(result.skipped_records)
        DUPLICATE_READINGS.inc(result.duplicates)
        now = time.time()
        for record in batch:  # from the bridge (or gateway) accepting it to the row being visible
            PUBLISH_TO_STORED.observe(max(0.0, now - record.batch["received_at"]))

    try:
        await rt.durably("readings", write, records)
    except psycopg.DatabaseError:
        for record in records:  # find the record the database refuses; store the rest
            try:
                await rt.durably("readings", write, [record])
            except psycopg.DatabaseError as exc:
                log.error("database refused record %s/%s: %s", record.partition, record.offset, exc)
                await _reject_record(record, exc)
                await rt.durably("readings", lambda conn, r: ReadingWriter(conn, ids).skip([r]), record)
    for batch, result in conflicts:
        await _reject_conflicts(batch, result)


async def _reject_conflicts(records: list[SourceRecord], result: WriteResult) -> None:
    """Dead-letter the messages whose readings contradict readings already stored.

    Sent after the write commits: a crash in between loses the letter (the rows are right)."""
    now = datetime.now(UTC).timestamp()
    for mine, message, found in conflicting_messages(records, result.conflicts):
        CONFLICTING_READINGS.inc(len(found))
        letter = dead_letter(
            "storage", f"{KafkaTopics.TELEMETRY}/{mine}/{message['station_id']}", orjson.dumps(message),
            "conflicting_duplicate", conflict_reason(found), mine, now,
        )  # fmt: skip
        await (await dead_letter_topic.send(key=mine.encode(), value=letter))


async def _record_findings(conn: psycopg.AsyncConnection, rt: Runtime, findings: list[QualityFinding]) -> None:
    async with conn.transaction():
        for f in findings:
            QUALITY_FINDINGS.labels(f.finding.kind, str(f.finding.cleared).lower()).inc()
            finding_id = sha256(
                f"{f.mine_id}|{f.station_id}|{f.parameter}|{f.finding.kind}|{f.finding.t}|{f.finding.cleared}".encode()
            ).hexdigest()[:24]
            cur = await conn.execute(
                "INSERT INTO quality_findings (finding_id, mine_id, station_id, parameter, kind, t, detail, value,"
                " cleared) VALUES (%s, %s, %s, %s, %s, to_timestamp(%s), %s, %s, %s) ON CONFLICT DO NOTHING",
                (
                    finding_id,
                    f.mine_id,
                    f.station_id,
                    f.parameter,
                    f.finding.kind,
                    f.finding.t,
                    f.finding.detail,
                    f.finding.value,
                    f.finding.cleared,
                ),
            )
            mine = rt.registry.mine(f.mine_id)
            if cur.rowcount == 0 or mine is None:
                continue
            if f.finding.cleared:
                await rt.resolve_alert(
                    conn,
                    quality_fingerprint(f.mine_id, f.station_id, f.parameter, f.finding.kind),
                    f"{f.finding.detail} ({datetime.fromtimestamp(f.finding.t, CST).isoformat()})",
                )
                continue
            parameter = rt.parameters.get(f.parameter) if f.parameter else None
            candidate = quality_alert(
                f.finding.kind,
                f.mine_id,
                f.station_id,
                f.parameter,
                f.finding.detail,
                f.finding.t,
                f"quality:{finding_id}",
                region_code=mine.region_code,
                county_code=mine.county_code,
                parameter_name=parameter.name if parameter else f.parameter,
            )
            await rt.raise_alert(conn, candidate)


def guarded(task: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
    """A timer whose failure is logged and counted, and retried at its next tick, instead of
    crashing the whole worker (a crashed Faust app stops every agent)."""

    @functools.wraps(task)
    async def run() -> None:
        try:
            await task()
        except asyncio.CancelledError:
            raise
        except Exception:
            WORKER_ERRORS.labels(task.__name__).inc()
            log.exception("%s failed; it runs again at its next tick", task.__name__)

    return run


@app.task
async def judge_continually() -> None:
    """Judge every ``JUDGE_EVERY_S``, and at once when a write marked an urgent window."""
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(URGENT_WINDOWS.wait(), JUDGE_EVERY_S)
        await judge_windows()


@guarded
async def judge_windows() -> None:
    """Judge the averaging windows that are due; keep verdicts and exceedances up to date.

    Urgent windows (an instantaneous limit exceeded) are judged in runs of their own, before
    the next run of due ones: their alerts are committed in a short transaction instead of
    with up to ``batch`` other windows (runs of 500 took seconds with the cores saturated)."""
    rt = runtime()
    urgent = False
    while True:
        # never two urgent runs in a row: a station exceeding on every write must not starve the rest
        urgent = URGENT_WINDOWS.is_set() and not urgent
        if urgent:
            URGENT_WINDOWS.clear()
        started = time.perf_counter()
        report = await rt.durably("judge", rt.judge.run_once, urgent)
        JUDGE_SECONDS.observe(time.perf_counter() - started)
        JUDGED_WINDOWS.inc(report.windows)
        EXCEEDANCES_OPENED.inc(len(report.opened))
        if not urgent and report.windows < rt.judge.timing.batch and not URGENT_WINDOWS.is_set():
            return
        await asyncio.sleep(0)


@app.task
async def close_minutes_continually() -> None:
    """Close silent stations' minutes ``CLOSE_MINUTES_EVERY_S`` after each run ends. A run waits
    for the write in flight (they take turns with the open minutes), which under load outlasts
    the interval: as a Faust timer it logged a warning that it overlapped itself, every few
    seconds."""
    while True:
        await asyncio.sleep(CLOSE_MINUTES_EVERY_S)
        await close_open_minutes()


@guarded
async def close_open_minutes() -> None:
    """Write the open minutes of stations that fell silent (see processors/open_minutes.py)."""
    rt = runtime()

    async def close(conn: psycopg.AsyncConnection) -> int:
        async with rt.open_minutes_lock:
            writer = ReadingWriter(conn, await rt.kafka_topic_ids(), rules=rt.rules, open_minutes=rt.open_minutes)
            return await writer.close_minutes(time.time())

    await rt.durably("minutes", close)


@app.on_partitions_revoked.connect
async def forget_open_minutes(sender: faust.App, revoked: set[Any], **kwargs: Any) -> None:
    """Partitions move to another worker, which rebuilds their stations' open minutes from the
    database; every station is forgotten here (and rebuilt at its next write), which is always
    right and costs one query per station after a rare rebalance."""
    if any(tp.topic == KafkaTopics.TELEMETRY for tp in revoked):
        rt = runtime()
        async with rt.open_minutes_lock:
            rt.open_minutes.forget(rt.open_minutes.stations())


@app.timer(interval=SLOPES_EVERY_S)
@guarded
async def assess_slopes() -> None:
    """Assess the slope points, piezometers and rain gauges whose intervals are due; roll up slopes."""
    rt = runtime()
    while True:
        report = await rt.durably("slopes", rt.slopes.run_once)
        SLOPE_ASSESSMENTS.inc(report.assessments)
        if report.intervals < rt.slopes.timing.batch:
            return
        await asyncio.sleep(0)  # let the agents run between batches: a back-fill must not starve storage


@app.timer(interval=COMPLAINTS_EVERY_S)
@guarded
async def watch_complaints() -> None:
    """Complaints past their response deadline become alerts to the mine's county bureau."""
    rt = runtime()

    async def flag(conn: psycopg.AsyncConnection) -> list[int]:
        async with conn.transaction():
            return await flag_overdue_complaints(conn, rt.registry, rt, datetime.now(UTC))

    await rt.durably("complaints", flag)


@app.timer(interval=EVALUATE_EVERY_S)
@guarded
async def evaluate_green_mines() -> None:
    """Evaluate every mine for the months, quarters and years whose reports are now due (the last
    of each), so the evaluations and delisting recommendations keep up without anyone asking."""
    rt = runtime()
    now = datetime.now(UTC)

    async def run(conn: psycopg.AsyncConnection) -> None:
        for period in due_periods(now):
            async with conn.transaction():
                await evaluate_period(conn, rt.registry, period, rt, now=now)

    await rt.durably("evaluations", run)


@app.timer(interval=GAUGES_EVERY_S)
@guarded
async def update_gauges() -> None:
    """Open exceedances, stations offline, and how far storage is behind Kafka, for Prometheus."""
    rt = runtime()
    ids = await rt.kafka_topic_ids()

    async def read(conn: psycopg.AsyncConnection) -> tuple[int, int, list[tuple[int, int]]]:
        cur = await conn.execute(
            "SELECT (SELECT count(*) FROM exceedances WHERE status = 'open'),"
            " (SELECT count(*) FROM (SELECT DISTINCT ON (mine_id, station_id) cleared FROM quality_findings"
            "   WHERE kind = 'offline' ORDER BY mine_id, station_id, t DESC) latest WHERE NOT cleared)"
        )
        open_exceedances, offline = await cur.fetchone()  # type: ignore[misc]
        cur = await conn.execute(
            "SELECT kafka_partition, committed_offset FROM consumer_offsets WHERE consumer = 'storage'"
            " AND topic = %s AND topic_id = %s",
            (KafkaTopics.TELEMETRY, ids.get(KafkaTopics.TELEMETRY, "")),
        )
        return open_exceedances, offline, await cur.fetchall()

    open_exceedances, offline, committed = await rt.durably("gauges", read)
    OPEN_EXCEEDANCES.set(open_exceedances)
    STATIONS_OFFLINE.set(offline)
    ends = await asyncio.to_thread(high_watermarks, rt.settings.kafka_bootstrap, KafkaTopics.TELEMETRY)
    stored = dict(committed)
    for partition, end in ends.items():
        CONSUMER_LAG.labels(KafkaTopics.TELEMETRY, str(partition)).set(max(0, end - stored.get(partition, -1) - 1))


@app.timer(interval=OFFLINE_EVERY_S)
@guarded
async def watch_offline() -> None:
    """Stations silent for too long, by when their data last arrived (kept in the database)."""
    rt = runtime()
    rows = await rt.durably("offline", _last_heard)
    findings = [
        QualityFinding(mine_id, station_id, None, f)
        for mine_id, station_id, received in rows
        for f in rt.offline.seen(f"{mine_id}/{station_id}", received)
    ]
    findings += [
        QualityFinding(*station.split("/", 1), None, f)
        for station, f in rt.offline.check(datetime.now(UTC).timestamp())
    ]
    if findings:
        await rt.durably("quality", _record_findings, rt, findings)


async def _last_heard(conn: psycopg.AsyncConnection) -> list[tuple[str, str, float]]:
    cur = await conn.execute(
        "SELECT mine_id, station_id, extract(epoch FROM received_at)::float8 FROM station_watermarks"
    )
    return await cur.fetchall()


@app.agent(status_topic)
async def store_status(stream: faust.StreamT) -> None:
    rt = runtime()
    async for events in stream.noack_take(500, within=TAKE_WITHIN):
        rows = []
        for event in events:
            batch = decode_batch(event.value)
            received = datetime.fromtimestamp(batch["received_at"], UTC)
            for m in batch["messages"]:
                rows.append((m["mine_id"], m["station_id"], m["ts"], m["state"], m.get("detail"), Jsonb(m), received))
        await rt.durably(
            "status",
            _insert_many,
            "INSERT INTO station_status (mine_id, station_id, ts, state, detail, message, received_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            rows,
        )
        for event in events:
            await stream.ack(event)


@app.agent(reports_topic)
async def store_reports(stream: faust.StreamT) -> None:
    """Self-reports arrive one per record, as published: their hash chain is over these bytes."""
    rt = runtime()
    async for events in stream.noack_take(100, within=TAKE_WITHIN):
        for event in events:
            raw = bytes(event.value)
            received = datetime.fromtimestamp(event.message.timestamp, UTC)
            refused = await rt.durably("reports", _ingest_report, rt, raw, received)
            if refused is not None:
                mine_id = orjson.loads(raw)["mine_id"]
                letter = dead_letter("reports", KafkaTopics.REPORTS, raw, "report_refused", refused, mine_id,
                                     received.timestamp())  # fmt: skip
                await (await dead_letter_topic.send(key=mine_id.encode(), value=letter))
        for event in events:
            await stream.ack(event)


async def _ingest_report(conn: psycopg.AsyncConnection, rt: Runtime, raw: bytes, received: datetime) -> str | None:
    """Store one report with its chain check; the reason it was refused, if it was."""
    report = orjson.loads(raw)
    mine = rt.registry.mine(report["mine_id"])
    if mine is None:
        return f"mine {report['mine_id']} is no longer in the registry"
    try:
        async with conn.transaction():
            await ingest_report(conn, raw, received_at=received, source="mqtt", mine=mine, alerts=rt)
    except ReportRefused as exc:
        return str(exc)
    return None


@app.agent(dead_letter_topic)
async def store_dead_letters(stream: faust.StreamT) -> None:
    """Every rejected message is kept where operators and mines can see it, once: a record
    written twice by a producer's retry has the same bytes, so the same digest."""
    rt = runtime()
    async for events in stream.noack_take(500, within=TAKE_WITHIN):
        rows = []
        for event in events:
            letter = decode_dead_letter(event.value)
            rows.append(
                (
                    sha256(event.value).digest(),
                    event.message.partition,
                    event.message.offset,
                    datetime.fromtimestamp(letter["received_at"], UTC),
                    letter["source"],
                    letter["topic"],
                    letter["mine_id"],
                    letter["reason_code"],
                    letter["reason"],
                    letter["payload"],
                    letter["payload_encoding"],
                )
            )
        await rt.durably(
            "dead_letters",
            _insert_many,
            "INSERT INTO dead_letters (digest, kafka_partition, kafka_offset, received_at, source, topic, mine_id,"
            " reason_code, reason, payload, payload_encoding) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT DO NOTHING",
            rows,
        )
        for event in events:
            await stream.ack(event)


async def _insert_many(conn: psycopg.AsyncConnection, query: str, rows: list[tuple[Any, ...]]) -> None:
    async with conn.transaction(), conn.cursor() as cur:
        await cur.executemany(query, rows)


@app.on_rebalance_complete.connect
async def _mark_ready(sender: faust.App, **kwargs: Any) -> None:
    """Tell whoever started the worker that it owns its partitions and is consuming."""
    ready_file = os.environ.get("MINEWATCH_READY_FILE")
    if ready_file:
        Path(ready_file).write_text(datetime.now(UTC).isoformat())
    log.info("worker ready: partitions assigned")
