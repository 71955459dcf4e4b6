"""What travels on the Kafka topics, and how it is encoded.

Kafka carries **batches**, not single readings: Faust costs about 100 µs per event, so the
bridge groups every message of one mine that arrived within a few milliseconds into one
record keyed by the mine id (a mine's messages stay in order on one partition).

A telemetry batch is JSON built by concatenating the validated payloads as they arrived,
so the bridge never re-encodes a message::

    {"mine_id": "GZ520201-0001", "received_at": 1795651260.123, "messages": [<payload>, ...]}

>>> raw = telemetry_batch("GZ520201-0001", 1795651260.5, [b'{"message_id": "a"}', b'{"message_id": "b"}'])
>>> batch = decode_batch(raw)
>>> batch["mine_id"], [m["message_id"] for m in batch["messages"]]
('GZ520201-0001', ['a', 'b'])
>>> letter = decode_dead_letter(dead_letter("mqtt", "minewatch/v1/x", b"\\xff\\xfe", "not_json",
...     "payload is not valid JSON", "GZ520201-0001", 1795651260.5))
>>> letter["payload"], letter["payload_encoding"]
('//4=', 'base64')
"""

from __future__ import annotations

import base64
from typing import Any, TypedDict

import orjson


class TelemetryBatch(TypedDict):
    mine_id: str
    received_at: float
    messages: list[dict[str, Any]]


class DeadLetter(TypedDict):
    source: str
    topic: str
    mine_id: str | None
    reason_code: str
    reason: str
    received_at: float
    payload: str
    payload_encoding: str


def telemetry_batch(mine_id: str, received_at: float, payloads: list[bytes]) -> bytes:
    """One Kafka record for several validated payloads of one mine (no re-encoding)."""
    head = orjson.dumps(mine_id)
    return b'{"mine_id":%s,"received_at":%r,"messages":[%s]}' % (
        head,
        received_at,
        b",".join(payloads),
    )


def decode_batch(raw: bytes) -> TelemetryBatch:
    return orjson.loads(raw)


def dead_letter(
    source: str,
    topic: str,
    payload: bytes,
    reason_code: str,
    reason: str,
    mine_id: str | None,
    received_at: float,
) -> bytes:
    """A dead-letter record: the reason and the rejected bytes, kept exactly: as text when they
    are UTF-8 a database can hold (no NUL), else base64.

    >>> [dead_letter("mqtt", "t", p, "not_json", "r", None, 0.0).split(b'"payload_encoding":')[1]
    ...  for p in (b"{}", b"\\xff", b"a\\x00b")]
    [b'"utf-8"}', b'"base64"}', b'"base64"}']
    """
    try:
        text, encoding = payload.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = "", "base64"
    if encoding == "base64" or "\x00" in text:
        text, encoding = base64.b64encode(payload).decode("ascii"), "base64"
    letter: DeadLetter = {
        "source": source,
        "topic": topic,
        "mine_id": mine_id,
        "reason_code": reason_code,
        "reason": reason,
        "received_at": received_at,
        "payload": text,
        "payload_encoding": encoding,
    }
    return orjson.dumps(letter)


def decode_dead_letter(raw: bytes) -> DeadLetter:
    return orjson.loads(raw)
