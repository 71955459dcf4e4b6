"""The bridge's MQTT 3.1.1 client: a persistent session, QoS 1 with manual PUBACK, reconnects.

paho-mqtt cost the bridge about half its CPU (an object, a lock and a callback chain per
message, and one ``send`` per PUBACK); the bridge needs little of what it offers. This client
reads the socket in large chunks on one thread and hands each PUBLISH to ``on_message``
(:mod:`ingest.mqttwire` decodes it); acknowledgements are queued and written together by
:meth:`Subscriber.flush` (the bridge calls it every few milliseconds).

Acknowledgements belong to a connection. When the connection ends, ``on_disconnect`` runs
first (the bridge voids what it had not acknowledged yet), then the queued PUBACKs are dropped
and the client reconnects (0.2 s, doubling to 5 s) with the same client id and
``clean_session`` off, so the broker re-delivers every message not acknowledged. A PUBACK can
never reach a later connection, where its packet id may name a different message.

Keep-alive: a PINGREQ when nothing was sent for half the keep-alive; a connection silent for
one and a half keep-alives is taken as dead.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType

from ingest.mqttwire import (
    CONNACK,
    CONNACK_ACCEPTED,
    DISCONNECT,
    MAX_PACKET_ID,
    PINGREQ,
    PUBLISH,
    Publish,
    connect_packet,
    packet_bounds,
    puback_packet,
    publish_packet,
    read_publish,
    subscribe_packet,
)

log = logging.getLogger("minewatch.subscriber")

CONNACK_CODES = {
    1: "unacceptable protocol version",
    2: "client id rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorised",
}


class ConnectionRefused(ConnectionError):
    """The broker answered CONNECT with something other than "accepted"."""


def open_session(address: tuple[str, int], connect: bytes, timeout_s: float = 10.0) -> socket.socket:
    """A TCP connection to the broker (Nagle off), with ``connect`` (a CONNECT packet) accepted."""
    sock = socket.create_connection(address, timeout=timeout_s)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(connect)
    answer = b""
    while len(answer) < 4:
        chunk = sock.recv(4 - len(answer))
        if not chunk:
            sock.close()
            raise ConnectionRefused("the broker closed the connection instead of answering CONNECT")
        answer += chunk
    if answer[0] != CONNACK or answer[3] != CONNACK_ACCEPTED:
        sock.close()
        raise ConnectionRefused(f"CONNACK {answer.hex()}: {CONNACK_CODES.get(answer[3], 'refused')}")
    return sock


class Subscriber:
    """Connects, subscribes and delivers until :meth:`stop` (use as a context manager)."""

    def __init__(
        self,
        host: str,
        port: int,
        client_id: str,
        subscriptions: list[tuple[str, int]],
        on_message: Callable[[Publish], None],
        *,
        username: str | None = None,
        password: str | None = None,
        will: Publish | None = None,
        keepalive_s: int = 30,
        on_connect: Callable[[], None] = lambda: None,
        on_disconnect: Callable[[str], None] = lambda reason: None,
    ) -> None:
        self.address = (host, port)
        self.subscriptions = subscriptions
        self.on_message = on_message
        self.on_connect = on_connect
        self.on_disconnect = on_disconnect
        self.keepalive_s = keepalive_s
        self._connect = connect_packet(
            client_id, username, password, clean_session=False, keepalive_s=keepalive_s, will=will
        )
        self._sock: socket.socket | None = None
        self._send_lock = threading.Lock()
        self._outgoing: list[bytes] = []  # PUBACKs and PUBLISHes for the current connection
        self._last_sent = 0.0
        self._packet_id = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = threading.Event()

    def __enter__(self) -> Subscriber:
        self._thread = threading.Thread(target=self._run, name="mqtt-subscriber", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- called from any thread ---

    def ack(self, packet_id: int) -> None:
        """Queue the PUBACK of a QoS 1 message of the current connection (written by :meth:`flush`)."""
        with self._send_lock:
            self._outgoing.append(puback_packet(packet_id))

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Queue a QoS 1 PUBLISH (written by :meth:`flush`; dropped if the connection ends first)."""
        with self._send_lock:
            self._packet_id = self._packet_id % MAX_PACKET_ID + 1
            self._outgoing.append(publish_packet(topic, payload, self._packet_id, retain=retain))

    def flush(self) -> None:
        """Write what is queued, in one ``sendall``."""
        with self._send_lock:
            if not self._outgoing or self._sock is None:
                return
            data = b"".join(self._outgoing)
            self._outgoing.clear()
            try:
                self._sock.sendall(data)
                self._last_sent = time.monotonic()
            except OSError as exc:  # the reader sees the connection end and reconnects
                log.warning("MQTT send failed (%s)", exc)

    def stop(self) -> None:
        """Write what is queued, DISCONNECT (so the will is not sent) and stop."""
        self._stop.set()
        self.flush()
        with self._send_lock:
            if self._sock is not None:
                try:
                    self._sock.sendall(DISCONNECT)
                    self._sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        if self._thread is not None:
            self._thread.join(timeout=5)

    # --- the reader thread ---

    def _run(self) -> None:
        delay = 0.2
        while not self._stop.is_set():
            try:
                sock = self._open()
            except (OSError, ConnectionRefused) as exc:
                log.warning("cannot connect to MQTT %s:%s (%s); retrying in %.1f s", *self.address, exc, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, 5.0)
                continue
            delay = 0.2
            reason = "closed by the broker"
            try:
                self._read(sock)
            except (OSError, ValueError) as exc:
                reason = str(exc)
            finally:
                with self._send_lock:
                    self._sock = None
                sock.close()
                self.connected.clear()
            if self._stop.is_set():
                return
            self.on_disconnect(reason)
            with self._send_lock:
                self._outgoing.clear()  # PUBACKs of the old connection must never reach the next

    def _open(self) -> socket.socket:
        sock = open_session(self.address, self._connect)
        sock.settimeout(1.0)
        sock.sendall(subscribe_packet(self.subscriptions, 1))
        with self._send_lock:
            self._sock = sock
            self._last_sent = time.monotonic()
        self.connected.set()
        self.on_connect()
        return sock

    def _read(self, sock: socket.socket) -> None:
        pending = b""
        heard = time.monotonic()
        while not self._stop.is_set():
            try:
                chunk = sock.recv(1 << 20)
            except TimeoutError:
                chunk = None
            now = time.monotonic()
            if chunk == b"":
                return
            if chunk is None:
                if now - heard > 1.5 * self.keepalive_s:
                    raise TimeoutError(f"nothing from the broker for {now - heard:.0f} s")
            else:
                heard = now
                data = pending + chunk if pending else chunk
                at = 0
                while (bounds := packet_bounds(data, at)) is not None:
                    body, end = bounds
                    if data[at] & 0xF0 == PUBLISH:
                        message = read_publish(data, at, body, end)
                        try:
                            self.on_message(message)
                        except Exception:  # left unacknowledged: the broker re-sends it after a reconnect
                            log.exception("handling a message on %s failed", message.topic)
                    at = end
                pending = data[at:]
            if now - self._last_sent > self.keepalive_s / 2:
                with self._send_lock:
                    self._outgoing.append(PINGREQ)
                self.flush()
