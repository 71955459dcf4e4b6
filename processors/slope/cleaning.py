"""Spikes and steps out, before any derivative (METHODS.md §1.2: a single spike makes a +/−
velocity pair and a huge apparent acceleration).

Each sample is compared with the prediction of a line fitted to the recent accepted samples;
the residual r is *suspect* when |r| > k·σ, where σ is the robust spread of recent residuals
(1.4826·MAD, floored at ``noise_floor``). A suspect sample is held, and decided once
``decide_after`` samples have been seen since the first suspect one:

* the later samples are back on the line → it was a **spike**: dropped;
* the later samples sit at a constant offset from the line (their residuals agree within k·σ)
  → a **step** (a sensor knocked, re-installed, re-initialised): the offset is removed from
  this sample on, and reported;
* the residuals keep growing → **real motion** (an acceleration): the held samples are
  accepted and the line is refitted to them.

Decisions therefore arrive ``decide_after`` samples late, and say so.

>>> cleaner = Cleaner(threshold_sigma=5.0, noise_floor=0.5, decide_after=3)
>>> out = []
>>> for i, s in enumerate([0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 50.0, 0.9, 1.0, 1.1, 1.2]):
...     out += cleaner.update(float(i), s)
>>> [round(c.value, 1) for c in out if c.t == 9.0], [c.note for c in out if c.note]
([0.9], ['spike of 49.2 mm rejected'])
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from statistics import median

from processors.slope.fitting import linear_fit


@dataclass(frozen=True, slots=True)
class Clean:
    """An accepted sample: time, displacement after step corrections, and what happened to it."""

    t: float
    value: float
    note: str = ""


@dataclass
class Cleaner:
    threshold_sigma: float = 5.0
    noise_floor: float = 0.5
    decide_after: int = 3
    fit_samples: int = 12
    offset: float = 0.0  # cumulative step corrections
    recent: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=12))
    residuals: deque[float] = field(default_factory=lambda: deque(maxlen=48))
    held: list[tuple[float, float]] = field(default_factory=list)

    def update(self, t: float, raw: float) -> list[Clean]:
        value = raw - self.offset
        if len(self.recent) < 4:
            self.recent.append((t, value))
            return [Clean(t, value)]
        predicted, sigma = self._prediction(t)
        residual = value - predicted
        if not self.held and abs(residual) <= self.threshold_sigma * sigma:
            self.residuals.append(residual)
            self.recent.append((t, value))
            return [Clean(t, value)]
        self.held.append((t, value))
        if len(self.held) <= self.decide_after:
            return []
        return self._decide()

    def _prediction(self, t: float) -> tuple[float, float]:
        ts, vs = zip(*self.recent, strict=True)
        fit = linear_fit(ts, vs)
        spread = 1.4826 * median(abs(r) for r in self.residuals) if len(self.residuals) >= 5 else 0.0
        return fit.at(t), max(spread, self.noise_floor)

    def _decide(self) -> list[Clean]:
        first_t, first_v = self.held[0]
        rest = self.held[1:]
        predicted, sigma = self._prediction(first_t)
        limit = self.threshold_sigma * sigma
        rest_residuals = [v - self._prediction(t)[0] for t, v in rest]
        self.held = []
        if all(abs(r) <= limit for r in rest_residuals):  # back on the line: a lone spike
            out = [Clean(first_t, predicted, f"spike of {first_v - predicted:.1f} mm rejected")]
            for t, v in rest:
                self.recent.append((t, v))
                out.append(Clean(t, v))
            return out
        step = first_v - predicted
        if all(abs(r - step) <= limit for r in rest_residuals):  # a constant offset: a step
            self.offset += step
            out = [Clean(first_t, first_v - step, f"step of {step:.1f} mm removed")]
            for t, v in rest:
                self.recent.append((t, v - step))
                out.append(Clean(t, v - step))
            return out
        self.recent.clear()  # the departure keeps changing: real motion; follow it
        out = []
        for t, v in [(first_t, first_v), *rest]:
            self.recent.append((t, v))
            out.append(Clean(t, v, "accepted after a sudden change" if t == first_t else ""))
        return out

    def state(self) -> dict[str, object]:
        return {
            "offset": self.offset,
            "recent": list(self.recent),
            "residuals": list(self.residuals),
            "held": list(self.held),
        }

    @classmethod
    def restore(cls, state: dict, **settings: float) -> Cleaner:
        cleaner = cls(**settings)  # type: ignore[arg-type]
        cleaner.offset = float(state["offset"])
        cleaner.recent.extend(tuple(p) for p in state["recent"])
        cleaner.residuals.extend(state["residuals"])
        cleaner.held = [tuple(p) for p in state["held"]]
        return cleaner
