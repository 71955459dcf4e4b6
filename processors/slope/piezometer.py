"""Piezometric (phreatic) level: a rise faster than the point's configured rate raises attention.

No universal threshold exists (METHODS.md §8); tailings codes set depth thresholds per dam. A
point with ``piezo_rise_m_per_day`` in its registry entry is watched: when the level has risen
more than that over the last 24 hours, attention (blue); at twice that, yellow.

>>> watch = PiezometerWatch(rise_m_per_day=0.5)
>>> [watch.update(h * 3600.0, 10.0 + 0.03 * h)[0] for h in (0, 12, 24, 30)]
['none', 'none', 'blue', 'blue']
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass
class PiezometerWatch:
    rise_m_per_day: float
    samples: deque[tuple[float, float]] = field(default_factory=deque)

    def update(self, t: float, level_m: float) -> tuple[str, str]:
        self.samples.append((t, level_m))
        while self.samples and self.samples[0][0] < t - 86400.0:
            self.samples.popleft()
        rise = level_m - min(v for _, v in self.samples)
        if rise >= 2 * self.rise_m_per_day:
            return "yellow", f"phreatic level up {rise:.2f} m in 24 h (twice the point's {self.rise_m_per_day:g} m/d)"
        if rise >= self.rise_m_per_day:
            return "blue", f"phreatic level up {rise:.2f} m in 24 h (point's threshold {self.rise_m_per_day:g} m/d)"
        return "none", ""

    def state(self) -> dict[str, object]:
        return {"samples": list(self.samples)}

    def restore(self, state: dict) -> None:
        self.samples.extend(tuple(s) for s in state.get("samples", []))
