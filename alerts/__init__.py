"""Alerts: the alert model (pure), its storage with the delivery outbox, and the dispatcher."""
