"""Green-mine compliance in the database: reports (with their chain), evaluations, the registry,
complaints and inspection draws. The shell around the pure modules of this package; the worker,
the bureau API and the CLI all go through it, so each rule lives in one place.

Every function runs in a transaction the caller owns, on an async psycopg connection.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from alerts.model import complaint_fingerprint, compliance_alert, overdue_complaint_alert
from alerts.store import AlertSink
from greenmine.evaluation import Evaluation, MineFacts, Period, PeriodFacts, evaluate, instant
from greenmine.inspections import Draw
from greenmine.policy import Policy
from greenmine.registry_states import LISTED, move
from greenmine.reports import ChainBreak, Link, check_link, report_hash, verify_chain
from greenmine.scorecard import MineStanding, ScorecardRow, scorecard
from minewatch.regions import load_divisions
from minewatch.registry import Mine, Registry


class ReportRefused(ValueError):
    """A report that cannot be stored (its id is taken by a different report)."""


@dataclass(frozen=True, slots=True)
class Ingested:
    report_id: str
    stored: bool  # False: the same report again (a replay), nothing changed
    chain_problem: str | None
    supersedes: str | None


async def _rows(conn: psycopg.AsyncConnection, query: str, params: Any = ()) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        return await cur.fetchall()


async def ingest_report(
    conn: psycopg.AsyncConnection,
    raw: bytes,
    *,
    received_at: datetime,
    source: str,
    mine: Mine,
    alerts: AlertSink,
) -> Ingested:
    """Store a validated self-report as published, checking it follows the mine's previous one.

    A broken link is stored (the report is the mine's word, and the break is evidence) and
    raises a compliance alert; a correction marks the report it supersedes.
    """
    report = orjson.loads(raw)
    report_id = report["report_id"]
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ("self_reports:" + mine.id,))
    digest = report_hash(raw)
    same = await _rows(
        conn, "SELECT sha256 FROM self_reports WHERE mine_id = %s AND report_id = %s", (mine.id, report_id)
    )
    if same:
        if same[0]["sha256"] == digest:
            return Ingested(report_id, False, None, report.get("supersedes"))
        raise ReportRefused(
            f"report_id {report_id} is already used by a different report; a correction is a new report "
            "that names the one it corrects in 'supersedes'"
        )
    previous = await _rows(
        conn, "SELECT report_id, raw FROM self_reports WHERE mine_id = %s ORDER BY seq DESC LIMIT 1", (mine.id,)
    )
    prior_raw = bytes(previous[0]["raw"]) if previous and previous[0]["raw"] is not None else None
    problem = check_link(prior_raw, previous[0]["report_id"] if previous else None, report.get("previous_hash"))
    supersedes = report.get("supersedes")
    if supersedes is not None:
        done = await conn.execute(
            "UPDATE self_reports SET superseded_by = %s"
            " WHERE mine_id = %s AND report_id = %s AND superseded_by IS NULL",
            (report_id, mine.id, supersedes),
        )
        if done.rowcount == 0:
            note = f"it supersedes {supersedes}, which is not a current report of the mine"
            problem = f"{problem}; {note}" if problem else note
    period = report["period"]
    await conn.execute(
        "INSERT INTO self_reports (mine_id, report_id, period_kind, period_start, period_end, submitted_at, sha256,"
        " body, received_at, raw, previous_hash, chain_problem, supersedes, source)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            mine.id,
            report_id,
            period["kind"],
            period["start"],
            period["end"],
            report["submitted_at"],
            digest,
            Jsonb(report),
            received_at,
            raw,
            report.get("previous_hash"),
            problem,
            supersedes,
            source,
        ),
    )
    if problem is not None:
        await alerts.raise_alert(
            conn,
            compliance_alert(
                "report_chain",
                mine.id,
                f"self-report {report_id} breaks the report chain",
                f"Report {report_id} ({period['kind']} {period['start']}–{period['end']}): {problem}. The chain of "
                "this mine's reports no longer proves that none was altered or removed; ask the mine why.",
                severity="orange",
                region_code=mine.region_code,
                county_code=mine.county_code,
                event_id=f"report-chain:{mine.id}:{report_id}",
                occurred_at=received_at.isoformat(),
                details={"report_id": report_id, "problem": problem},
            ),
        )
    return Ingested(report_id, True, problem, supersedes)


async def verify_reports(conn: psycopg.AsyncConnection, mine_id: str) -> tuple[int, list[ChainBreak]]:
    """Re-check a mine's whole chain from the stored bytes: each row against its own hash (a row
    altered in the database), and each report against the one before it."""
    rows = await _rows(
        conn,
        "SELECT report_id, raw, sha256, previous_hash FROM self_reports WHERE mine_id = %s ORDER BY seq",
        (mine_id,),
    )
    breaks = []
    links = []
    for row in rows:
        raw = bytes(row["raw"]) if row["raw"] is not None else orjson.dumps(row.get("body"))
        if report_hash(raw) != row["sha256"]:
            breaks.append(ChainBreak(row["report_id"], "its stored bytes no longer match the hash recorded on arrival"))
        links.append(Link(row["report_id"], raw, row["previous_hash"]))
    return len(rows), breaks + verify_chain(links)


# -- evaluation ---------------------------------------------------------------------------------


async def period_facts(conn: psycopg.AsyncConnection, mine_id: str, period: Period) -> PeriodFacts:
    start, end = period.bounds()
    reports = await _rows(
        conn,
        "SELECT body, submitted_at FROM self_reports WHERE mine_id = %s AND period_kind = %s AND period_start = %s"
        " AND period_end = %s AND superseded_by IS NULL ORDER BY seq DESC LIMIT 1",
        (mine_id, period.kind, period.start, period.end),
    )
    exceedances = await _rows(
        conn,
        "SELECT count(*) FILTER (WHERE status = 'open') AS open,"
        " count(*) FILTER (WHERE status = 'closed' AND closed_at >= %s AND first_window_start < %s) AS closed"
        " FROM exceedances WHERE mine_id = %s AND first_window_start < %s",
        (start, end, mine_id, end),
    )
    slopes = await _rows(
        conn,
        "SELECT count(*) FILTER (WHERE status = 'firing') AS unhandled, count(*) FILTER (WHERE status <> 'firing')"
        " AS handled FROM alerts WHERE mine_id = %s AND category = 'slope_warning' AND severity = 'red'"
        " AND first_seen < %s AND (status <> 'resolved' OR resolved_at >= %s)",
        (mine_id, end, start),
    )
    report = reports[0] if reports else None
    return PeriodFacts(
        report=report["body"] if report else None,
        submitted_at=instant(report["submitted_at"]) if report else None,
        open_exceedances=exceedances[0]["open"],
        closed_exceedances=exceedances[0]["closed"],
        unhandled_red_slope=slopes[0]["unhandled"],
        handled_red_slope=slopes[0]["handled"],
    )


def mine_facts(mine: Mine) -> MineFacts:
    return MineFacts(mine.id, mine.mineral, mine.mining_method, mine.scale)


async def evaluate_period(
    conn: psycopg.AsyncConnection,
    registry: Registry,
    period: Period,
    alerts: AlertSink,
    *,
    now: datetime | None = None,
    policy: Policy | None = None,
) -> list[Evaluation]:
    """Evaluate every registered mine for ``period``, store the results, and recommend delisting
    (a compliance alert to the natural-resources bureau) for listed mines non-compliant too long."""
    now = now or datetime.now(UTC)
    policy = policy or Policy.load()
    results = []
    for mine in registry:
        result = evaluate(mine_facts(mine), period, await period_facts(conn, mine.id, period), now=now, policy=policy)
        await conn.execute(
            "INSERT INTO evaluations (mine_id, period, status, reasons, three_rates_met, renewal_eligible,"
            " evaluated_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (mine_id, period) DO UPDATE SET status = EXCLUDED.status,"
            " reasons = EXCLUDED.reasons, three_rates_met = EXCLUDED.three_rates_met,"
            " renewal_eligible = EXCLUDED.renewal_eligible, evaluated_at = EXCLUDED.evaluated_at",
            (
                mine.id,
                period.key,
                result.status,
                Jsonb([asdict(r) for r in result.reasons]),
                result.three_rates_met,
                result.renewal_eligible,
                now,
            ),
        )
        results.append(result)
        await _recommend_delisting(conn, mine, period, alerts, now, policy)
    return results


async def _recommend_delisting(
    conn: psycopg.AsyncConnection, mine: Mine, period: Period, alerts: AlertSink, now: datetime, policy: Policy
) -> None:
    state = await _rows(conn, "SELECT state FROM green_registry WHERE mine_id = %s", (mine.id,))
    if not state or state[0]["state"] not in LISTED:
        return
    recent = await _rows(
        conn,
        "SELECT period, status FROM evaluations WHERE mine_id = %s AND period LIKE %s ORDER BY period DESC LIMIT %s",
        (mine.id, _same_kind(period), policy.delisting_after),
    )
    if len(recent) < policy.delisting_after or any(r["status"] != "non_compliant" for r in recent):
        return
    periods = ", ".join(r["period"] for r in reversed(recent))
    await alerts.raise_alert(
        conn,
        compliance_alert(
            "delisting_recommended",
            mine.id,
            "delisting from the green-mine registry recommended",
            f"{mine.id} ({state[0]['state']}) was non-compliant in {periods}: policy 三（六） removes mines that no "
            "longer meet the standard. minewatch recommends; the natural-resources bureau decides.",
            severity="orange",
            region_code=mine.region_code,
            county_code=mine.county_code,
            event_id=f"delisting:{mine.id}:{period.key}",
            occurred_at=now.isoformat(),
            details={"periods": [r["period"] for r in recent]},
        ),
    )


def _same_kind(period: Period) -> str:
    return {"monthly": "____-__", "quarterly": "____-Q_", "annual": "____"}[period.kind]


# -- the registry (名录管理) -------------------------------------------------------------------------


async def registry_state(conn: psycopg.AsyncConnection, mine_id: str) -> str:
    rows = await _rows(conn, "SELECT state FROM green_registry WHERE mine_id = %s", (mine_id,))
    return rows[0]["state"] if rows else "candidate"


async def registry_move(
    conn: psycopg.AsyncConnection, mine_id: str, action: str, *, level: str, actor: str, evidence: str
) -> str:
    """Apply a registry action (raises ``RegistryTransitionError``); returns the new state."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ("green_registry:" + mine_id,))
    before = await registry_state(conn, mine_id)
    after = move(before, action, level)
    await conn.execute(
        "INSERT INTO green_registry (mine_id, state) VALUES (%s, %s) ON CONFLICT (mine_id) DO UPDATE"
        " SET state = EXCLUDED.state, updated_at = now()",
        (mine_id, after),
    )
    await conn.execute(
        "INSERT INTO green_registry_history (mine_id, action, from_state, to_state, actor, evidence)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        (mine_id, action, before, after, actor, evidence),
    )
    return after


