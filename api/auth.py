"""Who is calling the bureau API, and what they may see.

A bearer token belongs to one bureau (an agency at the province, a region or a county) or to
one mine. Only the token's SHA-256 is stored; the token itself is shown once, when created
(``minewatch tokens create``). A caller's *jurisdiction* is everything under its area:

* ``province`` (520000): every mine;
* ``region``: the mines of that prefecture-level division;
* ``county``: the mines of that county;
* ``mine``: that mine only (read-only: a mine does not acknowledge or silence its own alerts).

>>> county = Caller(1, "钟山区生态环境分局", "county", "520201", "ecology_environment")
>>> county.sees("520200", "520201", "GZ520201-0001"), county.sees("520200", "520203", "GZ520203-0001")
(True, False)
>>> Caller(2, "GZ520201-0001", "mine", "GZ520201-0001", None).sees("520200", "520201", "GZ520201-0002")
False
>>> token = new_token(); token.startswith("mw_") and len(token_hash(token)) == 32
True
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass

from minewatch.regions import PROVINCE_CODE, load_divisions
from minewatch.registry import Registry

LEVELS = ("province", "region", "county", "mine")
TOKEN_PREFIX = "mw_"


class TokenError(ValueError):
    """The token's level and area do not name a real jurisdiction."""


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True, slots=True)
class Caller:
    token_id: int
    name: str
    level: str
    area: str
    agency: str | None

    @property
    def actor(self) -> str:
        """How the caller appears in an alert's history."""
        agency = f" {self.agency}" if self.agency else ""
        return f"{self.name} ({self.level}:{self.area}{agency})"

    @property
    def may_act(self) -> bool:
        return self.level != "mine"

    def sees(self, region_code: str, county_code: str | None, mine_id: str) -> bool:
        if self.level == "province":
            return True
        if self.level == "region":
            return region_code == self.area
        if self.level == "county":
            return county_code == self.area
        return mine_id == self.area

    def mine_ids(self, registry: Registry) -> list[str]:
        """The registered mines in the caller's jurisdiction."""
        return [m.id for m in registry if self.sees(m.region_code, m.county_code, m.id)]


def check_jurisdiction(level: str, area: str, registry: Registry | None = None) -> None:
    """Raise :class:`TokenError` unless (level, area) names a real jurisdiction."""
    divisions = load_divisions()
    if level not in LEVELS:
        raise TokenError(f"level must be one of {', '.join(LEVELS)}, not {level!r}")
    if level == "province" and area != PROVINCE_CODE:
        raise TokenError(f"the province's area is {PROVINCE_CODE}")
    if level == "region" and area not in divisions.regions:
        raise TokenError(f"{area!r} is not a region code of Guizhou (data/regions/guizhou_regions.csv)")
    if level == "county" and area not in divisions.counties:
        raise TokenError(f"{area!r} is not a county code of Guizhou (data/regions/guizhou_counties.csv)")
    if level == "mine" and registry is not None and registry.mine(area) is None:
        raise TokenError(f"mine {area!r} is not in the registry")


class FailureLimiter:
    """Refuses a client for the rest of a window after too many failed authentications.

    >>> limiter = FailureLimiter(max_failures=2, window_s=60)
    >>> limiter.failed("10.0.0.1", now=0); limiter.failed("10.0.0.1", now=1)
    >>> limiter.blocked_for("10.0.0.1", now=2), limiter.blocked_for("10.0.0.2", now=2)
    (58.0, 0.0)
    >>> limiter.blocked_for("10.0.0.1", now=61)
    0.0
    """

    def __init__(self, max_failures: int = 20, window_s: float = 60.0) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque[float]:
        times = self._failures.setdefault(client, deque())
        while times and times[0] <= now - self.window_s:
            times.popleft()
        return times

    def failed(self, client: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            self._recent(client, now).append(now)

    def blocked_for(self, client: str, now: float | None = None) -> float:
        """Seconds the client must wait (0: not blocked)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            times = self._recent(client, now)
            if len(times) < self.max_failures:
                if not times:
                    self._failures.pop(client, None)
                return 0.0
            return max(0.0, float(times[-self.max_failures] + self.window_s - now))
