"""The fault drill: a known set of readings through the real stack while a fault is inflicted.

Each drill publishes ``messages`` telemetry messages over MQTT (QoS 1) at ``rate`` per second,
plus one pH reading over GB 8978's instantaneous limit (one condition, so exactly one alert),
and inflicts its fault when ``fault_at`` of the messages are out:

========================  =========================================================================
``bridge-kill``           SIGKILL the ingest bridge, start it again
``worker-kill``           SIGKILL the Faust worker, start it again
``db-connections``        terminate every database connection of minewatch's processes, three
                          times in two seconds (writes in flight are cut mid-transaction)
``db-outage``             refuse all connections to the database for ``outage_s`` (terminated,
                          and ``ALLOW_CONNECTIONS false``), then let them back
``mqtt-restart``          stop Mosquitto (its persistence file keeps the bridge's session and
                          queued messages) and start it again
``kafka-pause``           freeze the Kafka broker (SIGSTOP) for ``outage_s``, then let it run
========================  =========================================================================

then waits for the pipeline to settle and compares the database with what was published:
``lost`` (published, not stored), ``unexpected`` (stored, not published), ``doubled`` (stored
twice) and the alerts raised for the condition. While it runs it samples the resident memory of
every minewatch process, so a drill also shows that backpressure keeps memory bounded.

Restarting the embedded Kafka (Tansu with memory storage) loses every topic and offset, so it
is not among the drills: the embedded stack survives a broker that stops answering, not one that
forgets. docker-compose.yml's Apache Kafka keeps its log on a volume and survives restarts.

Run ``minewatch faults`` (all drills on a fresh embedded stack) or see
tests/integration/test_faults.py.
"""

from __future__ import annotations

import contextlib
import json
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

import psycopg
from psycopg import sql

from minewatch.brokerconfig import SIMULATOR_USER
from minewatch.metrics import scrape
from minewatch.processmeter import ProcessMeter
from minewatch.registry import Registry
from minewatch.services import KafkaBroker, MqttBroker
from minewatch.stack import MinewatchProcesses, Services, infrastructure
from simulators.fleet import generate_fleet
from simulators.malformed import good_mqtt
from simulators.publisher import Publisher
from simulators.telemetry import beijing_iso, exceedance_target, telemetry_payload
from storage.migrate import admin_and_name, scratch_database
from storage.readings import ReadingKey, readings_around

FAULTS = ("bridge-kill", "worker-kill", "db-connections", "db-outage", "mqtt-restart", "kafka-pause")


@dataclass
class DrillResult:
    fault: str
    published_messages: int
    published_readings: int
    stored_readings: int
    lost: int
    unexpected: int
    doubled: int
    alerts: int  # alerts raised for the drill's one condition (must be 1)
    settle_s: float  # from the last publish to the last reading stored
    peak_rss_mb: dict[str, float] = field(default_factory=dict)
    peak_unacknowledged: int = 0  # MQTT messages the bridge held without acknowledging them
    restarts: list[str] = field(default_factory=list)  # processes that died and were not killed by us

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.unexpected == 0 and self.doubled == 0 and self.alerts == 1 and not self.restarts

    def line(self) -> str:
        rss = ", ".join(f"{k} {v:.0f}" for k, v in sorted(self.peak_rss_mb.items()))
        return (
            f"{self.fault:15s} {'ok' if self.ok else 'FAILED':6s} published {self.published_readings:>7,} "
            f"stored {self.stored_readings:>7,}  lost {self.lost}  unexpected {self.unexpected}  "
            f"doubled {self.doubled}  alerts {self.alerts}  settled {self.settle_s:5.1f} s  "
            f"restarts {self.restarts or 'none'}  bridge unacknowledged ≤ {self.peak_unacknowledged}  "
            f"peak RSS MB: {rss}"
        )