# -- complaints (申诉回应) ---------------------------------------------------------------------------


async def file_complaint(
    conn: psycopg.AsyncConnection,
    mine_id: str,
    *,
    complainant: str,
    channel: str,
    summary: str,
    filed_by: str,
    received_at: datetime,
    policy: Policy | None = None,
) -> dict[str, Any]:
    policy = policy or Policy.load()
    respond_by = received_at + timedelta(days=policy.complaint_response_days)
    rows = await _rows(
        conn,
        "INSERT INTO complaints (mine_id, complainant, channel, summary, received_at, respond_by, filed_by)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING *",
        (mine_id, complainant, channel, summary, received_at, respond_by, filed_by),
    )
    return rows[0]


async def answer_complaint(
    conn: psycopg.AsyncConnection, complaint_id: int, *, response: str, by: str, alerts: AlertSink
) -> dict[str, Any] | None:
    """The mine answers; an overdue complaint's alert resolves. None if already answered."""
    rows = await _rows(
        conn,
        "UPDATE complaints SET status = 'answered', response = %s, responded_at = now(), responded_by = %s"
        " WHERE complaint_id = %s AND status <> 'answered' RETURNING *",
        (response, by, complaint_id),
    )
    if rows:
        await alerts.resolve_alert(conn, complaint_fingerprint(complaint_id), f"answered by {by}")
    return rows[0] if rows else None


