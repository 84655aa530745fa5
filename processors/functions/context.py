"""What a handler gets besides its data: `ctx.trigger`, `ctx.send`, its ids and its trace."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opentelemetry import trace

from .actions import TriggerAction
from .registry import DEFAULT_TIMEOUT_MS

if TYPE_CHECKING:
    from ..state.access import StateAccess
    from .caller import Caller

__all__ = ["InvocationContext", "Output"]


@dataclass(frozen=True)
class Output:
    topic: str
    key: Any
    value: Any


@dataclass
class InvocationContext:
    """The context of one invocation, passed to handlers that take a second parameter.

    Child invocations get ids derived from this one (`<id>/1`, `<id>/2`, ... in call order), so a
    handler that runs again after a crash asks for the same children, and the executors answer the
    ones that already completed from their stored results instead of running them twice.
    """

    invocation_id: str
    function_id: str
    attempt: int
    caller: "Caller"
    outputs: list[Output] = field(default_factory=list)
    _calls: int = 0

    @property
    def span(self) -> trace.Span:
        return trace.get_current_span()

    @property
    def trace_id(self) -> str:
        return format(self.span.get_span_context().trace_id, "032x")

    def child_id(self, name: str | None = None) -> str:
        """The id of a child invocation: `name` when given, else the next unnamed call's number."""
        if name is not None:
            return f"{self.invocation_id}/{name}"
        self._calls += 1
        return f"{self.invocation_id}/{self._calls}"

    async def trigger(self, function_id: str, payload: Any = None,
                      action: TriggerAction | dict | str | None = None,
                      timeout_ms: int = DEFAULT_TIMEOUT_MS, *, name: str | None = None) -> Any:
        """`trigger` from inside a handler: same trace, `parent_invocation_id` set, a stable child id."""
        return await self.caller.trigger(function_id, payload, action, timeout_ms,
                                         invocation_id=self.child_id(name),
                                         parent_invocation_id=self.invocation_id)

    @property
    def state(self) -> "StateAccess":
        """iii's state operations (`await ctx.state.set(scope, key, value)`, `get`, `update`, ...),
        with stable child ids: a handler run again after a crash does not apply its writes twice."""
        from ..state.access import StateAccess

        return StateAccess(self.trigger)

    def send(self, topic: str, key: Any, value: Any) -> None:
        """Writes a record when the invocation completes, in the same Kafka transaction as its result:
        an invocation's outputs appear exactly once, or not at all if it never completes."""
        self.outputs.append(Output(topic, key, value))
