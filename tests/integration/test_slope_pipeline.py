"""A slope accelerating towards failure, through the running pipeline, judged as offline."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from datetime import UTC, datetime

import pytest

from minewatch.brokerconfig import SIMULATOR_USER
from minewatch.registry import Mine, Registry
from processors.windows import CST
from simulators.publisher import run_simulation
from simulators.slope import DAY, ProgressiveFailure
from simulators.telemetry import TelemetrySimulator
from tests.conftest import SLOPE_MINE, eventually
from tests.integration.test_compliance_pipeline import Recording

pytestmark = pytest.mark.integration
STEP = 600.0
TICKS = 576  # four days of 10-minute data


def test_progressive_failure_is_forecast_and_raises_a_slope_warning(services, pipeline, db, tmp_path):
    full = Registry.load(services.registry_path).mine(SLOPE_MINE)
    stations = {sid: s for sid, s in full.stations.items() if s.kind in ("slope", "rain")}
    mine = Mine(
        full.id, full.name, full.region_code, full.county_code, full.mineral, full.scale, full.mining_method, stations
    )
    registry = Registry({mine.id: mine})
    now = datetime.now(UTC).timestamp()
    start = now - TICKS * STEP
    truth = ProgressiveFailure(v0=0.5, onset=start + DAY, t_failure=now + 6 * 3600.0, start=start)
    models = {(mine.id, s.id): truth for s in stations.values() if s.slope_id == "SL01"}
    storm = {(mine.id, "RG01"): [(now - 12 * 3600.0, now - 4 * 3600.0, 8.0)]}  # 64 mm in 8 h
    simulator = TelemetrySimulator(registry, seed=3, slope_models=models, rain_spells=storm, sample_interval_s=STEP)
    with Recording(services.mqtt_endpoint(SIMULATOR_USER), client_id="slope-test") as publisher:
        run_simulation(
            simulator,
            publisher,
            interval_s=0.002,
            duration_s=TICKS * 0.002,
            stop=threading.Event(),
            event_start=start,
            event_step_s=STEP,
        )
        assert publisher.wait_acked(60)
    last_interval_end = start + (TICKS - 1) * STEP - (start + (TICKS - 1) * STEP) % STEP

    def crack_done() -> bool:
        row = db.execute(
            "SELECT max(t) FROM slope_assessments WHERE mine_id = %s AND station_id = 'SL01-C01'", (mine.id,)
        ).fetchone()
        return row[0] is not None and row[0].timestamp() >= last_interval_end - 4 * STEP  # the cleaner holds 3

    eventually(crack_done, timeout=120, what="the crack meter assessed to the end of the data")

    rows = db.execute(
        "SELECT extract(epoch FROM t)::float8, velocity, level, forecast_status,"
        " extract(epoch FROM forecast_failure)::float8 FROM slope_assessments"
        " WHERE mine_id = %s AND station_id = 'SL01-C01' ORDER BY t",
        (mine.id,),
    ).fetchall()
    assert len(rows) >= TICKS - 10
    t_last, v_last, level, status, tf = rows[-1]
    assert v_last > 5 * rows[len(rows) // 4][1], "the velocity grew with the acceleration"
    assert level in ("orange", "red") and status == "ok"
    remaining = truth.t_failure - t_last
    assert abs(tf - truth.t_failure) / remaining < 0.35, (tf - truth.t_failure) / 3600

    # every station's state is kept for a restart
    states = {r[0] for r in db.execute("SELECT station_id FROM slope_point_state WHERE mine_id = %s", (mine.id,))}
    assert states == set(stations)

    # the rainstorm raised rainfall to yellow, with its reason
    rain = db.execute(
        "SELECT level, reasons FROM rainfall_assessments WHERE mine_id = %s AND level = 'yellow' ORDER BY t LIMIT 1",
        (mine.id,),
    ).fetchone()
    assert rain is not None and "rainstorm" in rain[1][0]

    # the slope is at orange or red, and the bureau got a warning with the forecast failure time
    def slope_level():
        return db.execute(
            "SELECT level, forecast_failure FROM slope_levels WHERE mine_id = %s AND slope_id = 'SL01'"
            " ORDER BY t DESC LIMIT 1",
            (mine.id,),
        ).fetchone()

    eventually(lambda: slope_level() is not None and slope_level()[0] in ("orange", "red"), what="slope level")
    alerts = db.execute(
        "SELECT severity, summary FROM alerts WHERE mine_id = %s AND category = 'slope_warning' ORDER BY alert_id",
        (mine.id,),
    ).fetchall()
    assert alerts and alerts[-1][0] in ("orange", "red")
    assert any("failure forecast" in summary for _, summary in alerts)

    # the same detectors offline, on the same crack-meter readings, reach the same forecast
    csv = tmp_path / "crack.csv"
    lines = ["time,point,displacement_mm"]
    for payload in publisher.payloads:
        doc = json.loads(payload)
        if doc["station_id"] == "SL01-C01":
            lines += [f"{doc['ts']},SL01-C01,{r['value']}" for r in doc["readings"]]
    csv.write_text("\n".join(lines) + "\n")
    out = subprocess.run(
        [sys.executable, "-m", "minewatch.cli", "slope", "analyze", str(csv), "--item", "crack", "--v-const", "0.5"],
        check=True,
        capture_output=True,
        text=True,
    )
    offline = {d["t"]: d for d in map(json.loads, out.stdout.splitlines()) if d["type"] == "assessment"}
    last = offline[datetime.fromtimestamp(t_last, CST).isoformat()]
    assert last["level"] == level
    assert datetime.fromisoformat(last["forecast"]["t_failure"]).timestamp() == pytest.approx(tf, abs=1.0)
