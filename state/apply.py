"""The pure apply step of KV state: old value + update ops -> new value (iii's `state::update`).

Ops have iii's wire shape (docs/iii-state-semantics.md):

    {"type": "set",       "path": "k",           "value": v}
    {"type": "merge",     "path": "k" | [...],   "value": {...}}     (path optional)
    {"type": "increment", "path": "k",           "by": 1}
    {"type": "decrement", "path": "k",           "by": 1}
    {"type": "append",    "path": "k" | [...],   "value": v}         (path optional)
    {"type": "remove",    "path": "k"}

A path is one literal key (dots are not separators), `""` is the whole value, and merge and append
also take a list of keys. Each op behaves as in iii (a missing field starts at `by` / `-by`, append
starts an array or joins strings, merge is shallow and creates the levels it needs, ...), with the
same error codes (`increment.not_number`, `set.target_not_object`, ...).

One deliberate difference: iii skips a failing op and applies the others. Here an update is all or
nothing: the first failing op raises `StateOpError` naming its index and code, and nothing changes,
because a state change is an event in a log and half of an update is a change nobody asked for.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["MISSING", "StateInputError", "StateOpError", "apply_update"]

MAX_PATH_SEGMENTS = 32
MAX_SEGMENT_BYTES = 256
MAX_MERGE_KEYS = 1024
MAX_MERGE_DEPTH = 16
FORBIDDEN_KEYS = frozenset({"__proto__", "constructor", "prototype"})
OP_TYPES = ("set", "merge", "increment", "decrement", "append", "remove")
INT64 = (-(2 ** 63), 2 ** 63 - 1)


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
"""The old value of a key that does not exist (an update starts it from `{}`, as iii does)."""


class StateInputError(ValueError):
    """The ops are not ops (unknown type, missing path, `by` not an integer): iii's
    `deserialization_error`. Nothing is applied."""

    code = "deserialization_error"


@dataclass(frozen=True)
class StateOpError(ValueError):
    """An op that cannot apply to the value: nothing of the update is applied."""

    op_index: int
    code: str
    message: str

    def __str__(self) -> str:
        return f"op {self.op_index}: {self.code}: {self.message}"


class _Fresh(dict):
    """The `{}` a new key starts from, until an op applies: a root increment or append on it
    starts a number, an array or a string instead of failing on an object (as iii does)."""


def apply_update(old: Any, ops: Sequence[Mapping[str, Any]]) -> Any:
    """The new value after `ops`, in order; `old` is not modified (MISSING for a new key)."""
    parsed = [_parse(index, op) for index, op in enumerate(_as_list(ops))]
    value = _Fresh() if old is MISSING else copy.deepcopy(old)
    for index, (kind, path, operand) in enumerate(parsed):
        value = _APPLY[kind](index, value, path, operand)
        if isinstance(value, _Fresh):
            value = dict(value)
    return dict(value) if isinstance(value, _Fresh) else value


def _as_list(ops: Any) -> list:
    if not isinstance(ops, (list, tuple)):
        raise StateInputError(f"ops must be a list of ops, not {type(ops).__name__}")
    return list(ops)


def _parse(index: int, op: Any) -> tuple[str, list[str], Any]:
    if not isinstance(op, Mapping):
        raise StateInputError(f"op {index} is not an object: {op!r}")
    kind = op.get("type")
    if kind not in OP_TYPES:
        raise StateInputError(f"op {index}: unknown type {kind!r} (one of {', '.join(OP_TYPES)})")
    path = _parse_path(index, kind, op.get("path", MISSING))
    if kind in ("increment", "decrement"):
        by = op.get("by", MISSING)
        if by is MISSING or isinstance(by, bool) or not isinstance(by, int) or not INT64[0] <= by <= INT64[1]:
            raise StateInputError(f"op {index} ({kind}): `by` must be a 64-bit integer, got {by!r}")
        return kind, path, by
    return kind, path, op.get("value")


def _parse_path(index: int, kind: str, path: Any) -> list[str]:
    if path is MISSING:
        if kind in ("merge", "append"):
            return []
        raise StateInputError(f"op {index} ({kind}): `path` is required")
    if isinstance(path, str):
        segments = [path] if path else []
    elif isinstance(path, list) and kind in ("merge", "append") and all(isinstance(s, str) for s in path):
        segments = list(path)
    else:
        shape = "a key or a list of keys" if kind in ("merge", "append") else "a key (a string)"
        raise StateInputError(f"op {index} ({kind}): `path` must be {shape}, got {path!r}")
    if len(segments) > MAX_PATH_SEGMENTS:
        raise StateOpError(index, f"{kind}.path.too_deep", f"path has {len(segments)} keys, the limit "
                           f"is {MAX_PATH_SEGMENTS}")
    for segment in segments:
        if not segment:
            raise StateOpError(index, f"{kind}.path.empty_segment", f"path {_label(segments)} has an "
                               "empty key")
        if len(segment.encode()) > MAX_SEGMENT_BYTES:
            raise StateOpError(index, f"{kind}.path.segment_too_long", f"a key of path is longer than "
                               f"{MAX_SEGMENT_BYTES} bytes")
        if segment in FORBIDDEN_KEYS:
            raise StateOpError(index, f"{kind}.path.proto_polluted", f"path {_label(segments)} uses "
                               f"the reserved key {segment!r}")
    return segments


def _label(path: list[str]) -> str:
    if not path:
        return "root"
    return f"'{path[0]}'" if len(path) == 1 else "[" + ", ".join(path) + "]"


def _kind_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return {str: "string", list: "array", dict: "object"}.get(type(value), type(value).__name__)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _set(index: int, value: Any, path: list[str], operand: Any) -> Any:
    if not path:
        return operand
    if not isinstance(value, dict):
        raise StateOpError(index, "set.target_not_object", f"Cannot set at path {_label(path)}: target "
                           f"is {_kind_of(value)}, expected object.")
    value[path[0]] = operand
    return value


def _walk_or_create(value: Any, path: list[str]) -> tuple[Any, dict]:
    """The root (replaced by {} if it is not an object) and the object at `path`, creating (or
    replacing non-object) levels on the way, as iii's merge and nested append do."""
    root = value if isinstance(value, dict) else {}
    node = root
    for segment in path:
        child = node.get(segment)
        if not isinstance(child, dict):
            child = node[segment] = {}
        node = child
    return root, node


