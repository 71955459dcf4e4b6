"""Slope and tailings stability detectors, with the numbers written out."""

from __future__ import annotations

import json
import math
import random

import pytest

from processors.slope.cleaning import Cleaner
from processors.slope.inverse_velocity import fieller_interval, forecast
from processors.slope.piezometer import PiezometerWatch
from processors.slope.point import PointMonitor
from processors.slope.rainfall import RainGauge
from processors.slope.rollup import Point, rollup
from processors.slope.settings import PointConfig, SlopeSettings
from processors.slope.station import StationWatch
from processors.slope.tangent import Persistence, TangentAngle, alpha_deg
from simulators.slope import DAY, ProgressiveFailure, RainDrivenSurge, StableCreep

SETTINGS = SlopeSettings.load()
ROLLUP = {"promote": {"blue": 4, "yellow": 3, "orange": 2}, "items_blue_make_yellow": 4, "red_needs_points": 2}


# --- tangential angle ---


@pytest.mark.parametrize(
    "ratio, level",
    [
        (-1.0, "none"),
        (0.5, "none"),
        (math.tan(math.radians(39.9)), "none"),
        (math.tan(math.radians(40.0)), "blue"),
        (1.0, "blue"),
        (math.tan(math.radians(50.0)), "blue"),
        (math.tan(math.radians(50.1)), "yellow"),
        (5.6, "yellow"),
        (math.tan(math.radians(80.0)), "orange"),
        (11.42, "orange"),
        (math.tan(math.radians(85.0)), "red"),
        (100.0, "red"),
    ],
)
def test_tangent_levels_and_boundaries(ratio, level):
    # 80° and 85° belong to the higher class (JWCN 2021 Table 1); the blue band is minewatch's [40°, 50°]
    assert TangentAngle((40.0, 50.0), 80.0, 85.0).level_of(ratio) == level


def test_angle_is_the_arctangent_of_the_rate_ratio():
    assert alpha_deg(1.0) == pytest.approx(45.0)
    assert alpha_deg(5.671) == pytest.approx(80.0, abs=0.01)
    assert alpha_deg(11.430) == pytest.approx(85.0, abs=0.01)


def test_persistence_k_of_m_up_and_down():
    p = Persistence(k=3, m=5)
    seen = [p.update(x) for x in ("orange", "orange", "yellow", "none", "none", "none", "none")]
    assert seen == ["none", "none", "yellow", "yellow", "yellow", "none", "none"]


# --- cleaning ---


def feed(cleaner, values):
    out = []
    for i, v in enumerate(values):
        out += cleaner.update(float(i), v)
    return out


def test_a_spike_is_rejected_and_replaced_by_the_line():
    values = [0.1 * i for i in range(12)]
    values[8] = 40.0
    out = feed(Cleaner(5.0, 0.5, 3), values)
    assert [round(c.value, 3) for c in out] == [round(0.1 * i, 3) for i in range(12)]
    assert [c.note for c in out if c.note] == ["spike of 39.2 mm rejected"]


def test_a_step_is_removed_and_the_rest_re_based():
    values = [0.1 * i for i in range(10)] + [25.0 + 0.1 * i for i in range(10, 16)]
    out = feed(Cleaner(5.0, 0.5, 3), values)
    assert [round(c.value, 3) for c in out] == [round(0.1 * i, 3) for i in range(16)]
    assert any(c.note == "step of 25.0 mm removed" for c in out)


def test_real_acceleration_is_kept():
    values = [0.1 * i for i in range(10)] + [0.1 * i + 0.05 * (i - 9) ** 3 for i in range(10, 20)]
    out = feed(Cleaner(5.0, 0.5, 3), values)
    assert len(out) >= len(values) - 3  # the newest may still be held, awaiting a decision
    assert [round(c.value, 6) for c in out] == [round(v, 6) for v in values[: len(out)]]
    assert [c.note for c in out if c.note] == ["accepted after a sudden change"]


def test_cleaner_state_round_trips():
    a = Cleaner(5.0, 0.5, 3)
    feed(a, [0.1 * i for i in range(10)] + [30.0])
    b = Cleaner.restore(json.loads(json.dumps(a.state())), threshold_sigma=5.0, noise_floor=0.5, decide_after=3)
    samples = [(11.0 + i, 1.1 + 0.1 * i) for i in range(4)]
    assert [a.update(t, v) for t, v in samples] == [b.update(t, v) for t, v in samples]


# --- inverse velocity ---


def test_forecast_of_an_exact_voight_series_is_exact():
    ts = [float(d) for d in range(10)]
    f = forecast(ts, [1 / (0.1 * (12.0 - t)) for t in ts], min_points=6, min_r2=0.8, level=0.95)
    assert f.status == "ok" and f.t_failure == pytest.approx(12.0) and f.r2 == pytest.approx(1.0)


