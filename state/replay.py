"""Rebuilds a view of KV state from the state-changed log: in full, or as of a point in time.

`rebuild(...)` reads every partition of `<ns>.state.changes` from the start (`read_committed`)
into a fresh RocksDB directory, up to the end the log had when it began, or up to a time
(changes with a timestamp at or before it) or to offsets (changes before them). The view keeps
each key's last event as the log holds it, so a record is one put, with no decoding; that is why
a rebuild runs near the speed of reading the topic at all (benchmarks/state_ops.py).

A change's Kafka timestamp is its own `timestamp_ms`, and an owner never writes a change earlier
than its partition's last one, so "as of T" is, per partition, every change before the first one
after T (found with Kafka's offsets-for-times, not by reading).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from .view import StateView, ViewBatch

__all__ = ["CONSUMER_TUNING", "ReplayError", "ReplaySummary", "rebuild"]

READ_BATCH = 20_000
CONSUMER_TUNING = {"fetch.max.bytes": 64 << 20, "max.partition.fetch.bytes": 16 << 20,
                   "queued.min.messages": 1_000_000, "queued.max.messages.kbytes": 512 << 10}
"""librdkafka prefetches more than its defaults: measured here, 1.6x the read rate."""


class ReplayError(RuntimeError):
    """The replay cannot start (a directory in the way, a topic that is not there)."""


@dataclass
class ReplaySummary:
    changes: int = 0
    partitions: int = 0
    elapsed_s: float = 0.0
    until_ms: int | None = None
    ends: dict[int, int] = field(default_factory=dict)  # partition -> first offset not replayed

    @property
    def rate(self) -> float:
        return self.changes / self.elapsed_s if self.elapsed_s > 0 else 0.0


def rebuild(bootstrap_servers: str, changes_topic: str, out_dir: Path | str, *,
            until_ms: int | None = None, until_offsets: Mapping[int, int] | None = None,
            progress: Callable[[int, int], None] | None = None) -> ReplaySummary:
    """Replays `changes_topic` into a new view at `out_dir`; `progress(done, total)` after each read."""
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise ReplayError(f"{out_dir} is not empty: replay builds a fresh view (choose a new directory)")
    consumer = Consumer({"bootstrap.servers": bootstrap_servers, "group.id": f"{changes_topic}.replay",
                         "enable.auto.commit": False, "isolation.level": "read_committed",
                         "enable.partition.eof": True, "log_level": 3, **CONSUMER_TUNING})
    started = time.monotonic()
    try:
        ends = _ends(consumer, changes_topic, until_ms, until_offsets or {})
        summary = ReplaySummary(partitions=len(ends), until_ms=until_ms, ends=ends)
        with StateView(out_dir) as view:
            summary.changes = _read(consumer, changes_topic, view, ends, progress)
            view.flush()
    finally:
        consumer.close()
    summary.elapsed_s = time.monotonic() - started
    return summary


def _ends(consumer: Consumer, topic: str, until_ms: int | None,
          until_offsets: Mapping[int, int]) -> dict[int, int]:
    """Per partition, the first offset not to replay."""
    metadata = consumer.list_topics(topic, timeout=30).topics.get(topic)
    if metadata is None or metadata.error is not None or not metadata.partitions:
        raise ReplayError(f"topic {topic} does not exist (is IIIKAFKA_NAMESPACE right?)")
    partitions = sorted(metadata.partitions)
    unknown = set(until_offsets) - set(partitions)
    if unknown:
        raise ReplayError(f"{topic} has no partition {', '.join(map(str, sorted(unknown)))}")
    ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30, cached=False)[1]
            for p in partitions}
    if until_ms is not None:
        found = consumer.offsets_for_times([TopicPartition(topic, p, until_ms + 1) for p in partitions], 30)
        for tp in found:
            if tp.error is not None:
                raise KafkaException(tp.error)
            if tp.offset >= 0:  # (-1: nothing after until_ms)
                ends[tp.partition] = min(ends[tp.partition], tp.offset)
    for partition, offset in until_offsets.items():
        ends[partition] = min(ends[partition], offset)
    return ends


def _read(consumer: Consumer, topic: str, view: StateView, ends: dict[int, int],
          progress: Callable[[int, int], None] | None) -> int:
    total = sum(ends.values())  # (a little high: aborted records and markers are never read)
    pending = {p for p, end in ends.items() if end > 0}
    consumer.assign([TopicPartition(topic, p, 0) for p in sorted(pending)])
    count = 0
    while pending:
        batch = ViewBatch()
        for message in consumer.consume(READ_BATCH, timeout=1.0):
            partition = message.partition()
            if partition not in pending:
                continue
            error = message.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    raise KafkaException(error)
                if message.offset() >= ends[partition]:
                    pending.discard(partition)
                continue
            offset = message.offset()
            if offset >= ends[partition]:
                pending.discard(partition)
                continue
            batch.data[(partition, message.key())] = message.value()
            batch.offsets[partition] = offset + 1
            count += 1
            if offset + 1 >= ends[partition]:
                pending.discard(partition)
        view.write(batch)
        if progress is not None:
            progress(count, total)
    return count
