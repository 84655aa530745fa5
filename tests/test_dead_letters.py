"""Bad bytes: named, dead-lettered with their original bytes, and the partition goes on."""

from __future__ import annotations

import pytest
from iii_kafka.schemas import AvroCodec
from kafka_helpers import free_port, get_json, produce, read_topic, wait_for

pytestmark = pytest.mark.kafka

READER = AvroCodec()


def test_poison_messages_are_dead_lettered_and_the_partition_goes_on(
        app_topics, worker_factory, kafka_bootstrap_servers, kafka_app_id, avro_codec):
    value_header = avro_codec.catalog["iii.kafka.Value"].header
    poison = {
        "not_framed": b'{"n": 1}',
        "unknown_schema": b"\xc3\x01" + bytes.fromhex("00112233445566ff") + b"\x00",
        "corrupt": value_header + b"\x08\x40abc",  # a string that claims 32 bytes and has 3
    }
    # All on one key, so on one partition, with good events before and after them.
    records = [(b"ann", avro_codec.encode({"n": 0}))]
    records += [(b"ann", data, [("traceparent", b"00-abc-def-01")]) for data in poison.values()]
    records += [(b"ann", avro_codec.encode({"n": i})) for i in range(1, 4)]
    records += [(b"bo", avro_codec.encode({"n": 9}))]
    port = free_port()
    worker_factory("w1", web_port=port)
    produce(kafka_bootstrap_servers, f"{kafka_app_id}.demo.events", records)

    counts = wait_for(lambda: (c := get_json(port, "/demo/counts/")) == {"ann": 4, "bo": 1} and c, timeout=60)
    assert counts == {"ann": 4, "bo": 1}, "good events after the poison ones were not all counted"

    letters = [READER.decode(m.value()) for m in
               read_topic(kafka_bootstrap_servers, f"{kafka_app_id}.dead-letters", expected=3)]
    assert sorted(letter["error_type"] for letter in letters) == sorted(poison)
    events_topic = f"{kafka_app_id}.demo.events"
    partitions = {letter["partition"] for letter in letters}
    offsets = sorted(letter["offset"] for letter in letters)
    for letter in letters:
        assert letter.schema == "iii.kafka.DeadLetter"
        assert letter["value"] == poison[letter["error_type"]], "the original bytes are kept"
        assert letter["key"] == b"ann" and letter["topic"] == events_topic
        assert letter["headers"] == [{"key": "traceparent", "value": b"00-abc-def-01"}]
        assert letter["reason"].startswith(f"{events_topic}[{letter['partition']}]@{letter['offset']}: ")
    assert len(partitions) == 1 and offsets == [offsets[0], offsets[0] + 1, offsets[0] + 2]
    reasons = {letter["error_type"]: letter["reason"] for letter in letters}
    assert "no C3 01 marker" in reasons["not_framed"]
    assert "00112233445566ff" in reasons["unknown_schema"] and "schema topic" in reasons["unknown_schema"]
    assert "truncated" in reasons["corrupt"]
