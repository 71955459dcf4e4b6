"""The compiled build of the hot pure modules agrees with their sources, and is never used stale.

The services run the modules of ``minewatch.native.COMPILED`` as mypyc builds; this test
session runs them as Python. Here both run the same varied stream (values as ints and floats,
missing values, flags, unit conversions, O2 corrections outside the formula's range, constant
runs, jumps, out-of-order times) and every schema example through the MQTT codec and the
gatekeeper, and must find exactly the same.
"""

from __future__ import annotations

import hashlib
import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ingest.mqttwire import packet_bounds, publish_packet, read_publish
from ingest.validation import Gatekeeper
from minewatch import native
from minewatch.paths import ROOT
from processors.limits import LimitBook
from processors.quality import QualityMonitor
from processors.samples import Reading, aggregate_minutes, readings_of_batch, rules_for_registry
from simulators.fleet import generate_fleet
from simulators.telemetry import TelemetrySimulator
from storage.copyformat import copy_rows
from tests.examples import ODD_TELEMETRY, example_registry, load_examples

START = 1795622400.0  # a Beijing-time midnight
ODD_MESSAGE = {  # and an O2 reading a microsecond after the message's time
    **ODD_TELEMETRY,
    "readings": [
        *ODD_TELEMETRY["readings"],
        {"parameter": "a19001", "value": 20.5, "unit": "%", "flag": "N", "ts": "2026-11-26T00:00:00.000001Z"},
    ],
}


def _varied(readings: list[Reading], rng: random.Random) -> list[Reading]:
    """``readings`` with the oddities devices send mixed in."""
    out: list[Reading] = []
    previous: dict[tuple[str, str, str], Reading] = {}
    stuck = {(r.mine_id, r.station_id, r.parameter) for r in readings[:3]}
    for original in readings:
        r = original
        key = (r.mine_id, r.station_id, r.parameter)
        roll = rng.random()
        if key in stuck and r.t < START + 2400.0:
            r = r._replace(value=4.2, flag="N")  # a stuck sensor for 40 minutes
        elif roll < 0.03:
            r = r._replace(value=None, flag=rng.choice("DFMT"))
        elif roll < 0.06:
            r = r._replace(value=round(r.value or 0))  # an int, as JSON gives it
        elif roll < 0.08:
            r = r._replace(value=-abs(r.value or 1.0))
        elif roll < 0.09:
            r = r._replace(value=0)
        elif roll < 0.15 and key in previous:
            r = r._replace(value=previous[key].value)  # constant runs
        elif roll < 0.16:
            r = r._replace(value=(r.value or 1.0) * 1000.0)  # a jump
        elif roll < 0.17:
            r = r._replace(flag="T")
        elif roll < 0.18 and r.unit == "mg/m3":
            r = r._replace(unit="ug/m3", value=(r.value or 0.0) * 1000.0)
        elif roll < 0.185:
            r = r._replace(unit="furlongs")
        elif roll < 0.19 and r.parameter == "a19001":
            r = r._replace(value=rng.choice((21.0, 25.0, -1.0, 20.999)))
        elif roll < 0.195:
            r = r._replace(t=r.t - 60.0)  # late
        previous[key] = r
        out.append(r)
    return out


