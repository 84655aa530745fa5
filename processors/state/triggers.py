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

import hashlib
import time
from typing import Any

from iii_kafka.schemas import AvroCodec, Event

from ..functions.catalog import CatalogView
from ..functions.clock import now_ms

__all__ = ["StateTriggers", "state_trigger_invocation_id"]

REFRESH_S = 1.0


def state_trigger_invocation_id(trigger_id: str, scope: str, key: str, version: int) -> str:
    digest = hashlib.blake2b(repr((trigger_id, scope, key, version)).encode(), digest_size=12).hexdigest()
    return f"state-trigger-{digest}"


class StateTriggers:
    """The state bindings of a catalog view, refreshed once a second; thread-safe to read."""

    def __init__(self, catalog: CatalogView | None, codec: AvroCodec) -> None:
        self._catalog = catalog
        self._codec = codec
        self._bindings: list[dict[str, Any]] = []
        self._refreshed = 0.0

    def _current(self) -> list[dict[str, Any]]:
        if self._catalog is None:
            return []
        if time.monotonic() - self._refreshed > REFRESH_S:
            bindings = {}
            for trigger in self._catalog.triggers():
                if trigger["trigger_type"] != "state":
                    continue
                hosts = sorted(h["invocation_topic"] for h in self._catalog.hosts(trigger["function_id"]))
                if hosts:  # one invocation per binding, whichever workers registered it
                    bindings[trigger["id"]] = {**trigger, "invocation_topic": hosts[0]}
            self._bindings = list(bindings.values())
            self._refreshed = time.monotonic()
        return self._bindings

    def invocations(self, change: Event) -> list[tuple[str, bytes, bytes]]:
        """(topic, key, value) of the invocations one committed change fires."""
        found = []
        for binding in self._current():
            config = binding["config"] or {}
            if config.get("scope") not in (None, change["scope"]):
                continue
            if config.get("key") not in (None, change["key"]):
                continue
            invocation_id = state_trigger_invocation_id(binding["id"], change["scope"], change["key"],
                                                        change["version"])
            request = Event("iii.kafka.InvocationRequested", invocation_id=invocation_id,
                            function_id=binding["function_id"], action="void", queue=None, caller=None,
                            parent_invocation_id=change["request_id"], attempt=1, deadline_ms=None,
                            requested_at_ms=now_ms(),
                            condition_function_id=binding.get("condition_function_id")
                            or config.get("condition_function_id"),
                            payload={"type": "state", "event_type": f"state:{change['event_type']}",
                                     "scope": change["scope"], "key": change["key"],
                                     "old_value": change["old_value"], "new_value": change["new_value"]})
            found.append((binding["invocation_topic"], invocation_id.encode(), self._codec.encode(request)))
        return found
