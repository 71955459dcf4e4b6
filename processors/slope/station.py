"""One station of a slope: a deformation point, a piezometer or a rain gauge, fed interval
samples, keeping its state as JSON. The worker and ``minewatch slope analyze`` both use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from processors.slope.piezometer import PiezometerWatch
from processors.slope.point import Assessment, PointMonitor
from processors.slope.rainfall import RainAssessment, RainGauge
from processors.slope.settings import PointConfig, SlopeSettings


@dataclass(frozen=True, slots=True)
class PiezoAssessment:
    t: float
    level_m: float
    level: str
    reason: str


Result = Assessment | RainAssessment | PiezoAssessment


class StationWatch:
    def __init__(self, kind: str, config: PointConfig, settings: SlopeSettings, state: dict[str, Any] | None = None):
        self.kind = "rain" if kind == "rain" else ("piezo" if config.item == "piezo" else "point")
        self.config = config
        self.settings = settings
        self.last_t: float | None = None if state is None else state.get("last_t")
        if self.kind == "rain":
            self.rain = RainGauge(settings.id_threshold, settings.id_durations_h, settings.rainstorm_24h_mm)
            if state:
                self.rain.restore(state["rain"])
        elif self.kind == "piezo":
            self.piezo = PiezometerWatch(config.piezo_rise_m_per_day or float("inf"))
            if state:
                self.piezo.restore(state["piezo"])
        else:
            self.point = (
                PointMonitor.restore(config, settings, state["point"]) if state else PointMonitor(config, settings)
            )

    def update(self, t: float, means: dict[str, float], totals: dict[str, float]) -> tuple[list[Result], str]:
        """Feed the interval ending at ``t``; returns the results and a note (why nothing came)."""
        self.last_t = t
        if self.kind == "rain":
            if "rain" not in totals:
                return [], "no rain gauge data in the interval"
            return [self.rain.update(t, totals["rain"])], ""
        if self.kind == "piezo":
            if "piezo" not in means:
                return [], "no piezometer data in the interval"
            level, reason = self.piezo.update(t, means["piezo"])
            return [PiezoAssessment(t, means["piezo"], level, reason)], ""
        displacement, note = self.config.displacement(means)
        if displacement is None:
            return [], note
        return list(self.point.update(t, displacement)), note

    def state(self) -> dict[str, Any]:
        body: dict[str, Any] = {"last_t": self.last_t}
        if self.kind == "rain":
            body["rain"] = self.rain.state()
        elif self.kind == "piezo":
            body["piezo"] = self.piezo.state()
        else:
            body["point"] = self.point.state()
        return body
