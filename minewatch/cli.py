"""The ``minewatch`` command.

minewatch up [--mines N] [--duration S] [--scenario normal|exceedance] [--summary-json]
minewatch fleet generate --mines N --seed S [--out FILE]
minewatch db migrate
minewatch broker-config --out DIR --port P
minewatch kafka create-topics
minewatch worker | bridge | dispatcher      (long-running services; configured by MINEWATCH_*)
minewatch api [--host H] [--port P]         (the bureau API)
minewatch hj212 serve [--port 8212] | parse  (the HJ 212 gateway; parse frames from stdin as JSON)
minewatch reports verify --mine ID | compliance evaluate --period 2026-Q3 | scorecard [--period P] [--format F]
minewatch inspections draw --seed SEED --count N --inspectors FILE [--region CODE]
minewatch tokens create --name N --level county --area 520201 [--agency A] | list | revoke ID
minewatch simulate [--interval S] [--duration S] [--scenario ...]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from minewatch.settings import BRIDGE_LINGER_S, Settings, redact


def _setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _stop_event() -> threading.Event:
    """An event set by SIGTERM or SIGINT, for services that stop cleanly."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def cmd_up(args: argparse.Namespace) -> int:
    import os

    from minewatch.stack import UpOptions, up

    options = UpOptions(
        mines=args.mines,
        duration_s=args.duration,
        interval_s=args.interval,
        scenario=args.scenario,
        seed=args.seed,
        partitions=args.partitions,
        run_dir=args.run_dir,
        registry_path=args.registry,
        db_url=os.environ.get("MINEWATCH_DB_URL") or None,
        webhook_urls=tuple(args.webhook or ()),
    )
    logging.getLogger().setLevel(logging.WARNING)
    # Ctrl-C, and a SIGTERM or SIGINT from a supervisor (even if the shell started us with SIGINT
    # ignored), end the run the same way: stop the simulator, summarise, stop every process.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _interrupt)
    summary = up(options, out=sys.stderr, summary_out=sys.stdout if args.summary_json else None)
    if not args.summary_json:
        for key, value in summary.items():
            print(f"{key:>20}: {value}")
    return 0


def cmd_fleet_generate(args: argparse.Namespace) -> int:
    from simulators.fleet import generate_fleet

    registry = generate_fleet(args.mines, seed=args.seed)
    registry.dump(args.out)
    print(f"wrote {len(registry)} mines to {args.out}", file=sys.stderr)
    return 0


def cmd_db_migrate(args: argparse.Namespace) -> int:
    from storage.migrate import ensure_database, migrate
    from storage.server import advice_for

    url = args.db_url or Settings.from_env().db_url
    ensure_database(url)
    report = migrate(url)
    advice = advice_for(url)
    print(
        json.dumps(
            {"database": redact(url), "timescaledb": report.timescale, "applied": report.applied, "advice": advice}
        )
    )
    return 0


def cmd_broker_config(args: argparse.Namespace) -> int:
    from minewatch.brokerconfig import TlsListener, write_broker_config
    from minewatch.registry import Registry

    registry = Registry.load(args.registry or Settings.from_env().registry_path)
    tls_files = (args.tls_cafile, args.tls_certfile, args.tls_keyfile)
    if any(tls_files) and not all(tls_files):
        print("broker-config: a TLS listener needs --tls-cafile, --tls-certfile and --tls-keyfile", file=sys.stderr)
        return 2
    tls = (
        TlsListener(
            args.tls_port, args.tls_cafile, args.tls_certfile, args.tls_keyfile, args.host, args.tls_require_certificate
        )
        if all(tls_files)
        else None
    )
    files = write_broker_config(registry, args.out, port=args.port, host=args.host, secrets_file=args.secrets, tls=tls)
    print(
        f"wrote {files.conf}, {files.password_file}, {files.acl_file}; passwords in {files.secrets_file}",
        file=sys.stderr,
    )
    return 0


