"""Issuing bearer tokens: the one place a token exists in clear, before it is handed over.

Used by ``minewatch tokens create`` and by ``minewatch up`` (which writes a province token for
the demo into its run directory).
"""

from __future__ import annotations

import psycopg

from api.auth import check_jurisdiction, new_token, token_hash
from minewatch.registry import Registry


def issue_token(
    db_url: str, name: str, level: str, area: str, agency: str | None, registry: Registry | None = None
) -> tuple[int, str]:
    """Store a new token's hash for (level, area); return its id and the token (shown once).

    Raises ``api.auth.TokenError`` when (level, area) is not a real jurisdiction.
    """
    check_jurisdiction(level, area, registry)
    token = new_token()
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "INSERT INTO api_tokens (token_hash, name, level, area, agency) VALUES (%s, %s, %s, %s, %s)"
            " RETURNING token_id",
            (token_hash(token), name, level, area, agency),
        ).fetchone()
    assert row is not None
    return row[0], token
