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

:func:`copy_rows` is pure and builds the COPY text:

>>> record = SourceRecord("t", 0, 7, {"mine_id": "GZ520201-0001", "received_at": 1795651260.0,
...     "messages": [{"station_id": "WW01", "ts": "2026-11-26T08:00:00+08:00", "readings": [
...         {"parameter": "w01018", "value": 42.5, "unit": "mg/L", "flag": "N"},
...         {"parameter": "w01012", "value": None, "unit": "mg/L", "flag": "D"}]}]})
>>> print(copy_rows([record]).decode().replace("\\t", " | "), end="")
2026-11-26T08:00:00+08:00 | GZ520201-0001 | WW01 | w01018 | 42.5 | mg/L | N | 2026-11-26T00:01:00+00:00
2026-11-26T08:00:00+08:00 | GZ520201-0001 | WW01 | w01012 | \\N | mg/L | D | 2026-11-26T00:01:00+00:00
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import errors

log = logging.getLogger(__name__)

NULL = "\\N"
COLUMNS = "ts, mine_id, station_id, parameter, value, unit, flag, received_at"


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """A decoded telemetry batch and where it came from in Kafka."""

    topic: str
    partition: int
    offset: int
    batch: dict[str, Any]


@dataclass(frozen=True, slots=True)
class WriteResult:
    rows: int  # rows now stored by this write
    skipped_records: int  # records at or below the committed offset (replays)
    duplicates: int  # rows that were already stored (re-sent messages)


def _escape(text: str) -> str:
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text


def copy_rows(records: list[SourceRecord]) -> bytes:
    """The COPY (text format) lines for every reading in ``records``."""
    lines: list[str] = []
    add = lines.append
    for record in records:
        batch = record.batch
        mine = batch["mine_id"]
        received = datetime.fromtimestamp(batch["received_at"], UTC).isoformat()
        for message in batch["messages"]:
            station = message["station_id"]
            message_ts = message["ts"]
            prefix = f"\t{mine}\t{station}\t"
            for reading in message["readings"]:
                value = reading["value"]
                text = NULL if value is None else repr(float(value))
                add(
                    f"{reading.get('ts') or message_ts}{prefix}{reading['parameter']}\t{text}\t"
                    f"{_escape(reading['unit'])}\t{reading['flag']}\t{received}\n"
                )
    return "".join(lines).encode()


class ReadingWriter:
    """Writes telemetry batches to ``readings`` exactly once, for one named consumer.

    ``topic_ids`` maps topic names to their Kafka topic ids (:func:`minewatch.kafka.topic_ids`):
    stored offsets count only for the topic incarnation that produced them.
    """

    def __init__(self, conn: psycopg.AsyncConnection, topic_ids: dict[str, str], consumer: str = "storage") -> None:
        self.conn = conn
        self.topic_ids = topic_ids
        self.consumer = consumer

    async def write(self, records: list[SourceRecord]) -> WriteResult:
        if not records:
            return WriteResult(0, 0, 0)
        async with self.conn.transaction():
            fresh = await self._unseen(records)
            payload = copy_rows(fresh)
            try:
                async with self.conn.transaction():  # savepoint: a duplicate aborts only this part
                    rows = await self._copy(payload, "readings")
                    duplicates = 0
            except errors.UniqueViolation:
                rows, duplicates = await self._copy_tolerating_duplicates(payload)
            await self._advance(records)
        return WriteResult(rows, len(records) - len(fresh), duplicates)

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
            async with cur.copy(f"COPY {table} ({COLUMNS}) FROM STDIN") as copy:
                await copy.write(payload)
            return cur.rowcount

    async def _copy_tolerating_duplicates(self, payload: bytes) -> tuple[int, int]:
        await self.conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS readings_stage (LIKE readings INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        staged = await self._copy(payload, "readings_stage")
        cur = await self.conn.execute(
            f"INSERT INTO readings ({COLUMNS}) SELECT {COLUMNS} FROM readings_stage"
            " ON CONFLICT (mine_id, station_id, parameter, ts) DO NOTHING"
        )
        inserted = cur.rowcount
        await self.conn.execute("TRUNCATE readings_stage")
        log.info("batch met %d already-stored readings; stored the other %d", staged - inserted, inserted)
        return inserted, staged - inserted

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
                [k[0] for k in keys],
                [self.topic_ids.get(k[0], "") for k in keys],
                [k[1] for k in keys],
                [latest[k] for k in keys],
            ),
        )
