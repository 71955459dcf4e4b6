"""The alert dispatcher: runs the notifier and drains the delivery outbox.

Each loop: the notifier (``alerts/notifier.py``) escalates and turns due groups into
notifications with their deliveries; then due deliveries are claimed with a lease
(``next_attempt_at`` pushed forward, ``FOR UPDATE SKIP LOCKED``) and sent, so several
dispatchers can run and one killed mid-delivery leaves the delivery to be retried when the lease
ends: at-least-once. Receivers de-duplicate on ``X-Minewatch-Delivery`` (webhooks) or
``notification_id`` (in every body). Webhooks are signed (``alerts/signing.py``) when the
target's ``secret_env`` names a variable holding the secret. Failed attempts back off
exponentially (:func:`backoff_s`); a delivery older than ``max_age_s`` stops being retried and
is marked ``failed``, visible rather than dropped. Every attempt is recorded.

>>> [backoff_s(n) for n in (1, 2, 3, 10, 20)]
[1.0, 2.0, 4.0, 300.0, 300.0]
"""

from __future__ import annotations

import logging
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
import psycopg
from prometheus_client import Counter
from psycopg.rows import dict_row

from alerts.notifier import Notifier
from alerts.routing import RoutingConfig
from alerts.signing import sign
from alerts.store import OUTBOX_CHANNEL
from minewatch.settings import MqttEndpoint, endpoint_of

log = logging.getLogger(__name__)

DELIVERY_ATTEMPTS = Counter(
    "minewatch_alert_delivery_attempts_total", "Delivery attempts by channel and outcome", ["channel", "outcome"]
)
DELIVERIES_FAILED = Counter("minewatch_alert_deliveries_failed_total", "Deliveries given up after max age", ["channel"])
NOTIFIER_STEPS = Counter("minewatch_notifier_steps_total", "Notifier steps run")


def backoff_s(attempt: int, base: float = 1.0, cap: float = 300.0) -> float:
    return min(cap, base * 2 ** (attempt - 1))


@dataclass(frozen=True)
class DispatchPolicy:
    batch: int = 100
    lease_s: float = 60.0
    http_timeout_s: float = 5.0
    max_age_s: float = 24 * 3600.0
    tick_s: float = 1.0


