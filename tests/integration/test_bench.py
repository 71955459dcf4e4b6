"""`minewatch bench` as a smoke test: a few seconds of the real pipeline at a small size, with
its baselines. Figures are not asserted (speed is measured by running the benchmark, not by
tests); what must hold at any size is: nothing lost, every figure reported."""

from __future__ import annotations

import io
import json
import shutil
import tempfile
from pathlib import Path

import pytest

from benchmarks.pipeline import BenchOptions, run
from tests.conftest import admin_url

pytestmark = pytest.mark.integration


def test_the_benchmark_runs_end_to_end_and_loses_nothing() -> None:
    # Not under pytest's 0700 temp root: Mosquitto drops to its own user and must reach its files.
    run_dir = Path(tempfile.mkdtemp(prefix="minewatch-bench-"))
    run_dir.chmod(0o755)
    out = io.StringIO()
    options = BenchOptions(
        mines=12, rate=2000.0, duration_s=6.0, warmup_s=2.0, naive_s=5.0, run_dir=run_dir, db_url=admin_url()
    )
    try:
        summary = run(options, out)
        probe_rows = (run_dir / "row_latency.tsv").read_text().splitlines()
        probe_alerts = (run_dir / "alert_latency.tsv").read_text().splitlines()
        alert_stages = [line.split("\t") for line in (run_dir / "alert_stages.tsv").read_text().splitlines()]
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    assert json.loads(out.getvalue().strip().splitlines()[-1]) == summary
    assert summary["published_readings"] > 5_000 and summary["lost"] == 0
    assert summary["stored_readings"] == summary["published_readings"]
    assert summary["latency_publish_to_row_s"]["n"] > 10 and summary["latency_publish_to_alert_s"]["n"] >= 1
    assert probe_rows[0].split("\t") == ["run_s", "minute_s", "latency_s"]
    assert len(probe_rows) == 1 + summary["latency_publish_to_row_s"]["n"]  # every probe row, with its times
    assert len(probe_alerts) == 1 + summary["latency_publish_to_alert_s"]["n"]
    # every delivered probe alert, its stages in order in time, adding up to its latency
    assert len(alert_stages) == len(probe_alerts) and alert_stages[0][0] == "run_s"
    latencies = sorted(float(line.split("\t")[2]) for line in probe_alerts[1:])
    assert sorted(sum(float(x) for x in stage[1:]) for stage in alert_stages[1:]) == pytest.approx(latencies, abs=3e-3)
    assert all(float(x) > 0 for stage in alert_stages[1:] for x in stage[1:])  # one clock, one after another
    assert set(summary["alert_stages_s"]) == {"publish → alert raised", "→ notified", "→ delivered"}
    assert summary["copy_baseline"]["rows_per_s"] > 0 and summary["naive_baseline"]["rows_per_s"] > 0
    assert {"worker", "bridge", "publisher", "postgres (backends)"} <= set(summary["processes"])
