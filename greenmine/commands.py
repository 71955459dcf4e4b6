"""The green-mine commands of ``minewatch``: reports verify, compliance evaluate, scorecard,
inspections draw. Each opens one connection and one transaction, and goes through ``store``."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sys
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from alerts.store import RoutedAlerts
from greenmine.evaluation import Period
from greenmine.inspections import Candidate, Inspector, draw
from greenmine.policy import Policy
from greenmine.store import (
    evaluate_period,
    listed_mines,
    recently_inspected,
    record_draw,
    scorecard_rows,
    verify_reports,
)
from minewatch.regions import PROVINCE_CODE
from minewatch.registry import Registry
from minewatch.settings import Settings


def _run(work: Any) -> Any:
    return asyncio.run(work)


async def _connect(settings: Settings) -> psycopg.AsyncConnection:
    return await psycopg.AsyncConnection.connect(settings.db_url)


def reports_verify(settings: Settings, mine_id: str) -> int:
    async def go() -> int:
        async with await _connect(settings) as conn:
            count, breaks = await verify_reports(conn, mine_id)
        print(json.dumps({"mine_id": mine_id, "reports": count, "intact": not breaks,
                          "breaks": [asdict(b) for b in breaks]}, ensure_ascii=False))  # fmt: skip
        return 1 if breaks else 0

    return _run(go())


def compliance_evaluate(settings: Settings, registry: Registry, period_text: str) -> int:
    period = Period.parse(period_text)

    async def go() -> int:
        async with await _connect(settings) as conn, conn.transaction():
            results = await evaluate_period(conn, registry, period, RoutedAlerts(settings.routing()))
        for r in results:
            failing = "; ".join(x.text for x in r.reasons if x.outcome in ("not_met", "warning"))
            print(f"{r.mine_id}\t{r.status}\t{failing}", file=sys.stderr)
        counts: dict[str, int] = {}
        for r in results:
            counts[r.status] = counts.get(r.status, 0) + 1
        print(json.dumps({"period": period.key, "mines": len(results), **counts}))
        return 0

    return _run(go())


def show_scorecard(settings: Settings, registry: Registry, period_text: str | None, fmt: str) -> int:
    period = Period.parse(period_text) if period_text else None

    async def go() -> list[dict[str, Any]]:
        async with await _connect(settings) as conn:
            return [asdict(r) for r in await scorecard_rows(conn, registry, period, "province", PROVINCE_CODE)]

    rows = _run(go())
    if fmt == "json":
        print(json.dumps(rows, ensure_ascii=False))
    elif fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        print(out.getvalue(), end="")
    else:
        print(_table(rows))
    return 0


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f} %"


def _table(rows: list[dict[str, Any]]) -> str:
    head = f"{'region':<8} {'name':<10} {'mines':>5} {'listed/quota':>13} {'three rates (≥85 %)':>20} " \
           f"{'large+medium (≥70 %)':>21} {'renewal ok':>10}"  # fmt: skip
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['region']:<8} {r['name']:<10} {r['mines']:>5} {r['listed']:>6}/{r['quota_2020']:<6} "
            f"{_pct(r['three_rates_share']):>9} of {r['three_rates_judged']:<7} "
            f"{_pct(r['large_medium_share']):>21} {r['renewal_eligible']:>10}"
        )
    return "\n".join(lines)


def read_inspectors(path: Path) -> list[Inspector]:
    """A CSV with inspector_id, name, county_code (empty: no county conflict)."""
    with path.open(encoding="utf-8") as f:
        return [
            Inspector(row["inspector_id"], row["name"], row.get("county_code") or None) for row in csv.DictReader(f)
        ]


def inspections_draw(
    settings: Settings,
    registry: Registry,
    *,
    seed: str,
    count: int,
    inspectors: list[Inspector],
    region: str | None,
    population: str,
    exclude_days: int | None,
    per_mine: int,
    record: bool,
    drawn_by: str,
) -> int:
    policy = Policy.load()
    days = policy.inspection_exclusion_days if exclude_days is None else exclude_days

    async def go() -> dict[str, Any]:
        async with await _connect(settings) as conn, conn.transaction():
            listed = await listed_mines(conn) if population == "listed" else None
            recent = await recently_inspected(conn, datetime.now(UTC) - timedelta(days=days))
            pool = [
                m for m in registry
                if (region is None or m.region_code == region) and (listed is None or m.id in listed)
            ]  # fmt: skip
            excluded = sorted(m.id for m in pool if m.id in recent)
            candidates = [Candidate(m.id, m.region_code, m.county_code) for m in pool if m.id not in recent]
            result = draw(seed, count, candidates, inspectors, per_mine=per_mine)
            draw_id = (
                await record_draw(
                    conn, result, region=region, population=population, excluded=excluded, drawn_by=drawn_by
                )
                if record
                else None
            )
        return {
            "draw_id": draw_id,
            "seed": seed,
            "requested": count,
            "population": population,
            "candidates": len(candidates),
            "candidates_digest": result.candidates_digest,
            "excluded_recently_inspected": excluded,
            "strata": result.strata,
            "assignments": [asdict(a) for a in result.assignments],
            "unstaffed": list(result.unstaffed),
        }

    out = _run(go())
    for a in out["assignments"]:
        print(f"{a['region']}\t{a['mine_id']}\t{', '.join(a['inspectors'])}", file=sys.stderr)
    print(json.dumps(out, ensure_ascii=False))
    return 0
