"""Evaluating a mine for a period against the green-mine policy's measurable indicators.

The indicators (data/green_mine/policy.yaml cites the policy for each):

* the three rates at or above the mineral's minimum (``requirements.py``); a rate whose minimum
  could not be verified is reported as not judged, never guessed;
* greening coverage 100 % of the greenable area and solid waste 100 % properly disposed
  (required for licence renewal after 2020, policy 二（五）);
* no emission exceedance still open, and none in the period (an episode that closed in the
  period puts the mine at risk);
* no red slope or tailings warning left unhandled (neither acknowledged nor resolved);
* the period's report on time (minewatch's deadlines).

The result is ``compliant``, ``at_risk`` (something to watch: a closed exceedance, a late or
incomplete report) or ``non_compliant`` (an indicator not met), with every reason.

>>> from datetime import date, datetime, UTC
>>> mine = MineFacts("GZ520201-0001", "coal", "underground", "medium")
>>> period = Period.parse("2026-10")
>>> report = {"conditions": {"mining_method": "underground", "seam_thickness": "medium"},
...           "figures": {"mining_recovery_rate": 0.82, "processing_recovery_rate": 0.80,
...                       "comprehensive_utilisation_rate": 0.70, "greened_area_m2": 100, "greenable_area_m2": 100,
...                       "solid_waste_generated_t": 50, "solid_waste_disposed_t": 50}}
>>> result = evaluate(mine, period, PeriodFacts(report, datetime(2026, 11, 5, tzinfo=UTC)),
...                   now=datetime(2026, 11, 26, tzinfo=UTC))
>>> result.status, [r.text for r in result.reasons if r.outcome == "not_met"]
('non_compliant', ['综合利用率 comprehensive utilisation 70.0 % is below the minimum 75.0 % for coal (official)'])
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any, Literal

from greenmine.policy import Policy
from greenmine.reports import figures
from greenmine.requirements import RATE_NAMES, RATES, RequirementBook

Status = Literal["compliant", "at_risk", "non_compliant"]
Outcome = Literal["met", "not_met", "warning", "not_judged"]
CST = timezone(timedelta(hours=8), "CST")


@dataclass(frozen=True, slots=True)
class Period:
    kind: str  # monthly | quarterly | annual
    start: date
    end: date  # inclusive, as reports state it

    @property
    def key(self) -> str:
        if self.kind == "monthly":
            return f"{self.start:%Y-%m}"
        if self.kind == "quarterly":
            return f"{self.start.year}-Q{(self.start.month - 1) // 3 + 1}"
        return f"{self.start.year}"

    @classmethod
    def parse(cls, text: str) -> Period:
        """'2026-10' (a month), '2026-Q3' (a quarter) or '2026' (a year).

        >>> Period.parse("2026-Q3")
        Period(kind='quarterly', start=datetime.date(2026, 7, 1), end=datetime.date(2026, 9, 30))
        """
        if m := re.fullmatch(r"(\d{4})-(\d{2})", text):
            year, month = int(m.group(1)), int(m.group(2))
            if not 1 <= month <= 12:
                raise ValueError(f"not a month: {text}")
            return cls("monthly", date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1]))
        if m := re.fullmatch(r"(\d{4})-Q([1-4])", text):
            year, quarter = int(m.group(1)), int(m.group(2))
            last = quarter * 3
            return cls("quarterly", date(year, last - 2, 1), date(year, last, calendar.monthrange(year, last)[1]))
        if re.fullmatch(r"\d{4}", text):
            return cls("annual", date(int(text), 1, 1), date(int(text), 12, 31))
        raise ValueError(f"not a period: {text!r} (use 2026-10, 2026-Q3 or 2026)")

    def due(self, policy: Policy) -> datetime:
        """When the report is due: the deadline's day after the period ends, midnight Beijing time."""
        return datetime.combine(self.end + timedelta(days=1 + policy.report_due_days[self.kind]), time(), CST)

    def bounds(self) -> tuple[datetime, datetime]:
        """The period as instants, Beijing-time days."""
        return (datetime.combine(self.start, time(), CST), datetime.combine(self.end + timedelta(days=1), time(), CST))


