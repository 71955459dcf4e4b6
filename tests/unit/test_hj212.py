"""HJ 212: every gathered packet, the CRC variants, framing under every cut, property-based
robustness and round trips, the 2005 profile, mapping to telemetry, split transfers."""

from __future__ import annotations

import contextlib
import json
import string
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hj212 import crc, encode
from hj212.debug import describe
from hj212.framing import Frame, FrameReader, Garbage
from hj212.mapping import Binding, MappingError, beijing_time, to_telemetry
from hj212.packet import PacketError, parse
from hj212.profiles import PROFILES, profile_for
from hj212.reassembly import Reassembler

REFERENCE = Path(__file__).resolve().parents[1] / "data" / "hj212"  # copied from shared/reference/hj212
VECTORS = [json.loads(line) for line in (REFERENCE / "vectors.jsonl").read_text(encoding="utf-8").splitlines()]
CONSTRUCTED = [
    json.loads(line) for line in (REFERENCE / "appendix_c_constructed.jsonl").read_text(encoding="utf-8").splitlines()
]
VARIANT_NAMES = {
    "hj212": "hj212",
    "hj212-lowercase": "hj212",
    "modbus": "modbus",
    "modbus-byte-swapped": "modbus-swapped",
}


def _wire(vector: dict) -> bytes:
    packet = vector["packet"].encode()
    return (b"##" + packet if vector.get("header_missing") else packet) + b"\r\n"


def _frames(items: list) -> list[Frame]:
    return [i for i in items if isinstance(i, Frame)]


@pytest.mark.parametrize("vector", VECTORS + CONSTRUCTED, ids=lambda v: v.get("id", v["notes"][:30]))
def test_every_gathered_packet_frames_parses_and_gets_its_crc_verdict(vector: dict) -> None:
    reader = FrameReader()
    items = reader.feed(_wire(vector)) + reader.close()
    (frame,) = _frames(items)
    assert [i for i in items if isinstance(i, Garbage)] == []
    verdict = crc.check(frame.segment, frame.crc)
    assert verdict.ok is vector["crc_ok"], (verdict.reason(), vector["notes"])
    if vector.get("crc_variant") in VARIANT_NAMES:
        assert verdict.variant == VARIANT_NAMES[vector["crc_variant"]]
    if not vector["crc_ok"]:
        assert verdict.reason().startswith(f"CRC {verdict.given}")
    packet = parse(frame.segment)
    for name in ("QN", "ST", "CN", "MN", "Flag", "PNUM", "PNO"):
        if vector.get(name) is not None:
            assert packet.header.get(name) == str(vector[name]), name


def test_the_standards_own_crc_examples() -> None:
    segment = b"QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;CP=&&RtdInterval=30&&"
    assert crc.hj212(segment) == 0x1C80  # the packet text; the standard's prose misprints 1C08
    assert crc.check(segment, "1C08").variant is None
    assert crc.check(segment, "1c80").ok  # case does not matter
    assert crc.check(segment, "0000").variant == "zero" and crc.check(segment, "FFFF").variant == "ffff"
    assert crc.check(segment, "1C8").variant is None  # not zero-padded: matches nothing
    assert "CRC-16/MODBUS" in crc.check(segment, f"{crc.modbus(segment):04X}").reason()


@given(st.binary(min_size=1, max_size=300))
def test_the_low_byte_of_an_hj212_crc_is_one_of_eight_values(data: bytes) -> None:
    assert crc.hj212(data) & 0xFF in (0x00, 0x01, 0x40, 0x41, 0x80, 0x81, 0xC0, 0xC1)


GOOD = [
    v
    for v in VECTORS
    if v["crc_ok"]
    and v["len_ok"]
    and v["framing"] == "declared-length"
    and not v.get("header_missing")
    and not v.get("trailing_after_crc")
]


