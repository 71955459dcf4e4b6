"""Frames per second through the HJ 212 gateway (``minewatch bench hj212``).

Two figures, from one run:

* **decode**: single-threaded cost of what the gateway does per frame without I/O (framing,
  CRC, parsing, mapping to telemetry, encoding the record), over realistic minute packets;
* **gateway**: ``minewatch hj212 serve`` in its own process, in front of a Tansu broker, with
  N simulated data loggers connected at once, each sending minute packets that ask for an
  answer and waiting for each 9014 (sent only once Kafka has the record): answered frames per
  second, end to end. The loggers run in this process on the same two cores.

Prints text and one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from hj212.framing import Frame, FrameReader
from hj212.gateway import directory
from hj212.mapping import to_telemetry
from hj212.packet import parse
from minewatch.records import telemetry_batch
from minewatch.services import KafkaBroker, ManagedProcess, free_port
from minewatch.stack import minewatch_command
from minewatch.topics import KafkaTopics
from simulators.fleet import generate_fleet
from simulators.hj212 import loggers, run_fleet


def decode_rate(frames: list[bytes], registry_devices: dict, repeat: int = 3) -> float:
    wire = b"".join(frames)
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        reader = FrameReader()
        for item in reader.feed(wire):
            assert isinstance(item, Frame)
            item.crc_check  # noqa: B018 - the gateway looks at it for every frame
            packet = parse(item.segment)
            mapped = to_telemetry(packet, registry_devices[packet.mn].binding)
            telemetry_batch(0.0, [orjson.dumps(mapped.message)])
        best = min(best, time.perf_counter() - start)
    return len(frames) / best


def run(mines: int = 50, minutes: int = 20, seed: int = 1) -> dict[str, Any]:
    registry = generate_fleet(mines, seed=seed)
    fleet = loggers(registry, seed=seed)
    start = time.time() // 3600 * 3600 - 3600
    sample = [lg.minute_packet(start + 60 * i)[0] for lg in fleet[:20] for i in range(50)]
    decoded = decode_rate(sample, directory(registry))

    run_dir = Path(tempfile.mkdtemp(prefix="minewatch-bench-hj212-"))
    registry_path = run_dir / "registry.yaml"
    registry.dump(registry_path)
    with KafkaBroker(run_dir) as kafka:
        kafka.create_topics(KafkaTopics.ALL, 8)
        port = free_port()
        env = {"MINEWATCH_KAFKA_BOOTSTRAP": kafka.bootstrap, "MINEWATCH_REGISTRY": str(registry_path)}
        gateway = ManagedProcess(
            "hj212",
            minewatch_command("hj212", "serve", "--host", "127.0.0.1", "--port", str(port)),
            run_dir / "logs" / "hj212.log",
            {**os.environ, **env},
        ).start()
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or not gateway.alive:
                        raise RuntimeError(f"the gateway did not start; see {gateway.log_path}") from None
                    time.sleep(0.2)
            times = [start + 60 * i for i in range(minutes)]
            began = time.perf_counter()
            stats = asyncio.run(run_fleet("127.0.0.1", port, loggers(registry, seed=seed), times))
            elapsed = time.perf_counter() - began
        finally:
            gateway.stop()
    return {
        "loggers": len(fleet),
        "decode_frames_per_s": round(decoded),
        "decode_us_per_frame": round(1e6 / decoded, 1),
        "gateway_frames": stats.answered,
        "gateway_seconds": round(elapsed, 2),
        "gateway_frames_per_s": round(stats.answered / elapsed),
        "gateway_readings_per_s": round((stats.minute_readings + stats.hourly_readings) / elapsed),
        "unanswered": len(stats.unanswered),
    }


def main(mines: int = 50, minutes: int = 20) -> None:
    result = run(mines, minutes)
    print(f"decode (framing, CRC, parse, map, encode), one core: {result['decode_frames_per_s']:,} frames/s "
          f"({result['decode_us_per_frame']} µs a frame)")  # fmt: skip
    print(f"gateway with Tansu, {result['loggers']} loggers waiting for each 9014: "
          f"{result['gateway_frames_per_s']:,} frames/s answered ({result['gateway_readings_per_s']:,} readings/s; "
          f"{result['gateway_frames']:,} frames in {result['gateway_seconds']} s)")  # fmt: skip
    print(json.dumps(result))
