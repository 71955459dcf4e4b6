"""Parsing an HJ 212 data segment: the header fields and the CP data area.

``QN=…;ST=…;CN=…;PW=…;MN=…;Flag=…;[PNUM=…;PNO=…;]CP=&&<data area>&&``. Header fields are read
by name, in any order (real devices put QN after CN, MN before PW, PNO before PNUM, even Flag
after CP), case-insensitively (``FLAG=0``), tolerating stray commas and empty values. The data
area is items separated by ``;``, fields of one item by ``,``, each ``key=value``: a pollutant
field is ``<code>-<suffix>`` (``w01018-Avg``), anything else is a plain field (``DataTime``).
Keys and values are trimmed; duplicate keys are all kept; values stay strings (decimal text is
the device's, e.g. ``27.299999`` or ``-130.7``), so nothing is lost before it is understood.

The segment is bytes until here: UTF-8 (HJ 212-2017 §6.3), falling back to GBK (older kit).

>>> p = parse(b"QN=20160801085857223;ST=32;CN=2011;PW=123456;MN=010000A8900016F000169DC0;Flag=5;"
...           b"CP=&&DataTime=20160801085857;w01001-Rtd=7.1,w01001-Flag=N;w01018-Rtd=2.2,w01018-Flag=N&&")
>>> p.cn, p.mn, p.flag, p.version, p.needs_reply, p.data_time
('2011', '010000A8900016F000169DC0', 5, '2017', True, '20160801085857')
>>> [(f.code, f.suffix, f.value) for f in p.pollutant_fields][:2]
[('w01001', 'Rtd', '7.1'), ('w01001', 'Flag', 'N')]
"""

from __future__ import annotations

from dataclasses import dataclass, field

HEADER_NAMES = {n.lower(): n for n in ("QN", "ST", "CN", "PW", "MN", "Flag", "PNUM", "PNO")}


class PacketError(ValueError):
    """The segment is not an HJ 212 data segment at all."""


@dataclass(frozen=True, slots=True)
class PollutantField:
    code: str  # as sent (2005 codes are mapped later, by the profile)
    suffix: str  # Rtd, Min, Avg, Max, Cou, Flag, ZsRtd, ... or anything a vendor invented
    value: str
    item: int  # which ';'-separated item of the data area it was in


@dataclass(frozen=True)
class Packet:
    header: dict[str, str]  # every header field as sent, names normalised (QN, ST, CN, PW, MN, Flag, ...)
    plain: list[tuple[str, str]]  # CP fields without a pollutant code: DataTime, SystemTime, QnRtn, ...
    pollutant_fields: list[PollutantField]
    text: str  # the decoded segment
    encoding: str  # utf-8 or gbk
    problems: tuple[str, ...] = field(default=())  # what was tolerated

    @property
    def qn(self) -> str | None:
        return self.header.get("QN") or None

    @property
    def st(self) -> str | None:
        return self.header.get("ST") or None

    @property
    def cn(self) -> str | None:
        return self.header.get("CN") or None

    @property
    def pw(self) -> str | None:
        return self.header.get("PW")

    @property
    def mn(self) -> str | None:
        return self.header.get("MN") or None

    @property
    def flag(self) -> int | None:
        value = self.header.get("Flag", "")
        return int(value) if value.isdigit() else None

    @property
    def version(self) -> str:
        """'2017' or '2005' from the Flag's version bits (V5..V0); no Flag means 2005."""
        flag = self.flag
        if flag is None:
            return "2005"
        bits = (flag >> 2) & 0x3F
        return {0: "2005", 1: "2017"}.get(bits, f"unknown-{bits}")

    @property
    def needs_reply(self) -> bool:
        """Flag bit A: the sender waits for an answer (9014 for data)."""
        return self.flag is not None and bool(self.flag & 1)

    @property
    def is_split(self) -> bool:
        return (self.flag is not None and bool(self.flag & 2)) or "PNUM" in self.header

    @property
    def pnum(self) -> int | None:
        value = self.header.get("PNUM", "")
        return int(value) if value.isdigit() else None

    @property
    def pno(self) -> int | None:
        value = self.header.get("PNO", "")
        return int(value) if value.isdigit() else None

    @property
    def data_time(self) -> str | None:
        return self.plain_value("DataTime")

    def plain_value(self, name: str) -> str | None:
        for key, value in self.plain:
            if key == name:
                return value
        return None


def decode(segment: bytes) -> tuple[str, str]:
    try:
        return segment.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        try:
            return segment.decode("gbk"), "gbk"
        except UnicodeDecodeError:
            return segment.decode("utf-8", errors="replace"), "utf-8 (invalid bytes replaced)"


def parse(segment: bytes) -> Packet:
    """The packet in ``segment`` (the bytes between the length field and the CRC)."""
    text, encoding = decode(segment)
    problems: list[str] = []
    start = text.find("CP=&&")
    if start < 0:
        raise PacketError("no 'CP=&&' in the data segment: not an HJ 212 packet")
    head, rest = text[:start], text[start + 5 :]
    end = rest.rfind("&&")
    if end < 0:
        problems.append("the data area has no closing '&&'")
        area, tail = rest, ""
    else:
        area, tail = rest[:end], rest[end + 2 :]
    header: dict[str, str] = {}
    for part in _split(head + ";" + tail, ";,"):
        if "=" not in part:
            if part:
                problems.append(f"header part {part!r} has no '='")
            continue
        key, value = (x.strip() for x in part.split("=", 1))
        name = HEADER_NAMES.get(key.lower(), key)
        if name in header and header[name] != value:
            problems.append(f"header field {name} given twice")
        header[name] = value
    if tail.strip(" ;"):
        problems.append("header fields after the data area")
    plain: list[tuple[str, str]] = []
    fields: list[PollutantField] = []
    for number, item in enumerate(area.split(";")):
        for raw in item.split(","):
            part = raw.strip()
            if not part:
                continue
            if "=" not in part:
                problems.append(f"data-area field {part!r} has no '='")
                continue
            key, value = (x.strip() for x in part.split("=", 1))
            code, dash, suffix = key.partition("-")
            if dash and code and suffix:
                fields.append(PollutantField(code.strip(), suffix.strip(), value, number))
            else:
                plain.append((key, value))
    if "CN" not in header:
        raise PacketError("the header has no CN (command code)")
    return Packet(header, plain, fields, text, encoding, tuple(problems))


def _split(text: str, separators: str) -> list[str]:
    for sep in separators[1:]:
        text = text.replace(sep, separators[0])
    return [part.strip() for part in text.split(separators[0]) if part.strip()]
