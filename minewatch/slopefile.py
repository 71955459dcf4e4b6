"""``minewatch slope analyze FILE.csv``: the slope detectors over a file, offline.

Columns (a header row; names are matched loosely): ``time`` (ISO 8601 with offset, or epoch
seconds), ``point`` (point id), ``displacement`` (mm along the sliding direction), and
optionally ``rainfall`` (mm fallen since the previous row). Samples are grouped into intervals
(10 minutes by default) exactly as the worker groups minute aggregates, and each point goes
through the same :class:`processors.slope.station.StationWatch`. Output: JSON lines, one per
assessment, then one ``final`` line per point and one ``slope`` line for the points together.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from processors.slope.intervals import interval_start, interval_values, minutes_of
from processors.slope.point import Assessment
from processors.slope.rainfall import RainAssessment
from processors.slope.rollup import Point, rollup
from processors.slope.settings import PointConfig, SlopeSettings
from processors.slope.station import StationWatch
from processors.windows import CST

_COLUMNS = {
    "time": ("time", "t", "ts", "timestamp", "datetime"),
    "point": ("point", "point_id", "station", "station_id", "id"),
    "displacement": ("displacement", "displacement_mm", "s", "value"),
    "rainfall": ("rainfall", "rainfall_mm", "rain", "rain_mm"),
}


class SlopeFileError(ValueError):
    pass


def _column(header: list[str], name: str, required: bool) -> str | None:
    lowered = {h.strip().lower(): h for h in header}
    for alias in _COLUMNS[name]:
        if alias in lowered:
            return lowered[alias]
    if required:
        raise SlopeFileError(f"no {name} column (accepted names: {', '.join(_COLUMNS[name])})")
    return None


def _time(text: str, line: int) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        stamp = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise SlopeFileError(f"line {line}: time {text!r} is neither ISO 8601 nor epoch seconds") from exc
    if stamp.tzinfo is None:
        raise SlopeFileError(f"line {line}: time {text!r} has no offset (Beijing time is +08:00)")
    return stamp.timestamp()


def read(path: Path) -> tuple[dict[str, list[tuple[float, float]]], list[tuple[float, float]]]:
    rows = csv.DictReader(io.StringIO(path.read_text(encoding="utf-8")))
    header = rows.fieldnames or []
    t_col, p_col = _column(header, "time", True), _column(header, "point", True)
    d_col, r_col = _column(header, "displacement", True), _column(header, "rainfall", False)
    points: dict[str, list[tuple[float, float]]] = {}
    rain: list[tuple[float, float]] = []
    for line, row in enumerate(rows, start=2):
        t = _time(row[t_col], line)  # type: ignore[index]
        value = row[d_col].strip()  # type: ignore[index]
        if value:
            points.setdefault(row[p_col].strip(), []).append((t, float(value)))  # type: ignore[index]
        if r_col and row[r_col].strip():
            rain.append((t, float(row[r_col])))
    return points, rain


def analyze(
    path: Path, *, item: str = "crack", v_const: float | None = None, settings: SlopeSettings | None = None
) -> Iterator[dict[str, Any]]:
    settings = settings or SlopeSettings.load()
    points, rain = read(path)
    interval = settings.interval_s
    finals: list[Point] = []
    config = {"item": item, "v_const_mm_per_day": v_const}
    for point_id, samples in sorted(points.items()):
        watch = StationWatch("slope", PointConfig.of(point_id, config), settings)
        last: Assessment | None = None
        for end, means, _ in _intervals(samples, interval):
            parameter = {"gnss": "gnss_e", "incl": "incl_a", "radar": "radar_los"}.get(item, item)
            results, _ = watch.update(end, {parameter: means} if means is not None else {}, {})
            for a in results:
                assert isinstance(a, Assessment)
                last = a
                yield {"type": "assessment", "point": point_id, **_times(a.to_dict())}
        finals.append(Point(point_id, item, last.level if last else "none"))
        yield {
            "type": "final",
            "point": point_id,
            "level": last.level if last else "none",
            "forecast": _times(last.to_dict())["forecast"] if last else None,
        }
    if rain:
        gauge = StationWatch("rain", PointConfig.of("rain", {}), settings)
        assessment: RainAssessment | None = None
        for end, _, total in _intervals(rain, interval):
            for r in gauge.update(end, {}, {"rain": total})[0]:
                assert isinstance(r, RainAssessment)
                assessment = r
        if assessment is not None:
            finals.append(Point("rain", "rain", assessment.level))
            yield {
                "type": "rainfall",
                "level": assessment.level,
                "reasons": list(assessment.reasons),
                "totals_mm": {f"{h:g}h": v for h, v in assessment.totals_mm.items()},
            }
    verdict = rollup(
        finals,
        promote=settings.promote,
        items_blue_make_yellow=settings.items_blue_make_yellow,
        red_needs_points=settings.red_needs_points,
    )
    yield {"type": "slope", "level": verdict.level, "items": verdict.items, "reasons": list(verdict.reasons)}


def _intervals(samples: list[tuple[float, float]], interval: float) -> Iterator[tuple[float, float | None, float]]:
    minutes = minutes_of(samples)
    if not minutes:
        return
    start, last = interval_start(min(minutes), interval), max(minutes)
    while start <= last:
        mean, total = interval_values(minutes, start, start + interval)
        yield start + interval, mean, total
        start += interval


def _times(d: dict[str, Any]) -> dict[str, Any]:
    """Epoch seconds shown as Beijing-time ISO strings."""
    out = dict(d)
    for key in ("t", "t_velocity"):
        if out.get(key) is not None:
            out[key] = datetime.fromtimestamp(out[key], CST).isoformat()
    f = out.get("forecast")
    if f:
        out["forecast"] = {
            k: (
                datetime.fromtimestamp(v, CST).isoformat()
                if k in ("t_failure", "low", "high") and v is not None and math.isfinite(v)
                else v
            )
            for k, v in f.items()
        }
    return out
