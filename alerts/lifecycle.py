"""The life of an alert: firing → acknowledged → resolved, and back (reopened).

Pure: :func:`transition` takes the current status and an action and returns the new status, or
raises :class:`InvalidTransition` with a sentence saying why. Every transition is kept as
history by the store (who, when, comment).

* ``fire``: a new occurrence of the condition. Firing or acknowledged stay as they are; a
  resolved alert is reopened (firing again).
* ``acknowledge``: a person takes it (firing → acknowledged). Stops escalation.
* ``resolve``: the condition cleared (by minewatch) or a person closed it (with a comment).
* ``reopen``: a person reopens a resolved alert.

>>> transition("firing", "acknowledge")
'acknowledged'
>>> transition("acknowledged", "resolve")
'resolved'
>>> transition("resolved", "fire")
'firing'
>>> transition("resolved", "acknowledge")
Traceback (most recent call last):
...
alerts.lifecycle.InvalidTransition: a resolved alert cannot be acknowledged; reopen it first
"""

from __future__ import annotations

from typing import Literal

Status = Literal["firing", "acknowledged", "resolved"]
Action = Literal["fire", "acknowledge", "resolve", "reopen"]
STATUSES: tuple[Status, ...] = ("firing", "acknowledged", "resolved")
ACTIONS: tuple[Action, ...] = ("fire", "acknowledge", "resolve", "reopen")

_MOVES: dict[tuple[str, str], str] = {
    ("firing", "fire"): "firing",
    ("acknowledged", "fire"): "acknowledged",
    ("resolved", "fire"): "firing",
    ("firing", "acknowledge"): "acknowledged",
    ("firing", "resolve"): "resolved",
    ("acknowledged", "resolve"): "resolved",
    ("resolved", "reopen"): "firing",
}

_WHY = {
    ("acknowledged", "acknowledge"): "the alert is already acknowledged",
    ("resolved", "acknowledge"): "a resolved alert cannot be acknowledged; reopen it first",
    ("resolved", "resolve"): "the alert is already resolved",
    ("firing", "reopen"): "only a resolved alert can be reopened",
    ("acknowledged", "reopen"): "only a resolved alert can be reopened",
}


class InvalidTransition(ValueError):
    """The action does not apply to an alert in this status."""


def transition(status: str, action: str) -> str:
    try:
        return _MOVES[(status, action)]
    except KeyError:
        raise InvalidTransition(_WHY.get((status, action), f"cannot {action} a {status} alert")) from None