@pytest.mark.parametrize("vector", GOOD[:12], ids=lambda v: v["id"])
def test_a_frame_cut_anywhere_across_reads_is_one_frame(vector: dict) -> None:
    wire = _wire(vector)
    for cut in range(1, len(wire)):
        reader = FrameReader()
        items = reader.feed(wire[:cut]) + reader.feed(wire[cut:])
        assert [f.segment for f in _frames(items)] == [wire[6:-6]], cut
        assert reader.buffered == 0


def test_sticky_frames_noise_lf_only_and_no_separator() -> None:
    frames = [_wire(v) for v in GOOD[:6]]
    stream = b"AT+OK\r\n" + frames[0] + frames[1].rstrip(b"\r\n") + frames[2].replace(b"\r\n", b"\n") + frames[3]
    stream += b"\x00\x00garbage##xx" + frames[4] + frames[5]
    items = FrameReader().feed(stream)
    assert [f.segment for f in _frames(items)] == [f.rstrip(b"\r\n")[6:-4] for f in frames]
    garbage = [i for i in items if isinstance(i, Garbage)]
    assert [g.raw for g in garbage] == [b"AT+OK\r\n", b"\x00\x00garbage", b"##", b"xx"]
    assert all(g.reason for g in garbage)


def test_a_reader_never_holds_more_than_its_bound_and_reports_truncation() -> None:
    reader = FrameReader(max_buffer=1000)
    items = reader.feed(b"##9999QN=" + b"x" * 2000)
    assert reader.buffered == 0 and "without a complete frame" in items[-1].reason
    reader = FrameReader()
    wire = _wire(GOOD[0])
    assert reader.feed(wire[:100]) == []
    (truncated,) = reader.close()
    assert isinstance(truncated, Garbage) and "truncated" in truncated.reason


def test_wrong_declared_lengths_are_recovered_when_the_crc_verifies() -> None:
    segment = "QN=20160801085857223;ST=91;CN=9014;PW=123456;MN=010000A8900016F000169DC0;Flag=4;CP=&&&&"
    right = encode.frame(segment)
    for wrong_length in (b"0080", b"0095", b"81"):
        wire = b"##" + wrong_length + right[6:] + right
        items = FrameReader().feed(wire)
        frames = _frames(items)
        assert [f.segment for f in frames] == [segment.encode()] * 2, wrong_length
        assert any("length" in note for note in frames[0].notes)


@settings(max_examples=300)
@given(st.lists(st.binary(max_size=200), max_size=12))
def test_arbitrary_bytes_never_crash_the_framer_parser_or_debugger(chunks: list[bytes]) -> None:
    reader = FrameReader(max_buffer=4096)
    items = [item for chunk in chunks for item in reader.feed(chunk)] + reader.close()
    assert reader.buffered == 0
    for item in items:
        if isinstance(item, Frame):
            with contextlib.suppress(PacketError):
                parse(item.segment)
    describe(b"".join(chunks).decode("latin-1"))


@settings(max_examples=300)
@given(st.text(alphabet=string.printable + "汞镉", max_size=300))
def test_arbitrary_text_around_a_real_header_never_crashes(noise: str) -> None:
    for wire in (f"##0100{noise}", f"##{len(noise.encode()):04d}{noise}ABCD\r\n", noise):
        describe(wire)
        for item in FrameReader().feed(wire.encode()):
            if isinstance(item, Frame):
                with contextlib.suppress(PacketError):
                    parse(item.segment)


CODE = st.sampled_from(["w01018", "w21003", "w01001", "a21026", "a34013", "w00000", "a19001"])
VALUE = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False).map(lambda v: round(v, 4))
FLAG = st.sampled_from("NFMSDCTB")


