"""Delivery on real services: webhooks that fail and recover, signatures, Alertmanager's format,
MQTT jurisdiction topics, deliveries that give up visibly, and a dispatcher killed mid-delivery."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
import pytest
import yaml

from alerts.dispatcher import Dispatcher, DispatchPolicy
from alerts.model import AlertCandidate, Category
from alerts.receiver import WebhookReceiver
from alerts.routing import RoutingConfig
from alerts.signing import SIGNATURE, TIMESTAMP
from alerts.store import AlertStore
from minewatch.brokerconfig import DISPATCHER_USER, PLATFORM_USER
from minewatch.paths import DATA
from minewatch.stack import Services, minewatch_command
from tests.conftest import eventually

SECRET_ENV = "MW_TEST_BUREAU_SECRET"
SECRET = uuid.uuid4().hex


def routing_doc(webhooks: dict[str, list[dict]]) -> dict:
    doc = yaml.safe_load((DATA / "routing.yaml").read_text(encoding="utf-8"))
    doc["grouping"] = {"group_wait": "0s", "group_interval": "1s", "repeat_interval": "4h"}
    doc["webhooks"] = webhooks
    return doc


def raise_alerts(url: str, routing: RoutingConfig, mines: list[str], severity: str = "yellow") -> list[int]:
    async def run() -> list[int]:
        ids = []
        async with await psycopg.AsyncConnection.connect(url) as conn:
            for mine in mines:
                async with conn.transaction():
                    raised = await AlertStore(conn, routing).raise_alert(
                        AlertCandidate(
                            fingerprint=f"fp-{mine}",
                            category=Category.EMISSION_EXCEEDANCE,
                            severity=severity,
                            mine_id=mine,
                            station_id="WW01",
                            region_code="520200",
                            county_code="520201",
                            title=f"{mine} WW01: COD over its limit (daily mean)",
                            summary="COD daily mean 210 mg/L against ≤ 100 mg/L (GB 8978-1996)",
                            details={},
                            occurred_at=datetime.now(UTC).isoformat(),
                            event_id=f"e-{uuid.uuid4().hex}",
                        )
                    )
                    ids.append(raised.alert_id)
        return ids

    return asyncio.run(run())


@pytest.fixture
def secret_in_env() -> Iterator[None]:
    os.environ[SECRET_ENV] = SECRET
    yield
    os.environ.pop(SECRET_ENV, None)


class Listener:
    def __init__(self, services: Services) -> None:
        endpoint = services.mqtt_endpoint(PLATFORM_USER)
        self.messages: list[tuple[str, dict]] = []
        ready = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bureau-{uuid.uuid4().hex[:6]}")
        self.client.username_pw_set(endpoint.username, endpoint.password)
        self.client.on_connect = lambda c, *a: c.subscribe("minewatch/v1/alerts/#", 1)
        self.client.on_subscribe = lambda *a: ready.set()
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, json.loads(m.payload)))
        self.client.connect(endpoint.host, endpoint.port)
        self.client.loop_start()
        assert ready.wait(10)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_a_failing_receiver_then_recovering_gets_everything_once_signed(
    services: Services, fresh_db: str, secret_in_env: None
) -> None:
    with WebhookReceiver() as down:
        unreachable = down.url  # nobody listens there any more
    with WebhookReceiver(secret=SECRET) as bureau, WebhookReceiver(secret="not-the-secret") as impostor:
        routing = RoutingConfig.from_dict(
            routing_doc(
                {
                    "county:520201:ecology_environment": [
                        {"url": bureau.url, "format": "alertmanager", "secret_env": SECRET_ENV},
                        {"url": impostor.url, "format": "minewatch", "secret_env": SECRET_ENV},
                    ],
                    "platform": [{"url": unreachable, "format": "minewatch"}],
                }
            )
        )
        bureau.refuse(3)  # the county bureau's receiver is down for its first three requests
        mines = [f"GZ520201-{i:04d}" for i in range(1, 6)]
        listener = Listener(services)
        stop = threading.Event()
        dispatcher = Dispatcher(
            fresh_db, services.mqtt_endpoint(DISPATCHER_USER), routing, DispatchPolicy(max_age_s=3.0, tick_s=0.2)
        )
        thread = threading.Thread(target=dispatcher.run, args=(stop,), daemon=True)
        thread.start()
        try:
            alert_ids = raise_alerts(fresh_db, routing, mines)
            eventually(
                lambda: {a["labels"]["mine_id"] for d in bureau.snapshot() for a in d["alerts"]} == set(mines),
                timeout=40,
                what="every alert at the county bureau's Alertmanager receiver",
            )
            eventually(
                lambda: {m["group"]["mine_id"] for t, m in listener.messages} == set(mines),
                what="every alert on the county's MQTT topic",
            )
            with psycopg.connect(fresh_db) as conn:
                eventually(
                    lambda: (
                        conn.execute("SELECT count(*) FROM notification_deliveries WHERE status = 'failed'").fetchone()[
                            0
                        ]
                        == 2 * len(mines)
                    ),
                    timeout=30,
                    what="the unreachable and the refusing webhooks given up on, visibly",
                )
                failed = conn.execute(
                    "SELECT DISTINCT target, left(last_error, 20) FROM notification_deliveries WHERE status = 'failed'"
                ).fetchall()
                attempts = conn.execute(
                    "SELECT d.delivery_id, array_agg(a.outcome || ':' || coalesce(a.status_code::text, '-')"
                    " ORDER BY a.attempted_at) FROM notification_deliveries d JOIN notification_attempts a"
                    " USING (delivery_id) WHERE d.target = %s GROUP BY d.delivery_id",
                    (bureau.url,),
                ).fetchall()
        finally:
            stop.set()
            thread.join(10)
            dispatcher.close()
            listener.close()
    assert sorted(failed) == sorted([(unreachable, "receiver unreachable"), (impostor.url, "HTTP 401 from receiv")])
    assert impostor.bad_signatures >= len(mines) and impostor.snapshot() == []  # a wrong secret never verifies
    # Nothing lost, nothing doubled; each refusal was recorded and retried.
    assert len(bureau.snapshot()) == len(mines) == bureau.requests
    assert sorted(x for _, outcomes in attempts for x in outcomes if x.startswith("error")) == ["error:503"] * 3
    assert all(outcomes[-1] == "sent:204" for _, outcomes in attempts)
    assert bureau.bad_signatures == 0
    for doc, headers in zip(bureau.snapshot(), bureau.headers, strict=True):
        assert (
            headers[SIGNATURE].startswith("sha256=") and abs(int(headers[TIMESTAMP]) - datetime.now().timestamp()) < 120
        )
        assert doc["version"] == "4" and doc["receiver"] == "county:520201:ecology_environment"
        assert doc["status"] == "firing" and doc["groupLabels"]["category"] == "emission_exceedance"
        (alert,) = doc["alerts"]
        assert alert["annotations"]["summary"].endswith("COD over its limit (daily mean)")
        assert alert["startsAt"].endswith("Z") and alert["endsAt"] == "0001-01-01T00:00:00Z"
    assert {t for t, _ in listener.messages} == {"minewatch/v1/alerts/county/520201/ecology_environment"}
    assert len({m["notification_id"] for _, m in listener.messages}) == len(mines)
    assert sorted(a["alert_id"] for _, m in listener.messages for a in m["alerts"]) == sorted(alert_ids)


def test_a_dispatcher_killed_mid_delivery_loses_nothing(services: Services, fresh_db: str, tmp_path: Path) -> None:
    with WebhookReceiver(secret=SECRET) as platform:
        routing_file = tmp_path / "routing.yaml"
        routing_file.write_text(
            yaml.safe_dump(routing_doc({"platform": [{"url": platform.url, "secret_env": SECRET_ENV}]}))
        )
        env = services.env(
            DISPATCHER_USER,
            MINEWATCH_DB_URL=fresh_db,
            MINEWATCH_ROUTING=str(routing_file),
            MINEWATCH_WEBHOOK_URLS="",
            **{SECRET_ENV: SECRET},
        )
        command = [*minewatch_command("dispatcher"), "--lease", "3", "--tick", "0.2"]
        mines = [f"GZ520201-{i:04d}" for i in range(1, 7)]
        platform.stall_s = 60.0  # it records the first POST, then never answers
        first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            raise_alerts(fresh_db, RoutingConfig.load(routing_file), mines)
            eventually(lambda: platform.requests >= 1, timeout=30, what="the first delivery in flight")
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        platform.stall_s = 0.0
        second = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            with psycopg.connect(fresh_db) as conn:
                eventually(
                    lambda: (
                        conn.execute(
                            "SELECT count(*) FILTER (WHERE status = 'sent'), count(*) FROM notification_deliveries"
                            " WHERE channel = 'webhook'"
                        ).fetchone()
                        == (len(mines), len(mines))
                    ),
                    timeout=40,
                    what="every delivery sent by the second dispatcher",
                )
        finally:
            second.terminate()
            second.wait(10)
    # The POST in flight when the first dispatcher died was sent again (at-least-once); the
    # receiver's de-duplication on X-Minewatch-Delivery kept each notification once.
    assert platform.requests == len(mines) + 1
    assert len(platform.snapshot()) == len(mines)
    assert sorted(d["group"]["mine_id"] for d in platform.snapshot()) == mines
    assert len({h["X-Minewatch-Delivery"] for h in platform.headers}) == len(mines)
    assert platform.bad_signatures == 0