@pytest.mark.parametrize(
    "ts, vs, reason",
    [
        ([0.0, 1, 2, 3], [1.0, 2, 3, 4], "too few points since the onset of acceleration (4 < 6)"),
        ([0.0, 1, 2, 3, 4, 5], [1.0, 0.9, 0.8, 0.7, 0.6, 0.5], "1/v is not falling: no acceleration towards failure"),
        ([0.0, 1, 2, 3, 4, 5], [1.0, 3.0, 1.1, 2.9, 1.2, 3.5], "poor fit of 1/v (R² 0.18 < 0.8)"),
    ],
)
def test_forecast_says_why_it_is_not_meaningful(ts, vs, reason):
    f = forecast(ts, vs, min_points=6, min_r2=0.8, level=0.95)
    assert (f.status, f.reason) == ("not_meaningful", reason)


def test_fieller_interval_contains_the_estimate_and_is_unbounded_without_a_significant_slope():
    low, high = fieller_interval(1.0, -0.1, 0.001, 10, 4.5, 82.5, 2.306)
    assert low < 10.0 < high
    assert fieller_interval(1.0, -0.001, 0.5, 10, 4.5, 82.5, 2.306) is None


# --- rainfall, piezometer ---


def test_intensity_duration_threshold_and_rainstorm():
    gauge = RainGauge((2.20, 0.44), (1, 3, 24), 50.0)
    assert gauge.update(0.0, 2.0).level == "none"  # 2 mm/h < 2.20 mm/h over 1 h
    hour = gauge.update(3600.0, 2.3)
    assert hour.level == "blue" and hour.reasons[0].startswith("I over 1 h 2.3 mm/h >= 2.20 mm/h")
    storm = [gauge.update(3600.0 * h, 3.0).level for h in range(2, 20)]
    assert storm[-1] == "yellow"  # 2 + 2.3 + 18 x 3 = 58.3 mm in 24 h
    assert gauge.update(3600.0 * 60, 0.0).level == "none"  # two dry days later


def test_rain_only_counts_within_the_hours():
    gauge = RainGauge((2.20, 0.44), (1, 24), 50.0)
    gauge.update(0.0, 49.0)
    assert gauge.update(24 * 3600.0 + 1, 2.0).totals_mm[24.0] == 2.0


def test_piezometer_rise():
    watch = PiezometerWatch(rise_m_per_day=0.5)
    levels = [watch.update(h * 3600.0, 12.0 + 0.05 * h)[0] for h in range(0, 25)]
    assert levels[9] == "none" and levels[10] == "blue" and levels[20] == "yellow"


# --- roll-up: the tailings rule and corroboration ---


@pytest.mark.parametrize(
    "levels, expected",
    [
        (["blue"] * 3, "blue"),
        (["blue"] * 4, "yellow"),  # 4 blue -> item yellow
        (["yellow", "yellow", "blue", "none"], "yellow"),
        (["yellow"] * 3, "orange"),  # 3 yellow -> item orange
        (["orange", "yellow", "yellow"], "orange"),  # an orange point counts as yellow too
        (["orange", "orange"], "red"),  # 2 orange -> item red
        (["red", "none", "none"], "orange"),  # a single red point is not corroborated
        (["red", "orange"], "red"),
    ],
)
def test_rollup_within_one_item(levels, expected):
    points = [Point(f"P{i}", "gnss", level) for i, level in enumerate(levels)]
    assert rollup(points, **ROLLUP).level == expected


def test_items_at_blue_count_as_an_item_at_yellow_and_corroboration_crosses_items():
    four_items = [
        Point("G", "gnss", "blue"),
        Point("C", "crack", "blue"),
        Point("R", "radar", "blue"),
        Point("W", "piezo", "blue"),
    ]
    assert rollup(four_items, **ROLLUP).level == "yellow"
    assert rollup([Point("G", "gnss", "red"), Point("C", "crack", "orange")], **ROLLUP).level == "red"
    assert rollup([Point("G", "gnss", "none"), Point("rain", "rain", "yellow")], **ROLLUP).level == "yellow"


# --- a point, end to end, on synthetic series ---


def run_point(model, noise, item="crack", v_const=0.5, until=None, seed=1):
    rng = random.Random(seed)
    monitor = PointMonitor(PointConfig.of("P", {"item": item, "v_const_mm_per_day": v_const}), SETTINGS)
    out, t = [], 0.0
    until = until or 30 * DAY
    while t < until:
        out += monitor.update(t, model.displacement(t) + rng.gauss(0.0, noise))
        t += SETTINGS.interval_s
    return monitor, out


