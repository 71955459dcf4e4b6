"""Least squares with standard errors, Theil–Sen, and causal Gaussian smoothing.

>>> fit = linear_fit([0.0, 1.0, 2.0, 3.0], [1.0, 3.0, 5.0, 7.0])
>>> fit.slope, fit.intercept, fit.r2, fit.slope_se
(2.0, 1.0, 1.0, 0.0)
>>> theil_sen([0.0, 1.0, 2.0, 3.0, 4.0], [0.0, 1.0, 2.0, 30.0, 4.0])   # robust to the outlier
1.0
>>> round(causal_gaussian([1.0, 1.0, 1.0, 4.0], sigma=1.0), 3)         # weighted towards the newest
2.711
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist, median

import numpy as np


@dataclass(frozen=True, slots=True)
class LinearFit:
    slope: float
    intercept: float
    slope_se: float  # standard error of the slope (inf when n < 3)
    r2: float
    n: int
    mean_x: float
    sxx: float  # Σ (x − x̄)²
    residual_var: float  # s² = RSS / (n − 2)

    def at(self, x: float) -> float:
        return self.intercept + self.slope * x


def linear_fit(x: Sequence[float], y: Sequence[float]) -> LinearFit:
    """Ordinary least squares y = a + b x, with the standard error of b."""
    n = len(x)
    if n < 2:
        raise ValueError("a line needs at least two points")
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    mx, my = float(xs.mean()), float(ys.mean())
    dx, dy = xs - mx, ys - my
    sxx = float(dx @ dx)
    if sxx == 0:
        raise ValueError("all x are equal")
    slope = float(dx @ dy) / sxx
    intercept = my - slope * mx
    residuals = dy - slope * dx
    rss = float(residuals @ residuals)
    syy = float(dy @ dy)
    var = rss / (n - 2) if n > 2 else math.inf
    se = math.sqrt(var / sxx) if n > 2 else math.inf
    r2 = 1.0 - rss / syy if syy > 0 else 1.0
    return LinearFit(slope, intercept, se, r2, n, mx, sxx, var)


def theil_sen(x: Sequence[float], y: Sequence[float]) -> float:
    """The median of pairwise slopes: a robust rate (one outlier cannot move it)."""
    slopes = [(y[j] - y[i]) / (x[j] - x[i]) for i in range(len(x)) for j in range(i + 1, len(x)) if x[j] != x[i]]
    if not slopes:
        raise ValueError("Theil-Sen needs two distinct x")
    return median(slopes)


def causal_gaussian(values: Sequence[float], sigma: float) -> float:
    """One-sided Gaussian-weighted mean of ``values`` (oldest first), the newest weighted most.

    w_k = exp(−k² / 2σ²) for the k-th newest value, over the last ⌈3σ⌉ + 1 values.
    """
    span = min(len(values), math.ceil(3 * sigma) + 1)
    weights = [math.exp(-(k * k) / (2 * sigma * sigma)) for k in range(span)]
    newest = values[::-1][:span]
    return sum(w * v for w, v in zip(weights, newest, strict=True)) / sum(weights)


def t_quantile(p: float, dof: int) -> float:
    """Student-t quantile (e.g. p = 0.975), dof >= 1.

    Exact (bisection on the CDF, cached) below 30 degrees of freedom; above, the Cornish–Fisher
    expansion around the normal quantile z (error < 1e-4 there):
    t ≈ z + (z³ + z)/4ν + (5z⁵ + 16z³ + 3z)/96ν² + (3z⁷ + 19z⁵ + 17z³ − 15z)/384ν³.

    >>> round(t_quantile(0.975, 10), 3), round(t_quantile(0.975, 40), 3), round(t_quantile(0.975, 1000), 2)
    (2.228, 2.021, 1.96)
    """
    if dof < 30:
        return _t_quantile_exact(p, dof)
    z = NormalDist().inv_cdf(p)
    v = float(dof)
    return (
        z
        + (z**3 + z) / (4 * v)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * v * v)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * v**3)
    )


@lru_cache(maxsize=256)
def _t_quantile_exact(p: float, dof: int) -> float:
    lo, hi = 0.0, 1000.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if _t_cdf(mid, dof) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _t_cdf(t: float, dof: int) -> float:
    x = dof / (dof + t * t)
    return 1.0 - 0.5 * _betainc(dof / 2.0, 0.5, x)


def _betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta I_x(a, b) by continued fraction (Numerical Recipes)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log(1 - x))
    if x < (a + 1) / (a + b + 2):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1 - x) / b


def _betacf(a: float, b: float, x: float) -> float:
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > 1e-300 else 1e-300)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        c = 1.0 + aa / c
        d = 1.0 / (d if abs(d) > 1e-300 else 1e-300)
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        c = 1.0 + aa / c
        d = 1.0 / (d if abs(d) > 1e-300 else 1e-300)
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 3e-14:
            break
    return h
