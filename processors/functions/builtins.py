"""The engine's own functions, hosted by every worker, as iii names them."""

from __future__ import annotations

import asyncio
from typing import Any

from iii_kafka.schemas import AvroCodec

from ..settings import Settings
from .catalog import CatalogView
from .errors import ErrorCode, InvocationError
from .redrive import redrive_queue
from .registry import FunctionRegistry

__all__ = ["bind"]

LIST_FUNCTIONS = "engine::functions::list"
LIST_TRIGGERS = "engine::registered-triggers::list"
REDRIVE = "iii::queue::redrive"


def bind(registry: FunctionRegistry, catalog: CatalogView, settings: Settings, codec: AvroCodec) -> None:
    """Registers the engine's functions (once per registry)."""
    if registry.get(LIST_FUNCTIONS) is not None:
        return

    async def redrive(data: Any) -> dict[str, Any]:
        queue = data.get("queue") if isinstance(data, dict) else None
        if not queue:
            raise InvocationError(ErrorCode.INVALID_PAYLOAD, 'redrive needs {"queue": <name>}')
        return {"queue": queue, "redriven": await asyncio.to_thread(redrive_queue, settings, codec, queue)}

    def list_functions(data: Any) -> dict[str, Any]:
        return {"functions": catalog.functions()}

    def list_triggers(data: Any) -> dict[str, Any]:
        return {"registered_triggers": catalog.triggers()}

    registry.register_function(LIST_FUNCTIONS, list_functions,
                               description="Every function a live worker hosts")
    registry.register_function(LIST_TRIGGERS, list_triggers,
                               description="Every trigger a live worker has registered")
    registry.register_function(REDRIVE, redrive, timeout_ms=120_000,
                               description="Puts a queue's dead letters back on the queue")
