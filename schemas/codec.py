"""Records to bytes and back: fastavro, framed with Avro's single-object encoding.

Every message starts with the marker C3 01 and the 8-byte CRC-64-AVRO fingerprint of its writer
schema's Parsing Canonical Form, so it says which schema wrote it. A reader decodes a message
written with its own version of the schema on the fast path; a message written with another
version (found in the schema topic through `store`) is decoded with Avro's writer/reader
resolution, so old events read as the current schema says.

Records are dicts (`Event`, a dict that knows its schema's full name); anything else is encoded as
the generic `iii.kafka.Value`. The bytes are written and read by code compiled per schema
(`compiler.py`), checked against fastavro, which does the rest (see there why).
"""

from __future__ import annotations

import copy
import functools
import io
import warnings
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from fastavro import schemaless_reader, schemaless_writer
from fastavro.validation import ValidationError, validate

from . import value as value_module
from . import varint as varint_module
from .catalog import NamedSchema, SchemaCatalog
from .compiler import Unsupported, compile_schema
from .errors import CodecError, CorruptMessage, EncodeError, NotFramed, SchemaError, UnknownSchema
from .value import MAX_DEPTH, VALUE_NAME, install_fastavro_hooks, value_branches

__all__ = ["AvroCodec", "Event", "SchemaStore", "VALUE_SCHEMA"]

VALUE_SCHEMA = VALUE_NAME
_MARKER = b"\xc3\x01"
_HEADER_SIZE = 10
_EXPECTED_BRANCHES = ("null", "boolean", "long", "double", "string", "bytes", "array", "map")

install_fastavro_hooks()


def _warn_if_build_is_stale() -> None:
    """setup.py compiles value.py and varint.py in place; a later edit of the .py is shadowed by
    the old binary until the package is reinstalled, so say so rather than run stale code."""
    for module in (value_module, varint_module):
        binary = Path(module.__file__)
        source = binary.with_name(module.__name__.rpartition(".")[2] + ".py")
        compiled = binary.suffix in (".so", ".pyd")
        if compiled and source.exists() and source.stat().st_mtime > binary.stat().st_mtime:
            warnings.warn(f"{binary.name} is older than {source.name}: reinstall (make setup, or "
                          "pip install -e .) to recompile it", RuntimeWarning, stacklevel=2)


_warn_if_build_is_stale()


