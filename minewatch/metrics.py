"""Prometheus endpoint helper: every long-running process serves ``/metrics`` on its own port."""

from __future__ import annotations

import logging
import os

from prometheus_client import start_http_server

log = logging.getLogger(__name__)


def serve_metrics(port: int | None, host: str | None = None) -> None:
    """Serve ``/metrics`` on ``port`` (no-op when None or 0), on ``MINEWATCH_METRICS_HOST`` or loopback."""
    host = host or os.environ.get("MINEWATCH_METRICS_HOST", "127.0.0.1")
    if port:
        start_http_server(port, addr=host)
        log.info("serving metrics on http://%s:%d/metrics", host, port)
