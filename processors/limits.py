"""Emission limits as cited data, and the first limit check: instantaneous value against limit.

The limit data is ``data/limits/limits.yaml`` (from shared/reference/limits, with the citation
of every number). An entry whose ``confidence`` is ``unknown`` is never enforced, and neither
is one without a numeric bound.

Which entries apply to a station is configuration: the station's ``limit_sets`` name limit
categories, and its ``limit_scope`` says which scope row of a table applies where a table has
several (GB 8978-1996 Table 4 gives suspended solids separately for 采矿、选矿、选煤工业).

The check here is a *screening* check: each valid reading (flag N) is compared with the
limit value as it stands. The standards judge most limits on hourly or daily means
(GB 8978-1996 cl. 5.2, GB 16297-1996 cl. 8.2); exceedances found here say so in ``basis``.

超标倍数 (multiple over the limit) is ``(value - limit) / limit`` for an upper limit and
``(limit - value) / limit`` for a lower one.

>>> book = LimitBook.load()
>>> limit = book.limit("gb8978_t4_post1998_grade1", "w01018", "mining")
>>> limit.upper, limit.unit, limit.standard
(100.0, 'mg/L', 'GB 8978-1996')
>>> limit.judge(150.0)
0.5
>>> limit.judge(99.9) is None
True
>>> ph = book.limit("gb8978_t4_post1998_grade1", "w01001", "mining")
>>> ph.lower, ph.upper, ph.judge(5.7)
(6.0, 9.0, 0.05)
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from minewatch.paths import DATA
from minewatch.registry import Registry
from minewatch.units import UnitMismatch, canonical, convert

LIMITS_FILE = DATA / "limits" / "limits.yaml"

# Scope rows that apply to a discharger profile, best first. A table row without a scope
# applies to every discharger.
SCOPE_PREFERENCES: dict[str, tuple[str, ...]] = {
    "mining": ("采矿、选矿、选煤工业", "其他排污单位", "一切排污单位", "其它"),
    "lode_gold_dressing": ("脉金选矿", "其他排污单位", "一切排污单位", "其它"),
    "other": ("其他排污单位", "一切排污单位", "其它"),
}
_SCOPE_ROW = re.compile(r"scope row: ([^;]*?)(?:;|\.\s|\.$|$)")


@dataclass(frozen=True, slots=True)
class Limit:
    """One enforceable limit value with its citation."""

    limit_id: str
    standard: str
    table: str
    category: str
    parameter: str
    unit: str
    lower: float | None
    upper: float | None
    averaging: str
    confidence: str
    scope_row: str | None
    source: str

    @property
    def citation(self) -> str:
        scope = f", row {self.scope_row}" if self.scope_row else ""
        return f"{self.standard} {self.table}{scope}"

    def judge(self, value: float) -> float | None:
        """超标倍数 of ``value`` (in this limit's unit), or None when it is within the limit."""
        if self.upper is not None and value > self.upper:
            return round((value - self.upper) / self.upper, 6) if self.upper else float("inf")
        if self.lower is not None and value < self.lower:
            return round((self.lower - value) / self.lower, 6) if self.lower else float("inf")
        return None


@dataclass(frozen=True, slots=True)
class Exceedance:
    """A valid reading beyond a limit. ``value`` is in the limit's unit."""

    exceedance_id: str
    mine_id: str
    station_id: str
    parameter: str
    ts: str
    value: float
    unit: str
    limit_id: str
    limit_lower: float | None
    limit_upper: float | None
    multiple: float
    citation: str
    basis: str

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Exceedance:
        return cls(**{name: d[name] for name in cls.__slots__})


class LimitBook:
    """All limits from the data file, indexed by (category, parameter code)."""

    def __init__(self, entries: list[dict[str, Any]]) -> None:
        self._by_key: dict[tuple[str, str], list[Limit]] = {}
        for entry in entries:
            limit = _limit_from_entry(entry)
            if limit is not None:
                self._by_key.setdefault((limit.category, limit.parameter), []).append(limit)

    @classmethod
    def load(cls, path: Path = LIMITS_FILE) -> LimitBook:
        return _load_book(path)

    def limit(self, category: str, parameter: str, scope: str) -> Limit | None:
        """The enforceable limit of ``parameter`` in ``category`` for a discharger ``scope``."""
        candidates = self._by_key.get((category, parameter), [])
        preferences = SCOPE_PREFERENCES.get(scope, SCOPE_PREFERENCES["other"])
        best: tuple[int, Limit] | None = None
        for limit in candidates:
            rank = _scope_rank(limit.scope_row, preferences)
            if rank is not None and (best is None or rank < best[0]):
                best = (rank, limit)
        return None if best is None else best[1]

    def for_categories(self, categories: tuple[str, ...], scope: str) -> dict[str, list[Limit]]:
        """Every enforceable limit of the given categories, by parameter code."""
        out: dict[str, list[Limit]] = {}
        for category, parameter in self._by_key:
            if category in categories:
                limit = self.limit(category, parameter, scope)
                if limit is not None and limit not in out.get(parameter, []):
                    out.setdefault(parameter, []).append(limit)
        return out


class InstantaneousLimitCheck:
    """Compares each valid reading of a telemetry message with its station's limits.

    >>> from minewatch.registry import Registry
    >>> registry = Registry.from_dict({"version": 1, "mines": [{"id": "GZ520201-0001",
    ...     "name": "demo", "region_code": "520200", "county_code": "520201", "mineral": "barite",
    ...     "stations": [{"id": "WW01", "kind": "wastewater",
    ...                   "limit_sets": ["gb8978_t1_first_class", "gb8978_t4_post1998_grade1"]}]}]})
    >>> check = InstantaneousLimitCheck(registry, LimitBook.load())
    >>> message = {"mine_id": "GZ520201-0001", "station_id": "WW01", "ts": "2026-11-26T08:00:00+08:00",
    ...     "readings": [{"parameter": "w01018", "value": 180.0, "unit": "mg/L", "flag": "N"},
    ...                  {"parameter": "w20120", "value": 1200.0, "unit": "µg/L", "flag": "N"},
    ...                  {"parameter": "w01012", "value": 900.0, "unit": "mg/L", "flag": "D"}]}
    >>> [(e.parameter, e.value, e.unit, e.multiple) for e in check.check(message)]
    [('w01018', 180.0, 'mg/L', 0.8), ('w20120', 1.2, 'mg/L', 0.2)]
    """

    BASIS = "instantaneous screening of a single reading; the cited standard judges compliance on its averaging period"

    def __init__(self, registry: Registry, book: LimitBook) -> None:
        self._limits: dict[tuple[str, str], dict[str, list[Limit]]] = {}
        for mine in registry:
            for station in mine.stations.values():
                if station.limit_sets:
                    self._limits[(mine.id, station.id)] = book.for_categories(station.limit_sets, station.limit_scope)

    def check(self, message: dict[str, Any]) -> list[Exceedance]:
        limits = self._limits.get((message["mine_id"], message["station_id"]))
        if not limits:
            return []
        found: list[Exceedance] = []
        for reading in message["readings"]:
            applicable = limits.get(reading["parameter"])
            value = reading["value"]
            if not applicable or value is None or reading["flag"] != "N":
                continue
            for limit in applicable:
                try:
                    comparable = convert(value, reading["unit"], limit.unit)
                except UnitMismatch:
                    continue  # the gate admits only known units; a limit in other units is not judged here
                multiple = limit.judge(comparable)
                if multiple is not None:
                    found.append(_exceedance(message, reading, limit, comparable, multiple, self.BASIS))
        return found


def _exceedance(
    message: dict[str, Any], reading: dict[str, Any], limit: Limit, value: float, multiple: float, basis: str
) -> Exceedance:
    ts = reading.get("ts") or message["ts"]
    key = f"{message['mine_id']}|{message['station_id']}|{reading['parameter']}|{ts}|{limit.limit_id}"
    return Exceedance(
        exceedance_id=hashlib.sha1(key.encode()).hexdigest()[:24],
        mine_id=message["mine_id"],
        station_id=message["station_id"],
        parameter=reading["parameter"],
        ts=ts,
        value=value,
        unit=limit.unit,
        limit_id=limit.limit_id,
        limit_lower=limit.lower,
        limit_upper=limit.upper,
        multiple=multiple,
        citation=limit.citation,
        basis=basis,
    )


def _scope_rank(scope_row: str | None, preferences: tuple[str, ...]) -> int | None:
    if scope_row is None:
        return 0
    for rank, prefix in enumerate(preferences, start=1):
        if scope_row.startswith(prefix):
            return rank
    return None


def _limit_from_entry(entry: dict[str, Any]) -> Limit | None:
    code = entry.get("code_hj212")
    lower, upper = entry.get("min"), entry.get("max")
    if entry.get("confidence") == "unknown" or not code or (lower is None and upper is None):
        return None
    scope = _SCOPE_ROW.search(entry.get("applicability") or "")
    scope_row = scope.group(1).strip() if scope else None
    unit = canonical(str(entry["unit"]).split(" (")[0].strip())
    return Limit(
        limit_id=f"{entry['category']}:{code}:{scope_row or '*'}",
        standard=entry["standard"],
        table=entry["table"],
        category=entry["category"],
        parameter=code,
        unit=unit,
        lower=None if lower is None else float(lower),
        upper=None if upper is None else float(upper),
        averaging=entry.get("averaging") or "",
        confidence=entry["confidence"],
        scope_row=scope_row,
        source=entry.get("source_url_or_repo") or "",
    )


@cache
def _load_book(path: Path) -> LimitBook:
    doc = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    return LimitBook(doc["entries"])
