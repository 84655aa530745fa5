"""Brings the view of newly owned partitions up to the end of their committed changes.

A new owner must start from every change its predecessors committed, and none they did not. In
order:
1. The committed offsets of the request partitions are fetched with `require_stable` (librdkafka
   does so under `read_committed`): a predecessor's transaction that still holds offsets for them
   is resolved (committed or aborted) first.
2. Until the change partition has no open transaction (its last stable offset equals its high
   watermark): the predecessor's markers may land on the change partition a moment after those on
   the offsets topic, and a dead predecessor's transaction stays open until
   `transaction.timeout.ms` (or until its restart with the same transactional id aborts it).
3. Its changes are read, `read_committed`, from the view's own offset to the end, and put as they
   are (no decoding: the view holds the log's bytes). Changes within the deduplication window
   are decoded to remember their request ids.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, KafkaError, TopicPartition
from iii_kafka.state.view import StateView, ViewBatch

__all__ = ["CatchUp"]

log = logging.getLogger(__name__)

PUT_BATCH = 20_000
PROGRESS_EVERY_S = 5.0


class CatchUp:
    def __init__(self, bootstrap_servers: str, changes_topic: str, view: StateView,
                 decode: Callable[[bytes], Any], open_transaction_wait_s: float) -> None:
        self._bootstrap = bootstrap_servers
        self.topic = changes_topic
        self.view = view
        self._decode = decode
        self._wait_s = open_transaction_wait_s
        self.last_timestamp: dict[int, int] = {}  # partition -> last change's time (ms)

    def run(self, requests_consumer: Consumer, requests_partitions: list[TopicPartition],
            dedup_after_ms: int) -> None:
        partitions = sorted(tp.partition for tp in requests_partitions)
        if not partitions:
            return
        started = time.monotonic()
        requests_consumer.committed(requests_partitions, timeout=max(60.0, self._wait_s * 2))  # (1)
        config = {"bootstrap.servers": self._bootstrap, "group.id": f"{self.topic}.catch-up",
                  "enable.auto.commit": False, "enable.partition.eof": True, "log_level": 3}
        probe = Consumer({**config, "isolation.level": "read_uncommitted"})
        reader = Consumer({**config, "isolation.level": "read_committed", "fetch.max.bytes": 64 << 20})
        try:
            for partition in partitions:
                self._wait_for_no_open_transaction(reader, probe, partition)  # (2)
            count = self._read(reader, partitions, dedup_after_ms)  # (3)
        finally:
            probe.close()
            reader.close()
        elapsed = time.monotonic() - started
        log.info("state: partitions %s caught up: %d change(s) in %.1f s", partitions, count, elapsed)

    def _wait_for_no_open_transaction(self, reader: Consumer, probe: Consumer, partition: int) -> None:
        tp = TopicPartition(self.topic, partition)
        deadline = time.monotonic() + self._wait_s
        while True:
            stable = reader.get_watermark_offsets(tp, timeout=10, cached=False)[1]
            high = probe.get_watermark_offsets(tp, timeout=10, cached=False)[1]
            if stable >= high:
                return
            if time.monotonic() > deadline:
                log.warning("state: %s[%d] still has an open transaction after %.0f s; going on",
                            self.topic, partition, self._wait_s)
                return
            time.sleep(0.2)

    def _read(self, reader: Consumer, partitions: list[int], dedup_after_ms: int) -> int:
        reader.assign([TopicPartition(self.topic, p, self.view.next_offset(p)) for p in partitions])
        for partition in partitions:  # a view that is up to date still knows its partitions' last time
            self.last_timestamp[partition] = max(self.last_timestamp.get(partition, 0),
                                                 self.view.last_timestamp(partition))
        pending = set(partitions)
        batch = ViewBatch()
        count = 0
        reported = time.monotonic()
        while pending:
            for message in reader.consume(10_000, timeout=1.0):
                partition = message.partition()
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        batch.offsets[partition] = message.offset()
                        pending.discard(partition)
                    else:
                        log.warning("state: reading %s[%d]: %s", self.topic, partition, error.str())
                    continue
                data = message.value()
                batch.put(partition, message.key(), data)
                batch.offsets[partition] = message.offset() + 1
                timestamp = message.timestamp()[1]
                self.last_timestamp[partition] = max(self.last_timestamp.get(partition, 0), timestamp)
                batch.timestamps[partition] = self.last_timestamp[partition]
                if timestamp >= dedup_after_ms:
                    event = self._decode(data)
                    if event.get("request_id"):
                        batch.remember_request(partition, event["request_id"], timestamp, data)
                count += 1
                if len(batch) >= PUT_BATCH:
                    self.view.write(batch)
                    batch = ViewBatch()
                    if time.monotonic() - reported > PROGRESS_EVERY_S:  # long work shows progress
                        log.info("state: catching up partitions %s: %d change(s) so far", partitions, count)
                        reported = time.monotonic()
        self.view.write(batch)
        return count
