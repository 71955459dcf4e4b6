"""Random inspections, "two randoms, one publication" (双随机、一公开): random mines, random
inspectors, the draw published.

The draw is reproducible by anyone: every choice is the order of SHA-256(seed | name), so the
same seed over the same candidates and inspectors gives the same draw on any machine, and
another seed another draw. It is stratified by region: each region gets a share of ``count``
proportional to its candidates (largest remainders, ties to the lower region code). Mines
inspected recently are left out by the caller (the exclusions are part of the published draw);
an inspector never inspects a mine of their own county, and the work is spread evenly.

>>> mines = [Candidate(f"M{i}", "520100" if i < 6 else "520200", f"52010{i % 3}") for i in range(9)]
>>> people = [Inspector(f"I{i}", f"inspector {i}", f"52010{i % 3}") for i in range(6)]
>>> one = draw("2026-11-26 public seed", 3, mines, people)
>>> one.strata, [len(a.inspectors) for a in one.assignments]
({'520100': 2, '520200': 1}, [2, 2, 2])
>>> one == draw("2026-11-26 public seed", 3, mines, people), one == draw("another seed", 3, mines, people)
(True, False)
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Candidate:
    mine_id: str
    region: str
    county: str | None


@dataclass(frozen=True, slots=True)
class Inspector:
    inspector_id: str
    name: str
    county: str | None  # where they work: they do not inspect mines of that county


@dataclass(frozen=True, slots=True)
class Assignment:
    mine_id: str
    region: str
    county: str | None
    inspectors: tuple[str, ...]


@dataclass(frozen=True)
class Draw:
    seed: str
    count: int
    candidates_digest: str  # SHA-256 of the sorted candidates: re-run the draw on the same set
    strata: dict[str, int]
    assignments: tuple[Assignment, ...]
    unstaffed: tuple[str, ...]  # mines drawn that no eligible inspector was left for


def _key(seed: str, name: str) -> str:
    return hashlib.sha256(f"{seed}|{name}".encode()).hexdigest()


def allocate(count: int, sizes: dict[str, int]) -> dict[str, int]:
    """Largest-remainder proportional allocation of ``count`` over strata of ``sizes``.

    >>> allocate(10, {"A": 50, "B": 30, "C": 20})
    {'A': 5, 'B': 3, 'C': 2}
    >>> allocate(2, {"A": 1, "B": 1, "C": 1})
    {'A': 1, 'B': 1, 'C': 0}
    """
    total = sum(sizes.values())
    count = min(count, total)
    if total == 0:
        return dict.fromkeys(sizes, 0)
    quotas = {k: count * n / total for k, n in sizes.items()}
    out = {k: min(sizes[k], math.floor(q)) for k, q in quotas.items()}
    order = sorted(sizes, key=lambda k: (-(quotas[k] - math.floor(quotas[k])), k))
    while sum(out.values()) < count:
        for k in order:
            if sum(out.values()) >= count:
                break
            if out[k] < sizes[k]:
                out[k] += 1
    return {k: out[k] for k in sorted(sizes)}


def draw(
    seed: str,
    count: int,
    candidates: Sequence[Candidate],
    inspectors: Sequence[Inspector],
    per_mine: int = 2,
) -> Draw:
    by_region: dict[str, list[Candidate]] = {}
    for c in candidates:
        by_region.setdefault(c.region, []).append(c)
    strata = allocate(count, {region: len(group) for region, group in by_region.items()})
    chosen: list[Candidate] = []
    for region in sorted(by_region):
        ranked = sorted(by_region[region], key=lambda c: _key(seed, c.mine_id))
        chosen += ranked[: strata[region]]
    chosen.sort(key=lambda c: (c.region, _key(seed, c.mine_id)))
    cap = math.ceil(len(chosen) * per_mine / len(inspectors)) if inspectors else 0
    load: Counter[str] = Counter()
    assignments, unstaffed = [], []
    for mine in chosen:
        eligible = sorted(
            (i for i in inspectors if i.county is None or i.county != mine.county),
            key=lambda i: (load[i.inspector_id] >= cap, _key(seed, f"{mine.mine_id}|{i.inspector_id}")),
        )
        team = tuple(i.inspector_id for i in eligible[:per_mine])
        load.update(team)
        if len(team) < per_mine:
            unstaffed.append(mine.mine_id)
        assignments.append(Assignment(mine.mine_id, mine.region, mine.county, team))
    listing = "\n".join(sorted(f"{c.mine_id}|{c.region}|{c.county}" for c in candidates))
    return Draw(
        seed=seed,
        count=count,
        candidates_digest=hashlib.sha256(listing.encode()).hexdigest(),
        strata=strata,
        assignments=tuple(assignments),
        unstaffed=tuple(unstaffed),
    )
