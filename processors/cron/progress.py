"""The leader's progress on `<ns>.cron`: read once when it takes over, then kept in memory.

Only the leader writes the topic, and only in transactions, so after `init_transactions` (which
finishes whatever a predecessor left open) reading it `read_committed` to its end gives exactly
the ticks that were fired: a tick's invocation and its progress record commit together or not at
all.
"""

from __future__ import annotations

import time
import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition
from iii_kafka.schemas import AvroCodec, Event

from ..functions.clock import now_ms
from .plan import Firing

__all__ = ["ProgressError", "progress_record", "read_progress"]

READ_TIMEOUT_S = 30.0


class ProgressError(RuntimeError):
    """The progress topic could not be read to its end (the takeover is tried again)."""


def read_progress(bootstrap_servers: str, topic: str, codec: AvroCodec,
                  timeout_s: float = READ_TIMEOUT_S) -> dict[str, int]:
    """`{trigger id: last tick ms}` as committed. The last record per key is kept as bytes and only
    those are decoded: the topic is compacted, but a segment not cleaned yet holds many per key."""
    consumer = Consumer({
        "bootstrap.servers": bootstrap_servers, "group.id": f"iii-cron-reader-{uuid.uuid4().hex}",
        "enable.auto.commit": False, "isolation.level": "read_committed", "enable.partition.eof": True,
        "fetch.wait.max.ms": 50, "log_level": 4})
    try:
        partition = TopicPartition(topic, 0)
        _, high = consumer.get_watermark_offsets(partition, timeout=10)
        latest: dict[bytes, bytes | None] = {}
        if high > 0:
            consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
            deadline = time.monotonic() + timeout_s
            while True:
                if time.monotonic() > deadline:
                    raise ProgressError(f"{topic} not read to its end ({high}) within {timeout_s:.0f} s")
                for message in consumer.consume(10_000, timeout=0.2):
                    error = message.error()
                    if error is None:
                        latest[message.key()] = message.value()
                    elif error.code() == KafkaError._PARTITION_EOF:
                        if message.offset() >= high:
                            return _decode(latest, codec)
                    else:
                        raise KafkaException(error)
        return _decode(latest, codec)
    finally:
        consumer.close()


def _decode(latest: dict[bytes, bytes | None], codec: AvroCodec) -> dict[str, int]:
    progress = {}
    for key, value in latest.items():
        if value is not None:  # a tombstone: the trigger was forgotten
            progress[key.decode()] = int(codec.decode(value)["last_tick_ms"])
    return progress


def progress_record(firing: Firing, leader: str) -> Event:
    binding = firing.binding
    return Event("iii.kafka.CronTicked", trigger_id=binding.id, function_id=binding.function_id,
                 expression=binding.config["expression"], last_tick_ms=firing.last_tick_ms,
                 fired_ticks_ms=list(firing.ticks), skipped_until_ms=firing.skipped_until_ms,
                 leader=leader, written_at_ms=now_ms())
