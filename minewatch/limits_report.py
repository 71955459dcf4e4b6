"""What ``minewatch limits show`` reports: the limits that apply to a mine, with their citations,
and the ones that apply on paper but are not enforced, with the reason."""

from __future__ import annotations

from typing import Any

from minewatch.parameters import load_parameters
from minewatch.registry import Mine
from processors.limits import LimitBook


def limits_report(mine: Mine, book: LimitBook | None = None) -> dict[str, Any]:
    book = book or LimitBook.load()
    catalogue = load_parameters()
    stations = []
    for station in mine.stations.values():
        station_limits = book.for_station(station)
        enforced = [
            {
                "parameter": parameter,
                "name": catalogue[parameter].name if parameter in catalogue else limit.parameter_name,
                "bound": limit.bound_text,
                "lower": limit.lower,
                "upper": limit.upper,
                "unit": limit.unit,
                "basis": limit.basis,
                "basis_clause": limit.basis_clause,
                "basis_confidence": limit.basis_confidence,
                "reference_o2": limit.reference_o2,
                "citation": limit.citation,
                "limit_id": limit.limit_id,
                "effective_from": limit.effective_from.isoformat() if limit.effective_from else None,
                "source": limit.source,
            }
            for parameter, limits in sorted(station_limits.by_parameter.items())
            for limit in limits
        ]
        not_enforced = [
            {
                "standard": u.standard,
                "category": u.category,
                "parameter": u.parameter,
                "name": u.parameter_name,
                "reason": u.reason,
            }
            for u in station_limits.unenforced
        ]
        if station.limit_sets or enforced:
            stations.append(
                {
                    "station_id": station.id,
                    "kind": station.kind,
                    "limit_sets": list(station.limit_sets),
                    "scope": station.limit_scope,
                    "enforced": enforced,
                    "not_enforced": not_enforced,
                }
            )
    return {"mine_id": mine.id, "name": mine.name, "mineral": mine.mineral, "stations": stations}
