"""The green-mine policy's numbers, and minewatch's settings around them (data/green_mine/policy.yaml).

>>> policy = Policy.load()
>>> policy.three_rates_share_target, policy.large_medium_share_target, policy.greening_required
(0.85, 0.7, 1.0)
>>> policy.report_due_days["quarterly"], policy.complaint_response_days
(30, 15)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import yaml

from minewatch.paths import DATA


@dataclass(frozen=True)
class Policy:
    green_mines_2020: int
    three_rates_share_target: float
    large_medium_share_target: float
    greening_required: float
    disposal_required: float
    report_due_days: dict[str, int]
    complaint_response_days: int
    delisting_after: int
    inspection_exclusion_days: int

    @classmethod
    def load(cls) -> Policy:
        return _load()


@cache
def _load() -> Policy:
    doc = yaml.safe_load((DATA / "green_mine" / "policy.yaml").read_text(encoding="utf-8"))
    targets, renewal = doc["targets"], doc["licence_renewal_after_2020"]
    return Policy(
        green_mines_2020=int(targets["green_mines_2020"]["value"]),
        three_rates_share_target=float(targets["three_rates_compliance_share"]["value"]),
        large_medium_share_target=float(targets["large_and_medium_share"]["value"]),
        greening_required=float(renewal["greening_coverage"]),
        disposal_required=float(renewal["solid_waste_disposal"]),
        report_due_days={k: int(v) for k, v in doc["report_due_days"].items() if k != "source"},
        complaint_response_days=int(doc["complaint_response_days"]),
        delisting_after=int(doc["delisting_after_non_compliant_periods"]),
        inspection_exclusion_days=int(doc["inspection_exclusion_days"]),
    )
