"""Durable subscribers (`durable:subscriber` triggers): each subscribed function gets each message of
a durable topic at least once, with its queue's retries, backoff and dead letters.

A worker runs one forwarder per durable binding of a function it hosts. The forwarder belongs to the
consumer group of that subscription (`<ns>.durable.<topic>.<function id>`), so every worker hosting
the function shares the topic's partitions, and each message reaches one of them. It turns each
`DurableMessage` into an enqueued invocation of the function on its own app's invocations topic
(queue `durable:<topic>:<function id>`, with the binding's `max_retries` and `backoff_ms`), waits
until the broker has them, and only then commits the group's offsets. Forwarding again after a crash
writes the same invocation ids (derived from the function and the message id), which the executor
runs once. A record that is not a `DurableMessage` goes to the app's dead-letter topic and the
partition goes on. A new subscription starts at the oldest message the topic keeps (a week).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer
from iii_kafka.schemas import AvroCodec, CodecError
from iii_kafka.topology.messaging import durable_group, durable_queue, durable_topic

from ..admin import ensure_topics
from ..dead_letters import dead_letter
from ..settings import Settings
from .bindings import Binding, derived_invocation_id
from .registry import FunctionRegistry, RegisteredTrigger

__all__ = ["DurableForwarder", "DurableSubscriptions", "durable_invocation_id"]

log = logging.getLogger(__name__)

BATCH = 500
RESTART_PAUSE_S = 1.0


def durable_invocation_id(function_id: str, message_id: str) -> str:
    return derived_invocation_id("durable", function_id, message_id)


class DurableForwarder:
    """One subscription's consumer, in its own thread."""

    def __init__(self, settings: Settings, codec: AvroCodec, trigger: RegisteredTrigger,
                 invocation_topic: str, dead_letter_topic: str) -> None:
        self.settings = settings
        self.codec = codec
        topic = trigger.config["topic"]
        self.function_id = trigger.function_id
        self.queue = durable_queue(topic, trigger.function_id)
        self.topic = durable_topic(settings.namespace, topic, settings.partitions,
                                   settings.replication_factor)
        self.group = durable_group(settings.namespace, topic, trigger.function_id)
        self.binding = Binding(trigger.trigger_id, trigger.trigger_type, trigger.function_id, trigger.config,
                               trigger.condition_function_id, invocation_topic)
        self.dead_letter_topic = dead_letter_topic
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"iii-durable-{topic}", daemon=True)
        self.forwarded = 0

    def start(self) -> "DurableForwarder":
        ensure_topics(self.settings.bootstrap_servers, [self.topic])
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stopped.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                self._session()
            except Exception as exc:  # a broker outage, say: start again from the committed offsets
                log.warning("durable subscription %s of %s: %s; starting again", self.topic.name,
                            self.function_id, exc)
                self._stopped.wait(RESTART_PAUSE_S)

    def _session(self) -> None:
        servers = self.settings.bootstrap_servers
        consumer = Consumer({"bootstrap.servers": servers, "group.id": self.group,
                             "enable.auto.commit": False, "auto.offset.reset": "earliest",
                             "isolation.level": "read_committed", "fetch.wait.max.ms": 100,
                             "session.timeout.ms": int(self.settings.session_timeout_s * 1000),
                             "log_level": 4})
        producer = Producer({"bootstrap.servers": servers, "enable.idempotence": True, "acks": "all",
                             "linger.ms": 5, "log_level": 4})
        consumer.subscribe([self.topic.name])
        log.info("durable subscription: %s reads %s in group %s", self.function_id, self.topic.name,
                 self.group)
        try:
            while not self._stopped.is_set():
                messages = consumer.consume(BATCH, 0.2)
                records = [m for m in messages if _is_record(m)]
                if not records:
                    continue
                failures: list[KafkaError] = []
                for message in records:
                    topic, key, value = self._forwarded(message)
                    producer.produce(topic, value, key, on_delivery=lambda e, _m: e and failures.append(e))
                if producer.flush(30) or failures:
                    raise KafkaException(failures[0] if failures else "invocations not delivered in 30 s")
                consumer.commit(asynchronous=False)  # only once the invocations are in Kafka
                self.forwarded += len(records)
        finally:
            producer.flush(10)
            consumer.close()

    def _forwarded(self, message: Message) -> tuple[str, bytes, bytes]:
        """The invocation a message becomes, or its dead letter."""
        try:
            record = self.codec.decode(message.value())
            if getattr(record, "schema", None) != "iii.kafka.DurableMessage":
                found = getattr(record, "schema", type(record).__name__)
                raise CodecError(f"not a DurableMessage but {found}")
        except CodecError as exc:
            letter = dead_letter(message.topic(), message.partition(), message.offset(), message.key(),
                                 message.value(), message.headers(), f"durable subscription of "
                                 f"{self.function_id}: {exc}", "malformed_message", self.dead_letter_topic)
            return self.dead_letter_topic, message.key() or b"", self.codec.encode(letter)
        invocation_id = durable_invocation_id(self.function_id, record["message_id"])
        request = self.binding.request(invocation_id, record["data"], action="enqueue", queue=self.queue,
                                       parent_invocation_id=record["cause"])
        return self.binding.invocation_topic, invocation_id.encode(), self.codec.encode(request)


def _is_record(message: Message) -> bool:
    error = message.error()
    if error is None:
        return True
    if error.code() != KafkaError._PARTITION_EOF:
        log.warning("durable subscription: %s", error.str())
    return False


class DurableSubscriptions:
    """The forwarders of a worker's durable bindings, and their queues' settings."""

    def __init__(self, settings: Settings, codec: AvroCodec, registry: FunctionRegistry,
                 invocation_topic: str, dead_letter_topic: str) -> None:
        self._settings = settings
        self._codec = codec
        self._registry = registry
        self._invocation_topic = invocation_topic
        self._dead_letter_topic = dead_letter_topic
        self.forwarders: list[DurableForwarder] = []
        self.configure_queues()

    def configure_queues(self) -> None:
        """Each subscription's invocations run on a queue with the binding's retry settings."""
        for trigger in self._bindings():
            config: dict[str, Any] = {k: trigger.config[k] for k in ("max_retries", "backoff_ms")
                                      if trigger.config.get(k) is not None}
            self._registry.configure_queue(durable_queue(trigger.config["topic"], trigger.function_id),
                                           **config)

    def _bindings(self) -> list[RegisteredTrigger]:
        return [t for t in self._registry.triggers() if t.trigger_type == "durable:subscriber"
                and self._registry.get(t.function_id) is not None]

    def start(self) -> None:
        for trigger in self._bindings():
            self.forwarders.append(DurableForwarder(self._settings, self._codec, trigger,
                                                    self._invocation_topic, self._dead_letter_topic).start())

    def stop(self) -> None:
        for forwarder in self.forwarders:
            forwarder.stop()
