"""Compiles a parsed Avro schema into a Python writer and reader for its binary encoding.

Why not fastavro alone: fastavro walks the schema for every record and picks union branches by
validating the datum against each one; for the engine's small events that costs more than
encoding the same record as JSON. The code generated here is straight-line per record (one
function each, like `dataclasses` generates `__init__`), with the common cases inline: short
lengths, small longs, `["null", X]` unions, enums by table, `iii.kafka.Value` through `value.py`.

fastavro stays the reference: the property tests check that both write the same bytes, and the
codec uses fastavro for what is not compiled here (`Unsupported`: logical types other than
`iii-value`, unions whose branches Python types cannot tell apart) and for schema resolution.
A reader compiled with `reading_only=True` accepts those schemas too (it reads logical types as
their underlying type, and branches by index): the codec runs it over bytes before fastavro sees
them, because this reader refuses hostile nesting with an error where fastavro's recursion in C
would take the process down.

Nothing from a schema enters the generated source except through `repr()` or `constant()`, so a
schema cannot inject code; generated names come from a counter.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import CorruptMessage, EncodeError
from .value import LOGICAL_TYPE, VALUE_NAME, decode_value, encode_value
from .varint import read_block_count, read_long, read_size, write_length, write_long

__all__ = ["Compiled", "Unsupported", "compile_schema"]

Writer = Callable[[bytearray, Any], None]
Reader = Callable[[bytes, int], "tuple[Any, int]"]

_PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "string", "bytes"}
_INT_NAMES = {"int": "a 32-bit int", "long": "a 64-bit long"}
_INT_RANGE = {"int": (-(1 << 31), (1 << 31) - 1), "long": (-(1 << 63), (1 << 63) - 1)}
# Union branches are told apart by the Python type of the datum (no validation), so a compiled
# union has at most one branch per category.
_CATEGORY = {"null": "none", "boolean": "bool", "int": "int", "long": "int", "float": "float",
             "double": "float", "string": "str", "enum": "str", "bytes": "bytes", "fixed": "bytes",
             "array": "list", "map": "dict", "record": "dict"}
_TESTS = {"none": "{v} is None", "bool": "{v} is True or {v} is False", "int": "type({v}) is int",
          "float": "type({v}) is float", "str": "type({v}) is str", "bytes": "type({v}) is bytes",
          "list": "type({v}) is list or type({v}) is tuple", "dict": "isinstance({v}, dict)"}


class Unsupported(Exception):
    """A schema this compiler leaves to fastavro."""


@dataclass(frozen=True)
class Compiled:
    write: Writer | None  # None when compiled for reading only
    read: Reader
    source: str  # the generated code, for debugging


def _bad(path: str, expected: str, value: Any) -> EncodeError:
    return EncodeError(f"{path} is {type(value).__name__} {value!r:.60}, expected {expected}")


def _out_of_range(what: str, value: Any) -> CorruptMessage:
    return CorruptMessage(f"{what} {value} out of range")


def _encoded_long(n: int) -> bytes:
    out = bytearray()
    write_long(out, n)
    return bytes(out)


class _Generator:
    """Emits one writer and one reader function per named type, and inline code for the rest."""

    def __init__(self, types: dict[str, str], reading_only: bool) -> None:
        self.types = types  # full name -> record, enum or fixed
        self.reading_only = reading_only
        self.lines: list[str] = []
        self.names: dict[str, Any] = {
            "_write_long": write_long, "_read_long": read_long, "_read_size": read_size,
            "_read_block": read_block_count, "_write_length": write_length,
            "_bad": _bad, "_out_of_range": _out_of_range, "_encode_value": encode_value,
            "_decode_value": decode_value,
            "_pack_float": struct.Struct("<f").pack, "_pack_double": struct.Struct("<d").pack,
            "_unpack_float": struct.Struct("<f").unpack_from,
            "_unpack_double": struct.Struct("<d").unpack_from,
            "_CorruptMessage": CorruptMessage,
        }
        self.functions: dict[str, tuple[str, str]] = {}  # type name -> (writer, reader) names
        self._ids = itertools.count()

    def fresh(self, stem: str) -> str:
        return f"{stem}{next(self._ids)}"

    def constant(self, value: Any) -> str:
        name = self.fresh("_c")
        self.names[name] = value
        return name

    # -- named types become functions --------------------------------------------------------

    def named(self, schema: dict[str, Any]) -> tuple[str, str]:
        name = schema["name"]
        if name in self.functions:
            return self.functions[name]
        serial = next(self._ids)
        writer, reader = f"_write{serial}", f"_read{serial}"
        self.functions[name] = (writer, reader)
        kind = schema["type"]
        if kind == "record":
            self._record(schema, writer, reader)
        elif kind == "enum":
            self._enum(schema, writer, reader)
        elif kind == "fixed":
            self._fixed(schema, writer, reader)
        else:
            raise Unsupported(f"named type {kind}")
        return writer, reader

    def _record(self, schema: dict[str, Any], writer: str, reader: str) -> None:
        if schema.get("logicalType") == LOGICAL_TYPE and schema["name"] == VALUE_NAME:
            self.lines += [f"def {writer}(out, v):", "    _encode_value(out, v)",
                           f"def {reader}(data, pos):", "    return _decode_value(data, pos)"]
            return
        self._refuse_logical_type(schema)
        body: list[str] = []
        read_body: list[str] = []
        read_fields: list[str] = []
        for field in schema["fields"]:
            name, kind = field["name"], field["type"]
            path = f"{schema['name']}.{name}"
            local = self.fresh("f")
            if not self.reading_only:
                if "default" in field:
                    body.append(f"    {local} = r.get({name!r}, {self.constant(field['default'])})")
                elif isinstance(kind, list) and "null" in kind:
                    body.append(f"    {local} = r.get({name!r})")
                else:
                    body.append(f"    {local} = r[{name!r}]")
                body += self.write(kind, local, path, "    ")
            read_body += self.read(kind, local, "    ")
            read_fields.append(f"{name!r}: {local}")
        if not self.reading_only:
            self.lines += [f"def {writer}(out, r):", *body, "    return None"]
        self.lines += [f"def {reader}(data, pos):", *read_body,
                       f"    return {{{', '.join(read_fields)}}}, pos"]

    def _enum(self, schema: dict[str, Any], writer: str, reader: str) -> None:
        symbols = schema["symbols"]
        if not isinstance(symbols, list) or not all(isinstance(s, str) for s in symbols):
            raise Unsupported("enum symbols must be a list of strings")
        table = self.constant({s: _encoded_long(i) for i, s in enumerate(symbols)})
        names, what = self.constant(tuple(symbols)), self.constant(f"enum index of {schema['name']}")
        expected = self.constant(f"one of {', '.join(symbols)}")
        self.lines += [
            f"def {writer}(out, v, path={schema['name']!r}):",
            f"    encoded = {table}.get(v) if type(v) is str else None",
            "    if encoded is None:",
            f"        raise _bad(path, {expected}, v)",
            "    out += encoded",
            f"def {reader}(data, pos):",
            "    index, pos = _read_size(data, pos)",
            f"    if index >= {len(symbols)}:",
            f"        raise _out_of_range({what}, index)",
            f"    return {names}[index], pos",
        ]

    def _fixed(self, schema: dict[str, Any], writer: str, reader: str) -> None:
        self._refuse_logical_type(schema)
        size = schema["size"]
        if type(size) is not int or size < 0:
            raise Unsupported(f"fixed size {size!r} is not a non-negative integer")
        self.lines += [
            f"def {writer}(out, v, path={schema['name']!r}):",
            f"    if type(v) is not bytes or len(v) != {size}:",
            f"        raise _bad(path, 'exactly {size} bytes', v)",
            "    out += v",
            f"def {reader}(data, pos):",
            f"    end = pos + {size}",
            "    return data[pos:end], end",
        ]

    def _refuse_logical_type(self, schema: dict[str, Any]) -> None:
        if schema.get("logicalType") and not self.reading_only:
            raise Unsupported(f"logical type {schema['logicalType']!r}")

    # -- inline code for one value ------------------------------------------------------------

    def write(self, schema: Any, v: str, path: str, indent: str) -> list[str]:
        if isinstance(schema, list):
            return self._write_union(schema, v, path, indent)
        if isinstance(schema, str) and schema not in _PRIMITIVES:
            return [f"{indent}{self.functions[schema][0]}(out, {v})"]  # a named type, defined before
        kind = schema if isinstance(schema, str) else schema["type"]
        if isinstance(schema, dict):
            if kind in ("record", "enum", "fixed"):
                return [f"{indent}{self.named(schema)[0]}(out, {v})"]
            self._refuse_logical_type(schema)
            if kind == "array":
                return self._write_array(schema["items"], v, path, indent)
            if kind == "map":
                return self._write_map(schema["values"], v, path, indent)
        return self._write_primitive(kind, v, path, indent)

    def _write_primitive(self, kind: str, v: str, path: str, indent: str) -> list[str]:
        i = indent
        if kind == "null":
            return [f"{i}if {v} is not None:", f"{i}    raise _bad({path!r}, 'null', {v})"]
        if kind == "boolean":
            return [f"{i}if {v} is True:", f"{i}    out.append(1)", f"{i}elif {v} is False:",
                    f"{i}    out.append(0)", f"{i}else:", f"{i}    raise _bad({path!r}, 'a boolean', {v})"]
        if kind in _INT_RANGE:
            low, high = _INT_RANGE[kind]
            return [f"{i}if type({v}) is not int or not {low} <= {v} <= {high}:",
                    f"{i}    raise _bad({path!r}, {_INT_NAMES[kind]!r}, {v})",
                    f"{i}if 0 <= {v} < 64:", f"{i}    out.append({v} << 1)",
                    f"{i}else:", f"{i}    _write_long(out, {v})"]
        if kind in ("float", "double"):
            return [f"{i}if type({v}) is not float and (type({v}) is not int):",
                    f"{i}    raise _bad({path!r}, 'a number', {v})",
                    f"{i}out += _pack_{kind}({v})"]
        if kind == "string":
            data, size = self.fresh("s"), self.fresh("n")
            return [f"{i}if type({v}) is not str:", f"{i}    raise _bad({path!r}, 'a string', {v})",
                    f"{i}{data} = {v}.encode()", f"{i}{size} = len({data})",
                    f"{i}if {size} < 64:", f"{i}    out.append({size} << 1)",
                    f"{i}else:", f"{i}    _write_long(out, {size})", f"{i}out += {data}"]
        if kind == "bytes":
            return [f"{i}if type({v}) is not bytes:", f"{i}    raise _bad({path!r}, 'bytes', {v})",
                    f"{i}_write_length(out, len({v}))", f"{i}out += {v}"]
        raise Unsupported(f"type {kind!r}")

    def _write_union(self, branches: list[Any], v: str, path: str, indent: str) -> list[str]:
        if not branches:
            raise Unsupported("an empty union")
        categories = [self._category(b) for b in branches]
        if len(set(categories)) != len(categories):
            raise Unsupported("a union whose branches Python types cannot tell apart")
        lines: list[str] = []
        for index, (branch, category) in enumerate(zip(branches, categories)):
            test = _TESTS[category].format(v=v)
            if category == "float" and "int" not in categories:
                test += f" or type({v}) is int"
            lines.append(f"{indent}{'if' if index == 0 else 'elif'} {test}:")
            lines.append(f"{indent}    out.append({index << 1})" if index < 64
                         else f"{indent}    out += {self.constant(_encoded_long(index))}")
            if branch != "null":
                lines += self.write(branch, v, path, indent + "    ")
        expected = self.constant(f"one of {_describe(branches)}")
        lines += [f"{indent}else:", f"{indent}    raise _bad({path!r}, {expected}, {v})"]
        return lines

    def _category(self, branch: Any) -> str:
        if isinstance(branch, list):
            raise Unsupported("a union inside a union")
        name = branch if isinstance(branch, str) else branch.get("name")
        if name == VALUE_NAME:
            raise Unsupported("iii.kafka.Value inside a union")
        if isinstance(branch, str):
            kind = branch if branch in _PRIMITIVES else self.types[branch]
        else:
            kind = branch["type"]
        return _CATEGORY[kind]

    def _write_array(self, items: Any, v: str, path: str, indent: str) -> list[str]:
        item = self.fresh("item")
        return [f"{indent}if type({v}) is not list and type({v}) is not tuple:",
                f"{indent}    raise _bad({path!r}, 'a list', {v})",
                f"{indent}if {v}:", f"{indent}    _write_length(out, len({v}))",
                f"{indent}    for {item} in {v}:",
                *self.write(items, item, f"{path}[]", indent + "        "),
                f"{indent}out.append(0)"]

    def _write_map(self, values: Any, v: str, path: str, indent: str) -> list[str]:
        key, item, data = self.fresh("key"), self.fresh("item"), self.fresh("s")
        return [f"{indent}if type({v}) is not dict:", f"{indent}    raise _bad({path!r}, 'a dict', {v})",
                f"{indent}if {v}:", f"{indent}    _write_length(out, len({v}))",
                f"{indent}    for {key}, {item} in {v}.items():",
                f"{indent}        if type({key}) is not str:",
                f"{indent}            raise _bad({path + '{key}'!r}, 'a string', {key})",
                f"{indent}        {data} = {key}.encode()",
                f"{indent}        _write_length(out, len({data}))", f"{indent}        out += {data}",
                *self.write(values, item, f"{path}{{}}", indent + "        "),
                f"{indent}out.append(0)"]

    # -- reading -------------------------------------------------------------------------------

    def read(self, schema: Any, v: str, indent: str) -> list[str]:
        i = indent
        if isinstance(schema, list):
            return self._read_union(schema, v, indent)
        if isinstance(schema, str) and schema not in _PRIMITIVES:
            return [f"{i}{v}, pos = {self.functions[schema][1]}(data, pos)"]
        kind = schema if isinstance(schema, str) else schema["type"]
        if isinstance(schema, dict):
            if kind in ("record", "enum", "fixed"):
                return [f"{i}{v}, pos = {self.named(schema)[1]}(data, pos)"]
            self._refuse_logical_type(schema)
            if kind in ("array", "map"):
                return self._read_container(schema, v, indent)
        if kind == "null":
            return [f"{i}{v} = None"]
        if kind == "boolean":
            byte = self.fresh("b")
            return [f"{i}{byte} = data[pos]", f"{i}if {byte} > 1:",
                    f"{i}    raise _out_of_range('boolean byte', {byte})",
                    f"{i}{v} = {byte} == 1", f"{i}pos += 1"]
        if kind in _INT_RANGE:
            byte = self.fresh("b")
            low, high = _INT_RANGE[kind]
            return [f"{i}{byte} = data[pos]", f"{i}if {byte} < 0x80:",
                    f"{i}    {v} = ({byte} >> 1) ^ -({byte} & 1)", f"{i}    pos += 1",
                    f"{i}else:", f"{i}    {v}, pos = _read_long(data, pos)",
                    f"{i}    if not {low} <= {v} <= {high}:",
                    f"{i}        raise _out_of_range({kind!r}, {v})"]
        if kind in ("float", "double"):
            return [f"{i}{v} = _unpack_{kind}(data, pos)[0]", f"{i}pos += {4 if kind == 'float' else 8}"]
        if kind in ("string", "bytes"):
            byte, size = self.fresh("b"), self.fresh("n")
            take = f"data[pos:pos + {size}]" + (".decode()" if kind == "string" else "")
            return [f"{i}{byte} = data[pos]", f"{i}if {byte} < 0x80 and not {byte} & 1:",
                    f"{i}    {size} = {byte} >> 1", f"{i}    pos += 1",
                    f"{i}else:", f"{i}    {size}, pos = _read_size(data, pos)",
                    f"{i}{v} = {take}", f"{i}pos += {size}"]
        raise Unsupported(f"type {kind!r}")

    def _read_union(self, branches: list[Any], v: str, indent: str) -> list[str]:
        if not branches or any(isinstance(b, list) for b in branches):
            raise Unsupported("an empty union, or a union inside a union")
        index = self.fresh("u")
        lines = [f"{indent}{index} = data[pos]", f"{indent}if {index} < 0x80 and not {index} & 1:",
                 f"{indent}    {index} >>= 1", f"{indent}    pos += 1",
                 f"{indent}else:", f"{indent}    {index}, pos = _read_size(data, pos)"]
        for position, branch in enumerate(branches):
            lines.append(f"{indent}{'if' if position == 0 else 'elif'} {index} == {position}:")
            lines += self.read(branch, v, indent + "    ")
        lines += [f"{indent}else:", f"{indent}    raise _out_of_range('union index', {index})"]
        return lines

    def _read_container(self, schema: dict[str, Any], v: str, indent: str) -> list[str]:
        i = indent
        count, item = self.fresh("count"), self.fresh("item")
        is_map = schema["type"] == "map"
        element = schema["values"] if is_map else schema["items"]
        lines = [f"{i}{v} = {{}}" if is_map else f"{i}{v} = []",
                 f"{i}{count}, pos = _read_block(data, pos)",
                 f"{i}while {count}:", f"{i}    for _ in range({count}):"]
        if is_map:
            key = self.fresh("key")
            lines += self.read("string", key, i + "        ")
        lines += self.read(element, item, i + "        ")
        lines.append(f"{i}        {v}[{key}] = {item}" if is_map else f"{i}        {v}.append({item})")
        lines.append(f"{i}    {count}, pos = _read_block(data, pos)")
        return lines


def _describe(branches: list[Any]) -> str:
    return ", ".join(b if isinstance(b, str) else str(b.get("name", b.get("type"))) for b in branches)


def _named_types(schema: Any, found: dict[str, str]) -> dict[str, str]:
    """Full name -> kind of every named type defined in `schema`."""
    if isinstance(schema, list):
        for branch in schema:
            _named_types(branch, found)
    elif isinstance(schema, dict):
        if schema.get("type") in ("record", "enum", "fixed"):
            found[schema["name"]] = schema["type"]
        for field in schema.get("fields", ()):
            _named_types(field["type"], found)
        for key in ("items", "values"):
            if key in schema:
                _named_types(schema[key], found)
    return found


def compile_schema(parsed: Any, reading_only: bool = False) -> Compiled:
    """Writer and reader for a parsed (fastavro `parse_schema`) named schema."""
    if not isinstance(parsed, dict) or parsed.get("type") not in ("record", "enum", "fixed"):
        raise Unsupported("only named types are compiled")
    try:
        generator = _Generator(_named_types(parsed, {}), reading_only)
        writer, reader = generator.named(parsed)
        source = "\n".join(generator.lines)
        namespace = dict(generator.names)
        exec(compile(source, f"<avro {parsed['name']!r}>", "exec"), namespace)  # noqa: S102 - see module doc
    except Unsupported:
        raise
    except Exception as exc:  # a schema fastavro let through that this compiler cannot express
        raise Unsupported(f"{type(exc).__name__}: {exc}") from exc
    return Compiled(None if reading_only else namespace[writer], namespace[reader], source)
