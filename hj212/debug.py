"""``minewatch hj212 parse``: what the gateway makes of a frame, for an operator debugging a device.

Each input line is one frame (with or without its leading ``##``). The output is one JSON object
a line: the CRC verdict (and which wrong algorithm a bad CRC matches), what the framer had to
tolerate, the header, the protocol version, and the data area grouped by pollutant; or the
reason the line is not a frame.

>>> line = "##0087QN=20160801085857223;ST=91;CN=9014;PW=123456;MN=010000A8900016F000169DC0;Flag=4;CP=&&&&3240"
>>> report = describe(line)
>>> report["crc"]["verdict"], report["packet"]["CN"], report["packet"]["version"]
('ok', '9014', '2017')
"""

from __future__ import annotations

from typing import Any

from hj212.crc import check
from hj212.framing import Frame, FrameReader
from hj212.packet import PacketError, parse
from hj212.profiles import profile_for


def describe(line: str) -> dict[str, Any]:
    text = line.strip()
    if not text:
        return {"input": line, "error": "empty line"}
    if "##" not in text:
        text = "##" + text  # a frame whose '##' another layer consumed
    reader = FrameReader()
    items = reader.feed(text.encode("utf-8", errors="surrogateescape") + b"\r\n") + reader.close()
    frames = [i for i in items if isinstance(i, Frame)]
    skipped = [i.reason for i in items if not isinstance(i, Frame)]
    if not frames:
        return {"input": line, "error": "; ".join(skipped) or "no frame found"}
    out: list[dict[str, Any]] = []
    for frame in frames:
        verdict = check(frame.segment, frame.crc)
        report: dict[str, Any] = {
            "input": line,
            "length": len(frame.segment),
            "crc": {
                "given": verdict.given,
                "expected": verdict.expected,
                "verdict": "ok" if verdict.ok else "wrong",
                "variant": verdict.variant,
                "reason": verdict.reason(),
            },
            "framing_notes": list(frame.notes),
        }
        try:
            packet = parse(frame.segment)
        except PacketError as exc:
            report["error"] = str(exc)
            out.append(report)
            continue
        profile = profile_for(packet)
        pollutants: dict[str, dict[str, Any]] = {}
        for f in packet.pollutant_fields:
            entry = pollutants.setdefault(f.code, {"code_2017": profile.parameter(f.code)})
            entry.setdefault(f.suffix, []).append(f.value)
        report["packet"] = {
            **packet.header,
            "version": packet.version,
            "needs_reply": packet.needs_reply,
            "split": packet.is_split,
            "encoding": packet.encoding,
            "fields": [{k: v} for k, v in packet.plain],
            "pollutants": {
                code: {k: (v[0] if isinstance(v, list) and len(v) == 1 else v) for k, v in entry.items()}
                for code, entry in pollutants.items()
            },
            "problems": list(packet.problems),
        }
        if "PW" in report["packet"]:
            report["packet"]["PW"] = "***"  # debugging output gets shared; passwords stay out of it
        out.append(report)
    if skipped:
        out[-1]["skipped"] = skipped
    return out[0] if len(out) == 1 else {"input": line, "frames": out}
