"""Topic specs: what a topic must look like (partitions, replication, retention, compaction)."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

from iii_kafka.schemas.schema_topic import SCHEMA_TOPIC_CONFIG, SCHEMA_TOPIC_PARTITIONS

__all__ = ["TopicSpec", "DemoTopics", "dead_letter_topic", "demo_topics", "schema_topic"]

_FOREVER = "-1"


@dataclass(frozen=True)
class TopicSpec:
    """One topic as the topology wants it. `config` holds Kafka topic configs (name -> value)."""

    name: str
    partitions: int
    replication_factor: int = 1
    config: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        if not self.name or len(self.name) > 249 or not all(c.isalnum() or c in "._-" for c in self.name):
            raise ValueError(f"invalid topic name {self.name!r}: use 1-249 of [a-zA-Z0-9._-]")
        if self.partitions < 1:
            raise ValueError(f"topic {self.name}: partitions must be at least 1, got {self.partitions}")
        if self.replication_factor < 1:
            raise ValueError(f"topic {self.name}: replication factor must be at least 1")

    @classmethod
    def log(cls, name: str, partitions: int, replication_factor: int = 1) -> "TopicSpec":
        """A source-of-truth log: never compacted, never deleted by age or size."""
        return cls(name, partitions, replication_factor,
                   MappingProxyType({"cleanup.policy": "delete", "retention.ms": _FOREVER,
                                     "retention.bytes": _FOREVER}))


@dataclass(frozen=True)
class DemoTopics:
    """The proof-of-stack service: events in, one counted record out per event."""

    events: TopicSpec
    counted: TopicSpec

    def all(self) -> list[TopicSpec]:
        return [self.events, self.counted]


def demo_topics(namespace: str, partitions: int, replication_factor: int = 1) -> DemoTopics:
    """The demo's topics under a namespace (the app id), so that apps never share a topic."""
    return DemoTopics(
        events=TopicSpec.log(f"{namespace}.demo.events", partitions, replication_factor),
        counted=TopicSpec.log(f"{namespace}.demo.counted", partitions, replication_factor),
    )


def dead_letter_topic(namespace: str, partitions: int, replication_factor: int = 1) -> TopicSpec:
    """Records an app's processors could not handle, with the reason and the original bytes.
    Kept forever: a dead letter is evidence, and redrive reads it back."""
    return TopicSpec.log(f"{namespace}.dead-letters", partitions, replication_factor)


def schema_topic(name: str, replication_factor: int = 1) -> TopicSpec:
    """The cluster's schema topic (see `schemas/schema_topic.py`): compacted, one partition."""
    return TopicSpec(name, SCHEMA_TOPIC_PARTITIONS, replication_factor,
                     MappingProxyType(dict(SCHEMA_TOPIC_CONFIG)))
