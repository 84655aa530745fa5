"""Faust's exactly_once (aiokafka transactions) against the Apache Kafka version we ship."""

from __future__ import annotations

import json
import time

import pytest
from kafka_helpers import end_offsets, produce, read_topic

pytestmark = pytest.mark.kafka

PARTITIONS = 4


def _events(count: int) -> list[tuple[bytes, bytes]]:
    return [(f"k{i % 13}".encode(), json.dumps({"n": i}).encode()) for i in range(count)]


def test_outputs_are_transactional_and_visible_to_read_committed(
        worker_factory, kafka_bootstrap_servers, kafka_app_id):
    worker_factory("w1")
    produce(kafka_bootstrap_servers, f"{kafka_app_id}.demo.events", _events(200))

    committed = read_topic(kafka_bootstrap_servers, f"{kafka_app_id}.demo.counted", expected=200)
    assert len(committed) == 200
    # Transactions leave commit markers in the log: end offsets run ahead of the record count.
    ends = end_offsets(kafka_bootstrap_servers, f"{kafka_app_id}.demo.counted", PARTITIONS)
    assert sum(ends.values()) > len(committed), f"no transaction markers: {ends}"


def test_sigkill_mid_stream_neither_loses_nor_duplicates_output(
        app_topics, worker_factory, kafka_bootstrap_servers, kafka_app_id):
    total = 20000
    produce(kafka_bootstrap_servers, f"{kafka_app_id}.demo.events", _events(total))
    worker = worker_factory("w1")
    # Let it commit some transactions, then kill it in the middle of the stream.
    seen = read_topic(kafka_bootstrap_servers, f"{kafka_app_id}.demo.counted", expected=1000, timeout=60)
    assert len(seen) >= 1000
    worker.kill()
    time.sleep(1)

    worker_factory("w1")
    committed = read_topic(kafka_bootstrap_servers, f"{kafka_app_id}.demo.counted", expected=total,
                           timeout=120)
    sources = [(json.loads(m.value())["partition"], json.loads(m.value())["offset"]) for m in committed]
    duplicates = len(sources) - len(set(sources))
    assert duplicates == 0, f"{duplicates} input events produced output twice"
    assert len(set(sources)) == total
    # Counts are exact too: the table and the output moved in the same transactions.
    last: dict[str, int] = {}
    for message in committed:
        record = json.loads(message.value())
        last[record["key"]] = max(last.get(record["key"], 0), record["count"])
    assert sum(last.values()) == total
