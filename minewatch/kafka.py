"""Small Kafka administration helpers shared by the CLI, the stack and the worker."""

from __future__ import annotations

from confluent_kafka import Consumer, TopicCollection, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


class KafkaAdminError(RuntimeError):
    pass


def create_topics(bootstrap: str, names: tuple[str, ...], partitions: int, replication: int = 1) -> list[str]:
    """Create ``names`` with one partition count; returns those that were created (others existed)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics(
        [NewTopic(n, num_partitions=partitions, replication_factor=replication) for n in names],
        operation_timeout=15,
    )
    created = []
    for name, future in futures.items():
        try:
            future.result()
            created.append(name)
        except Exception as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise KafkaAdminError(f"could not create Kafka topic {name}: {exc}") from exc
    return created


def topic_ids(bootstrap: str, names: tuple[str, ...], timeout_s: float = 15.0) -> dict[str, str]:
    """Kafka's topic id (KIP-516) of each topic, '' where the broker has none."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.describe_topics(TopicCollection(list(names)), request_timeout=timeout_s)
    ids = {}
    for name, future in futures.items():
        topic_id = future.result().topic_id
        ids[name] = str(topic_id) if topic_id is not None else ""
    return ids


def high_watermarks(bootstrap: str, topic: str, timeout_s: float = 5.0) -> dict[int, int]:
    """The next offset to be written in each partition of ``topic`` (its high watermark)."""
    with GroupLag(bootstrap, "minewatch-lag-probe", topic, timeout_s) as probe:
        return {partition: high for partition, (_, high) in probe.watermarks().items()}


class GroupLag:
    """How many records of ``topic`` a consumer group has not committed yet: one long-lived
    client that never joins the group (it only reads the group's committed offsets).

    Use as a context manager; ``records()`` may be called as often as needed (the topic's
    partitions are read once: minewatch creates its topics with a fixed count).
    """

    def __init__(self, bootstrap: str, group: str, topic: str, timeout_s: float = 5.0) -> None:
        self.bootstrap, self.group, self.topic, self.timeout_s = bootstrap, group, topic, timeout_s
        self._consumer: Consumer | None = None
        self._partitions: list[TopicPartition] = []

    def __enter__(self) -> GroupLag:
        self._consumer = Consumer(
            {"bootstrap.servers": self.bootstrap, "group.id": self.group, "enable.auto.commit": False}
        )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None

    def _client(self) -> Consumer:
        assert self._consumer is not None, "use GroupLag as a context manager"
        if not self._partitions:
            metadata = self._consumer.list_topics(self.topic, timeout=self.timeout_s)
            self._partitions = [TopicPartition(self.topic, p) for p in sorted(metadata.topics[self.topic].partitions)]
        return self._consumer

    def watermarks(self) -> dict[int, tuple[int, int]]:
        """Each partition's first offset and the next offset to be written."""
        consumer = self._client()
        return {tp.partition: consumer.get_watermark_offsets(tp, timeout=self.timeout_s) for tp in self._partitions}

    def records(self) -> int:
        """Records between each partition's committed offset (its start, if none) and its end."""
        committed = {tp.partition: tp.offset for tp in self._client().committed(self._partitions, self.timeout_s)}
        return sum(high - (committed[p] if committed[p] >= 0 else low) for p, (low, high) in self.watermarks().items())
