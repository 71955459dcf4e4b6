"""Rainfall as a trigger: cumulative totals and intensity–duration thresholds raise attention on
the slopes a rain gauge serves; a rainstorm day raises yellow.

Intensity–duration threshold I = a · D^(−b) (I mm/h, D h; data/slope/settings.yaml gives the
curve and its standing: no Guizhou curve was found). For every duration D the mean intensity of
the last D hours, I_D = R_D / D, is compared with the curve; reaching it is attention (blue).
A 24-hour total at the rainstorm class (暴雨) is yellow, as the tailings code maps it. Rainfall
is a trigger, not a deformation: it never raises more than yellow on its own (METHODS.md §7).

>>> gauge = RainGauge(id_threshold=(2.20, 0.44), durations_h=(1, 3, 24), rainstorm_24h_mm=50.0)
>>> gauge.update(0.0, 1.0).level                       # 1 mm in an hour: below the curve
'none'
>>> gauge.update(3600.0, 5.0).level, gauge.update(7200.0, 12.0).reasons[0]
('blue', 'I over 1 h 12.0 mm/h >= 2.20 mm/h (I = 2.20·D^-0.44)')
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class RainAssessment:
    t: float
    totals_mm: dict[float, float]  # hours -> total over the last hours
    level: str
    reasons: tuple[str, ...]


@dataclass
class RainGauge:
    id_threshold: tuple[float, float] = (2.20, 0.44)
    durations_h: tuple[float, ...] = (1, 3, 6, 12, 24, 48, 72)
    rainstorm_24h_mm: float = 50.0
    samples: deque[tuple[float, float]] = field(default_factory=deque)

    def update(self, t: float, rain_mm: float) -> RainAssessment:
        """Rain fallen in the interval ending at ``t``."""
        self.samples.append((t, max(rain_mm, 0.0)))
        horizon = max(*self.durations_h, 24.0) * 3600.0
        while self.samples and self.samples[0][0] <= t - horizon:
            self.samples.popleft()
        totals = {d: sum(r for ts, r in self.samples if ts > t - d * 3600.0) for d in (*self.durations_h, 24.0)}
        a, b = self.id_threshold
        reasons = []
        level = "none"
        for d in self.durations_h:
            intensity, threshold = totals[d] / d, a * d ** (-b)
            if totals[d] > 0 and intensity >= threshold:
                reasons.append(f"I over {d:g} h {intensity:.1f} mm/h >= {threshold:.2f} mm/h (I = {a:.2f}·D^-{b:g})")
                level = "blue"
        if totals[24.0] >= self.rainstorm_24h_mm:
            reasons.insert(0, f"{totals[24.0]:.1f} mm in 24 h: rainstorm (暴雨) class")
            level = "yellow"
        return RainAssessment(t, totals, level, tuple(reasons))

    def state(self) -> dict[str, object]:
        return {"samples": list(self.samples)}

    def restore(self, state: dict) -> None:
        self.samples.extend(tuple(s) for s in state.get("samples", []))