@settings(max_examples=200)
@given(
    cn=st.sampled_from(["2011", "2051", "2061", "2031"]),
    readings=st.dictionaries(CODE, st.tuples(VALUE, FLAG), min_size=1, max_size=7),
    when=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)).map(
        lambda d: d.replace(microsecond=0, tzinfo=UTC)
    ),
    mn=st.text(alphabet="0123456789ABCDEF", min_size=14, max_size=24),
    variant=st.sampled_from(["hj212", "modbus", "modbus-swapped"]),
    flag=st.sampled_from([4, 5]),
)
def test_every_packet_the_encoder_writes_round_trips(
    cn: str, readings: dict, when: datetime, mn: str, variant: str, flag: int
) -> None:
    suffix = "Rtd" if cn == "2011" else "Avg"
    groups = [[(f"{code}-{suffix}", repr(v)), (f"{code}-Flag", f)] for code, (v, f) in readings.items()]
    text = encode.segment(cn=cn, mn=mn, pw="123456", cp=encode.data_area(encode.stamp(when), groups),
                          qn_text=encode.qn(when), flag=flag)  # fmt: skip
    (frame,) = _frames(FrameReader().feed(encode.frame(text, variant)))
    found = crc.check(frame.segment, frame.crc).variant
    assert found is not None and encode.frame(text, found) == encode.frame(text, variant)  # ties resolve in order
    packet = parse(frame.segment)
    assert (packet.cn, packet.mn, packet.flag, packet.needs_reply) == (cn, mn, flag, flag == 5)
    mapped = to_telemetry(packet, Binding("M", "S", "wastewater"))
    assert datetime.fromisoformat(mapped.message["ts"]) == when
    assert {r["parameter"]: (r["value"], r["flag"]) for r in mapped.message["readings"]} == readings


def test_2005_packets_map_their_codes_and_flags() -> None:
    # a 2005 CEMS (vectors.jsonl v082 shape): S01 O2, 01 dust, 02 SO2, B02 flow, flags P and 3
    segment = (
        b"ST=31;CN=2011;PW=123456;MN=44011600300021;CP=&&DataTime=20180416101500;S01-Rtd=9.1,S01-Flag=N;"
        b"01-Rtd=12.5,01-ZsRtd=14.0,01-Flag=P;02-Rtd=35.1,02-Flag=3;B02-Rtd=508166.63,B02-Flag=N&&"
    )
    packet = parse(segment)
    assert packet.version == "2005" and profile_for(packet) is PROFILES["2005"] and not packet.needs_reply
    mapped = to_telemetry(packet, Binding("M", "ST01", "emission", {"a34013": "mg/m3"}))
    by_code = {r["parameter"]: r for r in mapped.message["readings"]}
    assert set(by_code) == {"a19001", "a34013", "a21026", "a00000"}
    assert by_code["a34013"]["flag"] == "D" and by_code["a34013"]["corrected"] == 14.0  # P: power failure
    assert by_code["a21026"]["flag"] == "N" and by_code["a21026"]["unit"] == "mg/m3"
    assert mapped.message["ts"] == "2018-04-16T10:15:00+08:00"
    assert any("read as a34013" in note for note in mapped.notes)


def test_mapping_keeps_unknown_codes_and_refuses_what_is_not_data() -> None:
    packet = parse(
        b"QN=20220928142812336;ST=22;CN=2011;PW=1;MN=X;Flag=5;CP=&&DataTime=20220928142812;"
        b"l01001-Rtd=119.9,l01001-Flag=N;O3-Rtd=63.4,O3-Flag=St;a21026-Rtd=bad,a21026-Flag=N;"
        b"i12001-Info=0;w01018-SampleTime=20220928140000&&"
    )
    mapped = to_telemetry(packet, Binding("M", "S", "emission"))
    readings = {r["parameter"]: r for r in mapped.message["readings"]}
    assert set(readings) == {"l01001", "O3", "a21026"}  # -Info and -SampleTime alone are not readings
    assert readings["l01001"]["unit"] == "unspecified" and readings["O3"]["flag"] == "D"
    assert readings["a21026"] == {"parameter": "a21026", "value": None, "unit": "mg/m3", "flag": "D"}
    assert mapped.unknown_flags == ("St",)
    with pytest.raises(MappingError, match="not a data upload"):
        to_telemetry(parse(b"QN=1;ST=91;CN=9014;PW=1;MN=X;Flag=4;CP=&&&&"), Binding("M", "S", "emission"))
    with pytest.raises(MappingError, match="no DataTime"):
        to_telemetry(parse(b"ST=32;CN=2011;PW=1;MN=X;CP=&&w01018-Rtd=1&&"), Binding("M", "S", "wastewater"))
    with pytest.raises(MappingError, match="not a real time"):
        beijing_time("20230230120000")
    hourly = to_telemetry(
        parse(b"ST=32;CN=2061;PW=1;MN=X;Flag=4;CP=&&DataTime=20260126100000;w01018-Avg=30,w01018-Cou=1.5&&"),
        Binding("M", "S", "wastewater"),
    )
    assert hourly.message["readings"][0] | {} == {
        "parameter": "w01018", "value": 30.0, "unit": "mg/L", "flag": "N", "interval_s": 3600, "total": 1.5,
    }  # fmt: skip


