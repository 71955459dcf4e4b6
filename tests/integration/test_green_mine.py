"""Green-mine compliance on the running stack: self-reports over MQTT and through the API as one
hash chain, forgeries caught on arrival and in the database, evaluation and delisting
recommendations, the registry with its audit, the scorecard, complaints that go overdue, and a
published inspection draw."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest

from api.tokens import issue_token
from greenmine.reports import report_hash
from minewatch.stack import MinewatchProcesses, Services
from minewatch.topics import report_topic
from simulators.publisher import Publisher
from tests.conftest import HJ212_FLEET, eventually

MINE = sorted(HJ212_FLEET.mines)[10]  # a mine no other test reports for (the HJ 212 tests send it nothing)


def report(
    report_id: str, month: str, previous: bytes | None, *, supersedes: str | None = None, **figures: float
) -> bytes:
    start = datetime.strptime(month, "%Y-%m").date()
    end = (start.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    doc = {
        "schema": "minewatch/self-report/v2",
        "message_id": f"msg-{report_id}",
        "mine_id": MINE,
        "report_id": report_id,
        "period": {"kind": "monthly", "start": start.isoformat(), "end": end.isoformat()},
        "submitted_at": f"{(end + timedelta(days=3)).isoformat()}T10:00:00+08:00",
        "conditions": {"mining_method": "underground", "seam_thickness": "medium"},
        "figures": {
            "mining_recovery_rate": 0.82, "processing_recovery_rate": 0.80, "comprehensive_utilisation_rate": 0.76,
            "greened_area_m2": 1000, "greenable_area_m2": 1000, "solid_waste_generated_t": 10,
            "solid_waste_disposed_t": 10, **figures,
        },
    }  # fmt: skip
    if previous is not None:
        doc["previous_hash"] = report_hash(previous)
    if supersedes:
        doc["supersedes"] = supersedes
    return json.dumps(doc).encode()


def publish(services: Services, raw: bytes) -> None:
    with Publisher(services.mqtt_endpoint(MINE)) as publisher:
        publisher.publish(report_topic(MINE, "monthly"), raw, 0)
        assert publisher.wait_acked(30)


def minewatch(services: Services, *args: str) -> subprocess.CompletedProcess:
    env = {**services.env(), "MINEWATCH_DB_URL": services.db_url}
    return subprocess.run([sys.executable, "-m", "minewatch.cli", *args], env=env, capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip


@pytest.fixture(scope="module")
def tokens(services: Services) -> dict[str, str]:
    mine = HJ212_FLEET.mine(MINE)
    assert mine is not None and mine.county_code is not None
    return {
        "mine": issue_token(services.db_url, "the mine", "mine", MINE, None)[1],
        "county": issue_token(services.db_url, "county NR", "county", mine.county_code, "natural_resources")[1],
        "province": issue_token(services.db_url, "province NR", "province", "520000", "natural_resources")[1],
    }


def test_reports_chain_forgery_evaluation_registry_and_delisting(
    services: Services, pipeline: MinewatchProcesses, db: psycopg.Connection, tokens: dict[str, str]
) -> None:
    api = pipeline.api_url
    mine = HJ212_FLEET.mine(MINE)
    assert mine is not None
    august = report("r-2026-08", "2026-08", None)
    september = report("r-2026-09", "2026-09", august, mining_recovery_rate=0.70)  # below coal's 80 %
    publish(services, august)
    publish(services, september)

    def stored() -> list[tuple]:
        return db.execute(
            "SELECT report_id, chain_problem IS NULL, source FROM self_reports WHERE mine_id = %s ORDER BY seq", (MINE,)
        ).fetchall()

    eventually(lambda: len(stored()) == 2, what="the reports published over MQTT stored")
    # Through the API, with the mine's own token: October, following September.
    october = report("r-2026-10", "2026-10", september, mining_recovery_rate=0.70)
    mine_auth = {"Authorization": f"Bearer {tokens['mine']}"}
    sent = httpx.post(f"{api}/v1/mines/{MINE}/reports", content=october, headers=mine_auth)
    assert sent.status_code == 201, sent.text
    assert sent.json()["sha256"] == report_hash(october) and sent.json()["chain_problem"] is None
    again = httpx.post(f"{api}/v1/mines/{MINE}/reports", content=october, headers=mine_auth)
    assert again.status_code == 201 and again.json()["stored"] is False  # a replay changes nothing
    county_auth = {"Authorization": f"Bearer {tokens['county']}"}
    refused = httpx.post(f"{api}/v1/mines/{MINE}/reports", content=october, headers=county_auth)
    assert refused.status_code == 403 and "the mine itself" in refused.json()["detail"]
    reused = report("r-2026-10", "2026-10", september, mining_recovery_rate=0.99)  # same id, other content
    conflict = httpx.post(f"{api}/v1/mines/{MINE}/reports", content=reused, headers=mine_auth)
    assert conflict.status_code == 409 and "supersedes" in conflict.json()["detail"]
    # A forged report: its previous_hash is not October's.
    forged = report("r-2026-11", "2026-11", august)
    publish(services, forged)
    eventually(lambda: len(stored()) == 4, what="four reports stored")
    assert stored() == [
        ("r-2026-08", True, "mqtt"),
        ("r-2026-09", True, "mqtt"),
        ("r-2026-10", True, "api"),
        ("r-2026-11", False, "mqtt"),
    ]
    chain_alert = db.execute(
        "SELECT severity, summary FROM alerts WHERE mine_id = %s AND category = 'compliance'"
        " AND details->>'check' = 'report_chain'",
        (MINE,),
    ).fetchone()
    assert chain_alert is not None and "r-2026-11" in chain_alert[1] and "not the hash of r-2026-10" in chain_alert[1]
    routes = {r[0] for r in db.execute(
        "SELECT target_id FROM alert_routes r JOIN alerts a USING (alert_id) WHERE a.mine_id = %s"
        " AND a.category = 'compliance'", (MINE,))}  # fmt: skip
    assert f"county:{mine.county_code}:natural_resources" in routes

    verified = minewatch(services, "reports", "verify", "--mine", MINE)
    assert verified.returncode == 1 and json.loads(verified.stdout)["breaks"][0]["report_id"] == "r-2026-11"
    db.execute(  # someone edits a stored report in the database
        "UPDATE self_reports SET raw = convert_to(replace(convert_from(raw, 'UTF8'), '0.7', '0.9'), 'UTF8')"
        " WHERE mine_id = %s AND report_id = 'r-2026-09'",
        (MINE,),
    )
    tampered = json.loads(minewatch(services, "reports", "verify", "--mine", MINE).stdout)
    assert {b["report_id"] for b in tampered["breaks"]} == {"r-2026-09", "r-2026-10", "r-2026-11"}
    assert any("no longer match the hash recorded on arrival" in b["reason"] for b in tampered["breaks"])

    # The registry: self-assessed by the mine, verified by the county, listed by the province.
    province_auth = {"Authorization": f"Bearer {tokens['province']}"}
    for auth, action, status in (
        (mine_auth, "self_assess", 200),
        (county_auth, "list_provincial", 403),  # a county cannot list
        (county_auth, "verify", 200),
        (province_auth, "list_provincial", 200),
        (province_auth, "list_provincial", 409),  # already listed
    ):
        moved = httpx.post(f"{api}/v1/mines/{MINE}/green-registry", headers=auth,
                           json={"action": action, "evidence": f"{action}: file 2026-{action}.pdf"})  # fmt: skip
        assert moved.status_code == status, (action, moved.text)
    history = httpx.get(f"{api}/v1/mines/{MINE}/green-registry", headers=county_auth).json()
    assert history["state"] == "listed_provincial"
    assert [(h["action"], h["actor"].split(" (")[0]) for h in history["history"]] == [
        ("self_assess", "the mine"), ("verify", "county NR"), ("list_provincial", "province NR"),
    ]  # fmt: skip

    # Evaluate September and October: both below the mining-recovery minimum, so delisting is recommended.
    assert (mine.mineral, mine.mining_method) == ("coal", "underground")  # tests/conftest.py makes it so
    for month in ("2026-09", "2026-10"):
        result = minewatch(services, "compliance", "evaluate", "--period", month)
        assert result.returncode == 0, result.stderr
    statuses = dict(db.execute("SELECT period, status FROM evaluations WHERE mine_id = %s", (MINE,)).fetchall())
    assert statuses == {"2026-09": "non_compliant", "2026-10": "non_compliant"}
    evaluations = httpx.get(f"{api}/v1/mines/{MINE}/evaluations", headers=mine_auth).json()
    assert "开采回采率 mining recovery 70.0 % is below the minimum 80.0 %" in json.dumps(
        evaluations, ensure_ascii=False
    )
    delisting = db.execute(
        "SELECT summary FROM alerts WHERE mine_id = %s AND details->>'check' = 'delisting_recommended'", (MINE,)
    ).fetchone()
    assert (
        delisting is not None
        and "2026-09, 2026-10" in delisting[0]
        and "the natural-resources bureau decides" in delisting[0]
    )
    assert history["state"] == "listed_provincial"  # recommended, never done automatically

    card = json.loads(minewatch(services, "scorecard", "--period", "2026-10", "--format", "json").stdout)
    province = card[-1]
    assert province["region"] == "520000" and province["quota_2020"] == 800 and province["listed"] >= 1
    mine_region = next(r for r in card if r["region"] == mine.region_code)
    assert mine_region["listed"] == 1 and mine_region["three_rates_judged"] >= 1
    mine_card = httpx.get(f"{api}/v1/scorecard", params={"period": "2026-10"}, headers=county_auth).json()
    assert len(mine_card) == 1 and mine_card[0]["region"] == mine.county_code


def test_an_unanswered_complaint_goes_overdue_alerts_the_county_and_the_answer_resolves_it(
    services: Services, pipeline: MinewatchProcesses, db: psycopg.Connection, tokens: dict[str, str]
) -> None:
    api = pipeline.api_url
    county_auth = {"Authorization": f"Bearer {tokens['county']}"}
    mine_auth = {"Authorization": f"Bearer {tokens['mine']}"}
    old = (datetime.now(UTC) - timedelta(days=16)).isoformat()  # the 15-day deadline has passed
    filed = httpx.post(f"{api}/v1/complaints", headers=county_auth, json={
        "mine_id": MINE, "complainant": "resident", "channel": "12369 hotline",
        "summary": "black water in the stream below the tailings dam", "received_at": old})  # fmt: skip
    assert filed.status_code == 201, filed.text
    complaint = filed.json()
    assert complaint["status"] == "open"
    assert httpx.post(f"{api}/v1/complaints", headers=mine_auth, json={
        "mine_id": MINE, "complainant": "resident", "channel": "x", "summary": "y"}).status_code == 403  # fmt: skip

    def alert() -> tuple | None:
        return db.execute(
            "SELECT alert_id, status, severity FROM alerts WHERE category = 'complaint'"
            " AND details->>'complaint_id' = %s",
            (str(complaint["complaint_id"]),),
        ).fetchone()

    eventually(lambda: alert() is not None, timeout=30, what="the overdue complaint's alert (worker timer)")
    alert_id, status, severity = alert()  # type: ignore[misc]
    assert (status, severity) == ("firing", "yellow")
    mine = HJ212_FLEET.mine(MINE)
    targets = {r[0] for r in db.execute("SELECT target_id FROM alert_routes WHERE alert_id = %s", (alert_id,))}
    assert f"county:{mine.county_code}:ecology_environment" in targets  # type: ignore[union-attr]
    listed = httpx.get(f"{api}/v1/complaints", headers=mine_auth).json()
    assert [c["status"] for c in listed if c["complaint_id"] == complaint["complaint_id"]] == ["overdue"]
    by_county = httpx.post(f"{api}/v1/complaints/{complaint['complaint_id']}/response", headers=county_auth,
                           json={"response": "x"})  # fmt: skip
    assert by_county.status_code == 403  # only the mine answers
    answered = httpx.post(f"{api}/v1/complaints/{complaint['complaint_id']}/response", headers=mine_auth,
                          json={"response": "the settling pond overflowed; repaired on 2026-11-20"})  # fmt: skip
    assert answered.status_code == 200 and answered.json()["status"] == "answered"
    assert alert()[1] == "resolved"  # type: ignore[index]
    assert httpx.post(f"{api}/v1/complaints/{complaint['complaint_id']}/response", headers=mine_auth,
                      json={"response": "again"}).status_code == 409  # fmt: skip


def test_a_published_inspection_draw_is_reproducible(
    services: Services, pipeline: MinewatchProcesses, tmp_path: Path, tokens: dict[str, str]
) -> None:
    people = tmp_path / "inspectors.csv"
    counties = ["520102", "520201", "520203", "", "520302", ""]
    people.write_text(
        "inspector_id,name,county_code\n" + "".join(f"I{i:02d},inspector {i},{c}\n" for i, c in enumerate(counties))
    )
    args = ["inspections", "draw", "--seed", "2026-11-26 福彩3D 123", "--count", "6", "--inspectors", str(people),
            "--population", "all"]  # fmt: skip
    first = json.loads(minewatch(services, *args, "--dry-run").stdout)
    second = json.loads(minewatch(services, *args, "--dry-run").stdout)
    assert first["assignments"] == second["assignments"] and first["draw_id"] is None and len(first["assignments"]) == 6
    recorded = json.loads(minewatch(services, *args, "--drawn-by", "province NR").stdout)
    assert recorded["draw_id"] is not None and recorded["assignments"] == first["assignments"]
    after = json.loads(minewatch(services, *args, "--dry-run").stdout)  # the drawn mines are now excluded
    assert set(after["excluded_recently_inspected"]) == {a["mine_id"] for a in first["assignments"]}
    assert not {a["mine_id"] for a in after["assignments"]} & set(after["excluded_recently_inspected"])
    published = httpx.get(f"{pipeline.api_url}/v1/inspections",
                          headers={"Authorization": f"Bearer {tokens['province']}"}).json()  # fmt: skip
    assert published[0]["draw_id"] == recorded["draw_id"] and published[0]["seed"] == "2026-11-26 福彩3D 123"
