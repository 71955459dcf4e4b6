"""When a target is told about a group of alerts (one mine, one category).

Alertmanager's grouping, kept in the database instead of memory. For a group with changes
(an alert new, escalated, acknowledged, resolved or of another severity) the first change at
``c`` and the group last told at ``l``, the notification is due at::

    due = max(c + group_wait, l + group_interval)      (l = -inf for a group never told)

so the companions of a first alert have ``group_wait`` to join it, and a target hears about a
busy group at most every ``group_interval``. A group without changes whose alerts are still
firing is told again at ``l + repeat_interval``.

>>> from datetime import timedelta
>>> wait, interval, repeat = timedelta(seconds=30), timedelta(minutes=5), timedelta(hours=4)
>>> notification_due(now=29, first_change=0, last_told=None, firing=True,
...                  group_wait=wait, group_interval=interval, repeat_interval=repeat)
False
>>> notification_due(now=30, first_change=0, last_told=None, firing=True,
...                  group_wait=wait, group_interval=interval, repeat_interval=repeat)
True
>>> notification_due(now=200, first_change=100, last_told=0, firing=True,   # told 200 s ago
...                  group_wait=wait, group_interval=interval, repeat_interval=repeat)
False
>>> notification_due(now=4 * 3600, first_change=None, last_told=0, firing=True,   # a reminder
...                  group_wait=wait, group_interval=interval, repeat_interval=repeat)
True
"""

from __future__ import annotations

from datetime import timedelta


def notification_due(
    *,
    now: float,
    first_change: float | None,
    last_told: float | None,
    firing: bool,
    group_wait: timedelta,
    group_interval: timedelta,
    repeat_interval: timedelta,
) -> bool:
    """Whether a group is told now. Times are unix seconds."""
    if first_change is not None:
        due = first_change + group_wait.total_seconds()
        if last_told is not None:
            due = max(due, last_told + group_interval.total_seconds())
        return now >= due
    return firing and last_told is not None and now >= last_told + repeat_interval.total_seconds()
