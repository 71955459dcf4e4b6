"""The gateway's defences against hostile or broken clients, on a real TCP socket, with the
Kafka sink replaced by a recorder (the end-to-end path is tests/integration/test_hj212_gateway.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from hj212 import encode
from hj212.gateway import Gateway, GatewayLimits
from minewatch.records import decode_dead_letter
from minewatch.topics import KafkaTopics
from simulators.fleet import generate_fleet, simulated_password

REGISTRY = generate_fleet(1, seed=3)
MINE = next(iter(REGISTRY))
LINK = MINE.stations["WW01"].hj212
assert LINK is not None


class RecordingSink:
    def __init__(self) -> None:
        self.records: list[tuple[str, bytes]] = []

    async def send(self, topic: str, key: bytes, value: bytes) -> None:
        self.records.append((topic, value))

    def letters(self) -> list[dict]:
        return [dict(decode_dead_letter(v)) for t, v in self.records if t == KafkaTopics.DEAD_LETTER]


async def _serve(limits: GatewayLimits) -> tuple[Gateway, RecordingSink, asyncio.Server, int]:
    sink = RecordingSink()
    gateway = Gateway(REGISTRY, sink, limits)  # type: ignore[arg-type]
    server = await gateway.serve("127.0.0.1", 0)
    return gateway, sink, server, server.sockets[0].getsockname()[1]


def _upload() -> bytes:
    now = datetime.now(UTC)
    cp = encode.data_area(encode.stamp(now), [[("w01018-Avg", "30.0"), ("w01018-Flag", "N")]])
    return encode.frame(encode.segment(cn="2051", mn=LINK.mn, pw=simulated_password(LINK.mn), cp=cp,
                                       qn_text=encode.qn(now), flag=5))  # fmt: skip


def test_connections_over_the_limit_are_closed_and_silent_ones_time_out() -> None:
    async def scenario() -> None:
        gateway, _, server, port = await _serve(GatewayLimits(max_connections=2, idle_timeout_s=0.3))
        async with server:
            held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
            await asyncio.sleep(0.05)
            reader, _ = await asyncio.open_connection("127.0.0.1", port)
            assert await asyncio.wait_for(reader.read(), 2) == b""  # the third is refused at once
            for r, _ in held:  # the two silent ones are closed after the idle timeout
                assert await asyncio.wait_for(r.read(), 2) == b""
            assert gateway.active == 0

    asyncio.run(scenario())


def test_a_flood_without_frames_is_bounded_dead_lettered_and_the_connection_goes_on() -> None:
    async def scenario() -> None:
        gateway, sink, server, port = await _serve(GatewayLimits(max_buffer=4096))
        async with server:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            for chunk in (b"##9999" + b"A" * 3000, b"A" * 3000, b"B" * 14_000):  # a frame that never ends
                writer.write(chunk)
                await writer.drain()
                await asyncio.sleep(0.05)
            writer.write(b"\r\n" + _upload())  # a good frame after the flood is still answered
            await writer.drain()
            answer = await asyncio.wait_for(reader.readuntil(b"\r\n"), 3)
            assert b"CN=9014" in answer
            writer.close()
        letters = sink.letters()
        assert letters and all(letter["reason_code"] == "hj212_framing" for letter in letters)
        assert sum(len(letter["payload"]) for letter in letters) >= 20_000  # every byte kept, none held
        assert any("without a complete frame" in letter["reason"] for letter in letters)
        telemetry = [v for t, v in sink.records if t == KafkaTopics.TELEMETRY]
        assert len(telemetry) == 1 and gateway.frames == 1

    asyncio.run(scenario())
