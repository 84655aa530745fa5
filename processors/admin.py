"""Applies topology topic specs to a cluster with confluent-kafka's admin client."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic
from iii_kafka.topology.functions import catalog_topic, invocation_topic
from iii_kafka.topology.messaging import streams_topic
from iii_kafka.topology.state import state_topics
from iii_kafka.topology.topics import TopicSpec, dead_letter_topic, demo_topics, schema_topic

from .settings import Settings

__all__ = ["TopicError", "app_topics", "delete_topic", "ensure_topics"]

log = logging.getLogger(__name__)


class TopicError(RuntimeError):
    """A topic could not be created, or exists with a shape the topology cannot use."""


def ensure_topics(bootstrap_servers: str, specs: Iterable[TopicSpec], timeout: float = 30.0) -> list[str]:
    """Creates the topics that do not exist yet; returns the names it created.

    An existing topic with fewer partitions than its spec is an error: keys would land on other
    partitions than the ones their table partition expects.
    """
    specs = list(specs)
    admin = AdminClient({"bootstrap.servers": bootstrap_servers})
    existing = admin.list_topics(timeout=timeout).topics
    for spec in specs:
        found = existing.get(spec.name)
        if found is not None and len(found.partitions) < spec.partitions:
            raise TopicError(f"topic {spec.name} has {len(found.partitions)} partitions, "
                             f"the topology needs {spec.partitions}")
    missing = [spec for spec in specs if spec.name not in existing]
    if not missing:
        return []
    futures = admin.create_topics(
        [NewTopic(s.name, s.partitions, s.replication_factor, config=dict(s.config)) for s in missing],
        operation_timeout=timeout, request_timeout=timeout,
    )
    created = []
    for name, future in futures.items():
        try:
            future.result()
            created.append(name)
        except KafkaException as exc:
            error: KafkaError = exc.args[0]
            if error.code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise TopicError(f"cannot create topic {name}: {error.str()}") from None
    log.info("created topics: %s", ", ".join(sorted(created)))
    return created


def delete_topic(bootstrap_servers: str, topic: str, timeout: float = 10.0) -> None:
    """Best effort, for a topic nobody reads any more (a reply topic); failures are only logged."""
    try:
        admin = AdminClient({"bootstrap.servers": bootstrap_servers, "log_level": 3})  # no INFO noise
        for future in admin.delete_topics([topic], operation_timeout=timeout).values():
            future.result(timeout)
    except Exception as exc:  # such a topic expires by its retention anyway
        log.debug("could not delete %s: %s", topic, exc)


def app_topics(settings: Settings) -> list[TopicSpec]:
    """Every topic the app's agents read or write: its own, named under its app id, and the
    cluster's schema topic."""
    partitions, replication = settings.partitions, settings.replication_factor
    return [*demo_topics(settings.app_id, partitions, replication).all(),
            dead_letter_topic(settings.app_id, partitions, replication),
            invocation_topic(settings.app_id, partitions, replication),
            catalog_topic(settings.namespace, replication),
            *state_topics(settings.namespace, settings.state_partitions, replication).all(),
            streams_topic(settings.namespace, settings.state_partitions, replication),
            schema_topic(settings.schema_topic, replication)]
