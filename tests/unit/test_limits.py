"""Limits as cited data, and the instantaneous screen, for every enforced limit."""

from __future__ import annotations

import pytest
import yaml

from minewatch.registry import Registry
from processors.limits import LIMITS_FILE, InstantaneousLimitCheck, LimitBook, _limit_from_entry

ENTRIES = yaml.safe_load(LIMITS_FILE.read_text(encoding="utf-8"))["entries"]
ENFORCED = [limit for limit in (_limit_from_entry(e) for e in ENTRIES) if limit is not None]


def test_unknown_limits_are_never_enforced():
    unknown = [e for e in ENTRIES if e["confidence"] == "unknown"]
    assert unknown, "the data marks GB 20426 and others unknown"
    assert all(_limit_from_entry(e) is None for e in unknown)
    assert {limit.confidence for limit in ENFORCED} == {"verified_primary_text"}


def test_every_enforced_limit_carries_its_citation():
    for limit in ENFORCED:
        assert limit.standard.startswith("GB ")
        assert limit.table and limit.source
        assert limit.unit


@pytest.mark.parametrize("limit", [lim for lim in ENFORCED if lim.upper is not None], ids=lambda lim: lim.limit_id)
def test_just_below_and_just_above_upper_limit(limit):
    step = max(abs(limit.upper) * 1e-6, 1e-9)
    assert limit.judge(limit.upper) is None  # at the limit is compliant
    assert limit.judge(limit.upper - step) is None
    over = limit.judge(limit.upper + step)
    assert over is not None and over > 0


@pytest.mark.parametrize("limit", [lim for lim in ENFORCED if lim.lower is not None], ids=lambda lim: lim.limit_id)
def test_just_inside_and_below_lower_limit(limit):
    assert limit.judge(limit.lower) is None
    assert limit.judge(limit.lower - 0.01) is not None


def test_multiple_over_limit_is_excess_over_limit():
    book = LimitBook.load()
    cod = book.limit("gb8978_t4_post1998_grade1", "w01018", "mining")
    assert cod.upper == 100.0
    assert cod.judge(250.0) == 1.5  # 超标倍数 (250 - 100) / 100


def test_scope_row_for_mining_picks_the_mining_ss_limit():
    book = LimitBook.load()
    # GB 8978-1996 Table 4 grade 2: SS 300 mg/L for 采矿、选矿、选煤工业, 150 for other dischargers
    assert book.limit("gb8978_t4_post1998_grade2", "w01012", "mining").upper == 300.0
    assert book.limit("gb8978_t4_post1998_grade2", "w01012", "other").upper == 150.0


REGISTRY = Registry.from_dict(
    {
        "version": 1,
        "mines": [
            {
                "id": "GZ520201-0001",
                "name": "t",
                "region_code": "520200",
                "county_code": "520201",
                "mineral": "barite",
                "stations": [
                    {
                        "id": "WW01",
                        "kind": "wastewater",
                        "limit_sets": ["gb8978_t1_first_class", "gb8978_t4_post1998_grade1"],
                    },
                    {"id": "WC01", "kind": "wastewater", "limit_sets": ["coal_mine_water_new"]},
                ],
            }
        ],
    }
)


def _msg(station, *readings, ts="2026-11-26T12:00:00+08:00"):
    return {"mine_id": "GZ520201-0001", "station_id": station, "ts": ts, "readings": list(readings)}


def _r(parameter, value, unit="mg/L", flag="N"):
    return {"parameter": parameter, "value": value, "unit": unit, "flag": flag}


def test_check_converts_micrograms_before_comparing():
    check = InstantaneousLimitCheck(REGISTRY, LimitBook.load())
    # total lead: 1.0 mg/L (GB 8978-1996 Table 1); HJ 212 reports µg/L
    assert check.check(_msg("WW01", _r("w20120", 1000.0, "µg/L"))) == []
    [found] = check.check(_msg("WW01", _r("w20120", 1001.0, "µg/L")))
    assert found.value == pytest.approx(1.001) and found.unit == "mg/L"


def test_only_valid_data_is_judged():
    check = InstantaneousLimitCheck(REGISTRY, LimitBook.load())
    for flag in "FMSDCTB":
        assert check.check(_msg("WW01", _r("w01018", 500.0, flag=flag))) == []
    assert check.check(_msg("WW01", _r("w01018", None, flag="D"))) == []


def test_ph_is_a_range():
    check = InstantaneousLimitCheck(REGISTRY, LimitBook.load())
    assert check.check(_msg("WW01", _r("w01001", 7.0, "dimensionless"))) == []
    low, high = (check.check(_msg("WW01", _r("w01001", v, "dimensionless"))) for v in (5.4, 9.9))
    assert low[0].multiple == pytest.approx(0.1) and high[0].multiple == pytest.approx(0.1)


def test_coal_mine_limits_are_unknown_so_nothing_is_judged():
    check = InstantaneousLimitCheck(REGISTRY, LimitBook.load())
    assert check.check(_msg("WC01", _r("w01018", 5000.0))) == []


def test_exceedance_id_is_stable_for_replays_and_distinct_per_time():
    check = InstantaneousLimitCheck(REGISTRY, LimitBook.load())
    a = check.check(_msg("WW01", _r("w01018", 180.0)))[0]
    b = check.check(_msg("WW01", _r("w01018", 190.0)))[0]
    c = check.check(_msg("WW01", _r("w01018", 180.0), ts="2026-11-26T12:00:01+08:00"))[0]
    assert a.exceedance_id == b.exceedance_id != c.exceedance_id
    assert "GB 8978-1996" in a.citation
