"""Ingest: the MQTT bridge and the checks every inbound message passes before it reaches Kafka."""
