"""The trigger bindings a process fires, read from its catalog view, and the invocations they make.

Every engine part that fires triggers (the state owner for `state` and `stream`, `publish` for
`subscribe`, the durable forwarders, the HTTP gateway, the cron leader) reads its bindings here and
builds each invocation with `binding.request(...)`. A binding is fired once whichever workers
registered it: its invocation goes to one host app, the first of its live hosts' invocation topics
in name order, so every firing process picks the same one, and its invocation id is derived from
what fired it, so the executor runs it once even if it is written twice.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

from iii_kafka.schemas import Event

from .catalog import CatalogView
from .clock import now_ms

__all__ = ["Binding", "Bindings", "derived_invocation_id"]

REFRESH_S = 1.0


def derived_invocation_id(prefix: str, *parts: Any) -> str:
    """A stable invocation id for what fired a binding (its id and the event's coordinates)."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=12).hexdigest()
    return f"{prefix}-{digest}"


@dataclass(frozen=True)
class Binding:
    id: str
    trigger_type: str
    function_id: str
    config: dict[str, Any]
    condition_function_id: str | None
    invocation_topic: str  # the host app's `<app>.invocations`

    def request(self, invocation_id: str, payload: Any, *, parent_invocation_id: str | None = None,
                action: str = "void", queue: str | None = None,
                with_condition: bool = True) -> Event:
        """The `InvocationRequested` that fires this binding; the executor runs the condition."""
        return Event("iii.kafka.InvocationRequested", invocation_id=invocation_id,
                     function_id=self.function_id, action=action, queue=queue, caller=None,
                     parent_invocation_id=parent_invocation_id, attempt=1, deadline_ms=None,
                     requested_at_ms=now_ms(),
                     condition_function_id=self.condition_function_id if with_condition else None,
                     payload=payload)


class Bindings:
    """The bindings of some trigger types, refreshed from the catalog once a second; thread-safe."""

    def __init__(self, catalog: CatalogView | None, *trigger_types: str,
                 refresh_s: float = REFRESH_S) -> None:
        self._catalog = catalog
        self._types = frozenset(trigger_types)
        self._refresh_s = refresh_s
        self._bindings: list[Binding] = []
        self._refreshed = float("-inf")

    def current(self) -> list[Binding]:
        """The bindings whose function has a live host, one per binding id."""
        if self._catalog is None:
            return []
        if time.monotonic() - self._refreshed > self._refresh_s:
            found: dict[str, Binding] = {}
            for trigger in self._catalog.triggers():
                if trigger["trigger_type"] not in self._types or trigger["id"] in found:
                    continue
                hosts = sorted(h["invocation_topic"] for h in self._catalog.hosts(trigger["function_id"]))
                if hosts:
                    found[trigger["id"]] = Binding(trigger["id"], trigger["trigger_type"],
                                                   trigger["function_id"], dict(trigger["config"] or {}),
                                                   trigger.get("condition_function_id"), hosts[0])
            self._bindings = sorted(found.values(), key=lambda b: b.id)
            self._refreshed = time.monotonic()
        return self._bindings

    def of_type(self, trigger_type: str) -> list[Binding]:
        return [b for b in self.current() if b.trigger_type == trigger_type]
