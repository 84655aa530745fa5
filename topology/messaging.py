"""Pub/sub, durable subscribers and streams: their topics and consumer groups.

| topic | key | value | shape |
| --- | --- | --- | --- |
| `<ns>.durable.<topic>` | the message id | `DurableMessage` | log, kept 7 days |
| `<ns>.streams` | the group's scope (`stream::<name>::<group>`) | `StreamItemEvent` | log, kept 7 days |

Pub/sub (`publish`) has no topic of its own: the publisher writes one invocation per subscribed
function, and those invocations are the log. A durable topic is read by one consumer group per
subscribed function (`<ns>.durable.<topic>.<function id>`), so each function gets each message
and the workers hosting a function share its load. `<ns>.streams` has the state partition count:
a group's items live on one state partition, and its events go to the same partition number.
"""

from __future__ import annotations

import re
from types import MappingProxyType

from .topics import TopicSpec

__all__ = ["DURABLE_PUBLISH", "PUBLISH", "check_message_topic", "durable_group", "durable_queue",
           "durable_topic", "streams_topic"]

PUBLISH = "publish"
DURABLE_PUBLISH = "iii::durable::publish"
RETENTION_MS = 7 * 24 * 60 * 60 * 1000
_TOPIC_NAME = re.compile(r"[A-Za-z0-9._-]{1,200}")


def check_message_topic(topic: object) -> str:
    """A pub/sub or durable topic name (it becomes part of a Kafka topic name)."""
    if not isinstance(topic, str) or not topic:
        missing = "" if topic is not None else " (it is missing)"
        raise ValueError(f"`topic` must be a non-empty string{missing}")
    if not _TOPIC_NAME.fullmatch(topic):
        raise ValueError(f"topic {topic!r}: use 1-200 of [A-Za-z0-9._-]")
    return topic


def _kept_a_week(name: str, partitions: int, replication_factor: int) -> TopicSpec:
    return TopicSpec(name, partitions, replication_factor,
                     MappingProxyType({"cleanup.policy": "delete", "retention.ms": str(RETENTION_MS)}))


def durable_topic(namespace: str, topic: str, partitions: int, replication_factor: int = 1) -> TopicSpec:
    return _kept_a_week(f"{namespace}.durable.{check_message_topic(topic)}", partitions, replication_factor)


def durable_group(namespace: str, topic: str, function_id: str) -> str:
    """The consumer group of one function's subscription: its hosts share the topic's partitions."""
    return f"{namespace}.durable.{topic}.{function_id}"


def durable_queue(topic: str, function_id: str) -> str:
    """The executor queue a subscription's invocations run on (its retries, backoff, dead letters)."""
    return f"durable:{topic}:{function_id}"


def streams_topic(namespace: str, partitions: int, replication_factor: int = 1) -> TopicSpec:
    return _kept_a_week(f"{namespace}.streams", partitions, replication_factor)
