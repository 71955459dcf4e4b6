"""Judging compliance the way the rules do, with the numbers written out."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest

from minewatch.registry import Registry
from processors.compliance import audit
from processors.limits import LimitBook
from processors.quality import QualityMonitor
from processors.samples import Reading, SeriesKey, add_minutes, aggregate_minutes, o2_readings, rules_for_registry
from processors.windows import CST, AveragingRules

MINE = "GZ520201-0001"
REGISTRY = Registry.from_dict(
    {
        "version": 1,
        "mines": [
            {
                "id": MINE,
                "name": "t",
                "region_code": "520200",
                "county_code": "520201",
                "mineral": "barite",
                "stations": [
                    {"id": "ST01", "kind": "emission", "limit_sets": ["gb16297_t2_new_source_stack"]},
                    {"id": "BL01", "kind": "emission", "limit_sets": ["gb13271_t2_new_coal"]},
                    {
                        "id": "WW01",
                        "kind": "wastewater",
                        "limit_sets": ["gb8978_t1_first_class", "gb8978_t4_post1998_grade1"],
                    },
                ],
            }
        ],
    }
)
BOOK = LimitBook.load()
RULES = rules_for_registry(REGISTRY, BOOK)
AVERAGING = AveragingRules.from_data(BOOK.rules)
H0 = datetime(2026, 11, 26, 10, 0, tzinfo=CST).timestamp()  # a clock hour, Beijing time


def run(readings):
    return audit(readings, RULES, AVERAGING, QualityMonitor(REGISTRY, track_offline=False))


def r(station, parameter, t, value, unit="mg/m3", flag="N"):
    return Reading(MINE, station, parameter, t, value, unit, flag)


def verdicts(result, parameter, basis):
    return [v for v in result.verdicts if v.series.parameter == parameter and v.basis == basis]


def minute_data(station, parameter, start, minutes, value, unit="mg/m3", flag="N"):
    return [r(station, parameter, start + 60 * i + 30, value, unit, flag) for i in range(minutes)]


# --- hourly means (GB 16297-1996: any 1-hour mean; >= 45 valid minutes) ---


def test_hourly_mean_over_the_limit_is_an_exceedance_with_its_numbers():
    result = run(minute_data("ST01", "a34013", H0, 60, 130.0))
    [v] = verdicts(result, "a34013", "hourly_mean")
    assert (v.outcome, v.value, v.n_valid, v.n_required) == ("exceeds", 130.0, 60, 45)
    assert v.multiple == pytest.approx((130 - 120) / 120, abs=1e-6)  # 超标倍数, to 6 decimals
    [e] = result.exceedances
    assert (e.windows, e.first_start, e.last_end, e.is_open) == (1, H0, H0 + 3600, True)


@pytest.mark.parametrize("valid_minutes, outcome", [(44, "insufficient"), (45, "exceeds")])
def test_an_hour_needs_45_valid_minutes(valid_minutes, outcome):
    readings = minute_data("ST01", "a34013", H0, valid_minutes, 500.0)
    readings += minute_data("ST01", "a34013", H0 + 60 * valid_minutes, 60 - valid_minutes, 500.0, flag="M")
    [v] = verdicts(run(readings), "a34013", "hourly_mean")
    assert (v.outcome, v.n_valid) == (outcome, valid_minutes)
    assert (v.value is None) == (outcome == "insufficient")


def test_flagged_values_never_enter_a_mean():
    readings = minute_data("ST01", "a34013", H0, 50, 100.0)
    for i, flag in enumerate("FMSDCTBF" + "DD"):  # ten minutes of huge values, all flagged invalid
        readings.append(r("ST01", "a34013", H0 + 60 * (50 + i) + 30, 10_000.0, flag=flag))
    [v] = verdicts(run(readings), "a34013", "hourly_mean")
    assert (v.outcome, v.value, v.n_valid) == ("complies", 100.0, 50)


def test_order_of_arrival_does_not_matter():
    readings = minute_data("ST01", "a34013", H0, 60, 100.0) + minute_data("ST01", "a34013", H0 + 3600, 60, 140.0)
    shuffled = readings[:]
    random.Random(7).shuffle(shuffled)
    assert run(readings).verdicts == run(shuffled).verdicts


def test_minute_value_is_the_mean_of_its_valid_samples():
    # 1 Hz data: each minute's value is the mean of its samples, then the hour the mean of minutes
    readings = [r("ST01", "a34013", H0 + s, 110.0 if s % 2 else 130.0) for s in range(3600)]
    [v] = verdicts(run(readings), "a34013", "hourly_mean")
    assert (v.outcome, v.value, v.n_valid) == ("complies", 120.0, 60)  # exactly at the limit complies


# --- daily means, Beijing-time days (GB 8978-1996 cl. 5.2) ---


def hourly_cod(start, hours, value):
    return [r("WW01", "w01018", start + 3600 * h + 60 * m, value, "mg/L") for h in range(hours) for m in range(60)]


def test_a_day_is_00_to_24_beijing_time():
    midnight = datetime(2026, 11, 26, tzinfo=CST).timestamp()
    result = run(hourly_cod(midnight, 24, 150.0))
    [v] = verdicts(result, "w01018", "daily_mean")
    assert (v.outcome, v.window_start, v.value, v.n_valid, v.n_required) == ("exceeds", midnight, 150.0, 24, 20)


def test_a_utc_day_straddles_two_beijing_days_and_judges_neither():
    utc_midnight = datetime(2026, 11, 26, tzinfo=CST).timestamp() + 8 * 3600  # 2026-11-26T00:00Z
    result = run(hourly_cod(utc_midnight, 24, 150.0))
    days = verdicts(result, "w01018", "daily_mean")
    assert [(v.outcome, v.n_valid) for v in days] == [("insufficient", 16), ("insufficient", 8)]
    assert not [e for e in result.exceedances if e.basis == "daily_mean"]


def test_twenty_valid_hours_make_a_day():
    midnight = datetime(2026, 11, 26, tzinfo=CST).timestamp()
    [v19] = verdicts(run(hourly_cod(midnight, 19, 150.0)), "w01018", "daily_mean")
    [v20] = verdicts(run(hourly_cod(midnight, 20, 150.0)), "w01018", "daily_mean")
    assert (v19.outcome, v20.outcome) == ("insufficient", "exceeds")


def test_micrograms_are_converted_before_comparing():
    midnight = datetime(2026, 11, 26, tzinfo=CST).timestamp()
    lead = [r("WW01", "w20120", midnight + 60 * m, 1100.0, "µg/L") for m in range(24 * 60)]  # 1.1 mg/L
    [v] = verdicts(run(lead), "w20120", "daily_mean")
    assert (v.outcome, v.value, v.unit) == ("exceeds", 1.1, "mg/L")  # GB 8978-1996 表1 total Pb 1.0 mg/L
    assert v.multiple == pytest.approx(0.1)


# --- instantaneous: pH range, O2 correction (GB 13271-2014 eq. 1) ---


@pytest.mark.parametrize(
    "ph, outcome, multiple",
    [(7.0, "complies", None), (5.5, "exceeds", 0.5 / 6), (9.5, "exceeds", 0.5 / 9), (6.0, "complies", None)],
)
def test_ph_is_a_range_judged_per_reading(ph, outcome, multiple):
    [v] = verdicts(run([r("WW01", "w01001", H0, ph, "dimensionless")]), "w01001", "instantaneous")
    assert v.outcome == outcome
    assert v.multiple == (None if multiple is None else pytest.approx(multiple, abs=1e-6))


def boiler(t, dust, o2, flag="N"):
    return [r("BL01", "a34013", t, dust, flag=flag), r("BL01", "a19001", t, o2, "%")]


def test_o2_correction_before_comparison():
    # 30 mg/m3 at 12 % O2 is 40 at the 9 % reference: within 50 (GB 13271-2014 表2 coal)
    [ok] = verdicts(run(boiler(H0, 30.0, 12.0)), "a34013", "instantaneous")
    assert (ok.outcome, ok.value, ok.series.reference) == ("complies", 40.0, "O2=9%")
    # 30 mg/m3 at 15 % O2 is 60: over 50 although the measured value is not
    [over] = verdicts(run(boiler(H0, 30.0, 15.0)), "a34013", "instantaneous")
    assert (over.outcome, over.value) == ("exceeds", 60.0) and over.multiple == pytest.approx(0.2)


def test_minutes_built_in_parts_are_the_minutes_built_at_once():
    # the worker adds a take's records one at a time, with every O2 reading of the take:
    # a pollutant whose O2 came in a later record is corrected all the same
    readings = boiler(H0, 30.0, 12.0) + boiler(H0 + 1, 45.0, 15.0) + [r("WW01", "w01001", H0 + 2, 7.1)]
    readings += minute_data("ST01", "a34013", H0, 3, 120.0)
    parts = [readings[1:3], [readings[0]], readings[3:]]  # the first reading's O2 is in the part before
    in_parts: dict = {}
    o2 = o2_readings(readings)
    for part in parts:
        add_minutes(in_parts, part, RULES, o2)
    at_once = aggregate_minutes(readings, RULES)
    assert in_parts == at_once
    dust = at_once[(SeriesKey(MINE, "BL01", "a34013", "O2=9%"), H0)]
    assert (dust.n_valid, dust.total) == (2, pytest.approx(40.0 + 90.0))  # 45 at 15 % O2 is 90 at 9 %


def test_no_valid_o2_means_no_corrected_value():
    readings = [r("BL01", "a34013", H0, 30.0), r("BL01", "a19001", H0, 12.0, "%", flag="D")]
    [v] = verdicts(run(readings), "a34013", "instantaneous")
    assert v.outcome == "insufficient"
    [v] = verdicts(run([r("BL01", "a34013", H0, 30.0)]), "a34013", "instantaneous")
    assert v.outcome == "insufficient"


# --- episodes: extend, recover, and late data ---


def test_repeated_windows_extend_one_exceedance_and_recovery_closes_it():
    readings = []
    for hour, value in enumerate((150.0, 200.0, 90.0, 130.0)):
        readings += minute_data("ST01", "a34013", H0 + 3600 * hour, 60, value)
    first, second = run(readings).exceedances
    assert (first.windows, first.last_end, first.closed_at, first.peak.value) == (2, H0 + 7200, H0 + 7200, 200.0)
    assert (second.windows, second.first_start, second.is_open) == (1, H0 + 3 * 3600, True)


def test_an_hour_without_enough_data_neither_extends_nor_closes():
    readings = minute_data("ST01", "a34013", H0, 60, 150.0)
    readings += minute_data("ST01", "a34013", H0 + 3600, 10, 50.0)  # insufficient hour
    readings += minute_data("ST01", "a34013", H0 + 7200, 60, 150.0)
    [e] = run(readings).exceedances
    assert (e.windows, e.first_start, e.last_end, e.is_open) == (2, H0, H0 + 3 * 3600, True)


def test_late_data_changes_the_verdict_and_the_exceedance():
    on_time = minute_data("ST01", "a34013", H0, 60, 100.0)
    on_time[:45] = minute_data("ST01", "a34013", H0, 45, 135.0)  # the first 45 minutes: mean 135
    on_time = on_time[:45]
    [before] = run(on_time).exceedances
    assert before.peak.value == 135.0
    late = minute_data("ST01", "a34013", H0 + 45 * 60, 15, 60.0)  # back-filled: hour mean now 116.25
    after = run(on_time + late)
    [v] = verdicts(after, "a34013", "hourly_mean")
    assert (v.outcome, v.value, v.n_valid) == ("complies", 116.25, 60)
    assert after.exceedances == []


def test_exceedance_ids_are_stable():
    a = run(minute_data("ST01", "a34013", H0, 60, 150.0)).exceedances[0]
    b = run(minute_data("ST01", "a34013", H0, 60, 170.0)).exceedances[0]
    assert a.exceedance_id == b.exceedance_id
    c = run(minute_data("ST01", "a34013", H0 + 3600, 60, 150.0)).exceedances[0]
    assert c.exceedance_id != a.exceedance_id


def test_limits_not_yet_in_force_are_not_judged():
    registry = Registry.from_dict(
        {
            "version": 1,
            "mines": [
                {
                    "id": MINE,
                    "name": "t",
                    "region_code": "520200",
                    "county_code": "520201",
                    "mineral": "x",
                    "stations": [{"id": "BL01", "kind": "emission", "limit_sets": ["gb13271_t1_in_use_coal"]}],
                }
            ],
        }
    )
    rules = rules_for_registry(registry, BOOK)
    before = datetime(2015, 9, 30, 12, tzinfo=CST).timestamp()
    after = before + timedelta(days=2).total_seconds()
    early = audit(boiler(before, 500.0, 9.0), rules, AVERAGING, QualityMonitor(registry, track_offline=False))
    later = audit(boiler(after, 500.0, 9.0), rules, AVERAGING, QualityMonitor(registry, track_offline=False))
    assert early.verdicts == [] and later.exceedances
