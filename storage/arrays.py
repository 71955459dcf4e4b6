"""PostgreSQL array literals for ``unnest`` upserts, built in one join per column.

psycopg dumps a Python list element by element in Python (its ``ListDumper``); for the columns
of a batch of a few thousand rows that was a tenth of the worker's time. A column is sent
instead as one text parameter in PostgreSQL's array syntax and cast in SQL
(``%s::float8[]``, ``%s::text[]``). Text elements are always double-quoted and escaped, so any
string survives; ``None`` is ``NULL``.

>>> text_array(["GZ520201-0001", 'say "hi"', "back\\\\slash", None])
'{"GZ520201-0001","say \\\\"hi\\\\"","back\\\\\\\\slash",NULL}'
>>> number_array([1.5, None, 3, 1e-7])
'{1.5,NULL,3,1e-07}'
>>> bool_array([True, False])
'{t,f}'
"""

from __future__ import annotations

from collections.abc import Iterable


def _quoted(text: str) -> str:
    if "\\" in text or '"' in text:
        text = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def text_array(values: Iterable[str | None]) -> str:
    """A ``text[]`` literal."""
    return "{" + ",".join("NULL" if v is None else _quoted(v) for v in values) + "}"


def number_array(values: Iterable[float | int | None]) -> str:
    """A numeric array literal (``int[]``, ``bigint[]``, ``float8[]``); values must be finite."""
    return "{" + ",".join("NULL" if v is None else repr(v) for v in values) + "}"


def bool_array(values: Iterable[bool]) -> str:
    """A ``bool[]`` literal."""
    return "{" + ",".join("t" if v else "f" for v in values) + "}"