@dataclass
class Drill:
    """A running stack to drill: its services, processes and brokers."""

    services: Services
    processes: MinewatchProcesses
    mqtt: MqttBroker
    kafka: KafkaBroker
    registry: Registry
    outage_s: float = 8.0
    used_targets: set[str] = field(default_factory=set)
    _round: int = 0

    def run(self, fault: str, *, messages: int = 1500, rate: float = 150.0, fault_at: float = 0.4) -> DrillResult:
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; choose from {', '.join(FAULTS)}")
        self._round += 1
        target = exceedance_target(
            self.registry,
            0.0,
            0.0,
            parameter="w01001",
            basis="instantaneous",
            factor=1.1,
            skip=frozenset(self.used_targets),
        )
        self.used_targets.add(target.mine_id)
        others = Registry({m.id: m for m in self.registry if m.id != target.mine_id})
        now = time.time()
        # An event-time range of its own per drill, a second per message, all in the past.
        start = float(int(now) - 86400 * self._round - messages - 600)
        plan = good_mqtt(others, [start + i for i in range(messages)], seed=self._round)
        condition_t = float(int(now) - 5)
        condition = _ph_message(target.mine_id, target.station_id, condition_t, 9.9)
        condition_key = (target.mine_id, target.station_id, "w01001", condition_t)
        expected = {key for message in plan for key in message.keys}

        unacknowledged = [0]

        def read_bridge_gauge() -> None:
            value = scrape(self.processes.metrics_ports["bridge"], "minewatch_bridge_messages_unacknowledged", 1.0)
            unacknowledged[0] = max(unacknowledged[0], int(value or 0))

        meter = ProcessMeter(on_sample=read_bridge_gauge)
        for process in self.processes.processes:
            if process.proc is not None:
                meter.add(process.name, process.proc.pid)
        meter.start()
        publisher = Publisher(self.services.mqtt_endpoint(SIMULATOR_USER), client_id=f"drill-{fault}-{self._round}")
        killed: set[str] = set()
        with publisher:
            fault_index = int(messages * fault_at)
            interval = 1.0 / rate
            t0 = time.monotonic()
            inflicting = threading.Thread(target=lambda: killed.update(self._inflict(fault)), name="fault")
            for i, message in enumerate(plan):
                if i == messages // 2:
                    publisher.publish(*condition)
                if i == fault_index:  # publishing goes on while the fault lasts
                    inflicting.start()
                delay = t0 + i * interval - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                publisher.publish(message.topic, message.payload, len(message.keys))
            inflicting.join()
            if not publisher.wait_acked(120):
                raise RuntimeError(f"{fault}: the MQTT broker did not acknowledge every message in 120 s")
            published_at = time.monotonic()
            restarts = self._settle(expected, killed)
            settle_s = time.monotonic() - published_at
        usage = meter.stop()
        rows = _stored(self.services.db_url, expected)
        stored, doubled = set(rows), len(rows) - len(set(rows))
        condition_stored = set(_stored(self.services.db_url, {condition_key})) == {condition_key}
        alerts = _alerts_for(self.services.db_url, target.mine_id)
        return DrillResult(
            fault=fault,
            published_messages=publisher.published_messages,
            published_readings=publisher.published_readings,
            stored_readings=len(stored & expected) + condition_stored,
            lost=len(expected - stored),
            unexpected=len(stored - expected),
            doubled=doubled,
            alerts=alerts,
            settle_s=round(settle_s - (_SETTLE_GRACE_S if settle_s > _SETTLE_GRACE_S else 0.0), 1),
            peak_rss_mb={name: figures["peak_rss_mb"] for name, figures in usage.items()},
            peak_unacknowledged=unacknowledged[0],
            restarts=restarts,
        )

    def _inflict(self, fault: str) -> set[str]:
        processes = self.processes
        if fault == "bridge-kill":
            processes.bridge.kill()
            time.sleep(0.5)
            processes.bridge.start()
            return {"bridge"}
        if fault == "worker-kill":
            processes.worker.kill()
            time.sleep(0.5)
            processes.worker.start()
            return {"worker"}
        if fault == "db-connections":
            for _ in range(3):
                terminate_connections(self.services.db_url)
                time.sleep(0.7)
            return set()
        if fault == "db-outage":
            with connections_refused(self.services.db_url):
                time.sleep(self.outage_s)
            return set()
        if fault == "mqtt-restart":
            self.mqtt.restart()
            return set()
        if fault == "kafka-pause":
            self.kafka.process.signal(signal.SIGSTOP)
            try:
                time.sleep(self.outage_s)
            finally:
                self.kafka.process.signal(signal.SIGCONT)
            return set()
        raise AssertionError(fault)

    def _settle(
        self, expected: set[tuple[str, str, str, float]], killed: set[str], timeout_s: float = 120.0
    ) -> list[str]:
        """Wait until every expected reading is stored (or ``timeout_s``); restart what died on its own."""
        restarts: list[str] = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            restarts += [name for name in self.processes.supervise() if name not in killed]
            if expected <= set(_stored(self.services.db_url, expected)):
                break
            time.sleep(1.0)
        time.sleep(_SETTLE_GRACE_S)  # late duplicates, and the alert's judge, have a moment to show
        return restarts


