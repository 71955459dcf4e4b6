"""The mine registry: which mines exist, where they are, and what each station measures.

A registry is a YAML (or JSON) file::

    version: 1
    mines:
    - id: GZ520201-0001              # upper-case letters, digits and '-'; used in MQTT topics
      name: 钟山区示例煤矿
      region_code: '520200'          # data/regions/guizhou_regions.csv
      county_code: '520201'          # data/regions/guizhou_counties.csv; null in 贵安新区 (GUIAN)
      mineral: coal
      scale: medium                  # large | medium | small
      mining_method: underground     # underground | open_pit
      stations:
      - id: WW01
        kind: wastewater             # wastewater | emission | slope | rain
        name: 总排口
        limit_sets: [gb8978_t1_first_class, gb8978_t4_post1998_grade1]   # data/limits/limits.yaml
        limit_scope: mining          # which scope row of a limit table applies (processors/limits.py)
        receiving_water: III         # what the permit's choice of grade rests on (GB 8978-1996 cl. 4.1)
        built: '2008-05-01'          # EIA approval date: which table applies (cl. 4.2.2)
        interval_s: 60               # reporting interval: offline after 5 missed (data/quality.yaml)
        sensors:
        - {parameter: w01018, unit: mg/L, range: [0, 1000]}
      - id: SL01-P01
        kind: slope
        slope_id: SL01               # the slope or structure this point belongs to
        slope_config: {item: gnss, azimuth_deg: 135, plunge_deg: 25, v_const_mm_per_day: 0.5}
        sensors:
        - {parameter: gnss_e, unit: mm}

>>> registry = Registry.from_dict({"version": 1, "mines": [{
...     "id": "GZ520201-0001", "name": "demo", "region_code": "520200", "county_code": "520201",
...     "mineral": "coal", "stations": [{"id": "WW01", "kind": "wastewater",
...     "sensors": [{"parameter": "w01018", "unit": "mg/L"}]}]}]})
>>> registry.mine("GZ520201-0001").station("WW01").kind
'wastewater'
>>> registry.mine("GZ999999-0001") is None
True
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from minewatch.topics import TELEMETRY_KINDS


class RegistryError(ValueError):
    """The registry file is malformed; the message names the entry."""


@dataclass(frozen=True, slots=True)
class Sensor:
    parameter: str
    unit: str
    range: tuple[float, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"parameter": self.parameter, "unit": self.unit}
        if self.range is not None:
            d["range"] = list(self.range)
        return d


@dataclass(frozen=True, slots=True)
class Hj212Link:
    """How a station's online monitor (data logger) speaks HJ 212 to the gateway."""

    mn: str  # the device's unique id (MN)
    pw_sha256: str  # SHA-256 (hex) of its access password (PW); the password itself is never stored
    crc: str = "hj212"  # legacy firmware: the CRC variant it sends (modbus, modbus-swapped, zero, ffff)
    min_interval_min: int = 1  # the device's MinInterval: what one minute-data (2051) packet covers

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"mn": self.mn, "pw_sha256": self.pw_sha256}
        if self.crc != "hj212":
            d["crc"] = self.crc
        if self.min_interval_min != 1:
            d["min_interval_min"] = self.min_interval_min
        return d


@dataclass(frozen=True, slots=True)
class Station:
    id: str
    kind: str
    name: str = ""
    sensors: tuple[Sensor, ...] = ()
    limit_sets: tuple[str, ...] = ()
    limit_scope: str = "mining"
    slope_id: str | None = None
    interval_s: float | None = None  # how often the station reports; offline after several missed
    receiving_water: str | None = None  # GB 3838 class (I-V) or "sewer": decides GB 8978's grade
    built: str | None = None  # EIA approval date (ISO): decides GB 8978's and GB 16297's table
    slope_config: dict[str, Any] | None = None  # how a slope point is read (processors/slope/settings.py)
    hj212: Hj212Link | None = None  # its monitor reports over HJ 212 (hj212/gateway.py)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "kind": self.kind, "name": self.name}
        if self.limit_sets:
            d["limit_sets"] = list(self.limit_sets)
            d["limit_scope"] = self.limit_scope
        if self.slope_id:
            d["slope_id"] = self.slope_id
        if self.interval_s is not None:
            d["interval_s"] = self.interval_s
        if self.receiving_water is not None:
            d["receiving_water"] = self.receiving_water
        if self.built is not None:
            d["built"] = self.built
        if self.slope_config:
            d["slope_config"] = dict(self.slope_config)
        if self.hj212 is not None:
            d["hj212"] = self.hj212.to_dict()
        d["sensors"] = [s.to_dict() for s in self.sensors]
        return d


@dataclass(frozen=True, slots=True)
class Mine:
    id: str
    name: str
    region_code: str
    county_code: str | None
    mineral: str
    scale: str = "small"
    mining_method: str = "underground"
    stations: dict[str, Station] = field(default_factory=dict)

    def station(self, station_id: str) -> Station | None:
        return self.stations.get(station_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "region_code": self.region_code,
            "county_code": self.county_code,
            "mineral": self.mineral,
            "scale": self.scale,
            "mining_method": self.mining_method,
            "stations": [s.to_dict() for s in self.stations.values()],
        }


