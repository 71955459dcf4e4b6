"""The pipeline at province scale (``minewatch bench``), with baselines from the same run.

Runs the real stack on this machine (simulator → Mosquitto → bridge → Tansu → Faust worker →
PostgreSQL; alerts through the dispatcher to a local webhook receiver) and prints, as text and
as one JSON line:

* **sustained**: readings per second stored over the steady-state window (after ``warmup``),
  and readings lost (published and acknowledged by the broker, never stored);
* **latency** publish → row visible and publish → alert delivered, p50/p95/p99, from probes:
  every 0.2 s a probe station publishes one reading stamped with the time it is sent, and a
  poller notes when its row becomes visible; at even intervals over the run (at most one a
  second) a probe mine publishes a pH reading over GB 8978's range and the webhook receiver
  notes when its alert arrives. Each probe's publish time and latency are left in
  ``row_latency.tsv`` and ``alert_latency.tsv`` in the run dir;
* **CPU seconds and peak RSS** of every process (minewatch's, the brokers, the publisher);
* **baselines** on the same rows: the raw ``COPY`` rate into a copy of ``readings`` (the storage
  ceiling of this machine), and a naive ingestor (paho callback → psycopg ``executemany``,
  autocommit) fed the same messages over the same Mosquitto, with the ratios.

The load is ``mines`` mines publishing messages of ``readings_per_message`` readings (QoS 1) at
``rate`` readings per second in all (0: as fast as the publisher can), from a separate process.
"""

from __future__ import annotations

import contextlib
import json
import math
import multiprocessing
import os
import statistics
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import psycopg

from alerts.receiver import WebhookReceiver
from benchmarks.loadclient import QoS1Publisher
from minewatch.brokerconfig import SIMULATOR_USER
from minewatch.metrics import scrape
from minewatch.processmeter import ProcessMeter
from minewatch.registry import Registry
from minewatch.settings import MqttEndpoint, Settings
from minewatch.stack import MinewatchProcesses, infrastructure
from minewatch.topics import FLOW_TOPIC, telemetry_topic
from simulators.fleet import generate_fleet
from simulators.telemetry import BASELINES, beijing_iso, exceedance_target, telemetry_payload
from storage.migrate import scratch_database

BENCH_GROUPING = {"group_wait": "0s", "group_interval": "1s", "repeat_interval": "4h"}


@dataclass
class BenchOptions:
    mines: int = 800
    rate: float = 0.0  # readings per second in all; 0 = as fast as the publisher can
    duration_s: float = 60.0
    warmup_s: float = 10.0
    readings_per_message: int = 10
    partitions: int = Settings.kafka_partitions
    naive_s: float = 15.0  # how long the naive ingestor is fed
    workers: int = 1  # Faust workers in the consumer group (scale-out)
    bridges: int = 1  # bridges on the shared subscription (scale-out)
    run_dir: Path | None = None
    db_url: str | None = None


# --- the load ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """One station that publishes load: its topic and the payload prefix of its messages."""

    mine_id: str
    station_id: str
    kind: str
    parameters: tuple[tuple[str, str, float], ...]  # (code, unit, typical value)

    @property
    def topic(self) -> str:
        return telemetry_topic(self.mine_id, self.kind, self.station_id)

    def fragments(self) -> list[list[bytes]]:
        """Per parameter, seven readings (values around the typical one) with a ``%s`` for the time."""
        cached = _FRAGMENTS.get(self)
        if cached is None:
            cached = _FRAGMENTS[self] = [
                [
                    b'{"parameter":"%s","value":%r,"unit":"%s","flag":"N","ts":"%%s"}'
                    % (code.encode(), round(typical * (1.0 + 0.01 * (v - 3)), 4), unit.encode().replace(b"%", b"%%"))
                    for v in range(7)
                ]
                for code, unit, typical in self.parameters
            ]
        return cached


_FRAGMENTS: dict[Source, list[list[bytes]]] = {}


