"""The meter counts a process's children, including one started after the meter was."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from minewatch import processmeter
from minewatch.processmeter import ProcessMeter

CHILD = "import time\nend = time.process_time() + 0.6\nwhile time.process_time() < end: pass\ntime.sleep(3)"
PARENT = f"import subprocess, sys, time\ntime.sleep(0.3)\nsubprocess.run([sys.executable, '-c', {CHILD!r}])"


def test_cpu_of_a_child_started_after_the_meter_counts_to_its_parent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(processmeter, "FAMILY_REFRESH_S", 0.1)
    parent = subprocess.Popen([sys.executable, "-c", PARENT])
    try:
        meter = ProcessMeter()
        meter.add("parent", parent.pid)
        assert len(meter.families["parent"]) == 1  # no child yet
        meter.start()
        time.sleep(2.0)  # the child starts, burns 0.6 s of CPU, then idles
        usage = meter.stop()
    finally:
        parent.kill()
        parent.wait(10)
    assert len(meter.families["parent"]) == 2
    assert usage["parent"]["cpu_s"] >= 0.5
    assert usage["parent"]["peak_rss_mb"] > 1
