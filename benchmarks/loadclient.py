"""A lean MQTT 3.1.1 QoS 1 publisher for load generation: pre-encoded packets on a plain socket.

The benchmark's publisher shares the machine's two cores with everything it measures. paho
spends about 120 µs of Python per QoS 1 message (its packet objects, locks, callbacks); this
client spends a few: it encodes each PUBLISH in one ``%`` operation, writes them in batches
with one ``sendall``, and only counts the PUBACKs that come back. It speaks just what a load
needs: CONNECT with user and password, PUBLISH at QoS 1, PUBACK, DISCONNECT, and a QoS 0
subscription to minewatch's flow-control topic, which it obeys: while minewatch says pause
(:mod:`ingest.flow`), ``publish`` waits, as a mine's data logger holds its data.
"""

from __future__ import annotations

import select
import socket
import time
from types import TracebackType

from ingest.flow import FlowSignal
from ingest.mqttwire import (
    DISCONNECT,
    MAX_PACKET_ID,
    PUBACK,
    PUBLISH,
    connect_packet,
    packet_bounds,
    publish_packet,
    read_publish,
    subscribe_packet,
)
from ingest.subscriber import open_session


class QoS1Publisher:
    """Publishes at QoS 1 and counts acknowledgements; ``max_in_flight`` bounds what is unacknowledged.

    Use as a context manager: connected on entry, disconnected on exit.
    """

    def __init__(
        self,
        host: str,
        port: int,
        client_id: str,
        username: str | None = None,
        password: str | None = None,
        *,
        max_in_flight: int = 10_000,
        send_every: int = 50,
        flow_topic: str | None = None,
    ) -> None:
        if max_in_flight >= MAX_PACKET_ID:
            raise ValueError("max_in_flight must stay below 65,535 so packet ids are never reused in flight")
        self.address = (host, port)
        self.connect_bytes = connect_packet(client_id, username, password)
        self.max_in_flight = max_in_flight
        self.send_every = send_every
        self.sent = 0
        self.acknowledged = 0
        self.flow_topic = flow_topic
        self.flow = FlowSignal("go", "no signal yet")
        self.pauses = 0  # times a pause began
        self.paused_s = 0.0  # time spent waiting for "go"
        self._outgoing: list[bytes] = []
        self._incoming = b""
        self._sock: socket.socket | None = None

    def __enter__(self) -> QoS1Publisher:
        sock = open_session(self.address, self.connect_bytes)
        sock.settimeout(None)
        self._sock = sock
        if self.flow_topic is not None:
            sock.sendall(subscribe_packet([(self.flow_topic, 0)], MAX_PACKET_ID))
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._sock is not None:
            try:
                self.flush()
                self._sock.sendall(DISCONNECT)
            except OSError:
                pass
            self._sock.close()
            self._sock = None

    @property
    def in_flight(self) -> int:
        return self.sent - self.acknowledged

    def publish(self, topic: str, payload: bytes) -> None:
        """Queue one QoS 1 message; written with the next batch. Waits while ``max_in_flight`` are unacknowledged."""
        while self.in_flight >= self.max_in_flight:
            self.flush()
            self.read_acknowledgements(timeout=0.05)
        if self.flow.paused(time.time()):
            self._wait_for_go()
        self.sent += 1
        self._outgoing.append(publish_packet(topic, payload, self.sent % MAX_PACKET_ID + 1))
        if len(self._outgoing) >= self.send_every:
            self.flush()
            self.read_acknowledgements(timeout=0.0)

    def _wait_for_go(self) -> None:
        self.pauses += 1
        began = time.monotonic()
        self.flush()
        while self.flow.paused(time.time()):
            self.read_acknowledgements(timeout=0.1)
        self.paused_s += time.monotonic() - began

    def flush(self) -> None:
        """Write the queued packets."""
        if self._outgoing and self._sock is not None:
            self._sock.sendall(b"".join(self._outgoing))
            self._outgoing.clear()

    def read_acknowledgements(self, timeout: float) -> int:
        """Count the PUBACKs that arrived (waiting up to ``timeout`` for the first); the new count."""
        assert self._sock is not None
        if not select.select([self._sock], [], [], timeout)[0]:
            return 0
        chunk = self._sock.recv(1 << 16)
        if not chunk:
            raise ConnectionError("the broker closed the connection")
        data = self._incoming + chunk
        count, at = 0, 0
        while (bounds := packet_bounds(data, at)) is not None:
            body, end = bounds
            kind = data[at] >> 4
            if kind == PUBACK >> 4:
                count += 1
            elif kind == PUBLISH >> 4:  # the flow signal (subscribed at QoS 0: no packet id)
                message = read_publish(data, at, body, end)
                if message.topic == self.flow_topic:
                    self.flow = FlowSignal.decode(message.payload)
            at = end
        self._incoming = data[at:]
        self.acknowledged += count
        return count

    def wait_for_acknowledgements(self, timeout_s: float) -> bool:
        """Flush and wait until every message is acknowledged (or ``timeout_s`` passes)."""
        self.flush()
        deadline = time.monotonic() + timeout_s
        while self.in_flight and time.monotonic() < deadline:
            self.read_acknowledgements(timeout=0.05)
        return not self.in_flight
