"""Runtime settings, read from ``MINEWATCH_*`` environment variables.

Every service reads the same variables, so the embedded stack, docker-compose and the tests
configure processes the same way. An MQTT password can be given in the URL or, for a
service account, looked up in ``MINEWATCH_MQTT_SECRETS`` (the YAML file ``minewatch
broker-config`` writes). Secrets never appear in ``repr``:

>>> s = Settings.from_env({"MINEWATCH_DB_URL": "postgresql://app:s3cret@db:5432/minewatch",
...                        "MINEWATCH_MQTT_URL": "mqtt://bridge:hunter2@broker:1883"})
>>> "s3cret" in repr(s) or "hunter2" in repr(s)
False
>>> s.mqtt.host, s.mqtt.port, s.mqtt.username
('broker', 1883, 'bridge')
>>> redact("postgresql://app:s3cret@db/minewatch")
'postgresql://app:***@db/minewatch'
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

if TYPE_CHECKING:
    from alerts.routing import RoutingConfig

DEFAULT_DB_URL = "postgresql://postgres@127.0.0.1:5432/minewatch"


def redact(url: str) -> str:
    """``url`` with any password replaced by ``***`` (safe to log)."""
    return re.sub(r"(//[^:/@]+:)[^@]*@", r"\1***@", url)


def endpoint_of(url: str) -> str:
    """Where a webhook URL points, without user, password, path or query (which may carry a
    token): safe to log and to show a bureau.

    >>> endpoint_of("https://user:pw@hooks.example:8443/in?token=abc")
    'https://hooks.example:8443'
    """
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}"


def _secret(path: Path, username: str) -> str:
    """The password of ``username`` in a YAML secrets file (written by ``minewatch broker-config``)."""
    import yaml

    secrets = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if username not in secrets:
        raise ValueError(f"no MQTT password for {username} in {path}")
    return str(secrets[username])


@dataclass(frozen=True)
class MqttEndpoint:
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, url: str) -> MqttEndpoint:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "tcp"):
            raise ValueError(f"MQTT URL must start with mqtt://, got {redact(url)}")
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 1883,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )

    def with_credentials(self, username: str | None, password: str | None) -> MqttEndpoint:
        return MqttEndpoint(self.host, self.port, username, password)


# How long a partition's accepted messages gather into one Kafka record. Each record costs Tansu
# a write and the worker a Faust event, whatever its size: at 20 ms a record held ~12 messages
# in the overload benchmark, at 50 ms ~40, and the same run stored 48,570 -> 68,381 readings/s
# (Tansu 3.7 -> 1.3 µs, workers 11.8 -> 9.2 µs a reading). The broker sends the bridge at most
# max_inflight_messages (1,000) unacknowledged messages, so the linger plus Kafka's round trip
# must stay under 1,000 messages' time at full speed (100 ms at 100,000 readings/s, 10 a message).
# At full speed the telemetry topic carries kafka_partitions / BRIDGE_LINGER_S records a second.
BRIDGE_LINGER_S = 0.05


@dataclass(frozen=True)
class Settings:
    db_url: str = DEFAULT_DB_URL
    mqtt: MqttEndpoint = field(default_factory=MqttEndpoint)
    kafka_bootstrap: str = "127.0.0.1:9092"
    # One per core here. Tansu's fetch cost grows with the records in the partitions it serves,
    # and the bridge closes a record per partition every 50 ms: fewer partitions, fewer and bigger
    # records. 100,000 readings/s for 5 minutes, back to back: Tansu 28 s of CPU with 2 against
    # 47 s with 4 (84 s with 8 at 60,000/s), p99 publish -> row 0.84 s against 0.91 s; overload
    # stored 119,272/s against 110,866/s. At most one worker per partition: more cores, more.
    kafka_partitions: int = 2
    registry_path: Path = Path("registry.yaml")
    webhook_urls: tuple[str, ...] = ()
    # Tansu completes a consumer-group join only after half the session timeout; Faust's
    # default of 60 s made every worker start wait 30 s. 6 s keeps start-up at ~3 s and still
    # tolerates a busy event loop (Faust heartbeats from its own thread).
    kafka_session_timeout_s: float = 6.0
    instance: str = "0"
    routing_path: Path | None = None  # None: data/routing.yaml
    webhook_secret_env: str | None = None  # the variable holding the platform webhooks' HMAC secret
    external_url: str = ""  # where the bureau API is reachable, for links in notifications

    def records_over(self, seconds: float) -> int:
        """Telemetry records Kafka carries in ``seconds`` at full speed. The worker's takes and
        buffers and the bridge's flow marks count records, and a record holds one partition's
        messages over BRIDGE_LINGER_S, so sized in seconds they hold the same readings whatever
        the partition count.

        >>> Settings(kafka_partitions=4).records_over(0.25), Settings(kafka_partitions=8).records_over(0.25)
        (20, 40)
        """
        return max(1, round(seconds * self.kafka_partitions / BRIDGE_LINGER_S))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        default = cls()
        webhooks = env.get("MINEWATCH_WEBHOOK_URLS", "")
        mqtt = MqttEndpoint.parse(env["MINEWATCH_MQTT_URL"]) if env.get("MINEWATCH_MQTT_URL") else default.mqtt
        if mqtt.username and mqtt.password is None and env.get("MINEWATCH_MQTT_SECRETS"):
            mqtt = mqtt.with_credentials(mqtt.username, _secret(Path(env["MINEWATCH_MQTT_SECRETS"]), mqtt.username))
        return cls(
            db_url=env.get("MINEWATCH_DB_URL", default.db_url),
            mqtt=mqtt,
            kafka_bootstrap=env.get("MINEWATCH_KAFKA_BOOTSTRAP", default.kafka_bootstrap),
            kafka_partitions=int(env.get("MINEWATCH_KAFKA_PARTITIONS", default.kafka_partitions)),
            registry_path=Path(env.get("MINEWATCH_REGISTRY", str(default.registry_path))),
            webhook_urls=tuple(u.strip() for u in webhooks.split(",") if u.strip()),
            kafka_session_timeout_s=float(
                env.get("MINEWATCH_KAFKA_SESSION_TIMEOUT_S", default.kafka_session_timeout_s)
            ),
            instance=env.get("MINEWATCH_INSTANCE", default.instance),
            routing_path=Path(env["MINEWATCH_ROUTING"]) if env.get("MINEWATCH_ROUTING") else None,
            webhook_secret_env="MINEWATCH_WEBHOOK_SECRET" if env.get("MINEWATCH_WEBHOOK_SECRET") else None,
            external_url=env.get("MINEWATCH_EXTERNAL_URL", ""),
        )

    def routing(self) -> RoutingConfig:
        """The routing rules, with the platform webhooks of ``MINEWATCH_WEBHOOK_URLS`` added."""
        from alerts.routing import RoutingConfig

        return RoutingConfig.load(self.routing_path).with_platform_webhooks(self.webhook_urls, self.webhook_secret_env)

    def __repr__(self) -> str:
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "db_url":
                value = redact(value)
            if f.name == "webhook_urls":
                value = tuple(redact(u) for u in value)
            shown.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(shown)})"
