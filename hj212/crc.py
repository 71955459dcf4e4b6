"""HJ 212's CRC16, and the wrong ones real devices send.

HJ 212-2017 Appendix A: register 0xFFFF; for each byte ``crc = (crc >> 8) ^ byte``, then eight
times shift right, XOR 0xA001 when the bit shifted out was 1; printed as four hex digits, high
byte first. It is *not* CRC-16/MODBUS (``crc ^= byte``), though it shares the initial value and
polynomial; some data loggers send Modbus's CRC, some low byte first, some a ``0000`` or
``FFFF`` placeholder (``../shared/reference/hj212/IMPLEMENTATIONS.md``). :func:`check` names
the variant a CRC matches, so a rejection can say what the device did wrong.

Because ``(crc >> 8) ^ byte`` is below 256, the eight shifts are a 256-entry table lookup.

>>> segment = b"QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;CP=&&RtdInterval=30&&"
>>> f"{hj212(segment):04X}"            # the standard's own example (its prose misprints it 1C08)
'1C80'
>>> check(segment, "1c80").variant, check(segment, "1C08").ok
('hj212', False)
>>> check(segment, f"{modbus(segment):04X}").variant
'modbus'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Variant = Literal["hj212", "modbus", "modbus-swapped", "zero", "ffff"]
VARIANTS: tuple[Variant, ...] = ("hj212", "modbus", "modbus-swapped", "zero", "ffff")
DESCRIPTIONS = {
    "hj212": "HJ 212's CRC16",
    "modbus": "CRC-16/MODBUS (the wrong algorithm: crc ^= byte instead of crc = (crc >> 8) ^ byte)",
    "modbus-swapped": "CRC-16/MODBUS printed low byte first (the wrong algorithm, byte-swapped)",
    "zero": "the placeholder 0000 (no CRC computed)",
    "ffff": "the placeholder FFFF (no CRC computed)",
}


def _shifts(value: int) -> int:
    for _ in range(8):
        value = (value >> 1) ^ 0xA001 if value & 1 else value >> 1
    return value


_TABLE = tuple(_shifts(v) for v in range(256))


def hj212(data: bytes) -> int:
    crc = 0xFFFF
    table = _TABLE
    for byte in data:
        crc = table[(crc >> 8) ^ byte]
    return crc


def modbus(data: bytes) -> int:
    crc = 0xFFFF
    table = _TABLE
    for byte in data:
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc


def swapped(value: int) -> int:
    return ((value & 0xFF) << 8) | (value >> 8)


@dataclass(frozen=True, slots=True)
class CrcCheck:
    given: str
    expected: str  # HJ 212's CRC16 of the segment, upper-case hex
    variant: Variant | None  # which algorithm the given CRC matches, if any

    @property
    def ok(self) -> bool:
        return self.variant == "hj212"

    def reason(self) -> str:
        if self.ok:
            return "CRC verifies"
        if self.variant is not None:
            return f"CRC {self.given} is {DESCRIPTIONS[self.variant]}; HJ 212's CRC16 of the segment is {self.expected}"
        return (
            f"CRC {self.given} matches no known algorithm over this segment (HJ 212's CRC16 is {self.expected}): "
            "the packet was altered after its CRC was computed, or its length field is wrong"
        )


def check(segment: bytes, given: str) -> CrcCheck:
    """Which variant ``given`` (the packet's four CRC characters) matches over ``segment``."""
    text = given.strip().upper()
    expected = hj212(segment)
    variant: Variant | None = None
    if len(text) == 4 and all(c in "0123456789ABCDEF" for c in text):
        value = int(text, 16)
        if value == expected:
            variant = "hj212"
        else:
            wrong = modbus(segment)
            if value == wrong:
                variant = "modbus"
            elif value == swapped(wrong):
                variant = "modbus-swapped"
            elif value == 0:
                variant = "zero"
            elif value == 0xFFFF:
                variant = "ffff"
    return CrcCheck(given, f"{expected:04X}", variant)
