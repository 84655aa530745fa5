"""Backward compatibility of a schema change: can the new schema read every event already written?

The log keeps events forever and replays them, so a schema must read *every* earlier version of
itself (Confluent calls this BACKWARD_TRANSITIVE), not just the last one. The rules are Avro's
schema resolution rules, checked by Apache Avro's own `ReaderWriterCompatibilityChecker`.
"""

from __future__ import annotations

import json
import warnings
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import avro.compatibility
import avro.schema

from .catalog import NamedSchema

__all__ = ["Incompatibility", "check_backward", "check_history"]

_EXPLAINED = {
    "reader_field_missing_default_value": "a field was added without a default, so older events lack it",
    "type_mismatch": "a type changed to one that cannot read the old values",
    "missing_enum_symbols": "enum symbols that older events may hold were removed",
    "missing_union_branches": "union branches that older events may hold were removed",
    "name_mismatch": "a named type was renamed without an alias",
    "fixed_size_mismatch": "a fixed type changed its size",
}


@dataclass(frozen=True)
class Incompatibility:
    """Why the current version of `schema` cannot read events written with version `old`."""

    schema: str
    old_fingerprint: str
    rules: tuple[str, ...]
    fields: tuple[str, ...]
    details: tuple[str, ...]

    def __str__(self) -> str:
        fields = ", ".join(self.fields) or "the schema itself"
        why = "; ".join(f"{rule} ({_EXPLAINED.get(rule, 'see the Avro specification')})"
                        for rule in self.rules)
        return (f"{self.schema}: cannot read events written with its version {self.old_fingerprint}: "
                f"field {fields}: {why}; detail: {', '.join(self.details)}")


def _avro(schema: NamedSchema) -> avro.schema.Schema:
    with warnings.catch_warnings():  # Apache Avro warns about the logical types it does not know
        warnings.simplefilter("ignore")
        return avro.schema.parse(json.dumps(schema.schema))


def check_backward(new: NamedSchema, old: NamedSchema) -> Incompatibility | None:
    """None if `new` can read every event written with `old`."""
    result = avro.compatibility.ReaderWriterCompatibilityChecker().get_compatibility(_avro(new), _avro(old))
    if result.compatibility is avro.compatibility.SchemaCompatibilityType.compatible:
        return None
    rules = tuple(dict.fromkeys(i.value for i in result.incompatibilities))
    fields = tuple(sorted({_field_path(new.schema, location) for location in result.locations} - {"/"}))
    return Incompatibility(new.name, old.fingerprint_hex, rules, fields, tuple(sorted(result.messages)))


def check_history(current: Iterable[NamedSchema], history: Iterable[NamedSchema]) -> list[Incompatibility]:
    """Every current schema against every earlier version of the same name in `history`."""
    versions: dict[str, list[NamedSchema]] = defaultdict(list)
    for old in history:
        versions[old.name].append(old)
    found = []
    for new in current:
        for old in versions.get(new.name, ()):
            if old.fingerprint != new.fingerprint and (problem := check_backward(new, old)) is not None:
                found.append(problem)
    return found


def _field_path(schema: Any, location: str) -> str:
    """`/fields/3/type/items/fields/2/type` in `schema` -> `ops[].value` (best effort)."""
    tokens = [t for t in location.split("/") if t]
    node, parts, i = schema, [], 0
    while i < len(tokens) and isinstance(node, (dict, list)):
        token = tokens[i]
        if token == "fields" and i + 1 < len(tokens) and isinstance(node, dict):
            field = node["fields"][int(tokens[i + 1])]
            parts.append(field["name"])
            node, i = field["type"], i + 2
        elif token in ("items", "values") and isinstance(node, dict) and parts:
            parts[-1] += "[]" if token == "items" else "{}"
            node, i = node[token], i + 1
        elif token.isdigit() and isinstance(node, list):
            node, i = node[int(token)], i + 1
        else:
            i += 1
    return ".".join(parts) or location
