"""Flow control: tell the publishers to pause while minewatch's backlog is too large.

MQTT gives a broker no way to slow a QoS 1 publisher: Mosquitto acknowledges every PUBLISH on
receipt and, once a subscriber's queue passes ``max_queued_bytes``, drops what follows without
telling anyone (eclipse-mosquitto/mosquitto#3687). So the backlog is measured where it builds up
and the publishers are told, on one retained topic (:data:`minewatch.topics.FLOW_TOPIC`):

* ``broker_messages``: what the broker holds (``$SYS/broker/store/messages/count``: messages
  queued for the bridge's durable session, plus retained ones);
* ``kafka_records``: telemetry records in Kafka the workers have not committed yet.

With hysteresis, so the state does not flap::

    pause  when broker_messages ≥ high_messages  or  kafka_records ≥ high_records
    go     when broker_messages ≤ low_messages  and  kafka_records ≤ low_records

A publisher that honours it keeps its readings while paused (an online monitor's data logger
already does; HJ 212-2017 has commands to re-send history) and sends them on ``go``. A pause
carries ``until``: the bridge renews it while the backlog lasts, and a publisher treats a
pause that was not renewed as over, so a bridge that died cannot silence the province.

>>> flow = FlowControl(high_messages=100, low_messages=10, high_records=50, low_records=5)
>>> flow.update(Backlog(broker_messages=20, kafka_records=3), now=0.0)
>>> pause = flow.update(Backlog(broker_messages=150, kafka_records=3), now=1.0)
>>> pause.state, pause.until, pause.reason[:32]
('pause', 16.0, 'MQTT broker holds 150 messages (')
>>> flow.update(Backlog(broker_messages=40, kafka_records=3), now=2.0)      # between the marks: still paused
>>> flow.update(Backlog(broker_messages=40, kafka_records=3), now=6.0).until  # ... and the pause renewed
21.0
>>> flow.update(Backlog(broker_messages=8, kafka_records=4), now=7.0).state
'go'
>>> signal = FlowSignal.decode(FlowSignal("pause", "the broker holds 150 messages", until=1000.0).encode())
>>> signal.paused(now=999.0), signal.paused(now=1001.0)
(True, False)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import orjson

from minewatch.settings import Settings

FlowState = Literal["go", "pause"]
FLOW_SCHEMA = "minewatch/flow/v1"
PAUSE_TTL_S = 15.0  # a pause not renewed within this is over
RENEW_EVERY_S = 5.0
# Workers' Kafka backlog that pauses the publishers, and lets them go, in seconds of the stream at
# full speed (Settings.records_over turns them into records).
HIGH_RECORDS_S = 6.25
LOW_RECORDS_S = 3.125


@dataclass(frozen=True, slots=True)
class Backlog:
    """What is waiting to be stored; None where it could not be measured."""

    broker_messages: int | None
    kafka_records: int | None


@dataclass(frozen=True, slots=True)
class FlowSignal:
    """What the bridge publishes on the flow topic (retained)."""

    state: FlowState
    reason: str
    until: float | None = None  # epoch seconds; a pause ends then unless renewed

    def paused(self, now: float) -> bool:
        return self.state == "pause" and (self.until is None or now < self.until)

    def encode(self) -> bytes:
        return orjson.dumps({"schema": FLOW_SCHEMA, "state": self.state, "reason": self.reason, "until": self.until})

    @classmethod
    def decode(cls, payload: bytes) -> FlowSignal:
        """A signal from the flow topic; anything unreadable counts as ``go`` (never silence a mine by mistake)."""
        try:
            doc = orjson.loads(payload)
            state = doc["state"]
            until = doc.get("until")
            if state in ("go", "pause") and (until is None or isinstance(until, (int, float))):
                return cls(state, str(doc.get("reason", "")), None if until is None else float(until))
        except (orjson.JSONDecodeError, KeyError, TypeError):
            pass
        return cls("go", "unreadable flow signal")


class FlowControl:
    """Pause/go with hysteresis over the backlog (see the module docstring).

    The default marks keep a few seconds of work waiting at full speed (a QoS 1 message holds
    about ten readings; a Kafka record, the messages of one partition over 50 ms), so the
    pipeline never idles while publishers are paused, and the broker never holds more than a
    few hundred megabytes (messages arriving while the pause propagates included). The Kafka
    lag is read each second from offsets the workers commit each second, and the publishers
    need a second more to refill the pipeline: with "go" at 300 records of ~12 messages the worker
    ran dry for seconds in every cycle of the overload benchmark; at 1,200 it did not. A record
    holds one partition's messages over the bridge's linger, so the record marks are sized in
    seconds of the stream at full speed (:meth:`sized_for`): 250 and 125 records at 2 partitions.
    """

    def __init__(
        self,
        *,
        high_messages: int = 20_000,
        low_messages: int = 5_000,
        high_records: int = Settings().records_over(HIGH_RECORDS_S),
        low_records: int = Settings().records_over(LOW_RECORDS_S),
        pause_ttl_s: float = PAUSE_TTL_S,
        renew_every_s: float = RENEW_EVERY_S,
    ) -> None:
        if not (low_messages < high_messages and low_records < high_records):
            raise ValueError("each low mark must be below its high mark")
        self.high_messages, self.low_messages = high_messages, low_messages
        self.high_records, self.low_records = high_records, low_records
        self.pause_ttl_s, self.renew_every_s = pause_ttl_s, renew_every_s
        self.state: FlowState = "go"
        self._paused_at = float("-inf")  # when the current pause was last sent

    @classmethod
    def sized_for(cls, settings: Settings) -> FlowControl:
        """The default marks, the Kafka ones for ``settings``' partitions."""
        return cls(high_records=settings.records_over(HIGH_RECORDS_S), low_records=settings.records_over(LOW_RECORDS_S))

    def update(self, backlog: Backlog, now: float) -> FlowSignal | None:
        """The signal to publish at ``now``, if any: when the state changes, and every
        ``renew_every_s`` while paused (each pause lasting ``pause_ttl_s`` from when it is sent)."""
        messages = backlog.broker_messages or 0
        records = backlog.kafka_records or 0
        if self.state == "go" and (messages >= self.high_messages or records >= self.high_records):
            self.state = "pause"
        elif self.state == "pause" and messages <= self.low_messages and records <= self.low_records:
            self.state = "go"
            return FlowSignal("go", self.describe(backlog))
        elif self.state == "go" or now - self._paused_at < self.renew_every_s:
            return None
        self._paused_at = now
        return FlowSignal("pause", self.describe(backlog), until=now + self.pause_ttl_s)

    def describe(self, backlog: Backlog) -> str:
        """The backlog in words, for the signal's reason and the log."""
        return (
            f"MQTT broker holds {_count(backlog.broker_messages)} messages (pause at {self.high_messages:,},"
            f" go at {self.low_messages:,}); Kafka holds {_count(backlog.kafka_records)} unstored telemetry"
            f" records (pause at {self.high_records:,}, go at {self.low_records:,})"
        )


def _count(n: int | None) -> str:
    return "an unknown number of" if n is None else f"{n:,}"
