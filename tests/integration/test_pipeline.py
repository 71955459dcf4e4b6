"""End to end on real services: MQTT (Mosquitto) -> bridge -> Kafka (Tansu) -> Faust -> PostgreSQL,
exceedances -> alerts -> webhook and MQTT alert topics; bad messages -> dead-letter topic."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import pytest
from confluent_kafka import Consumer

from minewatch.brokerconfig import PLATFORM_USER, SIMULATOR_USER
from minewatch.records import decode_dead_letter
from minewatch.registry import Registry
from minewatch.topics import KafkaTopics, telemetry_topic
from simulators.publisher import Publisher
from simulators.telemetry import beijing_iso, exceedance_target
from tests.conftest import AUDIT_MINES, CORPUS_FLEET, HJ212_FLEET, SLOPE_MINE, eventually
from tests.examples import load_examples

pytestmark = pytest.mark.integration
MINE = "GZ520201-0001"


def publish_all(endpoint, messages: list[tuple[str, bytes, int]], client_id: str | None = None) -> Publisher:
    with Publisher(endpoint, client_id=client_id or f"test-{uuid.uuid4().hex[:8]}") as publisher:
        for topic, payload, readings in messages:
            publisher.publish(topic, payload, readings)
        assert publisher.wait_acked(30), "the broker did not acknowledge every message"
    return publisher


def wastewater(mine: str, station: str, t: float, **values: float) -> tuple[str, bytes, int]:
    payload = {
        "schema": "minewatch/telemetry-wastewater/v1",
        "message_id": uuid.uuid4().hex,
        "mine_id": mine,
        "station_id": station,
        "ts": beijing_iso(t),
        "readings": [{"parameter": p, "value": v, "unit": "mg/L", "flag": "N"} for p, v in values.items()],
    }
    return telemetry_topic(mine, "wastewater", station), json.dumps(payload).encode(), len(values)


class AlertListener:
    """A platform client subscribed to every alert topic."""

    def __init__(self, endpoint) -> None:
        self.messages: list[tuple[str, dict]] = []
        self.ready = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"platform-{uuid.uuid4().hex[:6]}")
        self.client.username_pw_set(endpoint.username, endpoint.password)
        self.client.on_connect = lambda c, *a: c.subscribe(
            [("minewatch/v1/alerts/#", 1), ("minewatch/v1/mines/+/alerts", 1)]
        )
        self.client.on_subscribe = lambda *a: self.ready.set()
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, json.loads(m.payload)))
        self.client.connect(endpoint.host, endpoint.port)
        self.client.loop_start()
        assert self.ready.wait(10)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_readings_arrive_exactly_once(services, pipeline, db):
    now = datetime.now(UTC).timestamp()
    sent = [wastewater(MINE, "WW01", now - 60 + i, w01018=40.0 + i, w21003=3.0 + i / 10) for i in range(50)]
    publisher = publish_all(services.mqtt_endpoint(MINE), sent)  # the mine's own account
    assert publisher.published_readings == 100
    expected = {
        (p, round(v, 6))
        for _, payload, _ in sent
        for r in json.loads(payload)["readings"]
        for p, v in [(r["parameter"], r["value"])]
    }

    def stored():
        rows = db.execute(
            "SELECT parameter, value FROM readings WHERE mine_id = %s AND station_id = 'WW01'"
            " AND ts >= to_timestamp(%s) AND ts < to_timestamp(%s)",
            (MINE, now - 61, now - 5),
        ).fetchall()
        return {(p, round(v, 6)) for p, v in rows}, len(rows)

    eventually(lambda: stored()[1] >= 100, what="100 readings in PostgreSQL")
    rows, n = stored()
    assert n == 100 and rows == expected


def ph(mine: str, station: str, t: float, value: float) -> tuple[str, bytes, int]:
    payload = {
        "schema": "minewatch/telemetry-wastewater/v1",
        "message_id": uuid.uuid4().hex,
        "mine_id": mine,
        "station_id": station,
        "ts": beijing_iso(t),
        "readings": [{"parameter": "w01001", "value": value, "unit": "dimensionless", "flag": "N"}],
    }
    return telemetry_topic(mine, "wastewater", station), json.dumps(payload).encode(), 1


def ph_target(registry: Registry, skip: frozenset[str]):
    """A mine whose outlet has GB 8978's pH range (judged per reading) and is not used elsewhere
    (the HJ 212 and bad-input tests count every reading of their own mines)."""
    others = frozenset(HJ212_FLEET.mines) | frozenset(CORPUS_FLEET.mines)
    return exceedance_target(
        registry, 0.0, 0.0, parameter="w01001", basis="instantaneous", factor=1.1, skip=skip | others
    )


def test_instantaneous_exceedance_becomes_one_alert_on_webhook_and_mqtt(services, pipeline, db, webhook):
    registry = Registry.load(services.registry_path)
    target = ph_target(registry, AUDIT_MINES | {SLOPE_MINE})
    listener = AlertListener(services.mqtt_endpoint(PLATFORM_USER))
    try:
        now = datetime.now(UTC).timestamp()
        publish_all(
            services.mqtt_endpoint(target.mine_id),
            [ph(target.mine_id, target.station_id, now - 2 + i, 9.9) for i in range(3)],
        )

        def exceedances():
            return db.execute(
                "SELECT exceedance_id, basis, peak_value, peak_multiple, citation, status FROM exceedances"
                " WHERE mine_id = %s AND parameter = 'w01001'",
                (target.mine_id,),
            ).fetchall()

        eventually(lambda: len(exceedances()) >= 1, what="the pH exceedance")
        _, basis, peak, multiple, citation, _ = exceedances()[0]
        assert (basis, peak) == ("instantaneous", 9.9)
        assert multiple == pytest.approx(0.9 / 9, abs=1e-6) and "GB 8978-1996" in citation
        alerts = db.execute(
            "SELECT alert_id, severity, category, summary FROM alerts WHERE mine_id = %s"
            " AND category = 'emission_exceedance'",
            (target.mine_id,),
        ).fetchall()
        assert len(alerts) == 1
        alert_id, severity, _, summary = alerts[0]
        assert severity == "yellow" and "GB 8978-1996" in summary and "instantaneous" in summary

        eventually(lambda: len(webhook.about(alert_id)) == 1, what="the alert POSTed to the platform webhook")
        doc = webhook.about(alert_id)[0]
        assert doc["format"] == "minewatch.notification/v1" and doc["target"]["id"] == "platform"
        assert doc["group"] == {"mine_id": target.mine_id, "category": "emission_exceedance"}
        (alert,) = doc["alerts"]
        assert alert["details"]["limit_upper"] == 9.0 and alert["details"]["value"] == 9.9
        mine = registry.mine(target.mine_id)
        county_or_region = (
            f"county/{mine.county_code}" if mine.county_code else f"region/{mine.region_code}"
        )  # yellow: the mine and its county's ecology-environment bureau, not the prefecture
        eventually(
            lambda: (
                {t for t, m in listener.messages if any(a["alert_id"] == alert_id for a in m["alerts"])}
                == {
                    f"minewatch/v1/mines/{target.mine_id}/alerts",
                    f"minewatch/v1/alerts/{county_or_region}/ecology_environment",
                }
            ),
            what="the alert on the mine's and the jurisdiction's MQTT topics",
        )
    finally:
        listener.close()
    assert len(webhook.about(alert_id)) == 1  # not doubled
    assert webhook.bad_signatures == 0


def test_invalid_examples_are_dead_lettered_with_reasons_and_nothing_else_is_lost(services, pipeline, db):
    now = datetime.now(UTC)
    valid = load_examples("valid")
    invalid = load_examples("invalid")
    messages: list[tuple[str, bytes, int]] = []
    good: list[dict] = []
    for i, example in enumerate(invalid):  # interleaved with good messages
        messages.append((example.topic, example.shifted_to(now), 0))
        copy = valid[i % len(valid)]
        payload = _fresh_copy(copy.shifted_to(now - timedelta(seconds=2 * i + 1)))
        good.append(json.loads(payload))
        messages.append((copy.topic, payload, 0))
    publish_all(services.mqtt_endpoint(SIMULATOR_USER), messages)
    # keyed by topic too: two examples send the same payload on different stations' topics
    wanted = {
        (topic, payload.decode("utf-8")): ex.reason
        for ex, (topic, payload, _) in zip(invalid, messages[0::2], strict=True)
    }

    # 1. on the dead-letter topic itself, each with its reason
    consumer = Consumer(
        {
            "bootstrap.servers": services.kafka_bootstrap,
            "group.id": f"t-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([KafkaTopics.DEAD_LETTER])
    seen: dict[str, str] = {}
    try:

        def drain() -> bool:
            for msg in consumer.consume(500, timeout=0.5):
                if msg.error() is None:
                    letter = decode_dead_letter(msg.value())
                    if (letter["topic"], letter["payload"]) in wanted:
                        seen[(letter["topic"], letter["payload"])] = letter["reason_code"]
            return len(seen) == len(wanted)

        eventually(drain, timeout=30, what="every invalid example on the dead-letter topic")
    finally:
        consumer.close()
    assert seen == wanted

    # 2. kept in the database, with the reason, where operators can see them
    def stored_letters() -> dict[tuple[str, str], tuple[str, str]]:
        rows = db.execute("SELECT topic, payload, reason_code, reason FROM dead_letters").fetchall()
        return {(t, p): (code, reason) for t, p, code, reason in rows if (t, p) in wanted}

    eventually(lambda: len(stored_letters()) == len(wanted), what="dead letters stored")
    assert {p: code for p, (code, _) in stored_letters().items()} == wanted

    # 3. every good message interleaved with them arrived
    eventually(lambda: all(_is_stored(db, doc) for doc in good), what="every good message stored")


def _fresh_copy(payload: bytes) -> bytes:
    doc = json.loads(payload)
    doc["message_id"] = uuid.uuid4().hex
    if "report_id" in doc:
        doc["report_id"] = f"R-{uuid.uuid4().hex[:12]}"
    return json.dumps(doc, ensure_ascii=False).encode()


def _is_stored(db, doc: dict) -> bool:
    if "readings" in doc:
        keys = [(r["parameter"], r.get("ts") or doc["ts"]) for r in doc["readings"]]
        found = db.execute(
            "SELECT count(*) FROM readings r JOIN unnest(%s::text[], %s::timestamptz[]) AS k(p, t)"
            " ON r.parameter = k.p AND r.ts = k.t WHERE r.mine_id = %s AND r.station_id = %s",
            ([k[0] for k in keys], [k[1] for k in keys], doc["mine_id"], doc["station_id"]),
        ).fetchone()[0]
        return found == len(keys)
    if "report_id" in doc:
        return (
            db.execute(
                "SELECT count(*) FROM self_reports WHERE mine_id = %s AND report_id = %s",
                (doc["mine_id"], doc["report_id"]),
            ).fetchone()[0]
            == 1
        )
    return (
        db.execute(
            "SELECT count(*) FROM station_status WHERE message->>'message_id' = %s", (doc["message_id"],)
        ).fetchone()[0]
        == 1
    )


def test_a_mine_cannot_publish_as_another_mine(services, pipeline, db):
    now = datetime.now(UTC).timestamp()
    forged = wastewater(MINE, "WW01", now - 30, w01018=777.0)  # mine 0001's topic ...
    publish_all(services.mqtt_endpoint("GZ520201-0002"), [forged])  # ... with mine 0002's account
    sentinel = wastewater(MINE, "WW01", now - 29, w01018=41.123)
    publish_all(services.mqtt_endpoint(MINE), [sentinel])
    eventually(
        lambda: (
            db.execute("SELECT count(*) FROM readings WHERE mine_id = %s AND value = 41.123", (MINE,)).fetchone()[0]
            == 1
        ),
        what="the sentinel published after the forged message",
    )
    assert db.execute("SELECT count(*) FROM readings WHERE value = 777.0").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM dead_letters WHERE payload LIKE '%%777.0%%'").fetchone()[0] == 0


def test_a_failing_webhook_is_retried_until_it_accepts(services, pipeline, db, webhook):
    registry = Registry.load(services.registry_path)
    first = ph_target(registry, AUDIT_MINES | {SLOPE_MINE})
    target = ph_target(registry, AUDIT_MINES | {first.mine_id, MINE, SLOPE_MINE})
    webhook.refuse(2, lambda doc: doc["group"]["mine_id"] == target.mine_id)
    now = datetime.now(UTC).timestamp()
    publish_all(services.mqtt_endpoint(target.mine_id), [ph(target.mine_id, target.station_id, now - 1, 5.1)])

    def alert_id():
        row = db.execute(
            "SELECT alert_id FROM alerts WHERE mine_id = %s AND details->>'parameter' = 'w01001'", (target.mine_id,)
        ).fetchone()
        return row and row[0]

    eventually(lambda: alert_id() is not None, what="the alert")
    eventually(lambda: webhook.about(alert_id()) != [], timeout=30, what="delivery after two refusals (1 s, 2 s)")
    attempts = db.execute(
        "SELECT a.outcome, a.status_code FROM notification_attempts a JOIN notification_deliveries d"
        " USING (delivery_id) JOIN notifications n USING (notification_id)"
        " WHERE %s = ANY(n.alert_ids) AND d.channel = 'webhook' ORDER BY a.attempted_at",
        (alert_id(),),
    ).fetchall()
    assert attempts == [("error", 503), ("error", 503), ("sent", 204)]
    assert len(webhook.about(alert_id())) == 1


def test_a_silent_station_is_reported_offline_by_the_timer_and_back_online(services, pipeline, db, webhook):
    # GZ520201-0002 WW01 reports every 2 s (registry); nothing has published for it since the worker started
    def findings():
        return db.execute(
            "SELECT cleared FROM quality_findings WHERE mine_id = 'GZ520201-0002' AND station_id = 'WW01'"
            " AND kind = 'offline' ORDER BY t"
        ).fetchall()

    eventually(lambda: findings()[:1] == [(False,)], timeout=40, what="the offline finding from the timer")
    alert = db.execute(
        "SELECT alert_id, category, severity FROM alerts WHERE mine_id = 'GZ520201-0002'"
        " AND details->>'check' = 'offline'"
    ).fetchone()
    assert alert is not None and alert[1:] == ("data_quality", "yellow")
    eventually(lambda: webhook.about(alert[0]) != [], what="the offline alert delivered")
    now = datetime.now(UTC).timestamp()
    publish_all(services.mqtt_endpoint("GZ520201-0002"), [wastewater("GZ520201-0002", "WW01", now, w01018=40.0)])
    eventually(lambda: findings()[-1:] == [(True,)], timeout=40, what="back online")
    # The condition cleared, so minewatch resolved the alert and told the platform so.
    status = db.execute("SELECT status, resolved_by FROM alerts WHERE alert_id = %s", (alert[0],)).fetchone()
    assert status == ("resolved", "minewatch")
    history = db.execute(
        "SELECT action, actor, from_status, to_status FROM alert_history WHERE alert_id = %s ORDER BY seq", (alert[0],)
    ).fetchall()
    assert history == [("fire", "minewatch", None, "firing"), ("resolve", "minewatch", "firing", "resolved")]
    eventually(
        lambda: [a["status"] for d in webhook.about(alert[0]) for a in d["alerts"]] == ["firing", "resolved"],
        what="the resolution delivered after the firing notification",
    )