async def flag_overdue_complaints(
    conn: psycopg.AsyncConnection, registry: Registry, alerts: AlertSink, now: datetime
) -> list[int]:
    """Complaints past their deadline without an answer: overdue, and an alert each."""
    rows = await _rows(
        conn,
        "UPDATE complaints SET status = 'overdue' WHERE status = 'open' AND respond_by <= %s"
        " RETURNING complaint_id, mine_id, summary, respond_by",
        (now,),
    )
    for row in rows:
        mine = registry.mine(row["mine_id"])
        if mine is None:
            continue
        await alerts.raise_alert(
            conn,
            overdue_complaint_alert(
                row["complaint_id"],
                mine.id,
                row["summary"],
                row["respond_by"],
                region_code=mine.region_code,
                county_code=mine.county_code,
            ),
        )
    return [r["complaint_id"] for r in rows]


# -- the scorecard ----------------------------------------------------------------------------------


async def standings(
    conn: psycopg.AsyncConnection, mines: list[Mine], period: Period | None, *, now: datetime | None = None
) -> list[MineStanding]:
    """Each mine's registry state and three-rates/renewal standing: from its stored evaluation of
    ``period`` (or its latest one), else evaluated now without storing anything."""
    ids = [m.id for m in mines]
    states = {r["mine_id"]: r["state"] for r in await _rows(
        conn, "SELECT mine_id, state FROM green_registry WHERE mine_id = ANY(%s)", (ids,))}  # fmt: skip
    if period is not None:
        stored = await _rows(
            conn, "SELECT * FROM evaluations WHERE mine_id = ANY(%s) AND period = %s", (ids, period.key)
        )
    else:
        stored = await _rows(
            conn,
            "SELECT DISTINCT ON (mine_id) * FROM evaluations WHERE mine_id = ANY(%s)"
            " ORDER BY mine_id, evaluated_at DESC",
            (ids,),
        )
    by_mine = {r["mine_id"]: (r["three_rates_met"], r["renewal_eligible"]) for r in stored}
    out = []
    for mine in mines:
        if mine.id not in by_mine and period is not None:
            result = evaluate(
                mine_facts(mine), period, await period_facts(conn, mine.id, period), now=now or datetime.now(UTC)
            )
            by_mine[mine.id] = (result.three_rates_met, result.renewal_eligible)
        met, renewal = by_mine.get(mine.id, (None, None))
        out.append(MineStanding(mine.id, mine.region_code, mine.scale, states.get(mine.id, "candidate"), met, renewal))
    return out


