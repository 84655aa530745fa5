"""A `Caller` for code without an event loop (tests, scripts): its loop runs in a thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from iii_kafka.schemas import AvroCodec

from ..settings import Settings
from .caller import Caller

__all__ = ["BlockingCaller"]

T = TypeVar("T")


class BlockingCaller:
    """`trigger(...)` blocks until the result; `trigger_many([...])` runs calls concurrently."""

    def __init__(self, settings: Settings, codec: AvroCodec, timeout: float = 30.0) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="iii-caller", daemon=True)
        self._thread.start()
        self.caller = Caller(settings, codec)
        self._run(self.caller.start(timeout))

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def trigger(self, function_id: str, payload: Any = None, action: Any = None, timeout_ms: int = 30_000,
                **kwargs: Any) -> Any:
        return self._run(self.caller.trigger(function_id, payload, action, timeout_ms, **kwargs))

    def trigger_many(self, calls: list[tuple], return_exceptions: bool = False) -> list[Any]:
        """Each call is `(function_id, payload[, action[, timeout_ms]])`."""
        async def all_of() -> list[Any]:
            return await asyncio.gather(*(self.caller.trigger(*call) for call in calls),
                                        return_exceptions=return_exceptions)
        return self._run(all_of())

    def list_functions(self) -> list[dict[str, Any]]:
        return self.caller.list_functions()

    def close(self) -> None:
        try:
            self._run(self.caller.close())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            self._loop.close()
