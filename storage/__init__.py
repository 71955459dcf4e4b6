"""Storage: schema migrations (TimescaleDB when present, plain PostgreSQL otherwise) and writers."""