def due_periods(now: datetime, policy: Policy | None = None) -> list[Period]:
    """The latest month, quarter and year whose reports are due by ``now``.

    >>> [p.key for p in due_periods(datetime(2026, 11, 26, tzinfo=UTC))]
    ['2026-10', '2026-Q3', '2025']
    """
    policy = policy or Policy.load()
    local = now.astimezone(CST).date()
    out = []
    month = date(local.year, local.month, 1)
    for _ in range(3):  # the deadline may not have passed for the month just ended
        month = (month - timedelta(days=1)).replace(day=1)
        candidate = Period.parse(f"{month:%Y-%m}")
        if candidate.due(policy) <= now:
            out.append(candidate)
            break
    quarter_start = date(local.year, 3 * ((local.month - 1) // 3) + 1, 1)
    for _ in range(3):
        last = quarter_start - timedelta(days=1)
        candidate = Period.parse(f"{last.year}-Q{(last.month - 1) // 3 + 1}")
        if candidate.due(policy) <= now:
            out.append(candidate)
            break
        quarter_start = date(last.year, 3 * ((last.month - 1) // 3) + 1, 1)
    for year in (local.year - 1, local.year - 2):
        candidate = Period.parse(str(year))
        if candidate.due(policy) <= now:
            out.append(candidate)
            break
    return out


@dataclass(frozen=True, slots=True)
class MineFacts:
    mine_id: str
    mineral: str
    mining_method: str  # from the registry: underground | open_pit
    scale: str  # large | medium | small


@dataclass(frozen=True)
class PeriodFacts:
    report: dict[str, Any] | None  # the period's current report (the last correction), None if none
    submitted_at: datetime | None = None
    open_exceedances: int = 0  # emission exceedance episodes still open
    closed_exceedances: int = 0  # episodes in the period that have closed
    unhandled_red_slope: int = 0  # red slope/tailings alerts in the period neither acknowledged nor resolved
    handled_red_slope: int = 0


@dataclass(frozen=True, slots=True)
class Reason:
    indicator: str
    outcome: Outcome
    text: str


@dataclass(frozen=True)
class Evaluation:
    mine_id: str
    period: str
    status: Status
    reasons: list[Reason] = field(default_factory=list)
    three_rates_met: bool | None = None  # None: no rate could be judged
    renewal_eligible: bool | None = None  # greening and disposal both at 100 %


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def evaluate(
    mine: MineFacts,
    period: Period,
    facts: PeriodFacts,
    *,
    now: datetime,
    book: RequirementBook | None = None,
    policy: Policy | None = None,
) -> Evaluation:
    book = book or RequirementBook.load()
    policy = policy or Policy.load()
    reasons: list[Reason] = []
    add = reasons.append
    three_rates_met: bool | None = None
    renewal: bool | None = None
    due = period.due(policy)
    if facts.report is None:
        if now >= due:
            add(Reason("report", "not_met", f"no report for {period.key} (due {due:%Y-%m-%d})"))
        else:
            add(Reason("report", "not_judged", f"the report for {period.key} is not due until {due:%Y-%m-%d}"))
    else:
        if facts.submitted_at is not None and facts.submitted_at > due:
            add(
                Reason(
                    "report",
                    "warning",
                    f"report submitted {facts.submitted_at:%Y-%m-%d}, after its due date {due:%Y-%m-%d}",
                )
            )
        else:
            add(Reason("report", "met", "report on time"))
        found = figures(facts.report)
        conditions = {"mining_method": mine.mining_method, "scale": mine.scale, **found.conditions}
        judged: list[bool] = []
        for rate in RATES:
            requirement = book.requirement(mine.mineral, rate, conditions)
            value = found.rates[rate]
            name = RATE_NAMES[rate]
            if requirement.minimum is None:
                add(Reason(rate, "not_judged", f"{name} not judged: {requirement.why_unknown}"))
            elif value is None:
                add(Reason(rate, "warning", f"{name} not reported (minimum {_pct(requirement.minimum)})"))
            elif value + 1e-12 < requirement.minimum:
                judged.append(False)
                add(Reason(rate, "not_met", f"{name} {_pct(value)} is below the minimum {_pct(requirement.minimum)} "
                                            f"for {mine.mineral} ({requirement.confidence})"))  # fmt: skip
            else:
                judged.append(True)
                add(
                    Reason(
                        rate, "met", f"{name} {_pct(value)} ≥ {_pct(requirement.minimum)} ({requirement.confidence})"
                    )
                )
        three_rates_met = all(judged) if judged else None
        for indicator, value, required, label in (
            ("greening", found.greening_coverage, policy.greening_required, "greening coverage (矿区绿化覆盖率)"),
            ("solid_waste", found.solid_waste_disposal, policy.disposal_required, "solid waste disposal (妥善处置率)"),
        ):
            if value is None:
                add(Reason(indicator, "warning", f"{label} not reported"))
            elif value + 1e-12 < required:
                add(
                    Reason(
                        indicator,
                        "not_met",
                        f"{label} {_pct(value)}; licence renewal after 2020 needs {_pct(required)}",
                    )
                )
            else:
                add(Reason(indicator, "met", f"{label} {_pct(value)}"))
        if found.greening_coverage is not None and found.solid_waste_disposal is not None:
            renewal = (
                found.greening_coverage + 1e-12 >= policy.greening_required
                and found.solid_waste_disposal + 1e-12 >= policy.disposal_required
            )
    if facts.open_exceedances:
        add(Reason("emissions", "not_met", f"{facts.open_exceedances} emission exceedance(s) still open"))
    elif facts.closed_exceedances:
        add(
            Reason(
                "emissions", "warning", f"{facts.closed_exceedances} emission exceedance(s) in the period, now closed"
            )
        )
    else:
        add(Reason("emissions", "met", "no emission exceedance in the period"))
    if facts.unhandled_red_slope:
        add(Reason("slopes", "not_met", f"{facts.unhandled_red_slope} red slope/tailings warning(s) not handled"))
    else:
        handled = f" ({facts.handled_red_slope} red warning(s), handled)" if facts.handled_red_slope else ""
        add(Reason("slopes", "met", f"no unhandled red slope warning{handled}"))
    outcomes = {r.outcome for r in reasons}
    status: Status = "non_compliant" if "not_met" in outcomes else "at_risk" if "warning" in outcomes else "compliant"
    return Evaluation(mine.mine_id, period.key, status, reasons, three_rates_met, renewal)


def instant(value: str | datetime) -> datetime:
    t = datetime.fromisoformat(value) if isinstance(value, str) else value
    return t if t.tzinfo else t.replace(tzinfo=UTC)
