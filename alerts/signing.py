"""Webhook signatures: HMAC-SHA256 over the timestamp and the body.

Each POST carries::

    X-Minewatch-Timestamp: <unix seconds>
    X-Minewatch-Signature: sha256=<hex of HMAC-SHA256(secret, "<timestamp>." + body)>

A receiver recomputes the HMAC with its secret, compares in constant time, and refuses a
timestamp older (or newer) than its replay window (5 minutes by default): a captured request
cannot be replayed later. The body is signed as sent, byte for byte.

>>> headers = sign(b'{"alert_id": 1}', "s3cret", timestamp=1795651260)
>>> headers["X-Minewatch-Signature"][:15]
'sha256=c3a9925c'
>>> verify(b'{"alert_id": 1}', headers, "s3cret", now=1795651300)
True
>>> verify(b'{"alert_id": 2}', headers, "s3cret", now=1795651300)   # body changed
False
>>> verify(b'{"alert_id": 1}', headers, "s3cret", now=1795651260 + 301)  # replayed too late
False
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

TIMESTAMP = "X-Minewatch-Timestamp"
SIGNATURE = "X-Minewatch-Signature"
REPLAY_WINDOW_S = 300


def signature(body: bytes, secret: str, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def sign(body: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {TIMESTAMP: str(timestamp), SIGNATURE: signature(body, secret, timestamp)}


def verify(
    body: bytes, headers: Mapping[str, str], secret: str, *, now: float | None = None, window_s: int = REPLAY_WINDOW_S
) -> bool:
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        timestamp = int(lowered[TIMESTAMP.lower()])
        given = lowered[SIGNATURE.lower()]
    except (KeyError, ValueError):
        return False
    now = time.time() if now is None else now
    if abs(now - timestamp) > window_s:
        return False
    return hmac.compare_digest(given, signature(body, secret, timestamp))
