"""Simulated HJ 212 data loggers: a province's online monitors, talking TCP to the gateway.

Each wastewater outlet and stack with an ``hj212`` link in the registry gets a logger that
connects to the gateway and keeps its connection, sends a minute-data packet (CN 2051) per
minute of event time and an hourly packet (CN 2061) at each hour's end, split in two parts
(Flag 7, PNUM 2) the way loggers split what does not fit, waits for each 9014 answer (10 s,
three tries, as HJ 212-2017 Table 1 sets for mobile networks) and sends the next. Values come
from :class:`simulators.telemetry.TelemetrySimulator`; flags are realistic (now and then M
maintenance, C calibration, D fault). With ``fault_rate`` a logger also does what real ones do
wrong: noise before a frame, a frame cut over two TCP writes, a corrupted copy sent first.

:class:`LoggerStats` counts what a test needs to check the gateway against: the readings the
loggers sent in packets the gateway answered.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from hj212 import encode
from hj212.framing import Frame, FrameReader
from hj212.packet import parse
from minewatch.registry import Registry, Station
from simulators.fleet import simulated_password
from simulators.telemetry import TelemetrySimulator

ANSWER_TIMEOUT_S = 10.0
TRIES = 3
FLAGS = (("N", 0.994), ("M", 0.003), ("C", 0.001), ("D", 0.002))


@dataclass
class LoggerStats:
    packets: int = 0  # data packets sent (not counting retries and corrupted copies)
    answered: int = 0
    retries: int = 0
    faults: dict[str, int] = field(default_factory=dict)  # deliberate faults by kind: noise, cut, corrupt
    minute_readings: int = 0  # readings in answered minute packets
    hourly_readings: int = 0  # readings in answered hourly packets
    unanswered: list[str] = field(default_factory=list)

    def add(self, other: LoggerStats) -> None:
        for name in ("packets", "answered", "retries", "minute_readings", "hourly_readings"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for kind, n in other.faults.items():
            self.faults[kind] = self.faults.get(kind, 0) + n
        self.unanswered += other.unanswered


@dataclass
class Logger:
    """One station's data logger."""

    mine_id: str
    station: Station
    mn: str
    pw: str
    rng: random.Random
    values: TelemetrySimulator
    fault_rate: float = 0.0
    crc_variant: str = "hj212"  # what its firmware computes (a legacy logger may send Modbus's)
    _hour: dict[str, list[float]] = field(default_factory=dict)

    @property
    def st(self) -> str:
        return "32" if self.station.kind == "wastewater" else "31"

    def _flag(self) -> str:
        return self.rng.choices([f for f, _ in FLAGS], weights=[w for _, w in FLAGS])[0]

    def minute_packet(self, t: float) -> tuple[bytes, int]:
        """The 2051 packet of the minute starting at ``t`` and its number of readings."""
        groups = []
        for r in self.values.station_readings(self.mine_id, self.station, t):
            value = r["value"]
            self._hour.setdefault(r["parameter"], []).append(value)
            code = r["parameter"]
            groups.append(
                [
                    (f"{code}-Min", f"{value * 0.97:.4f}"),
                    (f"{code}-Avg", f"{value:.4f}"),
                    (f"{code}-Max", f"{value * 1.03:.4f}"),
                    (f"{code}-Flag", self._flag()),
                ]
            )
        now = datetime.fromtimestamp(t, UTC)
        cp = encode.data_area(encode.stamp(now), groups)
        segment = encode.segment(cn="2051", st=self.st, mn=self.mn, pw=self.pw, cp=cp, qn_text=encode.qn(now), flag=5)
        return encode.frame(segment, self.crc_variant), len(groups)

    def hourly_packets(self, hour_start: float) -> tuple[list[bytes], int]:
        """The 2061 packet of the hour starting at ``hour_start``, split in two parts (Flag 7)."""
        codes = sorted(self._hour)
        groups = []
        for code in codes:
            values = self._hour[code]
            mean = sum(values) / len(values)
            groups.append(
                [
                    (f"{code}-Min", f"{min(values):.4f}"),
                    (f"{code}-Avg", f"{mean:.4f}"),
                    (f"{code}-Max", f"{max(values):.4f}"),
                    (f"{code}-Flag", "N"),
                ]
            )
        self._hour.clear()
        if not groups:
            return [], 0
        start = datetime.fromtimestamp(hour_start, UTC)
        halves = [groups[: len(groups) // 2 or 1], groups[len(groups) // 2 or 1 :]]
        halves = [h for h in halves if h]
        frames = []
        for number, half in enumerate(halves, start=1):
            sent = datetime.fromtimestamp(hour_start + 3600 + number / 1000, UTC)
            segment = encode.segment(
                cn="2061", st=self.st, mn=self.mn, pw=self.pw, cp=encode.data_area(encode.stamp(start), half),
                qn_text=encode.qn(sent), flag=7 if len(halves) > 1 else 5,
                pnum=len(halves) if len(halves) > 1 else None, pno=number if len(halves) > 1 else None,
            )  # fmt: skip
            frames.append(encode.frame(segment, self.crc_variant))
        return frames, len(groups)


def loggers(registry: Registry, seed: int = 0, fault_rate: float = 0.0) -> list[Logger]:
    values = TelemetrySimulator(registry, seed=seed)
    rng = random.Random(seed)
    out = []
    for mine in registry:
        for station in mine.stations.values():
            if station.hj212 is not None:
                link = station.hj212
                out.append(
                    Logger(mine.id, station, link.mn, simulated_password(link.mn), random.Random(rng.random()), values,
                           fault_rate, link.crc)
                )  # fmt: skip
    return out


async def _send(
    writer: asyncio.StreamWriter,
    reader: asyncio.StreamReader,
    frames_in: FrameReader,
    logger: Logger,
    frame: bytes,
    stats: LoggerStats,
) -> bool:
    """Send one packet and wait for its 9014 answer (three tries); True when answered."""
    qn = parse(frame[6:-6]).qn
    rng = logger.rng
    for attempt in range(TRIES):
        if attempt:
            stats.retries += 1
        if logger.fault_rate and rng.random() < logger.fault_rate:
            fault = rng.choice(("noise", "cut", "corrupt"))
            stats.faults[fault] = stats.faults.get(fault, 0) + 1
            if fault == "noise":
                writer.write(b"AT+CSQ\r\n\x00\xff")
            elif fault == "corrupt":
                spoiled = bytearray(frame)
                spoiled[len(frame) // 2] ^= 0x01  # one bit flipped on the line
                writer.write(bytes(spoiled))
            else:
                writer.write(frame[:17])
                await writer.drain()
                await asyncio.sleep(0.005)
                writer.write(frame[17:])
                await writer.drain()
                if await _answer(reader, frames_in, qn):
                    return True
                continue
        writer.write(frame)
        await writer.drain()
        if await _answer(reader, frames_in, qn):
            return True
    stats.unanswered.append(qn or "")
    return False


async def _answer(reader: asyncio.StreamReader, frames_in: FrameReader, qn: str | None) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ANSWER_TIMEOUT_S
    while True:
        left = deadline - loop.time()
        if left <= 0:
            return False
        try:
            data = await asyncio.wait_for(reader.read(4096), left)
        except TimeoutError:
            return False
        if not data:
            return False
        for item in frames_in.feed(data):
            if isinstance(item, Frame):
                answer = parse(item.segment)
                if answer.cn == "9014" and answer.qn == qn:
                    return True


async def run_logger(
    host: str, port: int, logger: Logger, minutes: Iterable[float], pace_s: float = 0.0
) -> LoggerStats:
    """Play ``logger`` over ``minutes`` (start times, unix s): a minute packet each, an hourly at each hour's end."""
    stats = LoggerStats()
    reader, writer = await asyncio.open_connection(host, port)
    frames_in = FrameReader()
    try:
        for t in minutes:
            frame, n = logger.minute_packet(t)
            stats.packets += 1
            if await _send(writer, reader, frames_in, logger, frame, stats):
                stats.answered += 1
                stats.minute_readings += n
            if (t + 60) % 3600 == 0:
                parts, n = logger.hourly_packets(t + 60 - 3600)
                answered = 0
                for part in parts:
                    stats.packets += 1
                    if await _send(writer, reader, frames_in, logger, part, stats):
                        stats.answered += 1
                        answered += 1
                if parts and answered == len(parts):
                    stats.hourly_readings += n
            if pace_s:
                await asyncio.sleep(pace_s)
    finally:
        writer.close()
    return stats


async def run_fleet(
    host: str, port: int, fleet: list[Logger], minutes: list[float], pace_s: float = 0.0
) -> LoggerStats:
    """Every logger at once, each on its own connection."""
    total = LoggerStats()
    for stats in await asyncio.gather(*(run_logger(host, port, lg, minutes, pace_s) for lg in fleet)):
        total.add(stats)
    return total
