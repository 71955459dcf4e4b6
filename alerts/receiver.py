"""A local webhook receiver: records what the dispatcher POSTs (tests, demos, the benchmark).

It does what a careful receiver does: with a ``secret`` it refuses (401) a request whose
signature or timestamp does not verify (``alerts/signing.py``), and it de-duplicates on the
``X-Minewatch-Delivery`` header, since delivery is at-least-once.

>>> with WebhookReceiver() as receiver:
...     receiver.url.startswith("http://127.0.0.1:")
True
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

from alerts.signing import verify


class WebhookReceiver:
    """An HTTP server on a free port that keeps every JSON body it receives.

    ``refuse(n, matching)`` makes it answer 503 to the next ``n`` requests whose body matches
    (to test retries). ``received`` keeps each delivery once; ``requests`` counts every POST
    that was accepted, repeats included; ``bad_signatures`` counts the refused ones.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, secret: str | None = None) -> None:
        self.received: list[dict[str, Any]] = []
        self.arrived_at: list[float] = []  # wall-clock time each of ``received`` arrived
        self.headers: list[dict[str, str]] = []
        self.requests = 0
        self.bad_signatures = 0
        self.stall_s = 0.0  # hold each answer this long after recording (a receiver that is slow to reply)
        self._deliveries: set[str] = set()
        self._refusals: list[tuple[Callable[[dict[str, Any]], bool], int]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = dict(self.headers.items())
                if secret is not None and not verify(body, headers, secret):
                    with receiver._lock:
                        receiver.bad_signatures += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                doc = orjson.loads(body)
                with receiver._lock:
                    if receiver._refuse(doc):
                        self.send_response(503)
                        self.end_headers()
                        return
                    receiver.requests += 1
                    delivery = headers.get("X-Minewatch-Delivery")
                    if delivery is None or delivery not in receiver._deliveries:
                        receiver._deliveries.add(delivery or "")
                        receiver.received.append(doc)
                        receiver.arrived_at.append(time.time())
                        receiver.headers.append(headers)
                if receiver.stall_s:
                    time.sleep(receiver.stall_s)
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/alerts"

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def refuse(self, count: int, matching: Callable[[dict[str, Any]], bool] = lambda doc: True) -> None:
        with self._lock:
            self._refusals.append((matching, count))

    def _refuse(self, doc: dict[str, Any]) -> bool:
        for i, (matching, left) in enumerate(self._refusals):
            if left > 0 and matching(doc):
                self._refusals[i] = (matching, left - 1)
                return True
        return False

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.received)

    def arrivals(self) -> list[tuple[float, dict[str, Any]]]:
        """(arrival time, body) of every delivery received (the benchmark's alert latency)."""
        with self._lock:
            return list(zip(self.arrived_at, self.received, strict=True))

    def about(self, alert_id: int) -> list[dict[str, Any]]:
        """The notifications received that carry alert ``alert_id`` (minewatch format)."""
        return [doc for doc in self.snapshot() if any(a["alert_id"] == alert_id for a in doc.get("alerts", ()))]

    def alert_ids(self) -> set[int]:
        return {a["alert_id"] for doc in self.snapshot() for a in doc.get("alerts", ())}
