"""Sends events to the demo counter with a durable producer (acks=all, idempotent)."""

from __future__ import annotations

import time
from collections.abc import Iterable

from confluent_kafka import KafkaException, Producer
from iii_kafka.schemas import AvroCodec
from iii_kafka.topology.topics import demo_topics

from ..schema_store import schema_topic_client
from ..settings import Settings

__all__ = ["send_events"]


def send_events(settings: Settings, names: Iterable[str]) -> str:
    """One event per name, keyed by the name; returns the topic. Raises if any write fails."""
    topic = demo_topics(settings.app_id, settings.partitions).events.name
    codec = AvroCodec(store=schema_topic_client(settings))
    producer = Producer({"bootstrap.servers": settings.bootstrap_servers,
                         "enable.idempotence": True, "acks": "all"})
    failures: list[str] = []

    def delivered(error, message) -> None:  # noqa: ANN001 - confluent-kafka's callback shape
        if error is not None:
            failures.append(f"{message.key()!r}: {error.str()}")

    for name in names:
        event = {"name": name, "sent_at_ms": int(time.time() * 1000)}
        producer.produce(topic, key=name.encode(), value=codec.encode(event), on_delivery=delivered)
    remaining = producer.flush(30)
    if remaining or failures:
        raise KafkaException(f"{remaining} event(s) undelivered, failures: {failures[:3]}")
    return topic
