"""`ctx.state` in a handler, and `caller.state` anywhere: iii's state operations as methods.

    await ctx.state.set("memories", "m1", {"text": "..."})       # {"old_value": None, "new_value": {...}}
    await ctx.state.update("counters", "c", [{"type": "increment", "path": "n", "by": 1}])
    await ctx.state.get("memories", "m1")                         # the value, or None

Each method triggers the state function of the same name. Inside a handler the calls get stable
child ids like any `ctx.trigger`, so a handler that runs again after a crash has its earlier state
writes answered from the changes they made instead of applied twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["StateAccess"]

Trigger = Callable[..., Awaitable[Any]]


class StateAccess:
    __slots__ = ("_trigger",)

    def __init__(self, trigger: Trigger) -> None:
        self._trigger = trigger

    async def set(self, scope: str, key: str, value: Any) -> dict[str, Any]:
        return await self._trigger("state::set", {"scope": scope, "key": key, "value": value})

    async def get(self, scope: str, key: str) -> Any:
        return await self._trigger("state::get", {"scope": scope, "key": key})

    async def delete(self, scope: str, key: str) -> Any:
        return await self._trigger("state::delete", {"scope": scope, "key": key})

    async def update(self, scope: str, key: str, ops: list[dict[str, Any]]) -> dict[str, Any]:
        return await self._trigger("state::update", {"scope": scope, "key": key, "ops": ops})

    async def list(self, scope: str) -> list[Any]:
        return await self._trigger("state::list", {"scope": scope})

    async def list_groups(self) -> dict[str, list[str]]:
        return await self._trigger("state::list_groups", {})

    async def digest(self, scope: str | None = None) -> dict[str, dict[str, Any]]:
        return await self._trigger("state::digest", {} if scope is None else {"scope": scope})
