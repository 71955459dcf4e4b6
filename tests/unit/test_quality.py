"""Data-quality checks, each with its numbers written out."""

from __future__ import annotations

import pytest

from minewatch.registry import Registry
from processors.quality import (
    ConstantValue,
    ImpossibleValue,
    OfflineWatch,
    OutOfRange,
    QualityMonitor,
    SuddenJump,
)
from processors.samples import Reading


def kinds(findings):
    return [(f.kind, f.cleared) for f in findings]


def test_impossible_values_raise_once_and_clear():
    check = ImpossibleValue(negative_allowed=False, zero_impossible=True)
    found = [f for t, v in enumerate((5.0, -0.1, -2.0, 0.0, 3.0)) for f in check.update(float(t), v)]
    assert kinds(found) == [("impossible_value", False), ("impossible_value", True)]
    assert found[0].value == -0.1 and found[1].t == 4.0


def test_negative_allowed_quantities_are_not_flagged():
    check = ImpossibleValue(negative_allowed=True)
    assert check.update(0.0, -12.5) == [] and check.update(1.0, 0.0) == []


@pytest.mark.parametrize(
    "value, flag, raised",
    [
        (499.0, "N", False),
        (501.0, "N", True),
        (-1.0, "N", True),
        (10.0, "T", True),
        (None, "T", True),
        (None, "D", False),
    ],
)
def test_out_of_range_by_flag_t_or_the_sensor_range(value, flag, raised):
    check = OutOfRange(0.0, 500.0)
    assert bool(check.update(0.0, value, flag)) is raised


def test_constant_value_needs_the_whole_run():
    check = ConstantValue(run=30)
    found = [f for t in range(29) for f in check.update(float(t), 7.25)]
    assert found == []
    [raised] = check.update(29.0, 7.25)
    assert raised.kind == "constant_value" and "30 identical values" in raised.detail
    assert check.update(30.0, 7.25) == []  # no flood while it lasts
    assert kinds(check.update(31.0, 7.26)) == [("constant_value", True)]


def test_jump_is_relative_to_the_usual_step_and_does_not_learn_from_itself():
    check = SuddenJump(z=10.0, alpha=0.05, warmup=20)
    values = [100.0 + (1.0 if i % 2 else -1.0) for i in range(40)]  # steps of 2.0
    assert [f for t, v in enumerate(values) for f in check.update(float(t), v)] == []
    [jump] = check.update(40.0, 150.0)  # from 101: a step of 49, over 10 x 2.0
    assert jump.kind == "sudden_jump" and jump.detail == "step of 49 after a typical step of 2 (24x)"
    assert check.mean_step == pytest.approx(2.0)  # the jump did not widen the normal step


def test_no_jump_is_judged_during_warmup():
    check = SuddenJump(z=2.0, alpha=0.5, warmup=5)
    found = [f for t, v in enumerate((1.0, 1.1, 50.0, 50.1)) for f in check.update(float(t), v)]
    assert found == []


def test_offline_after_missed_intervals_and_back():
    watch = OfflineWatch({"M/S": 60.0}, missed_intervals=5)
    watch.seen("M/S", 1000.0)
    assert watch.check(1299.0) == []
    [(station, offline)] = watch.check(1301.0)
    assert station == "M/S" and "301 s" in offline.detail
    assert watch.check(1400.0) == []  # reported once
    assert watch.seen("M/S", 1000.0) == []  # old data does not bring it back
    assert kinds(watch.seen("M/S", 1500.0)) == [("offline", True)]


REGISTRY = Registry.from_dict(
    {
        "version": 1,
        "mines": [
            {
                "id": "M1",
                "name": "t",
                "region_code": "520200",
                "county_code": "520201",
                "mineral": "x",
                "stations": [
                    {
                        "id": "WW01",
                        "kind": "wastewater",
                        "interval_s": 10,
                        "sensors": [{"parameter": "w01018", "unit": "mg/L", "range": [0, 1000]}],
                    },
                    {"id": "RG01", "kind": "rain", "sensors": [{"parameter": "rain", "unit": "mm"}]},
                ],
            }
        ],
    }
)


def test_monitor_uses_registry_ranges_and_per_parameter_settings():
    monitor = QualityMonitor(REGISTRY)
    cod = [Reading("M1", "WW01", "w01018", float(t), v, "mg/L", "N") for t, v in enumerate((40.0, 0.0, 1200.0))]
    found = monitor.observe(cod)
    assert [(f.parameter, f.finding.kind, f.finding.cleared) for f in found] == [
        ("w01018", "impossible_value", False),  # COD exactly 0: the analyser is not measuring
        ("w01018", "out_of_range", False),  # 1200 over the registry range [0, 1000]
        ("w01018", "impossible_value", True),
    ]
    dry = [Reading("M1", "RG01", "rain", float(t), 0.0, "mm", "N") for t in range(100)]
    assert monitor.observe(dry) == []  # dry weather is not a constant-value fault


def test_monitor_offline_uses_the_stations_interval():
    monitor = QualityMonitor(REGISTRY)
    monitor.observe(
        [Reading("M1", "WW01", "w01018", 0.0, 40.0, "mg/L", "N"), Reading("M1", "RG01", "rain", 0.0, 0.0, "mm", "N")]
    )
    found = monitor.check_offline(51.0)  # WW01 reports every 10 s: 5 missed after 50 s
    assert [(f.station_id, f.finding.kind) for f in found] == [("WW01", "offline")]
    assert [f.station_id for f in monitor.check_offline(301.0)] == ["RG01"]  # default 60 s x 5


def test_monitor_clears_offline_once_per_station_when_its_data_arrive_interleaved():
    monitor = QualityMonitor(REGISTRY)
    monitor.observe([Reading("M1", "WW01", "w01018", 0.0, 40.0, "mg/L", "N")], arrived_at=0.0)
    monitor.observe([Reading("M1", "RG01", "rain", 0.0, 0.0, "mm", "N")], arrived_at=0.0)
    assert [f.station_id for f in monitor.check_offline(301.0)] == ["WW01", "RG01"]
    back = [
        Reading("M1", "WW01", "w01018", 400.0, 41.0, "mg/L", "N"),
        Reading("M1", "RG01", "rain", 400.0, 0.0, "mm", "N"),
        Reading("M1", "WW01", "w01018", 401.0, 42.0, "mg/L", "N"),
        Reading("M1", "RG01", "rain", 401.0, 0.0, "mm", "N"),
    ]
    found = monitor.observe(back, arrived_at=402.0)
    assert [(f.station_id, f.finding.kind, f.finding.cleared, f.finding.t) for f in found] == [
        ("WW01", "offline", True, 402.0),
        ("RG01", "offline", True, 402.0),
    ]
    assert monitor.check_offline(402.0) == []
    # both were heard at 402 s: WW01 (every 10 s) is missed again 50 s later, RG01 (60 s) is not
    assert [f.station_id for f in monitor.check_offline(402.0 + 51.0)] == ["WW01"]