_SETTLE_GRACE_S = 2.0


def _ph_message(mine_id: str, station_id: str, t: float, value: float) -> tuple[str, bytes, int]:
    from minewatch.topics import telemetry_topic

    reading = {"parameter": "w01001", "value": value, "unit": "dimensionless", "flag": "N"}
    payload = telemetry_payload(
        mine_id, station_id, "wastewater", beijing_iso(t), [reading], f"drill-ph-{mine_id}-{int(t)}"
    )
    return telemetry_topic(mine_id, "wastewater", station_id), json.dumps(payload).encode(), 1


def _stored(db_url: str, keys: set[ReadingKey]) -> list[ReadingKey]:
    with psycopg.connect(db_url, autocommit=True) as conn:
        return readings_around(conn, keys)


def _alerts_for(db_url: str, mine_id: str) -> int:
    with psycopg.connect(db_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM alert_history h JOIN alerts a USING (alert_id)"
            " WHERE a.mine_id = %s AND a.category = 'emission_exceedance' AND h.action IN ('fire', 'reopen')",
            (mine_id,),
        ).fetchone()
    return int(row[0]) if row else 0


def terminate_connections(db_url: str) -> int:
    admin, name = admin_and_name(db_url)
    with psycopg.connect(admin, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        ).fetchall()
    return len(rows)


@contextlib.contextmanager
def connections_refused(db_url: str) -> Iterator[None]:
    admin, name = admin_and_name(db_url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(sql.Identifier(name)))
        try:
            terminate_connections(db_url)
            yield
        finally:
            conn.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true").format(sql.Identifier(name)))


@contextlib.contextmanager
def drill_stack(run_dir: Path, registry: Registry, db_url: str | None, outage_s: float = 8.0) -> Iterator[Drill]:
    """A stack of its own (database, Kafka, Mosquitto, minewatch's processes) to inflict faults on."""
    with infrastructure(run_dir, registry, partitions=4, db_url=db_url, webhook_urls=()) as (services, mqtt, kafka):
        if not services.mqtt_auth:
            raise RuntimeError("the fault drill needs Mosquitto (persistence, accounts) on PATH")
        with MinewatchProcesses(services) as processes:
            yield Drill(services, processes, mqtt, kafka, registry, outage_s)


def run(
    faults: tuple[str, ...],
    *,
    mines: int,
    messages: int,
    rate: float,
    outage_s: float,
    run_dir: Path,
    db_url: str | None,
    out: TextIO,
) -> list[DrillResult]:
    """Every drill in ``faults`` on one fresh stack; prints a line per drill and a JSON summary."""
    registry = generate_fleet(max(mines, 2 * len(faults) + 4), seed=7)
    results = []
    with (
        scratch_database(db_url, "minewatch_faults") as scratch,
        drill_stack(run_dir, registry, scratch, outage_s) as drill,
    ):
        for fault in faults:
            out.write(f"drill {fault}: {messages} messages at {rate:.0f}/s ...\n")
            out.flush()
            result = drill.run(fault, messages=messages, rate=rate)
            results.append(result)
            out.write(result.line() + "\n")
            out.flush()
    summary: dict[str, Any] = {
        "drills": [asdict(r) | {"ok": r.ok} for r in results],
        "lost": sum(r.lost for r in results),
        "doubled": sum(r.doubled for r in results),
        "ok": all(r.ok for r in results),
    }
    out.write(json.dumps(summary) + "\n")
    return results
