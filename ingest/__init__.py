"""Ingest: the MQTT bridge and the checks every inbound message passes before it reaches Kafka."""

from minewatch.native import compiled_path

__path__ = compiled_path(__name__, __path__)
