"""The codec without Kafka: round trips, agreement with fastavro, framing, and bad input."""

from __future__ import annotations

import io
import json
from datetime import datetime, timezone
from importlib.machinery import SourceFileLoader
from types import ModuleType

import pytest
from avro_strategies import json_like, records
from fastavro import schemaless_writer
from hypothesis import given, settings
from hypothesis import strategies as st
from iii_kafka.schemas import (
    SCHEMA_DIR,
    AvroCodec,
    CorruptMessage,
    EncodeError,
    Event,
    NamedSchema,
    NotFramed,
    SchemaCatalog,
    SchemaError,
    UnknownSchema,
)
from iii_kafka.schemas.catalog import fingerprint_of
from iii_kafka.schemas.value import MAX_DEPTH, encode_value
from iii_kafka.schemas.varint import read_long

CODEC = AvroCodec()
SCHEMAS = sorted(s.name for s in CODEC.catalog)


def _fastavro_bytes(schema: NamedSchema, record: object) -> bytes:
    out = io.BytesIO()
    schemaless_writer(out, schema.parsed, record)
    return out.getvalue()


@pytest.mark.parametrize("name", SCHEMAS)
def test_every_schema_round_trips_and_writes_what_fastavro_writes(name: str) -> None:
    schema = CODEC.catalog[name]

    @settings(max_examples=60, deadline=None)
    @given(records(schema.parsed))
    def round_trip(record: object) -> None:
        data = CODEC.encode_record(name, record)
        assert data[:10] == b"\xc3\x01" + schema.fingerprint
        assert data[10:] == _fastavro_bytes(schema, record)
        decoded = CODEC.decode(data)
        if name == "iii.kafka.Value" or schema.parsed["type"] != "record":
            assert decoded == record
        else:
            assert decoded == Event(name, record) and decoded.schema == name

    round_trip()


@settings(max_examples=200, deadline=None)
@given(json_like(max_leaves=200))
def test_deep_values_round_trip(value: object) -> None:
    assert CODEC.decode(CODEC.encode(value)) == value


def test_a_value_nested_hundreds_deep_round_trips() -> None:
    value: object = "bottom"
    for depth in range(300):
        value = {"level": depth, "next": [value]} if depth % 2 else [value, None]
    assert CODEC.decode(CODEC.encode(value)) == value


def test_values_nested_past_the_limit_are_refused_not_recursed_into() -> None:
    deep: list = []
    for _ in range(MAX_DEPTH + 10):
        deep = [deep]
    with pytest.raises(EncodeError, match=f"nested deeper than {MAX_DEPTH} levels"):
        CODEC.encode(deep)
    itself: dict = {}
    itself["me"] = itself
    with pytest.raises(EncodeError, match="or a container holds itself"):
        CODEC.encode(itself)
    crafted = CODEC.catalog["iii.kafka.Value"].header + b"\x0c\x02" * 100_000  # arrays of one array...
    with pytest.raises(CorruptMessage, match=f"nested deeper than {MAX_DEPTH} levels"):
        CODEC.decode(crafted)


@given(st.lists(st.integers(-(1 << 63), (1 << 63) - 1) | st.floats(allow_nan=False)))
def test_numbers_keep_their_type(numbers: list) -> None:
    decoded = CODEC.decode(CODEC.encode(numbers))
    assert decoded == numbers and [type(n) for n in decoded] == [type(n) for n in numbers]


def _source_module(name: str) -> ModuleType:
    """`schemas/<name>.py` run as plain Python, even where setup.py compiled it with Cython."""
    loader = SourceFileLoader(f"iii_kafka.schemas._source_{name}", str(SCHEMA_DIR / f"{name}.py"))
    module = ModuleType(loader.name)
    module.__package__ = "iii_kafka.schemas"
    loader.exec_module(module)
    return module


@settings(max_examples=100, deadline=None)
@given(json_like(max_leaves=60), st.integers(-(1 << 63), (1 << 63) - 1))
def test_the_compiled_and_the_plain_python_codec_agree(value: object, number: int) -> None:
    source_value, source_varint = _source_module("value"), _source_module("varint")
    compiled, plain = bytearray(), bytearray()
    encode_value(compiled, value)
    source_value.encode_value(plain, value)
    assert plain == compiled
    assert source_value.decode_value(bytes(plain), 0) == (value, len(plain))
    out = bytearray()
    source_varint.write_long(out, number)
    assert source_varint.read_long(bytes(out), 0) == read_long(bytes(out), 0) == (number, len(out))


def test_framing_is_avro_single_object_encoding() -> None:
    # The Avro specification's CRC-64-AVRO fingerprint of the schema "null" is 0x63dd24e7cc258f8a,
    # written little-endian after the marker.
    assert fingerprint_of('"null"') == (0x63DD24E7CC258F8A).to_bytes(8, "little")
    data = CODEC.encode({"a": 1})
    assert data[:2] == b"\xc3\x01"
    assert data[2:10] == CODEC.catalog["iii.kafka.Value"].fingerprint


