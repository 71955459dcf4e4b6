"""The PostgreSQL server settings minewatch's write rate wants, and advice where a server lacks them.

minewatch configures the servers it starts itself with :data:`SERVER_SETTINGS`: the embedded
one (``minewatch/services.py``) and the compose file's TimescaleDB (a test compares them). A
server given by URL belongs to its owner, so for it the worker and ``minewatch db migrate`` only
say what is missing (:func:`advice_for`).

The server requests a checkpoint after about ``max_wal_size / (1 + checkpoint_completion_target)``
of WAL (its log: "distance=541720 kB" at the default 1 GB), and writes are slower while one runs
(README, Performance). minewatch writes ~250 bytes of WAL a reading: with 1 GB a checkpoint came
every 30-40 s at 100,000 readings/s, with 4 GB every 89-111 s at 85,000/s (so about every 3.5
minutes at the province's 40,000/s). Crash recovery replays at most that much WAL.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import psycopg
from psycopg import sql

SERVER_SETTINGS = {"max_wal_size": "4GB", "checkpoint_timeout": "15min"}

_SIZE = re.compile(r"^\s*(\d+)\s*(kB|MB|GB|TB)\s*$")
_MEGABYTES = {"kB": 1 / 1024, "MB": 1, "GB": 1024, "TB": 1024 * 1024}
WAL_BYTES_PER_READING = 250  # 7.48 GB of WAL for 30 million readings (README, Performance)
UPDATED_IN_PLACE = "pending_windows, station_watermarks, minute_values and consumer_offsets"


def megabytes(size: str) -> float:
    """A size as PostgreSQL shows it (``SHOW max_wal_size``), in megabytes.

    >>> megabytes("1GB"), megabytes("1536MB"), megabytes("64kB")
    (1024, 1536, 0.0625)
    """
    match = _SIZE.match(size)
    if match is None:
        raise ValueError(f"not a PostgreSQL size: {size!r}")
    return int(match.group(1)) * _MEGABYTES[match.group(2)]


def server_advice(settings: Mapping[str, str]) -> list[str]:
    """What an operator should change on a server with these settings (``SHOW`` values), and why.

    >>> server_advice({"autovacuum": "on", "max_wal_size": "4GB"})
    []
    >>> for advice in server_advice({"autovacuum": "off", "max_wal_size": "1GB"}):
    ...     print(advice[:72])
    autovacuum is off: minewatch updates pending_windows, station_watermarks
    max_wal_size is 1GB: the server asks for a checkpoint after about 539 MB
    >>> server_advice({"max_wal_size": "a lot"})  # a value it cannot read is not advice
    []
    """
    advice = []
    if settings.get("autovacuum") == "off":
        advice.append(
            f"autovacuum is off: minewatch updates {UPDATED_IN_PLACE} in place all the time, and without"
            " vacuum their dead rows pile up and slow the judge's scans of pending windows; turn it on"
            " (ALTER SYSTEM SET autovacuum = on; SELECT pg_reload_conf())"
        )
    wal = settings.get("max_wal_size", "")
    wanted = SERVER_SETTINGS["max_wal_size"]
    have = megabytes(wal) if _SIZE.match(wal) else None
    if have is not None and have < megabytes(wanted):
        trigger = have / (1 + float(settings.get("checkpoint_completion_target", 0.9)))
        seconds = trigger * 2**20 / WAL_BYTES_PER_READING / 100_000
        advice.append(
            f"max_wal_size is {wal}: the server asks for a checkpoint after about {trigger:.0f} MB of WAL"
            f" (~{seconds:.0f} s of minewatch's writes at 100,000 readings/s), and writes slow down while"
            f" one runs; minewatch runs its own servers with {wanted} (storage/server.py)"
        )
    return advice


def advice_for(url: str) -> list[str]:
    """:func:`server_advice` for the server at ``url``, from one query of its settings."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT current_setting('autovacuum'), current_setting('max_wal_size'),"
            " current_setting('checkpoint_completion_target')"
        ).fetchone()
    assert row is not None
    return server_advice(dict(zip(("autovacuum", "max_wal_size", "checkpoint_completion_target"), row, strict=True)))


def configure_server(url: str, settings: Mapping[str, str] = SERVER_SETTINGS) -> None:
    """Set server-wide ``settings`` (ones a reload applies) on the server at ``url``, and reload it:
    for a server minewatch started itself."""
    with psycopg.connect(url, autocommit=True) as conn:
        for name, value in settings.items():
            conn.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(value)))
        conn.execute("SELECT pg_reload_conf()")
