"""One state command against one key's current entry: the change it makes, or the answer it gets.

Pure apart from encoding: the owner of the key's partition (processors/state/owner.py) feeds it
commands one at a time, in log order, with the key's entry as of every earlier command, and
writes what it returns. Unit-tested without Kafka (tests/unit/test_state_commands.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from iii_kafka.schemas import CodecError, Event

from .apply import MISSING, StateInputError, StateOpError, apply_ops, parse_op_record

__all__ = ["Answer", "Changed", "Entry", "Refused", "entry_of", "execute", "is_live"]

CHANGED = "iii.kafka.StateChanged"
WRITES = ("set", "update", "delete")
VALUE_TOO_LARGE = "VALUE_TOO_LARGE"  # iii's code for state::set over max_value_bytes


@dataclass(frozen=True, slots=True)
class Entry:
    """A key as the view holds it: its version (0: never written) and value (MISSING: none)."""

    version: int
    value: Any
    event: bytes | None = None

    @property
    def exists(self) -> bool:
        return self.value is not MISSING


NEW_KEY = Entry(0, MISSING)


@dataclass(frozen=True, slots=True)
class Changed:
    """The command changed the key: this event (and its bytes) goes to the log, the view and the
    caller."""

    event: Event
    data: bytes

    @property
    def entry(self) -> Entry:
        return entry_of(self.event, self.data)


@dataclass(frozen=True, slots=True)
class Answer:
    """Nothing changed; the caller gets `result` (a read, or a delete of a missing key)."""

    result: Any


@dataclass(frozen=True, slots=True)
class Refused:
    """Nothing changed; the caller gets the error `{code, message}`."""

    code: str
    message: str


Outcome = Changed | Answer | Refused


def entry_of(event: Any, data: bytes | None = None) -> Entry:
    """The entry a stored `StateChanged` event stands for."""
    value = MISSING if event["event_type"] == "deleted" else event["new_value"]
    return Entry(event["version"], value, data)


def is_live(decode: Callable[[bytes], Any]) -> Callable[[bytes], bool]:
    """A predicate on stored events: does it hold a value (not a deletion)?"""
    return lambda data: decode(data)["event_type"] != "deleted"


def execute(command: Any, entry: Entry, now_ms: int, encode: Callable[[Event], bytes],
            max_bytes: int) -> Outcome:
    """What `command` (a `StateCommand` for one key) does to `entry`."""
    function = command["function"]
    if function == "get":
        return Answer(entry.value if entry.exists else None)
    if function == "delete":
        if not entry.exists:
            return Answer(None)  # nothing to delete: no event (iii fires state:deleted anyway)
        return _changed(command, entry, "deleted", None, now_ms, encode, max_bytes)
    if function not in WRITES:
        return Refused("function_not_found", f"state::{function} does not take a key")
    try:
        parsed = [parse_op_record(i, op["op"], op["path"], op["value"])
                  for i, op in enumerate(command["ops"])]
        if function == "set" and (len(parsed) != 1 or parsed[0][:2] != ("set", [])):
            raise StateInputError("state::set carries exactly one op: set at the root")
        new = apply_ops(entry.value, parsed)
    except StateOpError as error:
        return Refused(error.code, str(error))
    except StateInputError as error:
        return Refused(error.code, str(error))
    event_type = "updated" if entry.exists else "created"
    return _changed(command, entry, event_type, new, now_ms, encode, max_bytes)


def _changed(command: Any, entry: Entry, event_type: str, new: Any, now_ms: int,
             encode: Callable[[Event], bytes], max_bytes: int) -> Outcome:
    event = Event(CHANGED, {"scope": command["scope"], "key": command["key"], "event_type": event_type,
                            "version": entry.version + 1, "request_id": command["request_id"],
                            "cause": command["cause"], "timestamp_ms": now_ms,
                            "old_value": entry.value if entry.exists else None, "new_value": new})
    try:
        data = encode(event)
    except CodecError as error:
        return Refused("invalid_value", f"the new value cannot be written: {error}")
    if len(data) > max_bytes:
        return Refused(VALUE_TOO_LARGE, f"the change would be {len(data)} bytes, over the "
                       f"{max_bytes}-byte limit (IIIKAFKA_MAX_MESSAGE_BYTES)")
    return Changed(event, data)
