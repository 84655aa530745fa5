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

Two deliberate differences from iii:
- iii skips a failing op and applies the others. Here an update is all or nothing: the first
  failing op raises `StateOpError` naming its index and code, and nothing changes, because a state
  change is an event in a log and half of an update is a change nobody asked for.
- iii's merge silently does nothing on a root that is not an object, and silently replaces a
  non-object on its path with `{}`. Here both are `merge.target_not_object`: a merge never
  destroys data it was not asked to replace. (Missing levels are still created.)

Values are never modified in place: each op copies the containers on its path (copy-on-write), so
the old value stays intact for the state-changed event, at a fraction of a deep copy's cost.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["MISSING", "OP_TYPES", "ParsedOp", "StateInputError", "StateOpError", "apply_ops",
           "apply_update", "parse_op_record", "parse_ops"]

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


ParsedOp = tuple[str, list[str], Any]
"""(type, path segments, operand): an op after validation; the operand is `by` for increments."""


def apply_update(old: Any, ops: Sequence[Mapping[str, Any]]) -> Any:
    """The new value after iii-shaped `ops`, in order; `old` is not modified (MISSING: a new key)."""
    return apply_ops(old, parse_ops(ops))


def parse_ops(ops: Any) -> list[ParsedOp]:
    """Validates iii-shaped ops (`{"type", "path", "value" | "by"}`); raises before anything applies."""
    return [_parse(index, op) for index, op in enumerate(_as_list(ops))]


def parse_op_record(index: int, kind: str, path: list[str], operand: Any) -> ParsedOp:
    """Validates one op as the event schema carries it (`StateOp {op, path, value}`; an increment's
    `by` is its value): the same rules as `parse_ops`, for ops read off the wire."""
    if kind not in OP_TYPES:
        raise StateInputError(f"op {index}: unknown type {kind!r} (one of {', '.join(OP_TYPES)})")
    if kind not in ("merge", "append") and len(path) > 1:
        raise StateInputError(f"op {index} ({kind}): `path` must be a key (a string), got {path!r}")
    if kind in ("increment", "decrement"):
        _check_by(index, kind, operand)
    return kind, _check_segments(index, kind, list(path)), operand


def apply_ops(old: Any, parsed: Sequence[ParsedOp]) -> Any:
    """The new value after validated ops; `old` is not modified (MISSING for a new key)."""
    value = _Fresh() if old is MISSING else old
    for index, (kind, path, operand) in enumerate(parsed):
        value = _APPLY[kind](index, value, path, operand)
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
        _check_by(index, kind, by)
        return kind, path, by
    return kind, path, op.get("value")


def _check_by(index: int, kind: str, by: Any) -> None:
    if by is MISSING:
        raise StateInputError(f"op {index} ({kind}): `by` is required (a 64-bit integer)")
    if isinstance(by, bool) or not isinstance(by, int) or not INT64[0] <= by <= INT64[1]:
        raise StateInputError(f"op {index} ({kind}): `by` must be a 64-bit integer, got {by!r}")


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
    return _check_segments(index, kind, segments)


def _check_segments(index: int, kind: str, segments: list[str]) -> list[str]:
    if len(segments) > MAX_PATH_SEGMENTS:
        raise StateOpError(index, f"{kind}.path.too_deep", f"path has {len(segments)} keys, the limit "
                           f"is {MAX_PATH_SEGMENTS}")
    for segment in segments:
        if not isinstance(segment, str):
            raise StateInputError(f"op {index} ({kind}): a path key must be a string, got {segment!r}")
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
    return {**value, path[0]: operand}


def _copied_path(root: dict, path: list[str], index: int, kind: str, replace: bool) -> tuple[dict, dict]:
    """A copy of `root` whose objects along `path` are copies too (missing levels are created);
    returns (the new root, the object at `path`) for the caller to change. A non-object on the way
    is replaced by `{}` when `replace` (iii's nested append), else refused."""
    new_root = node = dict(root)
    for depth, segment in enumerate(path):
        child = node.get(segment, MISSING)
        if child is MISSING or (replace and not isinstance(child, dict)):
            child = {}
        elif not isinstance(child, dict):
            raise StateOpError(index, f"{kind}.target_not_object", f"Cannot {kind} at path "
                               f"{_label(path[:depth + 1])}: target is {_kind_of(child)}, expected object.")
        else:
            child = dict(child)
        node[segment] = child
        node = child
    return new_root, node


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
    if not isinstance(value, dict):  # iii does nothing here; we say so (module docstring)
        raise StateOpError(index, "merge.target_not_object", f"Cannot merge at path {_label(path)}: "
                           f"target is {_kind_of(value)}, expected object.")
    if not path:
        return {**value, **operand}
    root, target = _copied_path(value, path, index, "merge", replace=False)
    target.update(operand)
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
        return {**value, path[0]: by}
    if not _is_number(current):
        raise StateOpError(index, f"{kind}.not_number", f"Expected number at path {_label(path)}, got "
                           f"{_kind_of(current)}.")
    return {**value, path[0]: current + by}


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
        return {**value, path[0]: _appended(index, value.get(path[0], MISSING), operand, path, nested=False)}
    root, parent = _copied_path(value, path[:-1], index, "append", replace=True)
    parent[path[-1]] = _appended(index, parent.get(path[-1], MISSING), operand, path, nested=True)
    return root


def _remove(index: int, value: Any, path: list[str], operand: Any) -> Any:
    if not path:
        return None  # iii: the value becomes null; the key stays
    if not isinstance(value, dict):
        raise StateOpError(index, "remove.target_not_object", f"Cannot remove at path {_label(path)}: "
                           f"target is {_kind_of(value)}, expected object.")
    if path[0] not in value:
        return dict(value)  # (no longer a fresh key's {}: an op applied to it)
    return {k: v for k, v in value.items() if k != path[0]}


_APPLY = {"set": _set, "merge": _merge, "increment": _increment, "decrement": _decrement,
          "append": _append, "remove": _remove}
