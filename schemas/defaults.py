"""Field defaults, from Avro's JSON form to the Python values the codec reads and writes.

fastavro hands a field's default to the writer and to the reader as it stands in the schema, so
without this a `Value` default `{"value": 1}` would come out as the map `{"value": 1}` rather than
`1`, and a `bytes` default would come out as a `str`. The rewrite is done once, on the parsed
schema, in place.
"""

from __future__ import annotations

from typing import Any

from .value import VALUE_NAME

__all__ = ["python_defaults"]


def python_defaults(parsed: Any) -> Any:
    """Rewrites every field default in a parsed schema; returns the schema."""
    named: dict[str, Any] = {}
    _collect(parsed, named)
    for record in [s for s in named.values() if s.get("type") == "record"]:
        if record["name"] == VALUE_NAME:
            continue
        for field in record["fields"]:
            if "default" in field:
                field["default"] = _python(field["type"], field["default"], named)
    return parsed


def _collect(schema: Any, named: dict[str, Any]) -> None:
    if isinstance(schema, list):
        for branch in schema:
            _collect(branch, named)
    elif isinstance(schema, dict):
        if schema.get("type") in ("record", "enum", "fixed") and schema["name"] not in named:
            named[schema["name"]] = schema
        for field in schema.get("fields", ()):
            _collect(field["type"], named)
        for key in ("items", "values"):
            if key in schema:
                _collect(schema[key], named)


def _python(schema: Any, default: Any, named: dict[str, Any]) -> Any:
    if isinstance(schema, str) and schema in named:
        schema = named[schema]
    if isinstance(schema, list):  # a union's default is for its first branch
        return _python(schema[0], default, named) if schema else default
    kind = schema if isinstance(schema, str) else schema.get("type")
    if isinstance(schema, dict) and schema.get("name") == VALUE_NAME:
        return _plain_value(default)
    if kind in ("bytes", "fixed") and isinstance(default, str):
        return default.encode("latin-1")  # Avro's JSON form of bytes: one code point per byte
    if kind == "array" and isinstance(default, list):
        return [_python(schema["items"], item, named) for item in default]
    if kind == "map" and isinstance(default, dict):
        return {key: _python(schema["values"], item, named) for key, item in default.items()}
    if kind == "record" and isinstance(default, dict):
        types = {f["name"]: f["type"] for f in schema["fields"]}
        return {key: _python(types[key], item, named) if key in types else item
                for key, item in default.items()}
    return default


def _plain_value(default: Any) -> Any:
    """`{"value": x}` (a Value record in JSON form, its union as the first branch or plain JSON)."""
    inner = default.get("value") if isinstance(default, dict) and set(default) == {"value"} else default
    if isinstance(inner, list):
        return [_plain_value(item) for item in inner]
    if isinstance(inner, dict):
        return {key: _plain_value(item) for key, item in inner.items()}
    return inner
