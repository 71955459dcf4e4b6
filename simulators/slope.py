"""Synthetic slope displacement with known truth, for tests, the benchmark and the simulator.

Clearly synthetic, not data (METHODS.md, "Synthetic test-signal recipe"):

* :class:`StableCreep` — constant rate v0 (mm/d);
* :class:`RainDrivenSurge` — constant creep that speeds up by ``factor`` during a rainy spell and
  recovers after it (the rate returns to v0 with time constant ``recovery_days``);
* :class:`ProgressiveFailure` — constant creep v0 until ``onset``, then Voight's law with α = 2,
  1/v = A (t_f − t), continuous in velocity at the onset (A = 1 / (v0 (t_f − t_onset))):
  S = S_on − (1/A) ln((t_f − t) / (t_f − t_onset)). Its failure time ``t_failure`` is the truth a
  forecast is scored against.

Times are epoch seconds, displacements mm, rates mm/d.

>>> f = ProgressiveFailure(v0=1.0, onset=0.0, t_failure=10 * 86400.0)
>>> round(f.velocity(0.0), 6), round(f.velocity(9 * 86400.0), 6)       # 1 mm/d at the onset, 10 a day before failure
(1.0, 10.0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

DAY = 86400.0


@dataclass(frozen=True)
class StableCreep:
    v0: float = 0.5
    start: float = 0.0

    def displacement(self, t: float) -> float:
        return self.v0 * (t - self.start) / DAY

    def velocity(self, t: float) -> float:
        return self.v0


@dataclass(frozen=True)
class RainDrivenSurge:
    v0: float = 0.5
    rain_start: float = 10 * DAY
    rain_end: float = 14 * DAY
    factor: float = 4.0
    recovery_days: float = 3.0
    start: float = 0.0

    def velocity(self, t: float) -> float:
        if t < self.rain_start:
            return self.v0
        if t < self.rain_end:
            ramp = 1 - math.exp(-(t - self.rain_start) / DAY)
            return self.v0 * (1 + (self.factor - 1) * ramp)
        peak = self.velocity(self.rain_end - 1e-6)
        return self.v0 + (peak - self.v0) * math.exp(-(t - self.rain_end) / (self.recovery_days * DAY))

    def displacement(self, t: float) -> float:
        steps = max(1, int((t - self.start) / 3600.0))
        dt = (t - self.start) / steps
        return sum(self.velocity(self.start + (i + 0.5) * dt) for i in range(steps)) * dt / DAY


@dataclass(frozen=True)
class ProgressiveFailure:
    v0: float = 1.0
    onset: float = 10 * DAY
    t_failure: float = 20 * DAY
    start: float = 0.0

    @property
    def a(self) -> float:
        return 1.0 / (self.v0 * (self.t_failure - self.onset) / DAY)

    def velocity(self, t: float) -> float:
        if t < self.onset:
            return self.v0
        return 1.0 / (self.a * (self.t_failure - t) / DAY)

    def displacement(self, t: float) -> float:
        s_on = self.v0 * (self.onset - self.start) / DAY
        if t < self.onset:
            return self.v0 * (t - self.start) / DAY
        t = min(t, self.t_failure - 60.0)
        return s_on - (1.0 / self.a) * math.log((self.t_failure - t) / (self.t_failure - self.onset))
