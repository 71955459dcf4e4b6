"""A local webhook receiver: records what the dispatcher POSTs (tests, demos, the benchmark).

>>> with WebhookReceiver() as receiver:
...     receiver.url.startswith("http://127.0.0.1:")
True
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson


class WebhookReceiver:
    """An HTTP server on a free port that keeps every JSON body it receives.

    ``refuse(n, matching)`` makes it answer 503 to the next ``n`` requests whose body matches
    (to test retries).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.received: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._refusals: list[tuple[Callable[[dict[str, Any]], bool], int]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                doc = orjson.loads(body)
                with receiver._lock:
                    if receiver._refuse(doc):
                        self.send_response(503)
                        self.end_headers()
                        return
                    receiver.received.append(doc)
                    receiver.headers.append(dict(self.headers.items()))
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
