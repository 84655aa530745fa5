"""The schema topic: every writer schema, keyed by fingerprint, so that the log describes itself.

One compacted topic per cluster (not per app: fingerprints name schemas, not owners). Key: the
fingerprint in hex; value: JSON `{"fingerprint", "name", "schema"}` with the full schema (defaults,
docs and logical types included, which the canonical form drops and readers need). A writer
publishes a schema, waits for the broker's acknowledgement (acks=all), and only then writes the
first message that uses it; a reader that meets an unknown fingerprint reads the topic's new
records and looks again.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Mapping
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from .catalog import NamedSchema
from .errors import SchemaError, SchemaStoreError

__all__ = ["DEFAULT_SCHEMA_TOPIC", "SCHEMA_TOPIC_CONFIG", "KafkaSchemaTopic"]

log = logging.getLogger(__name__)

DEFAULT_SCHEMA_TOPIC = "_iii_schemas"
# One partition keeps every version in publication order; compaction keeps one record per schema.
SCHEMA_TOPIC_PARTITIONS = 1
SCHEMA_TOPIC_CONFIG = {"cleanup.policy": "compact", "retention.ms": "-1", "min.compaction.lag.ms": "0"}


class KafkaSchemaTopic:
    """`SchemaStore` on a Kafka topic (confluent-kafka, blocking: it is used once per new schema)."""

    def __init__(self, bootstrap_servers: str, topic: str = DEFAULT_SCHEMA_TOPIC, timeout_s: float = 15.0,
                 replication_factor: int = 1, client_config: Mapping[str, Any] | None = None) -> None:
        self.topic = topic
        self.replication_factor = replication_factor
        self.timeout_s = timeout_s
        self._config = {"bootstrap.servers": bootstrap_servers, **(client_config or {})}
        self._producer: Producer | None = None
        self._consumer: Consumer | None = None
        self._positions: dict[int, int] = {}  # partition -> next offset to read
        self._schemas: dict[bytes, NamedSchema] = {}  # fingerprint -> schema, in publication order

    # -- SchemaStore ---------------------------------------------------------------------------

    def publish(self, schema: NamedSchema) -> None:
        """Writes `schema` unless the topic has it; returns once the broker has acknowledged it."""
        if schema.fingerprint in self._schemas:
            return
        self.refresh()
        if schema.fingerprint in self._schemas:
            return
        if self._producer is None:
            self._create_topic()  # not left to the broker's auto-creation, which would not compact it
            self._producer = Producer({**self._config, "acks": "all", "enable.idempotence": True})
        failures: list[str] = []

        def delivered(error: KafkaError | None, _message: Any) -> None:
            if error is not None:
                failures.append(error.str())

        entry = {"fingerprint": schema.fingerprint_hex, "name": schema.name, "schema": schema.schema}
        value = json.dumps(entry, separators=(",", ":"))
        self._producer.produce(self.topic, key=schema.fingerprint_hex.encode(), value=value.encode(),
                               on_delivery=delivered)
        if self._producer.flush(self.timeout_s) or failures:
            reason = failures[0] if failures else f"not acknowledged within {self.timeout_s:g} s"
            raise SchemaStoreError(f"cannot publish {schema.name} to schema topic {self.topic}: {reason}")
        self._schemas[schema.fingerprint] = schema
        log.info("published schema %s (%s) to %s", schema.name, schema.fingerprint_hex, self.topic)

    def lookup(self, fingerprint: bytes) -> NamedSchema | None:
        if fingerprint not in self._schemas:
            self.refresh()
        return self._schemas.get(fingerprint)

    # -- reading the topic -----------------------------------------------------------------------

    def published(self) -> list[NamedSchema]:
        """Every schema in the topic, oldest first."""
        self.refresh()
        return list(self._schemas.values())

    def refresh(self) -> None:
        """Reads the records written since the last refresh (all of them the first time)."""
        consumer = self._reader()
        try:
            metadata = consumer.list_topics(self.topic, timeout=self.timeout_s).topics[self.topic]
        except KafkaException as exc:
            raise SchemaStoreError(f"cannot read schema topic {self.topic}: {exc.args[0].str()}") from exc
        if metadata.error is not None:
            if metadata.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                return  # nothing published yet
            raise SchemaStoreError(f"cannot read schema topic {self.topic}: {metadata.error.str()}")
        wanted: dict[int, int] = {}
        for partition in metadata.partitions:
            high = _high_watermark(consumer, TopicPartition(self.topic, partition), self.timeout_s)
            if high > self._positions.get(partition, 0):
                wanted[partition] = high
        if not wanted:
            return
        consumer.assign([TopicPartition(self.topic, p, self._positions.get(p, OFFSET_BEGINNING))
                         for p in wanted])
        deadline = time.monotonic() + self.timeout_s
        while wanted and time.monotonic() < deadline:
            for message in consumer.consume(num_messages=500, timeout=0.5):
                if message.error() is not None:
                    continue
                self._positions[message.partition()] = message.offset() + 1
                self._take(message.key(), message.value())
                if message.offset() + 1 >= wanted.get(message.partition(), 0):
                    wanted.pop(message.partition(), None)
        consumer.unassign()
        if wanted:
            raise SchemaStoreError(f"schema topic {self.topic} not read to its end "
                                   f"within {self.timeout_s:g} s")

    def _take(self, key: bytes | None, value: bytes | None) -> None:
        if value is None:
            return  # a tombstone: nothing to learn
        try:
            entry = json.loads(value)
            schema = NamedSchema.from_json(entry["schema"])
        except (ValueError, KeyError, TypeError, SchemaError, RecursionError) as exc:
            log.warning("schema topic %s: skipping an unreadable entry %r: %s", self.topic, key, exc)
            return
        if entry.get("fingerprint") != schema.fingerprint_hex:
            log.warning("schema topic %s: entry %r claims fingerprint %s but its schema has %s; skipped",
                        self.topic, key, entry.get("fingerprint"), schema.fingerprint_hex)
            return
        self._schemas.setdefault(schema.fingerprint, schema)

    def _create_topic(self) -> None:
        admin = AdminClient(self._config)
        topic = NewTopic(self.topic, SCHEMA_TOPIC_PARTITIONS, self.replication_factor,
                         config=SCHEMA_TOPIC_CONFIG)
        future = admin.create_topics([topic], operation_timeout=self.timeout_s,
                                     request_timeout=self.timeout_s)[self.topic]
        try:
            future.result()
        except KafkaException as exc:
            error: KafkaError = exc.args[0]
            if error.code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise SchemaStoreError(f"cannot create schema topic {self.topic}: {error.str()}") from exc

    def _reader(self) -> Consumer:
        if self._consumer is None:
            self._consumer = Consumer({**self._config, "group.id": f"iii-schemas-{uuid.uuid4().hex}",
                                       "enable.auto.commit": False, "auto.offset.reset": "earliest",
                                       "enable.partition.eof": False})
        return self._consumer

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None
        if self._producer is not None:
            self._producer.flush(self.timeout_s)
            self._producer = None


def _high_watermark(consumer: Any, tp: Any, timeout_s: float) -> int:
    """The partition's high watermark; a topic created a moment ago may not have its leader yet
    (NOT_LEADER_FOR_PARTITION, LEADER_NOT_AVAILABLE): those are retried until the timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return consumer.get_watermark_offsets(tp, timeout=timeout_s)[1]
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            code = error.code() if isinstance(error, KafkaError) else None
            retriable = code in (KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE) or \
                (isinstance(error, KafkaError) and error.retriable())
            if not retriable or time.monotonic() > deadline:
                raise
            time.sleep(0.2)