def cmd_kafka_create_topics(args: argparse.Namespace) -> int:
    from minewatch.kafka import create_topics
    from minewatch.topics import KafkaTopics

    settings = Settings.from_env()
    created = create_topics(settings.kafka_bootstrap, KafkaTopics.ALL, settings.kafka_partitions, args.replication)
    for name in KafkaTopics.ALL:
        print(f"{'created' if name in created else 'exists '} {name}", file=sys.stderr)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    import faust
    import psycopg

    from minewatch.metrics import serve_metrics
    from processors.app import app, settings
    from storage.server import advice_for

    serve_metrics(args.metrics_port)
    with contextlib.suppress(psycopg.OperationalError):  # a database not up yet is the agents' to wait for
        for advice in advice_for(settings.db_url):
            logging.getLogger("minewatch.worker").warning("database server: %s", advice)
    faust.Worker(app, loglevel=args.log_level.lower()).execute_from_commandline()
    return 0


def cmd_bridge(args: argparse.Namespace) -> int:
    from ingest.bridge import Bridge
    from minewatch.gcpolicy import tune_for_throughput
    from minewatch.metrics import serve_metrics
    from minewatch.registry import Registry

    _setup_logging(args.log_level)
    settings = Settings.from_env()
    serve_metrics(args.metrics_port)
    bridge = Bridge(
        settings,
        Registry.load(settings.registry_path),
        linger_s=BRIDGE_LINGER_S if args.linger is None else args.linger,
    )
    tune_for_throughput()
    bridge.run(_stop_event())
    logging.getLogger("minewatch.bridge").info("stopped: %s", bridge.stats)
    return 0


def cmd_dispatcher(args: argparse.Namespace) -> int:
    from alerts.dispatcher import Dispatcher, DispatchPolicy
    from minewatch.metrics import serve_metrics

    _setup_logging(args.log_level)
    settings = Settings.from_env()
    serve_metrics(args.metrics_port)
    policy = DispatchPolicy(lease_s=args.lease, tick_s=args.tick)
    routing = settings.routing()
    with Dispatcher(settings.db_url, settings.mqtt, routing, policy, external_url=settings.external_url) as dispatcher:
        dispatcher.run(_stop_event())
    return 0