def _merge(index: int, value: Any, path: list[str], operand: Any) -> Any:
    if not isinstance(operand, dict):
        raise StateOpError(index, "merge.value.not_an_object", f"merge needs an object, got "
                           f"{_kind_of(operand)}.")
    if len(operand) > MAX_MERGE_KEYS:
        raise StateOpError(index, "merge.value.too_many_keys", f"merge value has {len(operand)} keys, "
                           f"the limit is {MAX_MERGE_KEYS}")
    if _depth(operand) > MAX_MERGE_DEPTH:
        raise StateOpError(index, "merge.value.too_deep", f"merge value is nested deeper than "
                           f"{MAX_MERGE_DEPTH}")
    if FORBIDDEN_KEYS & operand.keys():
        raise StateOpError(index, "merge.value.proto_polluted", "merge value uses a reserved key")
    if not path:
        if not isinstance(value, dict):  # iii: a silent no-op on a non-object root
            return value
        value.update(operand)
        return value
    root, target = _walk_or_create(value, path[:-1])
    leaf = target.get(path[-1])
    target[path[-1]] = {**leaf, **operand} if isinstance(leaf, dict) else dict(operand)
    return root


def _depth(value: Any) -> int:
    """Levels of objects and arrays: 0 for a scalar, 1 for {"a": 1}, 2 for {"a": {"b": 1}}."""
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def _add(index: int, value: Any, path: list[str], by: int, kind: str) -> Any:
    if not path:
        if isinstance(value, _Fresh):  # a new key: starts at +-by
            return by
        if not _is_number(value):
            raise StateOpError(index, f"{kind}.not_number", f"Expected number at path root, got "
                               f"{_kind_of(value)}.")
        return value + by
    if not isinstance(value, dict):
        raise StateOpError(index, f"{kind}.target_not_object", f"Cannot {kind} at path {_label(path)}: "
                           f"target is {_kind_of(value)}, expected object.")
    current = value.get(path[0], MISSING)
    if current is MISSING:
        value[path[0]] = by
    elif not _is_number(current):
        raise StateOpError(index, f"{kind}.not_number", f"Expected number at path {_label(path)}, got "
                           f"{_kind_of(current)}.")
    else:
        value[path[0]] = current + by
    return value


def _increment(index: int, value: Any, path: list[str], by: int) -> Any:
    return _add(index, value, path, by, "increment")


def _decrement(index: int, value: Any, path: list[str], by: int) -> Any:
    return _add(index, value, path, -by, "decrement")


def _appended(index: int, current: Any, operand: Any, path: list[str], nested: bool) -> Any:
    if current is MISSING or current is None:
        if nested:
            return [operand]
        return operand if isinstance(operand, str) else [operand]
    if isinstance(current, list):
        return [*current, operand]
    if isinstance(current, str) and isinstance(operand, str):
        return current + operand
    raise StateOpError(index, "append.type_mismatch", f"Cannot append {_kind_of(operand)} to "
                       f"{_kind_of(current)} at path {_label(path)}.")


def _append(index: int, value: Any, path: list[str], operand: Any) -> Any:
    if not path:
        return _appended(index, MISSING if isinstance(value, _Fresh) else value, operand, path,
                         nested=False)
    if not isinstance(value, dict):
        raise StateOpError(index, "append.target_not_object", f"Cannot append at path {_label(path)}: "
                           f"target is {_kind_of(value)}, expected object.")
    if len(path) == 1:
        value[path[0]] = _appended(index, value.get(path[0], MISSING), operand, path, nested=False)
        return value
    root, parent = _walk_or_create(value, path[:-1])
    parent[path[-1]] = _appended(index, parent.get(path[-1], MISSING), operand, path, nested=True)
    return root


def _remove(index: int, value: Any, path: list[str], operand: Any) -> Any:
    if not path:
        return None  # iii: the value becomes null; the key stays
    if not isinstance(value, dict):
        raise StateOpError(index, "remove.target_not_object", f"Cannot remove at path {_label(path)}: "
                           f"target is {_kind_of(value)}, expected object.")
    value.pop(path[0], None)
    return value


_APPLY = {"set": _set, "merge": _merge, "increment": _increment, "decrement": _decrement,
          "append": _append, "remove": _remove}
