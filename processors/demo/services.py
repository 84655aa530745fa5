"""Example services for `iii-kafka dev` and the tests: plain functions, composition, errors.

    IIIKAFKA_SERVICES=iii_kafka.processors.demo.services iii-kafka worker
    iii-kafka trigger math::add '{"a": 2, "b": 3}'
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from iii_kafka.processors.functions import InvocationContext, functions

NUMBER = ["long", "double"]
ADD_REQUEST = {"type": "record", "name": "AddRequest", "namespace": "demo.math",
               "fields": [{"name": "a", "type": NUMBER}, {"name": "b", "type": NUMBER}]}


@functions.function("math::add", description="a + b", request_format=ADD_REQUEST)
def add(data: dict[str, Any]) -> dict[str, Any]:
    return {"sum": data["a"] + data["b"]}


@functions.function("math::multiply", description="a * b")
async def multiply(data: dict[str, Any]) -> dict[str, Any]:
    return {"product": data["a"] * data["b"]}


@functions.function("math::sum_of_squares", description="a*a + b*b, by three other calls")
async def sum_of_squares(data: dict[str, Any], ctx: InvocationContext) -> dict[str, Any]:
    a, b = data["a"], data["b"]
    squares = await asyncio.gather(ctx.trigger("math::multiply", {"a": a, "b": a}),   # parallel
                                   ctx.trigger("math::multiply", {"a": b, "b": b}))
    total = await ctx.trigger("math::add", {"a": squares[0]["product"], "b": squares[1]["product"]})
    return {"sum_of_squares": total["sum"]}                                               # sequential


@functions.function("demo::fail", description="always raises")
def fail(data: Any) -> Any:
    raise ValueError(f"demo::fail was asked to fail with {data!r}")


@functions.function("demo::sleep", description="sleeps data['seconds']", timeout_ms=60_000)
async def sleep(data: dict[str, Any]) -> dict[str, Any]:
    started = time.monotonic()
    await asyncio.sleep(float(data.get("seconds", 1)))
    return {"slept": round(time.monotonic() - started, 3)}
