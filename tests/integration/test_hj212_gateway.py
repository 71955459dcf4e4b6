"""The HJ 212 gateway on real services: `minewatch hj212 serve` in front of the running pipeline
(Tansu, the Faust worker, PostgreSQL), many simulated data loggers at once, and what a device
does wrong or must be answered."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest

from hj212 import encode
from hj212.framing import Frame, FrameReader
from hj212.packet import parse
from minewatch.stack import MinewatchProcesses, Services
from simulators.fleet import simulated_password
from simulators.hj212 import loggers, run_fleet
from tests.conftest import HJ212_FLEET, eventually

FLEET_MINES = sorted(HJ212_FLEET.mines)
LOAD_MINES = FLEET_MINES[:10]  # the concurrency test's; the protocol test uses the last two
PROTOCOL_MINE = FLEET_MINES[-1]


@pytest.fixture(scope="module")
def gateway(pipeline: MinewatchProcesses) -> Iterator[int]:
    """The pipeline's own gateway (``minewatch hj212 serve``, as ``up`` and docker-compose run it)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", pipeline.hj212_port), timeout=1).close()
            break
        except OSError:
            assert time.monotonic() < deadline and pipeline.hj212.alive, f"no gateway: {pipeline.hj212.log_path}"
            time.sleep(0.2)
    yield pipeline.hj212_port


def _count(db: psycopg.Connection, query: str, *params: object) -> int:
    return db.execute(query, params).fetchone()[0]  # type: ignore[index]