def sources(registry: Registry, exclude: set[str]) -> list[Source]:
    out = []
    for mine in registry:
        if mine.id in exclude:
            continue
        for station in mine.stations.values():
            if station.kind not in ("wastewater", "emission") or not station.sensors:
                continue
            params = tuple((s.parameter, s.unit, BASELINES.get(s.parameter, (1.0, 0.1))[0]) for s in station.sensors)
            out.append(Source(mine.id, station.id, station.kind, params))
    return out


_STAMPS: dict[float, str] = {}


def _stamp(t: float) -> str:
    """Beijing-time ISO stamps, cached: every source walks the same seconds."""
    text = _STAMPS.get(t)
    if text is None:
        if len(_STAMPS) > 100_000:
            _STAMPS.clear()
        text = _STAMPS[t] = beijing_iso(t)
    return text


def message(source: Source, t0: float, n: int, serial: int) -> bytes:
    """``n`` readings of ``source`` from ``t0``: every sensor at 1 s steps (each reading its own ts).

    >>> params = (("w01018", "mg/L", 42.0), ("w01001", "dimensionless", 7.4))
    >>> src = Source("GZ520201-0001", "WW01", "wastewater", params)
    >>> doc = __import__("json").loads(message(src, 1795651200.0, 3, 7))
    >>> [(r["parameter"], r["ts"][11:19]) for r in doc["readings"]]
    [('w01018', '08:00:00'), ('w01001', '08:00:00'), ('w01018', '08:00:01')]
    """
    k = len(source.parameters)
    fragments = source.fragments()
    readings = b",".join(fragments[i % k][(serial + i) % 7] % _stamp(t0 + i // k).encode() for i in range(n))
    return b'{"schema":"minewatch/telemetry-%s/v1","message_id":"bench-%012d","mine_id":"%s","station_id":"%s",' \
        b'"ts":"%s","readings":[%s]}' % (
            source.kind.encode(), serial, source.mine_id.encode(), source.station_id.encode(),
            _stamp(t0).encode(), readings,
        )  # fmt: skip


def publish_load(
    endpoint: MqttEndpoint,
    load: list[Source],
    readings_per_message: int,
    rate: float,
    duration_s: float,
    start_at: float,
    result: Any,
    client_id: str = "bench-load",
    max_in_flight: int = 20_000,
    flow_topic: str | None = None,
) -> None:
    """Publish QoS 1 for ``duration_s`` (run in its own process); puts (messages acknowledged by
    the broker, readings in them, messages sent, pauses, seconds paused) in ``result``.

    :class:`benchmarks.loadclient.QoS1Publisher` keeps the publisher's own cost per message to
    a few microseconds, leaving the cores to what is being measured. At most ``max_in_flight``
    messages wait for the broker's acknowledgement; with ``flow_topic`` it pauses while minewatch
    says so (:mod:`ingest.flow`), as a mine's data logger would.
    """
    interval = readings_per_message / rate if rate > 0 else 0.0
    clocks = [start_at] * len(load)  # per source: the next event time
    steps = [-(-readings_per_message // len(source.parameters)) for source in load]
    topics = [source.topic for source in load]
    with QoS1Publisher(
        endpoint.host, endpoint.port, client_id, endpoint.username, endpoint.password,
        max_in_flight=max_in_flight, flow_topic=flow_topic,
    ) as publisher:  # fmt: skip
        began = time.monotonic()
        sent = 0
        while time.monotonic() - began < duration_s:
            # ahead of the rate: take what the broker sent, then sleep. Waiting on the socket
            # instead woke the publisher for each PUBACK (the broker writes them one by one).
            while interval and (ahead := began + sent * interval - time.monotonic()) > 0.002:
                publisher.flush()
                publisher.read_acknowledgements(timeout=0.0)
                time.sleep(ahead)
            index = sent % len(load)
            publisher.publish(topics[index], message(load[index], clocks[index], readings_per_message, sent))
            clocks[index] += steps[index]
            sent += 1
        publisher.wait_for_acknowledgements(120)
        acked = publisher.acknowledged
    result.put((acked, acked * readings_per_message, sent, publisher.pauses, publisher.paused_s))


# --- probes ----------------------------------------------------------------------------------


class LatencyProbes:
    """Rows: one reading every 0.2 s, its visibility polled every 10 ms. Alerts: one pH
    exceedance every ``alert_every_s`` on a mine of its own (set it so they span the run),
    its arrival noted by the webhook receiver."""

    def __init__(
        self,
        db_url: str,
        endpoint: MqttEndpoint,
        row_probe: tuple[str, str],
        alert_probes: list[tuple[str, str]],
        alert_every_s: float = 1.0,
    ) -> None:
        self.db_url = db_url
        self.endpoint = endpoint
        self.row_mine, self.row_station = row_probe
        self.alert_probes = alert_probes
        self.alert_every_s = alert_every_s
        self.sent_rows: dict[float, float] = {}  # event ts -> publish time
        self.rows: list[tuple[float, float]] = []  # (publish time, latency) of each probe row seen
        self.alert_sent: dict[str, float] = {}  # mine -> publish time
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=f, daemon=True) for f in (self._publish, self._poll)]

    def __enter__(self) -> LatencyProbes:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(5)

    def _publish(self) -> None:
        from simulators.publisher import Publisher

        with Publisher(self.endpoint, client_id="bench-probe") as publisher:
            tick = 0
            alerts, next_alert = 0, time.time()
            while not self._stop.wait(0.2):
                now = time.time()
                ts = round(now, 3)
                self.sent_rows[ts] = now
                reading = {"parameter": "w01018", "value": 20.0, "unit": "mg/L", "flag": "N"}
                payload = telemetry_payload(
                    self.row_mine, self.row_station, "wastewater", beijing_iso(ts), [reading], f"probe-{tick:08d}"
                )
                publisher.publish(
                    telemetry_topic(self.row_mine, "wastewater", self.row_station), json.dumps(payload).encode(), 1
                )
                if alerts < len(self.alert_probes) and now >= next_alert:
                    mine, station = self.alert_probes[alerts]
                    alerts, next_alert = alerts + 1, next_alert + self.alert_every_s
                    ph = {"parameter": "w01001", "value": 9.9, "unit": "dimensionless", "flag": "N"}
                    alert = telemetry_payload(
                        mine, station, "wastewater", beijing_iso(now), [ph], f"probe-alert-{tick:08d}"
                    )
                    self.alert_sent[mine] = time.time()
                    publisher.publish(telemetry_topic(mine, "wastewater", station), json.dumps(alert).encode(), 1)
                tick += 1

    def _poll(self) -> None:
        last = 0.0
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            while not self._stop.wait(0.01):
                rows = conn.execute(
                    "SELECT round(extract(epoch FROM ts)::numeric, 3)::float8 FROM readings"
                    " WHERE mine_id = %s AND station_id = %s AND parameter = 'w01018' AND ts > to_timestamp(%s)",
                    (self.row_mine, self.row_station, last),
                ).fetchall()
                seen = time.time()
                for (ts,) in rows:
                    sent = self.sent_rows.get(ts)
                    if sent is not None:
                        self.rows.append((sent, seen - sent))
                    last = max(last, ts)

    @property
    def row_latency(self) -> list[float]:
        return [latency for _, latency in self.rows]

    def alerts(self, receiver: WebhookReceiver) -> list[tuple[float, float]]:
        """(publish time, latency) of each probe alert the receiver got."""
        return [(sent, arrived - sent) for sent, arrived in self._alert_arrivals(receiver).values()]

    def _alert_arrivals(self, receiver: WebhookReceiver) -> dict[str, tuple[float, float]]:
        """mine -> (publish time, first arrival on the webhook) of each probe alert that arrived."""
        first: dict[str, float] = {}
        for at, doc in receiver.arrivals():
            mine = doc.get("group", {}).get("mine_id")
            if mine in self.alert_sent and at < first.get(mine, math.inf):
                first[mine] = at
        return {mine: (self.alert_sent[mine], at) for mine, at in first.items()}

    def alert_stages(self, receiver: WebhookReceiver) -> list[tuple[float, ...]]:
        """Where each delivered probe alert spent its time: (publish time, then the seconds from
        publish to the start of the transaction that raised the alert (the judge's run that
        claimed its window), on to the start of the notifier's that wrote its notification, on
        to its arrival). The database's times are ``now()``, on this machine's clock."""
        arrived = self._alert_arrivals(receiver)
        if not arrived:
            return []
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT a.mine_id, extract(epoch FROM min(a.created_at))::float8,"
                " extract(epoch FROM min(n.created_at))::float8"
                " FROM alerts a JOIN notifications n ON a.alert_id = ANY(n.alert_ids)"
                " WHERE a.mine_id = ANY(%s) GROUP BY a.mine_id",
                (sorted(arrived),),
            ).fetchall()
        out = []
        for mine, raised, notified in rows:
            sent, delivered = arrived[mine]
            out.append((sent, raised - sent, notified - raised, delivered - notified))
        return sorted(out)


def percentiles(values: list[float]) -> dict[str, float | None]:
    if len(values) < 2:
        return {"p50": None, "p95": None, "p99": None, "n": len(values)}  # type: ignore[dict-item]
    q = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": round(q[49], 3), "p95": round(q[94], 3), "p99": round(q[98], 3), "n": len(values)}  # type: ignore[dict-item]


def _write_latencies(path: Path, probes: list[tuple[float, float]], began: float) -> None:
    """Each probe's publish time (seconds into the run, and into its minute) and latency: where
    the slow ones fall, e.g. on the minute boundary when every station's minute closes."""
    _write_probes(path, ("minute_s", "latency_s"), [(sent, sent % 60, latency) for sent, latency in probes], began)


def _write_probes(path: Path, columns: tuple[str, ...], probes: list[tuple[float, ...]], began: float) -> None:
    """One line per probe: its publish time in seconds into the run, then ``columns``."""
    lines = ["\t".join(("run_s", *columns))]
    lines += ["\t".join([f"{sent - began:.3f}", *(f"{x:.3f}" for x in rest)]) for sent, *rest in probes]
    path.write_text("\n".join(lines) + "\n")


ALERT_STAGES = ("publish → alert raised", "→ notified", "→ delivered")


# --- process accounting -----------------------------------------------------------------------


# --- baselines -------------------------------------------------------------------------------


def copy_rate(db_url: str, limit: int = 1_000_000) -> dict[str, float]:
    """COPY the run's own rows (up to ``limit``) into an empty copy of ``readings`` (same indexes)."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_copy")
        conn.execute("CREATE TABLE bench_copy (LIKE readings INCLUDING ALL)")
        buffer = bytearray()
        with conn.cursor().copy(f"COPY (SELECT * FROM readings LIMIT {int(limit)}) TO STDOUT") as copy:
            for chunk in copy:
                buffer += chunk
        rows = buffer.count(b"\n")
        started = time.perf_counter()
        with conn.cursor().copy("COPY bench_copy FROM STDIN") as copy:
            copy.write(bytes(buffer))
        elapsed = time.perf_counter() - started
        conn.execute("DROP TABLE bench_copy")
    return {"rows": rows, "seconds": round(elapsed, 2), "rows_per_s": round(rows / elapsed, 1)}


def naive_ingestor(endpoint: MqttEndpoint, db_url: str, stop: Any, counter: Any) -> None:
    """What a user writes by hand: paho's callback inserts each message's readings with executemany."""
    import paho.mqtt.client as mqtt

    conn = psycopg.connect(db_url, autocommit=True)
    sql = (
        "INSERT INTO bench_naive (ts, mine_id, station_id, parameter, value, unit, flag)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s)"
    )

    def on_message(client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        doc = json.loads(msg.payload)
        rows = [(r.get("ts", doc["ts"]), doc["mine_id"], doc["station_id"], r["parameter"], r["value"], r["unit"],
                 r["flag"]) for r in doc["readings"]]  # fmt: skip
        conn.cursor().executemany(sql, rows)
        with counter.get_lock():
            counter.value += len(rows)

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-naive", clean_session=True)
    client.username_pw_set(endpoint.username, endpoint.password)
    client.on_message = on_message
    client.on_connect = lambda c, *a: c.subscribe("minewatch/v1/mines/+/telemetry/#", qos=1)
    client.connect(endpoint.host, endpoint.port)
    client.loop_start()
    stop.wait()
    client.loop_stop()
    conn.close()


def naive_rate(services: Any, load: list[Source], options: BenchOptions) -> dict[str, float]:
    from minewatch.brokerconfig import BRIDGE_USER

    with psycopg.connect(services.db_url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_naive")
        conn.execute(
            "CREATE TABLE bench_naive (ts timestamptz, mine_id text, station_id text, parameter text,"
            " value double precision, unit text, flag text)"
        )
    ctx = multiprocessing.get_context("spawn")
    stop, counter, result = ctx.Event(), ctx.Value("q", 0), ctx.Queue()
    ingestor = ctx.Process(
        target=naive_ingestor, args=(services.mqtt_endpoint(BRIDGE_USER), services.db_url, stop, counter)
    )
    ingestor.start()
    time.sleep(2.0)
    publisher = ctx.Process(
        target=publish_load,
        args=(services.mqtt_endpoint(SIMULATOR_USER), load, options.readings_per_message, 0.0, options.naive_s,
              time.time() - 30 * 86400, result, "bench-naive-load"),
    )  # fmt: skip
    publisher.start()
    time.sleep(3.0)  # past its start
    first, t_first = counter.value, time.monotonic()
    time.sleep(max(options.naive_s - 4.0, 3.0))
    last, t_last = counter.value, time.monotonic()
    publisher.join(180)
    stop.set()
    ingestor.join(30)
    if ingestor.is_alive():
        ingestor.kill()
    with psycopg.connect(services.db_url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_naive")
    return {"rows_per_s": round((last - first) / (t_last - t_first), 1)}


# --- the run ---------------------------------------------------------------------------------


@contextlib.contextmanager
def _stack(
    options: BenchOptions, run_dir: Path, registry: Registry, receiver: WebhookReceiver, secret: str
) -> Iterator[Any]:
    with (
        scratch_database(options.db_url, "minewatch_bench") as db_url,
        infrastructure(
            run_dir,
            registry,
            partitions=options.partitions,
            db_url=db_url,
            webhook_urls=(receiver.url,),
            grouping=BENCH_GROUPING,
            webhook_secret=secret,
        ) as stack,
    ):
        yield stack


def run(options: BenchOptions, out: TextIO) -> dict[str, Any]:
    run_dir = options.run_dir or Path(".minewatch") / time.strftime("bench-%Y%m%d-%H%M%S")
    registry = generate_fleet(options.mines, seed=3)
    probes_needed = int(options.duration_s) + 2
    alert_targets: list[tuple[str, str]] = []
    skip: set[str] = set()
    for _ in range(min(probes_needed, max(options.mines // 10, 2))):
        try:
            target = exceedance_target(registry, 0.0, 0.0, "w01001", "instantaneous", 1.1, frozenset(skip))
        except ValueError:
            break
        skip.add(target.mine_id)
        alert_targets.append((target.mine_id, target.station_id))
    row_probe_mine = next(m for m in sorted(registry, key=lambda m: m.id) if m.id not in skip and "WW01" in m.stations)
    skip.add(row_probe_mine.id)
    load = sources(registry, skip)
    secret = os.urandom(16).hex()
    with (
        WebhookReceiver(secret=secret) as receiver,
        _stack(options, run_dir, registry, receiver, secret) as (services, mqtt, kafka),
    ):
        out.write(
            f"bench: {len(load)} stations of {options.mines - len(skip)} mines, {options.readings_per_message} readings"
            f" per message, rate {options.rate or 'max'} readings/s, {options.duration_s:.0f} s\n"
        )
        meter = ProcessMeter()
        with MinewatchProcesses(services, workers=options.workers, bridges=options.bridges) as processes:
            ours = {process.name for process in processes.processes}
            for process in processes.processes:
                meter.add(process.name, process.proc.pid)  # type: ignore[union-attr]
            meter.add("mosquitto", mqtt.process.proc.pid)  # type: ignore[union-attr]
            meter.add_database_backends(services.db_url)
            meter.add("kafka", kafka.process.proc.pid)  # type: ignore[union-attr]
            ctx = multiprocessing.get_context("spawn")
            result = ctx.Queue()
            start_at = float(int(time.time()) - 2 * 86400)  # event time: two days ago onwards, one range per source
            publisher = ctx.Process(
                target=publish_load,
                args=(services.mqtt_endpoint(SIMULATOR_USER), load, options.readings_per_message, options.rate,
                      options.duration_s, start_at, result, "bench-load", 20_000, FLOW_TOPIC),
            )  # fmt: skip
            probes = LatencyProbes(
                services.db_url,
                services.mqtt_endpoint(SIMULATOR_USER),
                (row_probe_mine.id, "WW01"),
                alert_targets,
                alert_every_s=max(1.0, options.duration_s / len(alert_targets)),  # spread over the run
            )
            worker_ports = [port for name, port in processes.metrics_ports.items() if name.startswith("worker")]
            bridge_ports = [port for name, port in processes.metrics_ports.items() if name.startswith("bridge")]
            peak_backlog = {"broker_messages": 0.0, "kafka_records": 0.0}
            samples: list[tuple[float, float]] = []
            publisher.start()
            meter.add("publisher", publisher.pid)  # type: ignore[arg-type]
            meter.start()
            began, began_wall = time.monotonic(), time.time()
            with probes:
                while publisher.is_alive():
                    time.sleep(1.0)
                    stored_now = [scrape(port, "minewatch_readings_stored_total") for port in worker_ports]
                    samples.append((time.monotonic() - began, float("nan") if None in stored_now else sum(stored_now)))  # type: ignore[arg-type]
                    for key, gauge in (("broker_messages", "minewatch_bridge_broker_backlog_messages"),
                                       ("kafka_records", "minewatch_bridge_kafka_backlog_records")):  # fmt: skip
                        peak_backlog[key] = max([peak_backlog[key]] + [scrape(p, gauge) or 0.0 for p in bridge_ports])
                    out.write(f"\r[{samples[-1][0]:5.0f} s] stored {samples[-1][1]:,.0f}")
                    out.flush()
                published_messages, published, _sent, pauses, paused_s = result.get(timeout=60)
                deadline = time.monotonic() + 120
                with psycopg.connect(services.db_url, autocommit=True) as conn:

                    def stored_load() -> int:
                        row = conn.execute("SELECT count(*) FROM readings WHERE mine_id = ANY(%s)",
                                           (sorted({s.mine_id for s in load}),)).fetchone()  # fmt: skip
                        return int(row[0]) if row else 0

                    while (stored := stored_load()) < published and time.monotonic() < deadline:
                        time.sleep(1.0)
                drained = time.monotonic() - began
                time.sleep(2.0)  # the last alert probes
            usage = meter.stop()
            out.write("\n")
        window = [(t, n) for t, n in samples if options.warmup_s <= t <= options.duration_s and not math.isnan(n)]
        sustained = (
            (window[-1][1] - window[0][1]) / (window[-1][0] - window[0][0]) if len(window) >= 2 else float("nan")
        )
        rows = percentiles(probes.row_latency)
        _write_latencies(run_dir / "row_latency.tsv", probes.rows, began_wall)
        alert_probes = probes.alerts(receiver)
        _write_latencies(run_dir / "alert_latency.tsv", alert_probes, began_wall)
        alerts = percentiles([latency for _, latency in alert_probes])
        stages = probes.alert_stages(receiver)
        _write_probes(run_dir / "alert_stages.tsv", ("to_raised_s", "to_notified_s", "to_delivered_s"), stages,
                      began_wall)  # fmt: skip
        alert_stages = {name: percentiles([s[i + 1] for s in stages]) for i, name in enumerate(ALERT_STAGES)}
        copy = copy_rate(services.db_url)
        naive = naive_rate(services, load, options)
    total_rss = sum(v["peak_rss_mb"] for name, v in usage.items() if name in ours)
    summary = {
        "mines": options.mines,
        "readings_per_message": options.readings_per_message,
        "rate_target": options.rate or None,
        "workers": options.workers,
        "bridges": options.bridges,
        "duration_s": options.duration_s,
        "published_readings": published,
        "published_messages": published_messages,
        "stored_readings": stored,
        "lost": published - stored,
        "sustained_stored_per_s": round(sustained, 1),
        "published_per_s": round(published / options.duration_s, 1),
        "drained_after_s": round(drained, 1),
        "flow": {
            "pauses": pauses,
            "paused_s": round(paused_s, 1),
            "peak_broker_backlog_messages": int(peak_backlog["broker_messages"]),
            "peak_kafka_backlog_records": int(peak_backlog["kafka_records"]),
        },
        "latency_publish_to_row_s": rows,
        "latency_publish_to_alert_s": alerts,
        "alert_stages_s": alert_stages,
        "processes": usage,
        "minewatch_peak_rss_mb": round(total_rss, 1),
        "copy_baseline": copy,
        "naive_baseline": naive,
        "ratio_to_copy": round(sustained / copy["rows_per_s"], 3),
        "ratio_to_naive": round(sustained / naive["rows_per_s"], 2) if naive["rows_per_s"] else None,
    }
    out.write(_report(summary))
    out.write(json.dumps(summary) + "\n")
    return summary


def _report(s: dict[str, Any]) -> str:
    def latency(name: str) -> str:
        q = s[name]
        return f"p50 {q['p50']} s  p95 {q['p95']} s  p99 {q['p99']} s  (n={q['n']})"

    copy, naive = s["copy_baseline"]["rows_per_s"], s["naive_baseline"]["rows_per_s"]
    lines = [
        f"sustained stored: {s['sustained_stored_per_s']:,.0f} readings/s (published {s['published_per_s']:,.0f}/s);"
        f" published {s['published_readings']:,}, stored {s['stored_readings']:,}, lost {s['lost']:,}",
        f"flow control: publisher paused {s['flow']['pauses']} times, {s['flow']['paused_s']:.1f} s in all;"
        f" peak backlog {s['flow']['peak_broker_backlog_messages']:,} messages in the MQTT broker,"
        f" {s['flow']['peak_kafka_backlog_records']:,} records in Kafka",
        f"publish → row visible:      {latency('latency_publish_to_row_s')}",
        f"publish → alert on webhook: {latency('latency_publish_to_alert_s')}",
        "  its stages, p50 / p99:   "
        + ";  ".join(f"{name} {q['p50']} / {q['p99']} s" for name, q in s["alert_stages_s"].items()),
        "process          CPU s   peak RSS MB",
        *(f"  {name:14s} {v['cpu_s']:6.1f}   {v['peak_rss_mb']:8.1f}" for name, v in s["processes"].items()),
        f"minewatch processes together: {s['minewatch_peak_rss_mb']:.0f} MB peak RSS",
        f"raw COPY of the same rows: {copy:,.0f} rows/s; minewatch at {s['ratio_to_copy']:.1%} of it",
        f"naive paho → executemany ingestor: {naive:,.0f} readings/s; minewatch {s['ratio_to_naive']}×",
    ]
    return "\n".join(lines) + "\n"
