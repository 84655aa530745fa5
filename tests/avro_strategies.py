"""Hypothesis strategies that generate records for any parsed Avro schema, and deep JSON-like values."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

VALUE_NAME = "iii.kafka.Value"
_LONG = (-(1 << 63), (1 << 63) - 1)

_scalars = (st.none() | st.booleans() | st.integers(*_LONG) | st.floats(allow_nan=False)
            | st.text() | st.binary())


def json_like(max_leaves: int = 40) -> st.SearchStrategy[Any]:
    """Values an iii payload or state value can hold: JSON, plus bytes, nested arbitrarily."""
    return st.recursive(_scalars, lambda children: st.lists(children) | st.dictionaries(st.text(), children),
                        max_leaves=max_leaves)


def records(schema: Any, named: dict[str, st.SearchStrategy] | None = None) -> st.SearchStrategy[Any]:
    """Data that `schema` (as fastavro's `parse_schema` returns it) can write."""
    named = {} if named is None else named
    if isinstance(schema, list):
        return st.one_of([records(branch, named) for branch in schema])
    if isinstance(schema, str):
        if schema in named:
            return named[schema]
        return _primitive(schema)
    kind = schema["type"]
    if kind == "record" and schema["name"] == VALUE_NAME:
        named[VALUE_NAME] = json_like()
        return named[VALUE_NAME]
    if kind == "record":
        named[schema["name"]] = st.deferred(lambda: whole)  # a record may refer to itself
        whole = st.fixed_dictionaries({f["name"]: records(f["type"], named) for f in schema["fields"]})
        named[schema["name"]] = whole
        return whole
    if kind == "enum":
        named[schema["name"]] = st.sampled_from(schema["symbols"])
        return named[schema["name"]]
    if kind == "fixed":
        named[schema["name"]] = st.binary(min_size=schema["size"], max_size=schema["size"])
        return named[schema["name"]]
    if kind == "array":
        return st.lists(records(schema["items"], named), max_size=5)
    if kind == "map":
        return st.dictionaries(st.text(), records(schema["values"], named), max_size=5)
    return _primitive(kind)


def _primitive(kind: str) -> st.SearchStrategy[Any]:
    return {
        "null": st.none(), "boolean": st.booleans(),
        "int": st.integers(-(1 << 31), (1 << 31) - 1), "long": st.integers(*_LONG),
        "float": st.floats(width=32, allow_nan=False), "double": st.floats(allow_nan=False),
        "string": st.text(), "bytes": st.binary(),
    }[kind]
