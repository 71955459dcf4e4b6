"""Compliance judged by the running pipeline is exactly what ``minewatch audit`` judges offline."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from datetime import UTC, datetime

import pytest

from minewatch.brokerconfig import SIMULATOR_USER
from minewatch.registry import Registry
from processors.compliance import audit
from processors.limits import LimitBook
from processors.quality import QualityMonitor
from processors.samples import readings_of_batch, rules_for_registry
from processors.windows import AveragingRules
from simulators.publisher import Publisher, run_simulation
from simulators.telemetry import SensorFault, TelemetrySimulator, beijing_iso, exceedance_target
from tests.conftest import AUDIT_MINES, eventually
from tests.integration.test_pipeline import publish_all

pytestmark = pytest.mark.integration


class Recording(Publisher):
    """A publisher that keeps what it published, to give the audit the same data."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.payloads: list[bytes] = []

    def publish(self, topic: str, payload: bytes, readings: int) -> None:
        self.payloads.append(payload)
        super().publish(topic, payload, readings)


def test_two_hours_of_minute_data_give_the_pipeline_the_audits_exceedances(services, pipeline, db, tmp_path):
    everything = Registry.load(services.registry_path)
    registry = Registry({m: mine for m, mine in everything.mines.items() if m in AUDIT_MINES})
    now = datetime.now(UTC).timestamp()
    start = (now - 7800) - (now - 7800) % 3600  # a clock hour, ~2 h 10 min ago
    scenario = exceedance_target(registry, start=start, end=start + 3600)
    others = sorted(m for m in AUDIT_MINES if m != scenario.mine_id)
    faults = (
        SensorFault(others[0], "WW01", "w01018", "stuck", start + 20 * 60, start + 60 * 60, 42.0),
        SensorFault(others[1], "ST01", "a21026", "spike", start + 90 * 60, start + 91 * 60, 5000.0),
        SensorFault(others[2], "WW01", "w01001", "dropout", start + 10 * 60, start + 40 * 60),
    )
    simulator = TelemetrySimulator(registry, seed=5, scenario=scenario, faults=faults)
    with Recording(services.mqtt_endpoint(SIMULATOR_USER), client_id="audit-test") as publisher:
        run_simulation(
            simulator,
            publisher,
            interval_s=0.01,
            duration_s=130 * 0.01,
            stop=threading.Event(),
            event_start=start,
            event_step_s=60.0,
        )
        assert publisher.wait_acked(60)
    readings = [r for p in publisher.payloads for r in readings_of_batch({"messages": [json.loads(p)]})]
    book = LimitBook.load()
    offline = audit(
        readings,
        rules_for_registry(registry, book),
        AveragingRules.from_data(book.rules),
        QualityMonitor(registry, track_offline=False),
    )
    expected = {
        (
            e.exceedance_id,
            e.series.station_id,
            e.series.parameter,
            e.basis,
            e.first_start,
            e.last_end,
            e.closed_at,
            e.windows,
            round(e.peak.value, 6),
            e.peak.n_valid,
        )
        for e in offline.exceedances
    }
    assert any(e[1:3] == (scenario.station_id, scenario.parameter) for e in expected), "the scenario is judged"

    def in_database():
        rows = db.execute(
            "SELECT exceedance_id, station_id, parameter, basis, extract(epoch FROM first_window_start)::float8,"
            " extract(epoch FROM last_window_end)::float8, extract(epoch FROM closed_at)::float8, windows, peak_value,"
            " peak_n_valid"
            " FROM exceedances WHERE mine_id = ANY(%s) AND status <> 'withdrawn'",
            (list(AUDIT_MINES),),
        ).fetchall()
        return {
            (i, s, p, b, float(f), float(last), None if c is None else float(c), w, round(v, 6), n)
            for i, s, p, b, f, last, c, w, v, n in rows
        }

    eventually(lambda: in_database() == expected, timeout=60, what=f"the audit's exceedances {expected}")

    # the same data-quality findings, apart from offline (processing time in the worker, event time offline)
    wanted = {
        (f.station_id, f.parameter, f.finding.kind, round(f.finding.t), f.finding.cleared)
        for f in offline.findings
        if f.finding.kind != "offline"
    }
    assert {w[2] for w in wanted} >= {"constant_value", "sudden_jump", "out_of_range"}

    def findings():
        rows = db.execute(
            "SELECT station_id, parameter, kind, extract(epoch FROM t)::float8, cleared FROM quality_findings"
            " WHERE mine_id = ANY(%s) AND kind <> 'offline'",
            (list(AUDIT_MINES),),
        ).fetchall()
        return {(s, p, k, round(float(t)), c) for s, p, k, t, c in rows}

    eventually(lambda: findings() == wanted, timeout=30, what="the audit's data-quality findings")

    # and the command-line audit prints the same exceedances
    mine = scenario.mine_id
    lines = tmp_path / "readings.jsonl"
    lines.write_bytes(b"\n".join(p for p in publisher.payloads if json.loads(p)["mine_id"] == mine))
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "minewatch.cli",
            "audit",
            "--mine",
            mine,
            str(lines),
            "--registry",
            str(services.registry_path),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    printed = [json.loads(line) for line in out.stdout.splitlines()]
    ids = {d["exceedance_id"] for d in printed if d["type"] == "exceedance"}
    assert ids == {
        e[0] for e in expected if e[0] in {x.exceedance_id for x in offline.exceedances if x.series.mine_id == mine}
    }


