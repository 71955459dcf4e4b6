"""Writing HJ 212 packets: frames, data uploads, and the host's answers.

The gateway uses it to answer devices (9014 data answer, 9013 notify answer, 1012 set time);
the simulator and the tests use it to play devices. The CRC can be written wrong on purpose
(``crc_variant``), the way some devices do, to exercise the gateway's refusals.

>>> reply = data_answer(qn="20160801085857223", pw="123456", mn="010000A8900016F000169DC0")
>>> reply    # HJ 212-2017 Table C.14's answer
b'##0087QN=20160801085857223;ST=91;CN=9014;PW=123456;MN=010000A8900016F000169DC0;Flag=4;CP=&&&&3240\\r\\n'
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone

from hj212 import crc

BEIJING = timezone(timedelta(hours=8), "CST")


def frame(segment: str | bytes, crc_variant: str = "hj212") -> bytes:
    """``##`` + length + segment + CRC + CRLF."""
    data = segment.encode() if isinstance(segment, str) else segment
    if len(data) > 9999:
        raise ValueError(f"a data segment of {len(data)} bytes does not fit the 4-digit length field")
    value = {
        "hj212": crc.hj212(data),
        "modbus": crc.modbus(data),
        "modbus-swapped": crc.swapped(crc.modbus(data)),
        "zero": 0,
        "ffff": 0xFFFF,
    }[crc_variant]
    return b"##%04d%s%04X\r\n" % (len(data), data, value)


def qn(t: datetime) -> str:
    """A QN (request number): Beijing time to the millisecond."""
    local = t.astimezone(BEIJING)
    return local.strftime("%Y%m%d%H%M%S") + f"{local.microsecond // 1000:03d}"


def stamp(t: datetime) -> str:
    """A DataTime/SystemTime: Beijing time to the second."""
    return t.astimezone(BEIJING).strftime("%Y%m%d%H%M%S")


def segment(
    *,
    cn: str,
    mn: str,
    pw: str,
    cp: str,
    st: str = "32",
    qn_text: str | None = None,
    flag: int | None = 4,
    pnum: int | None = None,
    pno: int | None = None,
) -> str:
    head = [f"QN={qn_text}"] if qn_text is not None else []
    head += [f"ST={st}", f"CN={cn}", f"PW={pw}", f"MN={mn}"]
    if flag is not None:
        head.append(f"Flag={flag}")
    if pnum is not None:
        head += [f"PNUM={pnum}", f"PNO={pno}"]
    return ";".join(head) + f";CP=&&{cp}&&"


def data_area(data_time: str, groups: Iterable[Sequence[tuple[str, str]]]) -> str:
    """``DataTime=…;code-Suffix=v,code-Suffix=v;…`` from groups of (key, value)."""
    items = [f"DataTime={data_time}"]
    items += [",".join(f"{k}={v}" for k, v in group) for group in groups]
    return ";".join(items)


def data_answer(*, qn: str | None, pw: str | None, mn: str | None, version: str = "2017") -> bytes:
    """CN 9014, the host's answer to a data upload that asked for one (Flag bit A)."""
    if version == "2005":  # 2005 answers carried the QN inside CP
        return frame(segment(cn="9014", st="91", mn=mn or "", pw=pw or "", cp=f"QN={qn or ''}", flag=0))
    return frame(segment(cn="9014", st="91", mn=mn or "", pw=pw or "", cp="", qn_text=qn or "", flag=4))


def notify_answer(*, qn: str | None, pw: str | None, mn: str | None) -> bytes:
    """CN 9013, the answer to a notification (e.g. 1013, a device asking for the time)."""
    return frame(segment(cn="9013", st="91", mn=mn or "", pw=pw or "", cp="", qn_text=qn or "", flag=4))


def set_time(*, now: datetime, pw: str | None, mn: str | None) -> bytes:
    """CN 1012, setting the device's clock (the host's answer to a 1013 time request)."""
    return frame(segment(cn="1012", st="91", mn=mn or "", pw=pw or "", cp=f"SystemTime={stamp(now)}",
                         qn_text=qn(now), flag=4))  # fmt: skip
