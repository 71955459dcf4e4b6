"""The malformed-input corpora against the pure gate and the HJ 212 gateway (on a real socket,
its Kafka sink a recorder): every bad message refused with its reason, nothing good lost.
The same corpora go through the whole stack in tests/integration/test_bad_input.py."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest

from hj212.gateway import Gateway
from ingest.validation import Gatekeeper, Rejected
from minewatch.records import decode_dead_letter
from minewatch.topics import KafkaTopics
from simulators.fleet import generate_fleet
from simulators.malformed import HJ212_FAMILIES, MQTT_FAMILIES, good_hj212, hj212_corpus, hj212_devices, mqtt_corpus

REGISTRY = generate_fleet(6, seed=41)
NOW = time.time()
INTERNALS = ("Traceback", "object at 0x", "Error(", 'File "')


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_malformed_mqtt_message_is_refused_with_its_reason(seed: int) -> None:
    corpus = mqtt_corpus(REGISTRY, now=NOW, count=1000, seed=seed)
    assert len({c.payload for c in corpus}) == 1000
    assert {c.family for c in corpus} == set(MQTT_FAMILIES)
    gate = Gatekeeper(REGISTRY)
    wrong = Counter()
    for case in corpus:
        verdict = gate.check(case.topic, case.payload, now=NOW)
        assert isinstance(verdict, Rejected), (case.family, case.payload[:200])
        if verdict.code not in case.expected:
            wrong[(case.family, verdict.code)] += 1
        assert verdict.reason and len(verdict.reason) <= 400, (case.family, verdict.reason[:500])
        assert not any(marker in verdict.reason for marker in INTERNALS), verdict.reason
    assert not wrong, wrong


def test_the_good_messages_beside_them_pass() -> None:
    from simulators.malformed import good_mqtt

    gate = Gatekeeper(REGISTRY)
    good = good_mqtt(REGISTRY, [NOW - 60 * i for i in range(200)], seed=4)
    verdicts = [gate.check(g.topic, g.payload, now=NOW) for g in good]
    assert all(v.accepted for v in verdicts), [getattr(v, "reason", "") for v in verdicts if not v.accepted][:3]
    assert sum(len(g.keys) for g in good) == sum(v.reading_count for v in verdicts)  # type: ignore[union-attr]


class RecordingSink:
    def __init__(self) -> None:
        self.records: list[tuple[str, bytes]] = []

    async def send(self, topic: str, key: bytes, value: bytes) -> None:
        self.records.append((topic, value))


def test_every_malformed_hj212_frame_is_dead_lettered_and_the_frames_around_it_are_forwarded() -> None:
    devices = hj212_devices(REGISTRY)
    corpus = hj212_corpus(devices, now=NOW, count=500, seed=5)
    assert {c.family for c in corpus} == set(HJ212_FAMILIES)

    async def scenario() -> Counter:
        sink = RecordingSink()
        gateway = Gateway(REGISTRY, sink)  # type: ignore[arg-type]
        server = await gateway.serve("127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        wrong: Counter = Counter()
        async with server:
            for i, case in enumerate(corpus):
                before, after = good_hj212(devices, [NOW - 7200 - 120 * i, NOW - 7260 - 120 * i], seed=i)
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                start = len(sink.records)
                writer.write(before.payload + case.payload + after.payload)
                answers = b""
                while answers.count(b"CN=9014") < 2:  # both good frames answered: Kafka has them
                    chunk = await asyncio.wait_for(reader.read(4096), 5)
                    assert chunk, f"the gateway closed the connection on {case.family}"
                    answers += chunk
                writer.close()
                await writer.wait_closed()
                records = sink.records[start:]
                letters = [decode_dead_letter(v) for t, v in records if t == KafkaTopics.DEAD_LETTER]
                forwarded = [v for t, v in records if t == KafkaTopics.TELEMETRY]
                if len(forwarded) != 2 or [letter["reason_code"] in case.expected for letter in letters] != [True]:
                    wrong[(case.family, tuple(letter["reason_code"] for letter in letters), len(forwarded))] += 1
                for letter in letters:
                    assert letter["reason"] and not any(m in letter["reason"] for m in INTERNALS)
        return wrong

    assert asyncio.run(scenario()) == Counter()
