"""docker-compose.yml is valid and runs the same service commands as the embedded stack."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import yaml

from minewatch.stack import MinewatchProcesses, Services
from storage.server import SERVER_SETTINGS

ROOT = Path(__file__).resolve().parents[2]


def test_compose_file_is_valid():
    assert shutil.which("docker-compose"), "install Debian's docker-compose (./mw test does)"
    result = subprocess.run(
        ["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        check=False,
        capture_output=True,
        text=True,
        env={**os.environ, "POSTGRES_PASSWORD": "check", "GRAFANA_ADMIN_PASSWORD": "check"},
    )
    assert result.returncode == 0, result.stderr


def test_compose_services_run_the_embedded_stacks_commands(tmp_path):
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    services = Services(tmp_path, tmp_path / "r.yaml", "postgresql://x", "k:9092", 1883, False, {}, 8, ())
    embedded = MinewatchProcesses(services)

    def words(argv: list[str]) -> list[str]:  # ports and listen addresses differ by design
        return [w for w in argv if not re.fullmatch(r"[\d.]+", w)]

    for name, process in (
        ("worker", embedded.worker),
        ("bridge", embedded.bridge),
        ("dispatcher", embedded.dispatcher),
        ("api", embedded.api),
        ("hj212-gateway", embedded.hj212),
    ):
        subcommand = process.argv[process.argv.index("minewatch.cli") + 1 :]
        assert sorted(words(compose[name]["command"])) == sorted(words(subcommand)), name


def test_compose_database_runs_with_the_embedded_servers_settings():
    command = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["timescaledb"]["command"]
    assert command[0] == "postgres"
    options = dict(
        value.split("=", 1) for flag, value in zip(command[1::2], command[2::2], strict=True) if flag == "-c"
    )
    assert options == SERVER_SETTINGS


def test_prometheus_scrapes_every_service_the_compose_file_runs():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    scrape = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    targets = {t for job in scrape["scrape_configs"] for c in job["static_configs"] for t in c["targets"]}
    serving = {
        f"{name}:{service['command'][service['command'].index('--metrics-port') + 1]}"
        for name, service in compose.items()
        if "--metrics-port" in service.get("command", [])
    }
    assert targets == serving and len(serving) == 5