def test_many_loggers_at_once_their_data_arrives_complete_and_exactly_once(
    services: Services, gateway: int, db: psycopg.Connection
) -> None:
    fleet = loggers(HJ212_FLEET, seed=5, fault_rate=0.05)
    fleet = [lg for lg in fleet if lg.mine_id in LOAD_MINES]
    hour = time.time() // 3600 * 3600
    minutes = [hour - 3600 - 300 + 60 * i for i in range(70)]  # 70 minutes over one full clock hour
    stats = asyncio.run(run_fleet("127.0.0.1", gateway, fleet, minutes))
    assert len(fleet) == 20 and stats.unanswered == [] and stats.answered == stats.packets
    assert sum(stats.faults.values()) > 0 and stats.hourly_readings > 0
    since = datetime.fromtimestamp(minutes[0], UTC)
    hours_since = datetime.fromtimestamp(minutes[0] // 3600 * 3600, UTC)  # hourly data start at the hour

    def stored() -> tuple[int, int]:
        return (
            _count(db, "SELECT count(*) FROM readings WHERE mine_id = ANY(%s) AND ts >= %s", LOAD_MINES, since),
            _count(
                db,
                "SELECT count(*) FROM interval_readings WHERE mine_id = ANY(%s) AND ts >= %s AND interval_s = 3600",
                LOAD_MINES,
                hours_since,
            ),
        )

    deadline = time.monotonic() + 60
    while stored() != (stats.minute_readings, stats.hourly_readings) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert stored() == (stats.minute_readings, stats.hourly_readings), f"stored {stored()} of {stats}"
    time.sleep(1.0)
    assert stored() == (stats.minute_readings, stats.hourly_readings)  # and not one more
    # Minute values are the devices' averages at the start of each minute, in Beijing time.
    legacy = fleet[0] if fleet[0].crc_variant == "modbus" else next(lg for lg in fleet if lg.crc_variant == "modbus")
    first = db.execute(
        "SELECT ts, unit, origin FROM readings WHERE mine_id = %s AND station_id = %s AND parameter = 'a21026'"
        " ORDER BY ts LIMIT 1",
        (legacy.mine_id, legacy.station.id),
    ).fetchone()
    assert first is not None and first[0].timestamp() == minutes[0] and first[1] == "mg/m3"
    assert first[2] == "hj212 legacy-crc:modbus"  # accepted, and marked as such
    origins = db.execute("SELECT DISTINCT origin FROM readings WHERE mine_id = ANY(%s)", (LOAD_MINES,)).fetchall()
    assert sorted(o for (o,) in origins) == ["hj212", "hj212 legacy-crc:modbus"]
    letters = dict(
        db.execute(
            "SELECT reason_code, count(*) FROM dead_letters WHERE source = 'hj212' AND mine_id = ANY(%s)"
            " GROUP BY reason_code",
            (LOAD_MINES,),
        ).fetchall()
    )
    assert letters.get("hj212_crc", 0) == stats.faults.get("corrupt", 0)  # a bit flipped on the line
    framing = db.execute(
        "SELECT payload, payload_encoding FROM dead_letters WHERE source = 'hj212' AND reason_code = 'hj212_framing'"
    ).fetchall()
    noise = [p for p, enc in framing if (base64.b64decode(p) if enc == "base64" else p.encode()).startswith(b"AT+CSQ")]
    assert len(noise) == stats.faults.get("noise", 0)  # the modem's chatter, kept byte for byte


class Device:
    """A raw TCP client: exactly the bytes a test wants, and what comes back."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.frames = FrameReader()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def answers(self, wait_s: float = 3.0, want: int = 1) -> list:
        got = []
        deadline = time.monotonic() + wait_s
        while len(got) < want and time.monotonic() < deadline:
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                break
            if not data:
                got.append("closed")
                break
            got += [parse(i.segment) for i in self.frames.feed(data) if isinstance(i, Frame)]
        return got

    def close(self) -> None:
        self.sock.close()


def _upload(mn: str, pw: str, when: datetime, cn: str = "2051", flag: int | None = 5, body: str = "",
            variant: str = "hj212", st: str = "31", qn: str | None = None) -> bytes:  # fmt: skip
    cp = encode.data_area(encode.stamp(when), [[(g.split("=")[0], g.split("=")[1]) for g in body.split(",")]])
    text = encode.segment(cn=cn, st=st, mn=mn, pw=pw, cp=cp, qn_text=qn or encode.qn(when), flag=flag)
    return encode.frame(text, variant)


def test_devices_are_authenticated_answered_and_refused_with_reasons(
    services: Services, gateway: int, db: psycopg.Connection
) -> None:
    mine = HJ212_FLEET.mine(PROTOCOL_MINE)
    assert mine is not None
    stack, outlet = mine.stations["ST01"], mine.stations["WW01"]
    assert stack.hj212 is not None and outlet.hj212 is not None
    mn, pw = stack.hj212.mn, simulated_password(stack.hj212.mn)
    now = datetime.now(UTC).replace(second=0, microsecond=0)

    device = Device(gateway)
    try:
        # A good upload asking for an answer: 9014 with its QN, once Kafka has it.
        upload = _upload(mn, pw, now, body="a21026-Avg=35.5,a21026-Flag=N")
        device.send(upload)
        (answer,) = device.answers()
        assert (answer.cn, answer.st, answer.flag, answer.qn) == ("9014", "91", 4, parse(upload[6:-6]).qn)
        # The device asks for the time: 9013, then 1012 with Beijing time.
        device.send(encode.frame(encode.segment(cn="1013", st="31", mn=mn, pw=pw, cp="", qn_text=encode.qn(now))))
        notify, set_time = device.answers(want=2)
        assert notify.cn == "9013" and set_time.cn == "1012"
        told = datetime.strptime(set_time.plain_value("SystemTime") or "", "%Y%m%d%H%M%S")
        assert abs((told - datetime.now(UTC).replace(tzinfo=None)).total_seconds() - 8 * 3600) < 60
        # A heartbeat some platforms expect (9021, not in the standard): answered, not fatal.
        device.send(encode.frame(encode.segment(cn="9021", st="91", mn=mn, pw=pw, cp="Data=0BBE", qn_text="1", flag=5)))
        assert [a.cn for a in device.answers()] == ["9014"]
        # Split hourly data: each part answered; both parts' pollutants stored.
        hour = now.replace(minute=0)  # this clock hour's start
        for number, body in ((1, "a34013-Avg=12.0,a34013-Flag=N"), (2, "a21002-Avg=80.0,a21002-Flag=N")):
            cp = encode.data_area(encode.stamp(hour), [[tuple(x.split("=")) for x in body.split(",")]])
            text = encode.segment(cn="2061", st="31", mn=mn, pw=pw, cp=cp, qn_text=f"2026{number:013d}", flag=7,
                                  pnum=2, pno=number)  # fmt: skip
            device.send(encode.frame(text))
            assert [a.cn for a in device.answers()] == ["9014"]
        # From the future: refused with a reason, and answered so the logger stops re-sending.
        future = _upload(mn, pw, now.replace(year=now.year + 1), body="a21026-Avg=1,a21026-Flag=N")
        device.send(future)
        assert [a.cn for a in device.answers()] == ["9014"]
    finally:
        device.close()

    # A 2005-style logger (no QN, no Flag, 2005 codes) for the outlet: stored under 2017 codes.
    legacy = Device(gateway)
    try:
        text = encode.segment(cn="2011", st="32", mn=outlet.hj212.mn, pw=simulated_password(outlet.hj212.mn),
                              cp=encode.data_area(encode.stamp(now), [[("011-Rtd", "42.5"), ("011-Flag", "N")]]),
                              flag=None)  # fmt: skip
        legacy.send(encode.frame(text))
        assert legacy.answers(wait_s=1.0) == []  # 2005 uploads ask for no answer
    finally:
        legacy.close()

    # Wrong password, unknown MN, wrong CRC: no answer, and the third failure closes the connection.
    intruder = Device(gateway)
    try:
        intruder.send(_upload(mn, "999999", now, body="a21026-Avg=500,a21026-Flag=N"))
        assert intruder.answers(wait_s=1.0) == []
        intruder.send(_upload(mn, pw, now, body="a21026-Avg=7,a21026-Flag=N", variant="modbus"))  # not its firmware
        assert intruder.answers(wait_s=1.0) == []
        intruder.send(_upload("FFFFFFFFFFFFFFFFFFFFFFFF", "123456", now, body="a21026-Avg=1,a21026-Flag=N"))
        intruder.send(_upload("EEEEEEEEEEEEEEEEEEEEEEEE", "123456", now, body="a21026-Avg=1,a21026-Flag=N"))
        assert intruder.answers(wait_s=3.0) == ["closed"]
    finally:
        intruder.close()

    def value(station: str, parameter: str) -> list:
        return db.execute(
            "SELECT value FROM readings WHERE mine_id = %s AND station_id = %s AND parameter = %s AND ts = %s",
            (PROTOCOL_MINE, station, parameter, now),
        ).fetchall()

    eventually(lambda: value("WW01", "w01018") == [(42.5,)], what="the 2005 logger's COD under w01018")
    assert value("ST01", "a21026") == [(35.5,)]  # neither the wrong password's 500 nor the Modbus copy's 7
    hourly = db.execute(
        "SELECT parameter, value FROM interval_readings WHERE mine_id = %s AND interval_s = 3600 AND ts = %s"
        " ORDER BY parameter",
        (PROTOCOL_MINE, hour),
    ).fetchall()
    assert hourly == [("a21002", 80.0), ("a34013", 12.0)]

    def letters() -> dict[str, str]:
        rows = db.execute(
            "SELECT reason_code, reason, payload FROM dead_letters WHERE source = 'hj212' AND received_at >= %s"
            " AND (mine_id = %s OR mine_id IS NULL)",
            (now, PROTOCOL_MINE),
        ).fetchall()
        return {code: (reason, payload) for code, reason, payload in rows}

    eventually(lambda: {"hj212_wrong_password", "hj212_crc", "hj212_unknown_device", "timestamp_in_future"}
               <= set(letters()), what="every refusal dead-lettered")  # fmt: skip
    found = letters()
    reason, payload = found["hj212_wrong_password"]
    assert mn in reason and "999999" not in reason and "999999" not in payload and "PW=***" in payload
    assert "CRC-16/MODBUS" in found["hj212_crc"][0]
    assert "not registered" in found["hj212_unknown_device"][0]
    assert "set the data logger's clock" in found["timestamp_in_future"][0]
    log = (services.run_dir / "logs" / "hj212.log").read_text()
    assert "wrong password" in log and "999999" not in log and pw not in log  # passwords never logged
    assert hashlib.sha256(pw.encode()).hexdigest() == stack.hj212.pw_sha256