def test_header_quirks_real_devices_send() -> None:
    packet = parse(b"ST=32;CN=2051;QN=20190413163301000;PW=123456,MN=1111;FLAG=5;PNO=0002;PNUM=0002;CP=&&&&;Flag=5")
    assert (packet.qn, packet.mn, packet.flag, packet.pnum, packet.pno) == ("20190413163301000", "1111", 5, 2, 2)
    assert "header fields after the data area" in packet.problems
    with pytest.raises(PacketError, match="CP=&&"):
        parse(b"QN=1;ST=32;CN=2011")
    with pytest.raises(PacketError, match="no CN"):
        parse(b"QN=1;ST=32;CP=&&&&")
    gbk = parse("ST=32;CN=3020;PW=1;MN=X;CP=&&i11001-Info=//设备故障//&&".encode("gbk"))
    assert gbk.encoding == "gbk" and gbk.pollutant_fields[0].value == "//设备故障//"


def _part(n: int, total: int, body: str) -> bytes:
    return (f"QN=2016080108585753{n};ST=32;CN=2061;PW=1;MN=M;Flag=7;PNUM={total};PNO={n};"
            f"CP=&&DataTime=20160801080000;{body}&&").encode()  # fmt: skip


def test_split_transfers_reassemble_in_any_order_once_and_partial_after_timeout() -> None:
    r = Reassembler(timeout_s=60, max_pending=2)
    assert r.add(parse(_part(3, 3, "w21003-Avg=1")), now=0) is None
    assert r.add(parse(_part(1, 3, "w01001-Avg=7")), now=1) is None
    assert r.add(parse(_part(1, 3, "w01001-Avg=7")), now=2) is None  # a re-sent part counts once
    whole = r.add(parse(_part(2, 3, "w01018-Avg=30")), now=3)
    assert whole is not None and whole.complete and whole.parts == (1, 2, 3)
    assert [f.code for f in whole.packet.pollutant_fields] == ["w01001", "w01018", "w21003"]
    assert len(r) == 0
    r.add(parse(_part(1, 2, "w01001-Avg=7")), now=10)
    (late,) = r.expire(now=71)
    assert not late.complete and "incomplete: parts (1,) of 2" in late.packet.problems[-1]
    for i in range(3):  # a device that never finishes cannot pile up transfers
        r.add(parse(_part(1, 2, "w01001-Avg=7").replace(b"080000", f"08{i:02d}00".encode())), now=100 + i)
    assert len(r.expire(now=101)) == 1 and len(r) == 2


def test_answers_are_the_standards() -> None:
    by_note = {v["notes"][:4]: v["packet"] for v in CONSTRUCTED}
    assert by_note["C.14"]  # the data upload C.14 is answered by C.15's 9014
    answer = encode.data_answer(qn="20160801085857223", pw="123456", mn="010000A8900016F000169DC0")
    assert answer.decode().rstrip("\r\n") in {v["packet"] for v in CONSTRUCTED}
    old = parse(encode.data_answer(qn="20040516010101001", pw="1", mn="X", version="2005")[6:-6])
    assert old.plain_value("QN") == "20040516010101001" and old.flag == 0
    time_set = parse(encode.set_time(now=datetime(2026, 1, 1, tzinfo=UTC), pw="1", mn="X")[6:-6])
    assert time_set.cn == "1012" and time_set.plain_value("SystemTime") == "20260101080000"
