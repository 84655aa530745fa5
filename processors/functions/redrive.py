"""Redrive: a queue's dead letters go back to the queue as new invocations (iii's
`iii::queue::redrive {queue}`).

Each redriven message keeps its payload and gets the id `<original id>.redrive.<partition>-<offset>`
(of its dead letter), so redriving the same dead letter twice cannot run it twice: the executor
answers the repeat from its stored result. Progress is a consumer group per queue
(`<app>.redrive.<queue>`), so a redrive takes only the letters that arrived since the last one.
"""

from __future__ import annotations

import logging
import time

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from iii_kafka.schemas import AvroCodec, CodecError, Event
from iii_kafka.topology.functions import invocation_topic
from iii_kafka.topology.topics import dead_letter_topic

from ..settings import Settings
from .clock import now_ms
from .queues import QUEUE_HEADER

__all__ = ["redrive_queue"]

log = logging.getLogger(__name__)


def redrive_queue(settings: Settings, codec: AvroCodec, queue: str, timeout: float = 30.0) -> int:
    """Re-publishes the dead letters of `queue` not redriven before; returns how many (blocking)."""
    letters = dead_letter_topic(settings.app_id, settings.partitions).name
    target = invocation_topic(settings.app_id, settings.partitions).name
    consumer = Consumer({"bootstrap.servers": settings.bootstrap_servers,
                         "group.id": f"{settings.app_id}.redrive.{queue}", "enable.auto.commit": False,
                         "auto.offset.reset": "earliest", "isolation.level": "read_committed",
                         "enable.partition.eof": True})
    producer = Producer({"bootstrap.servers": settings.bootstrap_servers, "enable.idempotence": True,
                         "acks": "all"})
    try:
        partitions = sorted(consumer.list_topics(letters, timeout=timeout).topics[letters].partitions)
        consumer.assign([TopicPartition(letters, p) for p in partitions])
        # Offsets of the group, or the beginning; read up to the end as it is now.
        ends = {p: consumer.get_watermark_offsets(TopicPartition(letters, p), timeout=timeout)[1]
                for p in partitions}
        done: set[int] = {p for p, end in ends.items() if end == 0}
        redriven = read = 0
        deadline = time.monotonic() + timeout
        while len(done) < len(partitions) and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error() is not None:
                if message.error().code() == KafkaError._PARTITION_EOF:
                    done.add(message.partition())
                continue
            if message.offset() >= ends[message.partition()] - 1:
                done.add(message.partition())
            read += 1
            redriven += _redrive_one(codec, producer, message, queue, target)
        if producer.flush(timeout):
            raise TimeoutError(f"redrive of {queue}: messages not delivered within {timeout:.0f} s")
        if read:
            consumer.commit(asynchronous=False)
        log.info("redrive of queue %s: %d message(s) back to %s", queue, redriven, target)
        return redriven
    finally:
        consumer.close()


def _redrive_one(codec: AvroCodec, producer: Producer, message: object, queue: str, target: str) -> int:
    try:
        letter = codec.decode(message.value())
        headers = {h["key"]: h["value"] for h in letter["headers"]}
        if headers.get(QUEUE_HEADER) != queue.encode():
            return 0
        request = codec.decode(letter["value"])
    except (CodecError, KeyError, TypeError) as exc:
        log.warning("redrive of %s: skipping %s[%s]@%s: %s", queue, message.topic(), message.partition(),
                    message.offset(), exc)
        return 0
    new_id = f"{request['invocation_id']}.redrive.{message.partition()}-{message.offset()}"
    again = Event("iii.kafka.InvocationRequested", **{**request, "invocation_id": new_id, "attempt": 1,
                                                       "requested_at_ms": now_ms()})
    producer.produce(target, key=message.key(), value=codec.encode(again))
    producer.poll(0)
    return 1
