"""The thin slice: a worker counts events into a RocksDB table that comes back from the log."""

from __future__ import annotations

import shutil
from collections import Counter

import pytest
from iii_kafka.schemas import AvroCodec
from kafka_helpers import free_port, get_json, produce, read_topic, wait_for

pytestmark = pytest.mark.kafka

NAMES = ["alice", "bob", "carol", "dave", "erin", "frank", "grace"]


def _events(codec: AvroCodec, count: int, offset: int = 0) -> list[tuple[bytes, bytes]]:
    return [(NAMES[(i * 7 + i // 3) % len(NAMES)].encode(), codec.encode({"n": i}))
            for i in range(offset, offset + count)]


def test_table_survives_sigkill_and_loss_of_its_rocksdb_directory(
        worker_factory, kafka_bootstrap_servers, kafka_app_id, avro_codec):
    first = _events(avro_codec, 300)
    expected = Counter(key.decode() for key, _ in first)
    port = free_port()
    worker = worker_factory("w1", web_port=port)

    produce(kafka_bootstrap_servers, f"{kafka_app_id}.demo.events", first)
    counts = wait_for(lambda: (c := get_json(port, "/demo/counts/")) == expected and c, timeout=60)
    assert counts == expected

    worker.kill()
    tables = worker.log_path.parent / "tables"
    assert any(tables.rglob("*.db")), f"no RocksDB table under {tables}"
    shutil.rmtree(tables)

    restarted = worker_factory("w1", web_port=port)
    assert restarted.pid != worker.pid
    # Faust may log Ready a few seconds before the last changelog records are applied (see
    # docs/faust-notes.md), so poll, within a bound, for the rebuilt table.
    rebuilt = wait_for(lambda: (c := get_json(port, "/demo/counts/")) == expected and c, timeout=30)
    assert rebuilt == expected

    # The rebuilt table keeps counting from where the old one stopped.
    second = _events(avro_codec, 70, offset=300)
    expected.update(key.decode() for key, _ in second)
    produce(kafka_bootstrap_servers, f"{kafka_app_id}.demo.events", second)
    counts = wait_for(lambda: (c := get_json(port, "/demo/counts/")) == expected and c, timeout=60)
    assert counts == expected

    counted = read_topic(kafka_bootstrap_servers, f"{kafka_app_id}.demo.counted", expected=370)
    last = {}
    for message in counted:
        record = avro_codec.decode(message.value())
        last[record["key"]] = max(last.get(record["key"], 0), record["count"])
    assert last == dict(expected)
