"""The bridge's lean MQTT client against a real Mosquitto: a persistent session re-delivers what was
not acknowledged, an acknowledgement never crosses to the next connection, the will is sent only
when the connection dies, and keep-alive holds an idle connection."""

from __future__ import annotations

import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.loadclient import QoS1Publisher
from ingest.mqttwire import Publish
from ingest.subscriber import Subscriber
from minewatch.services import MqttBroker, free_port
from tests.conftest import eventually

pytestmark = pytest.mark.integration


@pytest.fixture
def broker() -> Iterator[MqttBroker]:
    run_dir = Path(tempfile.mkdtemp(prefix="minewatch-subscriber-"))
    run_dir.chmod(0o777)  # Mosquitto drops to its own user and keeps its session store here
    port = free_port()
    conf = run_dir / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location {run_dir}/\n"
    )
    with MqttBroker(run_dir, conf, port) as mqtt:
        assert mqtt.kind == "mosquitto"
        yield mqtt


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Publish] = []
        self.disconnects: list[str] = []
        self.lock = threading.Lock()

    def on_message(self, message: Publish) -> None:
        with self.lock:
            self.messages.append(message)

    def payloads(self) -> list[bytes]:
        with self.lock:
            return [m.payload for m in self.messages]


def publish(port: int, *payloads: bytes, topic: str = "t/1") -> None:
    with QoS1Publisher("127.0.0.1", port, f"pub-{time.monotonic_ns()}") as publisher:
        for payload in payloads:
            publisher.publish(topic, payload)
        assert publisher.wait_for_acknowledgements(10)


def test_what_was_not_acknowledged_comes_again_and_a_late_ack_never_reaches_the_next_connection(broker):
    inbox = Inbox()
    late: list[int] = []
    subscriber: Subscriber

    def on_disconnect(reason: str) -> None:
        inbox.disconnects.append(reason)
        for packet_id in late:  # a Kafka delivery report arriving as the connection ends
            subscriber.ack(packet_id)

    subscriber = Subscriber("127.0.0.1", broker.port, "bridge-test", [("t/#", 1)], inbox.on_message,
                            on_disconnect=on_disconnect)  # fmt: skip
    with subscriber:
        eventually(subscriber.connected.is_set, 10, what="connected")
        publish(broker.port, b"a", b"b", b"c")
        eventually(lambda: inbox.payloads() == [b"a", b"b", b"c"], 10, what="three messages")
        first, second, _ = inbox.messages
        assert (first.qos, first.retain) == (1, False)
        subscriber.ack(first.packet_id)
        subscriber.flush()
        late.append(second.packet_id)
        time.sleep(0.3)  # the PUBACK of "a" reaches the broker
        broker.restart()  # every connection ends; the session store keeps the subscriber's session
        eventually(lambda: inbox.payloads()[3:] == [b"b", b"c"], 20, what="b and c delivered again")
        assert len(inbox.disconnects) == 1
        again_c = inbox.messages[4]
        subscriber.ack(again_c.packet_id)  # "b" stays unacknowledged on this connection
        subscriber.flush()
        time.sleep(0.3)
        broker.restart()
        eventually(lambda: inbox.payloads()[5:] == [b"b"], 20, what="b delivered a third time")
        subscriber.ack(inbox.messages[5].packet_id)
        subscriber.flush()
        publish(broker.port, b"d")
        eventually(lambda: inbox.payloads()[6:] == [b"d"], 10, what="the new message")
        time.sleep(0.5)
        assert inbox.payloads() == [b"a", b"b", b"c", b"b", b"c", b"b", b"d"]


def test_the_will_is_sent_when_the_connection_dies_and_not_when_the_client_stops(broker):
    watcher = Inbox()
    with Subscriber("127.0.0.1", broker.port, "watcher", [("flow", 1)], watcher.on_message) as observer:
        eventually(observer.connected.is_set, 10, what="watcher connected")
        will = Publish("flow", b"go", qos=1, packet_id=0, retain=True)
        dying = Subscriber("127.0.0.1", broker.port, "bridge-will", [("t/#", 1)], lambda m: None, will=will)
        with dying:
            eventually(dying.connected.is_set, 10, what="connected")
            sock = dying._sock  # the network fails under the client
            assert sock is not None
            sock.shutdown(socket.SHUT_RDWR)
            eventually(lambda: watcher.payloads() == [b"go"], 10, what="the will")
            eventually(dying.connected.is_set, 10, what="reconnected")
        time.sleep(0.5)  # stopped with DISCONNECT: no second will
        assert watcher.payloads() == [b"go"]


def test_keep_alive_holds_an_idle_connection(broker):
    inbox = Inbox()
    with Subscriber("127.0.0.1", broker.port, "idle", [("t/#", 1)], inbox.on_message, keepalive_s=1,
                    on_disconnect=inbox.disconnects.append) as subscriber:  # fmt: skip
        eventually(subscriber.connected.is_set, 10, what="connected")
        time.sleep(3.5)  # Mosquitto drops a client silent for 1.5 keep-alives
        assert inbox.disconnects == []
        publish(broker.port, b"x")
        eventually(lambda: inbox.payloads() == [b"x"], 10, what="still delivering")
