"""Guizhou's administrative divisions: the jurisdictions alerts are routed to.

Data: ``data/regions/`` (GB/T 2260 codes; 贵安新区 has no code of its own and appears as
``GUIAN``, with no counties listed under it). Each region carries its 2020 green-mine quota.

>>> divisions = load_divisions()
>>> divisions.regions["520200"].name
'六盘水市'
>>> divisions.counties["520201"].region_code
'520200'
>>> sum(r.green_mine_quota_2020 for r in divisions.regions.values())
800
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache

from minewatch.paths import DATA

PROVINCE_CODE = "520000"
PROVINCE_NAME = "贵州省"


@dataclass(frozen=True, slots=True)
class Region:
    code: str
    name: str
    green_mine_quota_2020: int


@dataclass(frozen=True, slots=True)
class County:
    code: str
    name: str
    region_code: str


@dataclass(frozen=True, slots=True)
class Divisions:
    regions: dict[str, Region]
    counties: dict[str, County]

    def counties_of(self, region_code: str) -> list[County]:
        return [c for c in self.counties.values() if c.region_code == region_code]


@cache
def load_divisions() -> Divisions:
    folder = DATA / "regions"
    with (folder / "guizhou_regions.csv").open(encoding="utf-8") as f:
        regions = {
            row["region_code"]: Region(row["region_code"], row["region_name"], int(row["green_mine_quota_2020"]))
            for row in csv.DictReader(f)
        }
    with (folder / "guizhou_counties.csv").open(encoding="utf-8") as f:
        counties = {
            row["county_code"]: County(row["county_code"], row["county_name"], row["region_code"])
            for row in csv.DictReader(f)
        }
    return Divisions(regions, counties)
