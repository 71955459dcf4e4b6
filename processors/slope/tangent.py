"""The improved tangential angle (改进切线角, Xu Qiang et al. 2009) and its four levels.

With S the cumulative displacement along the sliding direction and v the rate of the
constant-rate (等速) stage, T = S / v has the dimension of time, and

    α_i = arctan((T_i − T_{i−1}) / (t_i − t_{i−1})) = arctan(v_i / v)

so α is the current rate relative to the constant-stage rate, seen as an angle: 45° at the
constant rate, towards 90° as the slope accelerates. Levels (JWCN 2021 Table 1, verified):
α ≈ 45° blue (注意), 45° < α < 80° yellow (警示), 80° ≤ α < 85° orange (警戒), α ≥ 85° red (警报);
below the blue band the slope is decelerating (no warning). The width of "≈ 45°" is minewatch's
choice (data/slope/settings.yaml: blue_band_deg), as is the persistence rule.

The angle is computed from the ratio r = v_i / v (numerically stable) and reported in degrees.

>>> angle = TangentAngle(blue_band=(40.0, 50.0), orange_from=80.0, red_from=85.0)
>>> [angle.level_of(r) for r in (0.5, 1.0, 1.3, 6.0, 12.0)]
['none', 'blue', 'yellow', 'orange', 'red']
>>> round(alpha_deg(5.671), 1), round(alpha_deg(11.43), 1)
(80.0, 85.0)
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from processors.slope.levels import LEVELS, rank


def alpha_deg(ratio: float) -> float:
    """α in degrees for r = v_i / v (r may be negative: the slope moving back, α < 0)."""
    return math.degrees(math.atan(ratio))


@dataclass(frozen=True)
class TangentAngle:
    blue_band: tuple[float, float] = (40.0, 50.0)
    orange_from: float = 80.0
    red_from: float = 85.0

    def level_of(self, ratio: float) -> str:
        a = alpha_deg(ratio)
        if a >= self.red_from:
            return "red"
        if a >= self.orange_from:
            return "orange"
        if a > self.blue_band[1]:
            return "yellow"
        if a >= self.blue_band[0]:
            return "blue"
        return "none"


@dataclass
class Persistence:
    """A level holds when at least ``k`` of the last ``m`` evaluations reach it.

    >>> p = Persistence(k=3, m=5)
    >>> [p.update(x) for x in ("red", "none", "red", "red", "none", "none", "none")]
    ['none', 'none', 'none', 'red', 'red', 'none', 'none']
    """

    k: int = 3
    m: int = 5
    history: deque[str] = field(default_factory=deque)

    def update(self, level: str) -> str:
        self.history.append(level)
        while len(self.history) > self.m:
            self.history.popleft()
        for candidate in reversed(LEVELS):
            if sum(1 for x in self.history if rank(x) >= rank(candidate)) >= self.k:
                return candidate
        return "none"
