"""Slope detector settings (data/slope/settings.yaml), with per-point overrides from the registry.

A point's registry entry may carry ``slope_config`` (``item``, ``azimuth_deg``, ``plunge_deg``,
``v_const_mm_per_day``, ``rate_reference``, ``piezo_rise_m_per_day``, ``velocity_window_h``).

>>> s = SlopeSettings.load()
>>> s.interval_s, s.blue_band, s.red_from, s.promote
(600.0, (40.0, 50.0), 85.0, {'blue': 4, 'yellow': 3, 'orange': 2})
>>> PointConfig.of("SL01-P01", {"azimuth_deg": 90, "plunge_deg": 0}).item
'gnss'
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import Any

import yaml

from minewatch.paths import DATA

SETTINGS_FILE = DATA / "slope" / "settings.yaml"

# Default trailing window of the velocity regression, by monitoring item: long enough that the
# sensor's noise does not swamp mm/d rates (GNSS: a few mm; crack meters, radar: tenths of mm).
VELOCITY_WINDOW_H = {"gnss": 72.0, "incl": 24.0, "crack": 24.0, "radar": 24.0, "piezo": 24.0}
ITEM_OF_PARAMETER = {
    "gnss_e": "gnss",
    "gnss_n": "gnss",
    "gnss_u": "gnss",
    "incl_a": "incl",
    "incl_b": "incl",
    "crack": "crack",
    "radar_los": "radar",
    "piezo": "piezo",
}


def _value(node: Any) -> Any:
    return node["value"] if isinstance(node, dict) and "value" in node else node


@dataclass(frozen=True)
class SlopeSettings:
    interval_s: float
    history_samples: int
    threshold_sigma: float
    noise_floor_mm: float
    decide_after: int
    smoothing_sigma: float
    acceleration_window: int
    reference_days: float
    v_const_floor: float
    blue_band: tuple[float, float]
    orange_from: float
    red_from: float
    red_requires_increasing_velocity: bool
    persistence_k: int
    persistence_m: int
    rate_reference: dict[str, tuple[float, str]]
    onset_z: float
    onset_confirmations: int
    min_points: int
    min_r2: float
    confidence_level: float
    red_within_h: float
    orange_within_h: float
    id_threshold: tuple[float, float]
    id_durations_h: tuple[float, ...]
    rainstorm_24h_mm: float
    promote: dict[str, int]
    items_blue_make_yellow: int
    red_needs_points: int
    alert_from: str = "yellow"

    @classmethod
    def load(cls) -> SlopeSettings:
        return _load()


@cache
def _load() -> SlopeSettings:
    d = yaml.safe_load(SETTINGS_FILE.read_text(encoding="utf-8"))
    ta, inv, rain, roll = d["tangent_angle"], d["inverse_velocity"], d["rainfall"], d["rollup"]
    return SlopeSettings(
        interval_s=float(_value(d["assessment"]["interval_s"])),
        history_samples=int(_value(d["assessment"]["history_samples"])),
        threshold_sigma=float(_value(d["cleaning"]["threshold_sigma"])),
        noise_floor_mm=float(_value(d["cleaning"]["noise_floor_mm"])),
        decide_after=int(_value(d["cleaning"]["decide_after"])),
        smoothing_sigma=float(_value(d["smoothing"]["sigma_samples"])),
        acceleration_window=int(_value(d["velocity"]["acceleration_window"])),
        reference_days=float(_value(ta["reference_days"])),
        v_const_floor=float(_value(ta["v_const_floor_mm_per_day"])),
        blue_band=tuple(_value(ta["blue_band_deg"])),  # type: ignore[arg-type]
        orange_from=float(_value(ta["orange_from_deg"])),
        red_from=float(_value(ta["red_from_deg"])),
        red_requires_increasing_velocity=bool(_value(ta["red_requires_increasing_velocity"])),
        persistence_k=int(ta["persistence"]["k"]),
        persistence_m=int(ta["persistence"]["m"]),
        rate_reference={
            kind: (float(_value(v["velocity_mm_per_day"])), str(_value(v["level"])))
            for kind, v in d["rate_reference"].items()
        },
        onset_z=float(_value(inv["onset_z"])),
        onset_confirmations=int(_value(inv["onset_confirmations"])),
        min_points=int(_value(inv["min_points"])),
        min_r2=float(_value(inv["min_r2"])),
        confidence_level=float(_value(inv["confidence_level"])),
        red_within_h=float(_value(inv["red_within_hours"])),
        orange_within_h=float(_value(inv["orange_within_hours"])),
        id_threshold=(float(rain["id_threshold"]["a"]), float(rain["id_threshold"]["b"])),
        id_durations_h=tuple(float(x) for x in _value(rain["id_durations_h"])),
        rainstorm_24h_mm=float(_value(rain["rainstorm_24h_mm"])),
        promote={k: int(v) for k, v in roll["promote"].items() if k != "confidence"},
        items_blue_make_yellow=int(_value(roll["items_blue_make_yellow"])),
        red_needs_points=int(_value(roll["red_needs_points"])),
        alert_from=str(_value(d["alerts"]["from_level"])),
    )


@dataclass(frozen=True)
class PointConfig:
    """How one monitoring point is read and judged."""

    point_id: str
    item: str = "gnss"  # gnss | incl | crack | radar | piezo
    azimuth_deg: float | None = None  # sliding direction, clockwise from north (GNSS)
    plunge_deg: float = 0.0  # sliding direction below horizontal (GNSS)
    v_const: float | None = None  # constant-stage rate (mm/d); estimated if None
    rate_reference: str | None = None  # pit_slope | dump_slope (GB 51214-2017 reference values)
    piezo_rise_m_per_day: float | None = None
    velocity_window_h: float | None = None

    @classmethod
    def of(cls, point_id: str, config: dict[str, Any] | None, parameters: tuple[str, ...] = ()) -> PointConfig:
        config = dict(config or {})
        item = config.get("item") or next((ITEM_OF_PARAMETER[p] for p in parameters if p in ITEM_OF_PARAMETER), "gnss")
        return cls(
            point_id=point_id,
            item=item,
            azimuth_deg=None if config.get("azimuth_deg") is None else float(config["azimuth_deg"]),
            plunge_deg=float(config.get("plunge_deg", 0.0)),
            v_const=None if config.get("v_const_mm_per_day") is None else float(config["v_const_mm_per_day"]),
            rate_reference=config.get("rate_reference"),
            piezo_rise_m_per_day=(
                None if config.get("piezo_rise_m_per_day") is None else float(config["piezo_rise_m_per_day"])
            ),
            velocity_window_h=None if config.get("velocity_window_h") is None else float(config["velocity_window_h"]),
        )

    @property
    def window_h(self) -> float:
        return self.velocity_window_h or VELOCITY_WINDOW_H.get(self.item, 24.0)

    def displacement(self, means: dict[str, float]) -> tuple[float | None, str]:
        """The signed displacement along the sliding direction from an interval's parameter means."""
        if self.item == "gnss":
            if not {"gnss_e", "gnss_n"} <= means.keys():
                return None, "GNSS east and north are both needed"
            if self.azimuth_deg is None:  # METHODS.md §1.1: the resultant is biased upward by noise
                resultant = math.hypot(means["gnss_e"], means["gnss_n"])
                return resultant, "sliding direction not configured: horizontal resultant used"
            az, pl = math.radians(self.azimuth_deg), math.radians(self.plunge_deg)
            horizontal = means["gnss_e"] * math.sin(az) + means["gnss_n"] * math.cos(az)
            return horizontal * math.cos(pl) - means.get("gnss_u", 0.0) * math.sin(pl), ""
        parameter = {"incl": "incl_a", "crack": "crack", "radar": "radar_los", "piezo": "piezo"}[self.item]
        if parameter not in means:
            return None, f"no {parameter} in the interval"
        return means[parameter], ""
