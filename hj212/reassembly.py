"""Putting split packets back together (HJ 212-2017 Appendix C, Tables C.47-C.50).

A transfer too big for one 1024-byte segment is sent as PNUM packets (Flag bit D, PNO 1..PNUM),
each complete in itself, each with its own QN, the same DataTime, the pollutants spread across
them. They belong together by (MN, CN, DataTime, PNUM), not by QN. When every part is in, the
merged packet is handed on; parts that wait longer than ``timeout_s`` are handed on as they
are (partial data is data), marked incomplete. At most ``max_pending`` transfers wait, the
oldest handed on first, so a device cannot exhaust memory.

>>> from hj212.packet import parse
>>> part = lambda n, body: parse(f"QN=2016080108585753{n};ST=32;CN=2061;PW=1;MN=M;Flag=7;PNUM=2;PNO={n};"
...                              f"CP=&&DataTime=20160801080000;{body}&&".encode())
>>> r = Reassembler(timeout_s=60)
>>> r.add(part(1, "w01001-Avg=7.1"), now=0.0) is None
True
>>> merged = r.add(part(2, "w01018-Avg=30.0"), now=1.0)
>>> [f.code for f in merged.packet.pollutant_fields], merged.complete
(['w01001', 'w01018'], True)
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from hj212.packet import Packet, PollutantField

Key = tuple[str | None, str | None, str | None, int | None]


@dataclass(frozen=True)
class Reassembled:
    packet: Packet  # the merged packet (header of part 1, every part's fields)
    complete: bool
    parts: tuple[int, ...]  # the PNOs that arrived


@dataclass
class _Transfer:
    first_at: float
    parts: dict[int, Packet]


class Reassembler:
    def __init__(self, timeout_s: float = 120.0, max_pending: int = 64) -> None:
        self.timeout_s = timeout_s
        self.max_pending = max_pending
        self._pending: dict[Key, _Transfer] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, packet: Packet, now: float) -> Reassembled | None:
        """The merged transfer when ``packet`` completes it; None while parts are missing."""
        total, number = packet.pnum, packet.pno
        if total is None or number is None or total <= 1:
            return Reassembled(packet, True, (1,))
        key: Key = (packet.mn, packet.cn, packet.data_time, total)
        transfer = self._pending.setdefault(key, _Transfer(now, {}))
        transfer.parts.setdefault(number, packet)  # a re-sent part counts once
        if all(n in transfer.parts for n in range(1, total + 1)):
            del self._pending[key]
            return _merge(transfer, total)
        return None

    def expire(self, now: float) -> list[Reassembled]:
        """Transfers waiting longer than the timeout, or beyond ``max_pending``: handed on partial."""
        out = []
        for key, transfer in list(self._pending.items()):
            if now - transfer.first_at >= self.timeout_s:
                out.append(_merge(self._pending.pop(key), key[3] or 0))
        while len(self._pending) > self.max_pending:
            key = min(self._pending, key=lambda k: self._pending[k].first_at)
            out.append(_merge(self._pending.pop(key), key[3] or 0))
        return out

    def drain(self) -> list[Reassembled]:
        """Everything still waiting (the connection closed)."""
        out = [_merge(t, key[3] or 0) for key, t in self._pending.items()]
        self._pending.clear()
        return out


def _merge(transfer: _Transfer, total: int) -> Reassembled:
    numbers = tuple(sorted(transfer.parts))
    first = transfer.parts[numbers[0]]
    fields: list[PollutantField] = []
    plain = list(first.plain)
    for n in numbers:
        part = transfer.parts[n]
        fields += part.pollutant_fields
        plain += [kv for kv in part.plain if kv not in plain]
    complete = numbers == tuple(range(1, total + 1))
    problems = first.problems
    if not complete:
        problems = (*problems, f"split transfer incomplete: parts {numbers} of {total}")
    return Reassembled(replace(first, plain=plain, pollutant_fields=fields, problems=problems), complete, numbers)
