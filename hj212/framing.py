"""Cutting a TCP byte stream into HJ 212 frames.

A frame is ``##`` + four decimal digits (the data segment's length in bytes) + the segment +
four hex CRC characters + CRLF. TCP gives no message boundaries: one read may hold half a
frame, or three frames, or garbage before a frame. :class:`FrameReader` is fed whatever arrives
and returns the frames (and the garbage, with the reason it was skipped) it can cut so far.

What real senders get wrong, and what the reader does about it
(``../shared/reference/hj212/IMPLEMENTATIONS.md`` §2):

* CRLF missing, LF only, or a ``**`` marker after the CRC: accepted; frames are cut by length.
* A declared length that is wrong (stale after editing, or off by a missing ``&&``): when the
  CRC does not verify under the declared length, the reader tries the segment ending at the
  last ``&&`` before the line end, then the segment ending four characters before it, and keeps
  whichever verifies, noting what it did.
* A length field not zero-padded (``##81QN=...``): read as the digits that are there.
* Segments over the standard's 1024 bytes (devices that never split): accepted up to 9999.
* Bytes before ``##``: skipped and reported (line breaks between frames silently).

The reader holds at most ``max_buffer`` bytes; past that, what it holds is discarded and
reported, so a hostile or broken client cannot grow it without bound.

>>> reader = FrameReader()
>>> seg = b"QN=20160801085857223;ST=91;CN=9014;PW=123456;MN=010000A8900016F000169DC0;Flag=4;CP=&&&&"
>>> frame = b"##0087" + seg + b"3240\\r\\n"
>>> [type(x).__name__ for x in reader.feed(b"noise" + frame[:40])], len(reader.feed(frame[40:] + frame))
(['Garbage'], 2)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hj212 import crc

MAX_SEGMENT = 9999
HEADER = b"##"
_HEX = re.compile(rb"[0-9A-Fa-f]{4}")
_LINE_END = re.compile(rb"\r?\n|##")
_MARGIN = 64  # bytes to wait for past a declared end that does not verify


@dataclass(frozen=True, slots=True)
class Frame:
    segment: bytes
    crc: str  # the four characters the sender put after the segment
    raw: bytes  # the whole frame as received, for dead letters
    notes: tuple[str, ...] = ()  # what the reader had to tolerate to cut it
    verdict: crc.CrcCheck | None = None  # the CRC check, when the reader already made it

    @property
    def crc_check(self) -> crc.CrcCheck:
        return self.verdict if self.verdict is not None else crc.check(self.segment, self.crc)


@dataclass(frozen=True, slots=True)
class Garbage:
    raw: bytes
    reason: str


Item = Frame | Garbage


class FrameReader:
    def __init__(self, max_buffer: int = 64 * 1024) -> None:
        self.max_buffer = max_buffer
        self._buffer = bytearray()

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes, *, final: bool = False) -> list[Item]:
        self._buffer += data
        out: list[Item] = []
        while True:
            item = self._next(final)
            if item is None:
                break
            if isinstance(item, Garbage) and not item.raw:
                continue  # line breaks between frames
            out.append(item)
        if len(self._buffer) > self.max_buffer:
            out.append(Garbage(bytes(self._buffer), f"over {self.max_buffer} bytes without a complete frame"))
            self._buffer.clear()
        return out

    def close(self) -> list[Item]:
        """The connection ended: whatever is held is a truncated frame (or trailing noise)."""
        out = self.feed(b"", final=True)
        rest = bytes(self._buffer).strip(b"\r\n ")
        self._buffer.clear()
        if rest:
            out.append(Garbage(rest, "the connection ended inside a frame (truncated)"))
        return out

    def _next(self, final: bool = False) -> Item | None:
        buf = self._buffer
        start = buf.find(HEADER)
        if start < 0:
            keep = 1 if buf.endswith(b"#") else 0  # a '#' may start the next header
            junk = bytes(buf[: len(buf) - keep])
            del buf[: len(buf) - keep]
            return _garbage(junk)
        if start > 0:
            junk = bytes(buf[:start])
            del buf[:start]
            return _garbage(junk)
        if len(buf) < 6:
            return None
        digits = 0
        while digits < 4 and 48 <= buf[2 + digits] <= 57:
            digits += 1
            if 2 + digits >= len(buf):
                return None
        if digits == 0:
            del buf[:2]
            return Garbage(HEADER, "'##' not followed by a length: skipped")
        declared = int(buf[2 : 2 + digits])
        body = 2 + digits
        notes = [] if digits == 4 else [f"length field has {digits} digits instead of 4"]
        end = body + declared
        match = _LINE_END.search(buf, body)
        line = match.start() if match is not None else None
        if len(buf) >= end + 4:
            segment, given = bytes(buf[body:end]), bytes(buf[end : end + 4])
            if _HEX.fullmatch(given):
                verdict = crc.check(segment, given.decode())
                if verdict.variant is not None:
                    return self._take(end + 4, (segment, given.decode()), notes, verdict)
        if line is not None:
            content = bytes(buf[body:line])
            fixed = _by_content(content)
            if fixed is not None:
                return self._take(line, fixed, [*notes, _length_note(declared, fixed)])
            if len(buf) >= end + 4 or line < end + 4:  # no length verifies: the line end is the boundary
                return self._take(line, _split_line(content), notes)
        if len(buf) < end + 4 or (not final and line is None and len(buf) < end + 4 + _MARGIN):
            return None
        return self._take(end + 4, (bytes(buf[body:end]), bytes(buf[end : end + 4]).decode("latin-1")), notes)

    def _take(
        self, stop: int, parts: tuple[bytes, str], notes: list[str], verdict: crc.CrcCheck | None = None
    ) -> Frame:
        buf = self._buffer
        raw = bytes(buf[:stop])
        del buf[:stop]
        if buf.startswith(b"**"):  # one platform marks reverse-control packets so
            del buf[:2]
            notes = [*notes, "'**' after the CRC"]
        if buf.startswith(b"\r\n"):
            del buf[:2]
        elif buf.startswith(b"\n"):
            del buf[:1]
        return Frame(parts[0], parts[1], raw, tuple(notes), verdict)


def _by_content(line: bytes) -> tuple[bytes, str] | None:
    """A segment and CRC cut from a whole line, if its CRC verifies (any known variant)."""
    last = line.rfind(b"&&")
    candidates = []
    if last >= 0 and _HEX.fullmatch(line[last + 2 : last + 6]):
        candidates.append((line[: last + 2], line[last + 2 : last + 6]))
    if len(line) > 4 and _HEX.fullmatch(line[-4:]):
        candidates.append((line[:-4], line[-4:]))
    for segment, given in candidates:
        if crc.check(segment, given.decode()).variant is not None:
            return segment, given.decode()
    return None


def _split_line(line: bytes) -> tuple[bytes, str]:
    """A line whose CRC does not verify, cut the likeliest way (at its last ``&&``)."""
    last = line.rfind(b"&&")
    if last >= 0:
        return line[: last + 2], line[last + 2 : last + 6].decode("latin-1")
    return line[:-4], line[-4:].decode("latin-1")


def _length_note(declared: int, fixed: tuple[bytes, str]) -> str:
    return f"declared length {declared} is wrong: the segment that verifies is {len(fixed[0])} bytes"


def _garbage(junk: bytes) -> Garbage | None:
    if not junk:
        return None
    if not junk.strip(b"\r\n \x00"):
        return Garbage(b"", "")  # line breaks between frames: dropped by feed()
    return Garbage(junk, f"{len(junk)} bytes outside any frame skipped")
