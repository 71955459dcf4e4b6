"""Explicit unit conversion. A value is only ever compared in the unit a limit states.

HJ 212-2017 reports several metals in µg/L (Hg, Cd, Cr(VI), As, Pb) while the discharge
standards state mg/L; converting between them is a factor of 1000 that must never be
applied silently, so every conversion goes through :func:`convert`, which refuses pairs
it does not know.

>>> convert(250.0, "µg/L", "mg/L")
0.25
>>> convert(0.05, "mg/L", "ug/L")
50.0
>>> convert(3.6, "m3/h", "L/s")
1.0
>>> convert(1.0, "mg/L", "mg/m3")
Traceback (most recent call last):
...
minewatch.units.UnitMismatch: cannot convert mg/L to mg/m3
"""

from __future__ import annotations


class UnitMismatch(ValueError):
    """The two units measure different things, or minewatch does not know the conversion."""


# Spellings devices use for the same unit, mapped to the one minewatch writes.
_ALIASES = {
    "ug/L": "µg/L",
    "μg/L": "µg/L",
    "ug/l": "µg/L",
    "µg/l": "µg/L",
    "mg/l": "mg/L",
    "ng/l": "ng/L",
    "ug/m3": "µg/m3",
    "μg/m3": "µg/m3",
    "mg/Nm3": "mg/m3",
    "mg/m³": "mg/m3",
    "µg/m³": "µg/m3",
    "m³/h": "m3/h",
    "m³/s": "m3/s",
    "pH": "dimensionless",
    "无量纲": "dimensionless",
    "℃": "°C",
    "degC": "°C",
}

# (dimension, factor to the dimension's base unit)
_UNITS: dict[str, tuple[str, float]] = {
    "mg/L": ("mass_concentration_water", 1.0),
    "µg/L": ("mass_concentration_water", 1e-3),
    "ng/L": ("mass_concentration_water", 1e-6),
    "mg/m3": ("mass_concentration_gas", 1.0),
    "µg/m3": ("mass_concentration_gas", 1e-3),
    "m3/s": ("volume_flow", 1.0),
    "m3/h": ("volume_flow", 1.0 / 3600.0),
    "L/s": ("volume_flow", 1e-3),
}


def canonical(unit: str) -> str:
    """The spelling minewatch uses for ``unit``."""
    return _ALIASES.get(unit, unit)


def convert(value: float, from_unit: str, to_unit: str) -> float:
    """``value`` expressed in ``to_unit``; raises :class:`UnitMismatch` for unknown pairs."""
    if from_unit == to_unit:  # nearly every reading: its device sends the unit the limits use
        return value
    src, dst = canonical(from_unit), canonical(to_unit)
    if src == dst:
        return value
    try:
        src_dim, src_factor = _UNITS[src]
        dst_dim, dst_factor = _UNITS[dst]
    except KeyError:
        raise UnitMismatch(f"cannot convert {from_unit} to {to_unit}") from None
    if src_dim != dst_dim:
        raise UnitMismatch(f"cannot convert {from_unit} to {to_unit}")
    return round(value * src_factor / dst_factor, 12)


def convertible(from_unit: str, to_unit: str) -> bool:
    try:
        convert(1.0, from_unit, to_unit)
    except UnitMismatch:
        return False
    return True
