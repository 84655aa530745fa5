"""The engine's schemas, loaded once: names, fingerprints and parsed forms.

Each `.avsc` file beside this module holds one named type, in the file `<namespace>.<name>.avsc`;
fastavro's `load_schema` inlines the types a schema refers to from their own files, so every loaded
schema is self-contained and can be published and fingerprinted as it is.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastavro.schema import (
    SchemaParseException,
    UnknownType,
    fingerprint,
    load_schema,
    parse_schema,
    to_parsing_canonical_form,
)

from .defaults import python_defaults
from .errors import SchemaError

__all__ = ["NAMESPACE", "SCHEMA_DIR", "NamedSchema", "SchemaCatalog", "fingerprint_of", "load_directory"]

NAMESPACE = "iii.kafka"
SCHEMA_DIR = Path(__file__).resolve().parent
_MARKER = b"\xc3\x01"


@dataclass(frozen=True)
class NamedSchema:
    """One writer schema: its full name, JSON, Parsing Canonical Form and CRC-64-AVRO fingerprint."""

    name: str
    schema: Any = field(repr=False, compare=False)
    canonical: str = field(repr=False)
    fingerprint: bytes  # 8 bytes, little-endian, as in Avro's single-object encoding
    parsed: Any = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, schema: Any) -> "NamedSchema":
        """From a self-contained schema (a dict, or JSON text)."""
        if isinstance(schema, (str, bytes)):
            try:
                schema = json.loads(schema)
            except ValueError as exc:
                raise SchemaError(f"schema is not JSON: {exc}") from exc
        try:
            parsed = parse_schema(schema, named_schemas={}, _write_hint=False)
        except (SchemaParseException, UnknownType, KeyError, TypeError, ValueError) as exc:
            raise SchemaError(f"invalid Avro schema: {exc}") from exc
        name = parsed["name"] if isinstance(parsed, dict) and "name" in parsed else None
        if name is None:
            raise SchemaError("only named types (record, enum, fixed) can be written as events")
        canonical = to_parsing_canonical_form(parsed)
        return cls(name, schema, canonical, fingerprint_of(canonical),
                   python_defaults(parse_schema(parsed, named_schemas={})))

    @property
    def fingerprint_hex(self) -> str:
        return self.fingerprint.hex()

    @property
    def header(self) -> bytes:
        """The single-object encoding header: marker and fingerprint."""
        return _MARKER + self.fingerprint

    def to_json(self) -> str:
        return json.dumps(self.schema, separators=(",", ":"), sort_keys=True)


def fingerprint_of(canonical_form: str) -> bytes:
    """The CRC-64-AVRO fingerprint of a schema's Parsing Canonical Form, little-endian."""
    return bytes.fromhex(fingerprint(canonical_form, "CRC-64-AVRO"))  # fastavro's hex is little-endian


def load_directory(directory: Path) -> list[NamedSchema]:
    """Every `<full name>.avsc` in `directory`, references inlined. Errors name the file."""
    schemas = []
    for path in sorted(Path(directory).glob("*.avsc")):
        try:
            loaded = load_schema(str(path), _write_hint=False)
        except (SchemaParseException, UnknownType, ValueError, KeyError, OSError) as exc:
            raise SchemaError(f"{path}: {exc}") from exc
        named = NamedSchema.from_json(loaded)
        if f"{named.name}.avsc" != path.name:
            raise SchemaError(f"{path}: holds {named.name}; name the file {named.name}.avsc")
        schemas.append(named)
    return schemas


class SchemaCatalog:
    """Schemas by full name (the version this process writes) and by fingerprint (every version met)."""

    def __init__(self, schemas: Iterable[NamedSchema] = ()) -> None:
        self._by_name: dict[str, NamedSchema] = {}
        self._by_fingerprint: dict[bytes, NamedSchema] = {}
        for schema in schemas:
            self.add(schema)

    @classmethod
    def engine(cls) -> "SchemaCatalog":
        """The engine's own schemas, from the `.avsc` files of this package."""
        return cls(load_directory(SCHEMA_DIR))

    def add(self, schema: NamedSchema | Mapping[str, Any] | str) -> NamedSchema:
        """Adds a schema this process writes (a function's request or response schema, say)."""
        named = schema if isinstance(schema, NamedSchema) else NamedSchema.from_json(schema)
        self._by_name[named.name] = named
        self._by_fingerprint[named.fingerprint] = named
        return named

    def remember(self, schema: NamedSchema) -> None:
        """Adds a writer schema met in the log (an older version, say) without making it current."""
        self._by_fingerprint.setdefault(schema.fingerprint, schema)

    def __getitem__(self, name: str) -> NamedSchema:
        try:
            return self._by_name[name]
        except KeyError:
            raise SchemaError(f"unknown schema {name!r}; known: {', '.join(sorted(self._by_name))}") from None

    def get(self, name: str) -> NamedSchema | None:
        return self._by_name.get(name)

    def by_fingerprint(self, fingerprint: bytes) -> NamedSchema | None:
        return self._by_fingerprint.get(fingerprint)

    def __iter__(self) -> Iterator[NamedSchema]:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)