def test_late_data_revises_the_verdict_and_withdraws_the_exceedance(services, pipeline, db):
    mine, station = "GZ520201-0001", "ST01"  # GB 16297-1996 表2: particulate 120 mg/m3, hourly mean
    now = datetime.now(UTC).timestamp()
    hour = (now - 3 * 86400) - (now - 3 * 86400) % 3600  # three days ago: no other test writes there

    def minute(t: float, dust: float) -> tuple[str, bytes, int]:
        payload = {
            "schema": "minewatch/telemetry-emission/v1",
            "message_id": f"late-{t:.0f}-{dust}",
            "mine_id": mine,
            "station_id": station,
            "ts": beijing_iso(t),
            "readings": [{"parameter": "a34013", "value": dust, "unit": "mg/m3", "flag": "N"}],
        }
        return f"minewatch/v1/mines/{mine}/telemetry/emission/{station}", json.dumps(payload).encode(), 1

    # 45 valid minutes at 135 make a valid hour over the limit; a reading after the hour moves the watermark
    publish_all(
        services.mqtt_endpoint(mine),
        [minute(hour + 60 * m + 30, 135.0) for m in range(45)] + [minute(hour + 3600 + 300, 100.0)],
    )

    def verdicts():
        return db.execute(
            "SELECT revision, outcome, value, n_valid FROM window_verdicts WHERE mine_id = %s AND station_id = %s"
            " AND parameter = 'a34013' AND window_start = to_timestamp(%s) ORDER BY revision",
            (mine, station, hour),
        ).fetchall()

    def exceedance():
        return db.execute(
            "SELECT status, windows, peak_value FROM exceedances WHERE mine_id = %s AND station_id = %s"
            " AND first_window_start = to_timestamp(%s)",
            (mine, station, hour),
        ).fetchone()

    eventually(lambda: verdicts() == [(1, "exceeds", 135.0, 45)], what="the hour judged over its limit")
    eventually(lambda: exceedance() is not None and exceedance()[0] == "open", what="the exceedance opened")
    # the missing quarter arrives late (a logger back-filling its buffer): the hour mean is 116.25
    publish_all(services.mqtt_endpoint(mine), [minute(hour + 60 * m + 30, 60.0) for m in range(45, 60)])
    eventually(
        lambda: verdicts() == [(1, "exceeds", 135.0, 45), (2, "complies", 116.25, 60)],
        what="the hour judged again, both verdicts kept",
    )
    eventually(lambda: exceedance()[0] == "withdrawn", what="the exceedance withdrawn")
