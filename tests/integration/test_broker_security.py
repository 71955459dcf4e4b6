"""Who may do what on the MQTT broker, against a real Mosquitto configured by `minewatch
broker-config`: over TLS (a self-signed CA made with openssl) and in plain, accounts and the ACL
decide; anonymous clients, wrong passwords, strangers' certificates and a mine speaking for
another mine get nowhere."""

from __future__ import annotations

import contextlib
import os
import shutil
import ssl
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from minewatch.brokerconfig import BRIDGE_USER, DISPATCHER_USER, TlsListener, load_secrets, write_broker_config
from minewatch.services import MqttBroker, free_port, port_open, wait_until
from minewatch.topics import ROOT, telemetry_topic
from simulators.fleet import generate_fleet

pytestmark = pytest.mark.integration
REGISTRY = generate_fleet(2, seed=19)
MINE, OTHER = sorted(m.id for m in REGISTRY)


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(directory: Path, name: str) -> tuple[Path, Path]:
    """A self-signed CA: its certificate and key."""
    key, cert = directory / f"{name}.key", directory / f"{name}.crt"
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
            "-keyout", key.name, "-out", cert.name, cwd=directory)  # fmt: skip
    return cert, key


def make_server_cert(directory: Path, ca: tuple[Path, Path]) -> tuple[Path, Path]:
    """The broker's certificate for 127.0.0.1 and localhost, signed by ``ca``."""
    key, csr, cert, ext = (directory / n for n in ("server.key", "server.csr", "server.crt", "server.ext"))
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", key.name, "-out", csr.name,
            cwd=directory)  # fmt: skip
    openssl("x509", "-req", "-in", csr.name, "-CA", str(ca[0]), "-CAkey", str(ca[1]), "-CAcreateserial",
            "-days", "2", "-extfile", ext.name, "-out", cert.name, cwd=directory)  # fmt: skip
    return cert, key


@dataclass
class SecureBroker:
    port: int
    tls_port: int
    ca: Path
    stranger_ca: Path
    secrets: dict[str, str]


@pytest.fixture(scope="module")
def broker() -> Iterator[SecureBroker]:
    run_dir = Path(tempfile.mkdtemp(prefix="minewatch-tls-"))
    run_dir.chmod(0o755)
    certs = run_dir / "certs"
    certs.mkdir()
    ca = make_ca(certs, "minewatch-test-ca")
    stranger = make_ca(certs, "stranger-ca")
    server = make_server_cert(certs, ca)
    for path in (certs, *certs.iterdir()):  # Mosquitto drops to its own user: let it read them
        path.chmod(0o755 if path.is_dir() else 0o644)
    port, tls_port = free_port(), free_port()
    tls = TlsListener(tls_port, ca[0], server[0], server[1], host="127.0.0.1")
    files = write_broker_config(REGISTRY, run_dir / "mosquitto", port=port, tls=tls, persistence=False)
    assert f"listener {tls_port} 127.0.0.1" in files.conf.read_text()
    try:
        with MqttBroker(run_dir, files.conf, port) as running:
            assert running.kind == "mosquitto"
            wait_until(lambda: port_open("127.0.0.1", tls_port), 10, "the TLS listener")
            yield SecureBroker(port, tls_port, ca[0], stranger[0], load_secrets(files.secrets_file))
    finally:
        if not os.environ.get("MINEWATCH_KEEP_TEST_RUN"):
            shutil.rmtree(run_dir, ignore_errors=True)


