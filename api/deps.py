"""What every endpoint of the bureau API shares: who the caller is, what they may see, how
refusals look. The endpoints live in ``app.py`` (alerts, mines, readings, exceedances,
silences) and ``green.py`` (green-mine compliance)."""

from __future__ import annotations

import logging
import math
import time
from typing import Annotated, Any

import psycopg
from fastapi import Depends, HTTPException, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import Counter, Histogram
from psycopg import sql

from alerts.formats import alert_document
from api.auth import Caller, FailureLimiter, token_hash
from api.models import BIGINT, MINE_ID, Alert, Problem
from minewatch.registry import Mine
from minewatch.settings import endpoint_of

log = logging.getLogger("minewatch.api")

# Which alerts a caller sees, by the level of its token (fixed fragments, bound parameters).
ALERTS_IN_JURISDICTION = {
    "province": sql.SQL("TRUE"),
    "region": sql.SQL("a.region_code = %(j_area)s"),
    "county": sql.SQL("a.county_code = %(j_area)s"),
    "mine": sql.SQL("a.mine_id = %(j_area)s"),
}

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "missing, unknown or revoked token"},
    422: {"model": Problem, "description": "a parameter or body that is not as documented, and why"},
    429: {"model": Problem, "description": "too many failed authentications from this client"},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Problem, "description": "none in your jurisdiction"}}
ACTION_ERRORS: dict[int | str, dict[str, Any]] = {
    **NOT_FOUND,
    400: {"model": Problem, "description": "a body that is not JSON"},
    403: {"model": Problem, "description": "a mine's token cannot act on alerts"},
    409: {"model": Problem, "description": "the action does not apply to the alert's status"},
}

bearer = HTTPBearer(auto_error=False, description="a token from `minewatch tokens create`")


async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    """Validation errors as one sentence per problem, like every other refusal of this API."""
    problems = []
    for error in exc.errors():
        where = " ".join(str(part) for part in error.get("loc", ()))
        problems.append(f"{where}: {error.get('msg', 'invalid')}")
    return JSONResponse({"detail": "; ".join(problems) or "invalid request"}, status_code=422)


async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """The database is down or unreachable: 503, and nothing of the database's own message."""
    log.warning("%s %s: database unavailable (%s)", request.method, request.url.path, type(exc).__name__)
    return JSONResponse(
        {"detail": "the database is unavailable; try again shortly"}, status_code=503, headers={"Retry-After": "5"}
    )


async def internal_error(request: Request, exc: Exception) -> JSONResponse:
    """Anything unforeseen: logged here with its traceback, answered with no internals."""
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"detail": "internal error; it has been logged"}, status_code=500)


REQUESTS = Counter("minewatch_api_requests_total", "Bureau API requests", ["route", "method", "status"])
REQUEST_SECONDS = Histogram(
    "minewatch_api_request_seconds",
    "Bureau API request handling time",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)


async def count_requests(request: Request, call_next: Any) -> Any:
    """Requests by route template (never the raw path: ids would make a label per alert)."""
    started = time.perf_counter()
    response = await call_next(request)
    route = request.scope.get("route")
    template = route.path if isinstance(route, APIRoute) else "unmatched"
    REQUESTS.labels(template, request.method, str(response.status_code)).inc()
    REQUEST_SECONDS.labels(template).observe(time.perf_counter() - started)
    return response


async def known_query_only(request: Request) -> None:
    """Refuse query parameters an endpoint does not take: a misspelt filter would otherwise be
    ignored, and a bureau shown every alert when it asked for some."""
    route = request.scope.get("route")
    known = {p.alias for p in route.dependant.query_params} if isinstance(route, APIRoute) else set()
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise HTTPException(422, f"unknown query parameter(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")


async def caller_of(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Caller:
    limiter: FailureLimiter = request.app.state.limiter
    client = request.client.host if request.client else "unknown"
    wait = limiter.blocked_for(client)
    if wait > 0:
        raise HTTPException(
            429, "too many failed authentications; try again later", headers={"Retry-After": str(math.ceil(wait))}
        )
    row = None
    if credentials is not None and credentials.scheme.lower() == "bearer":
        async with request.app.state.pool.connection() as conn:
            cur = await conn.execute(
                "UPDATE api_tokens SET last_used_at = now() WHERE token_hash = %s AND revoked_at IS NULL"
                " RETURNING token_id, name, level, area, agency",
                (token_hash(credentials.credentials),),
            )
            row = await cur.fetchone()
    if row is None:
        limiter.failed(client)
        raise HTTPException(401, "missing, unknown or revoked bearer token", headers={"WWW-Authenticate": "Bearer"})
    return Caller(row["token_id"], row["name"], row["level"], row["area"], row["agency"])


CallerDep = Annotated[Caller, Depends(caller_of)]
AlertId = Annotated[int, Path(ge=1, le=BIGINT)]
MineId = Annotated[str, Path(pattern=MINE_ID)]


def mine_in(request: Request, caller: Caller, mine_id: str) -> Mine:
    mine: Mine | None = request.app.state.registry.mine(mine_id)
    if mine is None or not caller.sees(mine.region_code, mine.county_code, mine.id):
        raise HTTPException(404, f"no mine {mine_id} in your jurisdiction")
    return mine


def mine_filter(request: Request, caller: Caller, column: str = "mine_id") -> tuple[sql.Composable, dict[str, Any]]:
    """Rows of tables keyed by mine only (readings, exceedances, silences) inside the jurisdiction."""
    if caller.level == "province":
        return sql.SQL("TRUE"), {}
    return sql.SQL("{} = ANY(%(j_mines)s)").format(sql.Identifier(column)), {
        "j_mines": caller.mine_ids(request.app.state.registry)
    }


def alert_of(row: dict[str, Any]) -> Alert:
    return Alert.model_validate(alert_document(row))


async def fetch(conn: psycopg.AsyncConnection, query: sql.Composable | str, params: Any) -> list[dict[str, Any]]:
    cur = await conn.execute(query, params)  # type: ignore[arg-type]
    return await cur.fetchall()  # type: ignore[return-value]


async def visible_alert(conn: psycopg.AsyncConnection, caller: Caller, alert_id: int) -> dict[str, Any]:
    rows = await fetch(
        conn,
        sql.SQL("SELECT * FROM alerts a WHERE a.alert_id = %(id)s AND {}").format(ALERTS_IN_JURISDICTION[caller.level]),
        {"id": alert_id, "j_area": caller.area},
    )
    if not rows:
        raise HTTPException(404, f"no alert {alert_id} in your jurisdiction")
    return rows[0]


def destination(channel: str, target: str) -> str:
    return target if channel == "mqtt" else endpoint_of(target)
