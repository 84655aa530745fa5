"""Streams are state: an item `{stream_name, group_id, item_id}` is the key `item_id` of the scope
`stream::<stream_name>::<group_id>`, so every state operation, the one-writer-per-key rule, the
log of changes and replay hold for streams as they are.

Two things differ, both here:
- a group lives on one partition (its scope alone picks it, see `keys.state_partition`), so its
  changes, and the events its subscribers get, are in one order;
- what subscribers and `stream` triggers receive is iii's message:
  `{type: "stream", timestamp, streamName, groupId, id, event: {type, data}}`, with event type
  `create`, `update` or `delete` (whose data is the old value), or, for `stream::send`,
  `{type: "event", event: {type: <the sender's type>, data}}`.
"""

from __future__ import annotations

from typing import Any

from .keys import check_name

__all__ = [
    "STREAM_SCOPE_PREFIX",
    "StreamNameError",
    "check_stream_name",
    "parse_stream_scope",
    "stream_message",
    "stream_scope",
]

STREAM_SCOPE_PREFIX = "stream::"
_SEPARATOR = "::"
ITEM_EVENTS = {"created": "create", "updated": "update", "deleted": "delete"}


class StreamNameError(ValueError):
    code = "deserialization_error"


def check_stream_name(value: Any) -> str:
    name = check_name("stream_name", value)
    if _SEPARATOR in name:
        raise StreamNameError(f"`stream_name` must not contain {_SEPARATOR!r}: {name!r}")
    return name


def stream_scope(stream_name: str, group_id: str) -> str:
    """The state scope of a stream's group."""
    return (
        f"{STREAM_SCOPE_PREFIX}{check_stream_name(stream_name)}{_SEPARATOR}{check_name('group_id', group_id)}"
    )


def parse_stream_scope(scope: str) -> tuple[str, str] | None:
    """`(stream_name, group_id)` of a stream scope; None for any other scope."""
    if not scope.startswith(STREAM_SCOPE_PREFIX):
        return None
    name, separator, group = scope[len(STREAM_SCOPE_PREFIX) :].partition(_SEPARATOR)
    return (name, group) if separator and name and group else None


def stream_message(
    stream_name: str,
    group_id: str,
    item_id: str | None,
    event_type: str,
    data: Any,
    timestamp_ms: int,
    event_name: str | None = None,
) -> dict[str, Any]:
    """iii's message for one stream event (`event_type`: create, update, delete or event)."""
    event: dict[str, Any] = {"type": event_type, "data": data}
    if event_type == "event":
        event = {"type": "event", "event": {"type": event_name, "data": data}}
    return {
        "type": "stream",
        "timestamp": timestamp_ms,
        "streamName": stream_name,
        "groupId": group_id,
        "id": item_id,
        "event": event,
    }


def item_event(change: Any) -> tuple[str, Any]:
    """(iii's event type, its data) for a `StateChanged` of a stream item."""
    event_type = ITEM_EVENTS[change["event_type"]]
    return event_type, change["old_value"] if event_type == "delete" else change["new_value"]