def test_a_missing_field_with_a_default_gets_it() -> None:
    event = Event("iii.kafka.InvocationRequested", invocation_id="i-1", function_id="math::add",
                  action="none", requested_at_ms=1, payload={"a": 1})
    decoded = CODEC.decode(CODEC.encode(event))
    assert decoded["attempt"] == 1 and decoded["queue"] is None and decoded["payload"] == {"a": 1}


@pytest.mark.parametrize("data, error, words", [
    (b'{"a": 1}', NotFramed, "no C3 01 marker"),
    (b"\xc3\x01\x00\x01", NotFramed, "shorter than the 10-byte header"),
    (b"\xc3\x01" + bytes(8) + b"\x00", UnknownSchema, "unknown writer schema fingerprint 0000000000000000"),
])
def test_bytes_that_are_not_our_messages_are_named(data: bytes, error: type, words: str) -> None:
    with pytest.raises(error, match=words):
        CODEC.decode(data)


def test_a_truncated_or_padded_or_garbled_message_is_corrupt() -> None:
    data = CODEC.encode(Event("iii.kafka.StateChanged", scope="s", key="k", event_type="created",
                              version=1, timestamp_ms=5, old_value=None, new_value={"n": "x" * 20}))
    with pytest.raises(CorruptMessage, match="iii.kafka.StateChanged|truncated"):
        CODEC.decode(data[:-5])
    with pytest.raises(CorruptMessage, match="2 bytes left over"):
        CODEC.decode(data + b"\x00\x00")
    garbled = bytearray(data)
    garbled[11] = 0xFF  # inside the scope string: not UTF-8
    with pytest.raises(CorruptMessage):
        CODEC.decode(bytes(garbled))


def test_an_invalid_union_index_is_corrupt() -> None:
    header = CODEC.catalog["iii.kafka.Value"].header
    with pytest.raises(CorruptMessage, match="invalid Value union index 9"):
        CODEC.decode(header + bytes([9 << 1]))


@pytest.mark.parametrize("record, words", [
    ({"invocation_id": 7}, "iii.kafka.InvocationRequested.invocation_id is int 7, expected a string"),
    ({"invocation_id": "i", "function_id": "f", "action": "later", "requested_at_ms": 1, "payload": None},
     "expected one of none, void, enqueue"),
    ({"invocation_id": "i", "function_id": "f", "action": "none", "requested_at_ms": 1 << 64, "payload": 1},
     "requested_at_ms is int .*, expected a 64-bit long"),
    ({"invocation_id": "i", "function_id": "f", "action": "none", "requested_at_ms": 1,
      "payload": {"when": object()}}, "object is not a JSON-like value"),
    ({"invocation_id": "i", "function_id": "f", "action": "none", "requested_at_ms": 1,
      "payload": {1: "x"}}, "map keys must be strings"),
    ({"invocation_id": "i", "function_id": "f", "action": "none", "payload": 1},
     "requested_at_ms"),
])
def test_a_record_that_does_not_fit_its_schema_names_the_field(record: dict, words: str) -> None:
    with pytest.raises(EncodeError, match=f"cannot write iii.kafka.InvocationRequested: .*{words}"):
        CODEC.encode(Event("iii.kafka.InvocationRequested", record))


def test_an_unknown_schema_name_lists_the_known_ones() -> None:
    known = r"known: iii.kafka.CronTicked, iii.kafka.DeadLetter, "
    with pytest.raises(SchemaError, match=r"unknown schema .iii.kafka.Nope.; " + known):
        CODEC.encode(Event("iii.kafka.Nope", {}))


def test_a_user_schema_the_compiler_leaves_to_fastavro_round_trips() -> None:
    """A logical type and a union of two records: fastavro writes these (see compiler.py)."""
    codec = AvroCodec(SchemaCatalog.engine())
    value = json.loads(CODEC.catalog["iii.kafka.Value"].to_json())
    one_of_two = [{"type": "record", "name": name, "fields": [{"name": name.lower(), "type": "int"}]}
                  for name in ("A", "B")]
    codec.register({"type": "record", "name": "Order", "namespace": "shop", "fields": [
        {"name": "placed_at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "lines", "type": {"type": "array", "items": value}},
        {"name": "choice", "type": one_of_two},
    ]})
    order = Event("shop.Order", placed_at=datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc),
                  lines=[{"sku": "x", "n": 2}, None], choice={"b": 3})
    assert codec.decode(codec.encode(order)) == order


# -- hostile schemas and bytes (found in review) ------------------------------------------------

