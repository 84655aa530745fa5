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


# -- one trigger of each type: `iii-kafka dev` runs them (README) ----------------------------------

@functions.function("demo::http_add", description="GET /math/add?a=..&b=..: math::add over http")
async def http_add(request: dict[str, Any], ctx: InvocationContext) -> dict[str, Any]:
    query = request["query_params"]
    try:
        a, b = float(query["a"]), float(query["b"])
    except (KeyError, ValueError):
        return {"status_code": 400, "body": {"error": "give numbers a and b, e.g. /math/add?a=2&b=3"}}
    return {"status_code": 200, "body": await ctx.trigger("math::add", {"a": a, "b": b})}


@functions.function("demo::remember", description="POST /memories/:key: the JSON body into state")
async def remember(request: dict[str, Any], ctx: InvocationContext) -> dict[str, Any]:
    if request["body"] is None:
        return {"status_code": 400, "body": {"error": "send a JSON body"}}
    result = await ctx.state.set("memories", request["path_params"]["key"], request["body"])
    return {"status_code": 201, "body": result}


@functions.function("demo::on_news", description="subscribes to topic news: counts what it reads")
async def on_news(data: Any, ctx: InvocationContext) -> None:
    await ctx.state.update("news", "seen", [{"type": "increment", "path": "count", "by": 1},
                                            {"type": "set", "path": "last", "value": data}])


@functions.function("demo::ship", description="durable subscriber of topic orders")
async def ship(data: Any, ctx: InvocationContext) -> None:
    await ctx.state.set("shipped", str(data.get("id") if isinstance(data, dict) else data), data)


@functions.function("demo::on_chat", description="stream trigger of stream chat: counts events per group")
async def on_chat(message: dict[str, Any], ctx: InvocationContext) -> None:
    await ctx.state.update("chat-counts", message["groupId"],
                           [{"type": "increment", "path": message["event"]["type"], "by": 1}])


@functions.function("demo::tick", description="cron, every 10 s: counts its ticks")
async def tick(data: dict[str, Any], ctx: InvocationContext) -> None:
    await ctx.state.update("cron", "ticks", [{"type": "increment", "path": "count", "by": 1},
                                             {"type": "set", "path": "last",
                                              "value": data["scheduled_time"]}])


functions.register_trigger("http", "demo::http_add", {"api_path": "math/add", "http_method": "GET"})
functions.register_trigger("http", "demo::remember", {"api_path": "memories/:key", "http_method": "POST"})
functions.register_trigger("subscribe", "demo::on_news", {"topic": "news"})
functions.register_trigger("durable:subscriber", "demo::ship", {"topic": "orders"})
functions.register_trigger("stream", "demo::on_chat", {"stream_name": "chat"})
functions.register_trigger("cron", "demo::tick", {"expression": "*/10 * * * * *"})
