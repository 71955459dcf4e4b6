"""The bureau API over HTTP (uvicorn on a free port) against a real PostgreSQL: every endpoint ×
every bureau and mine token (zero leaks), actions, readings aggregation, tokens, brute force,
and property-based tests against the API's own OpenAPI document (schemathesis)."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from psycopg.types.json import Jsonb
from schemathesis import GenerationMode

from alerts.model import AlertCandidate, Category
from alerts.routing import RoutingConfig
from alerts.store import AlertStore
from api.app import create_app
from api.auth import FailureLimiter, new_token, token_hash
from minewatch.registry import Registry
from minewatch.services import free_port
from minewatch.settings import Settings
from storage.migrate import drop_database, ensure_database, migrate
from tests.conftest import fresh_database_url

MINES = {  # mine -> (region, county)
    "GZ520201-0001": ("520200", "520201"),
    "GZ520201-0002": ("520200", "520201"),
    "GZ520203-0001": ("520200", "520203"),
    "GZ520102-0001": ("520100", "520102"),
    "GZGUIAN-0001": ("GUIAN", None),
}
REGISTRY = Registry.from_dict(
    {
        "version": 1,
        "mines": [
            {
                "id": mine,
                "name": f"{mine} 示例矿",
                "region_code": region,
                "county_code": county,
                "mineral": "coal",
                "stations": [
                    {"id": "WW01", "kind": "wastewater", "sensors": [{"parameter": "w01018", "unit": "mg/L"}]},
                    {"id": "WW02", "kind": "wastewater", "sensors": [{"parameter": "w01001", "unit": "pH"}]},
                ],
            }
            for mine, (region, county) in MINES.items()
        ],
    }
)
# name -> (level, area, agency)
BUREAUS = {
    "province": ("province", "520000", "ecology_environment"),
    "liupanshui": ("region", "520200", "ecology_environment"),
    "zhongshan": ("county", "520201", "ecology_environment"),
    "liuzhi": ("county", "520203", "emergency_management"),
    "guiyang": ("region", "520100", "ecology_environment"),
    "nanming": ("county", "520102", "natural_resources"),
    "guian": ("region", "GUIAN", "ecology_environment"),
}
TOKEN_HOLDERS = {**BUREAUS, **{f"mine:{m}": ("mine", m, None) for m in MINES}}
DAY = datetime(2026, 11, 25, tzinfo=UTC)  # readings on 2026-11-25 08:00–11:00 CST


def visible(holder: str) -> set[str]:
    level, area, _ = TOKEN_HOLDERS[holder]
    return {
        m
        for m, (region, county) in MINES.items()
        if level == "province"
        or (level == "region" and region == area)
        or (level == "county" and county == area)
        or (level == "mine" and m == area)
    }


@dataclass
class Api:
    base: str
    tokens: dict[str, str]
    alerts: dict[str, dict[str, int]]  # mine -> {category: alert_id}
    silences: dict[str, int]
    complaints: dict[str, int]
    db_url: str
    app: Any

    def client(self, holder: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[holder]}"} if holder else {}
        return httpx.Client(base_url=self.base, headers=headers, timeout=10)


def _seed(url: str) -> tuple[dict[str, str], dict[str, dict[str, int]], dict[str, int], dict[str, int]]:
    routing = RoutingConfig.load()
    alerts: dict[str, dict[str, int]] = {}

    async def raise_all() -> None:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            for mine, (region, county) in MINES.items():
                alerts[mine] = {}
                for category, severity in ((Category.EMISSION_EXCEEDANCE, "yellow"), (Category.DATA_QUALITY, "blue")):
                    async with conn.transaction():
                        raised = await AlertStore(conn, routing).raise_alert(
                            AlertCandidate(
                                fingerprint=f"{mine}-{category}",
                                category=category,
                                severity=severity,
                                mine_id=mine,
                                station_id="WW01",
                                region_code=region,
                                county_code=county,
                                title=f"{mine} WW01: {category}",
                                summary=f"{mine} WW01 COD daily mean over its limit",
                                details={"mine": mine},
                                occurred_at=DAY.isoformat(),
                                event_id=f"seed-{mine}-{category}",
                            )
                        )
                    alerts[mine][category] = raised.alert_id  # type: ignore[assignment]

    asyncio.run(raise_all())
    tokens = {holder: new_token() for holder in TOKEN_HOLDERS}
    silences: dict[str, int] = {}
    complaints: dict[str, int] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for holder, (level, area, agency) in TOKEN_HOLDERS.items():
            conn.execute(
                "INSERT INTO api_tokens (token_hash, name, level, area, agency) VALUES (%s, %s, %s, %s, %s)",
                (token_hash(tokens[holder]), holder, level, area, agency),
            )
        tokens["revoked"] = new_token()
        conn.execute(
            "INSERT INTO api_tokens (token_hash, name, level, area, revoked_at) VALUES (%s, 'old', 'province',"
            " '520000', now())",
            (token_hash(tokens["revoked"]),),
        )
        with conn.cursor() as cur:
            rows = []
            for mine in MINES:
                for i in range(180):  # three hours of minute values 0..59, one of them flagged D
                    t = DAY + timedelta(minutes=i)
                    rows.append((t, mine, "WW01", "w01018", float(i % 60), "mg/L", "D" if i == 7 else "N", t))
            cur.executemany(
                "INSERT INTO readings (ts, mine_id, station_id, parameter, value, unit, flag, received_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                rows,
            )
        for mine in MINES:
            conn.execute(
                "INSERT INTO exceedances (exceedance_id, mine_id, station_id, parameter, reference, limit_id, basis,"
                " citation, unit, limit_upper, first_window_start, last_window_end, status, windows,"
                " peak_window_start, peak_window_end, peak_value, peak_multiple, peak_n_valid, peak_n_required)"
                " VALUES (%s, %s, 'WW01', 'w01018', '', 'GB8978-COD', 'daily_mean', 'GB 8978-1996 表4', 'mg/L',"
                " 100, %s, %s, 'open', 1, %s, %s, 150, 0.5, 20, 20)",
                (f"x{mine}", mine, DAY, DAY + timedelta(days=1), DAY, DAY + timedelta(days=1)),
            )
            silences[mine] = conn.execute(
                "INSERT INTO silences (mine_id, station_id, starts_at, ends_at, reason, created_by)"
                " VALUES (%s, 'WW02', now(), now() + interval '1 day', 'pH probe calibration', 'seed')"
                " RETURNING silence_id",
                (mine,),
            ).fetchone()[0]  # type: ignore[index]
            complaints[mine] = conn.execute(
                "INSERT INTO complaints (mine_id, complainant, channel, summary, received_at, respond_by, filed_by)"
                " VALUES (%s, 'resident', '12369', %s, now(), now() + interval '15 days', 'seed')"
                " RETURNING complaint_id",
                (mine, f"dust from {mine}"),
            ).fetchone()[0]  # type: ignore[index]
        draw_id = conn.execute(
            "INSERT INTO inspection_draws (seed, requested, population, candidates_digest, strata, excluded, drawn_by)"
            " VALUES ('s', 5, 'all', 'd', '{}', %s, 'seed') RETURNING draw_id",
            (Jsonb(sorted(MINES)),),
        ).fetchone()[0]  # type: ignore[index]
        for mine, (region, county) in MINES.items():
            conn.execute(
                "INSERT INTO inspection_assignments (draw_id, mine_id, region, county, inspectors)"
                " VALUES (%s, %s, %s, %s, %s)",
                (draw_id, mine, region, county, ["I01", "I02"]),
            )
        conn.execute(
            "INSERT INTO quality_findings (finding_id, mine_id, station_id, parameter, kind, t, detail, cleared)"
            " VALUES ('f1', 'GZ520201-0002', 'WW01', NULL, 'offline', now(), 'no data for 5 intervals', false)"
        )
        conn.execute(
            "INSERT INTO slope_levels (mine_id, slope_id, t, level, items, points, reasons)"
            " VALUES ('GZ520201-0001', 'SL01', now(), 'yellow', '{}', '{}', '[]')"
        )
    return tokens, alerts, silences, complaints


@pytest.fixture(scope="module")
def api() -> Iterator[Api]:
    url = fresh_database_url("minewatch_api")
    ensure_database(url)
    migrate(url)
    tokens, alerts, silences, complaints = _seed(url)
    app = create_app(Settings(db_url=url), registry=REGISTRY)
    app.state.limiter = FailureLimiter(max_failures=1_000_000)  # the property tests send bad tokens on purpose
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    try:
        yield Api(f"http://127.0.0.1:{server.config.port}", tokens, alerts, silences, complaints, url, app)
    finally:
        server.should_exit = True
        thread.join(10)
        drop_database(url)


def _report(mine: str) -> bytes:
    """A valid self-report (v2) of ``mine``: the first of its chain."""
    return json.dumps({
        "schema": "minewatch/self-report/v2", "message_id": f"msg-{mine}", "mine_id": mine,
        "report_id": f"{mine}-2026-10", "period": {"kind": "monthly", "start": "2026-10-01", "end": "2026-10-31"},
        "submitted_at": "2026-11-05T10:00:00+08:00", "conditions": {"mining_method": "underground"},
        "figures": {"mining_recovery_rate": 0.8, "processing_recovery_rate": 0.8, "comprehensive_utilisation_rate": 0.8,
                    "greened_area_m2": 1, "greenable_area_m2": 1, "solid_waste_generated_t": 1,
                    "solid_waste_disposed_t": 1},
    }).encode()  # fmt: skip


ALL_MINE_IDS = re.compile("|".join(re.escape(m) for m in MINES))


def leaks(holder: str, response: httpx.Response) -> set[str]:
    """Mine ids in the body that the holder may not see (anywhere: ids, titles, summaries)."""
    return set(ALL_MINE_IDS.findall(response.text)) - visible(holder)


def test_every_endpoint_for_every_token_shows_only_its_jurisdiction(api: Api) -> None:
    exercised: set[tuple[str, str]] = set()
    for holder in TOKEN_HOLDERS:
        seen = visible(holder)
        level = TOKEN_HOLDERS[holder][0]
        with api.client(holder) as client:

            def call(method: str, template: str, path: str, holder: str = holder, **kwargs: Any) -> httpx.Response:
                exercised.add((method, template))
                response = client.request(method, path, **kwargs)
                assert response.status_code < 500, response.text
                if response.is_success:
                    assert not leaks(holder, response), f"{holder} {method} {path}: {response.text[:300]}"
                else:  # a refusal says why, and nothing else
                    assert list(response.json()) == ["detail"], response.text
                return response

            who = call("GET", "/v1/whoami", "/v1/whoami").json()
            assert who["mines"] == len(seen) and who["may_act"] is (level != "mine")
            listed = call("GET", "/v1/alerts", "/v1/alerts", params={"limit": 500}).json()
            assert {a["mine_id"] for a in listed["items"]} == seen
            mines = call("GET", "/v1/mines", "/v1/mines").json()
            assert {m["mine_id"] for m in mines} == seen
            page = call("GET", "/v1/exceedances", "/v1/exceedances").json()
            assert {e["mine_id"] for e in page["items"]} == seen
            silences = call("GET", "/v1/silences", "/v1/silences", params={"active": False}).json()
            assert {s["mine_id"] for s in silences} == seen
            assert {c["mine_id"] for c in call("GET", "/v1/complaints", "/v1/complaints").json()} == seen
            draws = call("GET", "/v1/inspections", "/v1/inspections").json()
            assert {a["mine_id"] for d in draws for a in d["assignments"]} == seen
            assert {m for d in draws for m in d["excluded"]} == seen
            scorecard = call("GET", "/v1/scorecard", "/v1/scorecard")
            assert scorecard.status_code == (404 if level == "mine" else 200)
            for mine in MINES:
                inside = mine in seen
                ok = 200 if inside else 404
                alert_id = api.alerts[mine][Category.EMISSION_EXCEEDANCE]
                quality_id = api.alerts[mine][Category.DATA_QUALITY]
                filtered = call(
                    "GET", "/v1/alerts", "/v1/alerts", params={"mine_id": mine, "category": "emission_exceedance"}
                ).json()
                assert len(filtered["items"]) == inside
                assert call("GET", "/v1/alerts/{alert_id}", f"/v1/alerts/{alert_id}").status_code == ok
                history = call("GET", "/v1/alerts/{alert_id}/history", f"/v1/alerts/{alert_id}/history")
                assert history.status_code == ok
                assert call("GET", "/v1/mines/{mine_id}", f"/v1/mines/{mine}").status_code == ok
                series = call(
                    "GET",
                    "/v1/mines/{mine_id}/readings",
                    f"/v1/mines/{mine}/readings",
                    params={"station_id": "WW01", "parameter": "w01018", "start": DAY.isoformat(), "bucket": "1h"},
                )
                assert series.status_code == ok
                assert (
                    len(call("GET", "/v1/exceedances", "/v1/exceedances", params={"mine_id": mine}).json()["items"])
                    == inside
                )
                acting = 403 if (inside and level == "mine") else None
                for action, body, alert in (
                    ("acknowledge", {"comment": f"{holder} on it"}, alert_id),
                    ("resolve", {"comment": f"{holder}: fixed"}, quality_id),
                    ("reopen", {"comment": f"{holder}: not fixed"}, quality_id),
                ):
                    response = call(
                        "POST", f"/v1/alerts/{{alert_id}}/{action}", f"/v1/alerts/{alert}/{action}", json=body
                    )
                    expected = {404} if not inside else {acting} if acting else {200, 409}
                    assert response.status_code in expected, (holder, mine, action, response.text)
                created = call(
                    "POST",
                    "/v1/silences",
                    "/v1/silences",
                    json={"mine_id": mine, "ends_at": (datetime.now(UTC) + timedelta(hours=2)).isoformat(),
                          "reason": f"maintenance set by {holder}"},
                )  # fmt: skip
                assert created.status_code == (404 if not inside else acting or 201), created.text
                for template in ("/v1/mines/{mine_id}/reports", "/v1/mines/{mine_id}/evaluations",
                                 "/v1/mines/{mine_id}/green-registry"):  # fmt: skip
                    assert call("GET", template, template.replace("{mine_id}", mine)).status_code == ok
                own = level == "mine" and inside
                upload = call("POST", "/v1/mines/{mine_id}/reports", f"/v1/mines/{mine}/reports",
                              content=_report(mine))  # fmt: skip
                assert upload.status_code == (404 if not inside else 201 if own else 403), upload.text
                moved = call("POST", "/v1/mines/{mine_id}/green-registry", f"/v1/mines/{mine}/green-registry",
                             json={"action": "self_assess", "evidence": f"{holder}: report filed"})  # fmt: skip
                assert moved.status_code in ({404} if not inside else {200, 409}), moved.text
                filed = call(
                    "POST",
                    "/v1/complaints",
                    "/v1/complaints",
                    json={"mine_id": mine, "complainant": "platform", "channel": "app", "summary": "noise"},
                )
                assert filed.status_code == (404 if not inside else acting or 201), filed.text
                answer = call(
                    "POST",
                    "/v1/complaints/{complaint_id}/response",
                    f"/v1/complaints/{api.complaints[mine]}/response",
                    json={"response": f"{holder} answers"},
                )
                assert answer.status_code in ({404} if not inside else {200, 409} if own else {403}), answer.text
                ended = call("DELETE", "/v1/silences/{silence_id}", f"/v1/silences/{api.silences[mine]}")
                assert ended.status_code in ({404} if not inside else {acting} if acting else {200, 409})
    documented = {
        (method.upper(), path) for path, ops in api.app.openapi()["paths"].items() for method in ops
    }  # fmt: skip
    assert exercised == documented
    # Only those who may act did: every actor in every alert's history sees that alert's mine.
    with psycopg.connect(api.db_url) as conn:
        rows = conn.execute(
            "SELECT a.mine_id, h.actor FROM alert_history h JOIN alerts a USING (alert_id) WHERE h.actor <> 'minewatch'"
        ).fetchall()
    assert rows
    for mine, actor in rows:
        holder = actor.split(" (")[0]
        assert mine in visible(holder) and TOKEN_HOLDERS[holder][0] != "mine", (mine, actor)


def test_without_a_valid_token_nothing_is_answered(api: Api) -> None:
    for token in (None, "mw_" + "x" * 43, api.tokens["revoked"]):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = httpx.get(f"{api.base}/v1/alerts", headers=headers)
        assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
        assert response.json() == {"detail": "missing, unknown or revoked bearer token"}
    response = httpx.get(f"{api.base}/v1/alerts", headers={"Authorization": f"Basic {api.tokens['province']}"})
    assert response.status_code == 401
    with psycopg.connect(api.db_url) as conn:  # only hashes are stored
        stored = {bytes(r[0]) for r in conn.execute("SELECT token_hash FROM api_tokens")}
    assert all(token.encode() not in stored and token_hash(token) in stored for token in api.tokens.values())


def test_brute_force_is_refused(api: Api) -> None:
    api.app.state.limiter = FailureLimiter(max_failures=5, window_s=60)
    try:
        for _ in range(5):
            assert httpx.get(f"{api.base}/v1/whoami", headers={"Authorization": "Bearer guess"}).status_code == 401
        refused = httpx.get(f"{api.base}/v1/whoami", headers={"Authorization": f"Bearer {api.tokens['province']}"})
        assert refused.status_code == 429 and 0 < int(refused.headers["retry-after"]) <= 60
    finally:
        api.app.state.limiter = FailureLimiter(max_failures=1_000_000)
    with api.client("province") as client:
        assert client.get("/v1/whoami").status_code == 200


def test_a_database_outage_is_a_plain_503_and_the_api_recovers(api: Api) -> None:
    from minewatch.faults import connections_refused

    with api.client("province") as client:
        assert client.get("/v1/alerts").status_code == 200
        with connections_refused(api.db_url):
            down = client.get("/v1/alerts")
        assert down.status_code == 503 and down.headers["retry-after"] == "5"
        assert down.json() == {"detail": "the database is unavailable; try again shortly"}
        assert client.get("/v1/alerts").status_code == 200


def test_mine_status_readings_and_clear_errors(api: Api) -> None:
    with api.client("zhongshan") as client:
        status = client.get("/v1/mines/GZ520201-0002").json()
        ww01 = next(s for s in status["stations"] if s["station_id"] == "WW01")
        assert ww01["online"] is False and ww01["latest"][0]["value"] == 59.0
        assert next(s for s in status["stations"] if s["station_id"] == "WW02")["online"] is None
        assert status["open_exceedances"] == 1 and len(status["open_alerts"]) >= 1
        assert client.get("/v1/mines/GZ520201-0001").json()["slopes"][0]["level"] == "yellow"

        hourly = client.get(
            "/v1/mines/GZ520201-0001/readings",
            params={"station_id": "WW01", "parameter": "w01018", "start": DAY.isoformat(), "bucket": "1h"},
        ).json()
        assert [p["n"] for p in hourly["points"]] == [59, 60, 60]  # the D-flagged minute is not averaged
        assert hourly["points"][1] == {"t": "2026-11-25T01:00:00Z", "value": 29.5, "min": 0.0, "max": 59.0,
                                       "n": 60, "flag": None}  # fmt: skip
        assert hourly["points"][0]["value"] == pytest.approx((sum(range(60)) - 7) / 59)
        daily = client.get(
            "/v1/mines/GZ520201-0001/readings",
            params={"station_id": "WW01", "parameter": "w01018", "start": "2026-11-24T00:00:00+08:00",
                    "end": "2026-11-27T00:00:00+08:00", "bucket": "1d"},
        ).json()  # fmt: skip
        assert [(p["t"], p["n"]) for p in daily["points"]] == [("2026-11-24T16:00:00Z", 179)]  # one CST day
        raw = client.get(
            "/v1/mines/GZ520201-0001/readings",
            params={"station_id": "WW01", "parameter": "w01018", "start": DAY.isoformat(), "bucket": "raw"},
        ).json()
        assert len(raw["points"]) == 180 and raw["points"][7]["flag"] == "D" and raw["unit"] == "mg/L"

        def problem(response: httpx.Response, status: int) -> str:
            assert response.status_code == status, response.text
            return str(response.json()["detail"])

        params = {"station_id": "WW01", "parameter": "w01018"}
        assert "after start" in problem(
            client.get("/v1/mines/GZ520201-0001/readings", params={**params, "start": "2026-11-25T00:00:00Z",
                                                                   "end": "2026-11-24T00:00:00Z"}), 422)  # fmt: skip
        assert "at most 7 days" in problem(
            client.get("/v1/mines/GZ520201-0001/readings", params={**params, "start": "2026-01-01T00:00:00Z",
                                                                   "bucket": "raw"}), 422)  # fmt: skip
        assert "timezone" in problem(
            client.get("/v1/mines/GZ520201-0001/readings", params={**params, "start": "2026-11-25T00:00:00"}), 422
        )
        assert "no station" in problem(
            client.get("/v1/mines/GZ520201-0001/readings", params={"station_id": "XX9", "parameter": "w01018"}), 404
        )
        assert "pattern" in problem(client.get("/v1/alerts", params={"mine_id": "x' OR 1=1 --"}), 422)
        assert problem(client.get("/v1/alerts/0"), 422)
        assert "comment" in problem(client.post(f"/v1/alerts/{api.alerts['GZ520201-0001']['data_quality']}/resolve",
                                                json={}), 422)  # fmt: skip
        assert "NUL" in problem(client.post("/v1/silences", json={"mine_id": "GZ520201-0001", "reason": "a\x00b",
                                                                  "ends_at": "2030-01-01T00:00:00Z"}), 422)  # fmt: skip
        assert "at most 30 days" in problem(client.post("/v1/silences", json={
            "mine_id": "GZ520201-0001", "reason": "r", "ends_at": "2099-01-01T00:00:00Z"}), 422)  # fmt: skip


def test_alert_pages_follow_the_cursor(api: Api) -> None:
    with api.client("province") as client:
        ids, cursor = [], None
        while True:
            page = client.get("/v1/alerts", params={"limit": 3, **({"cursor": cursor} if cursor else {})}).json()
            ids += [a["alert_id"] for a in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        with psycopg.connect(api.db_url) as conn:
            all_ids = [r[0] for r in conn.execute("SELECT alert_id FROM alerts")]
        assert ids == sorted(all_ids, reverse=True) and len(all_ids) > 3  # every alert once, newest first
        detail = client.get(f"/v1/alerts/{api.alerts['GZ520201-0001']['emission_exceedance']}").json()
        assert {r["target_id"] for r in detail["routes"]} >= {
            "mine:GZ520201-0001",
            "county:520201:ecology_environment",
        }


def test_tokens_are_created_by_the_command_and_work(api: Api) -> None:
    env = {**os.environ, "MINEWATCH_DB_URL": api.db_url, "MINEWATCH_REGISTRY": "/nonexistent.yaml"}
    command = [sys.executable, "-m", "minewatch.cli", "tokens", "create"]
    made = subprocess.run(
        [*command, "--name", "钟山区应急管理局", "--level", "county", "--area", "520201", "--agency",
         "emergency_management"], env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    token = made.stdout.strip()
    assert token.startswith("mw_") and token not in made.stderr
    who = httpx.get(f"{api.base}/v1/whoami", headers={"Authorization": f"Bearer {token}"}).json()
    assert (who["level"], who["area"], who["agency"], who["mines"]) == ("county", "520201", "emergency_management", 2)
    bad = subprocess.run([*command, "--name", "x", "--level", "county", "--area", "999999"], env=env,
                         capture_output=True, text=True, check=False)  # fmt: skip
    assert bad.returncode == 2 and "not a county code" in bad.stderr
    listed = subprocess.run([sys.executable, "-m", "minewatch.cli", "tokens", "list"], env=env, capture_output=True,
                            text=True, check=True).stdout  # fmt: skip
    assert "钟山区应急管理局" in listed and token not in listed


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_api_keeps_its_own_openapi_document(api: Api, mode: GenerationMode) -> None:
    """Generated requests (valid ones, and ones the document forbids) for every operation, as a
    province and as a county bureau: no server error, every answer as documented, invalid input
    refused with a 4xx."""
    from schemathesis.checks import positive_data_acceptance

    schema = schemathesis.openapi.from_url(f"{api.base}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 24
    if mode == GenerationMode.NEGATIVE:  # only what takes input can be sent wrong input
        operations = [op for op in operations if len(op.query) + len(op.path_parameters) + len(op.body) > 0]
    for operation, holder in itertools.product(operations, ("province", "zhongshan")):
        auth = {"Authorization": f"Bearer {api.tokens[holder]}"}

        @settings(max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode, headers=auth))
        def holds(case: Any) -> None:
            # positive_data_acceptance left out: a well-formed id may name nothing (404)
            case.call_and_validate(excluded_checks=[positive_data_acceptance])

        holds()
