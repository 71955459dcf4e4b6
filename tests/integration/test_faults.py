"""The fault drills (minewatch/faults.py) on a stack of their own: real Mosquitto, Tansu,
PostgreSQL and minewatch's processes, killed, cut off and frozen while readings flow.

Every drill must end with the database holding exactly the readings published (none lost,
none doubled, nothing else) and exactly one alert for its one condition, with no process
dying on its own. `minewatch faults` runs the same drills larger by hand."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from minewatch.faults import FAULTS, Drill, drill_stack
from simulators.fleet import generate_fleet
from storage.migrate import drop_database
from tests.conftest import fresh_database_url

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def drill() -> Iterator[Drill]:
    run_dir = Path(tempfile.mkdtemp(prefix="minewatch-faults-"))
    run_dir.chmod(0o755)
    db_url = fresh_database_url("minewatch_faults")
    try:
        with drill_stack(run_dir, generate_fleet(2 * len(FAULTS) + 4, seed=7), db_url, outage_s=6.0) as running:
            yield running
    finally:
        drop_database(db_url)
        if not os.environ.get("MINEWATCH_KEEP_TEST_RUN"):
            shutil.rmtree(run_dir, ignore_errors=True)


@pytest.mark.parametrize("fault", FAULTS)
def test_the_database_holds_exactly_what_was_published_through_the_fault(drill: Drill, fault: str) -> None:
    result = drill.run(fault, messages=800, rate=200.0)
    assert result.published_messages == 801 and result.published_readings > 800
    assert (result.lost, result.unexpected, result.doubled) == (0, 0, 0), result.line()
    assert result.stored_readings == result.published_readings
    assert result.alerts == 1, result.line()  # raised once, through kills and replays
    assert result.restarts == [], f"processes died on their own: {result.restarts}"
    # Backpressure: the broker never lets the bridge hold more than its in-flight window.
    assert result.peak_unacknowledged <= 1000, result.line()
    assert max(result.peak_rss_mb.values()) < 400, result.line()


def test_an_unknown_fault_is_refused(drill: Drill) -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        drill.run("meteor-strike")
