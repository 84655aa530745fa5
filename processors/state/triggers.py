"""State triggers: a function bound to a scope (and optionally a key) fires on each change.

A binding is a `state` trigger in the catalog (`functions.register_trigger("state", function_id,
{"scope": ..., "key": ..., "condition_function_id": ...})`). When the owner commits a change, it
writes one `InvocationRequested` (action void) per matching binding to the invocations topic of
an app that hosts the function, **in the same transaction as the change**: the function is invoked
once per change or, if the change never commits, not at all. The invocation id is derived from the
binding and the change's key and version, so the executor runs it once even if it is written
again. The payload is iii's: `{type: "state", event_type: "state:created" | "state:updated" |
"state:deleted", scope, key, old_value, new_value}`.
"""

from __future__ import annotations

from iii_kafka.schemas import AvroCodec, Event

from ..functions.bindings import Bindings, derived_invocation_id
from ..functions.catalog import CatalogView

__all__ = ["StateTriggers", "state_trigger_invocation_id"]


def state_trigger_invocation_id(trigger_id: str, scope: str, key: str, version: int) -> str:
    return derived_invocation_id("state-trigger", trigger_id, scope, key, version)


class StateTriggers:
    """The invocations each committed change fires; thread-safe."""

    def __init__(self, catalog: CatalogView | None, codec: AvroCodec) -> None:
        self._bindings = Bindings(catalog, "state")
        self._codec = codec

    def invocations(self, change: Event) -> list[tuple[str, bytes, bytes]]:
        """(topic, key, value) of the invocations one committed change fires."""
        found = []
        for binding in self._bindings.of_type("state"):
            config = binding.config
            if config.get("scope") not in (None, change["scope"]):
                continue
            if config.get("key") not in (None, change["key"]):
                continue
            invocation_id = state_trigger_invocation_id(binding.id, change["scope"], change["key"],
                                                        change["version"])
            request = binding.request(
                invocation_id, {"type": "state", "event_type": f"state:{change['event_type']}",
                                "scope": change["scope"], "key": change["key"],
                                "old_value": change["old_value"], "new_value": change["new_value"]},
                parent_invocation_id=change["request_id"])
            found.append((binding.invocation_topic, invocation_id.encode(), self._codec.encode(request)))
        return found
