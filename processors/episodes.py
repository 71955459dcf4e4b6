"""Exceedance episodes: consecutive windows over a limit are one exceedance.

An exceedance opens with the first window that exceeds its limit, is extended by every later
exceeding window, and closes (recovery) at the first complying window after it. Windows with
insufficient data neither extend nor close an episode: the bureau sees that the data were
missing, not that the discharge recovered. A window judged again after late data is
re-judged here too: episodes are a pure function of the current verdicts, so a revision that
turns a window from exceeding to complying shrinks, splits or withdraws the episode.

The exceedance id is stable: (series, limit, basis, start of the first exceeding window).

>>> from processors.samples import SeriesKey
>>> from processors.windows import Verdict
>>> s = SeriesKey("GZ520201-0001", "ST01", "a34013", "")
>>> def v(hour, outcome, value=None):
...     multiple = None if outcome != "exceeds" else round(value / 120 - 1, 6)
...     start, end = hour * 3600.0, (hour + 1) * 3600.0
...     return Verdict(s, "lim", "hourly_mean", start, end, outcome, value, "mg/m3", 60, 45, multiple)
>>> [(e.first_start / 3600, e.last_end / 3600, e.closed_at and e.closed_at / 3600, e.windows, e.peak.value)
...  for e in episodes_of([v(0, "complies", 90), v(1, "exceeds", 150), v(2, "insufficient"),
...                        v(3, "exceeds", 200), v(4, "complies", 80), v(5, "exceeds", 130)])]
[(1.0, 4.0, 4.0, 2, 200), (5.0, 6.0, None, 1, 130)]
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from processors.samples import SeriesKey
from processors.windows import Verdict


@dataclass(frozen=True, slots=True)
class Episode:
    exceedance_id: str
    series: SeriesKey
    limit_id: str
    basis: str
    first_start: float  # start of the first exceeding window
    last_end: float  # end of the last exceeding window
    closed_at: float | None  # start of the complying window that ended it; None while open
    windows: int  # exceeding windows in the episode
    peak: Verdict  # the window with the largest multiple over the limit

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


def exceedance_id(series: SeriesKey, limit_id: str, basis: str, first_start: float) -> str:
    key = "|".join((*series, limit_id, basis, f"{first_start:.0f}"))
    return hashlib.sha256(key.encode()).hexdigest()[:24]


def episodes_of(verdicts: Iterable[Verdict]) -> list[Episode]:
    """The episodes in the verdicts of ONE series, limit and basis (any order)."""
    ordered = sorted(verdicts, key=lambda v: v.window_start)
    found: list[Episode] = []
    current: list[Verdict] = []

    def close(closed_at: float | None) -> None:
        if current:
            peak = max(current, key=lambda v: (v.multiple or 0.0, -v.window_start))
            first = current[0]
            found.append(
                Episode(
                    exceedance_id(first.series, first.limit_id, first.basis, first.window_start),
                    first.series,
                    first.limit_id,
                    first.basis,
                    first.window_start,
                    current[-1].window_end,
                    closed_at,
                    len(current),
                    peak,
                )
            )
            current.clear()

    for verdict in ordered:
        if verdict.outcome == "exceeds":
            current.append(verdict)
        elif verdict.outcome == "complies":
            close(verdict.window_start)
    close(None)
    return found
