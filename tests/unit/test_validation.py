"""The gatekeeper: every rule, with the numbers written out."""

from __future__ import annotations

import json

import pytest

from ingest.validation import MAX_PAYLOAD_BYTES, Gatekeeper
from tests.examples import example_registry

NOW = 1_795_665_600.0  # 2026-11-26T12:00:00+08:00
TOPIC = "minewatch/v1/mines/GZ520201-0001/telemetry/wastewater/WW01"


def message(**overrides):
    base = {
        "schema": "minewatch/telemetry-wastewater/v1",
        "message_id": "msg-0000000001",
        "mine_id": "GZ520201-0001",
        "station_id": "WW01",
        "ts": "2026-11-26T12:00:00+08:00",
        "readings": [{"parameter": "w01018", "value": 42.5, "unit": "mg/L", "flag": "N"}],
    }
    base.update(overrides)
    return json.dumps(base).encode()


@pytest.fixture(scope="module")
def gate():
    return Gatekeeper(example_registry())


def test_accepts_a_good_message_and_counts_its_readings(gate):
    verdict = gate.check(TOPIC, message(), now=NOW)
    assert verdict.accepted and verdict.reading_count == 1
    assert verdict.message["readings"][0]["value"] == 42.5


@pytest.mark.parametrize("seconds_ahead, accepted", [(299, True), (301, False)])
def test_future_tolerance_is_five_minutes(gate, seconds_ahead, accepted):
    verdict = gate.check(TOPIC, message(), now=NOW - seconds_ahead)
    assert verdict.accepted is accepted
    if not accepted:
        assert verdict.code == "timestamp_in_future"
        assert "301 s ahead" in verdict.reason


def test_future_check_applies_to_per_reading_times(gate):
    readings = [{"parameter": "w01018", "value": 1.0, "unit": "mg/L", "flag": "N", "ts": "2026-11-26T13:00:00+08:00"}]
    assert gate.check(TOPIC, message(readings=readings), now=NOW).code == "timestamp_in_future"


def test_same_instant_in_two_zones_is_a_duplicate(gate):
    readings = [
        {"parameter": "w01018", "value": 1.0, "unit": "mg/L", "flag": "N", "ts": "2026-11-26T12:00:00+08:00"},
        {"parameter": "w01018", "value": 2.0, "unit": "mg/L", "flag": "N", "ts": "2026-11-26T04:00:00Z"},
    ]
    verdict = gate.check(TOPIC, message(readings=readings), now=NOW)
    assert verdict.code == "duplicate_reading"


def test_same_parameter_at_different_times_is_fine(gate):
    readings = [
        {"parameter": "w01018", "value": 1.0, "unit": "mg/L", "flag": "N", "ts": "2026-11-26T11:58:00+08:00"},
        {"parameter": "w01018", "value": 2.0, "unit": "mg/L", "flag": "N", "ts": "2026-11-26T11:59:00+08:00"},
    ]
    assert gate.check(TOPIC, message(readings=readings), now=NOW).reading_count == 2


@pytest.mark.parametrize("unit", ["µg/L", "ug/L", "mg/l", "mg/L"])
def test_convertible_units_are_accepted(gate, unit):
    readings = [{"parameter": "w20120", "value": 10.0, "unit": unit, "flag": "N"}]
    assert gate.check(TOPIC, message(readings=readings), now=NOW).accepted


def test_unknown_parameter_codes_of_the_right_shape_are_kept(gate):
    readings = [{"parameter": "w99999", "value": 1.0, "unit": "whatever", "flag": "N"}]
    assert gate.check(TOPIC, message(readings=readings), now=NOW).accepted


def test_oversized_payload(gate):
    verdict = gate.check(TOPIC, b" " * (MAX_PAYLOAD_BYTES + 1), now=NOW)
    assert verdict.code == "payload_too_large" and verdict.mine_id == "GZ520201-0001"


@pytest.mark.parametrize("payload", [b"", b"{", b"\xff\xfe", b"[1,2]", b"null", b"1e400", b'{"a": NaN}'])
def test_garbage_never_raises(gate, payload):
    verdict = gate.check(TOPIC, payload, now=NOW)
    assert not verdict.accepted
    assert verdict.code in ("not_json", "schema_violation")


def test_huge_integer_value_is_accepted_as_a_number(gate):
    readings = [{"parameter": "w01018", "value": 10**18, "unit": "mg/L", "flag": "N"}]
    assert gate.check(TOPIC, message(readings=readings), now=NOW).accepted


def test_status_channel_checks_station_and_time(gate):
    status = {
        "schema": "minewatch/device-status/v1",
        "message_id": "status-000001",
        "mine_id": "GZ520201-0001",
        "station_id": "WW01",
        "ts": "2026-11-26T12:00:00+08:00",
        "state": "online",
    }
    topic = "minewatch/v1/mines/GZ520201-0001/status/WW01"
    assert gate.check(topic, json.dumps(status).encode(), now=NOW).accepted
    status["station_id"] = "XX99"
    assert gate.check(topic.replace("WW01", "XX99"), json.dumps(status).encode(), now=NOW).code == "unknown_station"


def test_rejection_names_the_mine_from_the_topic_even_when_payload_lies(gate):
    verdict = gate.check(TOPIC, message(mine_id="GZ520201-0002"), now=NOW)
    assert verdict.code == "mine_mismatch" and verdict.mine_id == "GZ520201-0001"
