"""The engine's own functions, hosted by every worker, as iii names them."""

from __future__ import annotations

from typing import Any

from .catalog import CatalogView
from .registry import FunctionRegistry

__all__ = ["bind"]

LIST_FUNCTIONS = "engine::functions::list"
LIST_TRIGGERS = "engine::registered-triggers::list"


def bind(registry: FunctionRegistry, catalog: CatalogView) -> None:
    """Registers the listing functions of `catalog` (once per registry)."""
    if registry.get(LIST_FUNCTIONS) is not None:
        return

    def list_functions(data: Any) -> dict[str, Any]:
        return {"functions": catalog.functions()}

    def list_triggers(data: Any) -> dict[str, Any]:
        return {"registered_triggers": catalog.triggers()}

    registry.register_function(LIST_FUNCTIONS, list_functions,
                               description="Every function a live worker hosts")
    registry.register_function(LIST_TRIGGERS, list_triggers,
                               description="Every trigger a live worker has registered")
