"""The idempotent writer and the migrations, against a real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import subprocess

import psycopg
import pytest

from minewatch.stack import minewatch_command
from storage.migrate import migrate, timescale_available
from storage.readings import ReadingWriter, SourceRecord
from storage.server import SERVER_SETTINGS, megabytes

pytestmark = pytest.mark.integration
IDS = {"telemetry": "topic-id-1"}


def record(
    offset: int, *values: float, partition: int = 0, ts: str = "2026-11-26T12:00:00+08:00", station: str = "WW01"
) -> SourceRecord:
    readings = [{"parameter": f"w0101{i}", "value": v, "unit": "mg/L", "flag": "N"} for i, v in enumerate(values)]
    return SourceRecord(
        "telemetry",
        partition,
        offset,
        {
            "received_at": 1795665600.0,
            "messages": [{"mine_id": "GZ520201-0001", "station_id": station, "ts": ts, "readings": readings}],
        },
    )


async def write(url: str, records: list[SourceRecord], ids: dict[str, str] = IDS):
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        return await ReadingWriter(conn, ids).write(records)


def count(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM readings").fetchone()[0]


def test_write_then_replay_is_skipped_by_offset(fresh_db):
    first = asyncio.run(write(fresh_db, [record(0, 1.0, 2.0), record(1, 3.0, ts="2026-11-26T12:00:01+08:00")]))
    assert (first.rows, first.skipped_records, first.duplicates) == (3, 0, 0)
    replay = asyncio.run(write(fresh_db, [record(0, 1.0, 2.0), record(1, 3.0, ts="2026-11-26T12:00:01+08:00")]))
    assert (replay.rows, replay.skipped_records, replay.duplicates) == (0, 2, 0)
    assert count(fresh_db) == 3


def test_resent_readings_under_new_offsets_are_not_doubled(fresh_db):
    asyncio.run(write(fresh_db, [record(0, 1.0, 2.0)]))
    # the same message re-sent (MQTT redelivery) lands at a new offset, next to new data
    mixed = asyncio.run(write(fresh_db, [record(5, 1.0, 2.0), record(6, 9.0, ts="2026-11-26T12:00:05+08:00")]))
    assert (mixed.rows, mixed.duplicates) == (1, 2)
    assert count(fresh_db) == 3
    with psycopg.connect(fresh_db) as conn:
        offset = conn.execute("SELECT committed_offset FROM consumer_offsets").fetchone()[0]
    assert offset == 6


def test_a_resent_time_with_a_different_value_is_a_conflict_and_the_first_value_stays(fresh_db):
    from storage.readings import conflicting_messages

    asyncio.run(write(fresh_db, [record(0, 1.0, 2.0)]))
    exact, changed = record(1, 1.0, 2.0), record(2, 1.0, 7.5, ts="2026-11-26T12:00:00+08:00")
    result = asyncio.run(write(fresh_db, [exact, changed]))
    assert (result.rows, result.duplicates) == (0, 4)  # nothing new; the exact resend is no conflict
    (conflict,) = result.conflicts
    assert (conflict.parameter, conflict.stored[0], conflict.sent[0]) == ("w01011", 2.0, 7.5)
    ((mine, message, found),) = conflicting_messages([exact, changed], result.conflicts)
    assert message is changed.batch["messages"][0] and found == [conflict] and mine == "GZ520201-0001"
    with psycopg.connect(fresh_db) as conn:
        values = sorted(v for (v,) in conn.execute("SELECT value FROM readings"))
    assert values == [1.0, 2.0]


def test_a_new_topic_incarnation_does_not_inherit_offsets(fresh_db):
    asyncio.run(write(fresh_db, [record(0, 1.0)]))
    # the broker lost its topics (in-memory Tansu restarted): offsets start at 0 again
    again = asyncio.run(write(fresh_db, [record(0, 5.0, ts="2026-11-26T13:00:00+08:00")], {"telemetry": "topic-id-2"}))
    assert (again.rows, again.skipped_records) == (1, 0)
    assert count(fresh_db) == 2


def test_timestamps_keep_their_instant_across_zones(fresh_db):
    asyncio.run(write(fresh_db, [record(0, 1.0, ts="2026-11-26T00:30:00+08:00")]))
    with psycopg.connect(fresh_db) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        ts = conn.execute("SELECT ts::text FROM readings").fetchone()[0]
    assert ts == "2026-11-25 16:30:00+00"  # 00:30 Beijing is 16:30 UTC the day before


def test_migrations_apply_once_and_detect_timescale(fresh_db):
    again = migrate(fresh_db)
    assert again.applied == []
    with psycopg.connect(fresh_db) as conn:
        assert again.timescale == timescale_available(conn)
        tables = {
            r[0] for r in conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
        }
    assert {
        "readings",
        "consumer_offsets",
        "alerts",
        "alert_history",
        "alert_routes",
        "notifications",
        "notification_deliveries",
        "silences",
        "api_tokens",
        "dead_letters",
        "exceedances",
        "station_status",
        "self_reports",
        "schema_migrations",
    } <= tables


def test_a_created_database_compares_text_bytewise_and_keeps_the_servers_character_classes(fresh_db):
    with psycopg.connect(fresh_db) as conn:
        collate, ctype, template_ctype = conn.execute(
            "SELECT d.datcollate, d.datctype, t.datctype FROM pg_database d, pg_database t"
            " WHERE d.datname = current_database() AND t.datname = 'template1'"
        ).fetchone()
        # code-point order, the same order C.UTF-8 gives: 'Z' < 'a' < 'é' < '贵'
        ordered = conn.execute("SELECT array_agg(x ORDER BY x) FROM unnest(ARRAY['贵', 'a', 'é', 'Z']) x").fetchone()[0]
    assert (collate, ctype) == ("C", template_ctype)
    assert ordered == ["Z", "a", "é", "贵"]


def test_db_migrate_says_what_the_server_lacks_for_minewatch(fresh_db):
    result = subprocess.run(
        minewatch_command("db", "migrate", "--db-url", fresh_db), check=True, capture_output=True, text=True
    )
    advice = json.loads(result.stdout.strip().splitlines()[-1])["advice"]
    with psycopg.connect(fresh_db) as conn:
        settings = dict(
            conn.execute("SELECT name, setting FROM pg_settings WHERE name IN ('autovacuum', 'max_wal_size')")
        )
        unit = conn.execute("SELECT unit FROM pg_settings WHERE name = 'max_wal_size'").fetchone()[0]
    assert unit == "MB"
    assert any(a.startswith("autovacuum is off:") for a in advice) == (settings["autovacuum"] == "off")
    wanted = megabytes(SERVER_SETTINGS["max_wal_size"])
    assert any(a.startswith("max_wal_size is ") for a in advice) == (int(settings["max_wal_size"]) < wanted)


def test_hourly_and_daily_aggregates_and_retention_on_plain_postgresql(fresh_db):
    from storage.policies import apply_policies, prune

    with psycopg.connect(fresh_db, autocommit=True) as conn:
        rows = [
            (f"2026-11-25T{h:02d}:{m:02d}:00+08:00", float(h * 100 + m), "N" if m != 5 else "D")
            for h in (9, 10) for m in range(0, 60, 5)
        ]  # fmt: skip
        rows.append(("2020-01-01T00:00:00+08:00", 1.0, "N"))  # an old reading, for retention
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO readings (ts, mine_id, station_id, parameter, value, unit, flag, received_at)"
                " VALUES (%s, 'M', 'S', 'w01018', %s, 'mg/L', %s, now())",
                rows,
            )
        hourly = conn.execute(
            "SELECT extract(hour FROM bucket AT TIME ZONE 'Asia/Shanghai')::int, n, min_value, max_value, avg_value"
            " FROM readings_hourly WHERE bucket >= '2026-11-25' ORDER BY bucket"
        ).fetchall()
        assert hourly == [  # the D-flagged 05 minute is left out of both hours
            (9, 11, 900.0, 955.0, sum(900.0 + m for m in range(0, 60, 5) if m != 5) / 11),
            (10, 11, 1000.0, 1055.0, sum(1000.0 + m for m in range(0, 60, 5) if m != 5) / 11),
        ]
        daily = conn.execute(
            "SELECT bucket, n FROM readings_daily WHERE bucket >= '2026-11-25T00:00:00+08:00'"
        ).fetchall()
        assert [(b.isoformat(), n) for b, n in daily] == [("2026-11-24T16:00:00+00:00", 22)]  # one Beijing day
    assert "nothing changed" in apply_policies(fresh_db, "7 days", "3 years")
    assert prune(fresh_db, "3 years") == 1
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute("SELECT count(*) FROM readings").fetchone()[0] == 24


def test_a_write_says_how_many_windows_it_marked_urgent(fresh_db):
    """Urgent = an instantaneous limit already exceeded: the worker wakes the judge for it at once."""
    from processors.limits import LimitBook
    from processors.samples import rules_for_registry
    from simulators.telemetry import exceedance_target
    from tests.conftest import registry_for_tests

    registry = registry_for_tests()
    target = exceedance_target(registry, 0.0, 0.0, "w01001", "instantaneous", 1.1)
    rules = rules_for_registry(registry, LimitBook.load())

    def ph(offset: int, value: float, ts: str) -> SourceRecord:
        reading = {"parameter": "w01001", "value": value, "unit": "dimensionless", "flag": "N"}
        message = {"mine_id": target.mine_id, "station_id": target.station_id, "ts": ts, "readings": [reading]}
        return SourceRecord("telemetry", 0, offset, {"received_at": 1795665600.0, "messages": [message]})

    async def write_with_rules(records: list[SourceRecord]):
        async with await psycopg.AsyncConnection.connect(fresh_db, autocommit=True) as conn:
            return await ReadingWriter(conn, IDS, rules=rules).write(records)

    assert asyncio.run(write_with_rules([ph(0, 7.2, "2026-11-26T12:00:00+08:00")])).urgent_windows == 0
    exceeding = asyncio.run(write_with_rules([ph(1, 12.5, "2026-11-26T12:01:00+08:00")]))
    assert exceeding.urgent_windows >= 1
    with psycopg.connect(fresh_db) as conn:
        urgent = conn.execute("SELECT count(*) FROM pending_windows WHERE urgent").fetchone()[0]
    assert urgent == exceeding.urgent_windows
