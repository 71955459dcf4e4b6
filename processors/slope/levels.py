"""The four warning levels of Chinese slope early warning, and "none".

注意级 blue, 警示级 yellow, 警戒级 orange, 警报级 red (JWCN 2021 Table 1, verified).

>>> higher("yellow", "orange"), rank("red"), at_least("orange", "yellow")
('orange', 4, True)
"""

from __future__ import annotations

LEVELS = ("none", "blue", "yellow", "orange", "red")
NAMES_CN = {"blue": "注意级", "yellow": "警示级", "orange": "警戒级", "red": "警报级"}


def rank(level: str) -> int:
    return LEVELS.index(level)


def higher(a: str, b: str) -> str:
    return a if rank(a) >= rank(b) else b


def at_least(level: str, floor: str) -> bool:
    return rank(level) >= rank(floor)
