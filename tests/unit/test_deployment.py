"""docker-compose.yml is valid and runs the same service commands as the embedded stack."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import yaml

from minewatch.stack import MinewatchProcesses, Services

ROOT = Path(__file__).resolve().parents[2]


def test_compose_file_is_valid():
    assert shutil.which("docker-compose"), "install Debian's docker-compose (./mw test does)"
    result = subprocess.run(
        ["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        check=False,
        capture_output=True,
        text=True,
        env={**os.environ, "POSTGRES_PASSWORD": "check"},
    )
    assert result.returncode == 0, result.stderr


def test_compose_services_run_the_embedded_stacks_commands(tmp_path):
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    services = Services(tmp_path, tmp_path / "r.yaml", "postgresql://x", "k:9092", 1883, False, {}, 8, ())
    embedded = MinewatchProcesses(services)
    for name, process in (
        ("worker", embedded.worker),
        ("bridge", embedded.bridge),
        ("dispatcher", embedded.dispatcher),
    ):
        subcommand = process.argv[process.argv.index("minewatch.cli") + 1 :]
        assert compose[name]["command"][: len(subcommand)] == subcommand
