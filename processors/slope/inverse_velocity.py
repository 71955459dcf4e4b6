"""Inverse velocity (Fukuzono 1985; Voight 1988): detect the onset of acceleration, fit 1/v
against time, forecast the time of failure with a confidence interval.

Voight's law d²Ω/dt² = A (dΩ/dt)^α with α = 2 gives 1/v = A (t_f − t): 1/v falls on a straight
line that reaches zero at the failure time t_f. With the linear fit 1/v = a + b t (b < 0),
t̂_f = −a / b. The linear fit is preferred to a free α (55 case histories: more stable and
more accurate, reference-thresholds.yaml), and accepted only when R² ≥ 0.8.

Confidence interval (Fieller / inverse regression, METHODS.md §3.6): the set of t with
(â + b̂ t)² ≤ q² s² (1/n + (t − t̄)² / S_tt), q the Student-t quantile with n − 2 degrees of
freedom. It is finite only when b̂² > q² s² / S_tt. Smoothed velocities are autocorrelated, so
the interval is too narrow: alarms use its lower bound.

A forecast is *not meaningful*, and says why, when there is no acceleration, too few points
since its onset, 1/v is not falling, the fit is poor, or the interval is unbounded.

>>> ts = [float(d) for d in range(10)]                 # days
>>> vs = [1.0 / (0.1 * (12.0 - t)) for t in ts]        # 1/v = 0.1 (12 − t): failure on day 12
>>> f = forecast(ts, vs, min_points=6, min_r2=0.8, level=0.95)
>>> f.status, round(f.t_failure, 6), f.low <= 12.0 <= f.high
('ok', 12.0, True)
>>> forecast(ts[:4], vs[:4], min_points=6, min_r2=0.8, level=0.95).reason
'too few points since the onset of acceleration (4 < 6)'
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from processors.slope.fitting import linear_fit, t_quantile


@dataclass(frozen=True, slots=True)
class Forecast:
    status: str  # ok | not_meaningful
    reason: str
    t_failure: float | None = None
    low: float | None = None  # lower bound of the interval (alarm on this)
    high: float | None = None
    r2: float | None = None
    n: int = 0


def fieller_interval(
    fit_a: float, fit_b: float, s2: float, n: int, mean_t: float, stt: float, q: float
) -> tuple[float, float] | None:
    """Roots of (b² − q²s²/S_tt) t² + 2(ab + q²s² t̄/S_tt) t + (a² − q²s²/n − q²s² t̄²/S_tt) = 0."""
    qs = q * q * s2
    qa = fit_b * fit_b - qs / stt
    if qa <= 0:
        return None
    qb = 2 * (fit_a * fit_b + qs * mean_t / stt)
    qc = fit_a * fit_a - qs / n - qs * mean_t * mean_t / stt
    disc = qb * qb - 4 * qa * qc
    if disc < 0:
        if disc < -1e-9 * qb * qb:
            return None
        disc = 0.0  # a (near) perfect fit: the interval shrinks to the point, up to rounding
    root = math.sqrt(disc)
    return ((-qb - root) / (2 * qa), (-qb + root) / (2 * qa))


def forecast(
    t: Sequence[float], v: Sequence[float], *, min_points: int, min_r2: float, level: float, v_floor: float = 0.0
) -> Forecast:
    """Forecast from velocities ``v`` (> ``v_floor``) at times ``t`` since the onset of acceleration."""
    points = [(ti, 1.0 / vi) for ti, vi in zip(t, v, strict=True) if vi > v_floor]
    if len(points) < min_points:
        reason = f"too few points since the onset of acceleration ({len(points)} < {min_points})"
        return Forecast("not_meaningful", reason, n=len(points))
    ts, ys = zip(*points, strict=True)
    fit = linear_fit(ts, ys)
    if fit.slope >= 0:
        return Forecast("not_meaningful", "1/v is not falling: no acceleration towards failure", r2=fit.r2, n=fit.n)
    if fit.r2 < min_r2:
        return Forecast("not_meaningful", f"poor fit of 1/v (R² {fit.r2:.2f} < {min_r2})", r2=fit.r2, n=fit.n)
    t_f = -fit.intercept / fit.slope
    if fit.residual_var == 0:
        return Forecast("ok", "", t_f, t_f, t_f, fit.r2, fit.n)
    q = t_quantile(1 - (1 - level) / 2, fit.n - 2)
    interval = fieller_interval(fit.intercept, fit.slope, fit.residual_var, fit.n, fit.mean_x, fit.sxx, q)
    if interval is None:
        return Forecast(
            "not_meaningful", "the interval is unbounded: the fall of 1/v is not significant", t_f, r2=fit.r2, n=fit.n
        )
    return Forecast("ok", "", t_f, interval[0], interval[1], fit.r2, fit.n)