class Event(dict):
    """A record: its fields, plus the full name of the schema it is (or was) written with."""

    __slots__ = ("schema",)

    def __init__(self, schema: str, fields: Mapping[str, Any] = (), /, **more: Any) -> None:
        super().__init__(fields, **more)
        self.schema = schema

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Event) and other.schema != self.schema:
            return False
        return dict.__eq__(self, other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Event({self.schema!r}, {dict.__repr__(self)})"

    def __reduce__(self) -> tuple:
        return (Event, (self.schema, dict(self)))


class SchemaStore(Protocol):
    """Where writer schemas are published and looked up (the schema topic)."""

    def publish(self, schema: NamedSchema) -> None: ...

    def lookup(self, fingerprint: bytes) -> NamedSchema | None: ...


class _Plan:
    """How one schema's records are written and read: compiled code, or fastavro when the
    compiler leaves the schema to it."""

    def __init__(self, schema: NamedSchema) -> None:
        self.schema = schema
        self.name = schema.name
        self.header = schema.header
        self.is_value = schema.name == VALUE_SCHEMA
        # Records come back as Events; Values, enums and fixed as plain Python values.
        self.is_plain = self.is_value or schema.parsed["type"] != "record"
        self.published = False
        try:
            compiled = compile_schema(schema.parsed)
            self.write, self.read = compiled.write, compiled.read
        except Unsupported:
            self.write, self.read = self._fastavro_write, self._fastavro_read

    def decode(self, data: bytes) -> Any:
        try:
            record, end = self.read(data, _HEADER_SIZE)
        except Exception as exc:  # truncated, bad UTF-8, bad union index, ...
            raise _corrupt(self.schema, exc) from exc
        if end != len(data):
            _check_end(data, end)
        return record if self.is_plain else Event(self.name, record)

    def _fastavro_write(self, out: bytearray, record: Any) -> None:
        _refuse_deep_nesting(record)  # fastavro would recurse into a cycle in C, past any limit
        stream = io.BytesIO()
        schemaless_writer(stream, self.schema.parsed, record)
        out += stream.getvalue()

    def _fastavro_read(self, data: bytes, pos: int) -> tuple[Any, int]:
        return _guarded_fastavro_read(data, self.schema, None)


def _guarded_fastavro_read(data: bytes, writer: NamedSchema, reader: NamedSchema | None) -> tuple[Any, int]:
    """fastavro's reader (and its schema resolution), after a compiled reader has checked the bytes:
    fastavro recurses in C without a limit, so hostile nesting would crash the process; the check
    refuses it with an error instead."""
    check = _checker(writer)
    if check is not None:
        _, end = check(data, _HEADER_SIZE)
        _check_end(data, end)
    stream = io.BytesIO(data)
    stream.seek(_HEADER_SIZE)
    record = schemaless_reader(stream, writer.parsed, reader.parsed if reader is not None else None)
    # fastavro fills missing fields with the schema's own default objects: never hand those out
    return (copy.deepcopy(record) if reader is not None else record), stream.tell()


@functools.lru_cache(maxsize=1024)
def _checker(schema: NamedSchema) -> Callable[[bytes, int], tuple[Any, int]] | None:
    try:
        return compile_schema(schema.parsed, reading_only=True).read
    except Unsupported:
        return None


def _refuse_deep_nesting(record: Any) -> None:
    """Walks containers without recursion; too deep (a container that holds itself is) is an error."""
    pending = [(record, 0)]
    while pending:
        item, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise EncodeError(f"record nested deeper than {MAX_DEPTH} levels (or a container holds itself)")
        if isinstance(item, Mapping):
            pending.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, (list, tuple)):
            pending.extend((child, depth + 1) for child in item)


def _corrupt(schema: NamedSchema, exc: Exception) -> CodecError:
    if isinstance(exc, CodecError):
        return exc
    return CorruptMessage(f"does not decode as {schema.name} ({schema.fingerprint_hex}): "
                          f"{type(exc).__name__}: {exc}")


def _check_end(data: bytes, end: int) -> None:
    if end > len(data):
        raise CorruptMessage(f"truncated: the record needs {end - len(data)} more bytes")
    if end < len(data):
        raise CorruptMessage(f"{len(data) - end} bytes left over after the record")


