"""Limits as cited data: what is enforced, with what citation, judged through the real averaging code."""

from __future__ import annotations

from datetime import date

import pytest

from minewatch.parameters import load_parameters
from minewatch.registry import Station
from minewatch.units import convert
from processors.limits import LimitBook, suggested_limit_sets
from processors.samples import MinuteValue, SeriesKey, reference_label
from processors.windows import KIND_OF_BASIS, AveragingRules, judge_window

BOOK = LimitBook.load()
ENFORCED = BOOK.enforced
RULES = AveragingRules.from_data(BOOK.rules)
CATALOGUE = load_parameters()
DAY = 1795622400.0  # 2026-11-26T00:00:00+08:00, a Beijing-time midnight


def test_unknown_limits_are_never_enforced():
    unknown = [e for e in BOOK.entries if e["confidence"] == "unknown"]
    assert len(unknown) >= 40, "GB 20426, GB 25466 and others are marked unknown"
    enforced_ids = {limit.limit_id for limit in ENFORCED}
    assert not enforced_ids & {e["id"] for e in unknown}
    assert {limit.confidence for limit in ENFORCED} == {"verified_primary_text"}


def test_every_enforced_limit_carries_its_citation_and_basis():
    for limit in ENFORCED:
        assert limit.standard.startswith("GB ") and limit.table and limit.source
        assert limit.basis in ("instantaneous", "hourly_mean", "daily_mean")
        assert limit.basis_clause and limit.basis_confidence in ("verified_primary_text", "uncertain")
        assert limit.lower is not None or limit.upper is not None


def test_uncertain_bases_say_so():
    ph = BOOK.limit("gb8978_t4_post1998_grade1", "w01001", "mining")
    assert ph.basis == "instantaneous" and ph.basis_confidence == "uncertain"
    assert "does not say" in ph.basis_clause


def _minutes(kind: str, value: float) -> dict[float, MinuteValue]:
    """A window full of valid minute data at ``value`` (catalogue unit)."""
    count = {"minute": 1, "hour": 60, "day": 1440}[kind]
    return {DAY + 60.0 * i: MinuteValue(1, 1, value, value, value) for i in range(count)}


@pytest.mark.parametrize("limit", ENFORCED, ids=lambda lim: lim.limit_id)
def test_just_inside_and_just_outside_every_enforced_limit(limit):
    kind = KIND_OF_BASIS[limit.basis]
    unit = CATALOGUE[limit.parameter].unit if limit.parameter in CATALOGUE else limit.unit
    series = SeriesKey("GZ520201-0001", "S1", limit.parameter, reference_label(limit.reference_o2))
    for bound, direction in ((limit.upper, 1.0), (limit.lower, -1.0)):
        if bound is None:
            continue
        step = max(abs(bound) * 1e-4, 1e-6)
        for offset, outcome in ((-direction * step, "complies"), (0.0, "complies"), (direction * step, "exceeds")):
            value = convert(bound + offset, limit.unit, unit)
            verdict = judge_window(kind, series, DAY, _minutes(kind, value), limit, unit, RULES)
            assert verdict.outcome == outcome, (bound, offset, verdict)
            if outcome == "exceeds":
                assert verdict.multiple == pytest.approx(step / abs(bound), rel=1e-3)
                assert verdict.value == pytest.approx(bound + offset, rel=1e-9)


def test_suggested_sets_follow_receiving_water_build_date_and_sector():
    assert suggested_limit_sets("phosphate", "wastewater", receiving_water="III")[0][1] == "gb8978_t4_post1998_grade1"
    assert suggested_limit_sets("phosphate", "wastewater", receiving_water="V")[0][1] == "gb8978_t4_post1998_grade2"
    assert suggested_limit_sets("phosphate", "wastewater", receiving_water="sewer")[0][1] == "gb8978_t4_post1998_grade3"
    old = suggested_limit_sets("phosphate", "wastewater", built=date(1995, 1, 1))[0]
    assert old == ("gb8978_t1_first_class", "gb8978_t2_pre1998_grade1")
    assert suggested_limit_sets("coal", "wastewater")[0] == ("coal_mine_water_new",)
    assert suggested_limit_sets("lead_zinc", "wastewater")[0] == ()


def test_station_limits_list_what_is_not_enforced_and_why():
    coal = BOOK.for_station(Station("WW01", "wastewater", limit_sets=("coal_mine_water_new",)))
    assert not coal.by_parameter
    assert coal.unenforced and all("unknown" in u.reason for u in coal.unenforced)
    barite = BOOK.for_station(Station("WW01", "wastewater", limit_sets=("gb8978_t4_post1998_grade1",)))
    reasons = {u.parameter_name: u.reason for u in barite.unenforced}
    assert "no HJ 212 parameter code" in reasons["动植物油"]
    assert barite.by_parameter["w01012"][0].upper == 70.0  # the mining row of 表4


def test_scope_row_for_mining_picks_the_mining_ss_limit():
    assert BOOK.limit("gb8978_t4_post1998_grade2", "w01012", "mining").upper == 300.0
    assert BOOK.limit("gb8978_t4_post1998_grade2", "w01012", "other").upper == 150.0


def test_effective_dates():
    in_use = BOOK.limit("gb13271_t1_in_use_coal", "a34013", "mining")
    assert in_use.effective_from == date(2015, 10, 1)
    assert not in_use.in_force_on(date(2015, 9, 30)) and in_use.in_force_on(date(2015, 10, 1))
