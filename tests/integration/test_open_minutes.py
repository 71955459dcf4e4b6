"""The writer with open minutes, against a real PostgreSQL: each minute written once when it closes,
rebuilt from the stored readings after a crash, never counted twice."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import psycopg
import pytest

from processors.judge import WindowJudge
from processors.limits import LimitBook
from processors.open_minutes import OpenMinutes
from processors.samples import Reading, StationRules, aggregate_minutes, rules_for_registry
from processors.windows import AveragingRules
from simulators.telemetry import exceedance_target
from storage.readings import PreparedMinutes, ReadingWriter, SourceRecord
from tests.conftest import registry_for_tests

pytestmark = pytest.mark.integration
IDS = {"telemetry": "topic-id-1"}
M = 1795665600.0  # 2026-11-26T12:00:00+08:00, a minute start


@pytest.fixture(scope="module")
def station() -> tuple[str, str, dict[tuple[str, str], StationRules]]:
    registry = registry_for_tests()
    target = exceedance_target(registry, 0.0, 0.0, "w01001", "instantaneous", 1.1)  # pH, instantaneous 6-9
    return target.mine_id, target.station_id, rules_for_registry(registry, LimitBook.load())


class Feed:
    """Records of pH readings, one per second, at consecutive offsets."""

    def __init__(self, mine_id: str, station_id: str) -> None:
        self.mine_id, self.station_id, self.offset = mine_id, station_id, 0

    def record(self, seconds: Iterator[float] | list[float], value: float = 7.2) -> SourceRecord:
        messages = [
            {
                "mine_id": self.mine_id,
                "station_id": self.station_id,
                "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(M + s + 8 * 3600))
                + f".{int(s % 1 * 1000):03d}+08:00",
                "readings": [{"parameter": "w01001", "value": value, "unit": "dimensionless", "flag": "N"}],
            }
            for s in seconds
        ]
        self.offset += 1
        return SourceRecord("telemetry", 0, self.offset, {"received_at": M, "messages": messages})


def take(rules, *records: SourceRecord) -> tuple[list[SourceRecord], PreparedMinutes]:
    """``records`` with their minutes worked out before the write, as the worker does."""
    prepared = [r.prepared() for r in records]
    minutes = PreparedMinutes.of_take(prepared)
    for r in prepared:
        minutes.add(r.readings, rules)
    return prepared, minutes


async def write(url: str, rules, held: OpenMinutes | None, *records: SourceRecord, minutes=None):
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        return await ReadingWriter(conn, IDS, rules=rules, open_minutes=held).write(list(records), minutes)


async def close(url: str, rules, held: OpenMinutes, now: float) -> int:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        return await ReadingWriter(conn, IDS, rules=rules, open_minutes=held).close_minutes(now)


def stored_minute(url: str, minute: float) -> tuple[int, float] | None:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT n_samples, total FROM minute_values WHERE parameter = 'w01001' AND minute = to_timestamp(%s)",
            (minute,),
        ).fetchone()
    return None if row is None else (row[0], row[1])


def minute_from_readings(url: str, rules, minute: float) -> tuple[int, float]:
    """What the minute must hold: built from every stored reading, with the live code's function."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT mine_id, station_id, parameter, extract(epoch FROM ts)::float8, value, unit, flag FROM readings"
        ).fetchall()
    value = next(v for (s, m), v in aggregate_minutes([Reading(*r) for r in rows], rules).items() if m == minute)
    return value.n_samples, value.total


def pending(url: str, minute: float) -> list[tuple[str, bool]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT kind, urgent FROM pending_windows WHERE parameter = 'w01001' AND window_start = to_timestamp(%s)"
            " ORDER BY kind",
            (minute,),
        ).fetchall()


def held_minutes() -> OpenMinutes:
    return OpenMinutes(grace_s=5.0, max_hold_s=90.0)


def test_a_minute_is_written_once_when_the_station_has_passed_it(fresh_db, station):
    mine_id, station_id, rules = station
    feed, held = Feed(mine_id, station_id), held_minutes()
    asyncio.run(write(fresh_db, rules, held, feed.record(range(0, 40))))
    assert stored_minute(fresh_db, M) is None and pending(fresh_db, M) == []  # open, in the worker
    asyncio.run(write(fresh_db, rules, held, feed.record(range(40, 66))))
    assert stored_minute(fresh_db, M) == (60, pytest.approx(60 * 7.2))
    assert minute_from_readings(fresh_db, rules, M) == (60, pytest.approx(60 * 7.2))
    assert ("minute", False) in pending(fresh_db, M)
    assert stored_minute(fresh_db, M + 60) is None  # still open


def test_a_crashed_worker_s_open_minutes_are_rebuilt_from_the_readings_exactly_once(fresh_db, station):
    mine_id, station_id, rules = station
    feed = Feed(mine_id, station_id)
    asyncio.run(write(fresh_db, rules, held_minutes(), feed.record(range(0, 31))))  # then the worker dies
    restarted = held_minutes()
    asyncio.run(write(fresh_db, rules, restarted, feed.record(range(31, 71))))
    assert stored_minute(fresh_db, M) == (60, pytest.approx(60 * 7.2))
    # a late reading of the written minute is added to it, once
    asyncio.run(write(fresh_db, rules, restarted, feed.record([30.5], value=8.0)))
    assert stored_minute(fresh_db, M) == (61, pytest.approx(60 * 7.2 + 8.0))
    n, total = minute_from_readings(fresh_db, rules, M)
    assert stored_minute(fresh_db, M) == (n, pytest.approx(total))


