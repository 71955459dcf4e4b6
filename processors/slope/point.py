"""One monitoring point, one sample at a time: clean, smooth, differentiate, judge, forecast.

For each interval sample (t, displacement along the sliding direction, mm):

1. spikes and steps are taken out (:mod:`processors.slope.cleaning`);
2. the cleaned displacement is smoothed with a causal Gaussian-weighted average (Sharifi et al.
   2022: better than a simple moving average);
3. the velocity (mm/d) is the slope of a trailing least-squares line, with its standard error,
   stamped at the window's centroid (a trailing window lags by half its length). The window
   adapts: it is the shortest that measures the rate to ``precision`` (10 %), given the
   sensor's noise σ (the cleaner's robust residual spread) and the sampling step Δ, since a
   line through n samples has SE(v) ≈ σ √(12 / (n³ Δ²)); never longer than the item's window
   (GNSS 72 h, crack meters and radar 24 h) nor shorter than 6 samples. Slow creep gets long,
   quiet windows; a fast acceleration gets short, current ones. The acceleration (mm/d²) is
   the slope of the recent velocities;
4. the improved tangential angle α = arctan(v / v_const) gives a level
   (:mod:`processors.slope.tangent`); a level above blue needs the rate's lower bound
   (v − 2·SE) to reach it, so noise alone does not escalate; red also needs the velocity to be
   still rising;
   v_const comes from the registry or, failing that, from a Theil–Sen rate over the first
   ``reference_days`` of data, frozen then (never below a floor);
5. an absolute rate significantly above the point's reference value (GB 51214-2017
   explanatory notes, reference values) raises its configured level;
6. inverse velocity: once the acceleration has been significant for a few samples, 1/v is fitted
   against time from that onset (the last time the rate was at the constant rate), and a
   meaningful forecast whose lower bound is near raises orange or red
   (:mod:`processors.slope.inverse_velocity`); a forecast counts only once the velocity has at
   least doubled since the onset, by more than its noise;
7. the point's level is the highest of these, held by the persistence rule (k of m).

The whole state round-trips through JSON (:meth:`PointMonitor.state`) so the worker can keep it
in the database.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from processors.slope.cleaning import Cleaner
from processors.slope.fitting import causal_gaussian, linear_fit, theil_sen
from processors.slope.inverse_velocity import Forecast, forecast
from processors.slope.levels import higher, rank
from processors.slope.settings import PointConfig, SlopeSettings
from processors.slope.tangent import Persistence, TangentAngle, alpha_deg

DAY = 86400.0
SIGNIFICANCE_Z = 2.0  # a level above blue needs the rate's lower 2-SE bound to reach it (minewatch's choice)


@dataclass(frozen=True, slots=True)
class Assessment:
    t: float
    displacement: float  # cleaned, mm
    smoothed: float
    velocity: float | None  # mm/d, at t_velocity
    velocity_se: float | None
    t_velocity: float | None
    acceleration: float | None  # mm/d²
    acceleration_se: float | None
    v_const: float | None
    ratio: float | None
    alpha: float | None  # degrees
    raw_level: str
    level: str
    reasons: tuple[str, ...]
    forecast: Forecast | None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in self.__slots__ if name != "forecast"}
        out["reasons"] = list(self.reasons)
        f = self.forecast
        out["forecast"] = (
            None
            if f is None
            else {
                "status": f.status,
                "reason": f.reason,
                "t_failure": f.t_failure,
                "low": f.low,
                "high": f.high,
                "r2": f.r2,
                "n": f.n,
            }
        )
        return out


@dataclass
class PointMonitor:
    config: PointConfig
    settings: SlopeSettings
    cleaner: Cleaner = field(init=False)
    history: deque[tuple[float, float]] = field(init=False)
    velocities: deque[tuple[float, float, float]] = field(init=False)  # (t, v, se)
    v_const: float | None = field(init=False, default=None)
    onset: float | None = field(init=False, default=None)
    onset_streak: int = field(init=False, default=0)
    calm_streak: int = field(init=False, default=0)
    persistence: Persistence = field(init=False)
    first_t: float | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        s = self.settings
        self.cleaner = Cleaner(s.threshold_sigma, s.noise_floor_mm, s.decide_after)
        # Keep what the longest velocity window needs, or the v_const reference period while v_const
        # is still to be estimated: the state is written to the database at every interval.
        needed_h = (
            self.config.window_h
            if self.config.v_const is not None
            else max(self.config.window_h, s.reference_days * 24)
        )
        keep = min(s.history_samples, math.ceil(needed_h * 3600 / s.interval_s) + 12)
        self.history = deque(maxlen=keep)
        self.velocities = deque(maxlen=s.history_samples)  # the forecast reaches back to the onset
        self.persistence = Persistence(s.persistence_k, s.persistence_m)
        self.v_const = self.config.v_const

    @property
    def last_t(self) -> float | None:
        return self.history[-1][0] if self.history else None

    def update(self, t: float, displacement: float) -> list[Assessment]:
        """Feed one interval sample; returns the assessments of the samples now decided."""
        if self.first_t is None:
            self.first_t = t
        return [self._assess(c.t, c.value, c.note) for c in self.cleaner.update(t, displacement)]

    def _assess(self, t: float, value: float, note: str) -> Assessment:
        s, cfg = self.settings, self.config
        self.history.append((t, value))
        smoothed = causal_gaussian([v for _, v in self.history], s.smoothing_sigma)
        reasons: list[str] = []
        velocity = se = t_v = accel = accel_se = None
        window = self._velocity_window(t)
        if len(window) >= 4 and window[-1][0] > window[0][0]:
            fit = linear_fit([wt / DAY for wt, _ in window], [wv for _, wv in window])
            velocity, se = fit.slope, max(fit.slope_se, self._noise_se(fit.n, fit.sxx))
            t_v = fit.mean_x * DAY  # the window's centroid: the time the velocity belongs to
            self.velocities.append((t_v, velocity, se))
        warming = self.first_t is None or t - self.first_t < cfg.window_h * 3600.0
        recent = list(self.velocities)[-s.acceleration_window :]
        if len(recent) >= 4 and recent[-1][0] > recent[0][0]:
            afit = linear_fit([rt / DAY for rt, _, _ in recent], [rv for _, rv, _ in recent])
            accel, accel_se = afit.slope, afit.slope_se
        self._estimate_v_const(t)

        raw = "none"
        ratio = alpha = None
        if velocity is not None and self.v_const is not None:
            ratio = velocity / self.v_const
            alpha = alpha_deg(ratio)
            angle = TangentAngle(s.blue_band, s.orange_from, s.red_from)
            level = angle.level_of(ratio)
            if rank(level) > rank("blue"):  # escalate only as far as the rate is significantly above
                assured = angle.level_of((velocity - SIGNIFICANCE_Z * (se or 0.0)) / self.v_const)
                level = assured if rank(assured) > rank("blue") else "blue"
                if warming and level != "blue":
                    level = "blue"
                    reasons.append(f"warming up: no level above blue before {cfg.window_h:g} h of data")
            rising = len(self.velocities) < 2 or self.velocities[-1][1] > self.velocities[-2][1]
            if level == "red" and s.red_requires_increasing_velocity and not rising:
                level = "orange"
                reasons.append("α at the red level but the velocity is not rising: held at orange")
            if level != "none":
                reasons.append(f"tangential angle {alpha:.1f}° (v {velocity:.3g} mm/d = {ratio:.2f} × v_const)")
            raw = level
        elif velocity is not None:
            reasons.append(f"v_const not known yet: estimated after {s.reference_days:g} days of data")
        if velocity is not None and cfg.rate_reference in s.rate_reference and not warming:
            limit, level = s.rate_reference[cfg.rate_reference]
            if velocity - SIGNIFICANCE_Z * (se or 0.0) > limit:  # significantly over, as for the angle
                raw = higher(raw, level)
                reasons.append(
                    f"rate {velocity:.3g} mm/d over the {cfg.rate_reference} reference value "
                    f"{limit:g} mm/d (GB 51214-2017 explanatory notes §12.3.3)"
                )

        prediction = self._forecast(t, accel, accel_se)
        if prediction is not None and prediction.status == "ok":
            if not self._acceleration_established():
                prediction = Forecast(
                    "not_meaningful",
                    "the velocity has not yet risen clearly since the onset",
                    prediction.t_failure,
                    r2=prediction.r2,
                    n=prediction.n,
                )
            elif prediction.t_failure is not None and prediction.t_failure <= t:
                prediction = Forecast(
                    "not_meaningful",
                    "the fitted 1/v line reached zero in the past: the data do not follow an accelerating failure",
                    prediction.t_failure,
                    r2=prediction.r2,
                    n=prediction.n,
                )
        if prediction is not None and prediction.status == "ok" and prediction.low is not None:
            hours_left = (prediction.low - t) / 3600.0
            if hours_left < s.red_within_h:
                raw = higher(raw, "red")
                reasons.append(f"failure forecast: lower bound {hours_left:.0f} h away")
            elif hours_left < s.orange_within_h:
                raw = higher(raw, "orange")
                reasons.append(f"failure forecast: lower bound {hours_left / 24:.1f} days away")
        level = self.persistence.update(raw)
        return Assessment(
            t,
            value,
            smoothed,
            velocity,
            se,
            t_v,
            accel,
            accel_se,
            self.v_const,
            ratio,
            alpha,
            raw,
            level,
            tuple(reasons),
            prediction,
            note,
        )

    def _noise(self) -> float:
        """The sensor's noise: the robust spread of the cleaner's residuals, at least the noise floor."""
        residuals = sorted(abs(r) for r in self.cleaner.residuals)
        spread = 1.4826 * residuals[len(residuals) // 2] if residuals else 0.0
        return max(spread, self.settings.noise_floor_mm * 0.2)

    def _noise_se(self, n: int, sxx: float) -> float:
        """SE of a slope from the sensor's noise, σ / √S_tt: a short fit cannot look more certain."""
        return self._noise() / math.sqrt(sxx) if sxx > 0 else math.inf

    def _velocity_window(self, t: float, precision: float = 0.1, min_samples: int = 6) -> list[tuple[float, float]]:
        cutoff = t - self.config.window_h * 3600.0
        longest = [(ht, hv) for ht, hv in self.history if ht > cutoff]
        if len(longest) <= min_samples or longest[-1][0] <= longest[0][0]:
            return longest
        step_days = (longest[-1][0] - longest[0][0]) / (len(longest) - 1) / DAY
        fit = linear_fit([ht / DAY for ht, _ in longest], [hv for _, hv in longest])
        rate = max(abs(fit.slope), self.v_const or self.settings.v_const_floor)
        sigma = self._noise()
        n = math.ceil((12 * sigma**2 / (step_days**2 * (precision * rate) ** 2)) ** (1 / 3))
        return longest[-max(min_samples, min(n, len(longest))) :]

    def _acceleration_established(self) -> bool:
        """Since the onset the velocity has at least doubled, by more than its noise (minewatch's gate)."""
        if self.onset is None or not self.velocities:
            return False
        start = next(((v, se) for vt, v, se in self.velocities if vt >= self.onset), None)
        _, v_now, se_now = self.velocities[-1]
        if start is None:
            return False
        v_start, se_start = start
        floor = self.v_const or self.settings.v_const_floor
        noise = SIGNIFICANCE_Z * math.hypot(
            se_now if math.isfinite(se_now) else 0.0, se_start if math.isfinite(se_start) else 0.0
        )
        return v_now >= 2 * max(v_start, floor) and v_now - v_start > noise

    def _last_constant_rate_time(self) -> float:
        """The onset of acceleration: the last time the velocity was at or below the constant rate."""
        v_const = self.v_const or self.settings.v_const_floor
        for vt, v, _ in reversed(self.velocities):
            if v <= v_const:
                return vt
        return self.velocities[0][0]

    def _estimate_v_const(self, t: float) -> None:
        s = self.settings
        if self.v_const is not None or self.first_t is None or t - self.first_t < s.reference_days * DAY:
            return
        reference = [(ht, hv) for ht, hv in self.history if ht <= self.first_t + s.reference_days * DAY]
        step = max(1, len(reference) // 150)  # Theil-Sen is O(n²): thin to ~150 points
        sample = reference[::step]
        rate = theil_sen([ht / DAY for ht, _ in sample], [hv for _, hv in sample])
        self.v_const = max(abs(rate), s.v_const_floor)

    def _forecast(self, t: float, accel: float | None, accel_se: float | None) -> Forecast | None:
        s = self.settings
        fast = (
            bool(self.velocities)
            and self.v_const is not None
            and (self.velocities[-1][1] > self.v_const * math.tan(math.radians(s.blue_band[1])))
        )
        significant = (
            fast and accel is not None and accel_se not in (None, 0.0) and accel > s.onset_z * (accel_se or math.inf)
        )
        if significant:
            self.onset_streak += 1
            self.calm_streak = 0
            if self.onset is None and self.onset_streak >= s.onset_confirmations:
                self.onset = self._last_constant_rate_time()
        else:
            self.onset_streak = 0
            if not fast:
                self.calm_streak += 1
                if self.calm_streak >= s.onset_confirmations:  # back at the constant rate: no acceleration
                    self.onset = None
            else:
                self.calm_streak = 0
        if self.onset is None:
            return Forecast("not_meaningful", "no acceleration") if self.velocities else None
        # Two fits: everything since the onset, and its recent half (the early part, measured with
        # long windows, is the most biased; the approach to failure is what matters). Of those
        # that pass the gates the earliest failure time is kept: the safe side (METHODS.md §3.5).
        floor = self.v_const or s.v_const_floor
        candidates = []
        for start in (self.onset, self.onset + (t - self.onset) / 2):
            since = [(vt, v) for vt, v, _ in self.velocities if vt >= start]
            candidates.append(
                forecast(
                    [vt for vt, _ in since],
                    [v for _, v in since],
                    min_points=s.min_points,
                    min_r2=s.min_r2,
                    level=s.confidence_level,
                    v_floor=floor * 0.5,
                )
            )
        usable = [f for f in candidates if f.status == "ok" and f.t_failure is not None and f.t_failure > t]
        if usable:
            return min(usable, key=lambda f: f.t_failure or math.inf)
        return candidates[0]

    # --- state, for the database ---

    def state(self) -> dict[str, Any]:
        return {
            "cleaner": self.cleaner.state(),
            "history": [(t, round(v, 4)) for t, v in self.history],
            "velocities": [
                (t, float(f"{v:.6g}"), float(f"{se:.3g}") if math.isfinite(se) else None)
                for t, v, se in self.velocities
            ],
            "v_const": self.v_const,
            "onset": self.onset,
            "onset_streak": self.onset_streak,
            "calm_streak": self.calm_streak,
            "persistence": list(self.persistence.history),
            "first_t": self.first_t,
        }

    @classmethod
    def restore(cls, config: PointConfig, settings: SlopeSettings, state: dict[str, Any]) -> PointMonitor:
        monitor = cls(config, settings)
        monitor.cleaner = Cleaner.restore(
            state["cleaner"],
            threshold_sigma=settings.threshold_sigma,
            noise_floor=settings.noise_floor_mm,
            decide_after=settings.decide_after,
        )
        monitor.history.extend(tuple(p) for p in state["history"])
        monitor.velocities.extend((t, v, math.inf if se is None else se) for t, v, se in state["velocities"])
        monitor.v_const = config.v_const if config.v_const is not None else state["v_const"]
        monitor.onset = state["onset"]
        monitor.onset_streak = state["onset_streak"]
        monitor.calm_streak = state["calm_streak"]
        monitor.persistence.history.extend(state["persistence"])
        monitor.first_t = state["first_t"]
        return monitor
