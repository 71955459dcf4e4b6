"""Flow control on the real services: the bridge reads the broker's backlog from Mosquitto's
$SYS tree and the workers' lag from Kafka, tells publishers to pause on the retained flow topic,
and a publisher that honours it holds its message until go, then delivers it."""

from __future__ import annotations

import threading
import time

import orjson
import paho.mqtt.client as mqtt
import psycopg
import pytest

from benchmarks.loadclient import QoS1Publisher
from ingest.bridge import Bridge
from ingest.flow import FlowControl
from minewatch.brokerconfig import BRIDGE_USER, SIMULATOR_USER
from minewatch.registry import Registry
from minewatch.settings import Settings
from minewatch.stack import MinewatchProcesses, Services
from minewatch.topics import FLOW_TOPIC, telemetry_topic
from simulators.telemetry import beijing_iso, telemetry_payload
from tests.conftest import eventually

pytestmark = pytest.mark.integration


def test_publishers_pause_while_the_backlog_is_high_and_their_data_arrive_after_go(
    services: Services, pipeline: MinewatchProcesses, db: psycopg.Connection
) -> None:
    bridge = Bridge(
        Settings.from_env(services.env(BRIDGE_USER, MINEWATCH_INSTANCE="flow-test")),
        Registry.load(services.registry_path),
    )
    stop = threading.Event()
    running = threading.Thread(target=bridge.run, args=(stop,), daemon=True)
    running.start()
    try:
        eventually(
            lambda: bridge._broker_messages is not None and bridge._kafka_records is not None,
            timeout=20,
            what="the bridge reads the broker's $SYS store count and the workers' Kafka lag",
        )
        sim = services.mqtt_endpoint(SIMULATOR_USER)
        with QoS1Publisher(
            sim.host, sim.port, "flow-test-load", sim.username, sim.password, flow_topic=FLOW_TOPIC
        ) as pub:
            # A high mark the broker's retained messages alone pass: the backlog is "too high".
            bridge.flow = FlowControl(high_messages=1, low_messages=0)

            def told_to_pause() -> bool:
                pub.read_acknowledgements(timeout=0.1)
                return pub.flow.paused(time.time())

            eventually(told_to_pause, timeout=10, what="the publisher told to pause")
            assert pub.flow.reason.startswith("MQTT broker holds ") and "Kafka holds " in pub.flow.reason

            marker = f"flow-{time.time_ns()}"
            cod = {"parameter": "w01018", "value": 42.0, "unit": "mg/L", "flag": "N"}
            mine = "GZ529999-0001"  # not registered: its message comes back as a dead letter we can find
            doc = telemetry_payload(mine, "WW01", "wastewater", beijing_iso(time.time()), [cod], f"m-{marker}")
            delivered = threading.Event()

            def publish() -> None:
                pub.publish(telemetry_topic(mine, "wastewater", "WW01"), orjson.dumps(doc))
                pub.wait_for_acknowledgements(10)
                delivered.set()

            sender = threading.Thread(target=publish, daemon=True)
            sender.start()
            assert not delivered.wait(1.5), "a paused publisher sent its message"
            assert pub.sent == 0

            # The backlog under every low mark again: go.
            relaxed = FlowControl()
            relaxed.state = "pause"
            bridge.flow = relaxed
            assert delivered.wait(15), "the publisher did not resume after go"
            sender.join(5)
            assert pub.acknowledged == 1 and pub.pauses == 1 and pub.paused_s >= 1.5

        def dead_lettered() -> bool:
            row = db.execute("SELECT reason_code FROM dead_letters WHERE payload LIKE %s", (f"%{marker}%",)).fetchone()
            return row is not None and row[0] == "unknown_mine"

        eventually(dead_lettered, timeout=30, what="the held message delivered and dead-lettered as unknown_mine")
    finally:
        stop.set()
        running.join(20)
        _end_session(services, "minewatch-bridge-flow-test")


def _end_session(services: Services, client_id: str) -> None:
    """Discard the persistent session of a bridge that is gone: Mosquitto would otherwise go on
    giving it its share of the shared subscription, and the rest of the suite would miss those."""
    endpoint = services.mqtt_endpoint(BRIDGE_USER)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
    client.username_pw_set(endpoint.username, endpoint.password)
    client.connect(endpoint.host, endpoint.port)
    client.loop_start()
    try:
        eventually(client.is_connected, timeout=10, what="the session discarded")
    finally:
        client.disconnect()
        client.loop_stop()
