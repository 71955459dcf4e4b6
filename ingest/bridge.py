"""The ingest bridge: MQTT in, Kafka out, an MQTT message acknowledged only once Kafka has it.

Thin shell around :class:`ingest.validation.Gatekeeper`:

* subscribes with shared subscriptions (``$share/minewatch-bridge/...``, MQTT 3.1.1) so several
  bridges split the load, with a persistent session so unacknowledged messages survive a
  bridge restart;
* acknowledges manually: the PUBACK for a message is sent from the Kafka delivery report of
  the record that carries it (or of its dead-letter record), never before — at-least-once;
* groups the accepted telemetry that arrives within ``linger_s`` for one Kafka partition into
  one record on that partition (a mine's partition is :func:`minewatch.records.partition_of`);
* sends every rejected message to the dead-letter topic with its reason, counts it, and goes on;
* steers the publishers (:mod:`ingest.flow`): from the broker's backlog (``$SYS``) and the
  workers' Kafka lag it publishes a retained pause/go signal, so overload slows the publishers
  instead of overflowing the broker's queue, which Mosquitto would drop silently.

Acknowledgements are tied to the MQTT connection they belong to: after a reconnect, the broker
re-delivers what was not acknowledged, and stale acknowledgements are dropped so they can never
acknowledge a different message that reuses the packet id.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from prometheus_client import Counter, Gauge

from ingest.flow import Backlog, FlowControl, FlowSignal
from ingest.mqttwire import Publish
from ingest.subscriber import Subscriber
from ingest.validation import Accepted, Gatekeeper, Rejected
from minewatch.kafka import GroupLag
from minewatch.records import dead_letter, partition_of, telemetry_batch
from minewatch.registry import Registry
from minewatch.settings import BRIDGE_LINGER_S, Settings
from minewatch.topics import BROKER_STORE_TOPIC, FLOW_TOPIC, KafkaTopics, bridge_subscriptions, parse_topic

log = logging.getLogger("minewatch.bridge")

RECEIVED = Counter("minewatch_bridge_messages_received_total", "MQTT messages received", ["channel"])
REJECTED = Counter("minewatch_bridge_messages_rejected_total", "MQTT messages dead-lettered", ["reason"])
READINGS_ACCEPTED = Counter("minewatch_bridge_readings_accepted_total", "Readings accepted and sent to Kafka")
KAFKA_RETRIES = Counter("minewatch_bridge_kafka_retries_total", "Kafka records re-sent after a failed delivery")
UNACKNOWLEDGED = Gauge(
    "minewatch_bridge_messages_unacknowledged",
    "MQTT messages received and not yet acknowledged (Kafka does not have them yet); the broker "
    "sends no more than its max_inflight_messages, which bounds the bridge's memory",
)
BROKER_BACKLOG = Gauge("minewatch_bridge_broker_backlog_messages", "Messages the MQTT broker holds ($SYS store count)")
KAFKA_BACKLOG = Gauge(
    "minewatch_bridge_kafka_backlog_records", "Telemetry records in Kafka the workers have not committed"
)
FLOW_PAUSED = Gauge("minewatch_flow_paused", "1 while the bridge tells publishers to pause (ingest/flow.py)")
FLOW_PAUSES = Counter("minewatch_flow_pauses_total", "Times the bridge told publishers to pause")

_received = functools.cache(RECEIVED.labels)  # one labelled child per channel, not a lookup per message
_KAFKA_TOPIC = {"telemetry": KafkaTopics.TELEMETRY, "status": KafkaTopics.STATUS}


@dataclass
class _Pending:
    payloads: list[bytes] = field(default_factory=list)
    acks: list[int] = field(default_factory=list)
    readings: int = 0
    first_at: float = 0.0


@dataclass
class BridgeStats:
    received: int = 0
    accepted: int = 0
    rejected: int = 0
    readings: int = 0
    acked: int = 0


class Bridge:
    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        *,
        linger_s: float = BRIDGE_LINGER_S,
        max_batch_messages: int = 500,
        clock: Callable[[], float] = time.time,
        flow: FlowControl | None = None,
    ) -> None:
        self.settings = settings
        self.flow = flow or FlowControl.sized_for(settings)
        self._broker_messages: int | None = None
        self._kafka_records: int | None = None
        self.gate = Gatekeeper(registry)
        self.linger_s = linger_s
        self.max_batch_messages = max_batch_messages
        self.clock = clock
        self.stats = BridgeStats()
        self._lock = threading.RLock()  # delivery reports can fire inside produce() while it is held
        self._pending: dict[tuple[str, int], _Pending] = {}  # (channel, partition)
        self._retry: list[tuple[str, bytes | None, bytes, list[int], int, int]] = []
        self._partition_counts: dict[str, int] = {}
        self._mine_partitions: dict[tuple[str, str], int] = {}
        self._generation = 0  # MQTT connection generation: acks of older connections are void
        self._unacknowledged = 0  # exported as UNACKNOWLEDGED by the flush loop, not per message
        self.producer = Producer(
            {
                "bootstrap.servers": settings.kafka_bootstrap,
                "client.id": f"minewatch-bridge-{settings.instance}",
                "acks": "all",
                "linger.ms": 5,
                "batch.num.messages": 10000,
                "queue.buffering.max.messages": 200000,
                "message.timeout.ms": 30000,
                "compression.type": "lz4",
            }
        )
        # a bridge that dies must not leave the province paused (a pause also expires by itself)
        will = Publish(FLOW_TOPIC, FlowSignal("go", "the bridge went away").encode(), qos=1, packet_id=0, retain=True)
        self.client = Subscriber(
            settings.mqtt.host,
            settings.mqtt.port,
            f"minewatch-bridge-{settings.instance}",
            [(topic, 1) for topic in bridge_subscriptions()] + [(BROKER_STORE_TOPIC, 0)],
            self._on_message,
            username=settings.mqtt.username,
            password=settings.mqtt.password,
            will=will,
            on_connect=self._on_connect,
            on_disconnect=self._on_disconnect,
        )

    # --- MQTT side (the subscriber's reader thread) ---

    def _on_connect(self) -> None:
        log.info("connected to MQTT %s:%s", self.settings.mqtt.host, self.settings.mqtt.port)

    def _on_disconnect(self, reason: str) -> None:
        with self._lock:
            self._generation += 1
            self._pending.clear()  # never produced: the broker re-delivers them
            self._unacknowledged = 0
        log.warning("MQTT disconnected (%s); unacknowledged messages will be re-delivered", reason)

    def _on_message(self, msg: Publish) -> None:
        if msg.topic == BROKER_STORE_TOPIC:
            self._broker_messages = int(msg.payload) if msg.payload.isdigit() else None
            return
        now = self.clock()
        verdict = self.gate.check(msg.topic, msg.payload, now=now)
        address = verdict.address if isinstance(verdict, Accepted) else parse_topic(msg.topic)
        _received(address.channel if address else "unknown").inc()
        ack = msg.packet_id
        with self._lock:
            self.stats.received += 1
            if ack:
                self._unacknowledged += 1
            generation = self._generation
            if isinstance(verdict, Rejected):
                self.stats.rejected += 1
                REJECTED.labels(verdict.code).inc()
                record = dead_letter("mqtt", msg.topic, msg.payload, verdict.code, verdict.reason, verdict.mine_id, now)
                self._produce(KafkaTopics.DEAD_LETTER, (verdict.mine_id or "").encode(), record, [ack], generation)
                return
            assert isinstance(verdict, Accepted)
            channel = verdict.address.channel
            self.stats.accepted += 1
            if channel == "reports":  # one record each, as published: its hash must be of these bytes
                self._produce(KafkaTopics.REPORTS, verdict.address.mine_id.encode(), msg.payload, [ack], generation)
                return
            key = (channel, self._partition_of(channel, verdict.address.mine_id))
            pending = self._pending.get(key)
            if pending is None:
                pending = self._pending[key] = _Pending(first_at=now)
            pending.payloads.append(msg.payload)
            pending.acks.append(ack)
            pending.readings += verdict.reading_count
            if len(pending.payloads) >= self.max_batch_messages:
                self._flush_one(key, generation)

    # --- Kafka side ---

    def _partition_of(self, channel: str, mine_id: str) -> int:
        """The Kafka partition of a registered mine's records on a channel (asked per message, so
        remembered; only accepted messages, of registered mines, come here)."""
        key = (channel, mine_id)
        partition = self._mine_partitions.get(key)
        if partition is None:
            partition = self._mine_partitions[key] = partition_of(mine_id, self._partitions(_KAFKA_TOPIC[channel]))
        return partition

    def _partitions(self, topic: str) -> int:
        """The topic's partition count, asked of Kafka once."""
        count = self._partition_counts.get(topic)
        if count is None:
            while True:
                try:
                    count = len(self.producer.list_topics(topic, timeout=10).topics[topic].partitions)
                    break
                except KafkaException as exc:
                    log.warning("cannot read the partitions of %s yet (%s); retrying", topic, exc)
                    time.sleep(1.0)
            self._partition_counts[topic] = count
        return count

    def _produce(
        self, topic: str, key: bytes | None, value: bytes, acks: list[int], generation: int, partition: int = -1
    ) -> None:
        def delivered(err: KafkaError | None, msg: Message) -> None:
            if err is not None:
                KAFKA_RETRIES.inc()
                log.warning("Kafka delivery to %s failed (%s); will retry", topic, err)
                with self._lock:
                    self._retry.append((topic, key, value, acks, generation, partition))
                return
            self._acknowledge(acks, generation)

        while True:
            try:
                self.producer.produce(topic, value, key=key, partition=partition, on_delivery=delivered)
                return
            except BufferError:  # librdkafka's queue is full: serve delivery reports, then retry
                self.producer.poll(0.05)

    def _acknowledge(self, acks: list[int], generation: int) -> None:
        with self._lock:
            if generation != self._generation:
                return  # that connection is gone; the broker re-delivers these messages
            for mid in acks:
                if mid:
                    self.client.ack(mid)
                    self._unacknowledged -= 1
            self.stats.acked += len(acks)

    def _flush_one(self, key: tuple[str, int], generation: int) -> None:
        pending = self._pending.pop(key)
        channel, partition = key
        record = telemetry_batch(pending.first_at, pending.payloads)
        self._produce(_KAFKA_TOPIC[channel], None, record, pending.acks, generation, partition)
        self.stats.readings += pending.readings
        READINGS_ACCEPTED.inc(pending.readings)

    def flush(self, everything: bool = False) -> None:
        """Produce the batches whose linger time is over (or all of them)."""
        now = self.clock()
        with self._lock:
            due = [k for k, p in self._pending.items() if everything or now - p.first_at >= self.linger_s]
            for key in due:
                self._flush_one(key, self._generation)
            retry, self._retry = self._retry, []
            UNACKNOWLEDGED.set(self._unacknowledged)
        for topic, key, value, acks, generation, partition in retry:
            self._produce(topic, key, value, acks, generation, partition)

    # --- flow control ---

    def steer_flow(self) -> FlowSignal | None:
        """Publish what flow control says now: pause or go when the backlog crosses a mark, and a
        pause again while it lasts."""
        backlog = Backlog(self._broker_messages, self._kafka_records)
        BROKER_BACKLOG.set(backlog.broker_messages or 0)
        KAFKA_BACKLOG.set(backlog.kafka_records or 0)
        was = self.flow.state
        signal = self.flow.update(backlog, self.clock())
        if signal is None:
            return None
        if signal.state == "pause" and was == "go":
            FLOW_PAUSES.inc()
            log.warning("telling publishers to pause: %s", signal.reason)
        elif signal.state == "go":
            log.info("telling publishers to go on: %s", signal.reason)
        FLOW_PAUSED.set(1 if signal.state == "pause" else 0)
        self.client.publish(FLOW_TOPIC, signal.encode(), retain=True)
        return signal

    def _watch_kafka_lag(self, stop: threading.Event) -> None:
        with GroupLag(self.settings.kafka_bootstrap, KafkaTopics.WORKER_GROUP, KafkaTopics.TELEMETRY) as lag:
            while not stop.wait(1.0):
                try:
                    self._kafka_records = lag.records()
                except KafkaException as exc:
                    self._kafka_records = None
                    log.warning("cannot read the workers' Kafka lag (%s)", exc)

    # --- lifetime ---

    def run(self, stop: threading.Event) -> None:
        """Bridge until ``stop`` is set, then hand over everything received to Kafka and disconnect."""
        lag_watch = threading.Thread(target=self._watch_kafka_lag, args=(stop,), name="kafka-lag", daemon=True)
        lag_watch.start()
        steered_at = 0.0
        with self.client:
            while not stop.wait(self.linger_s / 2):
                self.flush()
                self.producer.poll(0)
                if time.monotonic() - steered_at >= 0.5 and self.client.connected.is_set():
                    self.steer_flow()
                    steered_at = time.monotonic()
                self.client.flush()
            if self.flow.state == "pause":
                self.client.publish(FLOW_TOPIC, FlowSignal("go", "the bridge stopped").encode(), retain=True)
            self.flush(everything=True)
            self.producer.flush(10)
            self.producer.poll(0)
            self.client.flush()
