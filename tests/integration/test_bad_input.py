"""Malformed input through the whole stack, interleaved with good input: 1,000 bad MQTT messages
and 500 bad HJ 212 frames (simulators/malformed.py). Nothing crashes, every bad one is in the
dead-letter table with a reason and counted in the metrics, every good one is stored."""

from __future__ import annotations

import asyncio
import base64
import time
from collections import Counter

import orjson
import pytest

from minewatch.brokerconfig import SIMULATOR_USER
from minewatch.metrics import scrape
from simulators.malformed import good_hj212, good_mqtt, hj212_corpus, hj212_devices, mqtt_corpus
from simulators.publisher import Publisher
from storage.readings import ReadingKey, readings_around
from tests.conftest import CORPUS_FLEET, eventually

pytestmark = pytest.mark.integration
MINES = sorted(m.id for m in CORPUS_FLEET)


def _stored(db, keys: set[ReadingKey]) -> set[ReadingKey]:
    return set(readings_around(db, keys)) & keys


def test_bad_mqtt_messages_are_dead_lettered_with_their_reasons_and_the_good_ones_stored(services, pipeline, db):
    now = time.time()
    bad = mqtt_corpus(CORPUS_FLEET, now=now, count=1000, seed=8)
    good = good_mqtt(CORPUS_FLEET, [float(int(now) - 40_000 + i) for i in range(1000)], seed=8)
    rejected_before = scrape(pipeline.metrics_ports["bridge"], "minewatch_bridge_messages_rejected_total") or 0.0
    since = db.execute("SELECT now()").fetchone()[0]
    with Publisher(services.mqtt_endpoint(SIMULATOR_USER), client_id="bad-input-test") as publisher:
        for g, b in zip(good, bad, strict=True):
            publisher.publish(g.topic, g.payload, len(g.keys))
            publisher.publish(b.topic, b.payload, 0)
        assert publisher.wait_acked(60)

    expected = {k for g in good for k in g.keys}
    wanted = {b.payload: b for b in bad}

    def letters() -> dict[bytes, tuple[str, str]]:
        rows = db.execute(
            "SELECT payload, payload_encoding, reason_code, reason FROM dead_letters"
            " WHERE source = 'mqtt' AND received_at >= %s",
            (since,),
        ).fetchall()
        out = {}
        for payload, encoding, code, reason in rows:
            raw = base64.b64decode(payload) if encoding == "base64" else payload.encode()
            if raw in wanted:
                out[raw] = (code, reason)
        return out

    deadline = time.monotonic() + 90
    while len(found := letters()) < len(bad) and time.monotonic() < deadline:
        time.sleep(0.5)
    missing = Counter(b.family for b in bad if b.payload not in found)
    assert not missing, f"not dead-lettered, by family: {dict(missing)}"
    eventually(lambda: _stored(db, expected) == expected, timeout=90, what="every good reading stored")
    wrong = {(wanted[p].family, code) for p, (code, _) in found.items() if code not in wanted[p].expected}
    assert not wrong, wrong
    assert all(reason for _, reason in found.values())
    rejected_after = scrape(pipeline.metrics_ports["bridge"], "minewatch_bridge_messages_rejected_total") or 0.0
    assert rejected_after - rejected_before >= len(bad)
    for process in (pipeline.bridge, pipeline.worker):
        assert process.alive, f"{process.name} died: {process.tail()}"
    assert pipeline.restarts == []


