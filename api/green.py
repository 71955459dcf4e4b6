"""The bureau API's green-mine endpoints: self-reports (uploaded by the mine's own token), their
chain, evaluations, the registry (名录管理), the scorecard, complaints and inspection draws.

Same rules as every endpoint: a caller sees only its jurisdiction (anything else is 404), a
mine's token sees and acts only for its own mine.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
import psycopg
from fastapi import FastAPI, HTTPException, Path, Query, Request
from psycopg.rows import dict_row

from alerts.store import RoutedAlerts
from api.auth import Caller
from api.deps import ACTION_ERRORS, NOT_FOUND, CallerDep, MineId, fetch, mine_in
from api.models import (
    BIGINT,
    MINE_ID,
    Complaint,
    ComplaintAnswer,
    ComplaintCreate,
    EvaluationOut,
    InspectionDraw,
    RegistryMove,
    RegistryStatus,
    ReportReceipt,
    ReportSummary,
)
from greenmine.evaluation import Period
from greenmine.registry_states import RegistryTransitionError
from greenmine.reports import report_hash
from greenmine.scorecard import ScorecardRow
from greenmine.store import (
    ReportRefused,
    answer_complaint,
    file_complaint,
    ingest_report,
    registry_move,
    scorecard_rows,
)
from ingest.validation import Accepted
from minewatch.topics import report_topic

PERIOD = r"^\d{4}(-\d{2}|-Q[1-4])?$"
UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "description": "a self-report as JSON (schemas/self-report.v2.schema.json, or v1), exactly as the mine "
        "publishes it: its hash is of these bytes",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}
REPORT_ERRORS = {**ACTION_ERRORS, 409: {"model": ACTION_ERRORS[409]["model"], "description": "report_id reused"}}


def _only_own_mine(caller: Caller, mine_id: str, what: str) -> None:
    if caller.level != "mine" or caller.area != mine_id:
        raise HTTPException(403, f"{what} come from the mine itself: use the mine's own token")


def routes(app: FastAPI) -> None:
    @app.post(
        "/v1/mines/{mine_id}/reports",
        response_model=ReportReceipt,
        status_code=201,
        tags=["green mine"],
        responses=REPORT_ERRORS,
        openapi_extra=UPLOAD_BODY,
    )
    async def upload_report(request: Request, caller: CallerDep, mine_id: MineId) -> ReportReceipt:
        """Upload a self-report (the same document a mine can publish over MQTT). It is checked
        like one, must carry the hash of the mine's previous report, and is never overwritten."""
        mine = mine_in(request, caller, mine_id)
        _only_own_mine(caller, mine.id, "self-reports")
        raw = await request.body()
        try:
            kind = orjson.loads(raw)["period"]["kind"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise HTTPException(422, "the body is not a self-report (JSON with period.kind)") from None
        if not isinstance(kind, str) or kind not in ("monthly", "quarterly", "annual"):
            raise HTTPException(422, "period.kind must be monthly, quarterly or annual")
        verdict = request.app.state.gate.check(report_topic(mine.id, kind), raw, now=datetime.now(UTC).timestamp())
        if not isinstance(verdict, Accepted):
            raise HTTPException(422, verdict.reason)
        alerts = RoutedAlerts(request.app.state.routing)
        async with request.app.state.pool.connection() as conn:
            try:
                async with conn.transaction():
                    done = await ingest_report(
                        conn, raw, received_at=datetime.now(UTC), source="api", mine=mine, alerts=alerts
                    )
            except ReportRefused as exc:
                raise HTTPException(409, str(exc)) from None
        return ReportReceipt(
            report_id=done.report_id,
            sha256=report_hash(raw),
            stored=done.stored,
            chain_problem=done.chain_problem,
            supersedes=done.supersedes,
        )

    @app.get(
        "/v1/mines/{mine_id}/reports", response_model=list[ReportSummary], tags=["green mine"], responses=NOT_FOUND
    )
    async def list_reports(request: Request, caller: CallerDep, mine_id: MineId) -> list[dict[str, Any]]:
        """A mine's self-reports in the order they arrived, with their hashes and chain verdicts."""
        mine = mine_in(request, caller, mine_id)
        async with request.app.state.pool.connection() as conn:
            return await fetch(
                conn,
                "SELECT report_id, period_kind, period_start, period_end, submitted_at, received_at, sha256,"
                " previous_hash, chain_problem, supersedes, superseded_by, source FROM self_reports"
                " WHERE mine_id = %s ORDER BY seq",
                (mine.id,),
            )

    @app.get(
        "/v1/mines/{mine_id}/evaluations", response_model=list[EvaluationOut], tags=["green mine"], responses=NOT_FOUND
    )
    async def list_evaluations(request: Request, caller: CallerDep, mine_id: MineId) -> list[dict[str, Any]]:
        """The mine's evaluations against the green-mine indicators, latest period first, with every reason."""
        mine = mine_in(request, caller, mine_id)
        async with request.app.state.pool.connection() as conn:
            return await fetch(
                conn,
                "SELECT mine_id, period, status, reasons, three_rates_met, renewal_eligible, evaluated_at"
                " FROM evaluations WHERE mine_id = %s ORDER BY period DESC",
                (mine.id,),
            )

    @app.get(
        "/v1/mines/{mine_id}/green-registry", response_model=RegistryStatus, tags=["green mine"], responses=NOT_FOUND
    )
    async def registry_status(request: Request, caller: CallerDep, mine_id: MineId) -> RegistryStatus:
        """The mine's place in the green-mine registry and every move that brought it there."""
        mine = mine_in(request, caller, mine_id)
        async with request.app.state.pool.connection() as conn:
            return await _registry_status(conn, mine.id)

    @app.post(
        "/v1/mines/{mine_id}/green-registry",
        response_model=RegistryStatus,
        tags=["green mine"],
        responses=ACTION_ERRORS,
    )
    async def registry_action(
        request: Request, caller: CallerDep, mine_id: MineId, body: RegistryMove
    ) -> RegistryStatus:
        """Move the mine in the registry (self-assessed, verified, listed, delisted, ...), with the
        evidence. Who may do what follows policy 三（五）: see greenmine/registry_states.py."""
        mine = mine_in(request, caller, mine_id)
        async with request.app.state.pool.connection() as conn:
            try:
                async with conn.transaction():
                    await registry_move(conn, mine.id, body.action, level=caller.level, actor=caller.actor,
                                        evidence=body.evidence)  # fmt: skip
            except RegistryTransitionError as exc:
                status = 403 if "needs a" in str(exc) or "not the mine" in str(exc) else 409
                raise HTTPException(status, str(exc)) from None
            return await _registry_status(conn, mine.id)

    @app.get("/v1/scorecard", response_model=list[ScorecardRow], tags=["green mine"], responses=NOT_FOUND)
    async def get_scorecard(
        request: Request,
        caller: CallerDep,
        period: Annotated[str | None, Query(pattern=PERIOD, description="2026-10, 2026-Q3 or 2026")] = None,
    ) -> list[dict[str, Any]]:
        """The scorecard against the policy's targets: the province and every region for the
        province, the caller's region or county otherwise."""
        if caller.level == "mine":
            raise HTTPException(404, "the scorecard is for bureaus")
        try:
            chosen = Period.parse(period) if period else None
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        async with request.app.state.pool.connection() as conn:
            rows = await scorecard_rows(conn, request.app.state.registry, chosen, caller.level, caller.area)
        return [asdict(row) for row in rows]

    @app.post("/v1/complaints", response_model=Complaint, status_code=201, tags=["complaints"], responses=ACTION_ERRORS)
    async def new_complaint(request: Request, caller: CallerDep, body: ComplaintCreate) -> dict[str, Any]:
        """Record a complaint about a mine. The mine must answer within the response deadline;
        an overdue complaint alerts the county bureau and escalates like any alert."""
        mine = mine_in(request, caller, body.mine_id)
        if not caller.may_act:
            raise HTTPException(403, "complaints about a mine are recorded by its bureau or the platform")
        async with request.app.state.pool.connection() as conn, conn.transaction():
            return await file_complaint(
                conn, mine.id, complainant=body.complainant, channel=body.channel, summary=body.summary,
                filed_by=caller.actor, received_at=body.received_at or datetime.now(UTC),
            )  # fmt: skip

    @app.get("/v1/complaints", response_model=list[Complaint], tags=["complaints"])
    async def list_complaints(
        request: Request,
        caller: CallerDep,
        status: Annotated[str | None, Query(pattern=r"^(open|overdue|answered)$")] = None,
        mine_id: Annotated[str | None, Query(pattern=MINE_ID)] = None,
    ) -> list[dict[str, Any]]:
        """Complaints in the caller's jurisdiction (a mine sees its own), newest first."""
        visible = caller.mine_ids(request.app.state.registry)
        async with request.app.state.pool.connection() as conn:
            return await fetch(
                conn,
                "SELECT * FROM complaints WHERE mine_id = ANY(%(mines)s)"
                " AND (%(status)s::text IS NULL OR status = %(status)s)"
                " AND (%(mine)s::text IS NULL OR mine_id = %(mine)s) ORDER BY complaint_id DESC LIMIT 500",
                {"mines": visible, "status": status, "mine": mine_id},
            )

    @app.post(
        "/v1/complaints/{complaint_id}/response", response_model=Complaint, tags=["complaints"], responses=ACTION_ERRORS
    )
    async def respond(
        request: Request, caller: CallerDep, complaint_id: Annotated[int, Path(ge=1, le=BIGINT)], body: ComplaintAnswer
    ) -> dict[str, Any]:
        """The mine answers a complaint (its own token): this closes it, and resolves its alert if it was overdue."""
        async with request.app.state.pool.connection() as conn, conn.transaction():
            found = await fetch(conn, "SELECT mine_id FROM complaints WHERE complaint_id = %s", (complaint_id,))
            if not found or found[0]["mine_id"] not in caller.mine_ids(request.app.state.registry):
                raise HTTPException(404, f"no complaint {complaint_id} in your jurisdiction")
            _only_own_mine(caller, found[0]["mine_id"], "answers to complaints")
            answered = await answer_complaint(
                conn,
                complaint_id,
                response=body.response,
                by=caller.actor,
                alerts=RoutedAlerts(request.app.state.routing),
            )
            if answered is None:
                raise HTTPException(409, f"complaint {complaint_id} is already answered")
            return answered

    @app.get("/v1/inspections", response_model=list[InspectionDraw], tags=["inspections"])
    async def list_draws(request: Request, caller: CallerDep) -> list[dict[str, Any]]:
        """Published random-inspection draws (双随机、一公开): the seed, the strata, the mines left
        out as inspected recently, and who inspects which mine, within the caller's jurisdiction."""
        visible = set(caller.mine_ids(request.app.state.registry))
        async with request.app.state.pool.connection() as conn:
            draws = await fetch(conn, "SELECT * FROM inspection_draws ORDER BY draw_id DESC LIMIT 100", ())
            assignments = await fetch(
                conn,
                "SELECT draw_id, mine_id, region, county, inspectors FROM inspection_assignments"
                " WHERE draw_id = ANY(%s) ORDER BY draw_id, region, mine_id",
                ([d["draw_id"] for d in draws],),
            )
        out = []
        for d in draws:
            mine_rows = [a for a in assignments if a["draw_id"] == d["draw_id"] and a["mine_id"] in visible]
            if not mine_rows and caller.level != "province":
                continue
            out.append(
                {**d, "excluded": [m for m in d["excluded"] if m in visible],
                 "assignments": [{k: v for k, v in a.items() if k != "draw_id"} for a in mine_rows]}
            )  # fmt: skip
        return out


async def _registry_status(conn: psycopg.AsyncConnection, mine_id: str) -> RegistryStatus:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT state FROM green_registry WHERE mine_id = %s", (mine_id,))
        row = await cur.fetchone()
        await cur.execute(
            "SELECT at, action, from_state, to_state, actor, evidence FROM green_registry_history"
            " WHERE mine_id = %s ORDER BY seq",
            (mine_id,),
        )
        history = await cur.fetchall()
    return RegistryStatus(mine_id=mine_id, state=row["state"] if row else "candidate", history=history)  # type: ignore[arg-type]
