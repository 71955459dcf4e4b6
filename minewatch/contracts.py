"""The message contracts: the JSON Schema files under ``schemas/``, compiled once.

Every payload a mine publishes is checked against the schema its topic names. The files are
the contract a mine implements in any language; this module only loads them.

>>> contracts = load_contracts()
>>> sorted(contracts.names)[:3]
['device-status.v1', 'self-report.v1', 'self-report.v2']
>>> contracts.first_error("telemetry-rain.v1", {"schema": "minewatch/telemetry-rain/v1"})
'message_id is required'
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

import jsonschema_rs

from minewatch.paths import SCHEMAS

COMMON = "common.v1"
MAX_REASON_CHARS = 300


REPORT_VERSIONS = {"minewatch/self-report/v1": "self-report.v1", "minewatch/self-report/v2": "self-report.v2"}


def schema_for(channel: str, kind: str | None, declared: object = None) -> str:
    """The schema name a topic's payload must meet (see :mod:`minewatch.topics`). Self-reports
    come in versions; the payload's ``schema`` field says which (v1 when it names none known)."""
    if channel == "telemetry":
        return f"telemetry-{kind}.v1"
    if channel == "status":
        return "device-status.v1"
    return REPORT_VERSIONS.get(declared, "self-report.v1") if isinstance(declared, str) else "self-report.v1"


@dataclass(frozen=True)
class Contracts:
    validators: dict[str, jsonschema_rs.Validator]

    @property
    def names(self) -> list[str]:
        return list(self.validators)

    def is_valid(self, name: str, document: Any) -> bool:
        try:
            return self.validators[name].is_valid(document)
        except ValueError:  # nested deeper than the validator can follow: no message is
            return False

    def first_error(self, name: str, document: Any) -> str | None:
        """A one-line explanation of the first violation, naming where it is, or None."""
        try:
            for error in self.validators[name].iter_errors(document):
                return describe(error)
        except ValueError:
            return "objects or arrays are nested far deeper than any minewatch message allows"
        return None


def describe(error: jsonschema_rs.ValidationError) -> str:
    """Turn a validator error into a sentence a mine operator can act on."""
    where = _path(error.instance_path)
    kind = type(error.kind).__name__
    if kind == "Required":
        missing = error.kind.property  # type: ignore[attr-defined]
        field = f"{where}.{missing}" if where else str(missing)
        return f"{field} is required"
    if kind == "Not" and where.endswith(".flag"):
        return f"{where}: a null value must carry the flag that says why it is missing (F, M, S, D, C, T or B), not N"
    prefix = f"{where}: " if where else ""
    return prefix + _shortened(error.message)


def _shortened(text: str, limit: int = MAX_REASON_CHARS) -> str:
    """Validator messages quote the offending value, which may be huge: keep the reason short.

    >>> _shortened("x" * 500, limit=10)
    'xxxxxxxxx…'
    """
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _path(parts: Any) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


@cache
def load_contracts() -> Contracts:
    documents = {
        path.name.removesuffix(".schema.json"): json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(SCHEMAS.glob("*.schema.json"))
    }
    registry = jsonschema_rs.Registry([(doc["$id"], doc) for doc in documents.values()])
    validators = {
        name: jsonschema_rs.validator_for(doc, registry=registry, validate_formats=False)
        for name, doc in documents.items()
        if name != COMMON
    }
    return Contracts(validators)