class AvroCodec:
    """Encodes and decodes framed Avro messages for the schemas of `catalog`.

    With a `store`, each writer schema is published there before the first message that uses it,
    and fingerprints this process does not know are looked up there.
    """

    def __init__(self, catalog: SchemaCatalog | None = None, store: SchemaStore | None = None) -> None:
        self.catalog = catalog if catalog is not None else SchemaCatalog.engine()
        self.store = store
        value = self.catalog[VALUE_SCHEMA]
        if value_branches(value.schema) != _EXPECTED_BRANCHES:
            raise SchemaError(f"{VALUE_SCHEMA} branches {value_branches(value.schema)} differ from the "
                              f"codec's {_EXPECTED_BRANCHES}")
        self._plans: dict[str, _Plan] = {}
        self._readers: dict[bytes, Callable[[bytes], Any]] = {}  # fingerprint -> decode function
        self._unknown: set[bytes] = set()

    def register(self, schema: NamedSchema | Mapping[str, Any] | str) -> NamedSchema:
        """Adds a schema this process writes (a function's request or response type, say), or a new
        version of one; messages of the version it replaces are read through schema resolution."""
        named = self.catalog.add(schema)
        self._plans.pop(named.name, None)
        self._readers.clear()
        return named

    # -- writing ---------------------------------------------------------------------------

    def encode(self, item: Any) -> bytes:
        """An `Event` with its schema; anything else as an `iii.kafka.Value`."""
        if isinstance(item, Event):
            return self.encode_record(item.schema, item)
        return self.encode_record(VALUE_SCHEMA, item)

    def encode_record(self, schema_name: str, record: Any) -> bytes:
        plan = self._plans.get(schema_name) or self._plan(schema_name)
        if not plan.published:
            self._publish(plan)
        out = bytearray(plan.header)
        try:
            plan.write(out, record)
        except EncodeError as exc:
            raise EncodeError(f"cannot write {schema_name}: {exc.reason}") from None
        except Exception as exc:  # fastavro raises ValueError, TypeError, struct.error, ...
            raise EncodeError(f"cannot write {schema_name}: {self._explain(plan, record, exc)}") from exc
        return bytes(out)

    def _plan(self, schema_name: str) -> _Plan:
        plan = self._plans[schema_name] = _Plan(self.catalog[schema_name])
        return plan

    def _publish(self, plan: _Plan) -> None:
        """Before the first message with a schema: the schema, in the schema topic."""
        if self.store is not None:
            self.store.publish(plan.schema)
        plan.published = True

    def publish_all(self) -> int:
        """Publishes every schema of the catalog (a worker does this as it starts)."""
        if self.store is not None:
            for schema in self.catalog:  # no plans: publishing needs no compiled code
                self.store.publish(schema)
        return len(self.catalog)

    @staticmethod
    def _explain(plan: _Plan, record: Any, exc: Exception) -> str:
        if isinstance(exc, RecursionError):  # fastavro's validation would recurse without a limit
            return "record nested too deeply (or a record that holds itself)"
        if not isinstance(record, Mapping) and not plan.is_value:
            return f"expected a mapping of fields, got {type(record).__name__}"
        try:
            validate(record, plan.schema.parsed, raise_errors=True)
        except ValidationError as invalid:
            return "; ".join(str(error) for error in invalid.errors)[:500]
        except Exception:  # noqa: BLE001 - fall back to the writer's own message
            pass
        return f"{type(exc).__name__}: {exc}"

    # -- reading ---------------------------------------------------------------------------

    def decode(self, data: bytes) -> Any:
        """The record (`Event`) or plain value a framed message holds. Raises `CodecError`s."""
        if type(data) is not bytes:
            data = bytes(data)  # bytearray, memoryview: the fingerprint must be hashable
        read = self._readers.get(data[2:_HEADER_SIZE]) if data[:2] == _MARKER else None
        if read is None:
            read = self._reader_for(data)
        return read(data)

    def _reader_for(self, data: bytes) -> Callable[[bytes], Any]:
        if data[:2] != _MARKER:
            raise NotFramed("not Avro single-object encoded (no C3 01 marker)")
        if len(data) < _HEADER_SIZE:
            raise NotFramed(f"{len(data)} bytes is shorter than the 10-byte header")
        fingerprint = data[2:_HEADER_SIZE]
        writer = self.catalog.by_fingerprint(fingerprint) or self._look_up(fingerprint)
        current = self.catalog.get(writer.name)
        if current is not None and current.fingerprint == fingerprint:
            read = (self._plans.get(writer.name) or self._plan(writer.name)).decode
        else:
            read = partial(self._resolve, writer=writer, reader=current)
        self._readers[fingerprint] = read
        return read

    def _look_up(self, fingerprint: bytes) -> NamedSchema:
        # A writer publishes before its first message, so a fingerprint the topic lacks now stays
        # unknown: remembering it keeps a flood of garbage from re-reading the topic each time.
        found = None
        if self.store is not None and fingerprint not in self._unknown:
            found = self.store.lookup(fingerprint)
        if found is None:
            if len(self._unknown) > 10_000:
                self._unknown.clear()
            self._unknown.add(fingerprint)
            where = "the schema topic" if self.store is not None else "this process (no schema topic)"
            raise UnknownSchema(f"unknown writer schema fingerprint {fingerprint.hex()}: not in {where}")
        self.catalog.remember(found)
        return found

    @staticmethod
    def _resolve(data: bytes, writer: NamedSchema, reader: NamedSchema | None) -> Any:
        """A message of another version (or of a schema this process does not use)."""
        try:
            record, end = _guarded_fastavro_read(data, writer, reader)
        except Exception as exc:
            raise _corrupt(writer, exc) from exc
        _check_end(data, end)
        if writer.name == VALUE_SCHEMA or writer.parsed["type"] != "record":
            return record
        return Event(writer.name, record)