def _codec_with(*schemas: dict) -> AvroCodec:
    codec = AvroCodec(SchemaCatalog.engine())
    for schema in schemas:
        codec.register(schema)
    return codec


def test_type_names_that_differ_only_in_punctuation_stay_apart() -> None:
    def holder(name: str, kind: str) -> dict:
        return {"type": "record", "name": name, "fields": [{"name": "n", "type": kind}]}

    outer = {"type": "record", "name": "Outer", "namespace": "x", "fields": [
        {"name": "p", "type": holder("x.a.b", "long")}, {"name": "q", "type": holder("x.a_b", "double")}]}
    codec = _codec_with(outer)
    record = Event("x.Outer", p={"n": 1}, q={"n": 2.0})
    data = codec.encode(record)
    assert data[10:] == _fastavro_bytes(codec.catalog["x.Outer"], record)
    assert codec.decode(data) == record


def test_schema_text_never_runs_as_code() -> None:
    codec = _codec_with({"type": "enum", "name": "E{1/0}", "symbols": ["a"]})
    header = codec.catalog["E{1/0}"].header
    with pytest.raises(CorruptMessage, match=r"enum index of E\{1/0\} 3 out of range"):
        codec.decode(header + b"\x06")


def test_a_huge_count_of_empty_items_is_refused_before_allocating() -> None:
    codec = _codec_with({"type": "record", "name": "Nulls", "fields": [
        {"name": "xs", "type": {"type": "array", "items": "null"}}]})
    header = codec.catalog["Nulls"].header
    with pytest.raises(CorruptMessage, match="claims 4611686018427387903 items"):
        codec.decode(header + b"\xfe\xff\xff\xff\xff\xff\xff\xff\x7f\x00")


def test_hostile_nesting_in_an_old_version_is_an_error_not_a_crash() -> None:
    """Old versions are read through fastavro, which recurses in C; the bytes are checked first."""
    v1 = {"type": "record", "name": "Doc", "fields": [{"name": "body", "type": "iii.kafka.Value"}]}
    value = CODEC.catalog["iii.kafka.Value"].to_json()
    v1_full = json.loads(json.dumps(v1).replace('"iii.kafka.Value"', value))
    old = _codec_with(v1_full)
    added = {"name": "n", "type": "long", "default": 0}
    new = _codec_with({**v1_full, "fields": [*v1_full["fields"], added]})
    new.catalog.remember(old.catalog["Doc"])
    hostile = old.catalog["Doc"].header + b"\x0c\x02" * 5000 + b"\x00" * 5000
    with pytest.raises(CorruptMessage, match=f"nested deeper than {MAX_DEPTH} levels"):
        new.decode(hostile)
    assert new.decode(old.encode(Event("Doc", body={"a": [1]}))) == Event("Doc", body={"a": [1]}, n=0)


def test_defaults_filled_in_by_resolution_are_python_values_and_never_shared() -> None:
    old = _codec_with({"type": "record", "name": "R", "fields": [{"name": "a", "type": "long"}]})
    new = _codec_with({"type": "record", "name": "R", "fields": [
        {"name": "a", "type": "long"},
        {"name": "raw", "type": "bytes", "default": "\u00ff\u0001"},
        {"name": "tags", "type": {"type": "array", "items": "string"}, "default": []},
        {"name": "v", "type": {"type": "array", "items": CODEC.catalog["iii.kafka.Value"].schema},
         "default": [{"value": None}]},
    ]})
    new.catalog.remember(old.catalog["R"])
    data = old.encode(Event("R", a=1))
    first = new.decode(data)
    assert first == Event("R", a=1, raw=b"\xff\x01", tags=[], v=[None])
    first["tags"].append("mutated")
    assert new.decode(data)["tags"] == []
    assert new.decode(new.encode(Event("R", a=2)))["raw"] == b"\xff\x01"


def test_odd_inputs_are_read_as_what_they_are() -> None:
    class Blob(bytes):
        pass

    assert CODEC.decode(CODEC.encode({"b": Blob(b"ab")})) == {"b": b"ab"}
    assert CODEC.decode(bytearray(CODEC.encode([1]))) == [1]
    header = CODEC.catalog["iii.kafka.Value"].header
    with pytest.raises(CorruptMessage, match="boolean byte 5 out of range"):
        CODEC.decode(header + b"\x02\x05")


def test_a_cycle_in_a_record_fastavro_writes_is_refused() -> None:
    codec = _codec_with({"type": "record", "name": "Stamped", "fields": [
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "body", "type": {"type": "map", "values": {"type": "array", "items": "long"}}}]})
    looped: dict = {"at": 0}
    looped["body"] = {"self": [looped]}
    with pytest.raises(EncodeError, match="or a container holds itself"):
        codec.encode(Event("Stamped", looped))
