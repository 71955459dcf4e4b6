"""Green-mine compliance, pure parts: evaluation rules with their numbers written out, the report
hash chain (forgeries included), registry transitions, the scorecard over a fleet whose answers
are known, and the inspection draw."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from greenmine.evaluation import MineFacts, Period, PeriodFacts, evaluate
from greenmine.inspections import Candidate, Inspector, allocate, draw
from greenmine.policy import Policy
from greenmine.registry_states import ACTIONS, STATES, RegistryTransitionError, move
from greenmine.reports import Link, report_hash, verify_chain
from greenmine.requirements import RequirementBook
from greenmine.scorecard import MineStanding, scorecard
from minewatch.regions import load_divisions
from simulators.fleet import MINERALS, generate_fleet

COAL = MineFacts("GZ520201-0001", "coal", "underground", "medium")
OCTOBER = Period.parse("2026-10")
ON_TIME = datetime(2026, 11, 5, tzinfo=UTC)
LATER = datetime(2026, 11, 26, tzinfo=UTC)


def report(**figures: float) -> dict:
    base = {
        "mining_recovery_rate": 0.80,  # medium seam, underground: minimum 80 % (draft figure)
        "processing_recovery_rate": 0.75,  # 原煤入选率: 75 %
        "comprehensive_utilisation_rate": 0.75,  # 煤矸石: 75 %
        "greened_area_m2": 120_000,
        "greenable_area_m2": 120_000,
        "solid_waste_generated_t": 8_000,
        "solid_waste_disposed_t": 8_000,
    }
    return {"conditions": {"mining_method": "underground", "seam_thickness": "medium"}, "figures": base | figures}


def outcome(result, indicator: str) -> str:
    return next(r.outcome for r in result.reasons if r.indicator == indicator)


def test_exactly_at_every_minimum_is_compliant() -> None:
    result = evaluate(COAL, OCTOBER, PeriodFacts(report(), ON_TIME), now=LATER)
    assert result.status == "compliant" and result.three_rates_met is True and result.renewal_eligible is True
    assert {r.indicator: r.outcome for r in result.reasons} == {
        "report": "met", "mining_recovery": "met", "processing_recovery": "met", "comprehensive_utilisation": "met",
        "greening": "met", "solid_waste": "met", "emissions": "met", "slopes": "met",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("figure", "value", "indicator"),
    [
        ("mining_recovery_rate", 0.799, "mining_recovery"),  # 79.9 % < 80 %
        ("processing_recovery_rate", 0.749, "processing_recovery"),  # 74.9 % < 75 %
        ("comprehensive_utilisation_rate", 0.70, "comprehensive_utilisation"),
        ("greened_area_m2", 119_999, "greening"),  # 99.999 % of 120,000 m2 < 100 %
        ("solid_waste_disposed_t", 7_999, "solid_waste"),
    ],
)
def test_one_figure_below_its_minimum_makes_the_mine_non_compliant(figure: str, value: float, indicator: str) -> None:
    result = evaluate(COAL, OCTOBER, PeriodFacts(report(**{figure: value}), ON_TIME), now=LATER)
    assert result.status == "non_compliant" and outcome(result, indicator) == "not_met"
    assert [r.indicator for r in result.reasons if r.outcome == "not_met"] == [indicator]
    if indicator in ("greening", "solid_waste"):
        assert result.renewal_eligible is False and "licence renewal after 2020 needs 100.0 %" in str(result.reasons)
    else:
        assert result.three_rates_met is False


def test_the_minimum_follows_seam_thickness_and_method() -> None:
    thick = report(mining_recovery_rate=0.76) | {
        "conditions": {"mining_method": "underground", "seam_thickness": "thick"}
    }
    assert outcome(evaluate(COAL, OCTOBER, PeriodFacts(thick, ON_TIME), now=LATER), "mining_recovery") == "met"  # 75 %
    pit = report(mining_recovery_rate=0.94) | {"conditions": {"mining_method": "open_pit", "seam_thickness": "thick"}}
    assert (
        outcome(evaluate(COAL, OCTOBER, PeriodFacts(pit, ON_TIME), now=LATER), "mining_recovery") == "not_met"
    )  # 95 %
    unknown = report() | {"conditions": {"mining_method": "underground"}}
    result = evaluate(COAL, OCTOBER, PeriodFacts(unknown, ON_TIME), now=LATER)
    assert outcome(result, "mining_recovery") == "not_judged" and "seam_thickness" in str(result.reasons)


def test_a_mineral_without_verified_minimums_is_not_judged_on_them() -> None:
    bauxite = MineFacts("M", "bauxite", "open_pit", "small")
    result = evaluate(bauxite, OCTOBER, PeriodFacts(report(mining_recovery_rate=0.1), ON_TIME), now=LATER)
    assert result.three_rates_met is None and result.status == "compliant"
    assert all(outcome(result, r) == "not_judged" for r in ("mining_recovery", "processing_recovery"))
    phosphate = MineFacts("M", "phosphate", "underground", "small")
    ore = report(processing_recovery_rate=0.79) | {
        "conditions": {"mining_method": "underground", "ore_type": "phosphorite"}
    }
    assert (
        outcome(evaluate(phosphate, OCTOBER, PeriodFacts(ore, ON_TIME), now=LATER), "processing_recovery") == "not_met"
    )


def test_exceedances_slopes_and_deadlines() -> None:
    due = OCTOBER.due(Policy.load())
    assert due.isoformat() == "2026-11-16T00:00:00+08:00"  # 31 October + 1 day + 15 days, Beijing time
    cases = [
        (PeriodFacts(report(), ON_TIME, closed_exceedances=1), "at_risk", "emissions"),
        (PeriodFacts(report(), ON_TIME, open_exceedances=1), "non_compliant", "emissions"),
        (PeriodFacts(report(), ON_TIME, unhandled_red_slope=1), "non_compliant", "slopes"),
        (PeriodFacts(report(), ON_TIME, handled_red_slope=2), "compliant", None),
        (PeriodFacts(report(), datetime(2026, 11, 16, 1, tzinfo=UTC)), "at_risk", "report"),  # 09:00 CST, late
        (PeriodFacts(report(solid_waste_disposed_t=None), ON_TIME), "at_risk", "solid_waste"),  # not reported
        (PeriodFacts(None), "non_compliant", "report"),  # none, past due
    ]
    for facts, status, indicator in cases:
        result = evaluate(COAL, OCTOBER, facts, now=LATER)
        assert result.status == status, (facts, result.reasons)
        if indicator:
            assert outcome(result, indicator) in ("warning", "not_met")
    early = evaluate(COAL, OCTOBER, PeriodFacts(None), now=datetime(2026, 11, 10, tzinfo=UTC))
    assert early.status == "compliant" and outcome(early, "report") == "not_judged"


def test_periods() -> None:
    assert (Period.parse("2026-02").end.day, Period.parse("2024-02").end.day) == (28, 29)
    assert Period.parse("2026-Q4").key == "2026-Q4" and Period.parse("2026").kind == "annual"
    for bad in ("2026-13", "2026-Q5", "26-10", ""):
        with pytest.raises(ValueError, match="not a"):
            Period.parse(bad)


def test_requirement_data_carries_its_standing() -> None:
    book = RequirementBook.load()
    assert {m for m, _ in MINERALS} <= set(book.minerals)  # every simulated mineral has an entry
    for mineral, entry in book.minerals.items():
        assert entry["instrument"]
        for rate in ("mining_recovery", "processing_recovery", "comprehensive_utilisation"):
            for rule in entry.get(rate) or []:
                assert 0 < rule["min"] <= 1 and rule["confidence"] in ("official", "draft", "secondary"), mineral


def chain(n: int) -> list[Link]:
    links: list[Link] = []
    for i in range(n):
        previous = report_hash(links[-1].raw) if links else None
        raw = json.dumps({"report_id": f"r{i}", "previous_hash": previous, "production_t": 1000 + i}).encode()
        links.append(Link(f"r{i}", raw, previous))
    return links


def test_the_chain_shows_a_forged_removed_or_inserted_report() -> None:
    links = chain(5)
    assert verify_chain(links) == []
    forged = [*links[:2], Link("r2", links[2].raw.replace(b"1002", b"9999"), links[2].previous_hash), *links[3:]]
    assert [(b.report_id, "not the hash of r2" in b.reason) for b in verify_chain(forged)] == [("r3", True)]
    removed = links[:2] + links[3:]
    assert [b.report_id for b in verify_chain(removed)] == ["r3"]
    inserted = [*links[:2], Link("x", b'{"report_id": "x"}', None), *links[2:]]
    assert [b.report_id for b in verify_chain(inserted)] == ["x", "r2"]
    assert "names a previous report, but the mine has none" in verify_chain(links[1:])[0].reason


@given(n=st.integers(2, 8), at=st.integers(0, 6), byte=st.integers(0, 255))
def test_any_change_to_any_report_but_the_last_breaks_the_next_link(n: int, at: int, byte: int) -> None:
    links = chain(n)
    at %= n - 1
    raw = bytearray(links[at].raw)
    position = byte % len(raw)
    raw[position] = (raw[position] + 1) % 256
    links[at] = Link(links[at].report_id, bytes(raw), links[at].previous_hash)
    assert [b.report_id for b in verify_chain(links)] == [links[at + 1].report_id]


LEVELS = ("mine", "county", "region", "province")


@pytest.mark.parametrize(("state", "action", "level"), list(itertools.product(STATES, ACTIONS, LEVELS)))
def test_every_registry_transition(state: str, action: str, level: str) -> None:
    allowed = {
        ("candidate", "self_assess"): ("self_assessed", "mine"),
        ("self_assessed", "verify"): ("verified", "county"),
        ("self_assessed", "reject"): ("candidate", "county"),
        ("verified", "reject"): ("candidate", "county"),
        ("verified", "list_provincial"): ("listed_provincial", "province"),
        ("listed_provincial", "list_national"): ("listed_national", "province"),
        ("listed_provincial", "delist"): ("delisted", "province"),
        ("listed_national", "delist"): ("delisted", "province"),
        ("delisted", "reapply"): ("candidate", "mine"),
    }
    rank = {lv: i for i, lv in enumerate(LEVELS)}
    target = allowed.get((state, action))
    lowest = target[1] if target else None
    ok = target is not None and rank[level] >= rank[lowest] and (level != "mine" or lowest == "mine")
    if ok:
        assert move(state, action, level) == target[0]
    else:
        with pytest.raises(RegistryTransitionError):
            move(state, action, level)


def test_scorecard_totals_over_a_fleet_whose_answers_are_known() -> None:
    fleet = list(generate_fleet(120, seed=7))
    standings = [
        MineStanding(
            m.id, m.region_code, m.scale,
            "listed_national" if i % 10 == 0 else "listed_provincial" if i % 5 == 0 else "verified",
            None if i % 7 == 0 else i % 3 != 0,  # every 7th not judged; of the rest, every 3rd fails
            i % 4 == 0,
        )
        for i, m in enumerate(fleet)
    ]  # fmt: skip
    divisions = load_divisions()
    regions = {code: (r.name, r.green_mine_quota_2020) for code, r in divisions.regions.items()}
    rows = {row.region: row for row in scorecard(standings, regions)}
    province = rows.pop("520000")
    assert province.quota_2020 == 800 and province.mines == 120
    assert province.listed == sum(1 for i in range(120) if i % 5 == 0)  # 24 (every 10th is also every 5th)
    judged = [i for i in range(120) if i % 7 != 0]
    assert province.three_rates_judged == len(judged) == 102
    assert province.three_rates_met == sum(1 for i in judged if i % 3 != 0) == 68
    assert province.three_rates_share == round(68 / 102, 4) and province.three_rates_target == 0.85
    assert province.renewal_eligible == 30
    assert province.large_medium == sum(m.scale in ("large", "medium") for m in fleet)
    for field in ("mines", "listed", "three_rates_judged", "three_rates_met", "large_medium", "renewal_eligible"):
        assert sum(getattr(r, field) for r in rows.values()) == getattr(province, field), field
    assert Counter({c: r.mines for c, r in rows.items() if r.mines}) == Counter(m.region_code for m in fleet)


MINES = [Candidate(f"GZ{county}-{i:04d}", county[:4] + "00", county) for i, county in
         enumerate(["520102", "520103", "520201", "520203", "520302", "520303"] * 10)]  # fmt: skip
PEOPLE = [Inspector(f"I{i:02d}", f"inspector {i}", ["520102", "520201", "520302", None][i % 4]) for i in range(12)]


def test_the_draw_is_reproducible_and_seeded() -> None:
    first = draw("seed published 2026-11-26", 12, MINES, PEOPLE)
    assert first == draw("seed published 2026-11-26", 12, list(reversed(MINES)), list(reversed(PEOPLE)))
    other = draw("another seed", 12, MINES, PEOPLE)
    assert {a.mine_id for a in other.assignments} != {a.mine_id for a in first.assignments}
    assert first.candidates_digest == other.candidates_digest  # the same candidates: anyone can check


def test_the_draw_respects_strata_exclusions_and_conflicts() -> None:
    excluded = {m.mine_id for m in MINES[:15]}
    pool = [m for m in MINES if m.mine_id not in excluded]
    result = draw("s", 9, pool, PEOPLE, per_mine=2)
    sizes = Counter(m.region for m in pool)
    assert result.strata == allocate(9, dict(sizes))
    assert Counter(a.region for a in result.assignments) == Counter(result.strata)
    assert not excluded & {a.mine_id for a in result.assignments}
    by_id = {p.inspector_id: p for p in PEOPLE}
    for a in result.assignments:
        assert len(set(a.inspectors)) == 2 and all(by_id[i].county != a.county for i in a.inspectors)
    load = Counter(i for a in result.assignments for i in a.inspectors)
    assert max(load.values()) <= -(-18 // 12)  # spread evenly: at most ceil(18 / 12) each


@given(count=st.integers(0, 60), sizes=st.dictionaries(st.sampled_from("ABCDEFG"), st.integers(0, 20), min_size=1))
def test_allocation_is_proportional_and_complete(count: int, sizes: dict[str, int]) -> None:
    out = allocate(count, sizes)
    total = sum(sizes.values())
    assert sum(out.values()) == min(count, total)
    for k, n in sizes.items():
        assert 0 <= out[k] <= n
        if total and count <= total:
            assert abs(out[k] - count * n / total) < 1 or out[k] == n
