"""The Grafana dashboards work: their structure holds, every SQL panel runs, every metric exists.

Grafana does not run here, so the test does what it would do with each query:

* the dashboards and provisioning files are checked for what Grafana relies on (data source
  uids, unique panel ids, template variables that are defined, formats that fit the panel);
* a fresh database is filled the way a user fills one, with ``minewatch up`` (four simulated
  mines, the exceedance scenario) and ``minewatch compliance evaluate`` for last month;
* every SQL target (and every query variable) is rewritten by :mod:`minewatch.grafana` exactly
  as Grafana's PostgreSQL data source rewrites it, over a time range covering the data and with
  the variables set to a mine that has readings, an exceedance, an alert and slope assessments,
  then run with psycopg: it must succeed and return rows, and a time-series result must have a
  ``time`` column in ascending order (Grafana refuses the series otherwise);
* every metric a Prometheus target uses must be registered by minewatch's code.

``$__timeGroup`` becomes TimescaleDB's ``time_bucket`` because the data source says
``timescaledb: true``. On a server without TimescaleDB the queries run in both forms: as Grafana
writes them without TimescaleDB, and as it writes them for production, against a SQL stand-in
for ``time_bucket(interval, timestamptz)`` created in the test's own database.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
import yaml

from minewatch.grafana import (
    BUILTIN_VARIABLES,
    MACROS,
    Target,
    TimeRange,
    VariableValue,
    defined_variables,
    iter_panels,
    iter_targets,
    iter_variables,
    load_dashboards,
    parse_interval,
    render_sql,
    variable_references,
)
from storage.migrate import drop_database, ensure_database
from tests.conftest import fresh_database_url, run_up

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARDS = load_dashboards(GRAFANA / "dashboards")
PG_UID, PROM_UID = "minewatch-pg", "minewatch-prom"
DATASOURCE_TYPES = {PG_UID: {"postgres", "grafana-postgresql-datasource"}, PROM_UID: {"prometheus"}}
PANEL_TYPES = {"timeseries", "table", "stat", "bargauge"}
SQL_TARGETS = [t for board in DASHBOARDS.values() for t in iter_targets(board) if t.datasource_uid == PG_UID]
PROM_TARGETS = [t for board in DASHBOARDS.values() for t in iter_targets(board) if t.datasource_uid == PROM_UID]
METRIC = re.compile(r"minewatch_[a-z0-9_]+")
HISTOGRAM_SERIES = re.compile(r"_(bucket|sum|count)$")  # a histogram's series, named by the histogram
# Stands in for TimescaleDB's time_bucket(interval, timestamptz) on plain PostgreSQL (buckets from the epoch).
TIME_BUCKET_STAND_IN = """
CREATE FUNCTION time_bucket(bucket_width interval, ts timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT to_timestamp(
        floor(extract(epoch FROM ts) / extract(epoch FROM bucket_width)) * extract(epoch FROM bucket_width)
    )
$$
"""


def _target_id(target: Target) -> str:
    return f"{target.dashboard.removeprefix('minewatch · ')} / {target.panel} / {target.ref_id}"


def _provisioned_datasources() -> dict[str, dict[str, Any]]:
    sources: dict[str, dict[str, Any]] = {}
    for path in sorted((GRAFANA / "provisioning" / "datasources").glob("*.yaml")):
        for source in yaml.safe_load(path.read_text(encoding="utf-8")).get("datasources") or ():
            sources[source["uid"]] = source
    return sources


# ---------------------------------------------------------------------------------------------------------------
# Structure


def test_provisioning_defines_the_datasources_and_loads_the_dashboards():
    sources = _provisioned_datasources()
    pg, prom = sources[PG_UID], sources[PROM_UID]
    assert pg["type"] in DATASOURCE_TYPES[PG_UID] and pg["url"] == "timescaledb:5432" and pg["user"] == "minewatch"
    assert pg["jsonData"]["database"] == "minewatch" and pg["jsonData"]["timescaledb"] is True
    assert pg["secureJsonData"]["password"] in ("$POSTGRES_PASSWORD", "${POSTGRES_PASSWORD}")
    assert prom["type"] == "prometheus" and prom["url"] == "http://prometheus:9090"
    providers = [
        provider
        for path in sorted((GRAFANA / "provisioning" / "dashboards").glob("*.yaml"))
        for provider in yaml.safe_load(path.read_text(encoding="utf-8"))["providers"]
    ]
    assert [p["options"]["path"] for p in providers] == ["/var/lib/grafana/dashboards"]
    assert all(p["type"] == "file" for p in providers)


def test_dashboards_have_unique_uids_and_titles():
    assert len(DASHBOARDS) >= 4
    uids = [board["uid"] for board in DASHBOARDS.values()]
    titles = [board["title"] for board in DASHBOARDS.values()]
    assert len(set(uids)) == len(uids) and all(uids)
    assert len(set(titles)) == len(titles)


@pytest.mark.parametrize("path", sorted(DASHBOARDS), ids=lambda p: p.stem)
def test_dashboard_structure(path: Path):
    board = DASHBOARDS[path]
    assert board["schemaVersion"] >= 36, "Grafana 10/11 dashboard schema"
    panels = list(iter_panels(board))
    ids = [panel["id"] for panel in panels]
    assert len(set(ids)) == len(ids), f"panel ids repeat: {sorted(ids)}"
    defined = defined_variables(board)
    for panel in panels:
        if panel["type"] == "row":
            continue
        assert panel["type"] in PANEL_TYPES, panel["title"]
        assert panel.get("targets"), f"{panel['title']} has no query"
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"])
    queries: list[tuple[str, str]] = []
    for target in iter_targets(board):
        name = _target_id(target)
        assert target.datasource_uid in DATASOURCE_TYPES, f"{name}: data source {target.datasource_uid}"
        assert target.datasource_type in DATASOURCE_TYPES[target.datasource_uid], name
        assert target.query.strip(), f"{name} is empty"
        if target.datasource_uid == PG_UID:
            assert target.format in ("time_series", "table"), name
            if target.panel_type == "timeseries":
                assert target.format == "time_series", f"{name}: a time-series panel needs time_series rows"
        queries.append((name, target.query))
    for variable in iter_variables(board):
        assert variable.datasource_uid in DATASOURCE_TYPES, variable.name
        queries.append((f"variable {variable.name}", variable.query))
    for name, query in queries:
        for ref in variable_references(query):
            if ref.startswith("__"):
                assert ref in MACROS | BUILTIN_VARIABLES, f"{name}: Grafana has no ${ref}"
            else:
                assert ref in defined, f"{name}: ${ref} is not a variable of {board['title']}"


# ---------------------------------------------------------------------------------------------------------------
# Every SQL panel runs on a database filled by `minewatch up`


@dataclass(frozen=True)
class FilledDatabase:
    url: str
    summary: dict[str, Any]
    timescaledb: bool


@pytest.fixture(scope="module")
def filled_database() -> Iterator[FilledDatabase]:
    # Not under pytest's 0700 temp root: Mosquitto drops to its own user and must reach its files.
    run_dir = Path(tempfile.mkdtemp(prefix="minewatch-dashboards-"))
    run_dir.chmod(0o755)
    url = fresh_database_url("minewatch_dashboards")
    ensure_database(url)
    env = {**os.environ, "MINEWATCH_DB_URL": url}
    try:
        up = run_up(run_dir / "run", env, cwd=ROOT)
        assert up.returncode == 0, up.stderr[-3000:]
        summary = json.loads(up.stdout.strip().splitlines()[-1])
        evaluate = subprocess.run(
            [sys.executable, "-m", "minewatch.cli", "compliance", "evaluate", "--period", _last_month()],
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
            env={**env, "MINEWATCH_REGISTRY": str(run_dir / "run" / "registry.yaml")},
            cwd=ROOT,
        )
        assert evaluate.returncode == 0, evaluate.stderr[-3000:]
        with psycopg.connect(url, autocommit=True) as conn:
            timescaledb = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
            if not timescaledb:
                conn.execute(TIME_BUCKET_STAND_IN)
        yield FilledDatabase(url, summary, timescaledb is not None)
    finally:
        drop_database(url)
        if not os.environ.get("MINEWATCH_KEEP_TEST_RUN"):
            shutil.rmtree(run_dir, ignore_errors=True)


def _last_month() -> str:
    first = datetime.now(ZoneInfo("Asia/Shanghai")).date().replace(day=1)
    return (first - timedelta(days=1)).strftime("%Y-%m")


@pytest.fixture(scope="module")
def time_range() -> TimeRange:
    now = datetime.now(UTC)
    return TimeRange(now - timedelta(days=2), now + timedelta(days=1))


@pytest.fixture(scope="module")
def interval(time_range: TimeRange) -> timedelta:
    """``$__interval`` for a 1000-point panel, never below the data source's minimum (``timeInterval``)."""
    minimum = _provisioned_datasources()[PG_UID].get("jsonData", {}).get("timeInterval")
    return time_range.interval(min_interval=parse_interval(minimum) if minimum else None)


@pytest.fixture(scope="module")
def chosen_mine(filled_database: FilledDatabase) -> str:
    """A mine the panels have something to show for: readings, an exceedance, an alert, slope assessments."""
    with psycopg.connect(filled_database.url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT e.mine_id FROM exceedances AS e"
            " WHERE EXISTS (SELECT 1 FROM alerts AS a WHERE a.mine_id = e.mine_id)"
            " AND EXISTS (SELECT 1 FROM slope_assessments AS s WHERE s.mine_id = e.mine_id)"
            " ORDER BY 1 LIMIT 1"
        ).fetchone()
    assert row is not None, "the exceedance scenario left no mine with an exceedance, an alert and slope data"
    return row[0]


def _flavours(filled_database: FilledDatabase) -> list[bool]:
    """The ``timescaledb`` settings to expand with: the server's, and production's (True) via the stand-in."""
    return [True] if filled_database.timescaledb else [False, True]


def _render(sql: str, variables: dict[str, VariableValue], time_range: TimeRange, interval: timedelta, ts: bool):
    return render_sql(sql, time_range, variables, interval=interval, timescaledb=ts)


@pytest.fixture(scope="module")
def variable_values(
    filled_database: FilledDatabase, chosen_mine: str, time_range: TimeRange, interval: timedelta
) -> dict[str, dict[str, VariableValue]]:
    """Each dashboard's variables as a user would set them: the chosen mine, every station ("All").

    Each query variable's own query is run (as Grafana runs it) and must offer values.
    """
    values: dict[str, dict[str, VariableValue]] = {}
    with psycopg.connect(filled_database.url, autocommit=True) as conn:
        for board in DASHBOARDS.values():
            chosen: dict[str, VariableValue] = {}
            for variable in iter_variables(board):
                sql = _render(variable.query, chosen, time_range, interval, filled_database.timescaledb)
                options = [str(row[0]) for row in conn.execute(sql).fetchall()]
                assert options, f"{board['title']}: variable {variable.name} offers nothing ({sql})"
                if variable.name == "mine":
                    assert chosen_mine in options, f"{board['title']}: {chosen_mine} is not among {options}"
                    chosen[variable.name] = chosen_mine
                elif variable.multi or variable.include_all:
                    chosen[variable.name] = options
                else:
                    chosen[variable.name] = options[0]
            values[board["title"]] = chosen
    return values


@pytest.mark.parametrize("target", SQL_TARGETS, ids=_target_id)
def test_sql_panel_runs_and_returns_rows(
    target: Target,
    filled_database: FilledDatabase,
    variable_values: dict[str, dict[str, VariableValue]],
    time_range: TimeRange,
    interval: timedelta,
):
    variables = variable_values[target.dashboard]
    with psycopg.connect(filled_database.url, autocommit=True) as conn:
        conn.execute("SET statement_timeout = '30s'")
        for timescaledb in _flavours(filled_database):
            sql = _render(target.query, variables, time_range, interval, timescaledb)
            try:
                cursor = conn.execute(sql)
            except psycopg.Error as exc:
                pytest.fail(f"{_target_id(target)} (timescaledb={timescaledb}) failed: {exc}\n{sql}")
            rows = cursor.fetchall()
            columns = [column.name for column in cursor.description or ()]
            assert rows, f"{_target_id(target)} returned no rows:\n{sql}"
            if target.format == "time_series":
                assert "time" in columns, f"{_target_id(target)}: no time column in {columns}"
                times = [row[columns.index("time")] for row in rows]
                assert times == sorted(times), f"{_target_id(target)}: rows are not in time order"


# ---------------------------------------------------------------------------------------------------------------
# Every Prometheus metric exists


@functools.cache
def _python_sources() -> str:
    """minewatch's own code: every .py file outside the virtualenv, hidden folders, build output and tests."""
    skip = {"tests", "build", "dist", "minewatch-data", "minewatch.egg-info"}
    texts = []
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).parts
        if any(part.startswith(".") or part in skip for part in parts[:-1]):
            continue
        texts.append(path.read_text(encoding="utf-8", errors="replace"))
    return "\n".join(texts)


def _metric_names() -> list[str]:
    names = set()
    for target in PROM_TARGETS:
        names.update(HISTOGRAM_SERIES.sub("", name) for name in METRIC.findall(target.query))
    return sorted(names)


def test_prometheus_targets_use_minewatch_metrics():
    assert PROM_TARGETS and all(METRIC.search(t.query) for t in PROM_TARGETS)


@pytest.mark.parametrize("name", _metric_names())
def test_metric_is_registered(name: str):
    """prometheus_client adds ``_total`` to a counter's name, so ``Counter("x")`` exports ``x_total``."""
    registered = f'"{name}"' in _python_sources()
    if not registered and name.endswith("_total"):
        registered = f'"{name.removesuffix("_total")}"' in _python_sources()
    assert registered, f"no code registers {name}"
