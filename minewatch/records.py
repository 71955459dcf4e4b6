"""What travels on the Kafka topics, and how it is encoded.

Kafka carries **batches**, not single readings: Faust costs about 100 µs per event, so the
bridge groups the messages that arrived within a few milliseconds for one partition into one
record. A mine always maps to the same partition (:func:`partition_of`, the rule librdkafka
applies to a keyed record), so its messages stay in order on one partition and its series'
state lives in one worker, whether they came over MQTT or HJ 212.

A telemetry batch is JSON built by concatenating the validated payloads as they arrived (each
names its mine), so the bridge never re-encodes a message::

    {"received_at": 1795651260.123, "messages": [<payload>, ...]}

>>> raw = telemetry_batch(1795651260.5, [b'{"mine_id": "M1", "id": "a"}', b'{"mine_id": "M2", "id": "b"}'])
>>> [(m["mine_id"], m["id"]) for m in decode_batch(raw)["messages"]]
[('M1', 'a'), ('M2', 'b')]
>>> partition_of("GZ520201-0001", 8), partition_of("GZ520201-0002", 8)
(2, 0)
>>> letter = decode_dead_letter(dead_letter("mqtt", "minewatch/v1/x", b"\\xff\\xfe", "not_json",
...     "payload is not valid JSON", "GZ520201-0001", 1795651260.5))
>>> letter["payload"], letter["payload_encoding"]
('//4=', 'base64')
"""

from __future__ import annotations

import base64
import zlib
from typing import Any, TypedDict

import orjson


class TelemetryBatch(TypedDict):
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


def telemetry_batch(received_at: float, payloads: list[bytes]) -> bytes:
    """One Kafka record for several validated payloads (no re-encoding)."""
    return b'{"received_at":%r,"messages":[%s]}' % (received_at, b",".join(payloads))


def partition_of(mine_id: str, partitions: int) -> int:
    """The partition of a mine's records: CRC-32 of the mine id, as librdkafka's default
    (``consistent_random``) partitioner places a record keyed by it."""
    return zlib.crc32(mine_id.encode()) % partitions


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
