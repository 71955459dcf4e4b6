"""A real Prometheus (Debian's package) scrapes every minewatch process of the running stack;
the metrics are read back through Prometheus's HTTP API."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import yaml

from minewatch.services import free_port
from minewatch.stack import MinewatchProcesses, Services
from minewatch.topics import telemetry_topic
from simulators.publisher import Publisher
from simulators.telemetry import beijing_iso
from tests.conftest import HJ212_FLEET, eventually

MINE = sorted(HJ212_FLEET.mines)[10]


@pytest.fixture
def prometheus(pipeline: MinewatchProcesses, tmp_path: Path):
    binary = shutil.which("prometheus")
    assert binary, "the metrics test needs Debian's prometheus package (./mw test installs it)"
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [
            {"job_name": name, "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}
            for name, port in pipeline.metrics_ports.items()
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    process = subprocess.Popen(
        [binary, f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        stdout=subprocess.DEVNULL, stderr=(tmp_path / "prometheus.log").open("w"),
    )  # fmt: skip
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


def _query(prometheus: str, expression: str) -> list[dict]:
    try:
        answer = httpx.get(f"{prometheus}/api/v1/query", params={"query": expression}, timeout=5).json()
    except (httpx.HTTPError, json.JSONDecodeError):
        return []
    return answer.get("data", {}).get("result", []) if answer.get("status") == "success" else []


def test_prometheus_scrapes_every_process(services: Services, pipeline: MinewatchProcesses, prometheus: str) -> None:
    message = {
        "schema": "minewatch/telemetry-wastewater/v1",
        "message_id": uuid.uuid4().hex,
        "mine_id": MINE,
        "station_id": "WW01",
        "ts": beijing_iso(datetime.now(UTC).timestamp()),
        "readings": [{"parameter": "w01018", "value": 41.5, "unit": "mg/L", "flag": "N"}],
    }
    with Publisher(services.mqtt_endpoint(MINE)) as publisher:
        publisher.publish(telemetry_topic(MINE, "wastewater", "WW01"), json.dumps(message).encode(), 1)
        publisher.publish(telemetry_topic(MINE, "wastewater", "WW01"), b"{not json", 0)
        assert publisher.wait_acked(30)
    assert httpx.get(f"{pipeline.api_url}/v1/whoami").status_code == 401  # something for the API to count

    def targets_up() -> bool:
        up = _query(prometheus, "up")
        return len(up) == len(pipeline.metrics_ports) and all(r["value"][1] == "1" for r in up)

    eventually(targets_up, timeout=60, what=f"Prometheus scraping all of {sorted(pipeline.metrics_ports)}")
    checks = {
        'sum(minewatch_bridge_messages_received_total{channel="telemetry"})': lambda v: v >= 2,
        'sum(minewatch_bridge_messages_rejected_total{reason="not_json"})': lambda v: v >= 1,
        "sum(minewatch_readings_stored_total)": lambda v: v >= 1,
        "sum(minewatch_publish_to_stored_seconds_count)": lambda v: v >= 1,
        "sum(minewatch_write_batch_rows_count)": lambda v: v >= 1,
        "sum(minewatch_kafka_consumer_lag_records)": lambda v: v >= 0,
        "minewatch_open_exceedances": lambda v: v >= 0,
        "minewatch_stations_offline": lambda v: v >= 0,
        "sum(minewatch_notifier_steps_total)": lambda v: v >= 1,
        'sum(minewatch_api_requests_total{status="401"})': lambda v: v >= 1,
        "minewatch_hj212_connections": lambda v: v >= 0,
    }
    deadline = time.monotonic() + 60
    missing = dict(checks)
    while missing and time.monotonic() < deadline:
        for expression, holds in list(missing.items()):
            result = _query(prometheus, expression)
            if result and holds(float(result[0]["value"][1])):
                del missing[expression]
        time.sleep(1)
    assert not missing, f"not (yet) true in Prometheus: {sorted(missing)}"
    jobs = {r["metric"]["job"] for r in _query(prometheus, "process_resident_memory_bytes")}
    assert jobs == set(pipeline.metrics_ports)  # every process also reports its own memory and CPU