@dataclass(frozen=True, slots=True)
class Registry:
    mines: dict[str, Mine]

    def mine(self, mine_id: str) -> Mine | None:
        return self.mines.get(mine_id)

    def __iter__(self) -> Iterator[Mine]:
        return iter(self.mines.values())

    def __len__(self) -> int:
        return len(self.mines)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Registry:
        if doc.get("version") != 1:
            raise RegistryError(f"unsupported registry version {doc.get('version')!r}; expected 1")
        mines: dict[str, Mine] = {}
        for raw in doc.get("mines") or []:
            mine = _mine_from_dict(raw)
            if mine.id in mines:
                raise RegistryError(f"mine {mine.id} appears twice")
            mines[mine.id] = mine
        devices: dict[str, str] = {}
        for mine in mines.values():
            for station in mine.stations.values():
                if station.hj212 is None:
                    continue
                here, mn = f"{mine.id}/{station.id}", station.hj212.mn
                if mn in devices:
                    raise RegistryError(f"HJ 212 MN {mn} belongs to {devices[mn]} and {here}")
                devices[mn] = here
        return cls(mines)

    def to_dict(self) -> dict[str, Any]:
        return {"version": 1, "mines": [m.to_dict() for m in self]}

    @classmethod
    def load(cls, path: str | Path) -> Registry:
        path = Path(path)
        text = path.read_text(encoding="utf-8")
        if path.suffix != ".json":
            # Built from PyYAML's tree directly, the registry's objects end up scattered over the
            # memory the parse took, which then cannot go back to the system: an 800-mine file
            # kept 164 MB resident in every process that loads it. Through JSON text, the
            # tree is gone before the registry is built: 48 MB.
            text = json.dumps(yaml.load(text, Loader=yaml.CSafeLoader), ensure_ascii=False, default=str)
            gc.collect()
        return cls.from_dict(json.loads(text))

    def dump(self, path: str | Path) -> None:
        path = Path(path)
        doc = self.to_dict()
        if path.suffix == ".json":
            text = json.dumps(doc, ensure_ascii=False, indent=1)
        else:
            text = yaml.dump(doc, Dumper=yaml.CSafeDumper, allow_unicode=True, sort_keys=False)
        path.write_text(text, encoding="utf-8")


def _mine_from_dict(raw: dict[str, Any]) -> Mine:
    try:
        mine_id = str(raw["id"])
        stations: dict[str, Station] = {}
        for s in raw.get("stations") or []:
            station = _station_from_dict(s)
            if station.id in stations:
                raise RegistryError(f"mine {mine_id}: station {station.id} appears twice")
            stations[station.id] = station
        county = raw.get("county_code")
        return Mine(
            id=mine_id,
            name=str(raw.get("name", "")),
            region_code=str(raw["region_code"]),
            county_code=None if county is None else str(county),
            mineral=str(raw.get("mineral", "unknown")),
            scale=str(raw.get("scale", "small")),
            mining_method=str(raw.get("mining_method", "underground")),
            stations=stations,
        )
    except KeyError as missing:
        raise RegistryError(f"mine {raw.get('id', '?')}: missing field {missing}") from None


def _station_from_dict(raw: dict[str, Any]) -> Station:
    kind = raw["kind"]
    if kind not in TELEMETRY_KINDS:
        raise RegistryError(f"station {raw['id']}: kind {kind!r} is not one of {TELEMETRY_KINDS}")
    sensors = tuple(
        Sensor(
            parameter=str(s["parameter"]),
            unit=str(s["unit"]),
            range=None if s.get("range") is None else (float(s["range"][0]), float(s["range"][1])),
        )
        for s in raw.get("sensors") or []
    )
    return Station(
        id=str(raw["id"]),
        kind=kind,
        name=str(raw.get("name", "")),
        sensors=sensors,
        limit_sets=tuple(raw.get("limit_sets") or ()),
        limit_scope=str(raw.get("limit_scope", "mining")),
        slope_id=raw.get("slope_id"),
        interval_s=None if raw.get("interval_s") is None else float(raw["interval_s"]),
        receiving_water=None if raw.get("receiving_water") is None else str(raw["receiving_water"]),
        built=None if raw.get("built") is None else str(raw["built"]),
        slope_config=dict(raw["slope_config"]) if raw.get("slope_config") else None,
        hj212=_hj212_from_dict(raw["id"], raw["hj212"]) if raw.get("hj212") else None,
    )


def _hj212_from_dict(station_id: str, raw: dict[str, Any]) -> Hj212Link:
    try:
        link = Hj212Link(
            mn=str(raw["mn"]),
            pw_sha256=str(raw["pw_sha256"]).lower(),
            crc=str(raw.get("crc", "hj212")),
            min_interval_min=int(raw.get("min_interval_min", 1)),
        )
    except KeyError as missing:
        raise RegistryError(f"station {station_id}: hj212 needs {missing}") from None
    if link.crc not in ("hj212", "modbus", "modbus-swapped", "zero", "ffff"):
        raise RegistryError(f"station {station_id}: hj212 crc {link.crc!r} is not a known variant")
    if len(link.pw_sha256) != 64:
        raise RegistryError(f"station {station_id}: hj212 pw_sha256 must be a SHA-256 in hex (64 characters)")
    return link
