"""Small pure pieces: topics, units, records, the fleet, broker credentials, COPY rows, alerts."""

from __future__ import annotations

import shutil
import struct
import subprocess
from collections import Counter

import pytest

from alerts.model import severity_for_multiple
from minewatch.brokerconfig import acl_text, password_line, verify_password_line
from minewatch.records import decode_batch, telemetry_batch
from minewatch.regions import load_divisions
from minewatch.topics import bridge_subscriptions, parse_topic, telemetry_topic
from minewatch.units import UnitMismatch, convert
from simulators.fleet import _apportion, generate_fleet
from storage.copyformat import copy_rows
from tests.examples import ODD_TELEMETRY


@pytest.mark.parametrize(
    "topic",
    [
        "minewatch/v1/mines/M1/telemetry/wastewater",  # no station
        "minewatch/v1/mines/M1/telemetry/wastewater/WW01/extra",
        "minewatch/v2/mines/M1/telemetry/wastewater/WW01",
        "minewatch/v1/mines/M1/reports/weekly",
        "other/v1/mines/M1/status/WW01",
        "",
    ],
)
def test_topics_outside_the_tree(topic):
    assert parse_topic(topic) is None


def test_topic_round_trip_and_shared_subscriptions():
    assert parse_topic(telemetry_topic("M-1", "slope", "SL01-P01")).station_id == "SL01-P01"
    assert all(s.startswith("$share/minewatch-bridge/minewatch/v1/mines/+/") for s in bridge_subscriptions())


def test_unit_conversions_are_exact_and_refuse_mixtures():
    assert convert(1.0, "mg/L", "µg/L") == 1000.0
    assert convert(1500.0, "ng/L", "µg/L") == 1.5
    assert convert(7200.0, "m3/h", "m3/s") == 2.0
    for a, b in (("mg/L", "mg/m3"), ("mm", "m"), ("°C", "K"), ("kg", "mg/L")):
        with pytest.raises(UnitMismatch):
            convert(1.0, a, b)


def test_telemetry_batch_keeps_payload_bytes_verbatim():
    payloads = [b'{"x": "\\u4e2d", "v": 1.5}', b'{"x": 2}']
    batch = decode_batch(telemetry_batch(1.25, payloads))
    assert batch["messages"] == [{"x": "中", "v": 1.5}, {"x": 2}]
    assert batch["received_at"] == 1.25


def test_apportion_adds_up_and_follows_weights():
    assert sorted(_apportion(10, {"a": 1, "b": 1, "c": 1}).values()) == [3, 3, 4]
    assert _apportion(10, {"a": 7, "b": 2, "c": 1}) == {"a": 7, "b": 2, "c": 1}
    assert sum(_apportion(57, {"a": 53, "b": 106, "c": 5}).values()) == 57


@pytest.mark.parametrize("n", [1, 13, 50, 800, 2000])
def test_fleet_spreads_mines_by_2020_quota(n):
    fleet = generate_fleet(n, seed=5)
    assert len(fleet) == n
    divisions = load_divisions()
    counts = Counter(m.region_code for m in fleet)
    quota = {c: r.green_mine_quota_2020 for c, r in divisions.regions.items()}
    for code, count in counts.items():
        assert abs(count - n * quota[code] / 800) < 1.0
    for mine in fleet:
        if mine.region_code == "GUIAN":
            assert mine.county_code is None
        else:
            assert divisions.counties[mine.county_code].region_code == mine.region_code
        assert mine.id.startswith("GZ")


def test_fleet_generation_is_reproducible_and_seed_dependent():
    assert generate_fleet(30, seed=1).to_dict() == generate_fleet(30, seed=1).to_dict()
    assert generate_fleet(30, seed=1).to_dict() != generate_fleet(30, seed=2).to_dict()


def test_password_lines_match_mosquitto_passwd(tmp_path):
    assert shutil.which("mosquitto_passwd"), "Mosquitto's tools must be installed for the suite"
    ours = password_line("GZ520201-0001", "pa55word")
    assert verify_password_line(ours, "pa55word")
    theirs_file = tmp_path / "pw"
    theirs_file.write_text("")
    subprocess.run(["mosquitto_passwd", "-b", str(theirs_file), "alice", "s3cret"], check=True)
    theirs = theirs_file.read_text().strip()
    assert verify_password_line(theirs, "s3cret") and not verify_password_line(theirs, "s3cre7")


def test_acl_binds_each_mine_to_its_own_subtree():
    acl = acl_text()
    assert "pattern write minewatch/v1/mines/%u/telemetry/#" in acl
    assert "pattern read minewatch/v1/mines/%u/alerts" in acl
    assert "topic write minewatch/v1/mines/#" not in acl


def _binary_rows(data: bytes) -> list[list[bytes | None]]:
    """COPY binary rows, field by field (a reader for the test, after the format's definition)."""
    rows, at = [], 0
    while at < len(data):
        (count,) = struct.unpack_from(">h", data, at)
        at += 2
        row: list[bytes | None] = []
        for _ in range(count):
            (length,) = struct.unpack_from(">i", data, at)
            at += 4
            row.append(None if length < 0 else data[at : at + length])
            at += max(length, 0)
        rows.append(row)
    return rows


def test_copy_rows_carry_every_field_as_sent():
    first, second = _binary_rows(copy_rows([{"received_at": 946684800.25, "messages": [ODD_TELEMETRY]}]))
    assert first[1:4] == [b"M1", b"S1", b"x"] and first[5:7] == [b"a\\b", b"N"] and first[8] == b"hj212:MN=1\t2"
    assert struct.unpack(">d", first[4]) == (1.0,)
    assert struct.unpack(">q", first[7]) == (250_000,)  # received 0.25 s after 2000-01-01
    assert struct.unpack(">q", second[0])[0] - struct.unpack(">q", first[0])[0] == 1_500_000
    assert second[4] is None and second[2] == b"S1"


def test_severity_policy():
    assert severity_for_multiple(0.2) == "yellow" and severity_for_multiple(1.0) == "orange"
    assert severity_for_multiple(0.99) == "yellow" and severity_for_multiple(3.0) == "orange"


def test_a_yaml_registry_loads_as_its_json_twin_with_unquoted_dates(tmp_path):
    from minewatch.registry import Registry

    text = """version: 1
mines:
- id: GZ520201-0001
  name: 钟山区示例煤矿
  region_code: '520200'
  county_code: '520201'
  mineral: coal
  stations:
  - id: WW01
    kind: wastewater
    built: 2008-05-01
    sensors:
    - {parameter: w01018, unit: mg/L, range: [0, 1000]}
"""
    (tmp_path / "r.yaml").write_text(text, encoding="utf-8")
    from_yaml = Registry.load(tmp_path / "r.yaml")
    from_yaml.dump(tmp_path / "r.json")
    assert from_yaml.mine("GZ520201-0001").station("WW01").built == "2008-05-01"
    assert Registry.load(tmp_path / "r.json").to_dict() == from_yaml.to_dict()
    assert from_yaml.mine("GZ520201-0001").name == "钟山区示例煤矿"
