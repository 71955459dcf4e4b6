"""Open minutes: when a minute closes, what is late, and that every sample comes out exactly once."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.open_minutes import OpenMinutes, UnknownStation
from processors.samples import MinuteValue, SeriesKey

MINE = "GZ520201-0001"
WW01, WW02 = (MINE, "WW01"), (MINE, "WW02")
COD = SeriesKey(MINE, "WW01", "w01018", "")
PH = SeriesKey(MINE, "WW01", "w01001", "")
COD2 = SeriesKey(MINE, "WW02", "w01018", "")


def one(value: float) -> MinuteValue:
    return MinuteValue(1, 1, value, value, value)


def fresh(*stations: tuple[str, str], grace_s: float = 5.0, max_hold_s: float = 90.0) -> OpenMinutes:
    held = OpenMinutes(grace_s=grace_s, max_hold_s=max_hold_s)
    for station in stations:
        held.recover(station, None, {}, None)
    return held


def test_a_minute_stays_open_until_the_station_passes_its_end_by_the_grace():
    held = fresh(WW01)
    assert held.add({(COD, 0.0): one(1.0), (PH, 0.0): one(7.0)}, {WW01: 59.0}, now=0.0) == {}
    assert held.closed(now=1.0) == {}
    held.add({(COD, 60.0): one(2.0)}, {WW01: 64.9}, now=2.0)
    assert held.closed(now=2.0) == {}  # 64.9 s: the grace of 5 s is not over
    held.add({(COD, 60.0): one(3.0)}, {WW01: 65.0}, now=3.0)
    assert held.closed(now=3.0) == {(COD, 0.0): one(1.0), (PH, 0.0): one(7.0)}
    assert held.closed(now=4.0) == {}  # written once
    assert held.held((COD, 60.0)) == MinuteValue(2, 2, 5.0, 2.0, 3.0)
    assert held.complete_before(WW01) == 60.0


def test_readings_for_a_written_minute_come_back_as_late():
    held = fresh(WW01)
    held.add({(COD, 0.0): one(1.0)}, {WW01: 0.0}, now=0.0)
    held.add({(COD, 60.0): one(2.0)}, {WW01: 70.0}, now=1.0)
    assert list(held.closed(now=1.0)) == [(COD, 0.0)]
    assert held.add({(COD, 0.0): one(9.0), (COD, 60.0): one(3.0)}, {WW01: 70.0}, now=2.0) == {(COD, 0.0): one(9.0)}
    assert held.held((COD, 60.0)) == MinuteValue(2, 2, 5.0, 2.0, 3.0)


def test_a_station_that_falls_silent_is_written_after_max_hold_and_later_data_of_it_are_late():
    held = fresh(WW01, max_hold_s=90.0)
    held.add({(COD, 0.0): one(1.0)}, {WW01: 10.0}, now=100.0)
    held.add({(COD, 60.0): one(2.0)}, {WW01: 61.0}, now=150.0)
    assert held.closed(now=189.9) == {}
    assert held.closed(now=190.0) == {(COD, 0.0): one(1.0), (COD, 60.0): one(2.0)}  # all of it, oldest first
    assert held.complete_before(WW01) == 120.0
    assert held.add({(COD, 60.0): one(4.0)}, {WW01: 62.0}, now=191.0) == {(COD, 60.0): one(4.0)}


def test_stations_close_their_minutes_on_their_own_clocks():
    held = fresh(WW01, WW02)
    held.add({(COD, 0.0): one(1.0), (COD2, 0.0): one(2.0)}, {WW01: 0.0, WW02: 0.0}, now=0.0)
    held.add({(COD, 60.0): one(1.0)}, {WW01: 66.0}, now=1.0)
    assert held.closed(now=1.0) == {(COD, 0.0): one(1.0)}
    assert held.held((COD2, 0.0)) == one(2.0)
    assert held.closed(now=1.0, stations=[WW02]) == {}


def test_a_station_must_be_taken_over_before_its_minutes_are_added():
    held = fresh(WW01)
    with pytest.raises(UnknownStation):
        held.add({(COD2, 0.0): one(1.0)}, {WW02: 0.0}, now=0.0)


def test_recovery_from_a_watermark_without_complete_before_treats_its_minute_as_written():
    held = OpenMinutes(5.0, 90.0)
    held.recover(WW01, None, {(COD, 0.0): one(1.0)}, max_ts=30.0)  # a row written before migration 0009
    assert held.held((COD, 0.0)) is None
    assert held.complete_before(WW01) == 60.0
    assert held.add({(COD, 0.0): one(2.0)}, {WW01: 31.0}, now=0.0) == {(COD, 0.0): one(2.0)}


def test_recovered_minutes_are_written_at_the_next_close():
    held = OpenMinutes(5.0, 90.0)
    held.recover(WW01, 60.0, {(COD, 0.0): one(9.0), (COD, 60.0): one(1.0)}, max_ts=70.0)
    assert held.held((COD, 0.0)) is None  # before complete_before: already in the database
    assert held.closed(now=0.0) == {(COD, 60.0): one(1.0)}


def test_watermarks_are_due_when_minutes_close_or_data_came_and_the_last_is_old():
    held = fresh(WW01, WW02)
    assert held.watermarks(now=0.0, every_s=5.0) == []  # nothing stored yet
    held.add({(COD, 0.0): one(1.0)}, {WW01: 10.0}, now=0.0)
    assert held.watermarks(now=0.0, every_s=5.0) == [(WW01, 10.0, 0.0)]
    held.add({(COD, 0.0): one(1.0)}, {WW01: 11.0}, now=1.0)
    assert held.watermarks(now=1.0, every_s=5.0) == []  # written a second ago
    assert held.watermarks(now=5.0, every_s=5.0) == [(WW01, 11.0, 0.0)]
    assert held.watermarks(now=20.0, every_s=5.0) == []  # silent: its last-heard time stays
    held.add({(COD, 60.0): one(1.0)}, {WW01: 70.0}, now=21.0)
    held.closed(now=21.0)
    assert held.watermarks(now=21.5, every_s=5.0) == [(WW01, 70.0, 60.0)]


def test_a_watermark_with_nothing_open_moves_the_line_to_its_minute():
    held = fresh(WW01)
    held.add({}, {WW01: 130.0}, now=0.0)  # readings of parameters without limits
    assert held.watermarks(now=0.0, every_s=5.0) == [(WW01, 130.0, 120.0)]
    # the database now says everything before 120 s is written, so this one must be written at once
    assert held.add({(COD, 60.0): one(1.0)}, {WW01: 130.0}, now=1.0) == {(COD, 60.0): one(1.0)}


def test_forgotten_stations_must_be_taken_over_again():
    held = fresh(WW01, WW02)
    held.add({(COD, 0.0): one(1.0)}, {WW01: 0.0}, now=0.0)
    held.forget([WW01])
    assert WW01 not in held and WW02 in held
    assert held.stations() == [WW02]


def test_everything_empties_it():
    held = fresh(WW01)
    held.add({(COD, 0.0): one(1.0), (COD, 60.0): one(2.0)}, {WW01: 61.0}, now=0.0)
    assert held.everything() == {(COD, 0.0): one(1.0), (COD, 60.0): one(2.0)}
    assert len(held) == 0


arrivals = st.lists(
    st.tuples(
        st.sampled_from([COD, PH, COD2]),
        st.integers(min_value=0, max_value=400),  # event time, s
        st.floats(min_value=0.0, max_value=5.0),  # processing time passing before it, s
        st.booleans(),  # a close runs after it
    ),
    max_size=120,
)


@settings(max_examples=300, deadline=None)
@given(arrivals, st.floats(min_value=0.0, max_value=20.0), st.floats(min_value=1.0, max_value=120.0))
def test_every_sample_comes_out_exactly_once(events, grace_s, max_hold_s):
    """Closed, late and what is left at the end add up to exactly what went in, whatever the
    order of event times, the grace and the hold."""
    held = fresh(WW01, WW02, grace_s=grace_s, max_hold_s=max_hold_s)
    went_in: dict[tuple[SeriesKey, float], MinuteValue] = {}
    came_out: dict[tuple[SeriesKey, float], MinuteValue] = {}
    now = 0.0

    def collect(values: dict[tuple[SeriesKey, float], MinuteValue]) -> None:
        for key, value in values.items():
            came_out.setdefault(key, MinuteValue()).merge(value)

    for i, (series, t, pause, close) in enumerate(events):
        now += pause
        key = (series, float(t - t % 60))
        went_in.setdefault(key, MinuteValue()).add(float(i))
        station = (series.mine_id, series.station_id)
        line = held.complete_before(station)
        late = held.add({key: one(float(i))}, {station: float(t)}, now)
        assert (key in late) == (key[1] < line)
        collect(late)
        if close:
            for key_out in (out := held.closed(now)):
                assert key_out[1] < held.complete_before((key_out[0].mine_id, key_out[0].station_id))
            collect(out)
    collect(held.everything())
    assert came_out.keys() == went_in.keys()
    for key, value in went_in.items():
        out = came_out[key]
        assert (out.n_samples, out.minimum, out.maximum) == (value.n_samples, value.minimum, value.maximum)
        assert math.isclose(out.total, value.total)
