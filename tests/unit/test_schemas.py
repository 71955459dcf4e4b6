"""The schema files are valid JSON Schema 2020-12, and every example is judged as it says."""

from __future__ import annotations

import json

import jsonschema
import pytest
from referencing import Registry as RefRegistry
from referencing import Resource

from ingest.validation import Gatekeeper
from minewatch.contracts import load_contracts, schema_for
from minewatch.paths import SCHEMAS
from minewatch.topics import parse_topic
from tests.examples import example_registry, load_examples

SCHEMA_FILES = sorted(SCHEMAS.glob("*.schema.json"))
VALID = load_examples("valid")
INVALID = load_examples("invalid")


def _reference_validator(name: str) -> jsonschema.protocols.Validator:
    docs = [json.loads(p.read_text(encoding="utf-8")) for p in SCHEMA_FILES]
    refs = RefRegistry().with_resources((d["$id"], Resource.from_contents(d)) for d in docs)
    schema = next(d for d in docs if d["$id"].endswith(f"/{name}.schema.json"))
    return jsonschema.Draft202012Validator(schema, registry=refs)


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda p: p.name)
def test_schema_is_valid_2020_12(path):
    schema = json.loads(path.read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$id"].endswith(path.name)


def test_there_are_examples_of_every_channel():
    channels = {parse_topic(e.topic).channel for e in VALID}
    kinds = {parse_topic(e.topic).kind for e in VALID if parse_topic(e.topic).channel == "telemetry"}
    assert channels == {"telemetry", "status", "reports"}
    assert kinds == {"wastewater", "emission", "slope", "rain"}
    assert len(INVALID) >= 20


@pytest.mark.parametrize("example", VALID, ids=lambda e: e.name)
def test_valid_example_meets_its_schema_and_the_gate(example):
    address = parse_topic(example.topic)
    name = schema_for(address.channel, address.kind, example.document.get("schema"))
    # the reference implementation and the compiled hot-path validator agree
    assert _reference_validator(name).is_valid(example.document)
    assert load_contracts().is_valid(name, example.document)
    verdict = Gatekeeper(example_registry()).check(example.topic, example.payload_bytes, now=example.as_of.timestamp())
    assert verdict.accepted, getattr(verdict, "reason", "")


@pytest.mark.parametrize("example", INVALID, ids=lambda e: e.name)
def test_invalid_example_is_rejected_for_its_reason(example):
    verdict = Gatekeeper(example_registry()).check(example.topic, example.payload_bytes, now=example.as_of.timestamp())
    assert not verdict.accepted
    assert verdict.code == example.reason, verdict.reason
    assert len(verdict.reason) > 20  # a sentence an operator can act on, not a bare code


@pytest.mark.parametrize("example", [e for e in INVALID if e.reason == "schema_violation"], ids=lambda e: e.name)
def test_schema_violations_are_violations_for_the_reference_validator_too(example):
    address = parse_topic(example.topic)
    declared = example.document.get("schema") if isinstance(example.document, dict) else None
    assert not _reference_validator(schema_for(address.channel, address.kind, declared)).is_valid(example.document)
