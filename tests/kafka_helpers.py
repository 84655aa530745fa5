"""Small confluent-kafka helpers for tests: produce durably, read back, ask a worker's web page."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable, Iterable

from confluent_kafka import Consumer, Message, Producer, TopicPartition
from iii_kafka.processors.broker.readiness import free_port

__all__ = ["committed_offsets", "end_offsets", "free_port", "get_json", "produce", "produce_to_partition",
           "read_topic", "wait_for"]


def produce(bootstrap: str, topic: str, records: Iterable[tuple]) -> int:
    """Writes (key, value) or (key, value, headers) records with acks=all, in order; returns how
    many were acknowledged."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                         "linger.ms": 5})
    acked = 0
    errors: list[str] = []

    def delivered(error, message) -> None:  # noqa: ANN001
        nonlocal acked
        if error is None:
            acked += 1
        else:
            errors.append(error.str())

    for key, value, *headers in records:
        producer.produce(topic, key=key, value=value, headers=headers[0] if headers else None,
                         on_delivery=delivered)
        producer.poll(0)
    assert producer.flush(30) == 0, "records left undelivered"
    assert not errors, errors[:3]
    return acked


def produce_to_partition(bootstrap: str, topic: str, partition: int, key: bytes, value: bytes) -> None:
    """One record on a chosen partition (acks=all)."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all"})
    producer.produce(topic, value, key, partition)
    assert producer.flush(30) == 0, "record left undelivered"


def read_topic(bootstrap: str, topic: str, expected: int, timeout: float = 60.0,
               read_committed: bool = True, identity: Callable[[Message], object] | None = None) -> list:
    """Reads a topic from the start until `expected` records arrive or `timeout` passes.

    With `identity`, `expected` counts distinct identities, so duplicates do not end the read early.
    """
    consumer = Consumer({
        "bootstrap.servers": bootstrap, "group.id": f"reader-{time.monotonic_ns()}",
        "auto.offset.reset": "earliest", "enable.auto.commit": False,
        "isolation.level": "read_committed" if read_committed else "read_uncommitted",
    })
    consumer.subscribe([topic])
    records = []
    seen: set[object] = set()
    count = (lambda: len(seen)) if identity else (lambda: len(records))
    deadline = time.monotonic() + timeout
    try:
        while count() < expected and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            records.append(message)
            if identity:
                seen.add(identity(message))
        # a little longer, to see records beyond `expected` (duplicates)
        settle = time.monotonic() + 2.0
        while time.monotonic() < settle:
            message = consumer.poll(0.2)
            if message is not None and not message.error():
                records.append(message)
    finally:
        consumer.close()
    return records


def committed_offsets(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        found = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
        return {tp.partition: tp.offset for tp in found}
    finally:
        consumer.close()


def end_offsets(bootstrap: str, topic: str, partitions: int) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "offsets-probe"})
    try:
        return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in range(partitions)}
    finally:
        consumer.close()


def get_json(port: int, path: str, timeout: float = 5.0) -> object:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as response:
        return json.loads(response.read())


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.3):  # noqa: ANN001, ANN201
    """Polls `predicate` until it returns a truthy value; returns the last value."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = predicate()
    return value


def wait_for_functions(caller, *function_ids: str, timeout: float = 30.0) -> None:  # noqa: ANN001
    """Until the caller's catalog lists every id (workers register right after they start)."""
    listed = wait_for(lambda: set(function_ids) <= {f["function_id"] for f in caller.list_functions()},
                      timeout=timeout)
    assert listed, f"not registered within {timeout:.0f} s: {function_ids}"
