"""The green-mine registry (名录管理): a mine's way onto the provincial and national lists, and off.

Policy 三（五）: a mine files its self-assessment (自评报告) with the county bureau; the county
has a third party check it on site; qualifying mines go up level by level into the provincial
registry (and, by the national procedure, the national one). 三（六）: mines that stop meeting
the standard are removed (剔除) and exposed. Every move is kept with who made it, when, and the
evidence; minewatch only ever *recommends* delisting, a person decides.

=================  ================  ===========================  ==================
from               action            to                           by (at least)
=================  ================  ===========================  ==================
candidate          self_assess       self_assessed                the mine, or its county
self_assessed      verify            verified                     county (third-party check)
self_assessed,     reject            candidate                    county
verified
verified           list_provincial   listed_provincial            province
listed_provincial  list_national     listed_national              province
listed_*           delist            delisted                     province
delisted           reapply           candidate                    the mine, or its county
=================  ================  ===========================  ==================

>>> move("candidate", "self_assess", "mine")
'self_assessed'
>>> move("verified", "list_provincial", "county")
Traceback (most recent call last):
...
greenmine.registry_states.RegistryTransitionError: list_provincial needs a province bureau; a county token cannot do it
"""

from __future__ import annotations

STATES = ("candidate", "self_assessed", "verified", "listed_provincial", "listed_national", "delisted")
LISTED = ("listed_provincial", "listed_national")
LEVEL_RANK = {"mine": 0, "county": 1, "region": 2, "province": 3}

_MOVES: dict[str, tuple[tuple[str, ...], str, str]] = {
    # action: (from states, to state, lowest level allowed)
    "self_assess": (("candidate",), "self_assessed", "mine"),
    "verify": (("self_assessed",), "verified", "county"),
    "reject": (("self_assessed", "verified"), "candidate", "county"),
    "list_provincial": (("verified",), "listed_provincial", "province"),
    "list_national": (("listed_provincial",), "listed_national", "province"),
    "delist": (LISTED, "delisted", "province"),
    "reapply": (("delisted",), "candidate", "mine"),
}
ACTIONS = tuple(_MOVES)


class RegistryTransitionError(ValueError):
    """The action does not apply to the mine's state, or not at the caller's level."""


def move(state: str, action: str, level: str) -> str:
    """The state after ``action`` taken by a token of ``level`` (mine, county, region, province)."""
    if action not in _MOVES:
        raise RegistryTransitionError(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
    sources, target, lowest = _MOVES[action]
    if LEVEL_RANK[level] < LEVEL_RANK[lowest]:
        raise RegistryTransitionError(f"{action} needs a {lowest} bureau; a {level} token cannot do it")
    if level == "mine" and lowest != "mine":
        raise RegistryTransitionError(f"{action} is for a bureau, not the mine itself")
    if state not in sources:
        raise RegistryTransitionError(f"{action} applies to a mine {' or '.join(sources)}, not {state}")
    return target
