"""Discharge and emission limits as cited data, and which of them apply to a station.

The data is ``data/limits/limits.yaml`` (version 2): one entry per (standard, table, category,
parameter, scope row), each with its citation, unit, bounds, averaging basis, O2 reference,
applicability and confidence. An entry whose ``confidence`` is ``unknown`` is never enforced,
and neither is one without a numeric bound or without an HJ 212 parameter code.

A station's registry entry names its limit sets (``limit_sets``, categories of the data file)
and the scope row that applies where a table has several (``limit_scope``): GB 8978-1996 Table 4
gives suspended solids separately for 采矿、选矿、选煤工业. Picking the sets is the permit's job
(see :func:`suggested_limit_sets` for the defaults the simulator uses).

超标倍数 (multiple over the limit) is ``(value - limit) / limit`` for an upper limit and
``(limit - value) / limit`` for a lower one.

>>> book = LimitBook.load()
>>> cod = book.limit("gb8978_t4_post1998_grade1", "w01018", "mining")
>>> cod.upper, cod.unit, cod.basis, cod.standard
(100.0, 'mg/L', 'daily_mean', 'GB 8978-1996')
>>> cod.judge(150.0), cod.judge(100.0)
(0.5, None)
>>> ph = book.limit("gb8978_t4_post1998_grade1", "w01001", "mining")
>>> ph.lower, ph.upper, ph.judge(5.7), ph.basis
(6.0, 9.0, 0.05, 'instantaneous')
>>> book.limit("gb13271_t2_new_coal", "a34013", "mining").reference_o2
9.0
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from minewatch.parameters import load_parameters
from minewatch.paths import DATA
from minewatch.registry import Station
from minewatch.units import canonical, convertible

LIMITS_FILE = DATA / "limits" / "limits.yaml"
BASES = ("instantaneous", "hourly_mean", "daily_mean")

# Scope rows that apply to a discharger profile, best first. A table row without a scope row
# applies to every discharger. A mine neither produces sulfur compounds nor nitric acid, so of
# GB 16297-1996's SO2 and NOx rows it falls under "...使用" (use) and "硝酸使用和其它" (use and others).
_GENERAL = ("其他排污单位", "一切排污单位", "其它", "硫、二氧化硫、硫酸和其它含硫化合物使用", "硝酸使用和其它")
SCOPE_PREFERENCES: dict[str, tuple[str, ...]] = {
    "mining": ("采矿、选矿、选煤工业", *_GENERAL),
    "lode_gold_dressing": ("脉金选矿", *_GENERAL),
    "other": _GENERAL,
}


@dataclass(frozen=True, slots=True)
class Limit:
    """One enforceable limit value with its citation."""

    limit_id: str
    parameter_name: str
    standard: str
    table: str
    category: str
    scope_row: str | None
    parameter: str
    unit: str
    lower: float | None
    upper: float | None
    basis: str
    basis_clause: str
    basis_confidence: str
    reference_o2: float | None
    effective_from: date | None
    confidence: str
    source: str

    @property
    def citation(self) -> str:
        scope = f", row {self.scope_row}" if self.scope_row else ""
        return f"{self.standard} {self.table}{scope}"

    @property
    def bound_text(self) -> str:
        if self.lower is not None and self.upper is not None:
            return f"{self.lower:g}-{self.upper:g} {self.unit}"
        if self.upper is not None:
            return f"<= {self.upper:g} {self.unit}"
        return f">= {self.lower:g} {self.unit}"

    def judge(self, value: float) -> float | None:
        """超标倍数 of ``value`` (in this limit's unit), or None when it is within the limit."""
        if self.upper is not None and value > self.upper:
            return round((value - self.upper) / self.upper, 6) if self.upper else float("inf")
        if self.lower is not None and value < self.lower:
            return round((self.lower - value) / self.lower, 6) if self.lower else float("inf")
        return None

    def in_force_on(self, day: date) -> bool:
        return self.effective_from is None or day >= self.effective_from


@dataclass(frozen=True, slots=True)
class Unenforced:
    """A limit entry that applies on paper but is not enforced, and why."""

    category: str
    standard: str
    parameter: str | None
    parameter_name: str
    reason: str


@dataclass(frozen=True)
class StationLimits:
    """The enforced limits of one station, by parameter, and what is not enforced."""

    by_parameter: dict[str, tuple[Limit, ...]] = field(default_factory=dict)
    unenforced: tuple[Unenforced, ...] = ()

    def bases(self, parameter: str) -> set[str]:
        return {limit.basis for limit in self.by_parameter.get(parameter, ())}

    def references(self, parameter: str) -> set[float | None]:
        return {limit.reference_o2 for limit in self.by_parameter.get(parameter, ())}

    def __bool__(self) -> bool:
        return bool(self.by_parameter)


class LimitBook:
    """All limit entries of the data file, indexed by (category, parameter code)."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.rules: dict[str, Any] = doc.get("averaging_rules", {})
        self.entries: list[dict[str, Any]] = doc["entries"]
        self._by_key: dict[tuple[str, str], list[Limit]] = {}
        for entry in self.entries:
            limit = _limit_from_entry(entry)
            if limit is not None:
                self._by_key.setdefault((limit.category, limit.parameter), []).append(limit)

    @classmethod
    def load(cls, path: Path = LIMITS_FILE) -> LimitBook:
        return _load_book(path)

    @property
    def enforced(self) -> list[Limit]:
        return [limit for limits in self._by_key.values() for limit in limits]

    def limit(self, category: str, parameter: str, scope: str) -> Limit | None:
        """The enforceable limit of ``parameter`` in ``category`` for a discharger ``scope``."""
        preferences = SCOPE_PREFERENCES.get(scope, SCOPE_PREFERENCES["other"])
        best: tuple[int, Limit] | None = None
        for limit in self._by_key.get((category, parameter), []):
            rank = _scope_rank(limit.scope_row, preferences)
            if rank is not None and (best is None or rank < best[0]):
                best = (rank, limit)
        return None if best is None else best[1]

    def for_station(self, station: Station) -> StationLimits:
        """Every enforced limit of the station's limit sets, and the entries that are not enforced."""
        by_parameter: dict[str, list[Limit]] = {}
        for category, parameter in self._by_key:
            if category in station.limit_sets:
                limit = self.limit(category, parameter, station.limit_scope)
                if limit is not None and limit.basis in BASES and limit not in by_parameter.get(parameter, []):
                    by_parameter.setdefault(parameter, []).append(limit)
        unenforced = tuple(
            Unenforced(e["category"], e["standard"], e.get("parameter"), e.get("parameter_cn") or "", reason)
            for e in self.entries
            if e["category"] in station.limit_sets and (reason := _why_unenforced(e)) is not None
        )
        return StationLimits({p: tuple(v) for p, v in by_parameter.items()}, unenforced)


def suggested_limit_sets(
    mineral: str, kind: str, *, receiving_water: str = "III", built: date | None = None
) -> tuple[tuple[str, ...], str]:
    """Default (limit sets, scope) for a station: what a permit would typically name.

    A national sector standard replaces the integrated one (GB 8978-1996 cl. 1.2/1.3,
    GB 16297-1996 cl. 1.2): coal mines follow GB 20426-2006, whose values are unknown here, so
    nothing is enforced for them. GB 8978's grade follows the receiving water (cl. 4.1:
    GB 3838 class III -> grade 1, class IV/V -> grade 2, a sewer to a secondary WWTP -> grade 3),
    and its table the build (EIA approval) date (cl. 4.2.2).

    >>> suggested_limit_sets("barite", "wastewater", receiving_water="IV")
    (('gb8978_t1_first_class', 'gb8978_t4_post1998_grade2'), 'mining')
    >>> suggested_limit_sets("coal", "wastewater", built=date(2005, 1, 1))
    (('coal_mine_water_existing',), 'mining')
    """
    scope = "lode_gold_dressing" if mineral == "gold" else "mining"
    new = built is None or built >= date(1998, 1, 1)
    if mineral == "coal":
        if kind == "wastewater":
            new_line = built is None or built >= date(2006, 10, 1)
            return (("coal_mine_water_new",) if new_line else ("coal_mine_water_existing",)), scope
        return ("coal_processing_air_stack",), scope
    if mineral in ("lead_zinc", "copper", "nickel", "cobalt", "iron"):
        return (), scope  # GB 25466/25467/28661 apply; their values are not in the data
    if kind == "wastewater":
        grade = {"I": "1", "II": "1", "III": "1", "IV": "2", "V": "2", "sewer": "3"}.get(receiving_water, "1")
        table = "t4_post1998" if new else "t2_pre1998"
        return ("gb8978_t1_first_class", f"gb8978_{table}_grade{grade}"), scope
    if kind == "emission":
        built_new = built is None or built >= date(1997, 1, 1)
        return (("gb16297_t2_new_source_stack",) if built_new else ("gb16297_t1_existing_source_stack",)), scope
    return (), scope


def _why_unenforced(entry: dict[str, Any]) -> str | None:
    catalogue = load_parameters()
    if entry["confidence"] == "unknown":
        return "value unknown: the standard's text was not available (see data/limits/VERIFICATION-2026-11.md)"
    if not entry.get("parameter"):
        return "no HJ 212 parameter code to match readings"
    if entry.get("lower") is None and entry.get("upper") is None:
        return f"no numeric bound ({entry.get('limit_text') or 'none'})"
    if entry["averaging"]["basis"] not in BASES:
        return f"judged as a {entry['averaging']['basis'].replace('_', ' ')} from production records, not telemetry"
    parameter = catalogue.get(entry["parameter"])
    if parameter is not None and not convertible(parameter.unit, entry["unit"]):
        return (
            f"the limit is in {entry['unit']} but HJ 212-2017 reports {entry['parameter']} in {parameter.unit}; "
            "the two are not comparable"
        )
    return None


def _scope_rank(scope_row: str | None, preferences: tuple[str, ...]) -> int | None:
    if scope_row is None:
        return 0
    for rank, prefix in enumerate(preferences, start=1):
        if scope_row.startswith(prefix):
            return rank
    return None


def _limit_from_entry(entry: dict[str, Any]) -> Limit | None:
    if _why_unenforced(entry) is not None:
        return None
    applicability = entry.get("applicability") or {}
    effective = applicability.get("effective_from")
    return Limit(
        limit_id=entry["id"],
        parameter_name=" ".join(x for x in (entry.get("parameter_cn"), entry.get("parameter_en")) if x),
        standard=entry["standard"],
        table=entry["table"],
        category=entry["category"],
        scope_row=entry.get("scope_row"),
        parameter=entry["parameter"],
        unit=canonical(entry["unit"]),
        lower=None if entry.get("lower") is None else float(entry["lower"]),
        upper=None if entry.get("upper") is None else float(entry["upper"]),
        basis=entry["averaging"]["basis"],
        basis_clause=entry["averaging"]["clause"] or "",
        basis_confidence=entry["averaging"]["confidence"],
        reference_o2=entry.get("reference_o2_percent"),
        effective_from=date.fromisoformat(str(effective)) if effective else None,
        confidence=entry["confidence"],
        source=entry.get("source") or "",
    )


@cache
def _load_book(path: Path) -> LimitBook:
    return LimitBook(yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader))
