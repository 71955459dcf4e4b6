"""What storing a reading costs PostgreSQL (``minewatch bench storage``).

Two measurements on a scratch database, with the benchmark's own telemetry (10 readings per
message, every station of a simulated fleet at 1 Hz):

* **indexes**: COPY the rows into tables shaped like ``readings`` in transactions of ``batch``
  rows, with the indexes of migrations before 0009 (identity (mine, station, parameter, ts) and
  a B-tree on ``ts``), of 0009 (BRIN on ``ts`` instead) and of 0010 (identity ordered (mine,
  station, ts, parameter)): µs per row. The identity's order shows only once the index
  outgrows shared_buffers (``--batches 2500``: 7.5 million readings);
* **writer**: :class:`storage.readings.ReadingWriter` with its bookkeeping (minute aggregates,
  pending windows, watermarks) written with every batch, and with open minutes held in the
  worker (:mod:`processors.open_minutes`): µs per reading in all, and per statement.

Wall time per row is PostgreSQL's time here: the client only waits for each statement.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import psycopg

from benchmarks.pipeline import message, sources
from minewatch.records import decode_batch, telemetry_batch
from processors.limits import LimitBook
from processors.open_minutes import OpenMinutes
from processors.samples import readings_of_batch, rules_for_registry
from simulators.fleet import generate_fleet
from storage.copyformat import copy_data, copy_rows, copy_statement
from storage.migrate import migrate, scratch_database
from storage.readings import ReadingWriter, SourceRecord

SERIES_FIRST = "CREATE UNIQUE INDEX ON bench_rows (mine_id, station_id, parameter, ts)"
STATION_TIME_FIRST = "CREATE UNIQUE INDEX ON bench_rows (mine_id, station_id, ts, parameter)"
BRIN_TS = "CREATE INDEX ON bench_rows USING brin (ts)"
INDEXES = {
    "identity (mine, station, parameter, ts) + B-tree ts (before 0009)": [
        SERIES_FIRST,
        "CREATE INDEX ON bench_rows (ts DESC)",
    ],
    "identity (mine, station, parameter, ts) + BRIN ts (0009)": [SERIES_FIRST, BRIN_TS],
    "identity (mine, station, ts, parameter) + BRIN ts (0010)": [STATION_TIME_FIRST, BRIN_TS],
}


def _batches(mines: int, messages_per_batch: int, batches: int) -> Iterator[bytes]:
    """Telemetry batches as the bridge builds them: every station in turn, 10 readings a message."""
    load = sources(generate_fleet(mines, seed=3), set())
    clocks = [1795651200.0] * len(load)
    serial = 0
    for _ in range(batches):
        payloads = []
        for _ in range(messages_per_batch):
            i = serial % len(load)
            payloads.append(message(load[i], clocks[i], 10, serial))
            clocks[i] += -(-10 // len(load[i].parameters))
            serial += 1
        yield telemetry_batch(time.time(), payloads)


def index_costs(url: str, mines: int, messages_per_batch: int, batches: int) -> dict[str, float]:
    records = [[SourceRecord("t", 0, 0, decode_batch(raw))] for raw in _batches(mines, messages_per_batch, batches)]
    rows = sum(len(m["readings"]) for [record] in records for m in record.batch["messages"])
    chunks = [copy_data(copy_rows(r.batch for r in batch)) for batch in records]
    out = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for name, indexes in INDEXES.items():
            conn.execute("DROP TABLE IF EXISTS bench_rows")
            conn.execute("CREATE TABLE bench_rows (LIKE readings INCLUDING DEFAULTS)")
            for index in indexes:
                conn.execute(index)
            started = time.perf_counter()
            for chunk in chunks:
                with conn.transaction(), conn.cursor().copy(copy_statement("bench_rows")) as copy:
                    copy.write(chunk)
            out[name] = round((time.perf_counter() - started) / rows * 1e6, 2)
        conn.execute("DROP TABLE bench_rows")
    return out


async def writer_costs(url: str, mines: int, messages_per_batch: int, batches: int, hold: bool) -> dict[str, Any]:
    registry = generate_fleet(mines, seed=3)
    rules = rules_for_registry(registry, LimitBook.load())
    statements: Counter[str] = Counter()
    execute = psycopg.AsyncConnection.execute

    async def timed(self: psycopg.AsyncConnection, query: Any, params: Any = None, **kw: Any) -> Any:
        started = time.perf_counter()
        try:
            return await execute(self, query, params, **kw)
        finally:
            statements[" ".join(str(query).split()[:3])] += time.perf_counter() - started

    held = OpenMinutes(5.0, 90.0) if hold else None
    rows, total = 0, 0.0
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE readings, minute_values, pending_windows, station_watermarks, consumer_offsets")
    psycopg.AsyncConnection.execute = timed  # type: ignore[method-assign]
    try:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            writer = ReadingWriter(conn, {"telemetry": "bench"}, rules=rules, open_minutes=held)
            for offset, raw in enumerate(_batches(mines, messages_per_batch, batches)):
                batch = decode_batch(raw)
                record = SourceRecord("telemetry", 0, offset, batch, readings_of_batch(batch))
                started = time.perf_counter()
                rows += (await writer.write([record])).rows
                total += time.perf_counter() - started
    finally:
        psycopg.AsyncConnection.execute = execute  # type: ignore[method-assign]
    return {
        "us_per_reading": round(total / rows * 1e6, 2),
        "statements_us_per_reading": {k: round(v / rows * 1e6, 2) for k, v in statements.most_common()},
        "rows": rows,
    }


def run(server_url: str, mines: int, messages_per_batch: int, batches: int) -> dict[str, Any]:
    with scratch_database(server_url, "minewatch_bench_storage") as url:
        assert url is not None
        migrate(url)
        return {
            "mines": mines,
            "readings_per_batch": messages_per_batch * 10,
            "batches": batches,
            "copy_us_per_row": index_costs(url, mines, messages_per_batch, batches),
            "writer_every_batch": asyncio.run(writer_costs(url, mines, messages_per_batch, batches, hold=False)),
            "writer_open_minutes": asyncio.run(writer_costs(url, mines, messages_per_batch, batches, hold=True)),
        }


def main(server_url: str, mines: int, messages_per_batch: int, batches: int) -> None:
    result = run(server_url, mines, messages_per_batch, batches)
    n = result["readings_per_batch"] * batches
    print(f"{n:,} readings of {mines} mines, {result['readings_per_batch']:,} per transaction")
    print("COPY into readings, µs per row:")
    for name, cost in result["copy_us_per_row"].items():
        print(f"  {cost:6.2f}  {name}")
    for key, title in (("writer_every_batch", "every batch"), ("writer_open_minutes", "open minutes")):
        writer = result[key]
        print(f"writer, bookkeeping written {title}: {writer['us_per_reading']:.2f} µs per reading, of which")
        for statement, cost in writer["statements_us_per_reading"].items():
            print(f"  {cost:6.2f}  {statement} ...")
        rest = writer["us_per_reading"] - sum(writer["statements_us_per_reading"].values())
        print(f"  {rest:6.2f}  COPY and the writer's Python")
    print(json.dumps(result))