def cmd_api(args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app
    from minewatch.metrics import serve_metrics

    _setup_logging(args.log_level)
    serve_metrics(args.metrics_port)
    uvicorn.run(create_app(), host=args.host, port=args.port, log_level=args.log_level.lower(), access_log=False)
    return 0


def cmd_tokens_create(args: argparse.Namespace) -> int:
    from api.auth import TokenError
    from api.tokens import issue_token
    from minewatch.registry import Registry

    settings = Settings.from_env()
    registry = Registry.load(settings.registry_path) if settings.registry_path.exists() else None
    try:
        token_id, token = issue_token(settings.db_url, args.name, args.level, args.area, args.agency, registry)
    except TokenError as exc:
        print(f"minewatch tokens create: {exc}", file=sys.stderr)
        return 2
    print(f"token {token_id} for {args.name} ({args.level}:{args.area}); shown once, keep it safe:", file=sys.stderr)
    print(token)
    return 0


def cmd_tokens_list(args: argparse.Namespace) -> int:
    import psycopg

    with psycopg.connect(Settings.from_env().db_url) as conn:
        rows = conn.execute(
            "SELECT token_id, name, level, area, agency, created_at, last_used_at, revoked_at FROM api_tokens"
            " ORDER BY token_id"
        ).fetchall()
    for token_id, name, level, area, agency, created, used, revoked in rows:
        state = f"revoked {revoked:%Y-%m-%d}" if revoked else f"last used {used:%Y-%m-%d %H:%M}" if used else "unused"
        print(f"{token_id}\t{level}:{area}\t{agency or '-'}\t{name}\tcreated {created:%Y-%m-%d}\t{state}")
    return 0


def cmd_tokens_revoke(args: argparse.Namespace) -> int:
    import psycopg

    with psycopg.connect(Settings.from_env().db_url) as conn:
        done = conn.execute(
            "UPDATE api_tokens SET revoked_at = now() WHERE token_id = %s AND revoked_at IS NULL", (args.token_id,)
        ).rowcount
    print(f"token {args.token_id} {'revoked' if done else 'was not active'}", file=sys.stderr)
    return 0 if done else 1


def _registry(args: argparse.Namespace) -> object:
    from minewatch.registry import Registry

    return Registry.load(getattr(args, "registry", None) or Settings.from_env().registry_path)


def cmd_reports_verify(args: argparse.Namespace) -> int:
    from greenmine.commands import reports_verify

    return reports_verify(Settings.from_env(), args.mine)


def cmd_compliance_evaluate(args: argparse.Namespace) -> int:
    from greenmine.commands import compliance_evaluate

    return compliance_evaluate(Settings.from_env(), _registry(args), args.period)  # type: ignore[arg-type]


def cmd_scorecard(args: argparse.Namespace) -> int:
    from greenmine.commands import show_scorecard

    return show_scorecard(Settings.from_env(), _registry(args), args.period, args.format)  # type: ignore[arg-type]


def cmd_inspections_draw(args: argparse.Namespace) -> int:
    import getpass

    from greenmine.commands import inspections_draw, read_inspectors

    return inspections_draw(
        Settings.from_env(),
        _registry(args),  # type: ignore[arg-type]
        seed=args.seed,
        count=args.count,
        inspectors=read_inspectors(args.inspectors),
        region=args.region,
        population=args.population,
        exclude_days=args.exclude_days,
        per_mine=args.per_mine,
        record=not args.dry_run,
        drawn_by=args.drawn_by or getpass.getuser(),
    )


def cmd_db_policies(args: argparse.Namespace) -> int:
    from storage.policies import apply_policies

    print(apply_policies(Settings.from_env().db_url, args.compress_after, args.retain))
    return 0


def cmd_db_prune(args: argparse.Namespace) -> int:
    from storage.policies import prune

    removed = prune(Settings.from_env().db_url, args.older_than)
    print("chunks dropped" if removed < 0 else f"{removed} readings deleted")
    return 0


def cmd_limits_show(args: argparse.Namespace) -> int:
    from minewatch.limits_report import limits_report
    from minewatch.registry import Registry

    registry = Registry.load(args.registry or Settings.from_env().registry_path)
    mine = registry.mine(args.mine)
    if mine is None:
        print(f"mine {args.mine} is not in the registry", file=sys.stderr)
        return 2
    report = limits_report(mine)
    if args.format == "json":
        print(json.dumps(report, ensure_ascii=False, indent=1))
    else:
        print(render_limits(report))
    return 0


def render_limits(report: dict) -> str:
    lines = [f"{report['mine_id']} {report['name']} ({report['mineral']})"]
    for station in report["stations"]:
        lines.append(
            f"\n  {station['station_id']} ({station['kind']}): limit sets {', '.join(station['limit_sets']) or 'none'}"
        )
        for limit in station["enforced"]:
            ref = f" at {limit['reference_o2']:g} % O2" if limit["reference_o2"] else ""
            lines.append(
                f"    {limit['parameter']:<7} {limit['name']:<22} {limit['bound']:<18} {limit['basis']}{ref}"
                f"  [{limit['citation']}]"
            )
        for item in station["not_enforced"]:
            lines.append(
                f"    not enforced: {item['standard']} {item['parameter'] or ''} {item['name']}: {item['reason']}"
            )
    return "\n".join(lines)


def cmd_slope_analyze(args: argparse.Namespace) -> int:
    import orjson

    from minewatch.slopefile import SlopeFileError, analyze

    try:
        for line in analyze(args.file, item=args.item, v_const=args.v_const):
            sys.stdout.buffer.write(orjson.dumps(line) + b"\n")
    except SlopeFileError as exc:
        print(f"{args.file}: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    import orjson

    from minewatch.auditfile import exceedance_json, finding_json, read_readings, verdict_json
    from minewatch.registry import Registry
    from processors.compliance import audit
    from processors.limits import LimitBook
    from processors.quality import QualityMonitor
    from processors.samples import rules_for_registry
    from processors.windows import AveragingRules

    registry = Registry.load(args.registry or Settings.from_env().registry_path)
    mine = registry.mine(args.mine)
    if mine is None:
        print(f"mine {args.mine} is not in the registry", file=sys.stderr)
        return 2
    book = LimitBook.load()
    rules = {k: v for k, v in rules_for_registry(registry, book).items() if k[0] == args.mine}
    result = audit(
        read_readings(args.file, args.mine), rules, AveragingRules.from_data(book.rules), QualityMonitor(registry)
    )
    limits = {limit.limit_id: limit for limit in book.enforced}
    out = sys.stdout.buffer
    if args.verdicts:
        for v in result.verdicts:
            out.write(orjson.dumps(verdict_json(v)) + b"\n")
    for e in result.exceedances:
        limit = limits[e.limit_id]
        out.write(orjson.dumps(exceedance_json(e, limit.citation, limit.bound_text)) + b"\n")
    for f in result.findings:
        out.write(orjson.dumps(finding_json(f)) + b"\n")
    return 0


def cmd_bench_pipeline(args: argparse.Namespace) -> int:
    from benchmarks.pipeline import BenchOptions, run

    if args.workers > args.partitions:  # a worker beyond the partitions would only stand by
        raise SystemExit(f"bench: --workers {args.workers} needs --partitions {args.workers} or more")
    _setup_logging(args.log_level)
    options = BenchOptions(
        mines=args.mines,
        rate=args.rate,
        duration_s=args.duration,
        warmup_s=min(args.warmup, args.duration / 2),
        readings_per_message=args.readings_per_message,
        partitions=args.partitions,
        naive_s=args.naive_duration,
        workers=args.workers,
        bridges=args.bridges,
        run_dir=args.run_dir,
        db_url=args.db_url or os.environ.get("MINEWATCH_DB_URL"),
    )
    summary = run(options, sys.stdout)
    return 0 if summary["lost"] == 0 else 1


def cmd_bench_detectors(args: argparse.Namespace) -> int:
    from benchmarks.detectors import main as bench

    bench(args.mines, args.minutes, args.repeat)
    return 0


def cmd_bench_hj212(args: argparse.Namespace) -> int:
    from benchmarks.hj212 import main as bench

    bench(args.mines, args.minutes)
    return 0


def cmd_bench_slope(args: argparse.Namespace) -> int:
    from benchmarks.slope import main as bench

    bench(args.runs, args.points, args.days)
    return 0


def cmd_bench_storage(args: argparse.Namespace) -> int:
    from benchmarks.storage import main as bench

    bench(args.db_url, args.mines, args.batch_messages, args.batches)
    return 0


def cmd_hj212_serve(args: argparse.Namespace) -> int:
    import asyncio

    from hj212.gateway import Gateway, GatewayLimits, KafkaSink
    from minewatch.metrics import serve_metrics
    from minewatch.registry import Registry

    _setup_logging(args.log_level)
    settings = Settings.from_env()
    serve_metrics(args.metrics_port)
    limits = GatewayLimits(max_connections=args.max_connections, idle_timeout_s=args.idle_timeout)
    sink = KafkaSink(settings.kafka_bootstrap, f"minewatch-hj212-{settings.instance}")
    gateway = Gateway(Registry.load(settings.registry_path), sink, limits)
    log = logging.getLogger("minewatch.hj212")

    async def serve() -> None:
        server = await gateway.serve(args.host, args.port)
        log.info("HJ 212 gateway on %s:%s, %d devices registered", args.host, args.port, len(gateway.devices))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        async with server:
            await stop.wait()

    try:
        asyncio.run(serve())
    finally:
        sink.close()
    return 0


def cmd_hj212_parse(args: argparse.Namespace) -> int:
    from hj212.debug import describe

    for line in sys.stdin:
        if line.strip():
            print(json.dumps(describe(line.rstrip("\r\n")), ensure_ascii=False))
    return 0


def _simulate_hj212(args: argparse.Namespace, registry: object) -> int:
    import asyncio
    import time

    from simulators.hj212 import loggers, run_fleet

    host, _, port = args.gateway.rpartition(":")
    now = time.time()
    end = now - now % 60
    minutes = [end - 60 * (args.minutes - i) for i in range(args.minutes)]
    fleet = loggers(registry, seed=args.seed, fault_rate=args.fault_rate)  # type: ignore[arg-type]
    stats = asyncio.run(run_fleet(host or "127.0.0.1", int(port), fleet, minutes, pace_s=args.interval))
    print(json.dumps({"loggers": len(fleet), **{k: v for k, v in vars(stats).items() if k != "unanswered"},
                      "unanswered": len(stats.unanswered)}))  # fmt: skip
    return 0 if not stats.unanswered else 1


def cmd_simulate(args: argparse.Namespace) -> int:
    import time

    from minewatch.registry import Registry
    from simulators.publisher import Publisher, run_simulation
    from simulators.telemetry import TelemetrySimulator, exceedance_target

    _setup_logging(args.log_level)
    settings = Settings.from_env()
    registry = Registry.load(args.registry or settings.registry_path)
    if args.protocol == "hj212":
        return _simulate_hj212(args, registry)
    scenario = None
    if args.scenario == "exceedance":
        start = time.time() + 10
        scenario = exceedance_target(registry, start=start, end=start + 20)
        print(json.dumps({"exceedance_target": scenario.__repr__()}), file=sys.stderr)
    with Publisher(settings.mqtt, client_id=f"minewatch-simulator-{settings.instance}") as publisher:
        run_simulation(
            TelemetrySimulator(registry, seed=args.seed, scenario=scenario),
            publisher,
            interval_s=args.interval,
            duration_s=args.duration,
            stop=_stop_event(),
        )
        publisher.wait_acked(30)
        print(
            json.dumps({"published": publisher.published_readings, "published_messages": publisher.published_messages})
        )
    return 0


def cmd_faults(args: argparse.Namespace) -> int:
    from datetime import datetime

    from minewatch.faults import FAULTS, run

    _setup_logging(args.log_level)
    faults = tuple(FAULTS if args.faults == "all" else args.faults.split(","))
    run_dir = args.run_dir or Path(".minewatch") / datetime.now().strftime("faults-%Y%m%d-%H%M%S")
    results = run(
        faults,
        mines=args.mines,
        messages=args.messages,
        rate=args.rate,
        outage_s=args.outage,
        run_dir=run_dir,
        db_url=args.db_url or os.environ.get("MINEWATCH_DB_URL"),
        out=sys.stdout,
    )
    return 0 if all(r.ok for r in results) else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="minewatch", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--log-level", default="INFO")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("up", help="run the embedded stack with a simulated fleet")
    p.add_argument("--mines", type=int, default=50)
    p.add_argument("--duration", type=float, default=60.0, help="seconds of simulated telemetry")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between samples of a station")
    p.add_argument(
        "--scenario",
        choices=("normal", "exceedance", "slope-failure"),
        default="normal",
        help="exceedance: a stack over its hourly limit for a clock hour (about two hours of data "
        "replayed); slope-failure: a slope accelerating towards a known failure time (four days "
        "of 10-minute data replayed)",
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--partitions", type=int, default=Settings.kafka_partitions)
    p.add_argument("--registry", type=Path, help="use this registry instead of generating one")
    p.add_argument("--run-dir", type=Path)
    p.add_argument("--webhook", action="append", help="deliver alerts here (default: a local receiver)")
    p.add_argument("--summary-json", action="store_true", help="end by printing one JSON line")
    p.set_defaults(func=cmd_up)

    fleet = sub.add_parser("fleet", help="simulated fleets").add_subparsers(dest="fleet_command", required=True)
    p = fleet.add_parser("generate", help="write a registry of N mines spread over Guizhou's regions")
    p.add_argument("--mines", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("registry.yaml"))
    p.set_defaults(func=cmd_fleet_generate)

    db = sub.add_parser("db", help="database").add_subparsers(dest="db_command", required=True)
    p = db.add_parser("migrate", help="create the database if needed and apply migrations")
    p.add_argument("--db-url", help="default: MINEWATCH_DB_URL")
    p.set_defaults(func=cmd_db_migrate)

    p = db.add_parser("policies", help="TimescaleDB: when readings are compressed and how long they are kept")
    p.add_argument("--compress-after", default="7 days")
    p.add_argument("--retain", default="3 years")
    p.set_defaults(func=cmd_db_policies)
    p = db.add_parser("prune", help="delete raw readings older than an interval (retention on plain PostgreSQL)")
    p.add_argument("--older-than", required=True, help="e.g. '3 years'")
    p.set_defaults(func=cmd_db_prune)

    p = sub.add_parser("broker-config", help="write mosquitto.conf, password file and ACL from the registry")
    p.add_argument("--registry", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--port", type=int, default=1883)
    p.add_argument("--host", default="0.0.0.0")
    p.add_argument("--secrets", type=Path, help="YAML of username: password (created if missing)")
    p.add_argument("--tls-port", type=int, default=8883, help="port of the TLS listener")
    p.add_argument("--tls-cafile", type=Path, help="CA certificate (PEM) that signed the broker's certificate")
    p.add_argument("--tls-certfile", type=Path, help="the broker's certificate (PEM)")
    p.add_argument("--tls-keyfile", type=Path, help="the broker's private key (PEM)")
    p.add_argument("--tls-require-certificate", action="store_true", help="mutual TLS: devices present certificates")
    p.set_defaults(func=cmd_broker_config)

    kafka = sub.add_parser("kafka", help="Kafka").add_subparsers(dest="kafka_command", required=True)
    p = kafka.add_parser("create-topics", help="create minewatch's topics (one partition count)")
    p.add_argument("--replication", type=int, default=1)
    p.set_defaults(func=cmd_kafka_create_topics)

    for name, func, helptext in (
        ("worker", cmd_worker, "the Faust stream processor"),
        ("bridge", cmd_bridge, "the MQTT to Kafka ingest bridge"),
        ("dispatcher", cmd_dispatcher, "the alert delivery dispatcher"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--metrics-port", type=int, default=None)
        if name == "bridge":
            p.add_argument(
                "--linger", type=float, help="seconds to group a partition's messages (default BRIDGE_LINGER_S)"
            )
        if name == "dispatcher":
            p.add_argument("--lease", type=float, default=60.0, help="seconds a claimed delivery is held")
            p.add_argument("--tick", type=float, default=1.0, help="seconds between notifier steps when idle")
        p.set_defaults(func=func)

    p = sub.add_parser("api", help="the bureau API (OpenAPI at /openapi.json, docs at /docs)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--metrics-port", type=int, default=None)
    p.set_defaults(func=cmd_api)

    tokens = sub.add_parser("tokens", help="bearer tokens of the bureau API").add_subparsers(
        dest="tokens_command", required=True
    )
    p = tokens.add_parser("create", help="a token for a bureau or a mine (printed once; only its hash is kept)")
    p.add_argument("--name", required=True, help="who holds it, e.g. 钟山区生态环境分局; shown in alert history")
    p.add_argument("--level", required=True, choices=("province", "region", "county", "mine"))
    p.add_argument("--area", required=True, help="520000, a region code, a county code, or a mine id")
    p.add_argument("--agency", default=None, help="ecology_environment, emergency_management, natural_resources")
    p.set_defaults(func=cmd_tokens_create)
    p = tokens.add_parser("list", help="tokens, without their secrets")
    p.set_defaults(func=cmd_tokens_list)
    p = tokens.add_parser("revoke", help="revoke a token by id")
    p.add_argument("token_id", type=int)
    p.set_defaults(func=cmd_tokens_revoke)

    reports = sub.add_parser("reports", help="self-reports").add_subparsers(dest="reports_command", required=True)
    p = reports.add_parser("verify", help="re-check a mine's report hash chain from the stored bytes")
    p.add_argument("--mine", required=True)
    p.set_defaults(func=cmd_reports_verify)

    compliance = sub.add_parser("compliance", help="green-mine compliance").add_subparsers(
        dest="compliance_command", required=True
    )
    p = compliance.add_parser("evaluate", help="evaluate every mine for a period; recommend delistings")
    p.add_argument("--period", required=True, help="2026-10, 2026-Q3 or 2026")
    p.add_argument("--registry", type=Path)
    p.set_defaults(func=cmd_compliance_evaluate)

    p = sub.add_parser("scorecard", help="regions and the province against the green-mine targets")
    p.add_argument("--period", default=None, help="2026-10, 2026-Q3 or 2026 (default: latest evaluations)")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.add_argument("--registry", type=Path)
    p.set_defaults(func=cmd_scorecard)

    inspections = sub.add_parser("inspections", help="random inspections (双随机、一公开)").add_subparsers(
        dest="inspections_command", required=True
    )
    p = inspections.add_parser("draw", help="draw mines and inspectors from a published seed, and record the draw")
    p.add_argument("--seed", required=True, help="published before the draw, e.g. a date and a lottery number")
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--inspectors", type=Path, required=True, help="CSV: inspector_id,name,county_code")
    p.add_argument("--region", default=None)
    p.add_argument(
        "--population", choices=("listed", "all"), default="listed", help="listed green mines (policy 三（六）)"
    )
    p.add_argument("--exclude-days", type=int, default=None, help="skip mines inspected this recently (policy.yaml)")
    p.add_argument("--per-mine", type=int, default=2, help="inspectors per mine")
    p.add_argument("--drawn-by", default=None)
    p.add_argument("--dry-run", action="store_true", help="print the draw without recording it")
    p.add_argument("--registry", type=Path)
    p.set_defaults(func=cmd_inspections_draw)

    limits = sub.add_parser("limits", help="discharge and emission limits").add_subparsers(
        dest="limits_command", required=True
    )
    p = limits.add_parser("show", help="the limits that apply to a mine, with their citations")
    p.add_argument("--mine", required=True)
    p.add_argument("--registry", type=Path)
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.set_defaults(func=cmd_limits_show)

    slope = sub.add_parser("slope", help="slope and tailings stability").add_subparsers(
        dest="slope_command", required=True
    )
    p = slope.add_parser("analyze", help="run the slope detectors over a CSV (time, point, displacement[, rainfall])")
    p.add_argument("file", type=Path)
    p.add_argument(
        "--item",
        choices=("crack", "gnss", "radar", "incl"),
        default="crack",
        help="what the displacement column measures (sets the velocity window)",
    )
    p.add_argument(
        "--v-const",
        type=float,
        default=None,
        help="the constant-stage rate in mm/d (default: estimated from the first days)",
    )
    p.set_defaults(func=cmd_slope_analyze)

    p = sub.add_parser("audit", help="judge a file of historical readings: exceedances and data quality as JSON lines")
    p.add_argument("--mine", required=True)
    p.add_argument("file", type=Path, help="readings as JSON lines or CSV (station_id,ts,parameter,value,unit,flag)")
    p.add_argument("--registry", type=Path)
    p.add_argument("--verdicts", action="store_true", help="also print every window's verdict")
    p.set_defaults(func=cmd_audit)

    bench_parser = sub.add_parser(
        "bench",
        help="benchmarks that print figures; without a subcommand, the whole pipeline at province scale",
    )
    bench_parser.add_argument("--mines", type=int, default=800)
    bench_parser.add_argument("--rate", type=float, default=0.0, help="readings/s in all (0: as fast as possible)")
    bench_parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    bench_parser.add_argument("--warmup", type=float, default=10.0, help="seconds left out of the sustained rate")
    bench_parser.add_argument("--readings-per-message", type=int, default=10)
    bench_parser.add_argument("--partitions", type=int, default=Settings.kafka_partitions)
    bench_parser.add_argument("--naive-duration", type=float, default=15.0, help="seconds the naive ingestor is fed")
    bench_parser.add_argument("--workers", type=int, default=1, help="Faust workers (scale-out)")
    bench_parser.add_argument("--bridges", type=int, default=1, help="ingest bridges (scale-out)")
    bench_parser.add_argument("--run-dir", type=Path)
    bench_parser.add_argument(
        "--db-url",
        help="a PostgreSQL server to create the benchmark's database on (default: MINEWATCH_DB_URL's, else embedded)",
    )
    bench_parser.set_defaults(func=cmd_bench_pipeline)
    bench = bench_parser.add_subparsers(dest="bench_command")
    p = bench.add_parser("detectors", help="µs per reading of the limit and data-quality detectors")
    p.add_argument("--mines", type=int, default=50)
    p.add_argument("--minutes", type=int, default=120)
    p.add_argument("--repeat", type=int, default=3)
    p.set_defaults(func=cmd_bench_detectors)
    p = bench.add_parser("hj212", help="frames per second through the HJ 212 gateway (decode, and end to end)")
    p.add_argument("--mines", type=int, default=50, help="two loggers each (outlet and stack)")
    p.add_argument("--minutes", type=int, default=20, help="minute packets per logger")
    p.set_defaults(func=cmd_bench_hj212)
    p = bench.add_parser("slope", help="forecast errors and false alarms of the slope detectors on synthetic series")
    p.add_argument("--runs", type=int, default=30, help="synthetic progressive failures")
    p.add_argument("--points", type=int, default=30, help="stable creeping points")
    p.add_argument("--days", type=float, default=30.0, help="days of each stable series")
    p.set_defaults(func=cmd_bench_slope)
    p = bench.add_parser("storage", help="µs per reading PostgreSQL spends: indexes, and the writer's bookkeeping")
    p.add_argument("--mines", type=int, default=800)
    p.add_argument("--batch-messages", type=int, default=300, help="messages (10 readings each) per transaction")
    p.add_argument("--batches", type=int, default=600, help="enough for each station's minutes to close")
    p.add_argument(
        "--db-url",
        default=os.environ.get("MINEWATCH_DB_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="a PostgreSQL server to create a scratch database on",
    )
    p.set_defaults(func=cmd_bench_storage)

    p = sub.add_parser(
        "faults", help="fault drills: readings through a fresh stack while processes die and brokers stall"
    )
    p.add_argument("--faults", default="all", help="comma-separated, from minewatch.faults.FAULTS (default all)")
    p.add_argument("--mines", type=int, default=10)
    p.add_argument("--messages", type=int, default=3000, help="telemetry messages per drill (about 5 readings each)")
    p.add_argument("--rate", type=float, default=300.0, help="messages per second")
    p.add_argument("--outage", type=float, default=8.0, help="seconds the database or Kafka is unavailable")
    p.add_argument("--run-dir", type=Path)
    p.add_argument("--db-url", help="a PostgreSQL server to create the drill's database on (default: embedded)")
    p.set_defaults(func=cmd_faults)

    p = sub.add_parser("simulate", help="simulated telemetry: MQTT devices, or HJ 212 data loggers")
    p.add_argument("--registry", type=Path)
    p.add_argument("--protocol", choices=("mqtt", "hj212"), default="mqtt")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between samples (hj212: between minutes)")
    p.add_argument("--duration", type=float, default=60.0)
    p.add_argument("--scenario", choices=("normal", "exceedance"), default="normal")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--gateway", default="127.0.0.1:8212", help="hj212: the gateway's host:port")
    p.add_argument("--minutes", type=int, default=60, help="hj212: minutes of data per logger (ending now)")
    p.add_argument("--fault-rate", type=float, default=0.02, help="hj212: share of packets sent with a fault")
    p.set_defaults(func=cmd_simulate)

    hj212 = sub.add_parser("hj212", help="the HJ 212 gateway").add_subparsers(dest="hj212_command", required=True)
    p = hj212.add_parser("serve", help="accept HJ 212 data loggers over TCP and feed their data to Kafka")
    p.add_argument("--host", default="0.0.0.0")
    p.add_argument("--port", type=int, default=8212)
    p.add_argument("--metrics-port", type=int, default=None)
    p.add_argument("--max-connections", type=int, default=5000)
    p.add_argument("--idle-timeout", type=float, default=600.0)
    p.set_defaults(func=cmd_hj212_serve)
    p = hj212.add_parser("parse", help="read frames from stdin (one a line), print each as JSON with its CRC verdict")
    p.set_defaults(func=cmd_hj212_parse)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "worker":
        sys.argv = [sys.argv[0]]  # Faust's worker parses sys.argv itself
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
