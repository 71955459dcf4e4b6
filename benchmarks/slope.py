"""How good the slope detectors are on synthetic series with known truth (``minewatch bench slope``).

* Progressive failures (Voight's law, α = 2, known failure time): the forecast error as a
  fraction of the remaining time, |t̂_f − t_f| / (t_f − t), at 48 h, 24 h and 6 h before failure,
  and how often no meaningful forecast existed then.
* Stable creep at the constant rate with sensor noise: false alarms per point-month at each
  level (entries into yellow, orange and red; blue is the expected state of constant-rate creep).
* Cost: µs per sample of the point detector.

Series are 10-minute samples; noise is Gaussian with the sensor's σ (crack meter 0.3 mm,
slope radar 0.5 mm, GNSS 2 mm along the sliding direction). Synthetic: see simulators/slope.py.
"""

from __future__ import annotations

import json
import random
import statistics
import time
from typing import Any

from processors.slope.levels import rank
from processors.slope.point import PointMonitor
from processors.slope.settings import PointConfig, SlopeSettings
from simulators.slope import DAY, ProgressiveFailure, StableCreep

SENSORS = {"crack": 0.3, "radar": 0.5, "gnss": 2.0}
HORIZONS_H = (48.0, 24.0, 6.0)


def failure_errors(runs: int, seed: int) -> dict[str, Any]:
    settings = SlopeSettings.load()
    rng = random.Random(seed)
    errors: dict[float, list[float]] = {h: [] for h in HORIZONS_H}
    missing: dict[float, int] = dict.fromkeys(HORIZONS_H, 0)
    samples = 0
    elapsed = 0.0
    for run in range(runs):
        item = list(SENSORS)[run % len(SENSORS)]
        v0 = rng.choice((0.5, 1.0, 2.0))
        accel_days = rng.choice((6.0, 10.0, 20.0))
        onset = 10 * DAY
        truth = ProgressiveFailure(v0=v0, onset=onset, t_failure=onset + accel_days * DAY)
        monitor = PointMonitor(PointConfig.of("P", {"item": item, "v_const_mm_per_day": v0}), settings)
        noise = SENSORS[item]
        t = 0.0
        due = list(HORIZONS_H)
        while t < truth.t_failure - 3 * 3600 and due:
            started = time.perf_counter()
            out = monitor.update(t, truth.displacement(t) + rng.gauss(0.0, noise))
            elapsed += time.perf_counter() - started
            samples += 1
            for a in out:
                left_h = (truth.t_failure - a.t) / 3600.0
                while due and left_h <= due[0]:
                    horizon = due.pop(0)
                    f = a.forecast
                    if f is None or f.status != "ok" or f.t_failure is None:
                        missing[horizon] += 1
                    else:
                        errors[horizon].append(abs(f.t_failure - truth.t_failure) / (truth.t_failure - a.t))
            t += 600.0
    out: dict[str, Any] = {"runs": runs, "us_per_sample": round(elapsed / samples * 1e6, 1)}
    for h in HORIZONS_H:
        e = errors[h]
        out[f"{h:g}h"] = {
            "median_error_fraction": round(statistics.median(e), 3) if e else None,
            "p90_error_fraction": round(sorted(e)[int(0.9 * (len(e) - 1))], 3) if e else None,
            "no_forecast": missing[h],
        }
    return out


def false_alarms(points: int, days: float, seed: int) -> dict[str, Any]:
    settings = SlopeSettings.load()
    rng = random.Random(seed)
    entries = {"yellow": 0, "orange": 0, "red": 0}
    months = 0.0
    warmup = 2 * DAY  # the first windows are short and noisy; not counted
    for p in range(points):
        item = list(SENSORS)[p % len(SENSORS)]
        v0 = rng.choice((0.2, 0.5, 1.0))
        creep = StableCreep(v0=v0)
        monitor = PointMonitor(PointConfig.of("P", {"item": item, "v_const_mm_per_day": v0}), settings)
        previous = "none"
        t = 0.0
        while t < days * DAY:
            for a in monitor.update(t, creep.displacement(t) + rng.gauss(0.0, SENSORS[item])):
                if a.t >= warmup:
                    for level in entries:
                        if rank(a.level) >= rank(level) > rank(previous):
                            entries[level] += 1
                previous = a.level
            t += 600.0
        months += (days * DAY - warmup) / (30 * DAY)
    return {
        "points": points,
        "point_months": round(months, 2),
        "per_point_month": {level: round(n / months, 3) for level, n in entries.items()},
    }


def main(runs: int, points: int, days: float, seed: int = 7) -> None:
    failures = failure_errors(runs, seed)
    stable = false_alarms(points, days, seed)
    print(f"Progressive failures ({runs} synthetic series, crack meter / radar / GNSS noise):")
    for h in HORIZONS_H:
        r = failures[f"{h:g}h"]
        print(
            f"  {h:4.0f} h before failure: median error {r['median_error_fraction']} of the remaining time, "
            f"90th percentile {r['p90_error_fraction']}, no meaningful forecast in {r['no_forecast']} of {runs}"
        )
    print(
        f"Stable creep with noise ({stable['point_months']} point-months): false alarms per point-month "
        + ", ".join(f"{k} {v}" for k, v in stable["per_point_month"].items())
    )
    print(f"Cost: {failures['us_per_sample']} µs per sample of the point detector")
    print(json.dumps({"failures": failures, "stable": stable}))