def outcomes(mines: int = 12, minutes: int = 45, seed: int = 7) -> str:
    """What the quality checks and the minute aggregates make of a varied stream, as JSON."""
    registry = generate_fleet(mines, seed=seed)
    rules = rules_for_registry(registry, LimitBook.load())
    simulator = TelemetrySimulator(registry, seed=seed)
    rng = random.Random(seed)
    batches = [
        {
            "received_at": START + 60.0 * minute + 0.25,
            "messages": [m.payload for m in simulator.messages(START + 60.0 * minute)],
        }
        for minute in range(minutes)
    ]
    batches.append({"received_at": START, "messages": [ODD_MESSAGE]})
    readings = _varied([r for batch in batches for r in readings_of_batch(batch)], rng)
    monitor = QualityMonitor(registry)
    findings = monitor.observe(readings[: len(readings) // 2])
    findings += monitor.observe(readings[len(readings) // 2 :], arrived_at=START + 60.0 * minutes)
    findings += monitor.check_offline(START + 60.0 * (minutes + 30))
    aggregates = aggregate_minutes(readings, rules)
    return json.dumps(
        {
            "verdicts": _verdicts(),
            "readings": len(readings),
            "copy_rows": hashlib.sha256(copy_rows(batches)).hexdigest(),
            "findings": [
                [f.mine_id, f.station_id, f.parameter, f.finding.kind, f.finding.t, f.finding.detail, f.finding.cleared]
                for f in findings
            ],
            "minutes": sorted(
                [*series, minute, m.n_samples, m.n_valid, m.total, m.minimum, m.maximum]
                for (series, minute), m in aggregates.items()
            ),
        },
        default=repr,
    )


def _verdicts() -> list[Any]:
    """The gatekeeper's verdict on every schema example, sent through the MQTT codec."""
    gatekeeper = Gatekeeper(example_registry())
    out = []
    for number, example in enumerate([*load_examples("valid"), *load_examples("invalid")], start=1):
        wire = publish_packet(example.topic, example.payload_bytes, number)
        bounds = packet_bounds(wire, 0)
        assert bounds is not None
        message = read_publish(wire, 0, *bounds)
        verdict = gatekeeper.check(message.topic, message.payload, now=example.as_of.timestamp())
        out.append([example.name, message.packet_id, verdict.accepted, getattr(verdict, "reason", None)])
    return out


@pytest.fixture(scope="module")
def build() -> Path:
    native.build()  # a no-op when the build is current (./mw built it)
    assert not native.stale_sources(native.BUILD)
    return native.BUILD


def test_the_build_finds_what_the_sources_find(build: Path) -> None:
    compiled = subprocess.run(
        [
            sys.executable,
            "-c",
            "import importlib; from minewatch.native import COMPILED; from tests.unit.test_native import outcomes;"
            "[print(importlib.import_module(m[:-3].replace('/', '.')).__file__) for m in COMPILED]; print(outcomes())",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert len(compiled) == len(native.COMPILED) + 1
    for module, file in zip(native.COMPILED, compiled, strict=False):
        assert file.startswith(str(build / Path(module).parent)) and file.endswith(".so"), module
    expected = outcomes()
    assert compiled[-1] == expected
    found = json.loads(expected)
    kinds = {f[3] for f in found["findings"]}
    assert kinds >= {"impossible_value", "out_of_range", "constant_value", "sudden_jump", "offline"}
    assert any(m[6] < m[5] for m in found["minutes"])  # minutes with invalid samples among them
    verdicts = found["verdicts"]
    assert {v[2] for v in verdicts} == {True, False} and all(v[3] for v in verdicts if not v[2])


def test_an_edited_source_runs_as_python_until_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recorded = native.sources()
    fake = tmp_path / "cpython-311"
    (fake / "processors").mkdir(parents=True)
    changed = {**recorded, "processors/limits.py": "0" * 64}
    (fake / native.MANIFEST).write_text(json.dumps({"sources": changed}))
    monkeypatch.setattr(native, "BUILD", fake)
    monkeypatch.setattr(native, "enabled", True)
    assert native.stale_sources(fake) == ["processors/limits.py"]
    assert native.compiled_path("processors", ["src"]) == ["src"]
    (fake / native.MANIFEST).write_text(json.dumps({"sources": recorded}))
    assert native.compiled_path("processors", ["src"]) == [str(fake / "processors"), "src"]
    monkeypatch.setattr(native, "enabled", False)
    assert native.compiled_path("processors", ["src"]) == ["src"]


def test_a_build_without_a_manifest_is_stale(tmp_path: Path) -> None:
    assert native.stale_sources(tmp_path) == list(native.COMPILED)
    (tmp_path / native.MANIFEST).write_text(json.dumps({"sources": {"processors/quality.py": None}}))
    assert native.stale_sources(tmp_path) == ["processors/quality.py", *native.COMPILED[1:]]


def test_a_build_depends_on_what_the_modules_import() -> None:
    names = native.sources()
    assert set(native.COMPILED) <= set(names)
    assert {"processors/limits.py", "minewatch/units.py", "minewatch/registry.py", "processors/__init__.py"} <= set(
        names
    )
    assert "processors/app.py" not in names and all(digest for digest in names.values())
    assert (ROOT / "processors" / "quality.py").read_bytes()  # the paths are the repository's
