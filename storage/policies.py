"""Storage policies: how long raw readings are kept, and when they are compressed.

With TimescaleDB, ``minewatch db policies`` replaces the compression and retention policies the
migrations set (7 days, 3 years); continuous aggregates keep their data when raw chunks are
dropped. On plain PostgreSQL there is no compression, and retention is ``minewatch db prune``,
a plain DELETE of old readings (run it from cron, in quiet hours).
"""

from __future__ import annotations

import psycopg


def timescale_enabled(conn: psycopg.Connection) -> bool:
    return conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone() is not None


def apply_policies(url: str, compress_after: str, retain: str) -> str:
    """Set the compression and retention policies of ``readings``; returns what was done."""
    with psycopg.connect(url, autocommit=True) as conn:
        if not timescale_enabled(conn):
            return (
                "plain PostgreSQL: compression and retention policies need TimescaleDB; nothing changed "
                "(use `minewatch db prune --older-than ...` for retention)"
            )
        conn.execute("SELECT remove_compression_policy('readings', if_exists => true)")
        conn.execute("SELECT add_compression_policy('readings', compress_after => %s::interval)", (compress_after,))
        conn.execute("SELECT remove_retention_policy('readings', if_exists => true)")
        conn.execute("SELECT add_retention_policy('readings', drop_after => %s::interval)", (retain,))
    return f"readings: compressed after {compress_after}, dropped after {retain}"


def prune(url: str, older_than: str) -> int:
    """Delete raw readings older than ``older_than`` (an interval); returns how many (plain PostgreSQL)."""
    with psycopg.connect(url, autocommit=True) as conn:
        if timescale_enabled(conn):
            conn.execute("SELECT drop_chunks('readings', older_than => %s::interval)", (older_than,))
            return -1
        return conn.execute("DELETE FROM readings WHERE ts < now() - %s::interval", (older_than,)).rowcount
