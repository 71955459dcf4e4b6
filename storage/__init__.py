"""Storage: schema migrations (TimescaleDB when present, plain PostgreSQL otherwise) and writers."""

from minewatch.native import compiled_path

__path__ = compiled_path(__name__, __path__)
