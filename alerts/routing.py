"""Routing by jurisdiction and agency: which bureaus hear of an alert, and escalation.

Pure. Every mine belongs to a county (none in 贵安新区), a prefecture (region) and the province.
The rules (data/routing.yaml, or ``MINEWATCH_ROUTING``) say, by category and severity, which
levels are told; the agencies say which bureau at a level handles the category. A target is
``{level}:{area}:{agency}`` (``mine:{mine_id}`` for the mine itself, ``platform`` for the
smart-mine platform's webhooks, which hear of every alert).

Escalation: an alert nobody acknowledged within ``escalation_after[level]`` of its highest level
so far being told is routed to the next level up (四级联创).

>>> config = RoutingConfig.load()
>>> [r.target_id for r in config.routes("emission_exceedance", "yellow", "GZ520201-0001", "520200", "520201")]
['mine:GZ520201-0001', 'county:520201:ecology_environment']
>>> [r.level for r in config.routes("slope_warning", "red", "GZ520201-0001", "520200", "520201")]
['mine', 'county', 'region', 'province']
>>> config.routes("compliance", "blue", "GZGUIAN-0001", "GUIAN", None)[1].target_id   # no county in 贵安新区
'region:GUIAN:natural_resources'
>>> config.next_level("county"), config.next_level("province")
('region', None)
>>> config.escalation("county", told_at=0.0, now=1799.0), config.escalation("county", told_at=0.0, now=1800.0)
(None, 'region')
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from minewatch.paths import DATA
from minewatch.regions import PROVINCE_CODE

SEVERITY_ORDER = ("blue", "yellow", "orange", "red")
PLATFORM = "platform"
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h|d)$")


def duration(text: str) -> timedelta:
    """'30s', '5m', '4h', '1d' as a timedelta.

    >>> duration("90s"), duration("4h")
    (datetime.timedelta(seconds=90), datetime.timedelta(seconds=14400))
    """
    match = _DURATION.match(str(text).strip())
    if not match:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 5m, 4h, 1d)")
    value, unit = float(match.group(1)), match.group(2)
    return timedelta(seconds=value * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit])


@dataclass(frozen=True, slots=True)
class Route:
    level: str  # mine | county | region | province | platform
    area: str  # mine id, county code, region code or 520000
    agency: str  # the bureau's agency; "" for the mine itself and the platform
    reason: str = "rule"

    @property
    def target_id(self) -> str:
        if self.level == "platform":
            return PLATFORM
        return f"mine:{self.area}" if self.level == "mine" else f"{self.level}:{self.area}:{self.agency}"

    @property
    def mqtt_topic(self) -> str | None:
        """QoS 1 topic this target is told on; the platform reads every topic, so has none of its own."""
        from minewatch.topics import jurisdiction_alert_topic, mine_alert_topic

        if self.level == "platform":
            return None
        if self.level == "mine":
            return mine_alert_topic(self.area)
        return jurisdiction_alert_topic(self.level, self.area, self.agency)


@dataclass(frozen=True)
class Webhook:
    url: str
    format: str = "minewatch"  # minewatch | alertmanager
    secret_env: str | None = None


@dataclass(frozen=True)
class RoutingConfig:
    levels: tuple[str, ...]
    rules: tuple[dict[str, Any], ...]
    agencies: dict[str, str]
    escalation_after: dict[str, timedelta]
    group_wait: timedelta
    group_interval: timedelta
    repeat_interval: timedelta
    reopen_within: timedelta = timedelta(hours=1)
    webhooks: dict[str, tuple[Webhook, ...]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | None = None) -> RoutingConfig:
        return _load(path or Path(os.environ.get("MINEWATCH_ROUTING", DATA / "routing.yaml")))

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> RoutingConfig:
        grouping = doc.get("grouping", {})
        return cls(
            levels=tuple(doc["levels"]),
            rules=tuple(doc["rules"]),
            agencies=dict(doc["agencies"]),
            escalation_after={k: duration(v) for k, v in (doc.get("escalation_after") or {}).items()},
            group_wait=duration(grouping.get("group_wait", "30s")),
            group_interval=duration(grouping.get("group_interval", "5m")),
            repeat_interval=duration(grouping.get("repeat_interval", "4h")),
            reopen_within=duration(grouping.get("reopen_within", "1h")),
            webhooks={
                target: tuple(Webhook(**w) for w in hooks) for target, hooks in (doc.get("webhooks") or {}).items()
            },
        )

    def with_platform_webhooks(self, urls: tuple[str, ...], secret_env: str | None) -> RoutingConfig:
        """This configuration plus platform webhooks given on the command line or environment."""
        if not urls:
            return self
        hooks = self.webhooks_for(PLATFORM) + tuple(Webhook(url, "minewatch", secret_env) for url in urls)
        return replace(self, webhooks={**self.webhooks, PLATFORM: hooks})

    def agency(self, category: str) -> str:
        return self.agencies.get(category, "ecology_environment")

    def route_at(
        self, level: str, mine_id: str, region: str, county: str | None, category: str, reason: str = "rule"
    ) -> Route:
        if level == "mine":
            return Route("mine", mine_id, "", reason)
        if level == "county" and county is None:
            level = "region"  # 贵安新区 has no counties: its mines answer to the region
        area = {"county": county, "region": region, "province": PROVINCE_CODE}[level]
        return Route(level, str(area), self.agency(category), reason)

    def routes(self, category: str, severity: str, mine_id: str, region: str, county: str | None) -> list[Route]:
        """The routes of a new alert, lowest level first, each target once."""
        wanted: list[str] = []
        for rule in self.rules:
            if rule["category"] not in ("*", category):
                continue
            if SEVERITY_ORDER.index(severity) < SEVERITY_ORDER.index(rule.get("min_severity", "blue")):
                continue
            wanted += [level for level in rule["levels"] if level not in wanted]
        out: list[Route] = []
        for level in sorted(wanted, key=self.levels.index):
            route = self.route_at(level, mine_id, region, county, category)
            if route.target_id not in {r.target_id for r in out}:
                out.append(route)
        if self.webhooks_for(PLATFORM):
            out.append(Route(PLATFORM, PROVINCE_CODE, "", "platform"))
        return out

    def next_level(self, level: str) -> str | None:
        i = self.levels.index(level)
        return self.levels[i + 1] if i + 1 < len(self.levels) else None

    def escalation(self, level: str, told_at: float | None, now: float) -> str | None:
        """The level to escalate to when the highest level told so far is ``level``, told at
        ``told_at`` (unix s; None: not told yet), and nobody has acknowledged by ``now``."""
        after = self.escalation_after.get(level)
        if told_at is None or after is None or now - told_at < after.total_seconds():
            return None
        return self.next_level(level)

    def webhooks_for(self, target_id: str) -> tuple[Webhook, ...]:
        return self.webhooks.get(target_id, ())


@cache
def _load(path: Path) -> RoutingConfig:
    return RoutingConfig.from_dict(yaml.safe_load(path.read_text(encoding="utf-8")))