async def scorecard_rows(
    conn: psycopg.AsyncConnection, registry: Registry, period: Period | None, level: str, area: str
) -> list[ScorecardRow]:
    """The scorecard a bureau of ``level``/``area`` sees: the province sees every region and the
    province; a region its own row; a county a row over its own mines (no quota of its own)."""
    policy = Policy.load()
    divisions = load_divisions()
    targets = {"three_rates_target": policy.three_rates_share_target,
               "large_medium_target": policy.large_medium_share_target}  # fmt: skip
    if level == "county":
        mines = [m for m in registry if m.county_code == area]
        county = divisions.counties.get(area)
        name = county.name if county else area
        rows = scorecard(await standings(conn, mines, period), {area: (name, 0)}, **targets)
        return rows[:1]
    mines = [m for m in registry if level == "province" or m.region_code == area]
    regions = {code: (r.name, r.green_mine_quota_2020) for code, r in divisions.regions.items()}
    if level == "region":
        regions = {area: regions[area]} if area in regions else {}
    rows = scorecard(await standings(conn, mines, period), regions, **targets)
    return rows if level == "province" else rows[:-1]


# -- random inspections (双随机、一公开) -----------------------------------------------------------------


async def recently_inspected(conn: psycopg.AsyncConnection, since: datetime) -> set[str]:
    rows = await _rows(
        conn,
        "SELECT DISTINCT a.mine_id FROM inspection_assignments a JOIN inspection_draws d USING (draw_id)"
        " WHERE d.drawn_at >= %s",
        (since,),
    )
    return {r["mine_id"] for r in rows}


async def listed_mines(conn: psycopg.AsyncConnection) -> set[str]:
    rows = await _rows(conn, "SELECT mine_id FROM green_registry WHERE state = ANY(%s)", (list(LISTED),))
    return {r["mine_id"] for r in rows}


async def record_draw(
    conn: psycopg.AsyncConnection,
    result: Draw,
    *,
    region: str | None,
    population: str,
    excluded: list[str],
    drawn_by: str,
) -> int:
    """Keep a draw for publication: its seed, strata, exclusions and who inspects which mine."""
    rows = await _rows(
        conn,
        "INSERT INTO inspection_draws (seed, requested, region, population, candidates_digest, strata, excluded,"
        " drawn_by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING draw_id",
        (
            result.seed,
            result.count,
            region,
            population,
            result.candidates_digest,
            Jsonb(result.strata),
            Jsonb(sorted(excluded)),
            drawn_by,
        ),
    )
    draw_id = rows[0]["draw_id"]
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO inspection_assignments (draw_id, mine_id, region, county, inspectors)"
            " VALUES (%s, %s, %s, %s, %s)",
            [(draw_id, a.mine_id, a.region, a.county, list(a.inspectors)) for a in result.assignments],
        )
    return draw_id
