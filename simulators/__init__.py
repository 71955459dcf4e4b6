"""Simulators: a province of mines (fleet.py), their telemetry (telemetry.py) and a publisher."""
