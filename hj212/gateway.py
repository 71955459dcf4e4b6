"""The HJ 212 gateway: the mines' online monitors over TCP in, minewatch telemetry into Kafka.

An asyncio TCP server; each connection is one data logger (the device is the TCP client and
keeps the connection open). Per frame (``hj212/framing.py``):

1. parse it (``packet.py``) and find the device by its MN in the registry;
2. check the CRC: HJ 212's own, or the variant the registry says this device's legacy firmware
   sends (accepted, counted, and its readings marked ``origin = 'hj212 legacy-crc:<variant>'``);
   any other CRC is refused, no answer (HJ 212: "if the
   CRC is wrong, execution ends"), the device sends again;
3. authenticate: the MN must be registered and the PW must match (only its SHA-256 is kept);
   failures are refused without an answer, logged without the password, and a connection
   that fails three times is closed;
4. data (2011 real-time, 2051 minute, 2061 hourly, 2031 daily) become a telemetry message for
   the device's own station (``mapping.py``) and go **straight to Kafka**, on the same topic,
   in the same batch records, as the MQTT bridge's: the worker cannot tell them apart. The
   9014 answer a device asks for (Flag bit A) is sent only once Kafka has the record: a device
   that gets no answer sends again, and the database's reading identity absorbs the repeat,
   so nothing is lost or doubled. Each part of a split transfer is a complete packet with the
   same DataTime; each is forwarded and answered on its own (answering a part before its data
   is durable would lose it in a crash), and the reassembler tracks whole transfers;
5. 1013 (the device asks for the time) is answered with 9013 and 1012 (set time); other
   commands asking for an answer get 9014; unknown commands are counted, not fatal.

Everything refused goes to the dead-letter topic with the raw bytes and a reason the operator
can act on, and is counted. A connection holds at most ``max_buffer`` bytes, is closed after
``idle_timeout_s`` of silence, and at most ``max_connections`` are served at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson
from confluent_kafka import KafkaError, Message, Producer
from prometheus_client import Counter, Gauge

from hj212 import encode
from hj212.framing import Frame, FrameReader, Garbage
from hj212.mapping import DATA_COMMANDS, Binding, MappingError, to_telemetry
from hj212.packet import Packet, PacketError, parse
from hj212.profiles import profile_for
from hj212.reassembly import Reassembler
from ingest.validation import DEFAULT_MAX_AGE_S, DEFAULT_MAX_FUTURE_S
from minewatch.records import dead_letter, telemetry_batch
from minewatch.registry import Hj212Link, Registry
from minewatch.topics import KafkaTopics

log = logging.getLogger("minewatch.hj212")

FRAMES = Counter("minewatch_hj212_frames_total", "HJ 212 frames received", ["cn"])
REJECTED = Counter("minewatch_hj212_rejected_total", "HJ 212 frames and bytes dead-lettered", ["reason"])
READINGS = Counter("minewatch_hj212_readings_total", "Readings forwarded from HJ 212 data packets")
LEGACY_CRC = Counter("minewatch_hj212_legacy_crc_total", "Frames accepted with a registered legacy CRC", ["variant"])
UNKNOWN_FLAGS = Counter("minewatch_hj212_unknown_flags_total", "Data flags no HJ 212 version defines (stored as D)")
TRANSFERS = Counter("minewatch_hj212_split_transfers_total", "Split transfers seen", ["outcome"])
CONNECTIONS = Gauge("minewatch_hj212_connections", "Open device connections")
REFUSED_CONNECTIONS = Counter("minewatch_hj212_connections_refused_total", "Connections over the limit")
ERRORS = Counter("minewatch_hj212_connection_errors_total", "Connections closed by an unexpected error")
ANSWERS = Counter("minewatch_hj212_answers_total", "Answers sent to devices", ["cn"])


@dataclass(frozen=True)
class GatewayLimits:
    max_connections: int = 5000
    idle_timeout_s: float = 600.0  # a logger sends minute data; ten silent minutes is a dead link
    max_buffer: int = 64 * 1024
    max_auth_failures: int = 3
    reassembly_timeout_s: float = 120.0
    max_future_s: float = DEFAULT_MAX_FUTURE_S
    max_age_s: float = DEFAULT_MAX_AGE_S


@dataclass(frozen=True)
class Device:
    mine_id: str
    station_id: str
    link: Hj212Link
    binding: Binding


def directory(registry: Registry) -> dict[str, Device]:
    """Every registered HJ 212 device by MN."""
    out = {}
    for mine in registry:
        for station in mine.stations.values():
            if station.hj212 is None or station.kind not in ("wastewater", "emission"):
                continue
            units = {s.parameter: s.unit for s in station.sensors}
            binding = Binding(mine.id, station.id, station.kind, units, station.hj212.min_interval_min * 60)
            out[station.hj212.mn] = Device(mine.id, station.id, station.hj212, binding)
    return out


def password_matches(link: Hj212Link, pw: str | None) -> bool:
    given = hashlib.sha256((pw or "").encode()).hexdigest()
    return hmac.compare_digest(given, link.pw_sha256)


class KafkaSink:
    """A confluent-kafka producer for asyncio: ``await send(...)`` returns once Kafka has the record."""

    def __init__(self, bootstrap: str, client_id: str) -> None:
        self.producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "client.id": client_id,
                "acks": "all",
                "linger.ms": 5,
                "message.timeout.ms": 30000,
            }
        )
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="hj212-kafka-poll", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.producer.poll(0.05)

    async def send(self, topic: str, key: bytes, value: bytes) -> None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def delivered(err: KafkaError | None, msg: Message) -> None:
            def settle() -> None:
                if done.done():
                    return
                if err is None:
                    done.set_result(None)
                else:
                    done.set_exception(RuntimeError(f"Kafka did not take the record: {err}"))

            loop.call_soon_threadsafe(settle)

        while True:
            try:
                self.producer.produce(topic, value=value, key=key, on_delivery=delivered)
                break
            except BufferError:
                await asyncio.sleep(0.01)
        await done

    def close(self) -> None:
        self.producer.flush(10)
        self._stop.set()
        self._poller.join(2)


@dataclass
class _Connection:
    peer: str
    reader: FrameReader
    transfers: Reassembler
    auth_failures: int = 0
    devices: set[str] = field(default_factory=set)


class Gateway:
    def __init__(
        self,
        registry: Registry,
        sink: KafkaSink,
        limits: GatewayLimits | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.devices = directory(registry)
        self.sink = sink
        self.limits = limits or GatewayLimits()
        self.clock = clock
        self.active = 0
        self.frames = 0

    async def serve(self, host: str, port: int) -> asyncio.Server:
        return await asyncio.start_server(self.handle, host, port, limit=self.limits.max_buffer)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = "{}:{}".format(*writer.get_extra_info("peername")[:2])
        if self.active >= self.limits.max_connections:
            REFUSED_CONNECTIONS.inc()
            writer.close()
            return
        self.active += 1
        CONNECTIONS.inc()
        conn = _Connection(peer, FrameReader(self.limits.max_buffer), Reassembler(self.limits.reassembly_timeout_s))
        try:
            while conn.auth_failures < self.limits.max_auth_failures:
                try:
                    data = await asyncio.wait_for(reader.read(16384), self.limits.idle_timeout_s)
                except TimeoutError:
                    log.info("%s silent for %.0f s; closing", peer, self.limits.idle_timeout_s)
                    break
                if not data:
                    break
                for item in conn.reader.feed(data):
                    for answer in await self._item(conn, item):
                        writer.write(answer)
                for expired in conn.transfers.expire(self.clock()):
                    TRANSFERS.labels("incomplete").inc()
                    log.warning("%s: split transfer incomplete: %s", peer, expired.packet.problems[-1])
                await writer.drain()
        except (ConnectionError, OSError) as exc:
            log.info("%s: connection lost (%s)", peer, exc)
        except Exception:  # one connection's failure must not take the gateway down
            ERRORS.inc()
            log.exception("%s: closing the connection after an error; unanswered data will be sent again", peer)
        finally:
            try:
                for item in conn.reader.close():
                    await self._item(conn, item)
            except Exception:
                log.exception("%s: could not dead-letter what the connection left behind", peer)
            self.active -= 1
            CONNECTIONS.dec()
            writer.close()

    async def _item(self, conn: _Connection, item: Frame | Garbage) -> list[bytes]:
        if isinstance(item, Garbage):
            await self._reject(conn, item.raw, "hj212_framing", item.reason, None)
            return []
        self.frames += 1
        try:
            packet = parse(item.segment)
        except PacketError as exc:
            await self._reject(conn, item.raw, "hj212_not_a_packet", str(exc), None)
            return []
        FRAMES.labels(packet.cn or "").inc()
        device = self.devices.get(packet.mn or "")
        verdict = item.crc_check
        legacy = device is not None and device.link.crc != "hj212" and verdict.variant == device.link.crc
        if not verdict.ok and not legacy:
            await self._reject(conn, item.raw, "hj212_crc", verdict.reason(), device and device.mine_id)
            return []
        if legacy:
            LEGACY_CRC.labels(verdict.variant or "").inc()
        if device is None:
            conn.auth_failures += 1
            await self._reject(
                conn, item.raw, "hj212_unknown_device",
                f"MN {packet.mn!r} is not registered: register the device (station hj212.mn) first", None,
            )  # fmt: skip
            return []
        if not password_matches(device.link, packet.pw):
            conn.auth_failures += 1
            log.warning("%s: wrong password for MN %s (%s/%s)", conn.peer, packet.mn, device.mine_id, device.station_id)
            await self._reject(
                conn, _without_password(item.raw, packet.pw), "hj212_wrong_password",
                f"the password (PW) sent by MN {packet.mn} does not match the registry", device.mine_id,
            )  # fmt: skip
            return []
        if packet.mn not in conn.devices and packet.version.startswith("unknown"):
            log.warning("%s: MN %s: Flag version %s, read as HJ 212-2017", conn.peer, packet.mn, packet.version)
        conn.devices.add(packet.mn or "")
        if packet.cn in DATA_COMMANDS:
            if not await self._data(conn, item, packet, device, verdict.variant if legacy else None):
                return []
        elif packet.cn == "1013":  # the device asks for the time: answer, then set it
            now = datetime.fromtimestamp(self.clock(), UTC)
            ANSWERS.labels("9013").inc()
            ANSWERS.labels("1012").inc()
            return [
                encode.notify_answer(qn=packet.qn, pw=packet.pw, mn=packet.mn),
                encode.set_time(now=now, pw=packet.pw, mn=packet.mn),
            ]
        elif packet.cn in ("9011", "9012", "9013", "9014"):
            return []  # answers to the host's own requests
        if packet.needs_reply:
            ANSWERS.labels("9014").inc()
            return [encode.data_answer(qn=packet.qn, pw=packet.pw, mn=packet.mn, version=packet.version)]
        return []

    async def _data(self, conn: _Connection, frame: Frame, packet: Packet, device: Device, legacy: str | None) -> bool:
        """Forward a data packet; True when the device may be answered (Kafka has it, or it was dead-lettered)."""
        if packet.is_split:
            whole = conn.transfers.add(packet, self.clock())
            if whole is not None:
                TRANSFERS.labels("complete").inc()
        try:
            mapped = to_telemetry(packet, device.binding, profile_for(packet))
        except MappingError as exc:
            await self._reject(conn, frame.raw, "hj212_unusable_data", str(exc), device.mine_id)
            return True  # it will not get better by being sent again
        now = self.clock()
        t = datetime.fromisoformat(mapped.message["ts"]).timestamp()
        if t - now > self.limits.max_future_s:
            await self._reject(
                conn, frame.raw, "timestamp_in_future",
                f"DataTime {packet.data_time} (Beijing time) is {t - now:.0f} s ahead of minewatch's clock; "
                "set the data logger's clock (it can ask with CN 1013)", device.mine_id,
            )  # fmt: skip
            return True
        if now - t > self.limits.max_age_s:
            await self._reject(
                conn, frame.raw, "timestamp_too_old", f"DataTime {packet.data_time} is older than back-fill allows",
                device.mine_id,
            )  # fmt: skip
            return True
        if mapped.unknown_flags:
            UNKNOWN_FLAGS.inc(len(mapped.unknown_flags))
        origin = "hj212" if legacy is None else f"hj212 legacy-crc:{legacy}"
        record = telemetry_batch(now, [orjson.dumps({**mapped.message, "origin": origin})])
        await self.sink.send(KafkaTopics.TELEMETRY, device.mine_id.encode(), record)
        READINGS.inc(len(mapped.message["readings"]))
        return True

    async def _reject(self, conn: _Connection, raw: bytes, code: str, reason: str, mine_id: str | None) -> None:
        REJECTED.labels(code).inc()
        letter = dead_letter("hj212", f"hj212://{conn.peer}", raw, code, reason, mine_id, self.clock())
        await self.sink.send(KafkaTopics.DEAD_LETTER, (mine_id or conn.peer).encode(), letter)


def _without_password(raw: bytes, pw: str | None) -> bytes:
    """The frame as received, its PW blanked: a refused password is not kept anywhere."""
    if not pw:
        return raw
    return raw.replace(f"PW={pw}".encode(), b"PW=***")
