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
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "minewatch-lag-probe", "enable.auto.commit": False}
    )
    try:
        metadata = consumer.list_topics(topic, timeout=timeout_s)
        partitions = sorted(metadata.topics[topic].partitions)
        return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout_s)[1] for p in partitions}
    finally:
        consumer.close()


class GroupLag:
    """How many records of ``topic`` a consumer group has not committed yet: one long-lived
    client that never joins the group (it only reads the group's committed offsets).

    Use as a context manager; ``records()`` may be called as often as needed.
    """

    def __init__(self, bootstrap: str, group: str, topic: str, timeout_s: float = 5.0) -> None:
        self.bootstrap, self.group, self.topic, self.timeout_s = bootstrap, group, topic, timeout_s
        self._consumer: Consumer | None = None

    def __enter__(self) -> GroupLag:
        self._consumer = Consumer(
            {"bootstrap.servers": self.bootstrap, "group.id": self.group, "enable.auto.commit": False}
        )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None

    def records(self) -> int:
        """Records between each partition's committed offset (its start, if none) and its end."""
        assert self._consumer is not None, "use GroupLag as a context manager"
        metadata = self._consumer.list_topics(self.topic, timeout=self.timeout_s)
        partitions = [TopicPartition(self.topic, p) for p in sorted(metadata.topics[self.topic].partitions)]
        committed = self._consumer.committed(partitions, timeout=self.timeout_s)
        behind = 0
        for tp in committed:
            low, high = self._consumer.get_watermark_offsets(TopicPartition(self.topic, tp.partition), self.timeout_s)
            behind += high - (tp.offset if tp.offset >= 0 else low)
        return behind
