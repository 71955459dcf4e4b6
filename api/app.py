"""The bureau API: alerts, mines, readings, exceedances and silences, each seen only inside the
caller's jurisdiction.

``minewatch api`` serves it (uvicorn); the OpenAPI document is at ``/openapi.json`` and the
interactive one at ``/docs``. Every request carries ``Authorization: Bearer <token>``
(``minewatch tokens create``). Something outside the caller's jurisdiction answers 404, as if
it did not exist; a mine's token is read-only (403 on actions); a client that fails to
authenticate 20 times within a minute is refused (429) for the rest of that minute.

Every query is parameterised; the only SQL put together at run time is chosen from fixed
fragments in this module, never from what a caller sends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import psycopg
from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from alerts.lifecycle import InvalidTransition
from alerts.routing import SEVERITY_ORDER
from alerts.store import AlertNotFound, AlertStore
from api import green
from api.auth import Caller, FailureLimiter
from api.deps import (
    ACTION_ERRORS,
    ALERTS_IN_JURISDICTION,
    ERRORS,
    NOT_FOUND,
    AlertId,
    CallerDep,
    MineId,
    alert_of,
    count_requests,
    database_unavailable,
    destination,
    fetch,
    internal_error,
    invalid_request,
    known_query_only,
    mine_filter,
    mine_in,
    visible_alert,
)
from api.models import (
    AREA_CODE,
    BIGINT,
    MINE_ID,
    PARAMETER,
    STATION_ID,
    Acknowledge,
    Alert,
    AlertCategory,
    AlertDetail,
    AlertPage,
    AlertStatus,
    Bucket,
    ExceedancePage,
    ExceedanceStatus,
    HistoryEntry,
    MineStatus,
    MineSummary,
    Problem,
    ReadingSeries,
    Reopen,
    Resolve,
    Severity,
    Silence,
    SilenceCreate,
    Timestamp,
    WhoAmI,
)
from ingest.validation import Gatekeeper
from minewatch.registry import Registry
from minewatch.settings import Settings

BUCKETS = {"1m": timedelta(minutes=1), "10m": timedelta(minutes=10), "1h": timedelta(hours=1), "1d": timedelta(days=1)}
BUCKET_ORIGIN = datetime.fromisoformat("2000-01-01T00:00:00+08:00")  # days are China Standard Time days
AGGREGATES = {"1h": "readings_hourly", "1d": "readings_daily"}  # fixed names, never from a caller
MAX_RAW_SPAN = timedelta(days=7)
MAX_SPAN = timedelta(days=366)
MAX_POINTS = 10_000
MAX_SILENCE = timedelta(days=30)


def create_app(settings: Settings | None = None, registry: Registry | None = None) -> FastAPI:
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = AsyncConnectionPool(
            settings.db_url,
            min_size=1,
            max_size=8,
            timeout=5.0,
            open=False,
            kwargs={"autocommit": True, "row_factory": dict_row},
        )
        await pool.open()
        app.state.pool = pool
        try:
            yield
        finally:
            await pool.close()

    app = FastAPI(
        title="minewatch bureau API",
        version="1",
        description=__doc__,
        lifespan=lifespan,
        responses=ERRORS,
        dependencies=[Depends(known_query_only)],
    )
    app.add_exception_handler(RequestValidationError, invalid_request)  # type: ignore[arg-type]
    app.add_exception_handler(psycopg.OperationalError, database_unavailable)
    app.add_exception_handler(PoolTimeout, database_unavailable)
    app.add_exception_handler(Exception, internal_error)
    app.middleware("http")(count_requests)
    app.state.registry = registry or Registry.load(settings.registry_path)
    app.state.routing = settings.routing()
    app.state.limiter = FailureLimiter()
    app.state.gate = Gatekeeper(app.state.registry)
    _routes(app)
    green.routes(app)
    return app


def _routes(app: FastAPI) -> None:
    @app.get("/v1/whoami", response_model=WhoAmI, tags=["access"])
    async def whoami(request: Request, caller: CallerDep) -> WhoAmI:
        """The caller's token: its holder, jurisdiction and whether it may act on alerts."""
        return WhoAmI(
            name=caller.name,
            level=caller.level,
            area=caller.area,
            agency=caller.agency,
            may_act=caller.may_act,
            mines=len(caller.mine_ids(request.app.state.registry)),
        )

    @app.get("/v1/alerts", response_model=AlertPage, tags=["alerts"])
    async def list_alerts(
        request: Request,
        caller: CallerDep,
        status: Annotated[list[AlertStatus] | None, Query(description="any of these statuses")] = None,
        category: AlertCategory | None = None,
        min_severity: Severity | None = None,
        mine_id: Annotated[str | None, Query(pattern=MINE_ID)] = None,
        station_id: Annotated[str | None, Query(pattern=STATION_ID)] = None,
        region: Annotated[str | None, Query(pattern=AREA_CODE)] = None,
        county: Annotated[str | None, Query(pattern=AREA_CODE)] = None,
        since: Annotated[Timestamp | None, Query(description="first seen at or after")] = None,
        until: Annotated[Timestamp | None, Query(description="first seen before")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        cursor: Annotated[int | None, Query(ge=1, le=BIGINT, description="next_cursor of the previous page")] = None,
    ) -> AlertPage:
        """Alerts in the caller's jurisdiction, newest first."""
        where = [ALERTS_IN_JURISDICTION[caller.level]]
        params: dict[str, Any] = {"j_area": caller.area, "limit": limit + 1}
        filters: Sequence[tuple[Any, str, str]] = (
            (status, "status", "a.status = ANY(%(status)s)"),
            (category, "category", "a.category = %(category)s"),
            (mine_id, "mine_id", "a.mine_id = %(mine_id)s"),
            (station_id, "station_id", "a.station_id = %(station_id)s"),
            (region, "region", "a.region_code = %(region)s"),
            (county, "county", "a.county_code = %(county)s"),
            (since, "since", "a.first_seen >= %(since)s"),
            (until, "until", "a.first_seen < %(until)s"),
            (cursor, "cursor", "a.alert_id < %(cursor)s"),
        )
        for value, name, fragment in filters:
            if value is not None:
                where.append(sql.SQL(fragment))  # type: ignore[arg-type]
                params[name] = value
        if min_severity is not None:
            where.append(sql.SQL("a.severity = ANY(%(severities)s)"))
            params["severities"] = list(SEVERITY_ORDER[SEVERITY_ORDER.index(min_severity) :])
        query = sql.SQL("SELECT * FROM alerts a WHERE {} ORDER BY a.alert_id DESC LIMIT %(limit)s").format(
            sql.SQL(" AND ").join(where)
        )
        async with request.app.state.pool.connection() as conn:
            rows = await fetch(conn, query, params)
        more = len(rows) > limit
        rows = rows[:limit]
        return AlertPage(items=[alert_of(r) for r in rows], next_cursor=rows[-1]["alert_id"] if more else None)

    @app.get("/v1/alerts/{alert_id}", response_model=AlertDetail, tags=["alerts"], responses=NOT_FOUND)
    async def getalert_of(request: Request, caller: CallerDep, alert_id: AlertId) -> AlertDetail:
        """One alert, who it was routed to and how each notification about it was delivered."""
        async with request.app.state.pool.connection() as conn:
            row = await visible_alert(conn, caller, alert_id)
            routes = await fetch(
                conn,
                "SELECT target_id, level, area, agency, reason, created_at, first_notified_at, notified_at,"
                " notified_state FROM alert_routes WHERE alert_id = %s ORDER BY created_at, target_id",
                (alert_id,),
            )
            deliveries = await fetch(
                conn,
                "SELECT n.notification_id, n.target_id, d.channel, d.target, d.format, d.status, d.attempts,"
                " d.last_error, d.created_at, d.sent_at FROM notifications n"
                " JOIN notification_deliveries d USING (notification_id)"
                " WHERE %s = ANY(n.alert_ids) ORDER BY d.delivery_id",
                (alert_id,),
            )
        if caller.level == "mine":  # a mine sees that it was told, not how its bureaus were
            routes = [r for r in routes if r["level"] == "mine"]
            deliveries = [d for d in deliveries if d["target_id"] == f"mine:{caller.area}"]
        return AlertDetail(
            **alert_of(row).model_dump(),
            routes=routes,  # type: ignore[arg-type]
            deliveries=[{**d, "destination": destination(d["channel"], d["target"])} for d in deliveries],  # type: ignore[misc]
        )

    @app.get("/v1/alerts/{alert_id}/history", response_model=list[HistoryEntry], tags=["alerts"], responses=NOT_FOUND)
    async def alert_history(request: Request, caller: CallerDep, alert_id: AlertId) -> list[dict[str, Any]]:
        """Every transition of the alert: who, when, from what to what, and why."""
        async with request.app.state.pool.connection() as conn:
            await visible_alert(conn, caller, alert_id)
            return await fetch(
                conn,
                "SELECT seq, at, action, actor, from_status, to_status, severity, comment FROM alert_history"
                " WHERE alert_id = %s ORDER BY seq",
                (alert_id,),
            )

    async def act(request: Request, caller: Caller, alert_id: int, action: str, comment: str | None) -> Alert:
        async with request.app.state.pool.connection() as conn, conn.transaction():
            await visible_alert(conn, caller, alert_id)
            if not caller.may_act:
                raise HTTPException(403, "a mine's token is read-only: its bureau acknowledges and resolves its alerts")
            try:
                row = await AlertStore(conn, request.app.state.routing).act(alert_id, action, caller.actor, comment)
            except InvalidTransition as exc:
                raise HTTPException(409, str(exc)) from None
            except AlertNotFound:
                raise HTTPException(404, f"no alert {alert_id} in your jurisdiction") from None
        return alert_of(row)

    @app.post("/v1/alerts/{alert_id}/acknowledge", response_model=Alert, tags=["alerts"], responses=ACTION_ERRORS)
    async def acknowledge(request: Request, caller: CallerDep, alert_id: AlertId, body: Acknowledge) -> Alert:
        """Take the alert: stops its escalation. The comment (optional) goes into its history."""
        return await act(request, caller, alert_id, "acknowledge", body.comment)

    @app.post("/v1/alerts/{alert_id}/resolve", response_model=Alert, tags=["alerts"], responses=ACTION_ERRORS)
    async def resolve(request: Request, caller: CallerDep, alert_id: AlertId, body: Resolve) -> Alert:
        """Close the alert by hand, saying why. If the condition recurs soon, minewatch reopens it."""
        return await act(request, caller, alert_id, "resolve", body.comment)

    @app.post("/v1/alerts/{alert_id}/reopen", response_model=Alert, tags=["alerts"], responses=ACTION_ERRORS)
    async def reopen(request: Request, caller: CallerDep, alert_id: AlertId, body: Reopen) -> Alert:
        """Reopen a resolved alert, saying why; it is told again and escalates again."""
        return await act(request, caller, alert_id, "reopen", body.comment)

    @app.get("/v1/mines", response_model=list[MineSummary], tags=["mines"])
    async def list_mines(
        request: Request,
        caller: CallerDep,
        region: Annotated[str | None, Query(pattern=AREA_CODE)] = None,
        county: Annotated[str | None, Query(pattern=AREA_CODE)] = None,
    ) -> list[MineSummary]:
        """The registered mines in the caller's jurisdiction, with their open alerts."""
        registry: Registry = request.app.state.registry
        mines = [
            m
            for m in registry
            if caller.sees(m.region_code, m.county_code, m.id)
            and (region is None or m.region_code == region)
            and (county is None or m.county_code == county)
        ]
        async with request.app.state.pool.connection() as conn:
            rows = await fetch(
                conn,
                "SELECT mine_id, count(*) AS n, array_agg(DISTINCT severity) AS severities FROM alerts"
                " WHERE status <> 'resolved' AND mine_id = ANY(%s) GROUP BY mine_id",
                ([m.id for m in mines],),
            )
        open_by_mine = {r["mine_id"]: r for r in rows}
        out = []
        for m in mines:
            found = open_by_mine.get(m.id)
            worst = max(found["severities"], key=SEVERITY_ORDER.index) if found else None
            out.append(
                MineSummary(
                    mine_id=m.id,
                    name=m.name,
                    region_code=m.region_code,
                    county_code=m.county_code,
                    mineral=m.mineral,
                    stations=len(m.stations),
                    open_alerts=found["n"] if found else 0,
                    worst_open_severity=worst,
                )
            )
        return out

    @app.get("/v1/mines/{mine_id}", response_model=MineStatus, tags=["mines"], responses=NOT_FOUND)
    async def mine_status(request: Request, caller: CallerDep, mine_id: MineId) -> MineStatus:
        """A mine now: each station's latest readings and whether it reports, open alerts and
        exceedances, and each slope's warning level."""
        mine = mine_in(request, caller, mine_id)
        sensors = [(s.id, sensor.parameter) for s in mine.stations.values() for sensor in s.sensors]
        async with request.app.state.pool.connection() as conn:
            latest = await fetch(
                conn,
                "SELECT k.station_id, k.parameter, r.ts, r.value, r.unit, r.flag"
                " FROM unnest(%s::text[], %s::text[]) AS k(station_id, parameter)"
                " CROSS JOIN LATERAL (SELECT ts, value, unit, flag FROM readings"
                "   WHERE mine_id = %s AND station_id = k.station_id AND parameter = k.parameter"
                "   ORDER BY ts DESC LIMIT 1) r",
                ([s for s, _ in sensors], [p for _, p in sensors], mine.id),
            )
            offline = await fetch(
                conn,
                "SELECT DISTINCT ON (station_id) station_id, cleared FROM quality_findings"
                " WHERE mine_id = %s AND kind = 'offline' ORDER BY station_id, t DESC",
                (mine.id,),
            )
            alerts = await fetch(
                conn, "SELECT * FROM alerts WHERE mine_id = %s AND status <> 'resolved' ORDER BY alert_id", (mine.id,)
            )
            exceedances = await fetch(
                conn, "SELECT count(*) AS n FROM exceedances WHERE mine_id = %s AND status = 'open'", (mine.id,)
            )
            slopes = await fetch(
                conn,
                "SELECT DISTINCT ON (slope_id) slope_id, level, t, forecast_failure FROM slope_levels"
                " WHERE mine_id = %s ORDER BY slope_id, t DESC",
                (mine.id,),
            )
        offline_by_station = {r["station_id"]: not r["cleared"] for r in offline}
        stations = []
        for station in mine.stations.values():
            readings = [r for r in latest if r["station_id"] == station.id]
            last = max((r["ts"] for r in readings), default=None)
            online = None if last is None else not offline_by_station.get(station.id, False)
            stations.append(
                {
                    "station_id": station.id,
                    "kind": station.kind,
                    "name": station.name,
                    "online": online,
                    "last_reading_at": last,
                    "latest": readings,
                }
            )
        return MineStatus(
            mine_id=mine.id,
            name=mine.name,
            region_code=mine.region_code,
            county_code=mine.county_code,
            stations=stations,  # type: ignore[arg-type]
            open_alerts=[alert_of(a) for a in alerts],
            open_exceedances=exceedances[0]["n"],
            slopes=slopes,  # type: ignore[arg-type]
        )

    @app.get(
        "/v1/mines/{mine_id}/readings",
        response_model=ReadingSeries,
        tags=["mines"],
        responses={**NOT_FOUND, 422: {"model": Problem, "description": "a range too long for the bucket"}},
    )
    async def readings(
        request: Request,
        caller: CallerDep,
        mine_id: MineId,
        station_id: Annotated[str, Query(pattern=STATION_ID)],
        parameter: Annotated[str, Query(pattern=PARAMETER, description="HJ 212-2017 code, e.g. w01018 (COD)")],
        start: Annotated[Timestamp | None, Query(description="default: 24 h before end")] = None,
        end: Annotated[Timestamp | None, Query(description="default: now")] = None,
        bucket: Annotated[Bucket, Query(description="raw readings, or means over buckets of this size")] = "1h",
    ) -> ReadingSeries:
        """A station's readings of one parameter over a time range, raw or aggregated into buckets
        (days are China Standard Time days). Buckets average valid readings (flag N) only."""
        mine = mine_in(request, caller, mine_id)
        if mine.station(station_id) is None:
            raise HTTPException(404, f"mine {mine_id} has no station {station_id}")
        end = end or datetime.now(UTC)
        try:
            start = start or end - timedelta(hours=24)
        except OverflowError:
            raise HTTPException(422, "give start as well: 24 h before end is before year 1") from None
        if end <= start:
            raise HTTPException(422, "end must be after start")
        span = end - start
        if bucket == "raw" and span > MAX_RAW_SPAN:
            raise HTTPException(422, f"raw readings cover at most {MAX_RAW_SPAN.days} days; use a bucket")
        if span > MAX_SPAN:
            raise HTTPException(422, f"a range covers at most {MAX_SPAN.days} days")
        params = {"mine": mine.id, "station": station_id, "parameter": parameter, "start": start, "end": end}
        if bucket == "raw":
            query = (
                "SELECT ts AS t, value, value AS min, value AS max, 1 AS n, flag, unit FROM readings"
                " WHERE mine_id = %(mine)s AND station_id = %(station)s AND parameter = %(parameter)s"
                " AND ts >= %(start)s AND ts < %(end)s ORDER BY ts LIMIT %(limit)s"
            )
        elif bucket in AGGREGATES:  # continuous aggregates on TimescaleDB, views on plain PostgreSQL
            query = sql.SQL(
                "SELECT bucket AS t, avg_value AS value, min_value AS min, max_value AS max, n, NULL AS flag,"
                " %(unit)s::text AS unit FROM {} WHERE mine_id = %(mine)s AND station_id = %(station)s"
                " AND parameter = %(parameter)s AND bucket >= %(start)s AND bucket < %(end)s ORDER BY bucket"
                " LIMIT %(limit)s"
            ).format(sql.Identifier(AGGREGATES[bucket]))
            sensor = next((s for s in mine.stations[station_id].sensors if s.parameter == parameter), None)
            params["unit"] = sensor.unit if sensor else None
        else:
            query = (
                "SELECT date_bin(%(width)s, ts, %(origin)s) AS t, avg(value) AS value, min(value) AS min,"
                " max(value) AS max, count(value) AS n, NULL AS flag, min(unit) AS unit FROM readings"
                " WHERE mine_id = %(mine)s AND station_id = %(station)s AND parameter = %(parameter)s"
                " AND ts >= %(start)s AND ts < %(end)s AND flag = 'N' GROUP BY 1 ORDER BY 1 LIMIT %(limit)s"
            )
            params |= {"width": BUCKETS[bucket], "origin": BUCKET_ORIGIN}
        params["limit"] = MAX_POINTS + 1
        async with request.app.state.pool.connection() as conn:
            rows = await fetch(conn, query, params)
        truncated = len(rows) > MAX_POINTS
        rows = rows[:MAX_POINTS]
        return ReadingSeries(
            mine_id=mine.id,
            station_id=station_id,
            parameter=parameter,
            unit=rows[0]["unit"] if rows else None,
            bucket=bucket,
            start=start,
            end=end,
            points=rows,  # type: ignore[arg-type]
            truncated=truncated,
        )

    @app.get("/v1/exceedances", response_model=ExceedancePage, tags=["exceedances"])
    async def list_exceedances(
        request: Request,
        caller: CallerDep,
        mine_id: Annotated[str | None, Query(pattern=MINE_ID)] = None,
        status: ExceedanceStatus | None = None,
        since: Annotated[Timestamp | None, Query(description="episodes ending at or after")] = None,
        until: Annotated[Timestamp | None, Query(description="episodes starting before")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        cursor: Annotated[str | None, Query(pattern=r"^[0-9]{1,19}:[A-Za-z0-9_-]{1,80}$")] = None,
    ) -> ExceedancePage:
        """Exceedance episodes (consecutive windows over a limit) in the caller's jurisdiction,
        latest first, with the limit, its citation and the worst window."""
        mines, params = mine_filter(request, caller)
        where = [mines]
        params |= {"limit": limit + 1}
        for value, name, fragment in (
            (mine_id, "mine_id", "mine_id = %(mine_id)s"),
            (status, "status", "status = %(status)s"),
            (since, "since", "last_window_end >= %(since)s"),
            (until, "until", "first_window_start < %(until)s"),
        ):
            if value is not None:
                where.append(sql.SQL(fragment))  # type: ignore[arg-type]
                params[name] = value
        if cursor is not None:
            micros, exceedance_id = cursor.split(":", 1)
            try:
                after = datetime.fromtimestamp(int(micros) / 1e6, UTC)
            except (OverflowError, ValueError, OSError):
                raise HTTPException(422, "not a cursor this API gave out") from None
            where.append(sql.SQL("(first_window_start, exceedance_id) < (%(c_ts)s, %(c_id)s)"))
            params |= {"c_ts": after, "c_id": exceedance_id}
        query = sql.SQL(
            "SELECT * FROM exceedances WHERE {} ORDER BY first_window_start DESC, exceedance_id DESC LIMIT %(limit)s"
        ).format(sql.SQL(" AND ").join(where))
        async with request.app.state.pool.connection() as conn:
            rows = await fetch(conn, query, params)
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = None
        if more:
            last = rows[-1]
            next_cursor = f"{round(last['first_window_start'].timestamp() * 1e6)}:{last['exceedance_id']}"
        return ExceedancePage(items=rows, next_cursor=next_cursor)  # type: ignore[arg-type]

    @app.get("/v1/silences", response_model=list[Silence], tags=["silences"])
    async def list_silences(
        request: Request,
        caller: CallerDep,
        active: Annotated[bool, Query(description="only silences in force now")] = True,
        mine_id: Annotated[str | None, Query(pattern=MINE_ID)] = None,
    ) -> list[dict[str, Any]]:
        """Maintenance windows: while one is in force, its mine's (or station's) alerts are not notified."""
        mines, params = mine_filter(request, caller)
        where = [mines]
        if active:
            where.append(sql.SQL("starts_at <= now() AND ends_at > now()"))
        if mine_id is not None:
            where.append(sql.SQL("mine_id = %(mine_id)s"))
            params["mine_id"] = mine_id
        query = sql.SQL("SELECT * FROM silences WHERE {} ORDER BY silence_id DESC LIMIT 1000").format(
            sql.SQL(" AND ").join(where)
        )
        async with request.app.state.pool.connection() as conn:
            return await fetch(conn, query, params)

    @app.post(
        "/v1/silences",
        response_model=Silence,
        status_code=201,
        tags=["silences"],
        responses={**ACTION_ERRORS, 422: {"model": Problem, "description": "a window that is not a window"}},
    )
    async def create_silence(request: Request, caller: CallerDep, body: SilenceCreate) -> dict[str, Any]:
        """Silence a mine (or one station, or one category) for a maintenance window of at most 30 days."""
        mine = mine_in(request, caller, body.mine_id)
        if not caller.may_act:
            raise HTTPException(403, "a mine's token is read-only: its bureau sets maintenance windows")
        if body.station_id is not None and mine.station(body.station_id) is None:
            raise HTTPException(422, f"mine {mine.id} has no station {body.station_id}")
        starts = body.starts_at or datetime.now(UTC)
        if body.ends_at <= starts:
            raise HTTPException(422, "ends_at must be after starts_at")
        if body.ends_at - starts > MAX_SILENCE:
            raise HTTPException(422, f"a silence lasts at most {MAX_SILENCE.days} days")
        async with request.app.state.pool.connection() as conn:
            rows = await fetch(
                conn,
                "INSERT INTO silences (mine_id, station_id, category, starts_at, ends_at, reason, created_by)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING *",
                (mine.id, body.station_id, body.category, starts, body.ends_at, body.reason, caller.actor),
            )
        return rows[0]

    @app.delete("/v1/silences/{silence_id}", response_model=Silence, tags=["silences"], responses=ACTION_ERRORS)
    async def end_silence(
        request: Request, caller: CallerDep, silence_id: Annotated[int, Path(ge=1, le=BIGINT)]
    ) -> dict[str, Any]:
        """End a silence now; alerts it held are notified if they still matter."""
        mines, params = mine_filter(request, caller)
        async with request.app.state.pool.connection() as conn, conn.transaction():
            rows = await fetch(
                conn,
                sql.SQL("SELECT * FROM silences WHERE silence_id = %(id)s AND {} FOR UPDATE").format(mines),
                {**params, "id": silence_id},
            )
            if not rows:
                raise HTTPException(404, f"no silence {silence_id} in your jurisdiction")
            if not caller.may_act:
                raise HTTPException(403, "a mine's token is read-only: its bureau sets maintenance windows")
            if rows[0]["ends_at"] <= datetime.now(UTC):
                raise HTTPException(409, f"silence {silence_id} has already ended")
            rows = await fetch(
                conn,
                "UPDATE silences SET ends_at = GREATEST(now(), starts_at + interval '1 microsecond'),"
                " expired_by = %s WHERE silence_id = %s RETURNING *",
                (caller.actor, silence_id),
            )
            await conn.execute("NOTIFY alert_outbox")
        return rows[0]
