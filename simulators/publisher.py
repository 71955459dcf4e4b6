"""Publish simulated telemetry over MQTT (QoS 1) and count what the broker acknowledged.

The publisher obeys minewatch's flow control (:mod:`ingest.flow`) as a mine's data logger
should: while the retained signal on :data:`minewatch.topics.FLOW_TOPIC` says pause, ``publish``
holds on to its message and waits for go.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import orjson
import paho.mqtt.client as mqtt

from ingest.flow import FlowSignal
from minewatch.settings import MqttEndpoint
from minewatch.topics import FLOW_TOPIC
from simulators.telemetry import TelemetrySimulator


class Publisher:
    """A paho client that counts messages and readings once the broker has PUBACKed them."""

    def __init__(
        self,
        endpoint: MqttEndpoint,
        client_id: str = "minewatch-simulator",
        max_inflight: int = 1000,
        max_outstanding: int = 20_000,
    ) -> None:
        self.endpoint = endpoint
        self.published_messages = 0
        self.published_readings = 0
        self.sent_messages = 0
        self._in_flight: dict[int, int] = {}
        self._early_acks: set[int] = set()
        # Never held while calling paho: paho calls back under its own locks.
        self._lock = threading.Condition()
        # Bounded so paho's queue stays small and packet ids (16 bit) are never reused while in flight.
        self.max_outstanding = max_outstanding
        self.connected = threading.Event()
        self.flow = FlowSignal("go", "no signal yet")
        self.paused_s = 0.0  # time publish() waited for minewatch's go
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311)
        if endpoint.username:
            self.client.username_pw_set(endpoint.username, endpoint.password)
        self.client.max_inflight_messages_set(max_inflight)
        self.client.on_publish = self._on_publish
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_flow

    def __enter__(self) -> Publisher:
        self.client.connect(self.endpoint.host, self.endpoint.port, keepalive=30)
        self.client.loop_start()
        if not self.connected.wait(10):
            raise ConnectionError(f"MQTT broker {self.endpoint.host}:{self.endpoint.port} did not accept the simulator")
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client: mqtt.Client, *args: object) -> None:
        client.subscribe(FLOW_TOPIC, qos=0)
        self.connected.set()

    def _on_flow(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        self.flow = FlowSignal.decode(msg.payload)

    def _on_publish(self, client: mqtt.Client, userdata: object, mid: int, reason: object, props: object) -> None:
        with self._lock:
            readings = self._in_flight.pop(mid, None)
            if readings is None:
                self._early_acks.add(mid)  # acknowledged before publish() recorded it
            else:
                self._count(readings)
            self._lock.notify_all()

    def _count(self, readings: int) -> None:
        self.published_messages += 1
        self.published_readings += readings

    def publish(self, topic: str, payload: bytes, readings: int) -> None:
        """Publish QoS 1; blocks while minewatch says pause, and while ``max_outstanding`` messages
        await the broker's PUBACK."""
        if self.flow.paused(time.time()):
            began = time.monotonic()
            while self.flow.paused(time.time()):
                time.sleep(0.05)
            self.paused_s += time.monotonic() - began
        with self._lock:
            self._lock.wait_for(lambda: len(self._in_flight) < self.max_outstanding, timeout=30)
        info = self.client.publish(topic, payload, qos=1)
        with self._lock:
            self.sent_messages += 1
            if info.mid in self._early_acks:
                self._early_acks.discard(info.mid)
                self._count(readings)
            else:
                self._in_flight[info.mid] = readings

    def in_flight(self) -> int:
        with self._lock:
            return len(self._in_flight)

    def wait_acked(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.in_flight() == 0:
                return True
            time.sleep(0.05)
        return self.in_flight() == 0


def run_simulation(
    simulator: TelemetrySimulator,
    publisher: Publisher,
    *,
    interval_s: float,
    duration_s: float,
    stop: threading.Event,
    event_start: float | None = None,
    event_step_s: float | None = None,
    clock: Callable[[], float] = time.time,
) -> None:
    """Publish one sample of every station each ``interval_s`` (real time) until ``duration_s`` or ``stop``.

    Sample times (event time) start at ``event_start`` (default: now) and advance ``event_step_s``
    per tick (default: ``interval_s``, real time). A larger step replays hours in minutes: the
    pipeline judges windows by event time, so an hour of minute data published in a minute is
    judged as that hour.
    """
    start = clock()
    event_start = start if event_start is None else event_start
    event_step_s = interval_s if event_step_s is None else event_step_s
    tick = 0
    while not stop.is_set():
        t = start + tick * interval_s
        if t - start >= duration_s:
            break
        delay = t - clock()
        if delay > 0 and stop.wait(delay):
            break
        for message in simulator.messages(event_start + tick * event_step_s):
            publisher.publish(message.topic, orjson.dumps(message.payload), message.reading_count)
        tick += 1
