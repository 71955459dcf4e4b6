"""Schema migrations: numbered SQL files, applied once, in order, under an advisory lock.

``storage/migrations/NNNN_name.sql`` runs everywhere. ``NNNN_name.timescale.sql``, when it
exists, runs right after it only where the ``timescaledb`` extension can be created; the
plain files alone leave a schema that answers the same queries on plain PostgreSQL.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from minewatch.paths import MIGRATIONS
from minewatch.settings import redact

log = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_ID = 0x6D696E65  # "mine": serialises concurrent `minewatch db migrate` runs


@dataclass
class MigrationReport:
    timescale: bool
    applied: list[str] = field(default_factory=list)


def migrations(folder: Path = MIGRATIONS) -> list[tuple[int, str, Path]]:
    found = []
    for path in sorted(folder.glob("*.sql")):
        match = _NAME.match(path.name)
        if match:
            found.append((int(match.group(1)), match.group(2), path))
    return found


def admin_and_name(url: str) -> tuple[str, str]:
    """The URL of the same server's ``postgres`` database, and the name of ``url``'s database.

    >>> admin_and_name("postgresql://u@h:5432/minewatch")
    ('postgresql://u@h:5432/postgres', 'minewatch')
    >>> admin_and_name("postgresql://postgres:@/minewatch_bench_1?host=/tmp/pg")  # the embedded server's
    ('postgresql://postgres:@/postgres?host=/tmp/pg', 'minewatch_bench_1')
    """
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/postgres")), parts.path.lstrip("/")


def ensure_database(url: str) -> None:
    """Create the database named in ``url`` if it does not exist (connects to ``postgres``).

    It is created with the ``C`` collation (character classes stay the server's): text then
    compares byte by byte, which for UTF-8 is code-point order, the order ``C.UTF-8`` gives
    too, without a ``strcoll`` call per comparison. Every reading's insert compares three text
    columns down ``readings_identity``: 4 million readings of 800 mines, PostgreSQL 15, this
    2-core machine: 11.0–12.2 s with ``C``, 13.7–16.9 s with ``C.UTF-8``. A database that
    exists already keeps its collation (it can only be changed by dump and restore)."""
    admin, name = admin_and_name(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            row = conn.execute("SELECT datctype FROM pg_database WHERE datname = 'template1'").fetchone()
            ctype = row[0] if row else "C"
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE template0 LOCALE_PROVIDER libc LC_COLLATE 'C' LC_CTYPE {}").format(
                    sql.Identifier(name), sql.Literal(ctype)
                )
            )
            log.info("created database %s", name)


def drop_database(url: str) -> None:
    admin, name = admin_and_name(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextlib.contextmanager
def scratch_database(server_url: str | None, prefix: str) -> Iterator[str | None]:
    """A new, empty database on ``server_url``'s server for one run (drills, benchmarks), dropped
    afterwards: a run never writes into a database someone else uses. Without a server, None
    (the caller's embedded database starts empty anyway)."""
    if server_url is None:
        yield None
        return
    parts = urlsplit(server_url)
    url = urlunsplit(parts._replace(path=f"/{prefix}_{int(time.time())}_{os.getpid()}"))
    ensure_database(url)
    try:
        yield url
    finally:
        drop_database(url)


def timescale_available(conn: psycopg.Connection) -> bool:
    row = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'").fetchone()
    return row is not None


def migrate(url: str, folder: Path = MIGRATIONS) -> MigrationReport:
    """Apply every pending migration to the database at ``url``."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
        try:
            timescale = _enable_timescale(conn)
            report = MigrationReport(timescale=timescale)
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL,"
                " timescale boolean NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
            for version, name, path in migrations(folder):
                if version in done:
                    continue
                with conn.transaction():
                    conn.execute(path.read_text(encoding="utf-8"))
                    extra = path.with_suffix(".timescale.sql")
                    if timescale and extra.exists():
                        conn.execute(extra.read_text(encoding="utf-8"))
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name, timescale) VALUES (%s, %s, %s)",
                        (version, name, timescale),
                    )
                report.applied.append(f"{version:04d}_{name}")
                log.info("applied migration %04d_%s to %s", version, name, redact(url))
            return report
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))


def _enable_timescale(conn: psycopg.Connection) -> bool:
    if not timescale_available(conn):
        return False
    try:
        conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    except psycopg.Error as exc:  # e.g. not in shared_preload_libraries
        log.warning("timescaledb is installed but cannot be enabled (%s); using plain PostgreSQL", exc)
        return False
    return True