def test_bad_hj212_frames_are_dead_lettered_and_the_frames_around_them_stored(services, pipeline, db):
    now = time.time()
    devices = hj212_devices(CORPUS_FLEET)
    bad = hj212_corpus(devices, now=now, count=500, seed=9)
    good = good_hj212(devices, [float(int(now) - 100_000 - 60 * i) for i in range(2 * len(bad))], seed=9)
    since = db.execute("SELECT now()").fetchone()[0]

    async def send_all() -> dict[str, int]:
        peers = {}
        for i, case in enumerate(bad):
            # A letter names its connection by the client's address; on loopback Linux reuses a
            # closed connection's port at once, so each case gets a port no earlier case had.
            while True:
                reader, writer = await asyncio.open_connection("127.0.0.1", pipeline.hj212_port)
                peer = f"hj212://127.0.0.1:{writer.get_extra_info('sockname')[1]}"
                if peer not in peers:
                    break
                writer.close()
                await writer.wait_closed()
            peers[peer] = i
            writer.write(good[2 * i].payload + case.payload + good[2 * i + 1].payload)
            answers = b""
            while answers.count(b"CN=9014") < 2:  # both good frames are in Kafka
                chunk = await asyncio.wait_for(reader.read(4096), 30)
                assert chunk, f"the gateway closed the connection on {case.family}"
                answers += chunk
            writer.close()
            await writer.wait_closed()
        return peers

    peers = asyncio.run(send_all())
    expected = {k for g in good for k in g.keys}

    def letters() -> list[tuple[str, str, str]]:
        return db.execute(
            "SELECT topic, reason_code, reason FROM dead_letters WHERE source = 'hj212' AND received_at >= %s"
            " AND topic = ANY(%s)",
            (since, list(peers)),
        ).fetchall()

    eventually(lambda: len(letters()) >= len(bad), timeout=90, what="every bad HJ 212 frame dead-lettered")
    eventually(lambda: _stored(db, expected) == expected, timeout=90, what="every good HJ 212 reading stored")
    found = letters()
    per_case = Counter(peers[topic] for topic, _, _ in found)
    odd = {
        i: (bad[i].family, [(c, r[:80]) for t, c, r in found if peers[t] == i])
        for i in range(len(bad))
        if per_case[i] != 1
    }
    assert sorted(per_case.elements()) == list(range(len(bad))), odd  # one letter each
    wrong = {(bad[peers[t]].family, code) for t, code, _ in found if code not in bad[peers[t]].expected}
    assert not wrong, wrong
    assert all(reason for _, _, reason in found)
    assert pipeline.hj212.alive and pipeline.restarts == []


def test_a_reused_message_id_with_other_values_is_dead_lettered_and_an_exact_resend_absorbed(services, pipeline, db):
    original = good_mqtt(CORPUS_FLEET, [float(int(time.time()) - 50_000)], seed=10)[0]
    doc = orjson.loads(original.payload)
    altered = {**doc, "readings": [{**r, "value": r["value"] + 1.5} for r in doc["readings"]]}
    since = db.execute("SELECT now()").fetchone()[0]
    with Publisher(services.mqtt_endpoint(SIMULATOR_USER), client_id="duplicate-ids-test") as publisher:
        publisher.publish(original.topic, original.payload, len(original.keys))
        assert publisher.wait_acked(10)
        eventually(lambda: _stored(db, set(original.keys)) == set(original.keys), what="the original stored")
        publisher.publish(original.topic, original.payload, len(original.keys))  # exact resend
        publisher.publish(original.topic, orjson.dumps(altered), len(original.keys))  # same id, other values
        assert publisher.wait_acked(10)

    def conflicts() -> list[tuple[str, str]]:
        return db.execute(
            "SELECT reason_code, reason FROM dead_letters WHERE source = 'storage' AND received_at >= %s"
            " AND payload LIKE %s",
            (since, f"%{doc['message_id']}%"),
        ).fetchall()

    eventually(lambda: len(conflicts()) == 1, what="the altered copy dead-lettered")
    ((code, reason),) = conflicts()
    assert code == "conflicting_duplicate" and f"station {doc['station_id']} already sent" in reason
    rows = db.execute(
        "SELECT parameter, value FROM readings WHERE mine_id = %s AND station_id = %s AND ts = %s::timestamptz",
        (doc["mine_id"], doc["station_id"], doc["ts"]),
    ).fetchall()
    assert sorted(rows) == sorted((r["parameter"], r["value"]) for r in doc["readings"])  # once, first values
    time.sleep(1.0)
    assert len(conflicts()) == 1  # the exact resend is no conflict


def test_a_dead_letter_written_twice_to_kafka_is_stored_once(services, pipeline, db):
    from confluent_kafka import Producer

    from minewatch.records import dead_letter
    from minewatch.topics import KafkaTopics

    marker = f"twice-{time.time_ns()}"
    letter = dead_letter("mqtt", "minewatch/v1/test", marker.encode(), "not_json", "not JSON", None, time.time())
    producer = Producer({"bootstrap.servers": services.kafka_bootstrap, "acks": "all"})
    for _ in range(2):  # what a producer's retry after a lost acknowledgement leaves in the topic
        producer.produce(KafkaTopics.DEAD_LETTER, letter, key=b"")
    assert producer.flush(10) == 0

    def stored() -> int:
        return db.execute("SELECT count(*) FROM dead_letters WHERE payload = %s", (marker,)).fetchone()[0]

    eventually(lambda: stored() >= 1, what="the dead letter stored")
    time.sleep(1.0)
    assert stored() == 1