class DeliveryError(Exception):
    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class Dispatcher:
    def __init__(
        self,
        db_url: str,
        mqtt_endpoint: MqttEndpoint,
        routing: RoutingConfig,
        policy: DispatchPolicy | None = None,
        *,
        external_url: str = "",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.db_url = db_url
        self.routing = routing
        self.policy = policy or DispatchPolicy()
        self.external_url = external_url
        self.clock = clock
        self.sent = 0
        self.failed_attempts = 0
        self._mqtt = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"minewatch-dispatcher-{os.getpid()}-{threading.get_native_id()}",
            protocol=mqtt.MQTTv311,
        )
        if mqtt_endpoint.username:
            self._mqtt.username_pw_set(mqtt_endpoint.username, mqtt_endpoint.password)
        self._mqtt.connect_async(mqtt_endpoint.host, mqtt_endpoint.port, keepalive=30)
        self._mqtt.loop_start()

    def close(self) -> None:
        self._mqtt.loop_stop()
        self._mqtt.disconnect()

    def __enter__(self) -> Dispatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, stop: threading.Event) -> None:
        """Notify and deliver until ``stop`` is set, waking on NOTIFY or every ``tick_s``."""
        while not stop.is_set():
            try:
                with (
                    psycopg.connect(self.db_url, autocommit=True) as listener,
                    psycopg.connect(self.db_url, autocommit=True) as notifier_conn,
                    psycopg.connect(self.db_url, autocommit=True, row_factory=dict_row) as conn,
                ):
                    listener.execute(f"LISTEN {OUTBOX_CHANNEL}")
                    notifier = Notifier(notifier_conn, self.routing, self.external_url)
                    while not stop.is_set():
                        notifier.step(self.clock())
                        NOTIFIER_STEPS.inc()
                        while self.drain_once(conn):
                            pass
                        for _ in listener.notifies(timeout=self.policy.tick_s, stop_after=1):
                            pass
            except psycopg.OperationalError as exc:
                log.warning("database unavailable (%s); retrying in 1 s", exc)
                stop.wait(1.0)

    def drain_once(self, conn: psycopg.Connection) -> int:
        """Claim and attempt one batch of due deliveries; returns how many were attempted.

        ``conn`` is an autocommit connection with ``dict_row`` rows.
        """
        claimed = conn.execute(
            """
            UPDATE notification_deliveries d
               SET next_attempt_at = now() + make_interval(secs => %s), attempts = attempts + 1
             WHERE delivery_id IN (
                   SELECT delivery_id FROM notification_deliveries
                    WHERE status = 'pending' AND next_attempt_at <= now()
                    ORDER BY next_attempt_at LIMIT %s FOR UPDATE SKIP LOCKED)
            RETURNING d.delivery_id, d.notification_id, d.channel, d.target, d.secret_env, d.body,
                      d.attempts, d.created_at
            """,
            (self.policy.lease_s, self.policy.batch),
        ).fetchall()
        for delivery in claimed:
            self._attempt(conn, delivery)
        return len(claimed)

    def _attempt(self, conn: psycopg.Connection, delivery: dict) -> None:
        try:
            if delivery["channel"] == "webhook":
                status = self._post(delivery)
            else:
                self._publish(delivery["target"], bytes(delivery["body"]))
                status = None
        except DeliveryError as exc:
            self.failed_attempts += 1
            DELIVERY_ATTEMPTS.labels(delivery["channel"], "error").inc()
            age = time.time() - delivery["created_at"].timestamp()
            give_up = age > self.policy.max_age_s
            with conn.transaction():
                conn.execute(
                    "UPDATE notification_deliveries SET last_error = %s, status = %s,"
                    " next_attempt_at = now() + make_interval(secs => %s) WHERE delivery_id = %s",
                    (
                        str(exc),
                        "failed" if give_up else "pending",
                        backoff_s(delivery["attempts"]),
                        delivery["delivery_id"],
                    ),
                )
                conn.execute(
                    "INSERT INTO notification_attempts (delivery_id, outcome, status_code, error)"
                    " VALUES (%s, 'error', %s, %s)",
                    (delivery["delivery_id"], exc.status_code, str(exc)),
                )
            if give_up:
                DELIVERIES_FAILED.labels(delivery["channel"]).inc()
            log.warning(
                "delivery %s to %s failed (attempt %s)%s: %s",
                delivery["delivery_id"],
                delivery["target"] if delivery["channel"] == "mqtt" else endpoint_of(delivery["target"]),
                delivery["attempts"],
                "; giving up" if give_up else "",
                exc,
            )
            return
        self.sent += 1
        DELIVERY_ATTEMPTS.labels(delivery["channel"], "sent").inc()
        with conn.transaction():
            conn.execute(
                "UPDATE notification_deliveries SET status = 'sent', sent_at = now(), last_error = NULL"
                " WHERE delivery_id = %s",
                (delivery["delivery_id"],),
            )
            conn.execute(
                "INSERT INTO notification_attempts (delivery_id, outcome, status_code) VALUES (%s, 'sent', %s)",
                (delivery["delivery_id"], status),
            )

    def _post(self, delivery: dict) -> int:
        body = bytes(delivery["body"])
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "minewatch-dispatcher",
            "X-Minewatch-Delivery": str(delivery["delivery_id"]),
            "X-Minewatch-Notification": str(delivery["notification_id"]),
        }
        if delivery["secret_env"]:
            secret = os.environ.get(delivery["secret_env"])
            if not secret:
                raise DeliveryError(f"signing secret {delivery['secret_env']} not set in the dispatcher's environment")
            headers |= sign(body, secret)
        request = urllib.request.Request(delivery["target"], data=body, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.policy.http_timeout_s) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            raise DeliveryError(f"HTTP {exc.code} from receiver", exc.code) from None
        except (urllib.error.URLError, OSError) as exc:
            raise DeliveryError(f"receiver unreachable: {exc}") from None

    def _publish(self, topic: str, body: bytes) -> None:
        if not self._mqtt.is_connected():
            raise DeliveryError("MQTT broker not connected")
        info = self._mqtt.publish(topic, body, qos=1)
        try:
            info.wait_for_publish(timeout=5.0)
        except (RuntimeError, ValueError) as exc:
            raise DeliveryError(f"MQTT publish failed: {exc}") from None
        if not info.is_published():
            raise DeliveryError("MQTT publish not acknowledged within 5 s")
