"""confluent-kafka driven from asyncio: a durable producer and background topic readers.

Callers and the catalog talk to Kafka directly, outside Faust's transactions: a request written in
a transaction would stay invisible until that transaction commits, which for a caller waiting on
its answer is never (docs/functions.md, "Exactly-once and latency").
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

__all__ = ["AsyncProducer", "TopicReader"]

log = logging.getLogger(__name__)

Headers = Sequence[tuple[str, bytes]]


class AsyncProducer:
    """An idempotent producer (acks=all) whose `send` is awaited until the broker has the record.

    It connects on its first `send`, so building one (say, in an app module) costs nothing.
    """

    def __init__(self, bootstrap_servers: str, **config: Any) -> None:
        self._config = {"bootstrap.servers": bootstrap_servers, "enable.idempotence": True,
                        "acks": "all", "linger.ms": 0, **config}
        self._producer: Producer | None = None
        self._closed = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="iii-producer", daemon=True)

    def _connected(self) -> Producer:
        if self._producer is None:
            self._producer = Producer(self._config)
            self._poller.start()
        return self._producer

    def _poll(self) -> None:
        while not self._closed.is_set():
            self._producer.poll(0.05)

    async def send(self, topic: str, key: bytes | None, value: bytes | None,
                   headers: Headers | None = None, partition: int | None = None) -> Message:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Message] = loop.create_future()

        def delivered(error: KafkaError | None, message: Message) -> None:
            def resolve() -> None:
                if future.done():
                    return
                if error is not None:
                    future.set_exception(KafkaException(error))
                else:
                    future.set_result(message)
            loop.call_soon_threadsafe(resolve)

        extra = {} if partition is None else {"partition": partition}
        producer = self._connected()
        while True:
            try:
                producer.produce(topic, key=key, value=value, headers=list(headers or ()),
                                       on_delivery=delivered, **extra)
                break
            except BufferError:  # the local queue is full: let deliveries drain it
                await asyncio.sleep(0.005)
        producer.poll(0)
        return await future

    def partitions_of(self, topic: str, timeout: float = 30.0) -> int:
        """How many partitions `topic` has (blocking: call it from a thread)."""
        metadata = self._connected().list_topics(topic, timeout=timeout).topics.get(topic)
        if metadata is None or metadata.error is not None or not metadata.partitions:
            raise KafkaException(f"topic {topic} does not exist")
        return len(metadata.partitions)

    def close(self, timeout: float = 10.0) -> None:
        if self._producer is None:
            return
        self._producer.flush(timeout)
        self._closed.set()
        self._poller.join(timeout)
        self._producer = None  # librdkafka's handle goes with it (else it keeps reconnecting)


class TopicReader:
    """Reads every partition of a topic (no consumer group) in a thread, `read_committed`.

    `on_message(message)` runs in the reader's thread. `caught_up` is set once everything that was
    in the topic when the reader started has been handed over (at once when reading from the end).
    """

    def __init__(self, bootstrap_servers: str, topic: str, on_message: Callable[[Message], None], *,
                 from_beginning: bool, name: str) -> None:
        self.topic = topic
        self._on_message = on_message
        self._from_beginning = from_beginning
        self._consumer = Consumer({
            "bootstrap.servers": bootstrap_servers, "group.id": f"iii-reader-{uuid.uuid4().hex}",
            "enable.auto.commit": False, "isolation.level": "read_committed",
            "enable.partition.eof": True, "fetch.wait.max.ms": 100,
        })
        self.caught_up = threading.Event()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self, timeout: float = 30.0) -> "TopicReader":
        metadata = self._consumer.list_topics(self.topic, timeout=timeout).topics.get(self.topic)
        if metadata is None or metadata.error is not None or not metadata.partitions:
            raise KafkaException(f"topic {self.topic} does not exist")
        start = OFFSET_BEGINNING if self._from_beginning else OFFSET_END
        self._partitions = sorted(metadata.partitions)
        self._consumer.assign([TopicPartition(self.topic, p, start) for p in self._partitions])
        if not self._from_beginning:
            self.caught_up.set()
        self._thread.start()
        return self

    def _run(self) -> None:
        at_end: set[int] = set()
        while not self._closed.is_set():
            try:
                message = self._consumer.poll(0.1)
            except RuntimeError:  # closed under us
                return
            if message is None:
                continue
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    at_end.add(message.partition())
                    if len(at_end) == len(self._partitions):
                        self.caught_up.set()
                else:
                    log.warning("reading %s: %s", self.topic, error.str())
                continue
            try:
                self._on_message(message)
            except Exception:  # one bad record must not stop the reader
                log.exception("reading %s: cannot handle the record at offset %s", self.topic,
                              message.offset())

    def close(self) -> None:
        self._closed.set()
        if self._thread.is_alive():
            self._thread.join(5)
        self._consumer.close()
