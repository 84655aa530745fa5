"""What a committed change fires, written in the change's own transaction: state triggers, and for
stream items `stream` triggers and the group's event for live subscribers.

A `state` binding (`functions.register_trigger("state", function_id, {"scope", "key"?})`) gets
iii's payload `{type: "state", event_type: "state:created" | "state:updated" | "state:deleted",
scope, key, old_value, new_value}`. A `stream` binding (`{"stream_name", "group_id"?, "item_id"?}`)
gets iii's stream message (state/streams.py), as does `<ns>.streams`, on the partition number of
the change (a group lives on one). One `InvocationRequested` (action void) per matching binding goes
to an app that hosts the function: the function is invoked once per change or, if the change never
commits, not at all. The invocation id is derived from the binding and the change's key and
version, so the executor runs it once even if it is written again.
"""

from __future__ import annotations

from typing import Any

from iii_kafka.schemas import AvroCodec, Event
from iii_kafka.state.streams import item_event, parse_stream_scope, stream_message

from ..functions.bindings import Binding, Bindings, derived_invocation_id
from ..functions.catalog import CatalogView

__all__ = ["Record", "StateTriggers", "stream_binding_matches", "state_trigger_invocation_id"]

Record = tuple[str, bytes, bytes, "int | None"]
"""(topic, key, value, partition or None for the key's partition)"""


def state_trigger_invocation_id(trigger_id: str, scope: str, key: str, version: int) -> str:
    return derived_invocation_id("state-trigger", trigger_id, scope, key, version)


def stream_binding_matches(
    config: dict[str, Any], stream_name: str, group_id: str, item_id: str | None
) -> bool:
    """iii: `stream_name` must match; a missing `group_id` or `item_id` matches any."""
    return (
        config.get("stream_name") == stream_name
        and config.get("group_id") in (None, group_id)
        and config.get("item_id") in (None, item_id)
    )


class StateTriggers:
    """The records each committed change fires; thread-safe."""

    def __init__(
        self, catalog: CatalogView | None, codec: AvroCodec, streams_topic: str | None = None
    ) -> None:
        self._bindings = Bindings(catalog, "state", "stream")
        self._codec = codec
        self._streams_topic = streams_topic

    def invocations(self, change: Event, partition: int | None = None) -> list[Record]:
        found: list[Record] = []
        scope, key = change["scope"], change["key"]
        group = parse_stream_scope(scope)
        if group is not None:
            found.extend(self._stream_records(change, *group, partition))
        for binding in self._bindings.of_type("state"):
            if binding.config.get("scope") not in (None, scope) or binding.config.get("key") not in (
                None,
                key,
            ):
                continue
            payload = {
                "type": "state",
                "event_type": f"state:{change['event_type']}",
                "scope": scope,
                "key": key,
                "old_value": change["old_value"],
                "new_value": change["new_value"],
            }
            found.append(self._invocation(binding, change, payload))
        return found

    def _stream_records(
        self, change: Event, stream_name: str, group_id: str, partition: int | None
    ) -> list[Record]:
        event_type, data = item_event(change)
        message = stream_message(
            stream_name, group_id, change["key"], event_type, data, change["timestamp_ms"]
        )
        found = [
            self._invocation(binding, change, message)
            for binding in self._bindings.of_type("stream")
            if stream_binding_matches(binding.config, stream_name, group_id, change["key"])
        ]
        if self._streams_topic is not None:
            event = Event(
                "iii.kafka.StreamItemEvent",
                stream_name=stream_name,
                group_id=group_id,
                item_id=change["key"],
                event_type=event_type,
                event_name=None,
                timestamp_ms=change["timestamp_ms"],
                data=data,
            )
            found.append(
                (self._streams_topic, change["scope"].encode(), self._codec.encode(event), partition)
            )
        return found

    def _invocation(self, binding: Binding, change: Event, payload: Any) -> Record:
        invocation_id = state_trigger_invocation_id(
            binding.id, change["scope"], change["key"], change["version"]
        )
        request = binding.request(invocation_id, payload, parent_invocation_id=change["request_id"])
        return binding.invocation_topic, invocation_id.encode(), self._codec.encode(request), None
