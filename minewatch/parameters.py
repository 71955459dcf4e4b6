"""The parameter catalogue: HJ 212-2017 pollutant codes and minewatch's slope/rain codes.

>>> catalogue = load_parameters()
>>> catalogue["w01018"].name
'化学需氧量 COD'
>>> catalogue["w20120"].unit        # HJ 212-2017 reports lead in µg/L
'µg/L'
>>> catalogue["w20120"].accepts("mg/L"), catalogue["w20120"].accepts("mg/m3")
(True, False)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import yaml

from minewatch.paths import DATA
from minewatch.units import canonical


@dataclass(frozen=True, slots=True)
class Parameter:
    code: str
    name: str
    unit: str
    accepted_units: frozenset[str]
    source: str

    def accepts(self, unit: str) -> bool:
        """Whether a reading in ``unit`` can be taken (its own unit or an explicit conversion)."""
        return canonical(unit) in self.accepted_units


@cache
def load_parameters() -> dict[str, Parameter]:
    doc = yaml.load((DATA / "parameters.yaml").read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    sources = doc["sources"]
    catalogue: dict[str, Parameter] = {}
    for entry in doc["parameters"]:
        unit = canonical(entry["unit"])
        accepted = {unit, *(canonical(u) for u in entry.get("accepted_units", ()))}
        catalogue[entry["code"]] = Parameter(
            entry["code"], entry["name"], unit, frozenset(accepted), sources[entry["source"]]
        )
    return catalogue