class Client:
    """A paho client that records its CONNACK and what it receives."""

    def __init__(self, port: int, username: str | None, password: str | None, ca: Path | None = None) -> None:
        self.received: list[tuple[str, bytes]] = []
        self.connack: mqtt.ReasonCode | None = None
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:8]}")
        if username:
            self.client.username_pw_set(username, password)
        if ca is not None:
            self.client.tls_set(ca_certs=str(ca), tls_version=ssl.PROTOCOL_TLS_CLIENT)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.on_message = lambda c, u, m: self.received.append((m.topic, m.payload))
        self.client.connect("127.0.0.1", port, keepalive=10)
        self.client.loop_start()

    def _on_connect(
        self, client: mqtt.Client, userdata: object, flags: object, reason: mqtt.ReasonCode, props: object
    ) -> None:
        self.connack = reason
        self.connected.set()

    def accepted(self) -> bool:
        assert self.connected.wait(10), "no CONNACK"
        return not self.connack.is_failure  # type: ignore[union-attr]

    def subscribe(self, topic: str) -> None:
        self.client.subscribe(topic, qos=1)
        assert self.subscribed.wait(10)

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def wait_for(client: Client, payload: bytes) -> None:
    wait_until(lambda: any(p == payload for _, p in client.received), 10, f"{payload!r} to arrive")


def test_over_tls_a_mine_publishes_as_itself_and_never_as_another_mine(broker: SecureBroker) -> None:
    bridge = Client(broker.tls_port, BRIDGE_USER, broker.secrets[BRIDGE_USER], broker.ca)
    forger = Client(broker.tls_port, MINE, broker.secrets[MINE], broker.ca)
    mine = None
    try:
        assert bridge.accepted() and forger.accepted()
        bridge.subscribe(f"{ROOT}/mines/+/telemetry/#")
        forged, own = b"forged:" + uuid.uuid4().bytes, b"own:" + uuid.uuid4().bytes
        with contextlib.suppress(RuntimeError):  # Mosquitto may also close a connection the ACL refused
            forger.publish(telemetry_topic(OTHER, "wastewater", "WW01"), forged)
        mine = Client(broker.tls_port, MINE, broker.secrets[MINE], broker.ca)
        assert mine.accepted()
        mine.publish(telemetry_topic(MINE, "wastewater", "WW01"), own)
        wait_for(bridge, own)  # published after the forged one, so the forged one would be here by now
        assert [p for _, p in bridge.received] == [own]
    finally:
        for client in (bridge, forger, mine):
            if client is not None:
                client.close()


def test_a_mine_reads_only_its_own_alerts(broker: SecureBroker) -> None:
    dispatcher = Client(broker.port, DISPATCHER_USER, broker.secrets[DISPATCHER_USER])
    mine = Client(broker.tls_port, MINE, broker.secrets[MINE], broker.ca)
    try:
        assert dispatcher.accepted() and mine.accepted()
        mine.subscribe(f"{ROOT}/mines/+/alerts")
        theirs, ours = b"theirs:" + uuid.uuid4().bytes, b"ours:" + uuid.uuid4().bytes
        dispatcher.publish(f"{ROOT}/mines/{OTHER}/alerts", theirs)
        dispatcher.publish(f"{ROOT}/mines/{MINE}/alerts", ours)
        wait_for(mine, ours)
        assert [p for _, p in mine.received] == [ours]
    finally:
        dispatcher.close()
        mine.close()


@pytest.mark.parametrize("who", ["anonymous", "wrong password", "another mine's password"])
def test_the_broker_refuses_clients_without_the_right_password(broker: SecureBroker, who: str) -> None:
    username, password = {
        "anonymous": (None, None),
        "wrong password": (MINE, "guess"),
        "another mine's password": (MINE, broker.secrets[OTHER]),
    }[who]
    for port, ca in ((broker.tls_port, broker.ca), (broker.port, None)):
        client = Client(port, username, password, ca)
        try:
            assert not client.accepted(), f"{who} was let in on port {port}"
        finally:
            client.close()


def test_a_client_that_does_not_trust_the_ca_or_speaks_plain_mqtt_gets_no_session(broker: SecureBroker) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        Client(broker.tls_port, MINE, broker.secrets[MINE], broker.stranger_ca)
    plain = Client(broker.tls_port, MINE, broker.secrets[MINE])  # no TLS on the TLS port
    try:
        assert not plain.connected.wait(3), "a plain MQTT client got a CONNACK from the TLS listener"
    finally:
        plain.close()