def test_an_instantaneous_exceedance_is_written_at_once_and_the_whole_minute_later(fresh_db, station):
    mine_id, station_id, rules = station
    feed, held = Feed(mine_id, station_id), held_minutes()
    result = asyncio.run(write(fresh_db, rules, held, feed.record(range(0, 10))))
    assert result.urgent_windows == 0 and stored_minute(fresh_db, M) is None
    result = asyncio.run(write(fresh_db, rules, held, feed.record([10], value=12.5)))
    assert result.urgent_windows == 1
    assert stored_minute(fresh_db, M) == (11, pytest.approx(10 * 7.2 + 12.5))
    assert ("minute", True) in pending(fresh_db, M)
    asyncio.run(write(fresh_db, rules, held, feed.record(range(11, 66))))
    assert stored_minute(fresh_db, M) == (60, pytest.approx(59 * 7.2 + 12.5))  # replaced, not added twice


def test_a_silent_station_s_minute_is_written_after_the_hold(fresh_db, station):
    mine_id, station_id, rules = station
    feed, held = Feed(mine_id, station_id), held_minutes()
    asyncio.run(write(fresh_db, rules, held, feed.record(range(0, 20))))
    assert asyncio.run(close(fresh_db, rules, held, time.time())) == 0
    assert asyncio.run(close(fresh_db, rules, held, time.time() + 91)) == 1
    assert stored_minute(fresh_db, M) == (20, pytest.approx(20 * 7.2))
    with psycopg.connect(fresh_db) as conn:
        line = conn.execute("SELECT extract(epoch FROM complete_before)::float8 FROM station_watermarks").fetchone()
    assert line == (M + 60,)


def test_a_failed_write_leaves_no_trace_in_the_open_minutes(fresh_db, station, monkeypatch):
    mine_id, station_id, rules = station
    feed, held = Feed(mine_id, station_id), held_minutes()
    asyncio.run(write(fresh_db, rules, held, feed.record(range(0, 20))))

    async def refused(self, records):
        raise psycopg.errors.QueryCanceled("statement timeout")

    with monkeypatch.context() as patch:
        patch.setattr(ReadingWriter, "_advance", refused)
        with pytest.raises(psycopg.errors.QueryCanceled):
            asyncio.run(write(fresh_db, rules, held, feed.record(range(20, 40))))  # rolled back
    assert (mine_id, station_id) not in held
    feed.offset -= 1  # the same record again, as Faust would deliver it
    asyncio.run(write(fresh_db, rules, held, feed.record(range(20, 40))))
    asyncio.run(write(fresh_db, rules, held, feed.record(range(40, 66))))
    assert stored_minute(fresh_db, M) == (60, pytest.approx(60 * 7.2))


def test_minutes_prepared_before_the_write_count_every_stored_reading_once(fresh_db, station, monkeypatch):
    mine_id, station_id, rules = station
    feed, held = Feed(mine_id, station_id), held_minutes()
    first = feed.record(range(0, 20))
    records, minutes = take(rules, first)
    asyncio.run(write(fresh_db, rules, held, *records, minutes=minutes))
    # a replayed record beside a new one: the prepared minutes count the replay, so are not used
    records, minutes = take(rules, first, feed.record(range(20, 30)))
    result = asyncio.run(write(fresh_db, rules, held, *records, minutes=minutes))
    assert (result.rows, result.skipped_records) == (10, 1)
    # a re-sent message (new offset, readings already stored) beside new ones: not used either
    records, minutes = take(rules, feed.record(range(25, 40)))
    result = asyncio.run(write(fresh_db, rules, held, *records, minutes=minutes))
    assert (result.rows, result.duplicates) == (10, 5)

    async def refused(self, records):
        raise psycopg.errors.QueryCanceled("statement timeout")

    records, minutes = take(rules, feed.record(range(40, 50)))
    with monkeypatch.context() as patch:  # a failed write, then the same take and minutes again
        patch.setattr(ReadingWriter, "_advance", refused)
        with pytest.raises(psycopg.errors.QueryCanceled):
            asyncio.run(write(fresh_db, rules, held, *records, minutes=minutes))
    asyncio.run(write(fresh_db, rules, held, *records, minutes=minutes))
    records, minutes = take(rules, feed.record(range(50, 66)))
    asyncio.run(write(fresh_db, rules, held, *records, minutes=minutes))
    assert stored_minute(fresh_db, M) == (60, pytest.approx(60 * 7.2))
    assert minute_from_readings(fresh_db, rules, M) == (60, pytest.approx(60 * 7.2))


