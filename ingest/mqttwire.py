"""MQTT 3.1.1 packets (OASIS Standard, 2014), encoded and decoded: what minewatch's lean clients
speak (the bridge's subscriber, :mod:`ingest.subscriber`, and the benchmark's publisher).

Pure bytes in, bytes out. A packet is a fixed header (type and flags in the first byte, then the
*remaining length* as a variable-length integer, §2.2.3) and a body.

>>> publish_packet("a/b", b"{}", 10)
b'2\\t\\x00\\x03a/b\\x00\\n{}'
>>> remaining_length(321)
b'\\xc1\\x02'
>>> data = publish_packet("a/b", b"{}", 10) + puback_packet(7)
>>> packet_bounds(data, 0), packet_bounds(data, 11), packet_bounds(data[:12], 11)
((2, 11), (13, 15), None)
>>> read_publish(data, 0, 2, 11)
Publish(topic='a/b', payload=b'{}', qos=1, packet_id=10, retain=False)
"""

from __future__ import annotations

import struct
from typing import NamedTuple

CONNECT = 0x10
CONNACK = 0x20
PUBLISH = 0x30
PUBACK = 0x40
SUBSCRIBE = 0x82  # the type and the flags §3.8.1 requires
SUBACK = 0x90
PINGREQ = b"\xc0\x00"
PINGRESP = 0xD0
DISCONNECT = b"\xe0\x00"
MAX_PACKET_ID = 65535
CONNACK_ACCEPTED = 0


class Publish(NamedTuple):
    topic: str
    payload: bytes
    qos: int
    packet_id: int  # 0 at QoS 0
    retain: bool


def remaining_length(n: int) -> bytes:
    """MQTT's variable-length integer (7 bits per byte, high bit = more bytes follow)."""
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _utf8(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("!H", len(raw)) + raw


def connect_packet(
    client_id: str,
    username: str | None,
    password: str | None,
    *,
    clean_session: bool = True,
    keepalive_s: int = 0,
    will: Publish | None = None,
) -> bytes:
    """CONNECT (§3.1); a will is sent by the broker if the connection ends without DISCONNECT."""
    flags = 0x02 if clean_session else 0x00
    payload = _utf8(client_id)
    if will is not None:
        flags |= 0x04 | (will.qos << 3) | (0x20 if will.retain else 0)
        payload += _utf8(will.topic) + struct.pack("!H", len(will.payload)) + will.payload
    if username is not None:
        flags |= 0x80
        payload += _utf8(username)
        if password is not None:
            flags |= 0x40
            payload += _utf8(password)
    body = b"\x00\x04MQTT\x04" + bytes([flags]) + struct.pack("!H", keepalive_s) + payload
    return bytes([CONNECT]) + remaining_length(len(body)) + body


def subscribe_packet(subscriptions: list[tuple[str, int]], packet_id: int) -> bytes:
    """SUBSCRIBE (§3.8) to (topic filter, maximum QoS) pairs."""
    body = struct.pack("!H", packet_id) + b"".join(_utf8(topic) + bytes([qos]) for topic, qos in subscriptions)
    return bytes([SUBSCRIBE]) + remaining_length(len(body)) + body


def publish_packet(topic: str, payload: bytes, packet_id: int, *, retain: bool = False) -> bytes:
    """A PUBLISH (§3.3): QoS 1 with a packet id, QoS 0 with ``packet_id`` 0."""
    head = _utf8(topic) + (struct.pack("!H", packet_id) if packet_id else b"")
    first = PUBLISH | (0x02 if packet_id else 0) | (0x01 if retain else 0)
    return bytes([first]) + remaining_length(len(head) + len(payload)) + head + payload


def puback_packet(packet_id: int) -> bytes:
    return b"\x40\x02" + struct.pack("!H", packet_id)


def packet_bounds(data: bytes, at: int) -> tuple[int, int] | None:
    """Where the body of the packet starting at ``at`` begins and where the packet ends, or None
    if ``data`` does not hold all of it yet."""
    length, multiplier, pos = 0, 1, at + 1
    while pos < len(data):
        digit = data[pos]
        length += (digit & 0x7F) * multiplier
        multiplier *= 128
        pos += 1
        if not digit & 0x80:
            return (pos, pos + length) if pos + length <= len(data) else None
    return None


def read_publish(data: bytes, at: int, body: int, end: int) -> Publish:
    """The PUBLISH whose fixed header starts at ``at`` and body spans ``body:end``."""
    first = data[at]
    qos = (first >> 1) & 0x03
    topic_end = body + 2 + ((data[body] << 8) | data[body + 1])
    topic = data[body + 2 : topic_end].decode()
    if qos:
        packet_id = (data[topic_end] << 8) | data[topic_end + 1]
        return Publish(topic, data[topic_end + 2 : end], qos, packet_id, bool(first & 1))
    return Publish(topic, data[topic_end:end], 0, 0, bool(first & 1))
