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


def scrape(port: int, name: str, timeout: float = 5.0) -> float | None:
    """The sum of every sample of metric ``name`` (all label sets) that a local process serves on
    ``port``; None when it does not answer or serves no such metric. For drills and benchmarks.

    >>> from prometheus_client import Gauge, start_http_server
    >>> import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
    >>> start_http_server(port, addr="127.0.0.1") and None
    >>> Gauge("doctest_scrape_seconds", "a doctest's gauge").set(2.5)
    >>> scrape(port, "doctest_scrape_seconds"), scrape(port, "no_such_metric")
    (2.5, None)
    """
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout) as response:
            text = response.read().decode()
    except OSError:
        return None
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.split("{")[0].split(" ")[0] == name]
    return sum(values) if values else None