def test_stable_creep_stays_at_blue():
    _, out = run_point(StableCreep(v0=0.5), 0.3)
    after_warmup = [a for a in out if a.t > 2 * DAY]
    assert {a.level for a in after_warmup} <= {"none", "blue", "yellow"}
    assert sum(a.level == "yellow" for a in after_warmup) / len(after_warmup) < 0.02
    assert sum(a.level == "blue" for a in after_warmup) > sum(a.level == "none" for a in after_warmup)


def test_progressive_failure_reaches_red_with_a_forecast_near_the_truth():
    truth = ProgressiveFailure(v0=0.5, onset=10 * DAY, t_failure=20 * DAY)
    _, out = run_point(truth, 0.3, until=truth.t_failure - 24 * 3600)
    last = out[-1]
    assert last.level == "red" and last.forecast is not None and last.forecast.status == "ok"
    remaining = truth.t_failure - last.t
    assert abs(last.forecast.t_failure - truth.t_failure) / remaining < 0.3
    assert last.forecast.low < truth.t_failure + 0.3 * remaining
    assert any("failure forecast" in r for r in last.reasons)


def test_rain_driven_surge_raises_and_recovers():
    surge = RainDrivenSurge(v0=0.5, rain_start=8 * DAY, rain_end=11 * DAY, factor=6.0, recovery_days=2.0)
    _, out = run_point(surge, 0.3, until=22 * DAY)
    during = [a.level for a in out if 10 * DAY < a.t < 12 * DAY]
    after = [a.level for a in out if a.t > 20 * DAY]
    assert "yellow" in during or "orange" in during
    assert set(after) <= {"none", "blue"}


def test_v_const_is_estimated_from_the_reference_days_then_frozen():
    rng = random.Random(2)
    monitor = PointMonitor(PointConfig.of("P", {"item": "crack"}), SETTINGS)
    t = 0.0
    while t < 8 * DAY:
        monitor.update(t, 0.8 * t / DAY + rng.gauss(0.0, 0.3))
        t += SETTINGS.interval_s
    assert monitor.v_const == pytest.approx(0.8, rel=0.05)
    frozen = monitor.v_const
    while t < 9 * DAY:
        monitor.update(t, 0.8 * t / DAY + 5 * (t / DAY - 8) ** 2)
        t += SETTINGS.interval_s
    assert monitor.v_const == frozen


def test_a_point_restored_from_its_state_continues_identically():
    truth = ProgressiveFailure(v0=0.5, onset=5 * DAY, t_failure=12 * DAY)
    a, _ = run_point(truth, 0.3, until=8 * DAY)
    config = PointConfig.of("P", {"item": "crack", "v_const_mm_per_day": 0.5})
    b = PointMonitor.restore(config, SETTINGS, json.loads(json.dumps(a.state())))
    t = 8 * DAY
    while t < 9 * DAY:
        s = truth.displacement(t)
        assert [x.level for x in a.update(t, s)] == [x.level for x in b.update(t, s)]
        t += SETTINGS.interval_s
    assert a.velocities[-1] == pytest.approx(b.velocities[-1])


def test_gnss_is_projected_on_the_sliding_direction():
    config = PointConfig.of("P", {"item": "gnss", "azimuth_deg": 90.0, "plunge_deg": 30.0})
    d, note = config.displacement({"gnss_e": 10.0, "gnss_n": 3.0, "gnss_u": -4.0})
    assert d == pytest.approx(10.0 * math.cos(math.radians(30)) + 4.0 * math.sin(math.radians(30)))
    assert note == ""
    loose = PointConfig.of("P", {"item": "gnss"})
    assert loose.displacement({"gnss_e": 3.0, "gnss_n": 4.0}) == (
        5.0,
        "sliding direction not configured: horizontal resultant used",
    )


def test_station_watch_state_survives_json_for_every_kind():
    for kind, config, means, totals in (
        ("slope", PointConfig.of("P", {"item": "crack", "v_const_mm_per_day": 0.5}), {"crack": 3.0}, {}),
        ("slope", PointConfig.of("W", {"item": "piezo", "piezo_rise_m_per_day": 0.5}), {"piezo": 12.0}, {}),
        ("rain", PointConfig.of("R", {}), {}, {"rain": 1.0}),
    ):
        watch = StationWatch(kind, config, SETTINGS)
        watch.update(600.0, means, totals)
        again = StationWatch(kind, config, SETTINGS, json.loads(json.dumps(watch.state())))
        assert again.last_t == 600.0 and again.state() == watch.state()
