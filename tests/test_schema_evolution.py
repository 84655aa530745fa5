"""The self-describing log: schemas in the schema topic, old events read with a newer schema."""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource
from iii_kafka.processors.cli import main
from iii_kafka.schemas import AvroCodec, Event, SchemaCatalog, UnknownSchema, load_directory
from iii_kafka.schemas.schema_topic import KafkaSchemaTopic
from kafka_helpers import produce, read_topic

pytestmark = pytest.mark.kafka

FIXTURES = Path(__file__).parent / "fixtures" / "schemas"
ORDERS_V1 = [
    {"order_id": "o-1", "amount": 12.5, "status": "placed"},
    {"order_id": "o-2", "amount": 99.0, "status": "paid"},
]


@pytest.fixture
def schema_topic_name(kafka_app_id: str, monkeypatch: pytest.MonkeyPatch,
                      kafka_bootstrap_servers: str) -> str:
    """A schema topic of this test's own, also for the CLI run in-process."""
    name = f"{kafka_app_id}.schemas"
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap_servers)
    monkeypatch.setenv("IIIKAFKA_SCHEMA_TOPIC", name)
    return name


def _codec_with(bootstrap: str, topic: str, version: str | None) -> AvroCodec:
    """A codec as a separate process would build it: its own schema topic client and catalog."""
    catalog = SchemaCatalog.engine()
    if version is not None:
        for schema in load_directory(FIXTURES / version):
            catalog.add(schema)
    return AvroCodec(catalog, KafkaSchemaTopic(bootstrap, topic))


def test_old_events_read_with_the_evolved_schema(kafka_bootstrap_servers, kafka_app_id, schema_topic_name):
    events_topic = f"{kafka_app_id}.orders"
    old_writer = _codec_with(kafka_bootstrap_servers, schema_topic_name, "v1")
    produce(kafka_bootstrap_servers, events_topic,
            [(o["order_id"].encode(), old_writer.encode(Event("shop.OrderPlaced", o))) for o in ORDERS_V1])
    # The writer published v1 before its first message; the topic says so.
    published = KafkaSchemaTopic(kafka_bootstrap_servers, schema_topic_name).published()
    assert "shop.OrderPlaced" in {s.name for s in published}

    new_reader = _codec_with(kafka_bootstrap_servers, schema_topic_name, "v2")
    new_writer_bytes = new_reader.encode(Event("shop.OrderPlaced", order_id="o-3", amount=1.0,
                                               status="refunded", currency="USD", note="gift"))
    produce(kafka_bootstrap_servers, events_topic, [(b"o-3", new_writer_bytes)])

    messages = read_topic(kafka_bootstrap_servers, events_topic, expected=3)
    decoded = sorted((new_reader.decode(m.value()) for m in messages), key=lambda e: e["order_id"])
    assert decoded == [
        Event("shop.OrderPlaced", order_id="o-1", amount=12.5, status="placed", currency="EUR", note=None),
        Event("shop.OrderPlaced", order_id="o-2", amount=99.0, status="paid", currency="EUR", note=None),
        Event("shop.OrderPlaced", order_id="o-3", amount=1.0, status="refunded", currency="USD", note="gift"),
    ]

    # A reader that has never heard of shop.OrderPlaced learns its writer schemas from the topic.
    stranger = _codec_with(kafka_bootstrap_servers, schema_topic_name, None)
    first = stranger.decode(next(m.value() for m in messages if m.key() == b"o-1"))
    assert first == Event("shop.OrderPlaced", ORDERS_V1[0])


def test_a_fingerprint_the_schema_topic_does_not_know_is_named(kafka_bootstrap_servers, schema_topic_name):
    reader = _codec_with(kafka_bootstrap_servers, schema_topic_name, None)
    with pytest.raises(UnknownSchema, match="unknown writer schema fingerprint 0123456789abcdef: "
                                            "not in the schema topic"):
        reader.decode(b"\xc3\x01" + bytes.fromhex("0123456789abcdef") + b"\x00")


def test_schemas_check_against_the_schema_topic(kafka_bootstrap_servers, schema_topic_name, capsys):
    writer = _codec_with(kafka_bootstrap_servers, schema_topic_name, "v1")
    writer.encode(Event("shop.OrderPlaced", ORDERS_V1[0]))  # publishes v1

    assert main(["schemas", "check", "--schemas", str(FIXTURES / "v2")]) == 0
    assert "read all 1 earlier version(s) in schema topic" in capsys.readouterr().out

    assert main(["schemas", "check", "--schemas", str(FIXTURES / "v3-breaking")]) == 1
    out = capsys.readouterr().out
    assert "shop.OrderPlaced: cannot read events written with its version" in out
    assert "amount" in out and "type_mismatch" in out
    assert "customer" in out and "reader_field_missing_default_value" in out


def test_the_schema_topic_is_compacted_and_a_schema_is_published_once(
        kafka_bootstrap_servers, kafka_app_id, schema_topic_name):
    for _ in range(2):  # two writer processes, each starting with an empty cache
        writer = _codec_with(kafka_bootstrap_servers, schema_topic_name, "v1")
        writer.encode(Event("shop.OrderPlaced", ORDERS_V1[0]))
    v1 = load_directory(FIXTURES / "v1")[0]
    records = read_topic(kafka_bootstrap_servers, schema_topic_name, expected=1, timeout=15)
    assert [m.key() for m in records] == [v1.fingerprint_hex.encode()]

    admin = AdminClient({"bootstrap.servers": kafka_bootstrap_servers})
    resource = ConfigResource(ConfigResource.Type.TOPIC, schema_topic_name)
    configs = admin.describe_configs([resource])[resource].result(timeout=15)
    assert configs["cleanup.policy"].value == "compact"
    assert len(admin.list_topics(schema_topic_name, timeout=15).topics[schema_topic_name].partitions) == 1