def test_an_urgent_window_is_claimed_before_a_backlog_of_due_ones(fresh_db):
    """When every station's minute closes at once, thousands of windows fall due together; an
    instantaneous exceedance must not wait for them to be judged."""
    from datetime import timedelta

    from processors.judge import JudgeTiming, claim_due

    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO station_watermarks (mine_id, station_id, max_ts, received_at)"
            " VALUES ('GZ520201-0001', 'WW01', to_timestamp(%s), now())",
            (M + 3600,),
        )
        conn.execute(
            "INSERT INTO pending_windows (mine_id, station_id, parameter, reference, kind, window_start, window_end)"
            " SELECT 'GZ520201-0001', 'WW01', 'w01018', '', 'minute', to_timestamp(%s + 60 * i),"
            " to_timestamp(%s + 60 * i + 60) FROM generate_series(0, 29) AS i",
            (M, M),
        )
        conn.execute(
            "INSERT INTO pending_windows (mine_id, station_id, parameter, reference, kind, window_start, window_end,"
            " urgent) VALUES ('GZ520201-0001', 'WW01', 'w01001', '', 'minute', to_timestamp(%s), to_timestamp(%s),"
            " true)",
            (M + 3540, M + 3600),
        )

    async def first_claim():
        async with await psycopg.AsyncConnection.connect(fresh_db, autocommit=True) as conn:
            timing = JudgeTiming(batch=5, grace={"minute": timedelta(seconds=5)}, max_wait={"minute": timedelta(0)})
            async with conn.transaction():
                return await claim_due(conn, ("minute",), timing)

    claimed = asyncio.run(first_claim())
    assert len(claimed) == 5
    assert "w01001" in {series.parameter for series, _, _ in claimed}  # the urgent one, with the oldest four


class ResolvedAlerts:
    """An alert sink that keeps the fingerprints it is asked to resolve (episodes raise none here)."""

    def __init__(self) -> None:
        self.resolved: list[str] = []

    async def raise_alert(self, conn: psycopg.AsyncConnection, candidate: object) -> None:
        raise AssertionError("the judge here raises no alerts")

    async def resolve_alert(self, conn: psycopg.AsyncConnection, fingerprint: str, comment: str) -> None:
        self.resolved.append(fingerprint)


def runtime_judge(rules, alerts: ResolvedAlerts | None = None) -> WindowJudge:
    """The worker's judge over ``rules``, its episodes raising no alerts."""
    book = LimitBook.load()
    limits = {limit.limit_id: limit for limit in book.enforced}
    return WindowJudge(rules, AveragingRules.from_data(book.rules), limits, lambda episode, limit: None, alerts)


def test_an_urgent_window_is_judged_in_a_run_of_its_own(fresh_db, station):
    """The worker judges urgent windows in a transaction of their own, so an exceedance's alert
    is not committed with a run of hundreds of due windows; those stay pending for the next."""
    mine_id, station_id, rules = station
    feed, held = Feed(mine_id, station_id), held_minutes()
    asyncio.run(write(fresh_db, rules, held, feed.record(range(0, 66))))  # minute M closed: its windows due
    result = asyncio.run(write(fresh_db, rules, held, feed.record([70], value=12.5)))  # pH 12.5 in minute M + 60
    assert result.urgent_windows == 1

    async def judge(urgent_only: bool):
        judge = runtime_judge(rules)
        async with await psycopg.AsyncConnection.connect(fresh_db, autocommit=True) as conn:
            return await judge.run_once(conn, urgent_only)

    report = asyncio.run(judge(urgent_only=True))
    assert report.windows == 1 and len(report.opened) == 1  # the exceedance, alone
    assert ("minute", False) in pending(fresh_db, M)  # the closed minute waits for the next run
    assert asyncio.run(judge(urgent_only=True)).windows == 0
    assert asyncio.run(judge(urgent_only=False)).windows >= 1
    assert pending(fresh_db, M) == []


def test_a_complying_minute_closes_the_exceedance_before_it(fresh_db, station):
    """The judge recomputes episodes only for limits with an exceeding verdict or a stored
    exceedance: a complying window after an exceedance still closes it, and a complying window
    of a limit with none opens nothing."""
    mine_id, station_id, rules = station
    feed, held, alerts = Feed(mine_id, station_id), held_minutes(), ResolvedAlerts()

    async def judge_all():
        judge = runtime_judge(rules, alerts)
        async with await psycopg.AsyncConnection.connect(fresh_db, autocommit=True) as conn:
            return [await judge.run_once(conn) for _ in range(3)]

    asyncio.run(write(fresh_db, rules, held, feed.record(range(0, 66))))  # minute M complies, closed
    assert [r.opened for r in asyncio.run(judge_all()) if r.windows] == [[]]
    exceeding, after = feed.record(range(66, 120), value=12.5), feed.record(range(120, 126))
    asyncio.run(write(fresh_db, rules, held, exceeding, after))  # minute M + 60 exceeds, closed
    opened = [x for r in asyncio.run(judge_all()) for x in r.opened]
    assert len(opened) == 1
    asyncio.run(write(fresh_db, rules, held, feed.record(range(126, 186))))  # minute M + 120 complies
    assert [x for r in asyncio.run(judge_all()) for x in r.closed] == opened
    assert len(alerts.resolved) == 1
